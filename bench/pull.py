"""pull-bytes-and-jobs: what `werfpull pull` moves after a beforeSetup change, and how many
copies to run at once.

(a) Bytes moved, the seed scenario of issue 3. A 4-image project whose stages share
base layers (backend and frontend have the same `from`, `beforeInstall` and `install`;
worker shares only `from`; docs has its own) has every stage published to a real
docker-registry, each stage its previous stage's layers plus one layer of PAYLOAD
incompressible bytes (tests/support/stages.py). Then backend's `beforeSetup` changes (a commit).
On a fresh destination (an isolated containers-storage root, and an `oci:` layout), the
bytes sent by the registry are counted at a TCP proxy in front of it
(tests/support/faultproxy.py, with its request log on) for:

  pull          `werfpull pull REPO` (plan, then copy; default --jobs)
  pull -j1      the same with `--jobs 1` (containers-storage; `oci:` copies are serial)
  all-stages    `werfpull pull REPO --all-stages`
  final images  `skopeo copy` of the final stage of every image of the *old* config,
                one after another into one destination: what "pull the final images"
                fetches

against the minimum: the distinct blobs (layers, configs) and the manifests of the
stages the plan chose, none of them local (from the plan's pulls, checked against the
registry's manifests). Everything the proxy counts is reported, HTTP heads included;
the request log says what every byte above the minimum was.

(b) Parallel copies: `werfpull pull --jobs J` for J in JOBS on 8 independent stages
(8 images with different `from`, one stage of 2-4.8 MB each), straight to the
registry, each run into a fresh containers-storage root, interleaved rounds, medians;
the ratios to --jobs 1 recommend `DEFAULT_JOBS` (werfpull/apply/transfer.py).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench import fixtures, report, timing
from bench.timing import ROOT, Sample, Variant

NAME = "pull-bytes-and-jobs"
TITLE = "Pull after a beforeSetup change: bytes moved, and parallel copies"
PAYLOAD = 1_000_000  # incompressible bytes in each stage's own layer
TARGET = 1.02  # pull / minimum
JOBS = (1, 2, 4, 8)
PAR_IMAGES = 8
CHANGED = "backend"
TOLERANCE = 0.05  # a --jobs value within 5% of the fastest median counts as as fast
LINK_RATE = 10_000_000  # bytes/s per connection through the throttling proxy

PROJECT = """\
project: bench-pull
configVersion: 1
---
image: backend
from: alpine:3.18
shell:
  beforeInstall: [apk add --no-cache build-base]
  install: [make deps]
  beforeSetup: [make headers VERSION=1]
  setup: [make -j2]
---
image: frontend
from: alpine:3.18
shell:
  beforeInstall: [apk add --no-cache build-base]
  install: [make deps]
  beforeSetup: [npm ci]
  setup: [npm run build]
---
image: worker
from: alpine:3.18
shell:
  beforeInstall: [apk add --no-cache python3]
  install: [pip install -r requirements.txt]
  setup: [./configure]
---
image: docs
from: debian:12
shell:
  install: [pip install mkdocs]
  setup: [mkdocs build]
