"""werfpull's benchmarks: `python3 -m bench [--only NAME] [--quick]` (`make bench`).

Each benchmark is a module of this package listed in BENCHMARKS, with

    NAME: str                        # the section name in docs/benchmarks.md
    TITLE: str                       # one line, the section's heading
    run(quick: bool) -> dict         # measure; a JSON-able result
    markdown(result: dict) -> str    # the section body (tables, verdicts)

A result carries a "headline" list of {"metric", "value", "unit", "target", "met"}
rows for the summary table; everything else in it is the module's own business.
Modules build their fixtures in a temporary directory under /tmp, start what they
need (a registry), and remove all of it before `run` returns, also on failure.
Shared helpers: `bench.timing` (subprocess timing, interleaved rounds, statistics),
`bench.fixtures` (a big git repository, a registry with many tags), `bench.report`
(markdown tables, the docs file's generated sections).
"""

# Module names, in the order `python3 -m bench` runs them. A new benchmark is a
# module with the interface above plus one line here.
BENCHMARKS = (
    "bench.signatures",
    "bench.dockerfile_signatures",
    "bench.plan",
    "bench.build",
    "bench.pull",
    "bench.bounds",
    "bench.daemon",
    "bench.cleanup",
    "bench.plan_history",
    "bench.vs_skopeo",
    "bench.fleet",
    "bench.token_auth",
)
