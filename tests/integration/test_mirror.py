"""A fleet's pull-through cache: stages read by digest from a near registry, else the origin.

Real registries only: the origin (the session registry), reached by werfpull through
one logging proxy and by the cache through another, so each log says who fetched
what; and a Docker Distribution in `proxy` mode in front of it (tests/support/
pullthrough.py) or nginx caching reads by digest with `proxy_cache_lock`
(tests/support/blobcache.py). skopeo is routed by a registries.conf mirror with
`pull-from-mirror = "digest-only"` (a drop-in in /etc/containers/registries.conf.d,
scoped to the origin's loopback port), which werfpull needs no option for: it plans
against the origin and copies by the digests it planned.
"""

from __future__ import annotations

import json
import threading

import pytest

from tests.support.blobcache import BlobCache
from tests.support.faultproxy import FaultProxy
from tests.support.git import git_project
from tests.support.pullthrough import PullThroughCache, registries_conf, route
from tests.support.runs import cli, isolated_env
from tests.support.stages import dest_ref, landed, publish_stages, raw_digest

PROJECT = "project: fleet\nconfigVersion: 1\n" + "".join(
    f"---\nimage: {n}\nfrom: alpine:3.18\nshell:\n  beforeInstall: apk add x\n"
    f"  install: make {n}\n" for n in ("api", "web", "worker"))


def routed(registry, repo, tmp_path, cache_for):
    """The project published to `repo`, werfpull's own route to the origin and the cache's
    upstream each through a logging proxy, and the cache `cache_for(upstream)` routed by
    a registries.conf mirror; yields (project, origin, direct, upstream, cache, env)."""
    project = git_project(tmp_path / "project", PROJECT)
    publish_stages(repo, str(project), payload=100_000, workdir=str(tmp_path / "publish"))
    path = repo.split("/", 1)[1]
    with FaultProxy.for_registry(registry, log_requests=True) as direct, \
            FaultProxy.for_registry(registry, log_requests=True) as upstream:
        cache = cache_for(upstream).start()
        try:
            origin = f"{direct.host}/{path}"
            with route(origin, f"{cache.host}/{path}"):
                yield project, origin, direct, upstream, cache, isolated_env(tmp_path)
        finally:
            cache.stop()


@pytest.fixture
def fleet(registry, repo, tmp_path):
    """Behind Docker Distribution's proxy mode."""
    yield from routed(registry, repo, tmp_path, lambda upstream: PullThroughCache(
        tmp_path / "cache", f"http://{upstream.host}"))


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


@pytest.fixture
def coalescing(registry, repo, tmp_path):
    """Behind an nginx cache of reads by digest."""
    yield from routed(registry, repo, tmp_path,
                      lambda upstream: BlobCache(tmp_path / "nginx", upstream.host))


def test_hosts_pulling_at_once_through_a_coalescing_cache_cost_the_origin_one_read(
        coalescing, tmp_path):
    """Six hosts apply one plan at the same moment, cache cold: each blob and manifest
    reaches the origin once, and every host holds exactly the planned stages."""
    project, origin, direct, upstream, cache, env = coalescing
    plan = tmp_path / "plan.json"
    made = cli(env, "plan", origin, "--dir", project, "--insecure-registry", "--dest",
               "oci:/nonexistent-werfpull", "--out", plan)
    assert made.code == 0, made.stderr
    direct.reset_counters()
    hosts = [f"oci:{tmp_path / f'host{i}'}" for i in range(6)]
    runs: list = []
    threads = [threading.Thread(target=lambda d=d: runs.append(cli(
        env, "apply", plan, "--dir", project, "--insecure-registry", "--dest", d)))
        for d in hosts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert len(runs) == 6 and all(r.code == 0 for r in runs), [r.stderr for r in runs]

    fetched = blob_gets(upstream)
    wanted = {d for p in json.loads(plan.read_text())["pulls"] for d, _ in p["layers"]}
    assert sorted(fetched) == sorted(wanted)  # each distinct blob once, none twice
    manifests = [r["path"] for r in upstream.requests() if "/manifests/sha256:" in r["path"]]
    assert len(manifests) == len(set(manifests)) == 3
    assert blob_gets(direct) == []  # no host fell back to the origin
    for dest in hosts:
        assert_verified(dest, origin, env, project)


def test_a_poisoned_cache_never_lands_wrong_content(coalescing, tmp_path):
    """Every cached read altered in place (the cache's disk is not trusted): the copies
    that read it fail their digest check, and no host holds a stage under a wrong name."""
    project, origin, direct, upstream, cache, env = coalescing
    first = f"oci:{tmp_path / 'host1'}"
    pull(project, origin, env, first)
    cached = [p for p in (cache.prefix / "cache").rglob("*") if p.is_file()]
    assert cached
    for path in cached:
        data = bytearray(path.read_bytes())
        data[-1] ^= 0xFF  # the response body ends the file
        path.write_bytes(bytes(data))

    dest = f"oci:{tmp_path / 'host2'}"
    run = cli(env, "pull", origin, "--dir", project, "--insecure-registry", "--dest", dest,
              "--retries", "0", "--format", "json")

    assert run.code == 1, run.stderr
    assert "Traceback" not in run.stderr
    out = json.loads(run.stdout)
    assert out["pulled"] == [] and len(out["failed"]) == 3
    assert all("does not match" in f["error"] for f in out["failed"])
    assert "the others landed" not in run.stderr  # none did
    assert landed(dest) == {}  # nothing named as a stage
