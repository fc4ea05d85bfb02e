"""token-auth: planning against a registry with Docker token authentication.

`werfpull plan REPO --inventory probe --format json` of a 20-image project
(bench.fixtures.images_config) whose stages are all pushed, against docker-registry
2.8 with `auth: token` over TLS and the tests' token server
(tests/support/token_registry.py), as a pull-only user. (http): the credentials in
`--registry-authfile`, so the probes are HTTP requests with one pull token; (skopeo):
the same credentials from a credential helper, which the HTTP reads leave to skopeo,
so every probe is a skopeo process asking for its own token. Target (issue 15): the
HTTP path makes no skopeo process.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

from bench import fixtures, report, timing
from bench.timing import ROOT, Variant

NAME = "token-auth"
TITLE = "Plan against a token-auth registry: HTTP probes with a pull token, against skopeo"
IMAGES = 20
USERS = {"bench-admin": ("Bench-adm-pw-1", {"*"}), "bench-reader": ("Bench-rdr-pw-2", {"pull"})}
CALLS = re.compile(r"inventory: (\w+), (\d+) registry calls \((\d+) HTTP requests, "
                   r"(\d+) skopeo processes\)")


def _project(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "werf.yaml").write_text(fixtures.images_config("bench-token", IMAGES, 1))
    env = fixtures.git_env(path.parent / "project-home", identity=True)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "c"]):
        subprocess.run(["git", *args], cwd=path, env=env, check=True, capture_output=True)
    return path


def _envs(tmp: Path, host: str, user: str, password: str) -> dict[str, dict]:
    """(http): only HOME's empty config; (skopeo): a credential helper for `host`."""
    from tests.support.runs import credential_helper

    base = timing.werfpull_env()
    http_home, helper_home = tmp / "home-http", tmp / "home-skopeo"
    http_home.mkdir()
    bin_dir = tmp / "bin"
    credential_helper(bin_dir, helper_home, host, user, password)
    clean = {k: v for k, v in base.items()
             if k != "DOCKER_CONFIG" and not k.startswith("XDG_")}
    return {"http": dict(clean, HOME=str(http_home)),
            "skopeo": dict(clean, HOME=str(helper_home),
                           PATH=f"{bin_dir}{os.pathsep}{clean['PATH']}")}


def _calls(argv: list[str], env: dict) -> dict:
    proc = subprocess.run([*argv, "-v"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    m = CALLS.search(proc.stderr)
    if proc.returncode != 0 or not m:
        raise timing.CommandFailed(f"{' '.join(argv)}: {proc.stderr[-1500:]}")
    return {"strategy": m[1], "calls": int(m[2]), "http": int(m[3]), "processes": int(m[4]),
            "pulls": len(json.loads(proc.stdout)["pulls"])}


def run(quick: bool) -> dict:
    from tests.support.runs import auth_file
    from tests.support.secure_registry import serving
    from tests.support.stages import publish_stages
    from tests.support.token_registry import TokenRegistry

    n_rounds = timing.rounds(quick, full=5, fast=2)
    with (fixtures.tempdir("token-auth") as tmp,
          serving(TokenRegistry(tmp / "registry", USERS)) as registry):
        with auth_file(registry.authfile_for(tmp / "admin.json", "bench-admin")):
            project = _project(tmp / "project")
            repo = registry.repo("bench/stages")
            publish_stages(repo, str(project), workdir=str(tmp / "publish"))
        reader = registry.authfile_for(tmp / "reader.json", "bench-reader")
        envs = _envs(tmp, registry.host, "bench-reader", USERS["bench-reader"][0])
        plan = [sys.executable, "-m", "werfpull", "plan", repo, "--dir", str(project),
                "--dest", f"oci:{tmp / 'dest'}", "--inventory", "probe", "--format",
                "json"]
        argvs = {"http": [*plan, "--registry-authfile", str(reader)], "skopeo": plan}
        counts = {name: _calls(argv, envs[name]) for name, argv in argvs.items()}
        before = len(registry.tokens.requests())
        stats = timing.interleave(
            [Variant(name, lambda a=argv, e=envs[name]: timing.run_cmd(a, cwd=ROOT, env=e))
             for name, argv in argvs.items()], n_rounds, NAME)
        tokens = len(registry.tokens.requests()) - before
    ratio = timing.ratio(stats, "http", "skopeo")
    cpu_ratio = stats["skopeo"]["cpu_median"] / stats["http"]["cpu_median"]
    headline = [
        {"metric": "token-auth plan: skopeo / HTTP probes, wall", "value": ratio,
         "unit": "x", "target": None, "met": None},
        {"metric": "token-auth plan: skopeo / HTTP probes, CPU", "value": cpu_ratio,
         "unit": "x", "target": None, "met": None},
        {"metric": "token-auth plan over HTTP: skopeo processes",
         "value": counts["http"]["processes"], "unit": "", "target": "0",
         "met": counts["http"]["processes"] == 0}]
    return {"rounds": n_rounds, "stats": stats, "counts": counts, "ratio": ratio,
            "cpu_ratio": cpu_ratio,
            "token_requests": tokens, "headline": headline}


def markdown(result: dict) -> str:
    c, s = result["counts"], result["stats"]
    rows = [[f"({name})", *report.stats_cells(s[name]), report.seconds(s[name]["cpu_median"]),
             c[name]["pulls"], c[name]["http"], c[name]["processes"]]
            for name in ("http", "skopeo")]
    return "\n".join([
        f"## {TITLE}\n", report.provenance(result["meta"]), __doc__.split("\n\n", 1)[1],
        f"{result['rounds']} interleaved rounds (after one warm-up run each), medians; the "
        "call counts are from one more `-v` run of each.\n",
        report.table(["plan", "median", "min", "max", "runs", "CPU (median)",
                      "pulls planned", "HTTP requests", "skopeo processes"], rows,
                     "lrrrrrrrr"),
        f"\n(skopeo) / (http), wall: **{result['ratio']:.2f}x**, CPU (werfpull and its "
        f"children): **{result['cpu_ratio']:.2f}x**. Token requests at the token "
        f"server during the warm-up and timed runs, both variants: {result['token_requests']}.\n"])
