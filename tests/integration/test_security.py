"""TLS, authentication, credentials, concurrent runs and hostile input (issue 6, 2-4).

Everything runs for real: a docker-registry with a test CA's certificate and htpasswd
authentication (tests/support/secure_registry.py), skopeo, and werfpull as a user runs it, in a
subprocess. Each werfpull run gets a HOME and XDG_RUNTIME_DIR of its own, so that the
only credentials skopeo can find are the ones a test puts there.

With WERFPULL_RELIABILITY_OUT=FILE set, the tests also write the figures they measure
(requests counted at the registry, seconds to fail) into FILE as JSON; docs/reliability.md
quotes them.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import threading
from pathlib import Path

import pytest

from tests.support.git import git_project
from tests.support.pulls import assert_complete, expected, two_images
from tests.support.runs import Run, cli, isolated_env
from tests.support.secure_registry import PASSWORD, USER
from tests.support.stages import landed, publish_stages

WRONG = "Wrong-4xLp-not-the-password"
SECRETS = [PASSWORD, base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
           WRONG, base64.b64encode(f"{USER}:{WRONG}".encode()).decode()]
PROJECT = two_images("secure")


def record(name: str, **figures) -> None:
    """Add measured figures to $WERFPULL_RELIABILITY_OUT (JSON), if that is set."""
    out = os.environ.get("WERFPULL_RELIABILITY_OUT")
    if not out:
        return
    path = Path(out)
    data = json.loads(path.read_text()) if path.exists() else {}
    data[name] = figures
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


# -- the TLS + auth registry and its published project: conftest.py's ---------------------


def test_secure_registry_refuses_anonymous_requests(secure):
    import urllib.error

    with pytest.raises(urllib.error.HTTPError) as err:
        secure.http.open(f"{secure.url}/v2/", timeout=5)  # TLS verified against the test CA
    assert err.value.code == 401
    assert (secure.certs_dir / "ca.crt").read_bytes() == secure.pki["ca"].read_bytes()


# -- credentials: each source skopeo reads ------------------------------------------------


@pytest.mark.parametrize("source", ["flag", "REGISTRY_AUTH_FILE", "docker-config"])
def test_plan_and_pull_with_credentials_from(secure_project, tmp_path, source):
    secure = secure_project.registry
    flags: list = []
    if source == "flag":
        flags = ["--registry-authfile", secure.authfile(tmp_path / "auth.json")]
        env = isolated_env(tmp_path)
    elif source == "REGISTRY_AUTH_FILE":
        env = isolated_env(tmp_path,
                           REGISTRY_AUTH_FILE=str(secure.authfile(tmp_path / "auth.json")))
    else:  # skopeo 1.9 falls back to $HOME/.docker/config.json
        env = isolated_env(tmp_path)
        secure.authfile(Path(env["HOME"]) / ".docker" / "config.json")
    dest = f"oci:{tmp_path / 'layout'}"

    planned = cli(env, "plan", *secure_project.args("--dest", dest, "--format", "json", *flags))

    assert planned.code == 0, planned.stderr
    plan = json.loads(planned.stdout)
    assert sorted(p["images"] for p in plan["pulls"]) == [["x"], ["y"]]
    pulled = cli(env, "pull", *secure_project.args("--dest", dest, "--format", "json", *flags))
    assert pulled.code == 0, pulled.stderr
    assert_complete(dest, plan)


def test_no_credentials_is_refused_naming_the_registry(secure_project, tmp_path):
    run = cli(isolated_env(tmp_path), "plan",
              *secure_project.args("--dest", f"oci:{tmp_path / 'layout'}"))

    assert run.code == 4, run.stderr
    assert f"{secure_project.registry.host}: access refused" in run.stderr
    assert "--registry-authfile" in run.stderr  # the hint says where credentials come from


def test_unreadable_or_missing_auth_file_is_named(secure_project, tmp_path):
    env = isolated_env(tmp_path)
    broken = tmp_path / "broken.json"
    broken.write_text('{"auths": {"' + secure_project.registry.host + '": {"auth": ')
    dest = ["--dest", f"oci:{tmp_path / 'layout'}"]

    run = cli(env, "plan", *secure_project.args(*dest, "--registry-authfile", broken))

    assert run.code == 4, run.stderr
    assert f"{secure_project.registry.host}: cannot read the credentials (" in run.stderr
    assert str(broken) in run.stderr and "\\n" not in run.stderr
    missing = cli(env, "plan", *secure_project.args(*dest, "--registry-authfile",
                                               tmp_path / "missing.json"))
    assert missing.code == 2, missing.stderr
    assert f"--registry-authfile {tmp_path / 'missing.json'}: no such file" in missing.stderr


# -- a wrong password: at once, no retry storm -------------------------------------------


@pytest.mark.parametrize("retries", [0, 5])
def test_wrong_password_fails_at_once(secure_project, tmp_path, retries):
    secure = secure_project.registry
    bad = secure.authfile(tmp_path / "bad.json", password=WRONG)
    dest = f"oci:{tmp_path / 'layout'}"
    before = len(secure.requests())

    run = cli(isolated_env(tmp_path), "pull", *secure_project.args(
        "--dest", dest, "--registry-authfile", bad, "--retries", retries))

    requests = secure.requests()[before:]
    assert run.code == 4, run.stderr
    assert f"werfpull: error: {secure.host}: access refused (" in run.stderr
    assert "image-stage-" in run.stderr  # which stage was being read
    assert "retry" not in run.stderr
    # One probe per stage signature (4 here), each a ping of /v2/ and one manifest read,
    # all refused; the number does not grow with --retries.
    assert {status for _, _, status in requests} == {401}
    assert len(requests) <= 8, requests
    assert not os.path.exists(dest[4:])
    record(f"wrong_password_pull_retries_{retries}", exit_code=run.code,
           requests=len(requests), seconds=round(run.seconds, 2),
           command=f"werfpull pull REPO --registry-authfile BAD --retries {retries}")


def test_wrong_password_in_apply_stops_at_the_first_refusal(secure_project, tmp_path):
    secure = secure_project.registry
    good = secure.authfile(tmp_path / "good.json")
    bad = secure.authfile(tmp_path / "bad.json", password=WRONG)
    env = isolated_env(tmp_path)
    dest = f"oci:{tmp_path / 'layout'}"
    path = tmp_path / "plan.json"
    made = cli(env, "plan", *secure_project.args("--dest", dest, "--out", path,
                                            "--registry-authfile", good))
    assert made.code == 0, made.stderr
    before = len(secure.requests())

    # One copy at a time: copies already running when the first refusal comes are each
    # refused once; what this checks is that no further copy starts.
    run = cli(env, "apply", path, "--dir", secure_project.dir, "--registry-authfile", bad,
              "--format", "json", "--jobs", "1")

    requests = secure.requests()[before:]
    # Every other copy would be refused the same way: the first refusal ends the run with
    # the registry's exit code, not stage after stage.
    assert run.code == 4, run.stderr
    assert f"{secure.host}: access refused" in run.stderr
    assert run.stderr.count("FAILED") == 1
    assert {status for _, _, status in requests} == {401}
    # One stage's reads: the tag check's HTTP ping, without and with the credentials,
    # then skopeo's ping and manifest read, which names the refusal the one way.
    assert len(requests) <= 4, requests
    assert landed(dest) == {}
    record("wrong_password_apply", exit_code=run.code, requests=len(requests),
           seconds=round(run.seconds, 2), retries=0,
           command="werfpull apply PLAN --registry-authfile BAD")


# -- TLS: an untrusted certificate ---------------------------------------------------------


def test_untrusted_certificate_says_how_to_trust_it_or_skip(secure_project, tmp_path):
    secure = secure_project.registry
    env = isolated_env(tmp_path)
    auth = ["--registry-authfile", secure.authfile(tmp_path / "auth.json")]
    dest = f"oci:{tmp_path / 'layout'}"
    secure.distrust()
    try:
        before = len(secure.requests())
        run = cli(env, "plan", *secure_project.args("--dest", dest, *auth))
        requests = secure.requests()[before:]

        assert run.code == 4, run.stderr
        assert f"{secure.host}: TLS failed (" in run.stderr
        assert "unknown authority" in run.stderr
        assert f"/etc/containers/certs.d/{secure.host}/ca.crt" in run.stderr
        assert "--skip-tls-verify-registry" in run.stderr
        assert requests == []  # the handshake failed: no request was sent
        record("untrusted_certificate", exit_code=run.code, requests=len(requests),
               seconds=round(run.seconds, 2), command="werfpull plan REPO (CA not installed)")

        skipped = cli(env, "pull", *secure_project.args("--dest", dest, "--format", "json",
                                                   "--skip-tls-verify-registry", *auth))
        assert skipped.code == 0, skipped.stderr
        plan = json.loads(cli(env, "plan", *secure_project.args(
            "--dest", f"oci:{tmp_path / 'other'}", "--format", "json",
            "--skip-tls-verify-registry", *auth)).stdout)
        assert plan["registry"] == {"insecure": False, "skip_tls_verify": True}
        assert_complete(dest, plan)
    finally:
        secure.trust()


# -- no credential in any artifact ---------------------------------------------------------


def test_no_credential_in_any_output_file_or_bundle(secure_project, tmp_path):
    secure = secure_project.registry
    authfile = secure.authfile(tmp_path / "secret" / "auth.json")
    bad = secure.authfile(tmp_path / "secret" / "bad.json", password=WRONG)
    work = tmp_path / "work"
    work.mkdir()
    env = isolated_env(tmp_path)
    auth = ["--registry-authfile", authfile]
    store = f"containers-storage:[vfs@{work / 'root'}+{work / 'runroot'}]"
    runs = {
        "plan-text": cli(env, "-vv", "plan", *secure_project.args(
            "--dest", f"oci:{work / 'a'}", "--out", work / "plan.json", *auth)),
        "plan-json": cli(env, "-vv", "plan", *secure_project.args(
            "--dest", f"oci:{work / 'a'}", "--format", "json", "--out", work / "plan2.json",
            *auth)),
        "pull-text": cli(env, "-vv", "pull", *secure_project.args("--dest", f"oci:{work / 'a'}",
                                                             *auth)),
        "pull-json": cli(env, "-vv", "pull", *secure_project.args("--dest", store, "--format",
                                                             "json", *auth)),
        "apply": cli(env, "-vv", "apply", work / "plan.json", "--dir", secure_project.dir,
                     "--dest", f"oci:{work / 'b'}", "--format", "json", *auth),
        "script-plan": cli(env, "-vv", "script", "--plan", work / "plan.json", "-o",
                           work / "from-plan.sh"),
        "script-repo": cli(env, "-vv", "script", *secure_project.args("--dest", f"oci:{work / 'c'}",
                                                                 "-o", work / "pull.sh",
                                                                 *auth)),
        "wrong-password": cli(env, "-vv", "pull", *secure_project.args(
            "--dest", f"oci:{work / 'never'}", "--registry-authfile", bad)),
    }
    for name, run in runs.items():
        assert run.code == (4 if name == "wrong-password" else 0), (name, run.stderr)
    # The script's own registry access: export a bundle with skopeo reading the auth file.
    exported = subprocess.run(
        ["sh", str(work / "pull.sh"), "export", str(work / "bundle")], capture_output=True,
        text=True, timeout=120, env={**env, "REGISTRY_AUTH_FILE": str(authfile)})
    assert exported.returncode == 0, exported.stderr
    assert (work / "bundle" / "SHA256SUMS").exists()

    texts = {f"{name} {stream}": getattr(run, stream)
             for name, run in runs.items() for stream in ("stdout", "stderr")}
    texts |= {"export stdout": exported.stdout, "export stderr": exported.stderr}
    files = [p for p in work.rglob("*") if p.is_file() and not p.is_symlink()]
    assert any(p.parent.name == "sha256" for p in files)  # the bundle's blobs were read too
    for path in files:
        texts[str(path)] = path.read_bytes().decode("latin-1")
    for where, text in texts.items():
        for secret in SECRETS:
            assert secret not in text, f"a credential leaked into {where}"
    # The auth file's path is not a credential: -vv logs it in skopeo's argv, on stderr.
    # It never goes into a plan, a script, a bundle or standard output.
    for where, text in texts.items():
        if not where.endswith(" stderr"):
            assert str(authfile) not in text, f"the auth file path is in {where}"
    assert str(authfile) in runs["pull-text"].stderr  # so the check above can fail
    record("credentials_grep", artifacts=len(texts), files=len(files),
           command="tests/integration/test_security.py::test_no_credential_in_any_output_file_or_bundle")


# -- concurrent runs into one destination -------------------------------------------------

CONCURRENT = "project: concurrent\nconfigVersion: 1\n" + "".join(
    f"---\nimage: {name}\nfrom: alpine:3.18\nshell:\n  install: make {name}\n"
    for name in "abcd")


@pytest.fixture(scope="module")
def busy(registry, tmp_path_factory):
    """A plain-HTTP project of 4 images with 1 MB final stages, for runs that overlap."""
    tmp = tmp_path_factory.mktemp("concurrent")
    project = git_project(tmp / "project", CONCURRENT)
    repo = registry.repo("t/concurrent")
    publish_stages(repo, str(project), payload=1_000_000, workdir=str(tmp / "publish"))
    return project, repo


@pytest.mark.parametrize("kind", ["oci", "containers-storage"])
def test_two_pulls_at_once_into_one_destination(busy, tmp_path, kind):
    project, repo = busy
    dest = (f"oci:{tmp_path / 'layout'}" if kind == "oci"
            else f"containers-storage:[vfs@{tmp_path / 'root'}+{tmp_path / 'runroot'}]")
    env = isolated_env(tmp_path)
    args = ["pull", repo, "--dir", project, "--insecure-registry", "--dest", dest,
            "--format", "json", "--jobs", "4"]
    runs: list[Run] = []
    threads = [threading.Thread(target=lambda: runs.append(cli(env, *args))) for _ in "12"]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)

    assert len(runs) == 2
    for run in runs:
        assert run.code == 0, run.stderr
    plan = json.loads(cli(env, "plan", repo, "--dir", project, "--insecure-registry",
                          "--dest", f"oci:{tmp_path / 'fresh'}", "--format", "json").stdout)
    assert len(plan["pulls"]) == 4
    assert_complete(dest, plan)
    if kind == "oci":
        index = json.loads((tmp_path / "layout" / "index.json").read_text())
        names = [m["annotations"]["org.opencontainers.image.ref.name"]
                 for m in index["manifests"]]
        assert sorted(names) == sorted(expected(plan))  # each name once
    outs = [json.loads(r.stdout) for r in runs]
    record(f"concurrent_{kind}", exit_codes=[r.code for r in runs],
           pulled=[len(o["pulled"]) for o in outs], skipped=[len(o["skipped"]) for o in outs],
           seconds=[round(r.seconds, 2) for r in runs],
           command=f"two `werfpull pull --dest {kind}...` at once, 4 stages of ~1 MB")


def test_reading_an_oci_layout_waits_for_a_writer(tmp_path):
    """skopeo rewrites index.json in place; a reader must not see it half-written."""
    from werfpull.destinations.oci import oci_lock, oci_refs

    full = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:" + "a" * 64,
        "size": 1, "annotations": {"org.opencontainers.image.ref.name": "r:t"}}]}
    index = tmp_path / "index.json"
    read: list = []
    with oci_lock(str(tmp_path), exclusive=True):  # another werfpull's copy, mid-write
        index.write_text(json.dumps(full)[:40])
        reader = threading.Thread(target=lambda: read.append(oci_refs(str(tmp_path))))
        reader.start()
        reader.join(0.5)
        assert reader.is_alive() and read == []  # it waits instead of reading half a file
        index.write_text(json.dumps(full))
    reader.join(10)
    assert read == [{"r:t": "sha256:" + "a" * 64}]


# -- hostile and broken input not covered elsewhere ---------------------------------------


def test_huge_config_plans_and_signs(registry, tmp_path):
    images = 5000
    text = "project: huge\nconfigVersion: 1\n" + "".join(
        f"---\nimage: img{i}\nfrom: alpine:3.18\nshell:\n  install: make {i}\n"
        for i in range(images))
    project = git_project(tmp_path / "project", text)
    env = isolated_env(tmp_path)

    signed = cli(env, "signatures", "--dir", project, "--format", "json")
    planned = cli(env, "plan", registry.repo("t/huge"), "--dir", project,
                  "--insecure-registry", "--dest", f"oci:{tmp_path / 'd'}", "--format", "json")

    assert signed.code == 0, signed.stderr[-2000:]
    assert len(json.loads(signed.stdout)["images"]) == images
    assert planned.code == 0, planned.stderr[-2000:]
    plan = json.loads(planned.stdout)
    assert len(plan["images"]) == images and plan["pulls"] == []
    assert plan["inventory"] == "list"  # one tags/list call, not 10,000 probes
    record("huge_config", images=images, signatures_seconds=round(signed.seconds, 2),
           plan_seconds=round(planned.seconds, 2), command="werfpull signatures/plan, "
           "5,000 images (tests/integration/test_security.py::test_huge_config_plans_and_signs)")


def test_git_mapping_in_a_directory_that_is_no_git_checkout(tmp_path):
    project = tmp_path / "plain"
    project.mkdir()
    (project / "werf.yaml").write_text(
        "project: p\nconfigVersion: 1\n---\nimage: a\nfrom: x\ngit:\n- add: /\n  to: /app\n")
    env = isolated_env(tmp_path)

    # `signatures` is covered by test_signatures.py::test_cli_git_error_exits_3; plan and
    # pull must stop there too, before any registry (127.0.0.1:1 would be unreachable).
    for command in ("plan", "pull"):
        run = cli(env, command, "127.0.0.1:1/stages", "--dir", project, "--dest",
                  f"oci:{tmp_path / 'never'}")
        assert run.code == 3, run.stderr
        assert f"{project / 'werf.yaml'}:7: " in run.stderr and "git[0]" in run.stderr
        assert "git repository" in run.stderr
        assert len(run.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("repo", [
    "127.0.0.1:5000/Upper/case", "127.0.0.1:5000/stages:tag",
    "127.0.0.1:5000/stages@sha256:" + "0" * 64, "https://127.0.0.1:5000/stages",
    "127.0.0.1:5000/stages/", "127.0.0.1:5000//stages", "", "127.0.0.1:5000/st ages",
    "127.0.0.1:5000/$(touch pwned)", "127.0.0.1:5000/x\nid",
])
def test_invalid_repo_is_refused_before_anything_runs(tmp_path, repo):
    project = git_project(tmp_path / "project", PROJECT)
    env = isolated_env(tmp_path)

    for command in ("plan", "pull", "script"):
        run = cli(env, command, repo, "--dir", project, "--dest", f"oci:{tmp_path / 'd'}")
        assert run.code == 2, (command, run.stderr)
        assert "not a valid repository reference" in run.stderr, (command, run.stderr)
    assert not (tmp_path / "d").exists() and not (Path.cwd() / "pwned").exists()
