"""A fleet's pull-through cache: stages read by digest from a near registry, else the origin.

Real registries only: the origin (the session registry), reached by werfpull through
one logging proxy and by the cache through another, so each log says who fetched
what; and a Docker Distribution in `proxy` mode in front of it (tests/support/
pullthrough.py). skopeo is routed by a registries.conf mirror with
`pull-from-mirror = "digest-only"` (a drop-in in /etc/containers/registries.conf.d,
scoped to the origin's loopback port), which werfpull needs no option for: it plans
against the origin and copies by the digests it planned.
"""

from __future__ import annotations

import json

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.git import git_project
from tests.support.pullthrough import PullThroughCache, registries_conf, route
from tests.support.runs import cli, isolated_env
from tests.support.stages import dest_ref, landed, publish_stages, raw_digest

PROJECT = "project: fleet\nconfigVersion: 1\n" + "".join(
    f"---\nimage: {n}\nfrom: alpine:3.18\nshell:\n  beforeInstall: apk add x\n"
    f"  install: make {n}\n" for n in ("api", "web", "worker"))


@pytest.fixture
def fleet(registry, repo, tmp_path):
    project = git_project(tmp_path / "project", PROJECT)
    publish_stages(repo, str(project), payload=100_000, workdir=str(tmp_path / "publish"))
    path = repo.split("/", 1)[1]
    with FaultProxy.for_registry(registry, log_requests=True) as direct, \
            FaultProxy.for_registry(registry, log_requests=True) as upstream:
        cache = PullThroughCache(tmp_path / "cache", f"http://{upstream.host}").start()
        try:
            origin = f"{direct.host}/{path}"
            with route(origin, f"{cache.host}/{path}"):
                yield project, origin, direct, upstream, cache, isolated_env(tmp_path)
        finally:
            cache.stop()


def blob_gets(proxy) -> list[str]:
    return [r["path"].rsplit("/", 1)[1] for r in proxy.requests()
            if r["method"] == "GET" and "/blobs/" in r["path"] and r["status"] == 200]


def pull(project, origin, env, dest):
    run = cli(env, "pull", origin, "--dir", project, "--insecure-registry", "--dest", dest,
              "--format", "json")
    assert run.code == 0, run.stderr
    return json.loads(run.stdout)


def assert_verified(dest: str, origin: str, env, project) -> None:
    plan = json.loads(cli(env, "plan", origin, "--dir", project, "--insecure-registry",
                          "--dest", "oci:/nonexistent-werfpull", "--format", "json").stdout)
    want = {f"{origin}:{p['tag']}": p["digest"] for p in plan["pulls"]}
    assert len(want) == 3 and landed(dest) == want
    for name, digest in want.items():
        assert raw_digest(dest_ref(dest, name)) == digest


def test_stages_come_from_the_cache_and_a_second_host_costs_the_origin_nothing(fleet,
                                                                              tmp_path):
    project, origin, direct, upstream, cache, env = fleet
    first = f"oci:{tmp_path / 'host1'}"
    out = pull(project, origin, env, first)
    assert len(out["pulled"]) == 3
    assert blob_gets(direct) == []  # werfpull read no blob from the origin itself
    fetched = blob_gets(upstream)
    # Distribution 2.8's proxy reads an uncached blob from the origin twice: one read
    # streams to the client, another stores it (docs/benchmarks.md, "Fleet").
    assert fetched and all(fetched.count(b) <= 2 for b in fetched)
    assert_verified(first, origin, env, project)

    upstream.reset_counters()
    second = f"containers-storage:[vfs@{tmp_path / 'root'}+{tmp_path / 'run'}]"
    pull(project, origin, env, second)
    assert blob_gets(upstream) == [] and blob_gets(direct) == []  # all from the cache
    assert_verified(second, origin, env, project)


def test_a_cache_that_is_down_falls_back_to_the_origin(fleet, tmp_path):
    project, origin, direct, upstream, cache, env = fleet
    cache.stop()
    dest = f"oci:{tmp_path / 'host'}"
    out = pull(project, origin, env, dest)
    assert len(out["pulled"]) == 3
    assert blob_gets(direct)  # the origin served them
    assert_verified(dest, origin, env, project)


def test_probes_ignore_a_digest_only_mirror_and_follow_a_rerouted_registry(fleet, tmp_path,
                                                                           monkeypatch):
    from werfpull.inventory import http

    project, origin, direct, upstream, cache, env = fleet
    host = origin.split("/", 1)[0]
    assert not http.rerouted(host)  # the drop-in route: digest-only
    conf = tmp_path / "registries.conf"
    conf.write_text(registries_conf(origin, f"{cache.host}/x"))
    monkeypatch.setenv("CONTAINERS_REGISTRIES_CONF", str(conf))
    assert not http.rerouted(host)  # digest-only: a probe by tag still asks the origin
    conf.write_text(conf.read_text().replace('"digest-only"', '"all"'))
    assert http.rerouted(host)  # tags from the mirror: only skopeo reads them right
    conf.write_text(f'[[registry]]\nprefix = "{host}"\nlocation = "{cache.host}"\n')
    assert http.rerouted(host)
