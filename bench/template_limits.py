"""`python3 -m bench.template_limits [NAME ...]`: time to fail and peak memory of the
runaway templates of tests/unit/test_template_limits.py (HANGS), each rendered in a
child process of its own so that peak RSS is that render's. The figures of the
"Template resource limits" table in docs/reliability.md.
"""

from __future__ import annotations

import json
import subprocess
import sys

_CHILD = """
import json, resource, sys, time
from tests.unit.test_template_limits import HANGS
from werfpull.gotemplate import StaticFiles, TemplateError, render_werf_config
start = time.monotonic()
try:
    render_werf_config(HANGS[sys.argv[1]], "werf.yaml", ".", files=StaticFiles(), environ={})
    message = "rendered"
except TemplateError as exc:
    message = exc.message
print(json.dumps({"seconds": round(time.monotonic() - start, 2), "message": message,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024}))
"""


def main(names: list[str]) -> None:
    from tests.unit.test_template_limits import HANGS

    for name in names or sorted(HANGS):
        out = subprocess.run([sys.executable, "-c", _CHILD, name], capture_output=True,
                             text=True, timeout=300, check=True).stdout
        result = json.loads(out)
        print(f"{name}: {result['seconds']} s, {result['peak_rss_mib']} MiB:"
              f" {result['message'][:100]}")


if __name__ == "__main__":
    main(sys.argv[1:])
