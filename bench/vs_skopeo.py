"""pull-vs-skopeo: `werfpull pull` against the shell one-liners doing the same copies.

Two projects have every stage published to a real docker-registry (tests/support/
stages.py: each stage is its previous stage's layers plus one layer of PAYLOAD
incompressible bytes, so the images of one project share their `from` and
`beforeInstall` layers):

  large   8 images, final stages of 3 layers of LARGE bytes each, the lower 2 shared
  tiny    50 images, the same shape with TINY-byte layers

Every variant fetches the final stage of every image, by digest, into a fresh
destination, through the fault proxy (tests/support/faultproxy.py), which counts the
bytes the registry sends and, on the "20 ms" rows, adds 20 ms per round trip
(each new connection, each response):

  werfpull       `werfpull pull REPO --dest DEST` (plans, then copies; default --jobs)
  werfpull apply `werfpull apply PLAN --dest DEST` of a plan made once beforehand, as a
                 fleet applies one plan on many hosts: the copies without the planning
  sequential     `skopeo copy` of each stage, one after another, into DEST
  xargs -P4      `xargs -P4 skopeo copy` (oci: each into a layout of its own, since
                 parallel copies into one layout lose tags; containers-storage: one store)
  skopeo sync    `skopeo sync --src yaml --dest dir` of the same tags
  byte floor     `curl --parallel --parallel-max 4` of exactly the distinct blobs and
                 manifests: the least any tool can move

Rounds are interleaved (every variant once per round); the ratios are of medians of
the same rounds. Targets (issue 15): werfpull at most 1.0x `xargs -P4` on every row,
and its registry bytes at most 1.02x the minimum (the byte floor's bytes).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench import fixtures, report, timing
from bench.timing import ROOT, Sample, Variant

NAME = "pull-vs-skopeo"
TITLE = "werfpull pull against bare skopeo, xargs -P4, skopeo sync and the byte floor"
LARGE, TINY = 8_000_000, 2_000
LATENCY = 0.020
TARGET_TIME, TARGET_BYTES = 1.0, 1.02
ROWS = (  # (project, destination kind, latency)
    ("large", "containers-storage", 0.0), ("large", "containers-storage", LATENCY),
    ("tiny", "oci", 0.0), ("tiny", "oci", LATENCY), ("tiny", "containers-storage", LATENCY),
)
VARIANTS = ("werfpull", "werfpull apply", "sequential", "xargs -P4", "skopeo sync",
            "byte floor")


def project_yaml(name: str, images: int) -> str:
    return f"project: bench-{name}\nconfigVersion: 1\n" + "".join(
        f"---\nimage: img{i:02d}\nfrom: alpine:3.18\nshell:\n  beforeInstall: [apk add base]\n"
        f"  install: [make {i}]\n" for i in range(images))


class Fixture:
    """One published project and the ways to fetch its final stages."""

    def __init__(self, tmp: Path, registry, proxy, name: str, images: int, payload: int):
        from tests.support.stages import publish_stages
        from werfpull.project import load_project

        self.tmp, self.proxy, self.name = tmp / name, proxy, name
        self.project = self.tmp / "project"
        self.project.mkdir(parents=True)
        (self.project / "werf.yaml").write_text(project_yaml(name, images))
        env = fixtures.git_env(self.tmp / "home", identity=True)
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "c"]):
            subprocess.run(["git", *args], cwd=self.project, env=env, check=True,
                           capture_output=True)
        self.upstream = registry.repo(f"bench/vs-{name}")
        digests = publish_stages(self.upstream, str(self.project), payload=payload,
                                 workdir=str(self.tmp / "publish"))
        shutil.rmtree(self.tmp / "publish")
        self.repo = proxy.repo(self.upstream)
        signed = load_project(str(self.project)).signed
        self.finals = {s.image.name: (s.stages[-1].signature, digests[s.stages[-1].signature])
                       for s in signed}
        self.env = timing.werfpull_env()
        self.n = 0
        self.minimum = self._minimum(registry)
        self.plan = self.tmp / "plan.json"
        timing.run_cmd([sys.executable, "-m", "werfpull", "plan", self.repo, "--dest",
                        f"oci:{self.tmp}/none", "--insecure-registry", "--dir",
                        str(self.project), "--out", str(self.plan)], cwd=ROOT, env=self.env)

    def _minimum(self, registry) -> dict:
        from bench.pull import Direct

        direct = Direct(registry, f"bench/vs-{self.name}")
        blobs, manifests, urls = {}, 0, []
        for _, digest in self.finals.values():
            size, layers = direct.manifest(digest)
            manifests += size
            blobs.update(layers)
            urls.append(f"/manifests/{digest}")
        urls += [f"/blobs/{d}" for d in blobs]
        return {"bytes": manifests + sum(blobs.values()), "blobs": len(blobs), "paths": urls}

    def fresh(self, kind: str) -> tuple[Path, str]:
        self.n += 1
        base = self.tmp / "dests" / f"{kind}-{self.n}"
        base.mkdir(parents=True)
        dest = (f"containers-storage:[vfs@{base}/root+{base}/run]" if kind != "oci"
                else f"oci:{base}/layout")
        return base, dest

    def target(self, dest: str, image: str, base: Path, own: bool) -> str:
        if dest.startswith("oci:"):
            return f"oci:{base}/{image}:{image}" if own else f"{dest}:{image}"
        return f"{dest}localhost/bench/{image}:latest"

    def copies(self, dest: str, base: Path, own: bool) -> list[list[str]]:
        return [["skopeo", "copy", "--quiet", "--src-tls-verify=false", "--preserve-digests",
                 f"docker://{self.repo}@{digest}", self.target(dest, image, base, own)]
                for image, (_, digest) in self.finals.items()]

    def run(self, variant: str, kind: str) -> tuple[Sample, dict]:
        """One fetch into a fresh destination: its time, and the bytes the registry sent
        (response bodies, and everything on the wire with the HTTP heads)."""
        base, dest = self.fresh(kind)
        try:
            settle(self.proxy)
            self.proxy.reset_counters()
            sample = self._run(variant, kind, base, dest)
            wire = settle(self.proxy)
            log = self.proxy.requests()
            return sample, {"wire": wire, "body": sum(r["body_bytes"] for r in log),
                            "requests": len(log)}
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def _werfpull(self, what: list[str], dest: str, out: Path) -> Sample:
        """`werfpull pull REPO` or `werfpull apply PLAN` into `dest`, checked complete."""
        sample = timing.run_cmd([sys.executable, "-m", "werfpull", *what, "--dest", dest,
                                 "--insecure-registry", "--format", "json", "--dir",
                                 str(self.project)], cwd=ROOT, env=self.env, stdout=out)
        doc = json.loads(out.read_text())
        assert not doc["failed"] and len(doc["pulled"]) == len(self.finals), doc
        return sample

    def _run(self, variant: str, kind: str, base: Path, dest: str) -> Sample:
        if variant in ("werfpull", "werfpull apply"):
            what = (["pull", self.repo] if variant == "werfpull"
                    else ["apply", str(self.plan)])
            return self._werfpull(what, dest, base / "out.json")
        if variant == "sequential":
            return _timed(lambda: [_check(argv) for argv in self.copies(dest, base, False)])
        if variant == "xargs -P4":
            args = base / "args"
            args.write_text("\0".join(a for argv in self.copies(dest, base, kind == "oci")
                                      for a in argv[2:]) + "\0")
            return timing.run_cmd(["sh", "-c", f"xargs -0 -P4 -n5 skopeo copy < {args}"])
        if variant == "skopeo sync":
            spec = base / "sync.yaml"
            host, path = self.repo.split("/", 1)
            spec.write_text(json.dumps({host: {"tls-verify": False, "images": {
                path: [f"image-stage-{sig}" for sig, _ in self.finals.values()]}}}))
            return timing.run_cmd(["skopeo", "sync", "--src", "yaml", "--dest", "dir",
                                   "--preserve-digests", str(spec), str(base / "sync")])
        config = base / "curl.cfg"  # the byte floor
        prefix = f"http://{self.repo.split('/', 1)[0]}/v2/{self.repo.split('/', 1)[1]}"
        accept = "application/vnd.oci.image.manifest.v1+json"
        config.write_text("".join(f'url = "{prefix}{p}"\noutput = "/dev/null"\n'
                                  for p in self.minimum["paths"]))
        return timing.run_cmd(["curl", "-sSf", "--noproxy", "*", "--parallel",
                               "--parallel-max", "4", "-H", f"Accept: {accept}",
                               "--config", str(config)])


def _check(argv: list[str]) -> None:
    proc = subprocess.run(argv, capture_output=True)
    if proc.returncode:
        raise timing.CommandFailed(f"{' '.join(argv)}: {proc.stderr.decode()[-500:]}")


def _timed(fn) -> Sample:
    t0 = time.perf_counter()
    fn()
    return Sample(time.perf_counter() - t0)


def settle(proxy) -> int:
    """bytes_down once the proxy's last chunks are counted (they follow the send)."""
    last, stable_since = -1, time.monotonic()
    while time.monotonic() - stable_since < 0.2:
        now = proxy.stats()["bytes_down"]
        if now != last:
            last, stable_since = now, time.monotonic()
        time.sleep(0.02)
    return last


