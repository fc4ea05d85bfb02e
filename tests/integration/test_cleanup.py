"""Registry cleanup against the real registry: a history on two branches and a tag,
stages pushed for every commit, werf's default keep policy.

What the plan keeps is checked against a computation of this test's own: every commit
is checked out and signed the ordinary way (HEAD of a checkout), and the policy's
consequence for this history is spelled out here, not read from the plan.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime

import pytest

from tests.support.registry import Registry, make_oci_image, publish_image, push_oci
from tests.support.stages import publish_stages, werfpull
from werfpull.cleanup.apply import apply_cleanup
from werfpull.cleanup.make import CleanupRequest, make_cleanup_plan
from werfpull.cleanup.model import load_cleanup_plan
from werfpull.errors import RegistryError
from werfpull.plan.make import PlanRequest, make_plan
from werfpull.project import load_project
from werfpull.tools import skopeo

CONFIG = """\
project: shop
configVersion: 1
---
artifact: tools
from: alpine:3
git:
- add: /tools
  to: /tools
  stageDependencies:
    install: ["**/*"]
shell:
  install: make tools
---
image: app
from: alpine:3
git:
- add: /src
  to: /app
shell:
  setup: make app
import:
- artifact: tools
  add: /tools
  to: /usr/local/tools
  after: setup
"""

DAY = 86400
OPTS = skopeo.RegistryOptions(insecure=True)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _commit(git_repo, message: str, when: float, path: str = "src/app.txt") -> str:
    git_repo.write(path, f"{message}\n")
    git_repo.env.update(GIT_AUTHOR_DATE=f"@{int(when)} +0000",
                        GIT_COMMITTER_DATE=f"@{int(when)} +0000")
    return git_repo.commit(message)


def _signed_at(git_repo, commit: str) -> dict:
    """{image name: [stage signatures]} of `commit`, signed from a plain checkout."""
    git_repo.git("checkout", "-q", "--detach", commit)
    project = load_project(str(git_repo.path))
    return {s.image.name: [st.signature for st in s.stages] for s in project.signed}


@pytest.fixture
def history(git_repo, repo, tmp_path):
    """main: 12 commits, old; feature: 3 recent commits off main's 9th; stale: 1 commit
    20 days old off main's 4th; tag v1 (annotated) on main's 2nd. Stages for every
    commit, created when the commit was made."""
    now = time.time()
    git_repo.write("werf.yaml", CONFIG)
    git_repo.write("tools/t.sh", "tools\n")
    main = []
    for i in range(12):
        main.append(_commit(git_repo, f"main {i}", now - (40 - i) * DAY))
        if i == 1:
            git_repo.git("tag", "-a", "v1", "-m", "release")
    git_repo.git("checkout", "-q", "-b", "feature", main[8])
    feature = [_commit(git_repo, f"feature {i}", now - (3 - i) * DAY) for i in range(3)]
    feature.append(_commit(git_repo, "feature tools", now - 0.5 * DAY, "tools/t.sh"))
    # Changes no file a stage depends on: the same images as the commit before it.
    feature.append(_commit(git_repo, "feature docs", now - 0.4 * DAY, "README"))
    git_repo.git("checkout", "-q", "-b", "stale", main[3])
    stale = [_commit(git_repo, "stale", now - 20 * DAY)]
    signed, pushed = {}, set()
    for c in main + feature + stale:
        signed[c] = _signed_at(git_repo, c)
        when = int(git_repo.git("log", "-1", "--format=%ct", c))
        pushed |= set(publish_stages(repo, str(git_repo.path), created=_iso(when),
                                     workdir=str(tmp_path / "oci"), skip=pushed))
    git_repo.git("checkout", "-q", "main")
    return dict(now=now, main=main, feature=feature, stale=stale, signed=signed,
                pushed=pushed, dir=str(git_repo.path))


def _expected_keep(h) -> set[str]:
    """werf's default policy on this history: main keeps its 10 newest images; feature
    (recent) keeps its 2 newest images of the last 7 days (images, not commits: its
    last two commits have the same ones); stale (20 days) is not selected; the tag
    keeps the image at its commit. Each kept image keeps its own stages and the
    artifact's, at that commit."""
    kept_commits = h["main"][2:] + h["feature"][-3:] + [h["main"][1]]
    return {sig for c in kept_commits for name in ("app", "tools")
            for sig in h["signed"][c][name]}


