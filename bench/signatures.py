"""signatures-50k: stage signatures of a project whose repository has 50,000 files.

The headline is the wall time of `python3 -m werfpull signatures --dir REPO --format
json > /dev/null` as a subprocess, interpreter start included (target: under 1.5 s,
median of single runs). Measured alongside, in the same rounds: the in-process
`load_project()` call, the interpreter-plus-CLI start-up floor, and `git ls-tree`
alone; then the in-process phases and a cProfile of one call. `measure` and the table
helpers are shared with the Dockerfile image's benchmark (dockerfile_signatures.py).
"""

from __future__ import annotations

import cProfile
import json
import pstats
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import fixtures, report, timing
from bench.timing import ROOT, Variant

NAME = "signatures-50k"
TITLE = "Signatures of a 50,000-file repository"
TARGET = 1.5  # seconds, CLI wall time, median
FILES = 50_000

TOPS = ("src", "lib", "web", "docs", "assets", "tools", "config")
EXTS = (".c", ".h", ".json", ".md", ".txt", ".py", ".ts")

WERF_YAML = """\
project: bench-signatures
configVersion: 1
---
image: backend
from: alpine:3.18
git:
- add: /
  to: /app
  excludePaths: [docs, assets, "**/*.md"]
  stageDependencies:
    install: ["**/*.json"]
    beforeSetup: ["src/**/*.h", "lib/**/*.h"]
    setup: ["src/**/*.c", "lib/**/*.c"]
shell:
  beforeInstall: [apk add --no-cache build-base]
  install: [make deps]
  beforeSetup: [make headers]
  setup: [make -j2]
docker:
  WORKDIR: /app
---
image: frontend
from: node:20
git:
- add: /web
  to: /app
  includePaths: ["pkg0*", "**/*.json", "**/*.ts"]
  stageDependencies:
    install: ["**/*.json"]
    setup: ["**/*.ts"]
shell:
  install: [npm ci]
  setup: [npm run build]
---
image: docs
from: alpine:3.18
git:
- add: /docs
  to: /docs
  stageDependencies:
    setup: ["**/*.md"]
shell:
  setup: [mkdocs build]
---
artifact: tools
from: alpine:3.18
git:
- add: /tools
  to: /tools
  excludePaths: ["**/*.txt"]
  stageDependencies:
    install: ["**/*"]
shell:
  install: [make -C /tools]
---
image: [api, worker]
fromImage: backend
git:
- add: /config
  to: /etc/app
  includePaths: ["**/*.json"]
  stageDependencies:
    setup: ["**/*.json"]
- add: /
  to: /srv
  includePaths: [src, lib]
  excludePaths: ["**/*.txt"]
  stageDependencies:
    install: ["src/pkg1*/**"]
import:
- artifact: tools
  add: /tools
  to: /usr/local/tools
  after: install
shell:
  install: [pip install -r requirements.txt]
  setup: [./configure]
"""


def tree_files(count: int):
    """Deterministic paths ~18 files a directory, 2-4 levels deep, distinct contents."""
    for i in range(count):
        top = TOPS[i % len(TOPS)]
        sub = f"sub{i % 3}/" if i % 5 == 0 else ""
        name = f"{top}/pkg{(i // 7) % 40:02d}/mod{(i // 280) % 10}/{sub}f{i}{EXTS[(i // 3) % 7]}"
        yield name, f"/* {name} */\nint v{i} = {i};\n".encode()


# The variants every signatures benchmark times, with their rows' labels.
CORE = (("cli", "`python3 -m werfpull signatures --dir REPO --format json > /dev/null`"),
        ("load_project", "`load_project(REPO)` in-process"),
        ("startup", "`python3 -m werfpull --version` (start-up floor)"),
        ("git ls-tree", "`git ls-tree -r -z --full-tree HEAD` alone"))


