"""pull-docker-daemon: `werfpull pull --dest docker-daemon` against `docker load` of the
same stages from an archive, and what the daemon's faults cost.

A 3-image project (tests/support/pulls.py's PULL_PROJECT: two images share their final
stage, the third imports an artifact) has every stage published to a real
docker-registry on 127.0.0.1, each stage one layer of PAYLOAD incompressible bytes
over its previous stage. A real dockerd (tests/support/dockerd.py: vfs, its own socket
and data root) is emptied before every timed run. Per interleaved round:

  werfpull pull   `werfpull pull REPO --dest docker-daemon` (plan, then copy; default
                  --jobs), with DOCKER_HOST naming the daemon
  werfpull plan   `werfpull plan` alone, into the emptied daemon: what of the pull
                  is planning (registry probes, the daemon's inventory)
  docker load     `docker load -i stages.tar` of the very stages that pull lands,
                  saved once with `docker save` (the floor: the daemon's own import
                  of the same bytes, without a registry)

The ratio pull / load comes from the medians of the same rounds. Then, once each,
the reliability figures quoted in docs/reliability.md: the bytes a rerun moves
(counted at a TCP proxy in front of the registry, tests/support/faultproxy.py), the
bytes the pull after one wrong local stage moves, and the time `plan` and `pull`
take to fail on a stopped daemon.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from bench import fixtures, report, timing
from bench.timing import ROOT, Variant

NAME = "pull-docker-daemon"
TITLE = "Pull into a docker daemon, against docker load of the same stages"
PAYLOAD = 4_000_000  # incompressible bytes in each stage's own layer
QUICK_PAYLOAD = 1_000_000


def werfpull(*args: str) -> list[str]:
    return [sys.executable, "-m", "werfpull", *args]


class Setup:
    def __init__(self, tmp: Path, registry, proxy, daemon, payload: int):
        from tests.support.pulls import PULL_PROJECT as PROJECT

        self.tmp, self.registry, self.proxy, self.daemon = tmp, registry, proxy, daemon
        self.upstream = registry.repo("bench/daemon-stages")
        self.repo = proxy.repo(self.upstream)
        self.project = tmp / "project"
        self.project.mkdir()
        (self.project / "werf.yaml").write_text(PROJECT)
        env = fixtures.git_env(tmp / "home", identity=True)
        for args in (("init", "-q", "-b", "main"), ("add", "-A"), ("commit", "-q", "-m", "v1")):
            subprocess.run(["git", *args], cwd=self.project, env=env, check=True,
                           capture_output=True)
        from tests.support.stages import publish_stages

        publish_stages(self.upstream, str(self.project), payload=payload,
                       workdir=str(tmp / "publish"))
        self.env = dict(timing.werfpull_env(), DOCKER_HOST=daemon.host)
        self.archive = tmp / "stages.tar"

    def args(self, command: str, *extra: str) -> list[str]:
        return werfpull(command, self.repo, "--dest", "docker-daemon", "--insecure-registry",
                        "--dir", str(self.project), *extra)

    def run(self, command: str, *extra: str) -> subprocess.CompletedProcess:
        return subprocess.run(self.args(command, *extra), cwd=ROOT, env=self.env,
                              capture_output=True, text=True, timeout=600)

    def plan(self) -> dict:
        return json.loads(self.run("plan", "--format", "json").stdout)

    def expected(self, plan: dict) -> dict[str, str]:
        return {f"{plan['repo']}:{p['tag']}": p["layers"][0][0] for p in plan["pulls"]}

    def pull(self) -> timing.Sample:
        self.daemon.clear()
        return timing.run_cmd(self.args("pull"), cwd=ROOT, env=self.env)

    def plan_only(self) -> timing.Sample:
        self.daemon.clear()
        return timing.run_cmd(self.args("plan"), cwd=ROOT, env=self.env)

    def load(self) -> timing.Sample:
        self.daemon.clear()
        return timing.run_cmd([*self.daemon_cli(), "load", "-q", "-i", str(self.archive)])

    def daemon_cli(self) -> list[str]:
        return ["docker", "--host", self.daemon.host]

    def bytes_of(self, fn) -> int:
        self.proxy.reset_counters()
        fn()
        time.sleep(0.2)  # the proxy counts the last chunks just after they are sent
        return self.proxy.stats()["bytes_down"]


def measure(s: Setup, quick: bool) -> dict:
    plan = s.plan()
    want = s.expected(plan)
    s.pull()
    if s.daemon.images() != want:
        raise RuntimeError(f"the pull landed {s.daemon.images()}, the plan says {want}")
    subprocess.run([*s.daemon_cli(), "save", "-o", str(s.archive), *sorted(want)], check=True,
                   capture_output=True)

    def check() -> None:
        if s.daemon.images() != want:
            raise RuntimeError("the daemon does not hold exactly the planned stages")

    stats = timing.interleave([Variant("werfpull pull", s.pull, check=check),
                               Variant("werfpull plan", s.plan_only),
                               Variant("docker load", s.load, check=check)],
                              timing.rounds(quick), NAME)
    return {"plan": {"pulls": len(plan["pulls"]), "download": plan["download"]},
            "archive_bytes": s.archive.stat().st_size, "stats": stats,
            "ratio": timing.ratio(stats, "docker load", "werfpull pull")}


def faults(s: Setup) -> dict:
    s.daemon.clear()
    plan = s.plan()
    want = s.expected(plan)
    first = s.bytes_of(lambda: s.run("pull"))
    rerun = s.bytes_of(lambda: s.run("pull"))
    right, other = sorted(want)
    subprocess.run([*s.daemon_cli(), "tag", other, right], check=True, capture_output=True)
    sig = right.rsplit("image-stage-", 1)[1]
    size = next(p["size"] for p in plan["pulls"] if p["signature"] == sig)
    repair = s.bytes_of(lambda: s.run("pull"))
    repaired = s.daemon.images() == want
    killed = kill_mid_pull(s, want)
    s.daemon.stop()
    stopped = {}
    try:
        for command in ("plan", "pull"):
            t0 = time.perf_counter()
            proc = s.run(command)
            stopped[command] = {"seconds": time.perf_counter() - t0, "exit": proc.returncode,
                                "message": proc.stderr.strip().splitlines()[-1]}
    finally:
        s.daemon.start()
    return {"first_bytes": first, "rerun_bytes": rerun, "repair_bytes": repair,
            "repair_stage_size": size, "repaired": repaired, "stopped": stopped,
            "killed": killed}


def kill_mid_pull(s: Setup, want: dict[str, str]) -> dict:
    """SIGKILL the daemon while a throttled pull copies; time to fail, then the rerun."""
    s.daemon.clear()
    s.proxy.throttle(2_000_000)
    proc = subprocess.Popen(s.args("pull"), cwd=ROOT, env=s.env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    s.proxy.reset_counters()
    while s.proxy.stats()["bytes_down"] < 2_000_000 and proc.poll() is None:
        time.sleep(0.02)
    s.daemon.kill()
    t0 = time.perf_counter()
    code = proc.wait(120)
    seconds = time.perf_counter() - t0
    message = proc.stderr.read().strip().splitlines()[-1]
    s.proxy.throttle(None)
    s.daemon.start()
    wrong = {n: i for n, i in s.daemon.images().items() if want.get(n) != i}
    rerun = s.bytes_of(lambda: s.run("pull"))
    return {"exit": code, "seconds": seconds, "message": message, "wrongly_tagged": len(wrong),
            "rerun_bytes": rerun, "complete": s.daemon.images() == want}


def run(quick: bool) -> dict:
    from tests.support.dockerd import Dockerd
    from tests.support.faultproxy import FaultProxy

    with fixtures.tempdir("daemon") as tmp, fixtures.Registry(workdir=tmp / "registry") as reg, \
            FaultProxy.for_registry(reg, max_seconds=3600) as proxy, \
            Dockerd(tmp / "dockerd") as daemon:
        s = Setup(tmp, reg, proxy, daemon, QUICK_PAYLOAD if quick else PAYLOAD)
        result = {"payload": QUICK_PAYLOAD if quick else PAYLOAD, **measure(s, quick),
                  "faults": faults(s)}
    result["headline"] = [{"metric": "pull into docker daemon / docker load",
                           "value": result["ratio"], "unit": "x", "target": None, "met": None}]
    return result


def markdown(result: dict) -> str:
    st, f = result["stats"], result["faults"]
    k = f["killed"]
    rows = [[f"`{name}`", *report.stats_cells(st[name])]
            for name in ("werfpull pull", "werfpull plan", "docker load")]
    table = report.table(["into an empty daemon", "median", "min", "max", "runs"], rows, "lrrrr")
    stopped = "; ".join(f"`{c}` exits {v['exit']} after {report.seconds(v['seconds'])}"
                        for c, v in f["stopped"].items())
    return f"""## {TITLE}