def _tags(registry, repo) -> set[str]:
    return set(registry.tags(repo))


def test_plan_keeps_what_the_policy_says_and_apply_deletes_the_rest(history, registry, repo,
                                                                    tmp_path):
    h = history
    # Stages of no known commit: one three days old goes, one pushed a minute ago (by a
    # host building a commit not merged yet) stays, and so does a tag that is no stage.
    old_unknown, recent = "image-stage-" + "b" * 64, "image-stage-" + "c" * 64
    make_oci_image(tmp_path / "o", "o", {"old": b"1"}, created=_iso(h["now"] - 3 * DAY))
    push_oci(tmp_path / "o", "o", f"{repo}:{old_unknown}")
    make_oci_image(tmp_path / "n", "n", {"new": b"1"}, created=_iso(time.time() - 60))
    push_oci(tmp_path / "n", "n", f"{repo}:{recent}")
    push_oci(tmp_path / "o", "o", f"{repo}:latest")

    plan = make_cleanup_plan(CleanupRequest(repo=repo, directory=h["dir"], registry=OPTS))
    keep = _expected_keep(h)
    stage_tags = {f"image-stage-{s}" for s in h["pushed"]}
    planned_delete = {t.tag for t in plan.delete}
    assert planned_delete == stage_tags - {f"image-stage-{s}" for s in keep}
    # The old unknown stage goes, unless a kept tag shares its manifest: "latest" does.
    assert "shares its manifest with the kept tag latest" in {
        t.why for t in plan.keep if t.tag == old_unknown}
    assert recent not in planned_delete
    assert plan.freed and plan.freed > 0
    refs = {r.name: r for r in plan.references}
    assert set(refs) == {"main", "feature", "v1"}  # stale is older than 7 days
    assert len({k.signature for k in refs["main"].kept}) == 10
    assert {k.commit for k in refs["feature"].kept} == {h["feature"][-3], h["feature"][-1]}

    path = tmp_path / "cleanup.json"
    path.write_text(plan.dumps())
    outcome = apply_cleanup(load_cleanup_plan(str(path)), str(path), OPTS)
    assert set(outcome.deleted) == planned_delete
    left = _tags(registry, repo)
    assert left.isdisjoint(planned_delete)
    assert {f"image-stage-{s}" for s in keep} <= left
    assert {recent, "latest"} <= left

    # A plan at a kept commit still finds every stage it needs: nothing to build.
    for commit in (h["main"][-1], h["feature"][-1], h["main"][1]):
        werfpull_checkout(h["dir"], commit)
        pull = make_plan(PlanRequest(repo=repo, directory=h["dir"], registry=OPTS,
                                     all_stages=True, dest=f"oci:{tmp_path}/dest"))
        assert all(st.remote for image in pull.images for st in image.stages), commit


def werfpull_checkout(directory: str, commit: str) -> None:
    import subprocess
    subprocess.run(["git", "-C", directory, "checkout", "-q", "--detach", commit], check=True,
                   capture_output=True)