def measure_row(fixture: Fixture, kind: str, latency: float, rounds: int) -> dict:
    fixture.proxy.throttle(latency=latency)
    moved: dict[str, list[dict]] = {v: [] for v in VARIANTS}

    def variant(name: str) -> Variant:
        def fn() -> Sample:
            sample, down = fixture.run(name, kind)
            moved[name].append(down)
            return sample
        return Variant(name, fn, warmup=False)

    label = f"{fixture.name} {kind} +{latency * 1000:.0f}ms"
    stats = timing.interleave([variant(v) for v in VARIANTS], rounds, label)
    fixture.proxy.throttle()
    return {"project": fixture.name, "kind": kind, "latency": latency, "stats": stats,
            "bytes": {v: max(b, key=lambda m: m["body"]) for v, b in moved.items()},
            "minimum": fixture.minimum["bytes"],
            "stages": len(fixture.finals)}


def run(quick: bool) -> dict:
    from tests.support.faultproxy import FaultProxy

    n_rounds = timing.rounds(quick, full=3, fast=1)
    with fixtures.tempdir("vs-skopeo") as tmp:
        registry = fixtures.Registry(tmp / "registry")
        registry.start()
        proxy = FaultProxy.for_registry(registry, max_seconds=3600, log_requests=True).start()
        try:
            made = {"large": Fixture(tmp, registry, proxy, "large", 8, LARGE),
                    "tiny": Fixture(tmp, registry, proxy, "tiny", 50, TINY)}
            rows = [measure_row(made[p], kind, lat, n_rounds) for p, kind, lat in ROWS]
        finally:
            proxy.stop()
            registry.stop()
    return {"rows": rows, "rounds": n_rounds, "headline": _headline(rows)}


