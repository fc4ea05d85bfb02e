"""plan-200-images: `werfpull plan` for 200 images against 0 and 20,000 tags.

A real docker-registry (started and stopped here) holds two stages repositories:
(a) one nothing was pushed to, as a new project's is, and (b) one holding 20,000
unrelated `image-stage-*` tags, the history of builds of other commits, written
straight into the registry's filesystem storage. The headline is the wall time of
`python3 -m werfpull plan REPO --insecure-registry --dest oci:EMPTYDIR --format json`
against each (target: (b) within 1.5x of (a)). The same plans with `--inventory list`
and `--inventory probe`, single skopeo calls, an in-process breakdown and a sweep over
the number of planned stages show what each inventory strategy costs, and from that
a value for `PROBE_MAX`, below which `auto` probes instead of listing.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench import fixtures, report, timing
from bench.timing import ROOT, Variant

NAME = "plan-200-images"
TITLE = "Plan for 200 images against 0 and 20,000 tags"
TARGET_RATIO = 1.5
HISTORY = 20_000
IMAGES = 200
ARTIFACTS = 4
EMPTY_REPO, HISTORY_REPO = "bench/stages-empty", "bench/stages-20k"
SWEEP = (1, 2, 4, 8, 16, 32, 64)  # numbers of unique stages probed in the inventory sweep
SWEEP_QUICK = (1, 4, 16, 64)


def werf_yaml() -> str:
    return fixtures.images_config("bench-plan", IMAGES, ARTIFACTS)


def plan_argv(repo: str, project: Path, dest: Path, inventory: str | None,
              images: list[str] = ()) -> list[str]:
    argv = [sys.executable, "-m", "werfpull", "plan", repo, *images, "--insecure-registry",
            "--dest", f"oci:{dest}", "--format", "json", "--dir", str(project)]
    return argv + (["--inventory", inventory] if inventory else [])


def _check_plan(path: Path, strategy: str, min_images: int):
    def check() -> None:
        doc = json.loads(path.read_text())
        assert doc["inventory"] == strategy, (path, doc["inventory"], strategy)
        assert not doc["pulls"], f"{path}: unrelated tags must give nothing to pull"
        assert len(doc["images"]) >= min_images, (path, len(doc["images"]))
    return check


def run(quick: bool) -> dict:
    from werfpull.inventory.registry import PROBE_JOBS, PROBE_MAX

    n_rounds = timing.rounds(quick, full=7)
    probe_rounds = timing.rounds(quick, full=3, fast=1)
    env = timing.werfpull_env()
    with fixtures.tempdir("plan") as tmp:
        project, dest = tmp / "project", tmp / "dest"
        project.mkdir()
        dest.mkdir()
        (project / "werf.yaml").write_text(werf_yaml(), encoding="utf-8")
        shape = _shape(project)
        registry = fixtures.Registry(tmp / "registry")
        registry.start()
        try:
            seeded = _seed(registry, tmp)
            repos = {"empty": registry.repo(EMPTY_REPO), "20k": registry.repo(HISTORY_REPO)}
            # auto: one bounded tag page answers for the empty repository; the 20,000
            # tags do not fit in it, so that plan probes.
            auto = {"empty": "list", "20k": "probe"}

            variants = []
            for inventory in ("auto", "list", "probe"):
                for key, repo in repos.items():
                    out = tmp / f"plan-{inventory}-{key}.json"
                    argv = plan_argv(repo, project, dest, None if inventory == "auto"
                                     else inventory)
                    variants.append(Variant(
                        f"{inventory} {key}",
                        lambda argv=argv, out=out: timing.run_cmd(argv, cwd=ROOT, env=env,
                                                                  stdout=out),
                        rounds=probe_rounds if inventory == "probe" else None,
                        warmup=inventory != "probe",
                        check=_check_plan(out, auto[key] if inventory == "auto" else inventory,
                                          shape["images"])))
            timing.progress(f"{NAME}: {len(variants)} plan variants, {n_rounds} rounds "
                            f"(probe: {probe_rounds}); a probing plan takes ~20 s")
            plans = timing.interleave(variants, n_rounds, f"{NAME} plans")
            calls = _single_calls(repos, seeded, timing.rounds(quick, full=9, fast=3))
            inproc = _in_process(repos, project, dest, n_rounds)
            sweep = _sweep(repos, project, SWEEP_QUICK if quick else SWEEP, n_rounds)
        finally:
            registry.close()

    ratio = timing.ratio(plans, "auto empty", "auto 20k")
    analysis = _analyse(plans, calls, sweep, shape, PROBE_MAX)
    return {
        "shape": shape, "seeded": seeded, "rounds": n_rounds, "probe_rounds": probe_rounds,
        "probe_max": PROBE_MAX, "probe_jobs": PROBE_JOBS, "auto_strategy": auto,
        "plans": plans, "calls": calls, "in_process": inproc, "sweep": sweep,
        "ratios": {inv: timing.ratio(plans, f"{inv} empty", f"{inv} 20k")
                   for inv in ("auto", "list", "probe")},
        "ratio": ratio, "target_ratio": TARGET_RATIO, "met": ratio <= TARGET_RATIO,
        "analysis": analysis,
        "headline": [
            {"metric": "plan, empty repository (auto)", "value": plans["auto empty"]["median"],
             "unit": "s", "target": None, "met": None},
            {"metric": f"plan, {HISTORY:,} tags (auto)", "value": plans["auto 20k"]["median"],
             "unit": "s", "target": None, "met": None},
            {"metric": f"ratio {HISTORY:,} tags / empty (auto)", "value": ratio, "unit": "x",
             "target": f"<= {TARGET_RATIO}x", "met": ratio <= TARGET_RATIO},
            {"metric": "suggested PROBE_MAX", "value": analysis["suggested_probe_max"],
             "unit": "", "target": f"now {PROBE_MAX}", "met": None},
        ],
    }


def _shape(project: Path) -> dict:
    from werfpull.project import load_project

    loaded = load_project(str(project))
    signatures = [s.signature for image in loaded.signed for s in image.stages]
    return {"images": len(loaded.signed),
            "artifacts": sum(1 for s in loaded.signed if s.image.kind == "artifact"),
            "documents": werf_yaml().count("\n---\n"),
            "stages": len(signatures), "unique": len(set(signatures))}


def _seed(registry, tmp: Path) -> dict:
    digest = fixtures.push_seed_image(registry, HISTORY_REPO, "seed", tmp / "oci")
    t0 = time.perf_counter()
    count = fixtures.seed_tags(registry, HISTORY_REPO, digest,
                               fixtures.fake_stage_tags(HISTORY, "old builds"))
    seconds = time.perf_counter() - t0
    tags = fixtures.skopeo_tags(registry, HISTORY_REPO)
    if len(tags) != HISTORY + 1:
        raise RuntimeError(f"skopeo list-tags reports {len(tags)} tags, expected {HISTORY + 1}")
    one = next(fixtures.fake_stage_tags(1, "old builds"))
    served = fixtures.skopeo_digest(f"{registry.repo(HISTORY_REPO)}:{one}")
    if served != digest:
        raise RuntimeError(f"seeded tag {one} serves {served}, expected {digest}")
    timing.progress(f"{NAME}: {count} tags written into the registry storage in "
                    f"{seconds:.1f} s; skopeo list-tags lists {len(tags)}")
    return {"tags": count, "listed": len(tags), "seconds": round(seconds, 1), "digest": digest,
            "sample_tag": one}


def _single_calls(repos: dict, seeded: dict, n_rounds: int) -> dict:
    absent = "image-stage-" + "0" * 64

    def inspect(ref: str, ok: bool):
        argv = ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"]

        def fn() -> timing.Sample:
            t0 = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True)
            sample = timing.Sample(time.perf_counter() - t0)
            assert (proc.returncode == 0) == ok, proc.stderr[-300:]
            return sample
        return fn

    def list_tags(repo: str):
        argv = ["skopeo", "list-tags", "--tls-verify=false", f"docker://{repo}"]

        def fn() -> timing.Sample:
            t0 = time.perf_counter()
            subprocess.run(argv, capture_output=True)  # 404 for the empty repository
            return timing.Sample(time.perf_counter() - t0)
        return fn

    variants = [
        Variant("inspect absent, empty", inspect(f"{repos['empty']}:{absent}", False)),
        Variant("inspect absent, 20k", inspect(f"{repos['20k']}:{absent}", False)),
        Variant("inspect present, 20k", inspect(f"{repos['20k']}:{seeded['sample_tag']}", True)),
        Variant("list-tags, empty", list_tags(repos["empty"])),
        Variant("list-tags, 20k", list_tags(repos["20k"])),
    ]
    return timing.interleave(variants, n_rounds, f"{NAME} skopeo calls")


def _in_process(repos: dict, project: Path, dest: Path, n_rounds: int) -> dict:
    """make_plan in-process, and its listing taken apart: werfpull's whole listing
    (`Remote.list_tags`), the skopeo call through werfpull's `process.run`
    (sh), the same argv through `subprocess.run`, and parsing the tags."""
    from werfpull.inventory.registry import Remote
    from werfpull.plan.make import PlanRequest, make_plan
    from werfpull.refs import parse_repo
    from werfpull.tools import process, skopeo

    opts = skopeo.RegistryOptions(insecure=True)
    variants = []
    outputs = {}
    for key, repo in repos.items():
        # The argv werfpull's listing runs (CLI default --retries 3), spelled out here.
        argv = ["skopeo", "list-tags", "--retry-times=3", "--tls-verify=false",
                f"docker://{repo}"]
        outputs[key] = subprocess.run(argv, capture_output=True).stdout or b"{}"
        req = PlanRequest(repo=repo, directory=str(project), dest=f"oci:{dest}", registry=opts,
                          retries=3)
        remote = Remote(parse_repo(repo), opts, 3)
        variants += [
            Variant(f"make_plan {key}", lambda req=req: timing.time_call(lambda: make_plan(req))),
            Variant(f"list_tags {key}",
                    lambda remote=remote: timing.time_call(remote.list_tags)),
            Variant(f"list via process.run {key}",
                    lambda argv=argv: timing.time_call(lambda: process.run(argv))),
            Variant(f"list via subprocess.run {key}",
                    lambda argv=argv: timing.time_call(
                        lambda: subprocess.run(argv, capture_output=True))),
        ]

    def parse(raw=outputs["20k"]) -> None:
        _ = set(json.loads(raw).get("Tags") or [])

    variants.append(Variant("parse 20k", lambda: timing.time_call(parse)))
    return timing.interleave(variants, n_rounds, f"{NAME} in-process")


def _sweep(repos: dict, project: Path, sizes, n_rounds: int) -> dict:
    """The inventory step alone, in-process: probing N stages vs listing, both repositories.

    `Remote.existing(signatures, strategy)` is the only step of a plan that the strategy
    changes, so timing it without interpreter start and signing gives the trade-off
    `auto` makes, with far less noise than whole plans. A fresh Remote per call, so no
    manifest cache carries over.
    """
    from werfpull.inventory.registry import Remote
    from werfpull.project import load_project
    from werfpull.refs import parse_repo
    from werfpull.tools import skopeo

    opts = skopeo.RegistryOptions(insecure=True)
    loaded = load_project(str(project))
    unique = list(dict.fromkeys(s.signature for image in loaded.signed for s in image.stages))
    variants = []
    for key, repo in repos.items():
        parsed = parse_repo(repo)

        def existing(n: int | None, strategy: str, parsed=parsed) -> timing.Sample:
            wanted = unique if n is None else unique[:n]
            remote = Remote(parsed, opts, 3)
            sample = timing.time_call(lambda: remote.existing(wanted, strategy))
            assert remote.strategy == strategy
            return sample

        variants.append(Variant(f"list {key}", lambda f=existing: f(None, "list")))
        variants += [Variant(f"probe {n} {key}", lambda f=existing, n=n: f(n, "probe"))
                     for n in sizes]
    stats = timing.interleave(variants, n_rounds, f"{NAME} inventory sweep")
    return {"sizes": list(sizes), "stats": stats}


def _crossing(xs: list[int], ys: list[float], level: float) -> float | None:
    """Where the piecewise-linear curve through (xs, ys) first reaches `level`: 0 when
    it starts above, None when it stays below over the measured range."""
    if ys[0] >= level:
        return 0.0
    for i in range(len(xs) - 1):
        if ys[i] < level <= ys[i + 1]:
            return xs[i] + (level - ys[i]) * (xs[i + 1] - xs[i]) / (ys[i + 1] - ys[i])
    return None


def _analyse(plans: dict, calls: dict, sweep: dict, shape: dict, probe_max: int) -> dict:
    """Cost models from the measurements, and the PROBE_MAX they suggest.

    Probing N stages costs probe(N), about b per stage (the least-squares slope through
    the in-process sweep); listing costs L(T), flat in N, growing with the history T.
    Probing wins while probe(N) < L(T); the break-even N* (interpolated between sweep
    points) at T = 20,000 is the suggested PROBE_MAX.
    """
    out: dict = {}
    st = sweep["stats"]
    xs = sweep["sizes"]
    for key in ("empty", "20k"):
        ys = [st[f"probe {n} {key}"]["median"] for n in xs]
        level = st[f"list {key}"]["median"]
        out[key] = {"probe_per_stage": statistics.linear_regression(xs, ys).slope,
                    "probe": dict(zip(map(str, xs), ys, strict=True)), "list": level,
                    "break_even": _crossing(xs, ys, level)}
    # The per-stage probe cost seen by whole CLI plans of all unique stages, to compare.
    out["probe_per_stage_plan"] = (plans["probe empty"]["median"] - plans["list empty"]["median"]
                                   ) / shape["unique"]
    per_tag = (calls["list-tags, 20k"]["median"] - calls["list-tags, empty"]["median"]) / HISTORY
    per_tag_werfpull = (out["20k"]["list"] - out["empty"]["list"]) / HISTORY
    out["list_per_1000_tags"] = per_tag * 1000
    out["list_per_1000_tags_werfpull"] = per_tag_werfpull * 1000
    # The history at which listing costs as much as probing PROBE_MAX stages.
    ys = [st[f"probe {n} 20k"]["median"] for n in xs]
    at_max = statistics.linear_regression(xs, ys)
    probe_at_max = (out["20k"]["probe"][str(probe_max)] if probe_max in xs
                    else at_max.intercept + at_max.slope * probe_max)
    out["probe_at_max"] = probe_at_max
    out["history_for_current"] = ((probe_at_max - out["empty"]["list"]) / per_tag_werfpull
                                  if per_tag_werfpull > 0 else None)
    n = out["20k"]["break_even"]
    out["suggested_probe_max"] = max(1, math.floor(n)) if n is not None else max(xs)
    return out


# -- the section ---------------------------------------------------------------------------


def _break_even_text(n: float | None, largest: int) -> str:
    if n is None:
        return f"for every N measured (up to {largest})"
    if n < 1:
        return "for no N (listing is cheaper from N = 1)"
    return f"up to N = {n:.1f}"


def _cell(stats: dict) -> str:
    return (f"**{report.seconds(stats['median'])}** ({report.seconds(stats['min'])} – "
            f"{report.seconds(stats['max'])}, n={stats['n']})")


def markdown(result: dict) -> str:
    p, c, ip, a = result["plans"], result["calls"], result["in_process"], result["analysis"]
    shape, seeded = result["shape"], result["seeded"]
    verdict = "met" if result["met"] else "MISSED"
    main = report.table(
        ["inventory", "(a) empty repository", f"(b) {HISTORY:,} tags", "ratio (b)/(a)"],
        [[f"`auto` (chose `{' / '.join(result['auto_strategy'].values())}`)",
          _cell(p["auto empty"]),
          _cell(p["auto 20k"]), f"**{result['ratios']['auto']:.2f}x**"],
         ["`--inventory list`", _cell(p["list empty"]), _cell(p["list 20k"]),
          f"{result['ratios']['list']:.2f}x"],
         ["`--inventory probe`", _cell(p["probe empty"]), _cell(p["probe 20k"]),
          f"{result['ratios']['probe']:.2f}x"]], "lrrr")

    def diff(name: str) -> list[str]:
        e, t = ip[f"{name} empty"]["median"], ip[f"{name} 20k"]["median"]
        return [report.seconds(e), report.seconds(t), f"+{report.seconds(t - e)}"]

    parse = ip["parse 20k"]["median"]
    breakdown = report.table(
        ["in-process (same rounds)", "(a) empty", f"(b) {HISTORY:,} tags", "difference"],
        [["`make_plan()` (auto)", *diff("make_plan")],
         ["of which the listing, `Remote.list_tags()`", *diff("list_tags")],
         ["`skopeo list-tags` through werfpull's `process.run` (sh)",
          *diff("list via process.run")],
         ["the same argv through `subprocess.run`", *diff("list via subprocess.run")],
         ["parsing the tags (`json.loads` into a set)", "-",
          report.seconds(parse), f"+{report.seconds(parse)}"]], "lrrr")

    calls = report.table(
        ["one skopeo call (`--tls-verify=false`)", "median", "min", "max", "runs"],
        [[f"`inspect --raw` {what}", *report.stats_cells(c[key])] for what, key in (
            ("of an absent tag, empty repository (404)", "inspect absent, empty"),
            (f"of an absent tag, {HISTORY:,} tags", "inspect absent, 20k"),
            (f"of a present tag, {HISTORY:,} tags", "inspect present, 20k"))]
        + [[f"`list-tags` {what}", *report.stats_cells(c[key])] for what, key in (
            ("of the empty repository (404 NAME_UNKNOWN)", "list-tags, empty"),
            (f"of {HISTORY + 1:,} tags (1.8 MB of JSON)", "list-tags, 20k"))], "lrrrr")

    sw = result["sweep"]["stats"]
    rows = []
    for n in result["sweep"]["sizes"]:
        pe, pt = sw[f"probe {n} empty"]["median"], sw[f"probe {n} 20k"]["median"]
        le, lt = sw["list empty"]["median"], sw["list 20k"]["median"]
        rows.append([n, report.seconds(pe), report.seconds(le), "probe" if pe < le else "list",
                     report.seconds(pt), report.seconds(lt), "probe" if pt < lt else "list",
                     "probe" if n <= result["probe_max"] else "list"])
    sweep = report.table(
        ["unique stages N", "probe, (a)", "list, (a)", "faster", "probe, (b)", "list, (b)",
         "faster", f"auto now (PROBE_MAX={result['probe_max']})"], rows, "rrrlrrll")

    e, t = a["empty"], a["20k"]
    be = {k: _break_even_text(a[k]["break_even"], max(result["sweep"]["sizes"]))
          for k in ("empty", "20k")}
    hist = a["history_for_current"]
    return (
        f"## {TITLE}\n\n"
        f"{report.provenance(result['meta'])}\n"
        f"The config: {IMAGES} images and {ARTIFACTS} artifacts in {shape['documents']} "
        f"documents (every tenth names two images with one body, some use `fromImage`, some "
        f"import an artifact), shell stages and docker instructions, no git mappings: "
        f"{shape['stages']:,} stages, {shape['unique']:,} unique signatures. A real "
        f"docker-registry {result['meta']['machine']['docker_registry']} on 127.0.0.1 with "
        f"filesystem storage holds (a) `{EMPTY_REPO}`, to which nothing was pushed (a new "
        f"project's stages repository; `tags/list` answers 404), and (b) `{HISTORY_REPO}`: one "
        f"image pushed with skopeo plus {seeded['tags']:,} unrelated `image-stage-<sha256>` "
        f"tags pointing at it, written straight into the storage layout in "
        f"{seeded['seconds']} s (`skopeo list-tags` lists {seeded['listed']:,}). The "
        "destination is an empty `oci:` directory. Nothing in either repository is wanted, "
        "so every plan pulls nothing and its cost is the inventory.\n\n"
        "Measured: `python3 -m werfpull plan REPO --insecure-registry --dest oci:EMPTYDIR "
        "--format json --dir PROJECT [--inventory list|probe]`, all six variants in each "
        f"round, {result['rounds']} rounds (the slow probing plans in the first "
        f"{result['probe_rounds']}); median (min – max, runs):\n\n"
        + main
        + f"\n**Target: the {HISTORY:,}-tag plan within {TARGET_RATIO}x of the empty one: "
        f"{verdict}** ({result['ratio']:.2f}x with `auto`, which lists because "
        f"{shape['unique']} unique stages > `PROBE_MAX` = {result['probe_max']}).\n\n"
        f"### Where the extra time for {HISTORY:,} tags goes\n\n"
        + breakdown
        + f"\n### Single skopeo calls ({c['list-tags, 20k']['n']} interleaved rounds)\n\n"
        + calls
        + f"\nOne `list-tags` grows by {a['list_per_1000_tags'] * 1000:.1f} ms per 1,000 tags "
        f"in skopeo alone, werfpull's whole listing by "
        f"{a['list_per_1000_tags_werfpull'] * 1000:.1f} ms per 1,000 tags. Probing costs one "
        f"skopeo process per unique stage: {a['probe_per_stage_plan'] * 1000:.1f} ms per stage "
        f"in the {shape['unique']}-stage plans above ({result['probe_jobs']} probes at a time "
        f"on {result['meta']['machine']['nproc']} CPUs).\n\n"
        "### Inventory strategies: probe or list, by number of stages\n\n"
        "The inventory step alone, in-process: `Remote(repo).existing(signatures, strategy)` "
        "with the first N unique signatures of the config (all absent), probing vs listing, "
        f"on both repositories; {result['rounds']} interleaved rounds, medians. It is the "
        "only step of a plan the strategy changes, so this is the trade-off `auto` makes, "
        "without the ~0.3 s of start-up and signing that both sides pay.\n\n"
        + sweep
        + f"\nProbing costs about {e['probe_per_stage'] * 1000:.1f} ms (a) and "
        f"{t['probe_per_stage'] * 1000:.1f} ms (b) per stage (least-squares slope); listing "
        f"costs {report.seconds(e['list'])} on (a) and {report.seconds(t['list'])} on (b), "
        f"whatever N. Probing is the cheaper strategy {be['empty']} on (a) and {be['20k']} "
        "on (b) (interpolated between the measured N). "
        + (f"Probing `PROBE_MAX` = {result['probe_max']} stages "
           f"({report.seconds(a['probe_at_max'])}) costs as much as listing a history of "
           f"about {hist:,.0f} tags. " if hist is not None else "")
        + f"**Suggested `PROBE_MAX`: {a['suggested_probe_max']}**, the break-even at "
        f"{HISTORY:,} tags: up to there probing is no slower than listing such a history, "
        "and above it listing wins even there. A plan that pulls P stages pays P more "
        "probes for their manifests after listing (a probe already has them), which moves "
        "the break-even up by about P.\n"
        + "\n<details><summary>The first documents of the werf.yaml</summary>\n\n```yaml\n"
        + "---\n".join(werf_yaml().split("---\n")[:8]) + "...\n```\n\n</details>\n"
    )
