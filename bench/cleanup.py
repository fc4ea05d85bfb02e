"""cleanup-1000: `werfpull cleanup plan` over 1,000 commits of history.

A repository of 2,000 files and 1,000 commits made with `git fast-import` (main: 800
commits, one file changed each, the config changed every 100th; feature: 200 commits
off main's 600th; a tag every 100 commits of main), the 6-mapping config of the
signatures benchmark, and a registry holding the stages of main's last 20 commits plus
300 stage tags of no known commit. The headline is the wall time of `python3 -m
werfpull cleanup plan REPO --format json` as a subprocess (target: under 10 s, median),
with werf's default policy, which walks every branch's whole history. Measured in the
same rounds: the history part alone in-process (references, one `git log`, signing
every commit), and the registry part (`list-tags`, every tag's manifest and every
candidate's config, one HTTP request each).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from bench import fixtures, report, timing
from bench.signatures import WERF_YAML
from bench.timing import ROOT, Variant

NAME = "cleanup-1000"
TITLE = "Cleanup plan over 1,000 commits of history"
TARGET = 10.0  # seconds, CLI wall time, median
FILES = 2_000
MAIN, FEATURE, FORK, TAG_EVERY, CONFIG_EVERY = 800, 200, 600, 100, 100
PUSHED, UNKNOWN = 20, 300
TOPS = ("src", "lib", "web", "docs", "assets", "tools", "config")


def _files():
    exts = ("c", "json", "ts", "md")
    for i in range(FILES):
        yield f"{TOPS[i % len(TOPS)]}/pkg{(i // 7) % 40:02d}/f{i}.{exts[i % 4]}"


def _history_stream(start: int) -> bytes:
    """fast-import commands for the whole history; commit i at `start` + 60 s * i."""
    names = list(_files())
    out = bytearray()

    def commit(ref: str, mark: int, when: int, parent: int | None, changes: list) -> None:
        nonlocal out
        out += b"commit %s\nmark :%d\ncommitter bench <b@x.invalid> %d +0000\ndata 2\nc\n" % (
            ref.encode(), mark, when)
        if parent is not None:
            out += b"from :%d\n" % parent
        for name, data in changes:
            out += b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data)
        out += b"\n"

    first = [(n, f"{n}\n".encode()) for n in names] + [("werf.yaml", WERF_YAML.encode())]
    commit("refs/heads/main", 1, start, None, first)
    for i in range(1, MAIN):
        changes = [(names[(i * 37) % FILES], f"main {i}\n".encode())]
        if i % CONFIG_EVERY == 0:
            changes.append(("werf.yaml", (WERF_YAML + f"# revision {i}\n").encode()))
        commit("refs/heads/main", i + 1, start + 60 * i, i, changes)
        if i % TAG_EVERY == 0:
            out += b"reset refs/tags/v%d\nfrom :%d\n\n" % (i // TAG_EVERY, i + 1)
    for j in range(FEATURE):
        parent = FORK + 1 if j == 0 else MAIN + j
        commit("refs/heads/feature", MAIN + j + 1, start + 60 * (FORK + j) + 30, parent,
               [(names[(j * 53 + 11) % FILES], f"feature {j}\n".encode())])
    return bytes(out)


def _make_repo(path: Path, env: dict) -> None:
    import subprocess

    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    start = int(time.time()) - 60 * (MAIN + 10)
    subprocess.run(["git", "fast-import", "--quiet"], input=_history_stream(start), cwd=path,
                   check=True, env=env)
    subprocess.run(["git", "checkout", "-q", "-f", "main"], cwd=path, check=True, env=env)


def _cli(repo_ref: str, directory: Path) -> list[str]:
    return [sys.executable, "-m", "werfpull", "cleanup", "plan", repo_ref, "--dir",
            str(directory), "--insecure-registry", "--format", "json"]


def run(quick: bool) -> dict:
    from werfpull.cleanup.history import History
    from werfpull.cleanup.make import CleanupRequest, make_cleanup_plan
    from werfpull.cleanup.registry import created, manifests
    from werfpull.inventory.registry import Remote
    from werfpull.refs import parse_repo
    from werfpull.tools import skopeo

    n_rounds = timing.rounds(quick, full=3, fast=1)
    env = timing.werfpull_env()
    opts = skopeo.RegistryOptions(insecure=True)
    with fixtures.tempdir("cleanup") as tmp, fixtures.Registry(workdir=tmp / "registry") as reg:
        repo_dir = tmp / "repo"
        t0 = time.perf_counter()
        _make_repo(repo_dir, fixtures.git_env(tmp / "home", identity=True))
        made = time.perf_counter() - t0
        history = History(str(repo_dir), None, None)
        refs, _ = history.references()
        commits = history.commits([r.commit for r in refs])
        assert len(commits) == MAIN + FEATURE, len(commits)
        main_tail = [c for c in commits if c.sha in _first_parent(commits, refs)][-PUSHED:]
        signed = history.sign_all(commits, {c.sha for c in commits})
        signed = {c.sha: signed[c.sha] for c in main_tail}
        stage_tags = {f"image-stage-{st.signature}" for s in signed.values()
                      for stages in s.images.values() for st in stages.stages}
        digest = fixtures.push_seed_image(reg, "bench/stages", "seed", tmp / "seed")
        tags = len(stage_tags) + UNKNOWN
        fixtures.seed_tags(reg, "bench/stages", digest, sorted(stage_tags))
        _distinct_tags(reg, "bench/stages", digest, fixtures.fake_stage_tags(UNKNOWN, "old"))
        timing.progress(f"{NAME}: {len(commits)} commits in {made:.1f} s, {tags} tags")
        ref = reg.repo("bench/stages")
        plan = make_cleanup_plan(CleanupRequest(repo=ref, directory=str(repo_dir),
                                                registry=opts))
        kept, deleted = len(plan.keep), len(plan.delete)
        assert deleted == UNKNOWN, deleted

        def history_part():
            h = History(str(repo_dir), None, None)
            found, _ = h.references()
            cs = h.commits([r.commit for r in found])
            h.sign_all(cs, {c.sha for c in cs})

        def registry_part():
            remote = Remote(parse_repo(ref), opts)
            found = manifests(remote, sorted(remote.list_tags()))
            created(remote, found)
            return remote

        counted = registry_part()

        variants = [
            Variant("cli", lambda: timing.run_cmd(_cli(ref, repo_dir), cwd=ROOT, env=env)),
            Variant("history", lambda: timing.time_call(history_part)),
            Variant("registry", lambda: timing.time_call(registry_part)),
        ]
        stats = timing.interleave(variants, n_rounds, NAME)
        configs = len({c.digest for c in history.configs()})
    cli = stats["cli"]["median"]
    return {
        "commits": len(commits), "files": FILES + 1, "configs": configs, "tags": tags,
        "kept": kept, "deleted": deleted, "references": len(refs),
        "fixture_seconds": round(made, 2), "http_requests": counted.http.requests,
        "skopeo_processes": counted.processes,
        "rounds": n_rounds, "stats": stats, "target": TARGET, "met": cli < TARGET,
        "headline": [
            {"metric": "cleanup plan CLI, 1,000 commits", "value": cli, "unit": "s",
             "target": f"< {TARGET:g} s", "met": cli < TARGET},
            {"metric": "cleanup plan CLI CPU (skopeo included)",
             "value": stats["cli"]["cpu_median"], "unit": "s", "target": None, "met": None},
            {"metric": "history signed in-process", "value": stats["history"]["median"],
             "unit": "s", "target": None, "met": None},
        ],
    }


def _distinct_tags(reg, repo_name: str, seed: str, tags) -> None:
    """Tags of distinct manifests (one annotation apart, the seed's blobs), written into
    Distribution 2.8's filesystem storage like `fixtures.seed_tags`: the stages of old
    builds, which cleanup inspects, dates and deletes one by one."""
    import json

    v2 = reg.storage_dir / "docker" / "registry" / "v2"
    repository = v2 / "repositories" / repo_name
    manifest = json.loads(_blob(v2, seed).read_bytes())
    config = json.loads(_blob(v2, manifest["config"]["digest"]).read_bytes())
    for i, tag in enumerate(tags):
        # Each old build its own config (its own `created`), as real builds have: cleanup
        # reads one config per candidate, not one for all.
        config["created"] = f"2020-01-01T00:{i // 60 % 60:02d}:{i % 60:02d}Z"
        config_digest = _put_blob(v2, json.dumps(config, sort_keys=True).encode())
        _link(repository / "_layers" / "sha256" / config_digest[7:], config_digest)
        manifest["config"] = {**manifest["config"], "digest": config_digest,
                              "size": _blob(v2, config_digest).stat().st_size}
        manifest["annotations"] = {"bench.old-build": str(i)}
        digest = _put_blob(v2, json.dumps(manifest, sort_keys=True,
                                          separators=(",", ":")).encode())
        base = repository / "_manifests"
        for where in (base / "revisions" / "sha256" / digest[7:], base / "tags" / tag / "current",
                      base / "tags" / tag / "index" / "sha256" / digest[7:]):
            _link(where, digest)


def _blob(v2: Path, digest: str) -> Path:
    hexd = digest.split(":", 1)[1]
    return v2 / "blobs" / "sha256" / hexd[:2] / hexd / "data"


def _put_blob(v2: Path, data: bytes) -> str:
    import hashlib

    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    path = _blob(v2, digest)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return digest


def _link(where: Path, digest: str) -> None:
    where.mkdir(parents=True, exist_ok=True)
    (where / "link").write_bytes(digest.encode())


def _first_parent(commits, refs) -> set[str]:
    by_sha = {c.sha: c for c in commits}
    head = next(r.commit for r in refs if r.kind == "branch" and r.name == "main")
    out = set()
    while head:
        out.add(head)
        parents = by_sha[head].parents
        head = parents[0] if parents else None
    return out


def markdown(result: dict) -> str:
    s = result["stats"]
    rows = [
        ["`python3 -m werfpull cleanup plan REPO --dir REPO_DIR --insecure-registry --format"
         " json`", *report.stats_cells(s["cli"]), report.seconds(s["cli"]["cpu_median"])],
        ["history in-process: references, `git log`, every commit signed",
         *report.stats_cells(s["history"]), report.seconds(s["history"]["cpu_median"])],
        ["registry in-process: `list-tags`, then each tag's manifest and each candidate's"
         " config",
         *report.stats_cells(s["registry"]), report.seconds(s["registry"]["cpu_median"])],
    ]
    verdict = "met" if result["met"] else "MISSED"
    return (
        f"## {TITLE}\n\n"
        f"{report.provenance(result['meta'])}\n"
        f"{result['commits']:,} commits ({MAIN} on main, one file changed each, the config"
        f" changed every {CONFIG_EVERY}th; {FEATURE} on a branch off main's {FORK}th; a tag"
        f" every {TAG_EVERY} commits: {result['references']} references) over"
        f" {result['files']:,} files; the config of the signatures benchmark"
        f" ({result['configs']} distinct texts in the history). The registry holds"
        f" {result['tags']} stage tags: the stages of main's last {PUSHED} commits and"
        f" {UNKNOWN} of no known commit, each its own manifest (written into the storage);"
        f" werf's default policy kept {result['kept']} and deletes {result['deleted']}."
        f" Median of {result['rounds']} interleaved rounds.\n\n"
        + report.table(["what", "median", "min", "max", "runs", "CPU"], rows, "lrrrrr")
        + f"\n\nTarget under {TARGET:g} s for the CLI: **{verdict}**. Every commit's tree"
          " comes from one `git log --raw` (changes against the first parent), each"
          " distinct config text is parsed once, each (config, tree) signed once, and"
          " which paths a mapping takes and which stage globs they match is decided"
          " once per path for the whole history. The registry part grows with the"
          " number of tags: one request for each tag's manifest and one for each"
          " distinct config of a deletion candidate (for its `created`), over kept-alive"
          " connections, 8 at a time; here"
          f" {result['http_requests']} HTTP requests and {result['skopeo_processes']}"
          " skopeo process (`list-tags`). Where HTTP cannot answer (inventory/http.py),"
          " each read is a `skopeo inspect` instead. The history part grows"
          " with commits times the files each mapping takes.\n"
    )