"""
OLD, NEW = "make headers VERSION=1", "make headers VERSION=2"

PAR_PROJECT = "project: bench-jobs\nconfigVersion: 1\n" + "".join(
    f"---\nimage: img{i}\nfrom: base{i}:1.0\n" for i in range(PAR_IMAGES))


def par_payload(i: int) -> int:
    return 2_000_000 + 400_000 * i  # 2.0 MB to 4.8 MB


def werfpull(*args: str) -> list[str]:
    return [sys.executable, "-m", "werfpull", *args]


def store(base: Path) -> str:
    return f"containers-storage:[vfs@{base}/root+{base}/run]"


_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, accept: str = "application/vnd.oci.image.manifest.v1+json") -> bytes:
    with _HTTP.open(urllib.request.Request(url, headers={"Accept": accept}), timeout=30) as r:
        return r.read()


class Direct:
    """Reads manifests straight from the registry (not through the proxy)."""

    def __init__(self, registry, name: str):
        self.base = f"{registry.url}/v2/{name}"

    def manifest(self, ref: str) -> tuple[int, list[tuple[str, int]]]:
        """(manifest bytes, [(digest, size)] of its config and layers)."""
        raw = _get(f"{self.base}/manifests/{ref}")
        doc = json.loads(raw)
        return len(raw), [(b["digest"], int(b["size"])) for b in [doc["config"],
                                                                   *doc["layers"]]]

    def minimum(self, refs: list[str]) -> dict:
        """Distinct blobs plus every manifest of `refs`: what a perfect fetch moves."""
        manifests, blobs = 0, {}
        for ref in refs:
            size, layers = self.manifest(ref)
            manifests += size
            blobs.update(layers)
        return {"manifests": manifests, "blobs": sum(blobs.values()), "blob_count": len(blobs),
                "digests": sorted(blobs), "total": manifests + sum(blobs.values()),
                "images": len(refs)}


class Bytes:
    """Part (a): fixtures, the four ways to fetch, the minimum, the request log."""

    def __init__(self, tmp: Path, registry, proxy):
        self.tmp, self.registry, self.proxy = tmp, registry, proxy
        self.name = "bench/pull-stages"
        self.upstream = registry.repo(self.name)
        self.repo = proxy.repo(self.upstream)
        self.direct = Direct(registry, self.name)
        self.project = tmp / "project"
        self.env = timing.werfpull_env()
        self.git_env = fixtures.git_env(tmp / "home", identity=True)
        self.n = 0

    def git(self, *args: str) -> None:
        subprocess.run(["git", *args], cwd=self.project, env=self.git_env, check=True,
                       capture_output=True)

    def publish(self) -> dict:
        """Commit the first config, push all its stages, commit the change; the old finals."""
        from tests.support.stages import publish_stages
        from werfpull.project import load_project

        self.project.mkdir()
        (self.project / "werf.yaml").write_text(PROJECT)
        self.git("init", "-q", "-b", "main")
        self.git("add", "-A")
        self.git("commit", "-q", "-m", "v1")
        t0 = time.perf_counter()
        published = publish_stages(self.upstream, str(self.project), payload=PAYLOAD,
                                   workdir=str(self.tmp / "publish"))
        seconds = time.perf_counter() - t0
        shutil.rmtree(self.tmp / "publish")
        old = load_project(str(self.project))
        finals = {s.image.name: s.stages[-1].signature for s in old.signed}
        stages = sum(len(s.stages) for s in old.signed)
        config = self.project / "werf.yaml"
        assert config.read_text().count(OLD) == 1
        config.write_text(config.read_text().replace(OLD, NEW))
        self.git("commit", "-q", "-a", "-m", "backend: beforeSetup v2")
        return {"published": len(published), "stages": stages, "finals": finals,
                "seconds": round(seconds, 1)}

    def fresh(self, kind: str) -> tuple[Path, str]:
        self.n += 1
        base = self.tmp / "dests" / f"{kind}-{self.n}"
        base.mkdir(parents=True)
        return base, (store(base) if kind == "containers-storage" else f"oci:{base}/layout")

    def plan(self, kind: str, *flags: str) -> dict:
        """The plan on a fresh destination of this kind, made straight against the registry."""
        base, dest = self.fresh(kind)
        try:
            out = base.parent / f"plan-{self.n}.json"
            timing.run_cmd(werfpull("plan", self.upstream, *flags, "--dest", dest,
                                    "--insecure-registry", "--format", "json", "--dir",
                                    str(self.project)), cwd=ROOT, env=self.env, stdout=out)
            return json.loads(out.read_text())
        finally:
            shutil.rmtree(base, ignore_errors=True)

    def _settled(self) -> int:
        """bytes_down once the proxy's last chunks are counted (they follow the send)."""
        last, stable_since = -1, time.monotonic()
        while time.monotonic() - stable_since < 0.2:
            now = self.proxy.stats()["bytes_down"]
            if now != last:
                last, stable_since = now, time.monotonic()
            time.sleep(0.02)
        return last

    def measure(self, kind: str, variant: str, finals: dict) -> dict:
        """One fetch on a fresh destination: bytes at the proxy, requests, time."""
        base, dest = self.fresh(kind)
        try:
            self._settled()
            self.proxy.reset_counters()
            out = base / "pull.json"
            if variant == "final images":
                t0 = time.perf_counter()
                for image, sig in finals.items():
                    target = (f"{dest}:final-{image}" if kind == "oci"
                              else f"{dest}localhost/bench/final-{image}:latest")
                    subprocess.run(["skopeo", "copy", "--quiet", "--src-tls-verify=false",
                                    f"docker://{self.repo}:image-stage-{sig}", target],
                                   check=True, capture_output=True)
                sample = Sample(time.perf_counter() - t0)
                pulled = None
            else:
                flags = {"pull": [], "pull -j1": ["--jobs", "1"],
                         "all-stages": ["--all-stages"]}[variant]
                sample = timing.run_cmd(werfpull("pull", self.repo, *flags, "--dest", dest,
                                                 "--insecure-registry", "--format", "json",
                                                 "--dir", str(self.project)),
                                        cwd=ROOT, env=self.env, stdout=out)
                doc = json.loads(out.read_text())
                assert not doc["failed"], doc["failed"]
                pulled = sorted(doc["pulled"])
            down = self._settled()
            requests = self.proxy.requests()
            stats = self.proxy.stats()
        finally:
            shutil.rmtree(base, ignore_errors=True)
        return {"bytes": down, "seconds": round(sample.wall, 3), "pulled": pulled,
                "connections": stats["connections"], "requests": requests}


