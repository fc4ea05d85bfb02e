"""The figures of docs/reliability.md: `python3 -m bench.reliability [--runs N] [--only NAME]`.

Runs each case of issue 6 (faults, TLS, authentication, concurrency, a huge config)
against real registries, real skopeo and werfpull processes, and prints one JSON
document of what was measured per case and run: exit code, retries taken (from
`--format json`), seconds to finish or fail, connections counted at the fault proxy
or requests counted in the registry's access log. The document also goes to
bench/results/reliability.json. Each case is run `--runs` times (default 3); nothing
here asserts, the tests do (tests/integration/test_faults.py, tests/integration/test_security.py).

Not one of `python3 -m bench`'s benchmarks: those rewrite docs/benchmarks.md, while
these figures are quoted in docs/reliability.md by hand, with this command named.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from tests.support.faultproxy import FaultProxy
from tests.support.git import git_project
from tests.support.registry import Registry
from tests.support.runs import isolated_env, skopeo_children
from tests.support.secure_registry import SecureRegistry
from tests.support.stages import landed, publish_stages

ROOT = Path(__file__).resolve().parent.parent

PROJECT = "project: reliability\nconfigVersion: 1\n" + "".join(
    f"---\nimage: {n}\nfrom: alpine:3.18\nshell:\n  install: make {n}\n" for n in "xy")
PAYLOAD = 1_000_000  # bytes of incompressible data in each stage's layer
USER, PASSWORD, WRONG = "bench", "bench-Secret-1", "bench-Wrong-2"


def say(message: str) -> None:
    print(f"reliability: {message}", file=sys.stderr, flush=True)


def werfpull(env: dict, *args) -> dict:
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "werfpull", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=600)
    out = {"exit": proc.returncode, "seconds": round(time.monotonic() - started, 2)}
    try:
        report = json.loads(proc.stdout)
        out["retries"] = report["retries"]
    except (ValueError, KeyError, TypeError):
        pass
    out["stderr_last"] = proc.stderr.strip().splitlines()[-1][:300] if proc.stderr else ""
    return out


# -- faults through the proxy --------------------------------------------------------------


class Faults:
    """A plain registry, a fault proxy in front, a 2-image project with 1 MB stages."""

    def __init__(self, work: Path):
        self.work = work
        self.registry = Registry(work / "registry").start()
        self.proxy = FaultProxy.for_registry(self.registry, max_seconds=3600).start()
        self.project = git_project(work / "project", PROJECT)
        upstream = self.registry.repo("t/faults")
        publish_stages(upstream, str(self.project), payload=PAYLOAD,
                       workdir=str(work / "publish"))
        self.repo = self.proxy.repo(upstream)
        self.env = isolated_env(work)
        self.n = 0

    def close(self) -> None:
        self.proxy.stop()
        self.registry.close()

    def dest(self) -> str:
        self.n += 1
        return f"oci:{self.work / f'dest-{self.n}'}"

    def args(self, *args) -> list:
        return [self.repo, *args, "--dir", self.project, "--insecure-registry"]

    def plan(self, dest: str) -> tuple[Path, dict]:
        path = self.work / f"plan-{self.n}.json"
        out = werfpull(self.env, "plan", *self.args("--dest", dest, "--out", path))
        assert out["exit"] == 0, out
        return path, json.loads(path.read_text())

    def measured(self, out: dict, dest: str, plan: dict | None) -> dict:
        stats = self.proxy.stats()
        out.update(connections=stats["connections"],
                   faults={k[7:]: v for k, v in stats.items() if k.startswith("faults_") and v})
        if plan is not None:
            want = {f"{plan['repo']}:{p['tag']}": p["digest"] for p in plan["pulls"]}
            got = landed(dest)
            out["landed_as_planned"] = got == want
            out["wrong_digests"] = sum(1 for n, d in got.items() if want.get(n) != d)
        self.proxy.clear()
        return out

    def apply(self, arm, *flags) -> dict:
        """Plan without faults, arm the fault, apply the plan, count."""
        dest = self.dest()
        path, plan = self.plan(dest)
        self.proxy.reset_counters()
        arm(self.proxy)
        out = werfpull(self.env, "apply", path, "--dir", self.project, "--insecure-registry",
                       "--format", "json", *flags)
        return self.measured(out, dest, plan)

    def pull(self, arm, *flags) -> dict:
        """Arm the fault, then plan and pull in one run (the fault hits planning first)."""
        dest = self.dest()
        self.proxy.reset_counters()
        arm(self.proxy)
        out = werfpull(self.env, "pull", *self.args("--dest", dest, "--format", "json", *flags))
        out = self.measured(out, dest, None)
        out["landed"] = len(landed(dest))
        return out

    def interrupted(self, disrupt) -> dict:
        """A throttled pull; once blob bytes flow, `disrupt(proc)`; wait for the end."""
        dest = self.dest()
        _, plan = self.plan(dest)
        self.proxy.reset_counters()
        self.proxy.throttle(200_000)
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "werfpull", "pull", *map(str, self.args(
                "--dest", dest, "--format", "json", "--jobs", "2", "--retries", "5"))],
            env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while self.proxy.stats()["bytes_down"] < 300_000 and time.monotonic() < deadline:
            time.sleep(0.02)
        at = time.monotonic()
        disrupt(proc)
        stdout, stderr = proc.communicate(timeout=300)
        out = {"exit": proc.returncode, "seconds": round(time.monotonic() - started, 2),
               "seconds_after_fault": round(time.monotonic() - at, 2),
               "skopeo_left": len(skopeo_children(str(self.work / f"dest-{self.n}"))),
               "stderr_last": stderr.strip().splitlines()[-1][:300] if stderr else ""}
        try:
            out["retries"] = json.loads(stdout)["retries"]
        except (ValueError, KeyError):
            pass
        return self.measured(out, dest, None) | {
            "only_planned_digests": all(
                {f"{plan['repo']}:{p['tag']}": p["digest"] for p in plan["pulls"]}.get(n) == d
                for n, d in landed(dest).items())}


def fault_cases(work: Path) -> dict:
    f = Faults(work)
    try:
        def restart(proc):
            f.registry.stop()
            f.proxy.close_connections(reset=True)
            f.proxy.throttle(None)
            time.sleep(1.0)
            f.registry.start()

        return {
            "503_burst_apply": f.apply(lambda p: p.fail_next(3)),
            "503_burst_planning": f.pull(lambda p: p.fail_next(3)),
            "dropped_connections_apply": f.apply(lambda p: p.drop_next(3)),
            "mid_blob_fin": f.apply(lambda p: p.cut_after(300_000)),
            "mid_blob_rst": f.apply(lambda p: p.cut_after(300_000, reset=True)),
            "slow_responses": f.apply(lambda p: p.throttle(500_000, delay=0.01)),
            "permanent_503_apply_retries_1": f.apply(lambda p: p.fail_next(None),
                                                     "--retries", "1"),
            "permanent_503_apply_retries_3": f.apply(lambda p: p.fail_next(None)),
            "permanent_503_planning_retries_1": f.pull(lambda p: p.fail_next(None),
                                                       "--retries", "1"),
            "permanent_503_planning_retries_3": f.pull(lambda p: p.fail_next(None)),
            "registry_restart": f.interrupted(restart),
            "sigint": f.interrupted(lambda proc: proc.send_signal(signal.SIGINT)),
            "sigterm": f.interrupted(lambda proc: proc.send_signal(signal.SIGTERM)),
        }
    finally:
        f.close()


def unreachable_case(work: Path) -> dict:
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    project = git_project(work / "project", PROJECT)
    return {f"unreachable_retries_{r}": werfpull(
        isolated_env(work), "pull", f"127.0.0.1:{port}/t/x", "--dir", project,
        "--insecure-registry", "--dest", f"oci:{work / 'd'}", "--retries", r) for r in (0, 3)}


# -- TLS and authentication ----------------------------------------------------------------


def secure_cases(work: Path) -> dict:
    reg = SecureRegistry(work / "registry", USER, PASSWORD).start()
    reg.trust()
    try:
        project = git_project(work / "project", PROJECT)
        repo = reg.repo("t/secure")
        good = reg.authfile(work / "good.json")
        bad = reg.authfile(work / "bad.json", password=WRONG)
        os.environ["REGISTRY_AUTH_FILE"] = str(good)
        try:
            publish_stages(repo, str(project), workdir=str(work / "publish"))
        finally:
            del os.environ["REGISTRY_AUTH_FILE"]
        env = isolated_env(work)
        common = ["--dir", project]
        out = {}

        def counted(name, *args, **kw):
            before = len(reg.requests())
            result = werfpull(kw.get("env", env), *args)
            requests = reg.requests()[before:]
            result.update(requests=len(requests),
                          statuses=sorted({status for _, _, status in requests}))
            out[name] = result

        for r in (0, 3, 5):
            counted(f"wrong_password_pull_retries_{r}", "pull", repo, *common, "--dest",
                    f"oci:{work / 'never'}", "--registry-authfile", bad, "--retries", r)
        plan = work / "plan.json"
        werfpull(env, "plan", repo, *common, "--dest", f"oci:{work / 'a'}", "--out", plan,
                 "--registry-authfile", good)
        counted("wrong_password_apply", "apply", plan, *common, "--registry-authfile", bad,
                "--format", "json")
        counted("no_credentials_plan", "plan", repo, *common, "--dest", f"oci:{work / 'n'}")
        counted("good_password_pull", "pull", repo, *common, "--dest", f"oci:{work / 'g'}",
                "--registry-authfile", good, "--format", "json")
        docker_home = work / "docker-home"
        reg.authfile(docker_home / "home" / ".docker" / "config.json")
        counted("docker_config_pull", "pull", repo, *common, "--dest", f"oci:{work / 'h'}",
                "--format", "json", env=isolated_env(docker_home))
        # How skopeo 1.9 looks credentials up, beyond the three documented sources.
        for name, config, flags in (
                ("docker_config_username_password_fields_only",
                 {"auths": {reg.host: {"username": USER, "password": PASSWORD}}}, []),
                ("authfile_without_this_host_then_docker_config",
                 None, ["--registry-authfile", work / "other.json"]),
                ("authfile_wrong_password_and_docker_config_right",
                 None, ["--registry-authfile", bad])):
            home = work / name
            reg.authfile(home / "home" / ".docker" / "config.json")
            if config is not None:
                (home / "home" / ".docker" / "config.json").write_text(json.dumps(config))
            (work / "other.json").write_text(json.dumps({"auths": {"other.invalid": {
                "auth": "eDp5"}}}))
            counted(name, "plan", repo, *common, "--dest", f"oci:{work / 'o'}", *flags,
                    env=isolated_env(home))
        docker_dir = work / "docker-config-dir"
        reg.authfile(docker_dir / "config.json")
        counted("DOCKER_CONFIG_dir", "plan", repo, *common, "--dest", f"oci:{work / 'o'}",
                env=isolated_env(work / "dc-home", DOCKER_CONFIG=str(docker_dir)))
        broken = work / "broken.json"
        broken.write_text('{"auths": {')
        counted("unreadable_authfile", "plan", repo, *common, "--dest", f"oci:{work / 'o'}",
                "--registry-authfile", broken)
        reg.distrust()
        counted("untrusted_certificate_plan", "plan", repo, *common, "--dest",
                f"oci:{work / 'u'}", "--registry-authfile", good)
        counted("untrusted_certificate_skip_verify_pull", "pull", repo, *common, "--dest",
                f"oci:{work / 's'}", "--registry-authfile", good, "--skip-tls-verify-registry",
                "--format", "json")
        return out
    finally:
        reg.close()


# -- concurrency ---------------------------------------------------------------------------


def concurrent_cases(work: Path) -> dict:
    reg = Registry(work / "registry").start()
    try:
        text = "project: concurrent\nconfigVersion: 1\n" + "".join(
            f"---\nimage: {n}\nfrom: alpine:3.18\nshell:\n  install: make {n}\n"
            for n in "abcd")
        project = git_project(work / "project", text)
        repo = reg.repo("t/concurrent")
        publish_stages(repo, str(project), payload=PAYLOAD, workdir=str(work / "publish"))
        env = isolated_env(work)
        out = {}
        for kind, dest in (("oci", f"oci:{work / 'layout'}"),
                           ("containers_storage",
                            f"containers-storage:[vfs@{work / 'root'}+{work / 'runroot'}]")):
            results: list = []
            args = ["pull", repo, "--dir", project, "--insecure-registry", "--dest", dest,
                    "--format", "json"]
            threads = [threading.Thread(target=lambda r=results, a=args: r.append(
                werfpull(env, *a))) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            out[f"two_pulls_{kind}"] = {"exits": [r["exit"] for r in results],
                                        "seconds": [r["seconds"] for r in results],
                                        "landed": len(landed(dest))}
        out["torn_index_reads"] = torn_index(work / "torn")
        return out
    finally:
        reg.close()


def torn_index(work: Path, copies: int = 30) -> dict:
    """skopeo copies into one OCI layout while a thread reads index.json via werfpull's
    oci_refs: torn reads seen with the copies unlocked, and under werfpull's lock."""
    from tests.support.registry import make_oci_image
    from werfpull.destinations.oci import oci_lock, oci_refs

    src = work / "src"
    for i in range(copies):
        make_oci_image(src, f"r{i}", {f"f{i}": os.urandom(64)})
    out = {}
    for locked in (False, True):
        dst = work / f"dst-{locked}"
        dst.mkdir(parents=True)
        stop, counts = threading.Event(), {"reads": 0, "torn": 0}

        def reader(dst=dst, stop=stop, counts=counts):
            while not stop.is_set():
                try:
                    oci_refs(str(dst))
                    counts["reads"] += 1
                except Exception:  # the torn read is what is counted
                    counts["torn"] += 1

        thread = threading.Thread(target=reader)
        thread.start()
        for i in range(copies):
            argv = ["skopeo", "copy", "-q", f"oci:{src}:r{i}", f"oci:{dst}:r{i}"]
            if locked:
                with oci_lock(str(dst), exclusive=True):
                    subprocess.run(argv, check=True)
            else:
                subprocess.run(argv, check=True)
        stop.set()
        thread.join()
        out["werfpull_lock" if locked else "no_lock"] = counts
    return out