def cli_argv(repo: Path) -> list[str]:
    return [sys.executable, "-m", "werfpull", "signatures", "--dir", str(repo), "--format",
            "json"]


@dataclass
class Measured:
    images: list[dict]  # the CLI's `signatures --format json` images
    project: object  # load_project's Project, whose finals the CLI's matched
    stats: dict  # timing.interleave's, by variant name
    profile: list[dict]  # cProfile's top functions of one load_project call


def measure(repo: Path, name: str, n_rounds: int, extra: Sequence[Variant] = (),
            top: int = 12) -> Measured:
    """Sign `repo` with the CLI once (its finals checked against `load_project`'s); time
    the CORE variants and `extra` in `n_rounds` interleaved rounds; profile one
    in-process `load_project` call."""
    from werfpull.project import load_project

    env = timing.werfpull_env()
    out = repo.parent / "signatures.json"
    timing.run_cmd(cli_argv(repo), cwd=ROOT, env=env, stdout=out)
    images = json.loads(out.read_text())["images"]
    root = str(repo)
    project = load_project(root)
    assert [i["final"] for i in images] == [s.final for s in project.signed]
    variants = [
        Variant("cli", lambda: timing.run_cmd(cli_argv(repo), cwd=ROOT, env=env)),
        Variant("load_project", lambda: timing.time_call(lambda: load_project(root))),
        Variant("startup", lambda: timing.run_cmd(
            [sys.executable, "-m", "werfpull", "--version"], cwd=ROOT, env=env)),
        Variant("git ls-tree", lambda: timing.run_cmd(
            ["git", "ls-tree", "-r", "-z", "--full-tree", "HEAD"], cwd=repo)),
        *extra,
    ]
    stats = timing.interleave(variants, n_rounds, name)
    profiler = cProfile.Profile()
    profiler.enable()
    load_project(root)
    profiler.disable()
    return Measured(images, project, stats, _top_functions(profiler, top))


def stats_rows(stats: dict, labelled) -> list[list]:
    """Table rows of the variants `labelled` ((key, label), ...): timings and CPU."""
    return [[label, *report.stats_cells(stats[key]), report.seconds(stats[key]["cpu_median"])]
            for key, label in labelled]


def profile_rows(profile: list[dict]) -> list[list]:
    return [[f"`{r['function']}`", r["calls"], f"{r['tottime'] * 1000:.0f} ms",
             f"{r['cumtime'] * 1000:.0f} ms"] for r in profile]


def run(quick: bool) -> dict:
    from werfpull.config.load import load_config
    from werfpull.tools import git

    n_rounds = timing.rounds(quick)
    with fixtures.tempdir("signatures") as tmp:
        repo = tmp / "repo"
        t0 = time.perf_counter()
        entries = fixtures.git_repo_with_files(repo, tree_files(FILES), {"werf.yaml": WERF_YAML},
                                               fixtures.git_env(tmp / "home"))
        made = time.perf_counter() - t0
        timing.progress(f"{NAME}: {entries} files committed with git fast-import in {made:.1f} s")
        listed = git.list_tree(str(repo), "HEAD")
        assert len(listed) == entries, (len(listed), entries)
        directories = len({e.path.rpartition("/")[0] for e in listed})

        root, head = str(repo), git.head_commit(str(repo))
        measured = measure(repo, NAME, n_rounds, [
            Variant("load_config", lambda: timing.time_call(lambda: load_config(root))),
            Variant("list_tree", lambda: timing.time_call(
                lambda: git.list_tree(root, head))),
        ])
    images, stats, profile = measured.images, measured.stats, measured.profile
    cli = stats["cli"]["median"]
    return {
        "files": entries,
        "directories": directories,
        "fixture_seconds": round(made, 2),
        "images": [{"name": i["name"], "kind": i["kind"], "stages": len(i["stages"])}
                   for i in images],
        "rounds": n_rounds,
        "stats": stats,
        "profile": profile,
        "target": TARGET,
        "met": cli < TARGET,
        "headline": [
            {"metric": "signatures CLI, 50k files", "value": cli, "unit": "s",
             "target": f"< {TARGET} s", "met": cli < TARGET},
            {"metric": "load_project() in-process", "value": stats["load_project"]["median"],
             "unit": "s", "target": None, "met": None},
        ],
    }


