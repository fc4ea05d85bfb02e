"""resource-bounds: time and peak memory of werfpull by config size, and of a large pull.

Issue 6, item 5: memory and time grow no faster than linearly with the config, and a
pull of a large stage keeps werfpull's memory flat (skopeo streams the blobs; werfpull
must not buffer them).

* `werfpull signatures` and `werfpull plan REPO --dest oci:EMPTY` (a repository nothing
  was pushed to, on a real docker-registry) for generated configs of 10, 100 and 1,000
  images, interleaved rounds, medians. The growth test is on the cost above the
  start-up floor (`werfpull --version`, same wrapper): 10x the images may cost at most
  10x the time and memory above the floor.
* `werfpull pull REPO IMAGE` of one stage of LARGE_MB MB against one of SMALL_MB MB, into
  a fresh containers-storage root each run: the werfpull process's peak RSS should be
  the same for both.

Peak RSS is the werfpull Python process's own: the CLI runs under a tiny wrapper that
records VmHWM from /proc/self/status at exit (`atexit`), so skopeo and git children are
not counted. Not `getrusage(RUSAGE_SELF).ru_maxrss`, which the wrapper records too: Linux
keeps it across exec, so it starts from the RSS of the harness that forked the process.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

from bench import fixtures, report, timing
from bench.timing import ROOT, Sample, Variant

NAME = "resource-bounds"
TITLE = "Resource bounds: 10, 100 and 1,000 images; a large stage"
SIZES = (10, 100, 1000)
# Signing alone once more at 10x the largest size: signing was quadratic in the number
# of images (20,000 took ~2 minutes) until the signer stopped copying its finals per
# image (issue 12). 10x the images may cost at most SIGN_LINEAR x the time above the
# floor: twice linear, for the noise of a 30 s run against a 3 s one, where quadratic
# growth is 100x.
SIGN_LARGE = 10_000
SIGN_LINEAR = 20.0
SMALL_MB = 2
LARGE_MB, LARGE_MB_QUICK = 200, 50
LINEAR = 10.0  # 10x the images: at most 10x the cost above the floor
FLAT = 1.10  # the large pull's peak RSS within 10% of the small one's
RSS_FILE_ENV = "WERFPULL_BENCH_RSS"

# `python3 -c WRAPPER ARGS` runs `python3 -m werfpull ARGS` and, at exit, writes the
# process's own peak RSS to $WERFPULL_BENCH_RSS: VmHWM of /proc/self/status (KiB), then
# getrusage's ru_maxrss (KiB) for comparison. VmHWM belongs to the memory map exec made,
# so it is werfpull's alone. ru_maxrss is not: Linux carries it across exec, and a child
# forked from the harness starts from the harness's RSS (about 40 MiB here, against 26
# MiB for the same command run from a shell).
WRAPPER = (
    "import atexit, os, resource, runpy, sys\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as fh:\n"
    "        hwm = next(line.split()[1] for line in fh if line.startswith('VmHWM:'))\n"
    f"    with open(os.environ['{RSS_FILE_ENV}'], 'w') as fh:\n"
    "        fh.write(f'{hwm} {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}')\n"
    "atexit.register(_peak)\n"
    "sys.argv[0] = 'werfpull'\n"
    "runpy.run_module('werfpull', run_name='__main__', alter_sys=True)\n"
)


def werf_yaml(n: int) -> str:
    """n images and n // 50 + 1 artifacts, shaped like plan-200-images' config."""
    return fixtures.images_config(f"bench-bounds-{n}", n, n // 50 + 1, width=4)


class Measured:
    """Runs the CLI under the RSS wrapper; keeps every run's peak RSS by variant."""

    def __init__(self, tmp: Path):
        self.env = timing.werfpull_env()
        self.rss_file = tmp / "rss"
        self.env[RSS_FILE_ENV] = str(self.rss_file)
        self.rss: dict[str, list[int]] = {}  # VmHWM, KiB
        self.maxrss: dict[str, list[int]] = {}  # ru_maxrss, KiB: inflated, for comparison

    def __call__(self, variant: str, *args: str, stdout: Path | None = None) -> Sample:
        self.rss_file.unlink(missing_ok=True)
        sample = timing.run_cmd([sys.executable, "-c", WRAPPER, *args], cwd=ROOT,
                                env=self.env, stdout=stdout)
        hwm, maxrss = map(int, self.rss_file.read_text().split())
        self.rss.setdefault(variant, []).append(hwm)
        self.maxrss.setdefault(variant, []).append(maxrss)
        return sample

    def medians(self, skip_warmup: dict[str, bool], ru: bool = False) -> dict[str, int]:
        out = {}
        for name, values in (self.maxrss if ru else self.rss).items():
            values = sorted(values[1:] if skip_warmup.get(name) else values)
            out[name] = values[(len(values) - 1) // 2]
        return out


def _shape(project: Path) -> dict:
    from werfpull.project import load_project

    loaded = load_project(str(project))
    signatures = [s.signature for image in loaded.signed for s in image.stages]
    return {"images": sum(1 for s in loaded.signed if s.image.kind != "artifact"),
            "artifacts": sum(1 for s in loaded.signed if s.image.kind == "artifact"),
            "stages": len(signatures), "unique": len(set(signatures)),
            "yaml_bytes": len((project / "werf.yaml").read_bytes())}


def _check_plan(path: Path, images: int, inventories: set[str]):
    def check() -> None:
        doc = json.loads(path.read_text())
        assert not doc["pulls"], f"{path}: an empty repository gives nothing to pull"
        assert len(doc["images"]) >= images, (path, len(doc["images"]))
        inventories.add(doc["inventory"])
    return check


def run_sizes(tmp: Path, repo: str, measured: Measured, n_rounds: int) -> dict:
    empty = tmp / "empty"
    empty.mkdir()
    shapes, variants = {}, [Variant("floor", lambda: measured("floor", "--version"))]
    inventories: set[str] = set()
    for n in SIZES:
        project = tmp / f"config-{n}"
        project.mkdir()
        (project / "werf.yaml").write_text(werf_yaml(n), encoding="utf-8")
        shapes[n] = _shape(project)
        out = tmp / f"plan-{n}.json"
        variants += [
            Variant(f"signatures {n}", lambda n=n, p=project: measured(
                f"signatures {n}", "signatures", "--dir", str(p), "--format", "json")),
            Variant(f"plan {n}", lambda n=n, p=project, out=out: measured(
                f"plan {n}", "plan", repo, "--insecure-registry", "--dest", f"oci:{empty}",
                "--format", "json", "--dir", str(p), stdout=out),
                check=_check_plan(out, shapes[n]["images"] + shapes[n]["artifacts"],
                                  inventories)),
        ]
    large = tmp / f"config-{SIGN_LARGE}"
    large.mkdir()
    (large / "werf.yaml").write_text(werf_yaml(SIGN_LARGE), encoding="utf-8")
    shapes[SIGN_LARGE] = _shape(large)
    variants.append(Variant(f"signatures {SIGN_LARGE}", lambda p=large: measured(
        f"signatures {SIGN_LARGE}", "signatures", "--dir", str(p), "--format", "json")))
    timing.progress(f"{NAME}: {len(variants)} variants, {n_rounds} rounds; configs of "
                    + ", ".join(f"{n} images ({s['stages']} stages)" for n, s in shapes.items()))
    stats = timing.interleave(variants, n_rounds, f"{NAME} sizes")
    return {"shapes": {str(n): s for n, s in shapes.items()}, "stats": stats,
            "inventories": sorted(inventories)}


def run_large(tmp: Path, registry, measured: Measured, large_mb: int, n_rounds: int) -> dict:
    from tests.support.stages import publish_stages

    repo = registry.repo("bench/bounds-large")
    project = tmp / "large-project"
    project.mkdir()
    (project / "werf.yaml").write_text(
        "project: bench-large\nconfigVersion: 1\n---\nimage: small\nfrom: small-base:1\n"
        "---\nimage: large\nfrom: large-base:1\n")
    t0 = time.perf_counter()
    for name, mb in (("small", SMALL_MB), ("large", large_mb)):
        publish_stages(repo, str(project), names=[name], payload=mb * 1_000_000,
                       workdir=str(tmp / "large-publish"))
        shutil.rmtree(tmp / "large-publish")
    published = time.perf_counter() - t0
    timing.progress(f"{NAME}: published a {SMALL_MB} MB and a {large_mb} MB stage in "
                    f"{published:.0f} s; {n_rounds} rounds of pulls")
    pulled: dict[str, list[dict]] = {"small": [], "large": []}
    count = [0]

    def pull(image: str) -> Sample:
        count[0] += 1
        base = tmp / "large-dests" / f"{image}-{count[0]}"
        base.mkdir(parents=True)
        out = base / "pull.json"
        dest = f"containers-storage:[vfs@{base}/root+{base}/run]"
        try:
            sample = measured(f"pull {image}", "pull", repo, image, "--dest", dest,
                              "--insecure-registry", "--format", "json", "--dir", str(project),
                              stdout=out)
            doc = json.loads(out.read_text())
        finally:
            shutil.rmtree(base, ignore_errors=True)
        assert len(doc["pulled"]) == 1 and not doc["failed"], doc
        pulled[image].append({"bytes": doc["bytes"], "seconds": doc["seconds"]})
        return sample

    stats = timing.interleave([Variant(f"pull {image}", lambda i=image: pull(i), warmup=False)
                               for image in ("small", "large")], n_rounds, f"{NAME} large")
    return {"published_seconds": round(published, 1), "large_mb": large_mb,
            "bytes": {k: v[-1]["bytes"] for k, v in pulled.items()}, "stats": stats}


def run(quick: bool) -> dict:
    n_rounds = timing.rounds(quick, full=5, fast=2)
    large_rounds = timing.rounds(quick, full=3, fast=1)
    large_mb = LARGE_MB_QUICK if quick else LARGE_MB
    with fixtures.tempdir("bounds") as tmp:
        registry = fixtures.Registry(tmp / "registry")
        registry.start()
        try:
            measured = Measured(tmp)
            sizes = run_sizes(tmp, registry.repo("bench/bounds-empty"), measured, n_rounds)
            large = run_large(tmp, registry, measured, large_mb, large_rounds)
        finally:
            registry.close()
    rss = measured.medians({name: True for name in sizes["stats"]})
    maxrss = measured.medians({name: True for name in sizes["stats"]}, ru=True)
    analysis = _analyse(sizes["stats"], rss)
    flat = rss["pull large"] / rss["pull small"]
    headline = []
    for cmd in ("signatures", "plan"):
        g = analysis[cmd]
        headline += [
            {"metric": f"{cmd}, 1,000 images", "value": sizes["stats"][f"{cmd} 1000"]["median"],
             "unit": "s", "target": None, "met": None},
            {"metric": f"{cmd}: time above floor, 1000 / 100 images",
             "value": g["time_ratio"]["1000/100"], "unit": "x", "target": f"<= {LINEAR:.0f}x",
             "met": g["time_ratio"]["1000/100"] <= LINEAR},
            {"metric": f"{cmd}: peak RSS above floor, 1000 / 100 images",
             "value": g["rss_ratio"]["1000/100"], "unit": "x", "target": f"<= {LINEAR:.0f}x",
             "met": g["rss_ratio"]["1000/100"] <= LINEAR},
        ]
    headline.append({"metric": f"signatures: time above floor, {SIGN_LARGE} / 1000 images",
                     "value": analysis["sign_large_ratio"], "unit": "x",
                     "target": f"<= {SIGN_LINEAR:.0f}x",
                     "met": analysis["sign_large_ratio"] <= SIGN_LINEAR})
    headline.append({"metric": f"pull peak RSS, {large_mb} MB / {SMALL_MB} MB stage",
                     "value": flat, "unit": "x", "target": f"<= {FLAT:.2f}x",
                     "met": flat <= FLAT})
    return {"sizes": sizes, "rss_kb": rss, "ru_maxrss_kb": maxrss, "analysis": analysis,
            "large": large, "flat": flat, "rounds": n_rounds, "large_rounds": large_rounds,
            "headline": headline}


def _analyse(stats: dict, rss: dict) -> dict:
    """Per command: cost above the floor by size, per image, the 10x ratios, and the
    marginal cost per image between sizes (constant for linear growth)."""
    floor_t, floor_m = stats["floor"]["median"], rss["floor"]
    out = {"floor": {"seconds": floor_t, "rss_kb": floor_m}}
    out["sign_large_ratio"] = ((stats[f"signatures {SIGN_LARGE}"]["median"] - floor_t)
                               / (stats["signatures 1000"]["median"] - floor_t))
    for cmd in ("signatures", "plan"):
        t = {n: stats[f"{cmd} {n}"]["median"] for n in SIZES}
        m = {n: rss[f"{cmd} {n}"] for n in SIZES}
        above_t = {n: t[n] - floor_t for n in SIZES}
        above_m = {n: m[n] - floor_m for n in SIZES}
        pairs = list(zip(SIZES, SIZES[1:], strict=False))
        out[cmd] = {
            "seconds": {str(n): t[n] for n in SIZES},
            "rss_kb": {str(n): m[n] for n in SIZES},
            "time_per_image": {str(n): above_t[n] / n for n in SIZES},
            "rss_kb_per_image": {str(n): above_m[n] / n for n in SIZES},
            "time_ratio": {f"{b}/{a}": above_t[b] / above_t[a] for a, b in pairs},
            "rss_ratio": {f"{b}/{a}": above_m[b] / above_m[a] for a, b in pairs},
            "raw_time_ratio": {f"{b}/{a}": t[b] / t[a] for a, b in pairs},
            "raw_rss_ratio": {f"{b}/{a}": m[b] / m[a] for a, b in pairs},
            "marginal_time": {f"{a}-{b}": (t[b] - t[a]) / (b - a) for a, b in pairs},
            "marginal_rss_kb": {f"{a}-{b}": (m[b] - m[a]) / (b - a) for a, b in pairs},
        }
    return out


# -- the section ---------------------------------------------------------------------------


def _mib(kb: float) -> str:
    return f"{kb / 1024:.1f} MiB"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.2f} ms"


def markdown(result: dict) -> str:
    st, a, shapes = result["sizes"]["stats"], result["analysis"], result["sizes"]["shapes"]
    rss = result["rss_kb"]
    rows = []
    for cmd in ("signatures", "plan"):
        g = a[cmd]
        for n in SIZES:
            s = st[f"{cmd} {n}"]
            prev = SIZES[SIZES.index(n) - 1] if n != SIZES[0] else None
            key = f"{n}/{prev}" if prev else None
            rows.append([
                f"`{cmd}`", f"{n:,}", f"{shapes[str(n)]['stages']:,}",
                f"**{report.seconds(s['median'])}** ({report.seconds(s['min'])} – "
                f"{report.seconds(s['max'])})",
                _ms(g["time_per_image"][str(n)]),
                f"{g['time_ratio'][key]:.2f}x" if key else "-",
                f"**{_mib(rss[f'{cmd} {n}'])}**",
                f"{g['rss_kb_per_image'][str(n)]:.1f} KiB",
                f"{g['rss_ratio'][key]:.2f}x" if key else "-",
            ])
    table = report.table(["command", "images", "stages", "time: median (min – max)",
                          "time above floor / image", "x previous (above floor)",
                          "peak RSS (median)", "RSS above floor / image",
                          "x previous (above floor)"], rows, "lrrrrrrrr")
    met = {cmd: all(v <= LINEAR for k in ("time_ratio", "rss_ratio")
                    for v in a[cmd][k].values()) for cmd in ("signatures", "plan")}
    marg = []
    for cmd in ("signatures", "plan"):
        g = a[cmd]
        mt, mm = g["marginal_time"], g["marginal_rss_kb"]
        marg.append(f"`{cmd}`: {_ms(mt['10-100'])} and {_ms(mt['100-1000'])} per added image "
                    f"(10 → 100, 100 → 1,000), {mm['10-100']:.1f} and {mm['100-1000']:.1f} KiB "
                    f"of peak RSS per added image")
    large = result["large"]
    ls = large["stats"]
    lrows = [[f"`werfpull pull REPO {image}` ({mb} MB stage, {large['bytes'][image] / 1e6:.1f} "
              "MB as planned)", *report.stats_cells(ls[f"pull {image}"]),
              f"**{_mib(rss[f'pull {image}'])}**"]
             for image, mb in (("small", SMALL_MB), ("large", large["large_mb"]))]
    ltable = report.table(["one stage into a fresh containers-storage root", "median", "min",
                           "max", "runs", "werfpull peak RSS (median)"], lrows, "lrrrrr")
    flat = result["flat"]
    return (
        f"## {TITLE}\n\n"
        f"{report.provenance(result['meta'])}\n"
        "Generated configs shaped like plan-200-images' (every tenth document names two "
        "images, some use `fromImage`, some import one of N/50 + 1 artifacts, shell stages "
        "and docker instructions, no git mappings): "
        + "; ".join(f"{n:,} images: {s['stages']:,} stages, {s['unique']:,} unique, "
                    f"{s['yaml_bytes'] / 1024:.0f} KiB of YAML" for n, s in
                    ((int(k), v) for k, v in shapes.items()))
        + ". Measured: `werfpull signatures --dir DIR --format json` and `werfpull plan REPO "
        "--insecure-registry --dest oci:EMPTY --format json --dir DIR` against a "
        "repository nothing was pushed to on a real docker-registry (inventory "
        f"{' and '.join(f'`{i}`' for i in result['sizes']['inventories'])}; the plan "
        f"pulls nothing), all seven variants in each of {result['rounds']} "
        "interleaved rounds after a warm-up. Peak RSS is the werfpull process's own: "
        "VmHWM of `/proc/self/status`, written at exit by a wrapper that runs the CLI with "
        "`runpy`, so skopeo's and git's memory is not in it. (`getrusage(RUSAGE_SELF)."
        "ru_maxrss`, which the wrapper also records, is no use here: Linux keeps it across "
        "exec, so every run reports at least the harness's RSS at the fork, "
        f"{_mib(result['ru_maxrss_kb']['floor'])} for the floor.) The floor, `werfpull "
        f"--version` under the same wrapper, is {report.seconds(a['floor']['seconds'])} and "
        f"{_mib(a['floor']['rss_kb'])}; per-image costs and ratios are of the cost above "
        "it.\n\n"
        + table
        + f"\n**Target: no faster than linear (10x the images, at most {LINEAR:.0f}x the time "
        f"and peak RSS above the floor): `signatures` "
        f"{'met' if met['signatures'] else 'MISSED'}, `plan` "
        f"{'met' if met['plan'] else 'MISSED'}.** Marginal cost, which stays "
        "constant when growth is linear: " + "; ".join(marg) + ". Raw ratios, floor "
        "included: " + "; ".join(
            f"`{cmd}` time {a[cmd]['raw_time_ratio']['100/10']:.2f}x and "
            f"{a[cmd]['raw_time_ratio']['1000/100']:.2f}x, RSS "
            f"{a[cmd]['raw_rss_ratio']['100/10']:.2f}x and "
            f"{a[cmd]['raw_rss_ratio']['1000/100']:.2f}x" for cmd in ("signatures", "plan"))
        + " (100/10 and 1000/100).\n\n"
        f"`signatures` of {SIGN_LARGE:,} images ({shapes[str(SIGN_LARGE)]['stages']:,} "
        f"stages): **{report.seconds(st[f'signatures {SIGN_LARGE}']['median'])}**, "
        f"{_mib(rss[f'signatures {SIGN_LARGE}'])} peak RSS; "
        f"{a['sign_large_ratio']:.2f}x the time of 1,000 images above the floor "
        f"(target <= {SIGN_LINEAR:.0f}x, quadratic would be 100x: "
        f"{'met' if a['sign_large_ratio'] <= SIGN_LINEAR else 'MISSED'}; "
        "before the signer stopped copying every final signature per image, 20,000 images "
        "took about 2 minutes).\n\n"
        "### A large stage\n\n"
        f"One image of a single stage of {large['large_mb']} MB of incompressible data against "
        f"one of {SMALL_MB} MB, published to the registry in {large['published_seconds']} s; "
        "each pull into a fresh containers-storage root (vfs), made and removed untimed, "
        f"{result['large_rounds']} interleaved round(s). The werfpull process's peak RSS "
        "(same wrapper):\n\n"
        + ltable
        + f"\n**Target: peak RSS flat (the large pull within {FLAT:.2f}x of the small): "
        f"{'met' if flat <= FLAT else 'MISSED'}** ({flat:.3f}x, "
        f"{(rss['pull large'] - rss['pull small']) / 1024:+.1f} MiB for "
        f"{large['large_mb'] - SMALL_MB} MB more data): skopeo streams the blobs, and "
        "werfpull reads only its small outputs.\n"
    )