{report.provenance(result["meta"])}
{result["plan"]["pulls"]} planned stages ({result["plan"]["download"]:,} bytes to download,
{result["archive_bytes"]:,} bytes as a `docker save` archive), each stage's own layer
{result["payload"]:,} incompressible bytes; dockerd 20.10 with the vfs driver, emptied
before every run. `werfpull pull` plans (registry and daemon inventory), copies with
skopeo through `docker load`, and checks each stage's image ID.

{table}

**werfpull pull / docker load: {result["ratio"]:.2f}x**, of which planning is
{report.seconds(st["werfpull plan"]["median"])} (the pull also fetches every byte from the
registry, which `docker load` reads from a local file). No target: docker load of a
local archive is the floor, not a rival.

Faults, measured once (quoted in docs/reliability.md): the first pull moved
{f["first_bytes"]:,} bytes at the proxy, a rerun **{f["rerun_bytes"]:,}** (the plan's
manifest reads only); with one stage's name retagged to another image, the next pull
moved {f["repair_bytes"]:,} bytes (that stage is {f["repair_stage_size"]:,} bytes) and
{"repaired" if f["repaired"] else "did NOT repair"} it. Daemon stopped: {stopped}
("{f["stopped"]["pull"]["message"]}"). Daemon SIGKILLed mid-copy: `pull` exits
{k["exit"]} {report.seconds(k["seconds"])} after the kill, {k["wrongly_tagged"]} names
wrongly tagged after the restart; the rerun moved {k["rerun_bytes"]:,} bytes and
{"completed" if k["complete"] else "did NOT complete"} the pull.
"""