def test_apply_refuses_moved_tags_and_spares_shared_and_new_manifests(history, registry, repo,
                                                                       tmp_path):
    h = history
    plan = make_cleanup_plan(CleanupRequest(repo=repo, directory=h["dir"], registry=OPTS))
    first, second = plan.delete[0], plan.delete[1]
    path = tmp_path / "cleanup.json"
    path.write_text(plan.dumps())

    # A planned tag that now points elsewhere refuses the whole plan.
    publish_image(repo, first.tag, {"moved": b"1"}, workdir=str(tmp_path / "m"))
    r = werfpull("cleanup", "apply", path, "--dir", h["dir"], "--insecure-registry")
    assert r.returncode == 5, r.stderr
    assert "moved" in r.stderr and "nothing was deleted" in r.stderr
    assert second.tag in _tags(registry, repo)

    # Plan again; a tag pushed since, sharing a doomed manifest, keeps that manifest.
    plan = make_cleanup_plan(CleanupRequest(repo=repo, directory=h["dir"], registry=OPTS))
    doomed = plan.delete[0]
    src = f"docker://{repo}:{doomed.tag}"
    import subprocess
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                    src, f"docker://{repo}:release"], check=True, capture_output=True)
    path.write_text(plan.dumps())
    stop = threading.Event()
    pushed_during: list[str] = []

    def push_meanwhile():
        # A concurrent push of new stages while the deletions run.
        i = 0
        while not stop.is_set():
            tag = f"image-stage-{i:064x}"
            publish_image(repo, tag, {"during": str(i).encode()}, workdir=str(tmp_path / "p"))
            pushed_during.append(tag)
            i += 1
    pusher = threading.Thread(target=push_meanwhile)
    pusher.start()
    try:
        r = werfpull("cleanup", "apply", path, "--dir", h["dir"], "--insecure-registry",
                     "--format", "json")
    finally:
        stop.set()
        pusher.join()
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert doomed.tag in out["skipped"] and "release" in out["skipped"][doomed.tag]
    left = _tags(registry, repo)
    assert {"release", doomed.tag} <= left
    assert pushed_during and set(pushed_during) <= left
    assert left.isdisjoint(set(out["deleted"]))
    assert len(out["deleted"]) == len(plan.delete) - 1


def test_apply_refuses_a_stale_keep_set(history, repo, tmp_path, git_repo):
    h = history
    path = tmp_path / "cleanup.json"
    r = werfpull("cleanup", "plan", repo, "--dir", h["dir"], "--insecure-registry", "--out", path)
    assert r.returncode == 0, r.stderr
    plan = load_cleanup_plan(str(path))
    # The text review says the same as the file: per reference, then what goes.
    assert f"branch feature ({h['feature'][-1][:12]})" in r.stdout
    assert f"delete {len(plan.delete)} tag(s)" in r.stdout
    assert all(t.tag in r.stdout for t in plan.delete)
    git_repo.git("checkout", "-q", "feature")
    _commit(git_repo, "one more", time.time())
    r = werfpull("cleanup", "apply", path, "--dir", h["dir"], "--insecure-registry")
    assert r.returncode == 5 and "stale" in r.stderr and "branch:feature" in r.stderr, r.stderr


def test_a_registry_that_refuses_deletion_deletes_nothing(git_repo, tmp_path):
    with Registry(workdir=tmp_path / "ro", delete_enabled=False) as ro:
        repo = ro.repo("t/ro")
        git_repo.write("werf.yaml", CONFIG)
        _commit(git_repo, "old", time.time() - 30 * DAY)
        publish_stages(repo, str(git_repo.path), created=_iso(time.time() - 30 * DAY))
        _commit(git_repo, "new", time.time() - 29 * DAY)
        publish_stages(repo, str(git_repo.path), created=_iso(time.time() - 29 * DAY))
        for i in range(9):  # push main's first images out of its last 10
            _commit(git_repo, f"n{i}", time.time() - (28 - i) * DAY)
            publish_stages(repo, str(git_repo.path), created=_iso(time.time() - 28 * DAY))
        before = set(ro.tags(repo))
        plan = make_cleanup_plan(CleanupRequest(repo=repo, directory=str(git_repo.path),
                                                registry=OPTS))
        assert plan.delete
        path = tmp_path / "p.json"
        path.write_text(plan.dumps())
        r = werfpull("cleanup", "apply", path, "--dir", git_repo.path, "--insecure-registry")
        assert r.returncode == 4, r.stderr
        assert "refuses to delete" in r.stderr and "nothing was deleted" in r.stderr
        assert "storage.delete.enabled" in r.stderr
        assert set(ro.tags(repo)) == before
        with pytest.raises(RegistryError):
            apply_cleanup(plan, str(path), OPTS)