# -- hostile input: a huge config -----------------------------------------------------------


def huge_case(work: Path, images: int = 5000) -> dict:
    reg = Registry(work / "registry").start()
    try:
        text = "project: huge\nconfigVersion: 1\n" + "".join(
            f"---\nimage: img{i}\nfrom: alpine:3.18\nshell:\n  install: make {i}\n"
            for i in range(images))
        project = git_project(work / "project", text)
        env = isolated_env(work)
        return {"images": images,
                "signatures": werfpull(env, "signatures", "--dir", project, "--format", "json"),
                "plan": werfpull(env, "plan", reg.repo("t/huge"), "--dir", project,
                                 "--insecure-registry", "--dest", f"oci:{work / 'd'}",
                                 "--format", "json")}
    finally:
        reg.close()


CASES = {"faults": fault_cases, "unreachable": unreachable_case, "secure": secure_cases,
         "concurrent": concurrent_cases, "huge": huge_case}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.reliability",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="runs of each case (default 3)")
    parser.add_argument("--only", action="append", choices=sorted(CASES))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "reliability.json"))
    args = parser.parse_args(argv)
    if shutil.which("skopeo") is None:
        parser.error("skopeo is not installed (scripts/bootstrap)")
    result = {"command": "python3 -m bench.reliability " + " ".join(argv or sys.argv[1:]),
              "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "runs": {}}
    for name, case in CASES.items():
        if args.only and name not in args.only:
            continue
        result["runs"][name] = []
        for i in range(args.runs):
            say(f"{name} run {i + 1} of {args.runs}")
            work = Path(tempfile.mkdtemp(prefix=f"werfpull-reliability-{name}-"))
            try:
                result["runs"][name].append(case(work))
            finally:
                shutil.rmtree(work, ignore_errors=True)
    text = json.dumps(result, indent=2) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