def _top_functions(profiler: cProfile.Profile, limit: int) -> list[dict]:
    st = pstats.Stats(profiler)
    rows = []
    for (file, line, func), (_, calls, tottime, cumtime, _) in st.stats.items():
        rows.append({"function": _where(file, line, func), "calls": calls,
                     "tottime": tottime, "cumtime": cumtime})
    rows.sort(key=lambda r: r["tottime"], reverse=True)
    return [dict(r, tottime=round(r["tottime"], 4), cumtime=round(r["cumtime"], 4))
            for r in rows[:limit]]


def _where(file: str, line: int, func: str) -> str:
    if file == "~":
        return func  # a builtin, e.g. {method 'fullmatch' of 're.Pattern' objects}
    path = Path(file)
    try:
        short = str(path.relative_to(ROOT))
    except ValueError:
        short = path.name
    return f"{short}:{line} {func}"


def markdown(result: dict) -> str:
    s = result["stats"]
    rows = stats_rows(s, CORE)
    total = s["load_project"]["median"]
    config, tree = s["load_config"]["median"], s["list_tree"]["median"]
    phases = [
        ["`load_config` (read and validate werf.yaml)", report.seconds(config),
         f"{config / total:.0%}"],
        ["`tools.git.list_tree` (`git ls-tree`, parse, sort)", report.seconds(tree),
         f"{tree / total:.0%}"],
        ["the rest: mapping file sets, glob matching, checksums, hashing",
         report.seconds(total - config - tree), f"{(total - config - tree) / total:.0%}"],
        ["**`load_project` total**", report.seconds(total), "100%"],
    ]
    cli = s["cli"]["median"]
    verdict = "met" if result["met"] else "MISSED"
    images = ", ".join(f"{i['name']} ({i['kind']}, {i['stages']} stages)"
                       for i in result["images"])
    prof = profile_rows(result["profile"])
    return (
        f"## {TITLE}\n\n"
        f"{report.provenance(result['meta'])}\n"
        f"A git repository of {result['files']:,} files (one commit made with `git "
        f"fast-import` in {result['fixture_seconds']} s; {len(TOPS)} top-level directories, "
        f"{result['directories']:,} directories holding files, 2-4 levels deep; distinct "
        f"blobs) and a werf.yaml of {len(result['images'])} images "
        f"and artifacts with 6 git mappings (`add: /` with `excludePaths`, `add: /web` with "
        f"`includePaths`, stageDependencies globs like `src/**/*.c` and `**/*.json`): "
        f"{images}. Each variant runs once per round, {result['rounds']} rounds, interleaved."
        "\n\n"
        + report.table(["what", "median", "min", "max", "runs", "CPU (median)"],
                       rows, "lrrrrr")
        + f"\n**Target: under {result['target']} s for the CLI (median): {verdict}** "
        f"({report.seconds(cli)}, {cli / result['target']:.0%} of the budget; the "
        f"interpreter and CLI start-up alone take {report.seconds(s['startup']['median'])}).\n\n"
        "Where `load_project` spends its time (in-process medians of the same rounds):\n\n"
        + report.table(["phase", "median", "share"], phases, "lrr")
        + "\ncProfile of one in-process `load_project` call, top functions by own time "
        "(profiling inflates Python-heavy code, so compare shares, not absolute times):\n\n"
        + report.table(["function", "calls", "own time", "cumulative"], prof, "lrrr")
        + "\n<details><summary>The werf.yaml</summary>\n\n```yaml\n" + WERF_YAML
        + "```\n\n</details>\n"
    )
