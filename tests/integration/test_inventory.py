"""Asking the registry as little as possible: probes over HTTP, per image, none on a rerun.

Real registries throughout: the plain loopback one (through the fault proxy's request
log, which counts every request werfpull makes) and the TLS + htpasswd one. The HTTP
fast path must read credentials and trust exactly as skopeo does, answer only clean
present/absent, and leave everything else to skopeo.
"""

from __future__ import annotations

import json
import re

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.git import git_project
from tests.support.runs import cli, helper_env, isolated_env
from tests.support.secure_registry import PASSWORD, USER
from tests.support.stages import publish_stages

CHAIN = "project: chains\nconfigVersion: 1\n" + "".join(
    f"---\nimage: i{n}\nfrom: alpine:3.18\nshell:\n  beforeInstall: apk add x\n"
    f"  install: make {n}\n  setup: make setup {n}\n" for n in range(6))
CALLS = re.compile(r"inventory: (\w+), (\d+) registry calls \((\d+) HTTP requests, "
                   r"(\d+) skopeo processes\)")


def calls(stderr: str) -> tuple[str, int, int, int]:
    m = CALLS.search(stderr)
    assert m, stderr
    return m[1], int(m[2]), int(m[3]), int(m[4])


@pytest.fixture
def chains(registry, repo, tmp_path):
    """6 images of 4 stages each, every stage pushed, behind a request-logging proxy."""
    project = git_project(tmp_path / "project", CHAIN)
    publish_stages(repo, str(project), workdir=str(tmp_path / "publish"))
    with FaultProxy.for_registry(registry, log_requests=True) as proxy:
        yield project, repo.replace(registry.host, proxy.host), proxy


def manifest_gets(proxy) -> list[str]:
    return [r["path"] for r in proxy.requests() if "/manifests/" in r["path"]]


def test_probing_asks_one_stage_per_image_over_http(chains, tmp_path):
    project, repo, proxy = chains
    env = isolated_env(tmp_path)
    run = cli(env, "plan", repo, "--dir", project, "--insecure-registry", "-v",
              "--dest", f"oci:{tmp_path / 'd'}", "--format", "json", "--inventory", "probe")

    assert run.code == 0, run.stderr
    plan = json.loads(run.stdout)
    assert len(plan["pulls"]) == 6
    # Each image's final stage is there: one manifest read per image, nothing below it.
    finals = {f"image-stage-{p['signature']}" for p in plan["pulls"]}
    assert sorted(path.rsplit("/", 1)[1] for path in manifest_gets(proxy)) == sorted(finals)
    strategy, total, requests, processes = calls(run.stderr)
    assert (strategy, processes) == ("probe", 0)
    assert requests == total == len(proxy.requests())
    for image in plan["images"]:
        assert [s["remote"] for s in image["stages"]] == [None, None, None, True]


def test_a_few_round_trips_of_probes_ask_no_tag_page(chains, tmp_path):
    """All stages of 6 images are probed over HTTP, not listed: a tag page
    would make the registry read every tag it holds, for probes that take a few round
    trips of the parallel connections. (5,000 images are listed: test_security.py.)"""
    project, repo, proxy = chains
    run = cli(isolated_env(tmp_path), "plan", repo, "--dir", project, "--insecure-registry",
              "-v", "--dest", f"oci:{tmp_path / 'd'}", "--format", "json",
              "--all-stages")

    assert run.code == 0, run.stderr
    plan = json.loads(run.stdout)
    assert plan["inventory"] == "probe"
    assert not [r for r in proxy.requests() if "/tags/list" in r["path"]]
    stages = {s["signature"] for image in plan["images"] for s in image["stages"]}
    assert len(stages) > 8  # past the 8 skopeo probes after which listing is cheaper
    assert len(plan["pulls"]) == len(stages) == len(manifest_gets(proxy))
    assert calls(run.stderr)[3] == 0


def test_a_complete_rerun_makes_no_registry_request(chains, tmp_path):
    project, repo, proxy = chains
    dest = f"oci:{tmp_path / 'd'}"
    env = isolated_env(tmp_path)
    first = cli(env, "pull", repo, "--dir", project, "--insecure-registry", "--dest", dest)
    assert first.code == 0, first.stderr
    proxy.reset_counters()

    again = cli(env, "pull", repo, "--dir", project, "--insecure-registry", "--dest", dest,
                "-v", "--format", "json")

    assert again.code == 0, again.stderr
    assert proxy.requests() == [] and proxy.stats()["connections"] == 0
    assert calls(again.stderr)[:2] == ("local", 0)
    assert json.loads(again.stdout)["pulled"] == []


def test_a_registry_error_is_never_read_as_absent(chains, tmp_path):
    """HTTP 503 is not an answer: skopeo asks again, and its error stops the plan."""
    project, repo, proxy = chains
    proxy.fail_next(None)
    run = cli(isolated_env(tmp_path), "plan", repo, "--dir", project, "--insecure-registry",
              "--dest", f"oci:{tmp_path / 'd'}", "--inventory", "probe", "--retries", "0")
    assert run.code == 4, run.stderr
    assert "server error" in run.stderr


@pytest.mark.parametrize("source", ["flag", "REGISTRY_AUTH_FILE", "docker-config",
                                    "xdg-runtime"])
def test_http_probes_read_credentials_and_trust_as_skopeo_does(secure_project, tmp_path,
                                                               source):
    authfile = secure_project.registry.authfile(tmp_path / "auth.json")
    extra, flags = {}, []
    env = isolated_env(tmp_path)
    if source == "flag":
        flags = ["--registry-authfile", authfile]
    elif source == "REGISTRY_AUTH_FILE":
        extra = {"REGISTRY_AUTH_FILE": str(authfile)}
    elif source == "docker-config":
        secure_project.registry.authfile(tmp_path / "home" / ".docker" / "config.json")
    else:
        secure_project.registry.authfile(tmp_path / "xdg-runtime" / "containers" / "auth.json")
    env.update(extra)
    before = len(secure_project.registry.requests())

    run = cli(env, "plan", *secure_project.args("--dest", f"oci:{tmp_path / 'd'}", "-v",
                                           "--format", "json", "--inventory", "probe", *flags))

    assert run.code == 0, run.stderr
    assert len(json.loads(run.stdout)["pulls"]) == 2
    strategy, _, requests, processes = calls(run.stderr)
    assert processes == 0 and requests >= 3  # the ping, then one probe per image
    seen = secure_project.registry.requests()[before:]
    assert [s for m, p, s in seen if "/manifests/" in p] == [200, 200]


def test_a_credential_helper_is_left_to_skopeo(secure_project, tmp_path):
    """werfpull does not run credential helpers itself: skopeo does, so the probes do."""
    env = helper_env(tmp_path, secure_project.registry.host, USER, PASSWORD)

    run = cli(env, "plan", *secure_project.args("--dest", f"oci:{tmp_path / 'd'}", "-v",
                                           "--format", "json", "--inventory", "probe"))

    assert run.code == 0, run.stderr
    assert len(json.loads(run.stdout)["pulls"]) == 2
    _, _, requests, processes = calls(run.stderr)
    assert requests == 0 and processes == 2
