"""fleet-16-hosts: 16 host processes pulling one plan at once through a pull-through cache.

An origin docker-registry holds the stages of an 8-image project (each final stage
3 layers of PAYLOAD bytes, the lower two shared by all images). A cache stands in
front of it as the fleet's near registry, and a registries.conf drop-in routes copies
by digest to it (`pull-from-mirror = "digest-only"`), falling back to the origin. Two
engines: Docker Distribution 2.8 in `proxy` mode (tests/support/pullthrough.py), and
nginx caching the reads by digest with `proxy_cache_lock` (tests/support/blobcache.py),
which sends one request per digest to the origin however many hosts miss it at once.
The plan is made once against the origin; then HOSTS `werfpull apply PLAN --dest oci:HOST_DIR`
processes run at once, each into its own OCI layout (16 containers-storage roots with
the vfs driver on 2 CPUs would measure the disk, not the fleet). Every byte the
origin sends is counted at two fault proxies: the one the cache reads through and
the one werfpull itself would fall back to.

  one host                 a single apply, cold Distribution cache: the baseline
  16 at once               16 applies started together, cold Distribution cache
  1 then 15                one apply warms the Distribution cache, then 15 at once
  16, no cache             16 at once straight to the origin (no route)
  one host, nginx          a single apply, cold nginx cache
  16 at once, nginx        16 applies started together, cold nginx cache

Target (issue 15): origin bytes of 16 hosts at most 1.1x one host's (through the same
cache); every host complete and verified (each stage's manifest digest is the plan's).
The fleet's wall time is reported against one host's.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench import fixtures, report, timing
from bench.timing import ROOT
from bench.vs_skopeo import settle

NAME = "fleet-16-hosts"
TITLE = "A fleet of 16 hosts pulling one plan through a pull-through cache"
HOSTS = 16
IMAGES = 8
PAYLOAD = 2_000_000
TARGET = 1.1
SCENARIOS = {  # name: (cache engine or None, hosts, warmed first by one apply)
    "one host": ("distribution", 1, False),
    "16 at once": ("distribution", HOSTS, False),
    "1 then 15": ("distribution", HOSTS - 1, True),
    "16, no cache": (None, HOSTS, False),
    "one host, nginx": ("nginx", 1, False),
    "16 at once, nginx": ("nginx", HOSTS, False),
}


def project_yaml() -> str:
    return "project: bench-fleet\nconfigVersion: 1\n" + "".join(
        f"---\nimage: img{i}\nfrom: alpine:3.18\nshell:\n  beforeInstall: [apk add base]\n"
        f"  install: [make {i}]\n" for i in range(IMAGES))


class Fleet:
    def __init__(self, tmp: Path, registry):
        from tests.support.faultproxy import FaultProxy
        from tests.support.stages import publish_stages

        self.tmp, self.registry = tmp, registry
        project = tmp / "project"
        project.mkdir()
        (project / "werf.yaml").write_text(project_yaml())
        env = fixtures.git_env(tmp / "home", identity=True)
        for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "c"]):
            subprocess.run(["git", *args], cwd=project, env=env, check=True,
                           capture_output=True)
        self.path = "bench/fleet"
        publish_stages(registry.repo(self.path), str(project), payload=PAYLOAD,
                       workdir=str(tmp / "publish"))
        shutil.rmtree(tmp / "publish")
        self.direct = FaultProxy.for_registry(registry, max_seconds=3600).start()
        self.upstream = FaultProxy.for_registry(registry, max_seconds=3600).start()
        self.origin = f"{self.direct.host}/{self.path}"
        self.env = timing.werfpull_env()
        self.plan_path = tmp / "plan.json"
        timing.run_cmd([sys.executable, "-m", "werfpull", "plan", self.origin, "--dir",
                        str(project), "--insecure-registry", "--dest", f"oci:{tmp}/none",
                        "--out", str(self.plan_path)], cwd=ROOT, env=self.env)
        self.plan = json.loads(self.plan_path.read_text())
        self.n = 0

    def stop(self) -> None:
        self.direct.stop()
        self.upstream.stop()

    def scenario(self, name: str) -> dict:
        from tests.support.pullthrough import route

        engine, count, warm = SCENARIOS[name]
        self.n += 1
        work = self.tmp / f"run-{self.n}"
        cache = self._cache(engine, work)
        try:
            with route(self.origin, f"{cache.host}/{self.path}") if cache \
                    else contextlib.nullcontext():
                if warm:
                    self._apply_all(work, ["warm"])
                for proxy in (self.direct, self.upstream):
                    proxy.reset_counters()
                hosts = [f"h{i:02d}" for i in range(count)]
                t0 = time.perf_counter()
                seconds = self._apply_all(work, hosts)
                wall = time.perf_counter() - t0
                origin = sum(settle(p) for p in (self.direct, self.upstream))
            verified = all(self._verified(work / h) for h in hosts)
        finally:
            if cache:
                cache.stop()
            shutil.rmtree(work, ignore_errors=True)
        return {"hosts": len(hosts), "wall": round(wall, 3), "origin_bytes": origin,
                "host_seconds": seconds, "verified": verified}

    def _cache(self, engine: str | None, work: Path):
        """The started cache in front of the counting proxy, or None."""
        from tests.support.blobcache import BlobCache
        from tests.support.pullthrough import PullThroughCache

        if engine == "distribution":
            return PullThroughCache(work / "cache", f"http://{self.upstream.host}").start()
        if engine == "nginx":
            return BlobCache(work / "nginx", self.upstream.host).start()
        return None

    def _apply_all(self, work: Path, hosts: list[str]) -> list[float]:
        """Start one `werfpull apply` per host at once; wait for all; their seconds."""
        seconds: dict[str, float] = {}
        errors: list[str] = []

        def one(host: str) -> None:
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "werfpull", "apply",
                                   str(self.plan_path), "--dest", f"oci:{work / host}",
                                   "--force", "--insecure-registry", "--format", "json"],
                                  cwd=ROOT, env=self.env,
                                  capture_output=True, text=True)
            seconds[host] = time.perf_counter() - t0
            if proc.returncode != 0:
                errors.append(f"{host}: {proc.stderr[-500:]}")

        threads = [threading.Thread(target=one, args=(h,)) for h in hosts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise timing.CommandFailed("\n".join(errors))
        return [round(seconds[h], 3) for h in hosts]

    def _verified(self, layout: Path) -> bool:
        from tests.support.stages import landed, raw_digest

        want = {f"{self.plan['repo']}:{p['tag']}": p["digest"] for p in self.plan["pulls"]}
        dest = f"oci:{layout}"
        return landed(dest) == want and all(raw_digest(f"{dest}:{n}") == d
                                            for n, d in want.items())


def run(quick: bool) -> dict:
    n_rounds = timing.rounds(quick, full=2, fast=1)
    with fixtures.tempdir("fleet") as tmp:
        registry = fixtures.Registry(tmp / "registry")
        registry.start()
        fleet = None
        try:
            fleet = Fleet(tmp, registry)
            runs: dict[str, list[dict]] = {s: [] for s in SCENARIOS}
            for r in range(n_rounds):
                for name in SCENARIOS:
                    runs[name].append(fleet.scenario(name))
                timing.progress(f"fleet round {r + 1}/{n_rounds}: " + ", ".join(
                    f"{n} {v[-1]['wall']:.2f}s {v[-1]['origin_bytes']:,} B"
                    for n, v in runs.items()))
            distinct = fleet.plan["download"]
        finally:
            if fleet:
                fleet.stop()
            registry.stop()
    med = {n: _median(v) for n, v in runs.items()}
    ratio = med["16 at once"]["origin_bytes"] / med["one host"]["origin_bytes"]
    warm = med["1 then 15"]["origin_bytes"] / med["one host"]["origin_bytes"]
    nginx = (med["16 at once, nginx"]["origin_bytes"]
             / med["one host, nginx"]["origin_bytes"])
    complete = all(r["verified"] for v in runs.values() for r in v)
    return {"runs": runs, "median": med, "rounds": n_rounds, "download": distinct,
            "headline": [
                {"metric": "origin bytes, 16 hosts at once / one host, nginx cache",
                 "value": nginx, "unit": "x", "target": f"<= {TARGET}x",
                 "met": nginx <= TARGET},
                {"metric": "origin bytes, 16 hosts at once / one host, Distribution cache",
                 "value": ratio, "unit": "x", "target": f"<= {TARGET}x", "met": ratio <= TARGET},
                {"metric": "origin bytes, 15 hosts after one warmed the cache / one host",
                 "value": warm, "unit": "x", "target": f"<= {TARGET}x", "met": warm <= TARGET},
                {"metric": "every host complete and verified", "value": int(complete),
                 "unit": "", "target": "1", "met": complete},
                {"metric": "fleet wall time, 16 at once / one host, nginx cache", "unit": "x",
                 "value": med["16 at once, nginx"]["wall"] / med["one host, nginx"]["wall"],
                 "target": None, "met": None},
                {"metric": "fleet wall time, 16 at once / one host, Distribution cache",
                 "unit": "x", "value": med["16 at once"]["wall"] / med["one host"]["wall"],
                 "target": None, "met": None}]}


def _median(runs: list[dict]) -> dict:
    import statistics

    return {k: statistics.median(r[k] for r in runs) for k in ("wall", "origin_bytes")}


def markdown(result: dict) -> str:
    def one(name: str) -> dict:  # the single host through the same cache
        return result["median"]["one host, nginx" if "nginx" in name else "one host"]

    rows = [[name, str(result["runs"][name][0]["hosts"]), report.seconds(m["wall"]),
             f"{m['wall'] / one(name)['wall']:.2f}x", f"{int(m['origin_bytes']):,}",
             f"{m['origin_bytes'] / one(name)['origin_bytes']:.2f}x"]
            for name, m in result["median"].items()]
    return "\n".join([
        f"## {TITLE}\n", report.provenance(result["meta"]), __doc__.split("\n\n", 1)[1],
        f"{result['rounds']} round(s), medians; the plan's distinct bytes are "
        f"{result['download']:,}.\n",
        report.table(["scenario", "hosts", "wall", "vs one host", "origin bytes",
                      "vs one host"], rows, "lrrrrr"),
        "\n" + report.table(["target", "value", "result"], [
            [h["metric"], f"{h['value']:.2f}{h['unit']}", report.verdict(h["met"])]
            for h in result["headline"]], "lrl")])
