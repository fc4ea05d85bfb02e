"""A registry with Docker token authentication: reads over HTTP with a pull token.

A real docker-registry with `auth: token` over TLS, and the token server it trusts
(tests/support/token_registry.py), one user who may do everything and one who may
only pull. Planning, pulling and cleanup must give what they give through skopeo,
make the probes HTTP requests rather than skopeo processes, fail the way skopeo fails,
and never show a password or a token.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.test_cleanup import CONFIG, DAY, _commit, _iso
from tests.integration.test_inventory import calls
from tests.support.git import git_project
from tests.support.pulls import assert_complete, two_images
from tests.support.runs import auth_file, cli, helper_env, isolated_env
from tests.support.secure_registry import SecureProject, publish_project, serving
from tests.support.stages import publish_stages
from tests.support.token_registry import TokenRegistry
from werfpull.inventory import http

ADMIN, ADMIN_PW = "ci-admin", "Adm-7qW2-werfpull-token-test"
READER, READER_PW = "ci-reader", "Rdr-3mZ8-werfpull-token-test"
WRONG = "Wrong-8kTd-not-the-password"
USERS = {ADMIN: (ADMIN_PW, {"*"}), READER: (READER_PW, {"pull"})}


@pytest.fixture(scope="module")
def tokreg(tmp_path_factory):
    with serving(TokenRegistry(tmp_path_factory.mktemp("token-registry"), USERS)) as reg:
        yield reg


@pytest.fixture(scope="module")
def published(tokreg, tmp_path_factory) -> SecureProject:
    tmp = tmp_path_factory.mktemp("token-project")
    return publish_project(tokreg, tmp, tokreg.authfile_for(tmp / "admin.json", ADMIN))


def token_requests(reg: TokenRegistry, before: int) -> list[dict]:
    return reg.tokens.requests()[before:]


# -- plan and pull: the same as through skopeo, with HTTP probes -------------------------


@pytest.mark.parametrize("user", [ADMIN, READER])
def test_plan_and_pull_match_skopeo_and_probe_over_http(published, tmp_path, user):
    reg = published.registry
    authfile = reg.authfile_for(tmp_path / "auth.json", user)
    env = isolated_env(tmp_path / "http")
    via_skopeo = helper_env(tmp_path / "skopeo", reg.host, user, USERS[user][0])
    flags = ["--format", "json", "--inventory", "probe", "-v"]
    before = len(reg.tokens.requests())

    fast = cli(env, "plan", *published.args("--dest", f"oci:{tmp_path / 'a'}", *flags,
                                            "--registry-authfile", authfile))

    assert fast.code == 0, fast.stderr
    asked = token_requests(reg, before)
    # One pull token for the repository, for this user, kept for every probe.
    assert asked == [{"user": user, "scope": ["repository:team/stages:pull"], "status": 200}]
    strategy, total, requests, processes = calls(fast.stderr)
    assert (strategy, processes) == ("probe", 0)
    assert requests == total >= 3  # the ping, the token, one probe per image
    slow = cli(via_skopeo, "plan", *published.args("--dest", f"oci:{tmp_path / 'a'}", *flags))
    assert slow.code == 0, slow.stderr
    assert calls(slow.stderr)[2:] == (0, 2)  # the comparison did go through skopeo
    fast_plan, slow_plan = json.loads(fast.stdout), json.loads(slow.stdout)
    for key in ("pulls", "images", "repo", "inventory"):
        assert fast_plan[key] == slow_plan[key], key

    dests = {name: f"oci:{tmp_path / name / 'dest'}" for name in ("http", "skopeo")}
    pulled = {name: cli(e, "pull", *published.args(
        "--dest", dests[name], "--format", "json",
        *(["--registry-authfile", authfile] if name == "http" else [])))
        for name, e in (("http", env), ("skopeo", via_skopeo))}
    for name, run in pulled.items():
        assert run.code == 0, (name, run.stderr)
        assert_complete(dests[name], fast_plan)
    results = {name: json.loads(run.stdout) for name, run in pulled.items()}
    assert sorted(results["http"]["pulled"]) == sorted(results["skopeo"]["pulled"])


def test_anonymous_reads_are_refused_like_skopeo_refuses_them(published, tmp_path):
    reg = published.registry
    before = len(reg.tokens.requests())

    run = cli(isolated_env(tmp_path), "plan",
              *published.args("--dest", f"oci:{tmp_path / 'a'}", "--inventory", "probe",
                              "--retries", "0", "-v"))

    assert run.code == 4, run.stderr
    assert f"werfpull: error: {reg.host}: access refused (" in run.stderr
    assert "Traceback" not in run.stderr
    # The HTTP read asked for an anonymous token once, and renewed it once when the
    # registry refused it; then skopeo asked and reported.
    http_asked = [r for r in token_requests(reg, before) if r["user"] is None]
    assert http_asked and all(r["status"] == 200 for r in http_asked)


def refusal(stderr: str) -> str:
    """The error line up to its cause: the part that names the registry and the kind."""
    line = next(ln for ln in stderr.splitlines() if ln.startswith("werfpull: error: "))
    return line.split(" (", 1)[0]


def test_a_wrong_password_fails_as_through_skopeo(published, tmp_path):
    reg = published.registry
    bad = reg.authfile_for(tmp_path / "bad.json", READER, WRONG)
    before = len(reg.tokens.requests())
    args = published.args("--dest", f"oci:{tmp_path / 'a'}", "--inventory", "probe",
                          "--retries", "0")

    fast = cli(isolated_env(tmp_path / "http"), "plan", *args, "--registry-authfile", bad)
    asked = token_requests(reg, before)
    slow = cli(helper_env(tmp_path / "skopeo", reg.host, READER, WRONG), "plan", *args)

    assert fast.code == slow.code == 4, (fast.stderr, slow.stderr)
    assert refusal(fast.stderr) == refusal(slow.stderr)
    assert refusal(fast.stderr).startswith(f"werfpull: error: {reg.host}: access refused")
    assert "(invalid username or password)" in fast.stderr  # the token server said so
    assert "Traceback" not in fast.stderr
    # The HTTP path asked the token server once, was refused, and left it to skopeo: the
    # refusal is not asked again per probe.
    http_asked = [r for r in asked if r["status"] == 401]
    assert 1 <= len(http_asked) <= 1 + 2  # its own, then skopeo's (one per probe)


def test_token_server_down_is_a_clear_error(published, tmp_path):
    reg = published.registry
    authfile = reg.authfile_for(tmp_path / "auth.json", READER)
    reg.tokens.stop()
    try:
        run = cli(isolated_env(tmp_path), "plan", *published.args(
            "--dest", f"oci:{tmp_path / 'a'}", "--inventory", "probe", "--retries", "0",
            "--registry-authfile", authfile))
    finally:
        reg.tokens.start()

    assert run.code == 4, run.stderr
    assert (f"werfpull: error: {reg.host}: its token server 127.0.0.1:{reg.tokens.port}"
            " is unreachable (connection refused)") in run.stderr
    assert "Traceback" not in run.stderr
    assert len([ln for ln in run.stderr.splitlines() if ln.strip()]) <= 2


def test_no_password_or_token_in_logs_or_plans(published, tmp_path):
    reg = published.registry
    authfile = reg.authfile_for(tmp_path / "secret" / "auth.json", READER)
    bad = reg.authfile_for(tmp_path / "secret" / "bad.json", READER, WRONG)
    out = tmp_path / "plan.json"
    before = len(reg.tokens.issued)
    runs = [
        cli(isolated_env(tmp_path), "-vv", "plan", *published.args(
            "--dest", f"oci:{tmp_path / 'a'}", "--out", out, "--registry-authfile", authfile)),
        cli(isolated_env(tmp_path), "-vv", "pull", *published.args(
            "--dest", f"oci:{tmp_path / 'a'}", "--format", "json",
            "--registry-authfile", authfile)),
        cli(isolated_env(tmp_path), "-vv", "plan", *published.args(
            "--dest", f"oci:{tmp_path / 'b'}", "--registry-authfile", bad)),
    ]
    assert [r.code for r in runs] == [0, 0, 4], [r.stderr for r in runs]
    issued = reg.tokens.issued[before:]
    assert issued  # the HTTP reads did get tokens, so the check below can fail
    texts = [t for r in runs for t in (r.stdout, r.stderr)] + [out.read_text()]
    for text in texts:
        for secret in (READER_PW, WRONG, *issued):
            assert secret not in text
        assert "eyJ" not in text  # the start of any JWT's base64url header


# -- the token cache: expiry and a refused token ------------------------------------------


def test_tokens_are_kept_per_scope_until_they_expire_or_are_refused(published, tmp_path):
    reg = published.registry
    authfile = reg.authfile_for(tmp_path / "auth.json", READER)
    client = http.Client(reg.host, tls_verify=True, authfile=str(authfile), timeout=10)
    tag = sorted(reg_tags(reg, published.repo, authfile))[0]
    saved = reg.tokens.expires_in, reg.tokens.field
    try:
        reg.tokens.field = "access_token"  # the OAuth 2 name some servers use
        reg.tokens.expires_in = 3600
        before = len(reg.tokens.requests())
        assert client.manifest("team/stages", tag) and client.manifest("team/stages", tag)
        assert len(token_requests(reg, before)) == 1  # kept for the second read
        # The registry refuses a token (revoked, or the server's clock moved): one new
        # token, and the read succeeds.
        client._tokens._cache["repository:team/stages:pull"] = ("not-a-token", 1e12)
        assert client.manifest("team/stages", tag)
        assert len(token_requests(reg, before)) == 2
        # A token that expires in 6 s is not sent once it is within 5 s of expiry.
        reg.tokens.expires_in = 6
        client._tokens._cache.clear()
        assert client.manifest("team/stages", tag)
        time.sleep(1.2)
        assert client.manifest("team/stages", tag)
        assert len(token_requests(reg, before)) == 4
        assert client.manifest("team/stages", "image-stage-" + "0" * 64) is None
    finally:
        reg.tokens.expires_in, reg.tokens.field = saved
        client.close()


def reg_tags(reg: TokenRegistry, repo: str, authfile: Path) -> set[str]:
    proc = subprocess.run(["skopeo", "list-tags", "--authfile", str(authfile),
                           f"docker://{repo}"], capture_output=True, text=True, timeout=60,
                          check=True)
    return set(json.loads(proc.stdout)["Tags"])


# -- cleanup: a pull-only token may plan, not delete --------------------------------------


def test_cleanup_with_a_pull_only_token_deletes_nothing(tokreg, git_repo, tmp_path):
    repo = tokreg.repo("team/cleanup")
    admin = tokreg.authfile_for(tmp_path / "admin.json", ADMIN)
    reader = tokreg.authfile_for(tmp_path / "reader.json", READER)
    git_repo.write("werf.yaml", CONFIG)
    with auth_file(admin):
        for i in range(12):  # push main's first images out of its last 10
            when = time.time() - (40 - i) * DAY
            _commit(git_repo, f"c{i}", when)
            publish_stages(repo, str(git_repo.path), created=_iso(when),
                           workdir=str(tmp_path / "oci"))
    before = reg_tags(tokreg, repo, admin)
    env = isolated_env(tmp_path)
    path = tmp_path / "cleanup.json"

    asked = len(tokreg.tokens.requests())

    planned = cli(env, "cleanup", "plan", repo, "--dir", git_repo.path, "--out", path,
                  "--registry-authfile", reader)

    assert planned.code == 0, planned.stderr
    # Every tag's manifest and every config was read over HTTP with one pull token (a
    # skopeo process per read would ask for a token each); the tag list is skopeo's.
    assert len(before) > 10 and len(token_requests(tokreg, asked)) <= 2
    plan = json.loads(path.read_text())
    assert plan["delete"]
    refused = cli(env, "cleanup", "apply", path, "--dir", git_repo.path,
                  "--registry-authfile", reader)
    assert refused.code == 4, refused.stderr
    errors = [ln for ln in refused.stderr.splitlines() if ln.startswith("werfpull: error:")]
    assert len(errors) == 1, refused.stderr
    assert f"{tokreg.host}: the credentials given may not delete manifests in {repo}" \
        in errors[0]
    assert "nothing was deleted" in errors[0] and "Traceback" not in refused.stderr
    assert reg_tags(tokreg, repo, admin) == before

    done = cli(env, "cleanup", "apply", path, "--dir", git_repo.path, "--format", "json",
               "--registry-authfile", admin)
    assert done.code == 0, done.stderr
    gone = {t["tag"] for t in plan["delete"]}
    assert reg_tags(tokreg, repo, admin) == before - gone


# -- plain HTTP: credentials go to a plain-HTTP realm only for a plain-HTTP registry ------


@pytest.mark.parametrize("registry_tls", [False, True], ids=["http-registry", "https-registry"])
def test_a_plain_http_realm_is_used_only_for_a_plain_http_registry(tmp_path, registry_tls):
    with serving(TokenRegistry(tmp_path / "registry", USERS, tls=registry_tls,
                               realm_tls=False)) as reg:
        project = git_project(tmp_path / "project", two_images("secure"))
        with auth_file(reg.authfile_for(tmp_path / "admin.json", ADMIN)):
            publish_stages(reg.repo("team/plain"), str(project),
                           workdir=str(tmp_path / "publish"))
        flags = [] if registry_tls else ["--insecure-registry"]
        run = cli(isolated_env(tmp_path), "plan", reg.repo("team/plain"), "--dir", project,
                  "--dest", f"oci:{tmp_path / 'a'}", "--format", "json", "--inventory",
                  "probe", "-v", "--registry-authfile",
                  reg.authfile_for(tmp_path / "reader.json", READER), *flags)

    assert run.code == 0, run.stderr
    assert len(json.loads(run.stdout)["pulls"]) == 2
    _, _, requests, processes = calls(run.stderr)
    if registry_tls:  # the password would go in clear: skopeo's call, not the HTTP reads'
        assert (requests, processes) == (1, 2)  # the ping only
    else:
        assert processes == 0 and requests >= 4  # ping, token, a probe per image
