"""`werfpull pull` and `werfpull apply` against a real registry, with real skopeo.

Each test publishes the stages of a small project to a fresh repository, pulls them
into an isolated destination (an OCI layout or a containers-storage root in tmp) and
checks with skopeo and buildah that exactly the planned stages landed, byte for byte.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.support.pulls import PULL_PROJECT, assert_complete, oci, report, store
from tests.support.stages import (
    delete_manifest,
    dest_ref,
    landed,
    publish_stages,
    raw_digest,
    werfpull,
)

# The project and its `published` fixture are conftest.py's (tests/support/pulls.py).


# -- landing the planned stages ----------------------------------------------------------


def test_pull_into_oci_lands_exactly_the_planned_stages(published, tmp_path):
    dest = oci(tmp_path)
    plan = published.plan("--dest", dest)
    # a and b share their final stage; the artifact is cached past its use in c.
    assert len(plan["pulls"]) == 2
    assert sorted(map(sorted, (p["images"] for p in plan["pulls"]))) == [["a", "b"], ["c"]]
    for pull in plan["pulls"]:
        assert published.digests[pull["signature"]] == pull["digest"]

    proc = published.run("pull", "--dest", dest, "--format", "json")

    assert proc.returncode == 0, proc.stderr
    out = report(proc)
    assert sorted(out["pulled"]) == sorted(p["signature"] for p in plan["pulls"])
    assert out["failed"] == [] and out["retries"] == 0
    assert_complete(dest, plan)


def test_pull_into_isolated_containers_storage(published, tmp_path):
    dest = store(tmp_path)
    plan = published.plan("--dest", dest)

    proc = published.run("pull", "--dest", dest, "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert sorted(report(proc)["pulled"]) == sorted(p["signature"] for p in plan["pulls"])
    # landed() lists every name in the store through `buildah images --json`.
    assert_complete(dest, plan)


def test_pull_into_another_registry_warms_a_mirror(published, registry):
    """docker://HOST/REPO as destination: the stages land under the mirror's name."""
    mirror = registry.repo(published.repo.rsplit("/", 1)[1] + "-mirror")
    plan = published.plan("--dest", f"docker://{mirror}")

    proc = published.run("pull", "--dest", f"docker://{mirror}", "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert sorted(report(proc)["pulled"]) == sorted(p["signature"] for p in plan["pulls"])
    assert sorted(registry.tags(mirror)) == sorted(p["tag"] for p in plan["pulls"])
    for pull in plan["pulls"]:  # digests kept: the mirror serves the very same manifests
        assert raw_digest(f"docker://{mirror}:{pull['tag']}") == pull["digest"]
    again = published.run("pull", "--dest", f"docker://{mirror}", "--format", "json")
    assert again.returncode == 0 and report(again)["pulled"] == []


def test_rerun_pulls_nothing(published, tmp_path):
    dest = oci(tmp_path)
    first = published.run("pull", "--dest", dest, "--format", "json")
    assert first.returncode == 0, first.stderr
    assert len(report(first)["pulled"]) == 2
    before = landed(dest)

    again = published.run("pull", "--dest", dest, "--format", "json")

    assert again.returncode == 0, again.stderr
    assert report(again)["pulled"] == []
    assert "werfpull: pulling" not in again.stderr
    assert landed(dest) == before


def test_reapplying_a_plan_skips_what_landed(published, tmp_path):
    dest = store(tmp_path)
    path = published.save_plan(dest)
    plan = json.loads(path.read_text())
    first = werfpull("apply", path, "--dir", published.dir, "--insecure-registry",
                     "--format", "json")
    assert first.returncode == 0, first.stderr

    again = werfpull("apply", path, "--dir", published.dir, "--insecure-registry",
                     "--format", "json")

    assert again.returncode == 0, again.stderr
    out = report(again)
    assert out["pulled"] == []
    assert sorted(out["skipped"]) == sorted(p["signature"] for p in plan["pulls"])
    assert_complete(dest, plan)


def test_parallel_pull_of_independent_stages(git_repo, repo, tmp_path):
    images = "".join(f"---\nimage: i{n}\nfrom: alpine:3.{n}\n" for n in range(8))
    git_repo.write("werf.yaml", f"project: wide\nconfigVersion: 1\n{images}")
    git_repo.commit()
    digests = publish_stages(repo, str(git_repo.path), workdir=str(tmp_path / "publish"))
    dest = store(tmp_path)

    proc = werfpull("pull", repo, "--dir", git_repo.path, "--insecure-registry", "--dest", dest,
                    "--jobs", "4", "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert sorted(report(proc)["pulled"]) == sorted(digests)
    assert landed(dest) == {f"{repo}:image-stage-{sig}": d for sig, d in digests.items()}
    for sig, digest in digests.items():
        assert raw_digest(dest_ref(dest, f"{repo}:image-stage-{sig}")) == digest
    # Copies overlapped: several started before the first one ended.
    lines = [ln for ln in proc.stderr.splitlines() if "werfpull: pull" in ln]
    first_done = next(i for i, ln in enumerate(lines) if ln.startswith("werfpull: pulled"))
    assert first_done > 1


# -- plan selection ----------------------------------------------------------------------


def test_all_stages_takes_every_remote_stage(published, tmp_path):
    dest = oci(tmp_path)
    plan = published.plan("--dest", dest, "--all-stages")
    assert {p["signature"] for p in plan["pulls"]} == set(published.digests)

    proc = published.run("pull", "--dest", dest, "--all-stages", "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert len(report(proc)["pulled"]) == len(published.digests) == 6
    assert_complete(dest, plan)


def test_image_argument_restricts_the_plan(published, tmp_path):
    dest = oci(tmp_path)
    plan = published.plan("a", "--dest", dest)
    assert [i["name"] for i in plan["images"]] == ["a"]
    assert [p["images"] for p in plan["pulls"]] == [["a"]]  # b shares it but was not asked

    proc = published.run("pull", "a", "--dest", dest, "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert_complete(dest, plan)
    assert len(landed(dest)) == 1


# -- apply of a saved plan ---------------------------------------------------------------


def test_apply_of_a_saved_plan_lands_its_stages(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)

    proc = werfpull("apply", path, "--dir", published.dir, "--insecure-registry",
                    "--format", "json")

    assert proc.returncode == 0, proc.stderr
    plan = json.loads(path.read_text())
    assert sorted(report(proc)["pulled"]) == sorted(p["signature"] for p in plan["pulls"])
    assert_complete(dest, plan)


def test_apply_refuses_a_plan_for_another_repository(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)
    other = published.repo.rsplit("/", 1)[0] + "/other"

    proc = werfpull("apply", path, "--dir", published.dir, "--insecure-registry",
                    "--repo", other)

    assert proc.returncode == 5, proc.stderr
    assert other in proc.stderr
    assert landed(dest) == {}


def test_apply_refuses_a_stale_plan_unless_forced(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)
    (published.dir / "werf.yaml").write_text(PULL_PROJECT.replace("make c", "make c2"))

    proc = werfpull("apply", path, "--dir", published.dir, "--insecure-registry")

    assert proc.returncode == 5, proc.stderr
    assert "stale" in proc.stderr and "plan again" in proc.stderr
    assert landed(dest) == {}

    forced = werfpull("apply", path, "--dir", published.dir, "--insecure-registry",
                      "--force")

    assert forced.returncode == 0, forced.stderr
    assert_complete(dest, json.loads(path.read_text()))


def _edit(field: str, value):
    def edit(plan: dict) -> None:
        plan["pulls"][0][field] = value
    return edit


@pytest.mark.parametrize("damage, named", [
    (lambda plan: plan.update(format=2), "format 2"),
    (_edit("digest", "sha256:1234"), "pulls[0].digest"),
    (_edit("digest", "sha256:$(touch PWNED)"), "pulls[0].digest"),
    (_edit("tag", "image-stage-x; touch PWNED"), "pulls[0].tag"),
    (_edit("signature", "../../etc"), "pulls[0].signature"),
    (lambda plan: plan.update(repo="127.0.0.1:1/x;id"), "'repo'"),
], ids=["format-2", "short-digest", "shell-digest", "shell-tag", "bad-signature", "bad-repo"])
def test_apply_refuses_a_tampered_plan_before_copying(published, tmp_path, damage, named):
    dest = oci(tmp_path)
    path = published.save_plan(dest)
    plan = json.loads(path.read_text())
    damage(plan)
    pwned = tmp_path / "pwned"
    path.write_text(json.dumps(plan).replace("PWNED", str(pwned)))

    proc = werfpull("apply", path, "--dir", published.dir, "--insecure-registry",
                    "--force")

    assert proc.returncode == 5, proc.stderr
    assert named in proc.stderr
    assert not os.path.exists(dest[4:])  # nothing was copied, not even a layout made
    assert not pwned.exists()


def test_apply_refuses_a_truncated_plan(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)
    text = path.read_text()
    path.write_text(text[: len(text) // 2])

    proc = werfpull("apply", path, "--dir", published.dir, "--insecure-registry")

    assert proc.returncode == 5, proc.stderr
    assert "invalid JSON" in proc.stderr and "truncated" in proc.stderr
    assert not os.path.exists(dest[4:])


def test_vanished_digest_fails_that_stage_and_the_others_land(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)
    plan = json.loads(path.read_text())
    gone, kept = plan["pulls"]
    delete_manifest(published.repo, gone["digest"])

    proc = werfpull("apply", path, "--dir", published.dir, "--insecure-registry",
                    "--format", "json")

    assert proc.returncode == 1, proc.stderr
    assert f"{published.repo}:{gone['tag']}" in proc.stderr
    assert "no longer in the registry" in proc.stderr
    out = report(proc)
    assert out["pulled"] == [kept["signature"]]
    assert [f["signature"] for f in out["failed"]] == [gone["signature"]]
    assert out["retries"] == 0  # absent is permanent: not retried
    assert landed(dest) == {f"{published.repo}:{kept['tag']}": kept["digest"]}


def test_a_copy_waits_only_while_a_layer_it_needs_is_in_flight():
    """Two stages with a common layer, copied at once, would both download it; once it
    has landed, every copy needing it may start."""
    from werfpull.apply.transfer import _startable
    from werfpull.plan.model import Pull

    def pull(name, *layers):
        return Pull(f"image-stage-{name * 64}", name * 64, "s", "sha256:" + "0" * 64, 1,
                    [[f"sha256:{x * 64}", 1] for x in layers], [])

    base, a, b, c = pull("1", "a", "b"), pull("2", "a", "c"), pull("3", "d"), pull("4", "e")
    assert _startable([base, a, b, c], [], 4, set()) == [base, b, c]  # a waits for base
    assert _startable([a, b], [base], 3, set()) == [b]
    assert _startable([a], [], 1, set()) == [a]  # alone it may always start
    assert _startable([b, c], [], 1, set()) == [b]  # never more than the free slots
    d, e = pull("5", "a", "f"), pull("6", "a", "g")
    landed = {f"sha256:{x * 64}" for x in "ab"}  # base finished: its layers are in
    assert _startable([a, d, e], [base], 3, landed) == [a, d, e]
    assert _startable([a, d], [], 2, {"sha256:" + "c" * 64}) == [a]  # "a" is not landed


SHARED = 8


@pytest.fixture
def shared_base(registry, repo, tmp_path):
    """SHARED stages on one 2 MB base layer, pushed through a logging proxy."""
    from tests.support.faultproxy import FaultProxy
    from tests.support.registry import make_oci_image, push_oci
    from tests.support.stages import _noise

    layout = tmp_path / "src"
    base = make_oci_image(layout, "base", {"base": _noise("base", 2_000_000)})
    digests = {}
    for i in range(SHARED):
        sig = f"{i:064x}"
        made = make_oci_image(layout, f"s{i}", {f"s{i}": _noise(sig, 50_000)}, base["layers"])
        push_oci(layout, f"s{i}", f"{repo}:image-stage-{sig}")
        digests[sig] = made["manifest_digest"]
    with FaultProxy.for_registry(registry, log_requests=True) as proxy:
        yield proxy, repo.replace(registry.host, proxy.host), digests, base


def _plan_pulls(repo: str, digests: dict):
    from werfpull.inventory.registry import Remote
    from werfpull.plan.planner import make_pulls
    from werfpull.refs import parse_repo
    from werfpull.tools import skopeo

    remote = Remote(parse_repo(repo), skopeo.RegistryOptions(insecure=True))
    return make_pulls({s: ["install", f"i{s[-1]}"] for s in digests},
                      remote.manifests(list(digests)))


def _write_plan(path: Path, repo: str, pulls: list, dest: str) -> Path:
    from werfpull.plan.model import Plan

    plan = Plan(repo=repo, dest=dest, dest_reason="given with --dest",
                registry={"insecure": True, "skip_tls_verify": False}, project="shared",
                config_digest="sha256:" + "0" * 64, all_stages=False, images=[], pulls=pulls,
                download=None)
    path.write_text(plan.dumps())
    return path


def _blob_gets(proxy, digest: str) -> int:
    return sum(1 for r in proxy.requests()
               if r["method"] == "GET" and r["path"].endswith(f"/blobs/{digest}"))


@pytest.mark.parametrize("kind", ["oci", "containers-storage"])
def test_copies_sharing_a_base_run_in_parallel_and_fetch_it_once(shared_base, tmp_path, kind):
    import threading

    from werfpull.apply.pull import PullInto
    from werfpull.apply.transfer import Transfer
    from werfpull.destinations import parse_dest
    from werfpull.refs import parse_repo
    from werfpull.tools import skopeo

    proxy, repo, digests, base = shared_base
    pulls = _plan_pulls(repo, digests)
    proxy.reset_counters()
    dest = oci(tmp_path) if kind == "oci" else store(tmp_path)
    running, most, lock = set(), [0], threading.Lock()

    def seen(event):
        with lock:
            if event.kind == "start":
                running.add(event.pull.signature)
                most[0] = max(most[0], len(running))
            elif event.kind in ("done", "fail"):
                running.discard(event.pull.signature)

    direction = PullInto(parse_repo(repo), parse_dest(dest), skopeo.RegistryOptions(insecure=True))
    outcome = Transfer(pulls, direction, jobs=4, report=seen).run()

    assert not outcome.failed and len(outcome.pulled) == SHARED
    assert most[0] > 1  # after the first copy landed the base, the others overlapped
    assert _blob_gets(proxy, base["layers"][0]["digest"]) == 1
    names = {f"{repo}:image-stage-{sig}": d for sig, d in digests.items()}
    assert landed(dest) == names
    if kind == "oci":  # the staging layouts are gone
        assert not any((tmp_path / "layout" / ".werfpull-staging").iterdir())


def test_applying_a_saved_plan_checks_each_tag_without_reading_its_manifest(shared_base,
                                                                          tmp_path):
    """The tag checks of a saved plan are HEAD requests, all read ahead: each manifest
    body crosses the wire once, in skopeo's copy by digest."""
    from werfpull.apply.pull import PullInto
    from werfpull.apply.transfer import Transfer
    from werfpull.destinations import parse_dest
    from werfpull.refs import parse_repo
    from werfpull.tools import skopeo

    proxy, repo, digests, _ = shared_base
    pulls = _plan_pulls(repo, digests)
    proxy.reset_counters()
    direction = PullInto(parse_repo(repo), parse_dest(oci(tmp_path)),
                         skopeo.RegistryOptions(insecure=True), check_tags=True)
    outcome = Transfer(pulls, direction, jobs=4).run()

    assert not outcome.failed and len(outcome.pulled) == SHARED
    log = [r for r in proxy.requests() if "/manifests/" in r["path"]]
    heads = sorted(r["path"].rsplit("/", 1)[1] for r in log if r["method"] == "HEAD")
    gets = sorted(r["path"].rsplit("/", 1)[1] for r in log if r["method"] == "GET")
    assert heads == sorted(f"image-stage-{sig}" for sig in digests)
    assert gets == sorted(digests.values())
    assert all(r["body_bytes"] == 0 for r in log if r["method"] == "HEAD")


def test_two_processes_copying_into_one_oci_layout_lose_no_tag(shared_base, tmp_path):
    """Each process copies all stages with 4 jobs at once; every tag survives, once."""
    import threading

    proxy, repo, digests, _ = shared_base
    plans = []
    for n in range(2):  # two disjoint halves, so both processes really write
        pulls = _plan_pulls(repo, {s: d for i, (s, d) in enumerate(digests.items())
                                   if i % 2 == n})
        plans.append(_write_plan(tmp_path / f"plan{n}.json", repo, pulls, oci(tmp_path)))
    procs = []
    threads = [threading.Thread(target=lambda p=p: procs.append(
        werfpull("apply", p, "--jobs", "4", "--force", "--insecure-registry",
                 "--format", "json"))) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join(150)
    assert [p.returncode for p in procs] == [0, 0], [p.stderr for p in procs]
    index = json.loads((tmp_path / "layout" / "index.json").read_text())
    names = [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]]
    assert sorted(names) == sorted(f"{repo}:image-stage-{s}" for s in digests)
    for sig, digest in digests.items():
        assert raw_digest(dest_ref(oci(tmp_path), f"{repo}:image-stage-{sig}")) == digest