def _kind(record: dict) -> str:
    path = record["path"]
    if record["method"] == "(not HTTP)":
        return "tls"
    if path == "/v2/":
        return "ping"
    if path.endswith("/tags/list") or "/tags/list?" in path:
        return "tags"
    if "/manifests/" in path:
        return "manifest" if record["status"] == 200 else "manifest-absent"
    if "/blobs/" in path:
        return "blob"
    return "other"


KIND_LABELS = {
    "tls": "TLS first tries (skopeo tries https, the registry answers 400)",
    "ping": "`GET /v2/` (one per skopeo process)",
    "tags": "`GET .../tags/list`",
    "manifest": "manifests (200)",
    "manifest-absent": "manifests of absent stages (404)",
    "blob": "blobs",
    "other": "other",
}


def analyse(run: dict, minimum: dict) -> dict:
    """Where the bytes went, from the request log: heads, and bodies by kind; the blobs
    and manifests beyond the minimum (fetched twice, or not needed)."""
    rows: dict[str, dict] = {}
    seen_blobs: dict[str, int] = {}
    manifests_by_digest: dict[str, int] = {}
    extra_blob_bytes = repeat_blob_count = unneeded_blob_bytes = 0
    wanted = set(minimum["digests"])
    for r in run["requests"]:
        k = _kind(r)
        row = rows.setdefault(k, {"requests": 0, "head": 0, "body": 0})
        row["requests"] += 1
        row["head"] += r["head_bytes"]
        row["body"] += r["body_bytes"]
        if k == "blob" and r["method"] == "GET":
            digest = r["path"].rsplit("/", 1)[1]
            if digest in seen_blobs:
                repeat_blob_count += 1
                extra_blob_bytes += r["body_bytes"]
            elif digest not in wanted:
                unneeded_blob_bytes += r["body_bytes"]
            seen_blobs[digest] = seen_blobs.get(digest, 0) + 1
        if k == "manifest" and r["method"] == "GET":
            manifests_by_digest[r["path"]] = r["body_bytes"]
    heads = sum(row["head"] for row in rows.values())
    bodies = sum(row["body"] for row in rows.values())
    manifest_body = rows.get("manifest", {}).get("body", 0)
    missing = sorted(wanted - set(seen_blobs))
    return {
        "rows": rows, "heads": heads, "bodies": bodies, "logged": heads + bodies,
        "unlogged": run["bytes"] - heads - bodies,
        "extra": run["bytes"] - minimum["total"],
        "extra_manifests": manifest_body - minimum["manifests"],
        "repeat_blobs": repeat_blob_count, "repeat_blob_bytes": extra_blob_bytes,
        "unneeded_blob_bytes": unneeded_blob_bytes, "blobs_not_fetched": len(missing),
        "small_bodies": sum(rows.get(k, {}).get("body", 0)
                            for k in ("tls", "ping", "tags", "manifest-absent", "other")),
        "requests": sum(row["requests"] for row in rows.values()),
        "unparsed": sum(1 for r in run["requests"] if not r["parsed"] and _kind(r) != "tls"),
    }


