"""Reporting: markdown tables, the machine description, and docs/benchmarks.md sections.

Each benchmark owns one generated section of docs/benchmarks.md, between
`<!-- bench:NAME -->` and `<!-- /bench:NAME -->`. Rewriting it leaves every other
line of the file alone; a section not in the file yet is appended at its end.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
from pathlib import Path

from bench.timing import ROOT

DOCS = ROOT / "docs" / "benchmarks.md"

DOCS_HEADER = """# Benchmarks

Generated sections below are rewritten by `make bench` (`python3 -m bench`).
"""


# -- formatting ----------------------------------------------------------------------------


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 0.1:
        return f"{value * 1000:.1f} ms"
    return f"{value:.3f} s"


def stats_cells(stats: dict) -> list[str]:
    """median, min, max, runs: the columns every timing table shows."""
    return [f"**{seconds(stats['median'])}**", seconds(stats["min"]), seconds(stats["max"]),
            str(stats["n"])]


def table(header: list[str], rows: list[list], align: str | None = None) -> str:
    """A markdown table; `align` is one character per column, "l" or "r"."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = ["---:" if a == "r" else "---" for a in align]
    lines = [header, rule, *[[str(c) for c in row] for row in rows]]
    return "\n".join("| " + " | ".join(line) + " |" for line in lines) + "\n"


def verdict(met: bool | None) -> str:
    return {True: "met", False: "**missed**", None: "-"}[met]


# -- the machine ---------------------------------------------------------------------------


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "not installed"
    return out.strip().splitlines()[0] if out.strip() else "unknown"


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> dict:
    skopeo = _version(["skopeo", "--version"])
    registry = _version(["docker-registry", "--version"])
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": _cpu_model(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "skopeo": skopeo.removeprefix("skopeo version "),
        "git": _version(["git", "--version"]).removeprefix("git version "),
        "docker_registry": registry.split()[-1] if registry.split() else registry,
        "loadavg": os.getloadavg()[0],
    }


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")


def command_line(argv: list[str]) -> str:
    """The command that produced the results, as markdown: `make bench` when make ran it."""
    cmd = f"`{' '.join(['python3 -m bench', *argv])}`"
    return f"`make bench` ({cmd})" if os.environ.get("MAKELEVEL") and not argv else cmd


def provenance(meta: dict) -> str:
    m = meta["machine"]
    mode = "quick run (`--quick`)" if meta["quick"] else "full run"
    return (f"Produced by {meta['command']} on {meta['date']}, {mode}, in "
            f"{meta['duration']:.0f} s. Machine: {m['nproc']} CPUs (nproc) {m['cpu']}, "
            f"{m['memory_gb']} GB RAM, Linux {m['kernel']}, Python {m['python']}, "
            f"skopeo {m['skopeo']}, git {m['git']}, docker-registry {m['docker_registry']}; "
            f"load average {m['loadavg']:.2f} at the start.\n")


# -- the docs file -------------------------------------------------------------------------


def _markers(name: str) -> tuple[str, str]:
    return f"<!-- bench:{name} -->", f"<!-- /bench:{name} -->"


def rewrite_section(name: str, body: str, path: Path = DOCS) -> None:
    """Replace the generated section `name` of the docs file (append it if missing)."""
    start, end = _markers(name)
    text = path.read_text(encoding="utf-8") if path.exists() else DOCS_HEADER
    block = f"{start}\n{body.strip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    os.replace(tmp, path)

