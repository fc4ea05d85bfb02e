"""`python3 -m bench [--only NAME ...] [--quick] [--runs N] [--no-docs] [--list]`.

Runs each benchmark, prints its tables and a summary, writes the raw result to
bench/results/NAME.json (ignored by git) and rewrites the benchmark's section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import time

from bench import BENCHMARKS, report, timing


def load_modules() -> dict:
    modules = {}
    for name in BENCHMARKS:
        module = importlib.import_module(name)
        for attr in ("NAME", "TITLE", "run", "markdown"):
            if not hasattr(module, attr):
                raise SystemExit(f"bench: {name} has no {attr}; see bench/__init__.py")
        modules[module.NAME] = module
    return modules


def summary(results: dict) -> str:
    rows = []
    for name, result in results.items():
        for h in result.get("headline", []):
            value = h["value"]
            text = report.seconds(value) if h.get("unit") == "s" else (
                f"{value:.2f}{h.get('unit') or ''}" if isinstance(value, float) else str(value))
            rows.append([name, h["metric"], text, h.get("target") or "-",
                         report.verdict(h.get("met"))])
    return report.table(["benchmark", "metric", "median", "target", "result"], rows, "llrll")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="python3 -m bench", description=__doc__.split("\n")[2])
    parser.add_argument("--only", action="append", metavar="NAME",
                        help="run only this benchmark (repeatable)")
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds (1-2 instead of 5): a smoke run, noisier numbers")
    parser.add_argument("--runs", type=int, metavar="N", help="rounds for every benchmark")
    parser.add_argument("--no-docs", action="store_true",
                        help="do not rewrite docs/benchmarks.md")
    parser.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = parser.parse_args(argv)

    modules = load_modules()
    if args.list:
        for name, module in modules.items():
            print(f"{name}\t{module.TITLE}")
        return 0
    unknown = [n for n in args.only or () if n not in modules]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; known: {', '.join(modules)}")
    if args.runs is not None:
        if args.runs < 1:
            parser.error("--runs must be at least 1")
        timing.RUNS_OVERRIDE = args.runs
    selected = [m for n, m in modules.items() if not args.only or n in args.only]

    timing.compile_werfpull()
    machine = report.machine()
    command = report.command_line(argv)
    results_dir = timing.ROOT / "bench" / "results"
    results = {}
    for module in selected:
        timing.progress(f"{module.NAME}: {module.TITLE}")
        # The load when this benchmark starts, not when the run did: others may share
        # the machine.
        here = dict(machine, loadavg=os.getloadavg()[0])
        started = time.perf_counter()
        result = module.run(args.quick)
        result["meta"] = {"command": command, "date": report.now(), "machine": here,
                          "quick": args.quick, "duration": time.perf_counter() - started}
        results[module.NAME] = result
        body = module.markdown(result)
        print(body, flush=True)
        results_dir.mkdir(exist_ok=True)
        (results_dir / f"{module.NAME}.json").write_text(json.dumps(result, indent=2) + "\n")
        if not args.no_docs:
            report.rewrite_section(module.NAME, body)
            timing.progress(f"{module.NAME}: done in {result['meta']['duration']:.0f} s, "
                            f"section rewritten in {report.DOCS.relative_to(timing.ROOT)}")
    print(summary(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
