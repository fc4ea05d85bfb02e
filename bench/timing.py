"""Measuring: one timed subprocess, interleaved rounds of variants, robust statistics.

Every benchmark compares variants (A and B, or more) measured side by side: round r
runs A, B, C, ... once each, so slow phases of a noisy machine hit every variant
alike, and ratios are taken between medians of the same rounds.
"""

from __future__ import annotations

import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `--runs N` overrides every benchmark's default number of rounds.
RUNS_OVERRIDE: int | None = None


def rounds(quick: bool, full: int = 5, fast: int = 2) -> int:
    """How many measured rounds a benchmark does in this run."""
    if RUNS_OVERRIDE is not None:
        return RUNS_OVERRIDE
    return fast if quick else full


def progress(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


@dataclass
class Sample:
    wall: float  # seconds
    # user + system seconds of the child and its waited-for children, from wait4. (Not
    # its peak RSS: Linux charges the forking parent's RSS to a child's ru_maxrss.)
    cpu: float = 0.0


class CommandFailed(RuntimeError):
    pass


def compile_werfpull() -> None:
    """Measure werfpull as installed: pip compiles a package's bytecode at install, while
    this checkout may hold none (an editable install, PYTHONDONTWRITEBYTECODE), and
    each measured start would compile every module again."""
    if not compileall.compile_dir(str(ROOT / "werfpull"), quiet=1):
        raise SystemExit("bench: could not compile werfpull's bytecode")


def werfpull_env() -> dict[str, str]:
    """Environment for `python3 -m werfpull`: this checkout's code, no stray config."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + (
        [env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    env.pop("REGISTRY_AUTH_FILE", None)
    return env


def run_cmd(argv: list[str], *, cwd: str | os.PathLike | None = None,
            env: dict | None = None, stdout: str | os.PathLike | None = None) -> Sample:
    """Run argv once and time it; stdout goes to /dev/null or the file `stdout`.

    Wall time from fork to reap, CPU time from wait4. A non-zero exit raises
    with the tail of stderr: a benchmark of a failing command measures nothing.
    """
    with (open(stdout or os.devnull, "wb") as out, tempfile.TemporaryFile() as err):
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            err.seek(0)
            tail = err.read().decode("utf-8", "replace").strip()[-1500:]
            raise CommandFailed(f"{' '.join(map(str, argv))} exited with {proc.returncode}:\n"
                                f"{tail}")
    return Sample(wall, usage.ru_utime + usage.ru_stime)


def process_cpu(pid: int) -> float:
    """User + system seconds a running process (a registry) has used so far."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()  # after "(comm)", which may hold spaces
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settled_cpu(pid: int, quiet: float = 0.1, limit: float = 2.0) -> float:
    """`process_cpu` once the process has stopped using CPU for `quiet` seconds (a
    request a client gave up on may still be running there), or after `limit`."""
    last, deadline = process_cpu(pid), time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = process_cpu(pid)
        if now == last:
            break
        last = now
    return last


def time_call(fn: Callable[[], object]) -> Sample:
    """Time an in-process call; CPU is this process's (all its threads)."""
    t0, c0 = time.perf_counter(), time.process_time()
    fn()
    return Sample(time.perf_counter() - t0, time.process_time() - c0)


@dataclass
class Stats:
    n: int
    median: float
    min: float
    max: float
    samples: list[float] = field(default_factory=list)
    cpu_median: float = 0.0

    @classmethod
    def of(cls, samples: list[Sample]) -> Stats:
        walls = [s.wall for s in samples]
        return cls(n=len(walls), median=statistics.median(walls), min=min(walls),
                   max=max(walls), samples=[round(w, 4) for w in walls],
                   cpu_median=statistics.median(s.cpu for s in samples))

    def to_json(self) -> dict:
        return asdict(self)


@dataclass
class Variant:
    name: str
    fn: Callable[[], Sample]
    rounds: int | None = None  # fewer rounds for an expensive variant; None: all
    warmup: bool = True  # one untimed run first (page cache, registry connections)
    check: Callable[[], None] | None = None  # validates the output after every run


def interleave(variants: list[Variant], n_rounds: int,
               label: str = "") -> dict[str, dict]:
    """Run the variants in rounds A, B, C, A, B, C, ...; {name: Stats.to_json()}."""
    for v in variants:
        if v.warmup:
            v.fn()
            if v.check:
                v.check()
    samples: dict[str, list[Sample]] = {v.name: [] for v in variants}
    for r in range(n_rounds):
        for v in variants:
            if v.rounds is not None and r >= v.rounds:
                continue
            samples[v.name].append(v.fn())
            if v.check:
                v.check()
        progress(f"{label} round {r + 1}/{n_rounds}: " + ", ".join(
            f"{name} {s[-1].wall:.3f}s" for name, s in samples.items() if len(s) == r + 1))
    return {name: Stats.of(s).to_json() for name, s in samples.items()}


def ratio(stats: dict, a: str, b: str) -> float:
    """median(b) / median(a), both from the same interleaved rounds."""
    return stats[b]["median"] / stats[a]["median"]