def _median(values: list[float]) -> float:
    values = sorted(values)
    n = len(values)
    return values[n // 2] if n % 2 else (values[n // 2 - 1] + values[n // 2]) / 2


def run_bytes(tmp: Path, registry, n_rounds: int) -> dict:
    from tests.support.faultproxy import FaultProxy

    proxy = FaultProxy.for_registry(registry, max_seconds=3600, log_requests=True).start()
    try:
        b = Bytes(tmp, registry, proxy)
        timing.progress(f"{NAME}: publishing the stages of a 4-image project")
        fixture = b.publish()
        finals = fixture["finals"]
        kinds = {"containers-storage": ["pull", "pull -j1", "all-stages", "final images"],
                 "oci": ["pull", "all-stages", "final images"]}
        plans, minimum = {}, {}
        for kind in kinds:
            for flags, key in (((), "pull"), (("--all-stages",), "all-stages")):
                plan = b.plan(kind, *flags)
                refs = [p["digest"] for p in plan["pulls"]]
                m = b.direct.minimum(refs)
                # The plan's own figure must agree with the registry's manifests.
                assert plan["download"] == m["total"], (plan["download"], m["total"])
                plans[(kind, key)] = plan
                minimum[f"{kind} {key}"] = m
            minimum[f"{kind} pull -j1"] = minimum[f"{kind} pull"]
            minimum[f"{kind} final images"] = b.direct.minimum(
                [f"image-stage-{sig}" for sig in finals.values()])
        chosen = plans[("containers-storage", "pull")]
        timing.progress(f"{NAME}: {n_rounds} rounds of {sum(map(len, kinds.values()))} "
                        "fetches, each on a fresh destination, bytes counted at the proxy")
        runs: dict[str, list[dict]] = {f"{k} {v}": [] for k, vs in kinds.items() for v in vs}
        for r in range(n_rounds):
            for kind, variants in kinds.items():
                for variant in variants:
                    key = f"{kind} {variant}"
                    m = b.measure(kind, variant, finals)
                    if m["pulled"] is not None:
                        plan = plans[(kind, "all-stages" if variant == "all-stages" else "pull")]
                        assert m["pulled"] == sorted(p["signature"] for p in plan["pulls"]), key
                    m["analysis"] = analyse(m, minimum[key])
                    m.pop("requests")
                    runs[key].append(m)
            timing.progress(f"{NAME} bytes round {r + 1}/{n_rounds}: " + ", ".join(
                f"{k} {v[-1]['bytes'] / minimum[k]['total']:.3f}x" for k, v in runs.items()))
    finally:
        proxy.stop()
    for m in minimum.values():
        m.pop("digests", None)
    results = {}
    for key, samples in runs.items():
        by_bytes = sorted(samples, key=lambda s: s["bytes"])
        results[key] = {
            "median_run": by_bytes[(len(by_bytes) - 1) // 2],  # the lower median: a real run
            "bytes": [s["bytes"] for s in samples],
            "seconds": _median([s["seconds"] for s in samples]),
            "minimum": minimum[key],
        }
    return {
        "fixture": {k: v for k, v in fixture.items() if k != "finals"},
        "finals": finals,
        "chosen": [{"stage": p["stage"], "images": p["images"], "layers": len(p["layers"]) - 1,
                    "size": p["size"]} for p in chosen["pulls"]],
        "all_stages_count": len(plans[("containers-storage", "all-stages")]["pulls"]),
        "inventory": chosen["inventory"],
        "results": results,
    }


# -- (b) parallel copies --------------------------------------------------------------------


class Jobs:
    def __init__(self, tmp: Path, registry, proxy):
        self.tmp = tmp
        self.repos = {"loopback": registry.repo("bench/jobs-stages"),
                      "link": proxy.repo(registry.repo("bench/jobs-stages"))}
        self.project = tmp / "jobs-project"
        self.env = timing.werfpull_env()
        self.n = 0
        self.apply_seconds: dict[str, list[float]] = {}

    def publish(self) -> int:
        from tests.support.stages import publish_stages

        self.project.mkdir()
        (self.project / "werf.yaml").write_text(PAR_PROJECT)
        total = 0
        for i in range(PAR_IMAGES):
            total += len(publish_stages(self.repos["loopback"], str(self.project),
                                        names=[f"img{i}"], payload=par_payload(i),
                                        workdir=str(self.tmp / "jobs-publish")))
        shutil.rmtree(self.tmp / "jobs-publish")
        return total

    def pull(self, where: str, jobs: int) -> Sample:
        self.n += 1
        base = self.tmp / "jobs-dests" / f"{where}-j{jobs}-{self.n}"
        base.mkdir(parents=True)
        out = base / "pull.json"
        try:
            sample = timing.run_cmd(werfpull("pull", self.repos[where], "--jobs", str(jobs),
                                             "--dest", store(base), "--insecure-registry",
                                             "--format", "json", "--dir", str(self.project)),
                                    cwd=ROOT, env=self.env, stdout=out)
            doc = json.loads(out.read_text())
        finally:
            shutil.rmtree(base, ignore_errors=True)
        assert len(doc["pulled"]) == PAR_IMAGES and not doc["failed"], doc
        self.apply_seconds.setdefault(f"{where} {jobs}", []).append(doc["seconds"])
        self.bytes = doc["bytes"]
        return sample


def _paired(stats: dict, a: str, b: str) -> float:
    """The median over rounds of a's time / b's time in the same round: each round ran
    its variants back to back, so a slow spell of the machine cancels out of each ratio."""
    return _median([x / y for x, y in zip(stats[a]["samples"], stats[b]["samples"],
                                          strict=True)])


def _fastest(speedup: dict, where: str) -> int:
    """The smallest --jobs whose paired speed-up is within TOLERANCE of the best one."""
    best = max(speedup[f"{where} {j}"] for j in JOBS)
    return next(j for j in JOBS if speedup[f"{where} {j}"] >= best / (1 + TOLERANCE))


# Doubling the copies at once doubles the connections to the registry; below this gain
# over the capped link, the default does not pay that.
KNEE = 1.5


def _knee(speedup: dict, where: str) -> int:
    """The --jobs after which doubling gains less than KNEE (JOBS double each step)."""
    for j, nxt in zip(JOBS, JOBS[1:], strict=False):
        if speedup[f"{where} {nxt}"] / speedup[f"{where} {j}"] < KNEE:
            return j
    return JOBS[-1]


def run_jobs(tmp: Path, registry, n_rounds: int) -> dict:
    from tests.support.faultproxy import FaultProxy

    proxy = FaultProxy.for_registry(registry, max_seconds=3600).start()
    proxy.throttle(LINK_RATE)
    try:
        jobs = Jobs(tmp, registry, proxy)
        timing.progress(f"{NAME}: publishing {PAR_IMAGES} independent stages")
        published = jobs.publish()
        timing.progress(f"{NAME}: {n_rounds} rounds of --jobs {', '.join(map(str, JOBS))}, "
                        "over loopback and over a throttled proxy, each into a fresh "
                        "containers-storage root")
        stats = timing.interleave(
            [Variant(f"{where} {j}", lambda w=where, j=j: jobs.pull(w, j))
             for where in ("loopback", "link") for j in JOBS], n_rounds, f"{NAME} jobs")
    finally:
        proxy.stop()
    warm = 1  # interleave's warm-up run is the first sample of apply_seconds
    apply = {k: _median(v[warm:]) for k, v in jobs.apply_seconds.items()}
    places = ("loopback", "link")
    paired = {f"{w} {j}": _paired(stats, f"{w} 1", f"{w} {j}") for w in places for j in JOBS}
    fastest = {w: _fastest(paired, w) for w in places}
    return {"published": published, "bytes": jobs.bytes, "rounds": n_rounds, "stats": stats,
            "apply": apply, "link_rate": LINK_RATE,
            "speedup": {f"{w} {j}": timing.ratio(stats, f"{w} {j}", f"{w} 1")
                        for w in places for j in JOBS},
            "paired": paired, "fastest": fastest,
            # Loopback shows what werfpull, skopeo and the storage driver cost; the capped
            # link what the network does. The default serves both: the larger of the two.
            "knee": _knee(paired, "link"),
            "recommended": max(fastest["loopback"], _knee(paired, "link"))}


def run(quick: bool) -> dict:
    from werfpull.apply.transfer import DEFAULT_JOBS

    bytes_rounds = timing.rounds(quick, full=3, fast=1)
    jobs_rounds = timing.rounds(quick, full=5, fast=2)
    with fixtures.tempdir("pull") as tmp:
        registry = fixtures.Registry(tmp / "registry")
        registry.start()
        try:
            moved = run_bytes(tmp, registry, bytes_rounds)
            par = run_jobs(tmp, registry, jobs_rounds)
        finally:
            registry.close()
    res = moved["results"]
    ratios = {}
    for kind in ("containers-storage", "oci"):
        pull = res[f"{kind} pull"]["median_run"]["bytes"]
        ratios[kind] = {
            "pull/minimum": pull / res[f"{kind} pull"]["minimum"]["total"],
            "all-stages/pull": res[f"{kind} all-stages"]["median_run"]["bytes"] / pull,
            "final images/pull": res[f"{kind} final images"]["median_run"]["bytes"] / pull,
        }
    cs = res["containers-storage pull -j1"]["median_run"]["bytes"]
    ratios["containers-storage"]["pull -j1/minimum"] = (
        cs / res["containers-storage pull -j1"]["minimum"]["total"])
    headline = []
    for kind in ("containers-storage", "oci"):
        r = ratios[kind]
        headline += [
            {"metric": f"pull / minimum bytes, {kind}", "value": r["pull/minimum"], "unit": "x",
             "target": f"<= {TARGET}x", "met": r["pull/minimum"] <= TARGET},
            {"metric": f"--all-stages / pull bytes, {kind}", "value": r["all-stages/pull"],
             "unit": "x", "target": None, "met": None},
            {"metric": f"final images / pull bytes, {kind}", "value": r["final images/pull"],
             "unit": "x", "target": None, "met": None},
        ]
    d = DEFAULT_JOBS if DEFAULT_JOBS in JOBS else JOBS[-1]
    for where in ("loopback", "link"):
        headline += [
            {"metric": f"pull of 8 stages, {where}, --jobs 1",
             "value": par["stats"][f"{where} 1"]["median"], "unit": "s", "target": None,
             "met": None},
            {"metric": f"pull of 8 stages, {where}, --jobs {d} (default)",
             "value": par["stats"][f"{where} {d}"]["median"], "unit": "s", "target": None,
             "met": None},
            {"metric": f"speed-up --jobs {d} / --jobs 1, {where} (paired)",
             "value": par["paired"][f"{where} {d}"], "unit": "x", "target": None, "met": None},
        ]
    headline.append({"metric": "recommended DEFAULT_JOBS", "value": par["recommended"],
                     "unit": "", "target": f"now {DEFAULT_JOBS}", "met": None})
    return {"payload": PAYLOAD, "target": TARGET, "bytes_rounds": bytes_rounds,
            "moved": moved, "ratios": ratios, "parallel": par, "default_jobs": DEFAULT_JOBS,
            "headline": headline}


# -- the section ---------------------------------------------------------------------------


def _mb(n: float) -> str:
    return f"{n / 1e6:.3f} MB"


def _range(values: list[int]) -> str:
    lo, hi = min(values), max(values)
    return "same in every round" if lo == hi else f"{lo:,} – {hi:,}"


def _n(count: int, noun: str) -> str:
    if count == 1:
        return f"{count} {noun}"
    return f"{count} {noun}{'es' if noun.endswith('h') else 's'}"


def _explain(a: dict) -> str:
    """The bytes above the minimum, by cause."""
    parts = [f"HTTP response heads {a['heads']:,}"]
    if a["extra_manifests"]:
        parts.append(f"manifests fetched again {a['extra_manifests']:,}")
    if a["repeat_blob_bytes"]:
        parts.append(f"blobs fetched twice {a['repeat_blob_bytes']:,} "
                     f"({_n(a['repeat_blobs'], 'fetch')} more)")
    if a["unneeded_blob_bytes"]:
        parts.append(f"blobs outside the minimum {a['unneeded_blob_bytes']:,}")
    if a["small_bodies"]:
        parts.append(f"small bodies (pings, 404s, tag lists, TLS refusals) "
                     f"{a['small_bodies']:,}")
    if a["unlogged"]:
        parts.append(f"not in the request log {a['unlogged']:,}")
    return " + ".join(parts)


def _duplicates_text(res: dict, result: dict) -> str:
    a = res["containers-storage pull"]["median_run"]["analysis"]
    if not a["repeat_blob_bytes"]:
        return ""
    j1 = result["ratios"]["containers-storage"]["pull -j1/minimum"]
    return (f"Into containers-storage, `werfpull pull` (`--jobs {result['default_jobs']}`) "
            f"downloaded {_n(a['repeat_blobs'], 'layer')} twice ({a['repeat_blob_bytes']:,} "
            "bytes): "
            "its copies of stages that share layers (backend's install is inside frontend's "
            "setup) run at the same time, and containers-storage reuses a layer only after a "
            "copy has committed it, so both copies fetch it. With `--jobs 1` the later copy "
            f"reuses the layer ({j1:.4f}x the minimum), and copies into `oci:` run one at a "
            "time anyway. How many layers double depends on which copies overlap, so the "
            "count varies between runs (see the last column).\n\n")


def markdown(result: dict) -> str:
    m, par = result["moved"], result["parallel"]
    res = m["results"]
    kinds = (("containers-storage", "containers-storage (vfs, isolated root)"),
             ("oci", "`oci:` layout"))
    labels = {"pull": "`werfpull pull`", "pull -j1": "`werfpull pull --jobs 1`",
              "all-stages": "`werfpull pull --all-stages`",
              "final images": "final images (`skopeo copy` x4)"}
    rows, explain = [], []
    for kind, kind_label in kinds:
        pull = res[f"{kind} pull"]["median_run"]["bytes"]
        for variant in ("pull", "pull -j1", "all-stages", "final images"):
            key = f"{kind} {variant}"
            if key not in res:
                continue
            r = res[key]
            run_, mini = r["median_run"], r["minimum"]
            a = run_["analysis"]
            rows.append([kind_label, labels[variant], f"**{run_['bytes']:,}**",
                         f"{mini['total']:,}", f"{run_['bytes'] / mini['total']:.4f}x",
                         f"{run_['bytes'] / pull:.3f}x", str(a["requests"]),
                         report.seconds(r["seconds"]), _range(r["bytes"])])
            explain.append(f"- {kind_label}, {labels[variant]}: {run_['bytes'] - mini['total']:+,}"
                           f" bytes = {_explain(a)}.")
    table = report.table(["destination", "fetch", "bytes at the proxy", "its minimum",
                          "/ its minimum", "/ `pull`", "requests", "time", "bytes over rounds"],
                         rows, "llrrrrrrl")
    # The request log of one pull, taken apart.
    cs = res["containers-storage pull"]["median_run"]["analysis"]
    log_rows = [[KIND_LABELS[k], str(v["requests"]), f"{v['head']:,}", f"{v['body']:,}"]
                for k, v in sorted(cs["rows"].items(), key=lambda kv: -kv[1]["body"])]
    log_rows.append(["**total**", str(cs["requests"]), f"{cs['heads']:,}",
                     f"{cs['bodies']:,}"])
    log_table = report.table(["request", "count", "head bytes", "body bytes"], log_rows, "lrrr")
    ratio_cs = result["ratios"]["containers-storage"]
    ratio_oci = result["ratios"]["oci"]
    mini = res["containers-storage pull"]["minimum"]
    met = {k: result["ratios"][k]["pull/minimum"] <= result["target"]
           for k in ("containers-storage", "oci")}
    chosen = ", ".join(f"{c['stage']} of {' and '.join(c['images'])} ({c['layers']} layers, "
                       f"{c['size'] / 1e6:.2f} MB)" for c in m["chosen"])
    fx = m["fixture"]

    s = par["stats"]

    def cell(key: str) -> str:
        return (f"**{report.seconds(s[key]['median'])}** ({report.seconds(s[key]['min'])} – "
                f"{report.seconds(s[key]['max'])})")

    def up(key: str) -> str:
        return f"{par['speedup'][key]:.2f}x / **{par['paired'][key]:.2f}x**"

    jrows = [[f"`--jobs {j}`", cell(f"loopback {j}"), report.seconds(par["apply"][f"loopback {j}"]),
              up(f"loopback {j}"), cell(f"link {j}"), report.seconds(par["apply"][f"link {j}"]),
              up(f"link {j}")] for j in JOBS]
    jtable = report.table(["", "loopback: median (min – max)", "copy phase",
                           "speed-up vs `--jobs 1`", f"{par['link_rate'] / 1e6:.0f} MB/s per "
                           "connection: median (min – max)", "copy phase",
                           "speed-up vs `--jobs 1`"], jrows, "lrrrrrr")
    rec, now = par["recommended"], result["default_jobs"]
    fast = par["fastest"]
    near = [j for j in JOBS
            if par["paired"][f"loopback {j}"] >= max(par["paired"][f"loopback {k}"]
                                                      for k in JOBS) / (1 + TOLERANCE)]
    link_gain = par["paired"][f"link {JOBS[-1]}"] / par["paired"][f"link {rec}"]
    rec_text = (
        f"Over loopback, `--jobs` {', '.join(map(str, near))} are within {TOLERANCE:.0%} of the "
        f"best paired speed-up ({max(par['paired'][f'loopback {j}'] for j in JOBS):.2f}x). "
        f"**Recommended `DEFAULT_JOBS`: {rec}** ("
        + (f"now {now}: unchanged" if rec == now else f"now {now}: the measurements say {rec}")
        + f"), the larger of the smallest `--jobs` within {TOLERANCE:.0%} of the best paired "
        f"speed-up over loopback and the `--jobs` after which doubling gains less than "
        f"{KNEE}x over the throttled link ({par['knee']}). Over that link the speed-up keeps "
        f"growing up to {fast['link']} "
        + (f"(`--jobs {JOBS[-1]}` is {link_gain:.2f}x faster than `--jobs {rec}` there)"
           if rec != JOBS[-1] else "")
        + ", but the proxy caps each connection, not their sum: on a link that a few "
        "streams already fill, more copies at once gain nothing, and each copy at once is "
        "another skopeo process, and, into containers-storage, more stages that share "
        "layers downloading them at the same time (see Bytes moved above).")
    nproc = result["meta"]["machine"]["nproc"]
    return (
        f"## {TITLE}\n\n"
        f"{report.provenance(result['meta'])}\n"
        "### Bytes moved\n\n"
        f"The seed scenario of issue 3: a 4-image project (backend and frontend share `from`, "
        f"`beforeInstall` and `install`; worker shares `from`; docs has its own), "
        f"{fx['stages']} stages, {fx['published']} distinct, all published to a "
        f"docker-registry on 127.0.0.1 in {fx['seconds']} s (each stage is its previous stage's "
        f"layers plus one layer of {result['payload'] / 1e6:.1f} MB of incompressible data). "
        f"Then backend's `beforeSetup` changed (a commit). Every fetch starts from an empty "
        f"destination and goes through a TCP proxy in front of the registry, which counts "
        f"every byte the registry sends (HTTP heads included, nothing subtracted) and logs "
        f"each request. The plan (inventory `{m['inventory']}`) chose {len(m['chosen'])} "
        f"stages: {chosen}; `--all-stages` takes {m['all_stages_count']}. Minimum: the "
        f"distinct blobs (layers and configs) plus the manifests of the chosen stages, "
        f"{mini['blob_count']} blobs and {mini['images']} manifests, {mini['total']:,} bytes "
        f"(equal to the plan's `download`, checked against the registry's manifests); the "
        f"final images' minimum is that of the 4 final stages of the old config. "
        f"{result['bytes_rounds']} round(s); the row shows the run with the median byte "
        f"count.\n\n"
        + table
        + f"\n**Target: `werfpull pull` within {result['target']}x of the minimum: "
        f"{'met' if met['containers-storage'] else 'MISSED'} into containers-storage "
        f"({ratio_cs['pull/minimum']:.4f}x), {'met' if met['oci'] else 'MISSED'} into "
        f"`oci:` ({ratio_oci['pull/minimum']:.4f}x).** `--all-stages` moves "
        f"{ratio_cs['all-stages/pull']:.3f}x (containers-storage) and "
        f"{ratio_oci['all-stages/pull']:.3f}x (`oci:`) the bytes of `pull`; pulling the "
        f"final images {ratio_cs['final images/pull']:.3f}x and "
        f"{ratio_oci['final images/pull']:.3f}x.\n\n"
        + _duplicates_text(res, result)
        + "Every byte above each minimum, from the proxy's request log:\n\n"
        + "\n".join(explain) + "\n\n"
        "The request log of the `werfpull pull` into containers-storage (planning and "
        "copying):\n\n"
        + log_table
        + "\nWhy the rows come out as they do: a stage image is its previous stage plus one "
        "layer, so every stage below a pulled one is already inside it, and "
        "`--all-stages` adds only those stages' manifests and configs (plus a skopeo "
        "process each, and into containers-storage more copies overlapping on shared "
        "layers); the final images of the old config carry backend's old "
        "`beforeSetup` and `setup` layers, which the new build cannot use. Every skopeo "
        "process first tries https (the plain-HTTP registry answers 400) and then pings "
        "`/v2/`; planning reads each chosen stage's manifest (its digest and sizes go into "
        "the plan) and the copy reads it again by digest.\n\n"
        "### Parallel copies\n\n"
        f"`werfpull pull REPO --jobs J --dest containers-storage:[vfs@ROOT+RUNROOT]` of "
        f"{PAR_IMAGES} independent stages (8 images with different `from`, one stage each, "
        f"2.0 to 4.8 MB, {par['bytes'] / 1e6:.1f} MB in all), each run into a fresh root "
        f"(made and removed untimed), (1) straight from the registry on 127.0.0.1 and (2) "
        f"through the proxy throttling every connection to {par['link_rate'] / 1e6:.0f} MB/s, "
        f"a stand-in for a link where one stream is limited by latency and window, not by "
        f"CPU. All {2 * len(JOBS)} variants in each of {par['rounds']} interleaved rounds, "
        f"after one warm-up each. Wall time includes planning (start-up and {PAR_IMAGES} "
        f"probes, the same for every J); the copy phase is the pull's own `seconds`.\n\n"
        + jtable
        + f"\nSpeed-ups: ratio of the medians / **median of the per-round ratios** (paired: "
        "each round ran every variant back to back, so a slow spell of the shared machine "
        "cancels out of each round's ratio). "
        f"{rec_text} On {nproc} CPUs over loopback a copy is bound by CPU (skopeo "
        "decompressing, the vfs driver writing); copies at once overlap one copy's "
        "start-up and waiting with another's work.\n"
    )