def _ratios(row: dict) -> tuple[float, float]:
    stats = row["stats"]
    return (timing.ratio(stats, "xargs -P4", "werfpull"),
            row["bytes"]["werfpull"]["body"] / row["minimum"])


def _label(row: dict) -> str:
    return (f"{row['stages']} {row['project']} stages, {row['kind']}, "
            f"{'loopback' if not row['latency'] else '+20 ms per round trip'}")


def _headline(rows: list[dict]) -> list[dict]:
    out = []
    for row in rows:
        time_ratio, byte_ratio = _ratios(row)
        out.append({"metric": f"{_label(row)}: werfpull / xargs -P4", "value": time_ratio,
                    "unit": "x", "target": f"<= {TARGET_TIME}x",
                    "met": time_ratio <= TARGET_TIME})
        out.append({"metric": f"{_label(row)}: werfpull apply (plan made before) / xargs -P4",
                    "value": timing.ratio(row["stats"], "xargs -P4", "werfpull apply"),
                    "unit": "x", "target": None, "met": None})
        out.append({"metric": f"{_label(row)}: bytes / minimum", "value": byte_ratio,
                    "unit": "x", "target": f"<= {TARGET_BYTES}x",
                    "met": byte_ratio <= TARGET_BYTES})
    return out


def markdown(result: dict) -> str:
    lines = [f"## {TITLE}\n", report.provenance(result["meta"]), __doc__.split("\n\n", 1)[1],
             f"{result['rounds']} interleaved rounds per row. Wall time, median (min-max), "
             "and the ratio to `xargs -P4` of the same rounds:\n"]
    rows = []
    for row in result["rows"]:
        stats = row["stats"]
        cells = [_label(row)]
        for v in VARIANTS:
            ratio = timing.ratio(stats, "xargs -P4", v)
            cells.append(f"{report.seconds(stats[v]['median'])} ({ratio:.2f}x)")
        rows.append(cells)
    lines.append(report.table(["row", *VARIANTS], rows, "l" + "r" * len(VARIANTS)))
    lines.append("\nBytes of response bodies the registry sent (the largest of the rounds), "
                 "against the minimum (the distinct blobs and manifests, once each), and in "
                 "brackets the requests made. HTTP heads come on top (the JSON result has "
                 "the wire bytes); with 2 KB layers they outweigh the layers themselves:\n")
    rows = [[_label(r), f"{r['minimum']:,}",
             *[f"{r['bytes'][v]['body']:,} ({r['bytes'][v]['body'] / r['minimum']:.3f}x, "
               f"{r['bytes'][v]['requests']})" for v in VARIANTS]]
            for r in result["rows"]]
    lines.append(report.table(["row", "minimum", *VARIANTS], rows,
                              "l" + "r" * (len(VARIANTS) + 1)))
    lines.append("\n" + report.table(["target", "value", "result"], [
        [h["metric"], f"{h['value']:.3f}x", report.verdict(h["met"])]
        for h in result["headline"]], "lrl"))
    return "\n".join(lines)
