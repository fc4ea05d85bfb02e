"""Pulls through a fault-injecting proxy in front of the real registry.

werfpull and skopeo talk to the proxy (REPO is `127.0.0.1:<proxy port>/...`); the
stages are published straight to the registry. For each fault the pull either
completes through retries or fails naming the stage and the cause; in both cases
every stage name in the destination points to its planned digest, and a rerun
without the fault completes.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.registry import publish_image
from tests.support.stages import ROOT, dest_ref, landed, publish_stages, raw_digest, werfpull

PROJECT = """\
project: faults
configVersion: 1
---
image: x
from: alpine:3.18
shell:
  install: make x
---
image: y
from: debian:12
shell:
  install: make y
"""


@pytest.fixture
def proxy(registry):
    with FaultProxy.for_registry(registry, max_seconds=240) as px:
        yield px


class Project:
    def __init__(self, git_repo, repo: str, proxy: FaultProxy, tmp: Path):
        self.dir, self.tmp = git_repo.path, tmp
        self.repo = proxy.repo(repo)  # everything werfpull does goes through the proxy
        self.proxy = proxy

    def publish(self, payload: int = 0) -> None:
        upstream = f"{self.proxy.upstream[0]}:{self.proxy.upstream[1]}/{self.repo.split('/', 1)[1]}"
        publish_stages(upstream, str(self.dir), payload=payload,
                       workdir=str(self.tmp / "publish"))

    def args(self, *args) -> list:
        return [self.repo, *args, "--dir", self.dir, "--insecure-registry"]

    def save_plan(self, dest: str, *args) -> tuple[Path, dict]:
        path = self.tmp / "plan.json"
        proc = werfpull("plan", *self.args("--dest", dest, "--out", path, *args))
        assert proc.returncode == 0, proc.stderr
        return path, json.loads(path.read_text())

    def apply(self, path: Path, *args):
        return werfpull("apply", path, "--dir", self.dir, "--insecure-registry",
                        "--format", "json", *args)


@pytest.fixture
def project(git_repo, repo, proxy, tmp_path) -> Project:
    git_repo.write("werf.yaml", PROJECT)
    git_repo.commit()
    return Project(git_repo, repo, proxy, tmp_path)


def oci(tmp_path: Path) -> str:
    return f"oci:{tmp_path / 'layout'}"


def store(tmp_path: Path) -> str:
    return f"containers-storage:[vfs@{tmp_path / 'root'}+{tmp_path / 'runroot'}]"


def expected(plan: dict) -> dict[str, str]:
    return {f"{plan['repo']}:{p['tag']}": p["digest"] for p in plan["pulls"]}


def assert_complete(dest: str, plan: dict) -> None:
    """Every planned stage is there with its planned digest, and nothing else."""
    want = expected(plan)
    assert landed(dest) == want
    for name, digest in want.items():
        assert raw_digest(dest_ref(dest, name)) == digest


def assert_nothing_half_tagged(dest: str, plan: dict) -> None:
    """Whatever landed is a planned stage with its planned digest, and readable."""
    want = expected(plan)
    for name, digest in landed(dest).items():
        assert want.get(name) == digest, name
        assert raw_digest(dest_ref(dest, name)) == digest


def report(proc) -> dict:
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


# -- the proxy itself ----------------------------------------------------------------------


def _get(url: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    req = urllib.request.Request(
        url, headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    with opener.open(req, timeout=10) as resp:
        return resp.read()


def test_proxy_injects_faults_and_counts_bytes(repo, proxy, tmp_path):
    with pytest.raises(ValueError, match="loopback"):
        FaultProxy("192.0.2.1", 5000)
    digest = publish_image(repo, "v1", {"blob": os.urandom(200_000)}, workdir=tmp_path)
    name = repo.split("/", 1)[1]
    manifest = json.loads(_get(f"http://{proxy.host}/v2/{name}/manifests/{digest}"))
    layer = manifest["layers"][0]
    blob_url = f"http://{proxy.host}/v2/{name}/blobs/{layer['digest']}"

    before = proxy.stats()["bytes_down"]
    assert len(_get(blob_url)) == layer["size"]
    moved = proxy.stats()["bytes_down"] - before
    assert layer["size"] < moved < layer["size"] + 2000  # the blob and its headers

    proxy.fail_next(1)
    with pytest.raises(urllib.error.HTTPError) as err:
        _get(f"http://{proxy.host}/v2/")
    assert err.value.code == 503
    proxy.drop_next(1)
    with pytest.raises((urllib.error.URLError, ConnectionError)):
        _get(f"http://{proxy.host}/v2/")
    proxy.cut_after(50_000)
    with pytest.raises((http.client.IncompleteRead, OSError)):
        _get(blob_url)
    assert _get(f"http://{proxy.host}/v2/") == b"{}"  # every fault was spent
    assert proxy.stats()["faults_503"] == proxy.stats()["faults_drop"] == 1
    assert proxy.stats()["faults_cut"] == 1


# -- transient faults: the pull completes through retries ---------------------------------


def test_burst_of_503_is_retried(project, proxy, tmp_path):
    project.publish()
    dest = oci(tmp_path)
    path, plan = project.save_plan(dest)
    proxy.fail_next(3)

    # --force: no tag check before each copy, so the copies themselves meet the faults
    # (a tag check's HTTP read would fall back to skopeo and absorb them unseen).
    proc = project.apply(path, "--force")

    assert proc.returncode == 0, proc.stderr
    assert proxy.stats()["faults_503"] == 3
    assert report(proc)["retries"] > 0, proc.stderr
    assert "503" in proc.stderr  # the retry line says why
    assert_complete(dest, plan)


def test_burst_of_503_while_planning_is_retried(project, proxy, tmp_path):
    project.publish()
    dest = store(tmp_path)
    proxy.fail_next(3)

    proc = werfpull("pull", *project.args("--dest", dest, "--format", "json"))

    assert proc.returncode == 0, proc.stderr
    assert proxy.stats()["faults_503"] == 3
    proxy.clear()
    assert_complete(dest, json.loads(werfpull("plan", *project.args(
        "--dest", oci(tmp_path), "--format", "json")).stdout))


def test_dropped_connections_are_retried(project, proxy, tmp_path):
    project.publish()
    dest = store(tmp_path)
    path, plan = project.save_plan(dest)
    proxy.drop_next(3)

    proc = project.apply(path, "--force")  # the copies meet the faults, as above

    assert proc.returncode == 0, proc.stderr
    assert proxy.stats()["faults_drop"] == 3
    assert report(proc)["retries"] > 0
    assert_complete(dest, plan)


@pytest.mark.parametrize("reset, make_dest", [(False, oci), (True, store)],
                         ids=["fin-oci", "rst-containers-storage"])
def test_connection_dropped_mid_blob_is_retried(project, proxy, tmp_path, reset, make_dest):
    project.publish(payload=1_000_000)
    dest = make_dest(tmp_path)
    path, plan = project.save_plan(dest)
    proxy.cut_after(300_000, reset=reset)  # only a blob download carries that much

    proc = project.apply(path)

    assert proc.returncode == 0, proc.stderr
    assert proxy.stats()["faults_cut"] == 1
    assert report(proc)["retries"] >= 1
    assert_complete(dest, plan)


# -- permanent faults: the pull fails cleanly ---------------------------------------------


@pytest.mark.parametrize("make_dest", [oci, store], ids=["oci", "containers-storage"])
def test_permanent_503_fails_naming_registry_and_stage(project, proxy, tmp_path, make_dest):
    project.publish()
    dest = make_dest(tmp_path)
    path, plan = project.save_plan(dest)
    x, y = sorted(plan["pulls"], key=lambda p: p["images"])
    first = werfpull("pull", *project.args("x", "--dest", dest))  # x lands before the outage
    assert first.returncode == 0, first.stderr
    proxy.fail_next(None)

    proc = project.apply(path, "--retries", "1")

    # Exit 1, "some stages failed" (README, exit codes): the transfer ran, a stage failed.
    assert proc.returncode == 1, proc.stderr
    assert proxy.host in proc.stderr and "503" in proc.stderr
    assert f"{plan['repo']}:{y['tag']}" in proc.stderr
    out = report(proc)
    assert out["skipped"] == [x["signature"]]
    assert [f["signature"] for f in out["failed"]] == [y["signature"]]
    assert out["retries"] == 1
    assert_nothing_half_tagged(dest, plan)
    assert set(landed(dest)) == {f"{plan['repo']}:{x['tag']}"}

    proxy.clear()
    assert project.apply(path).returncode == 0
    assert_complete(dest, plan)


def test_permanent_503_while_planning_fails_naming_registry(project, proxy, tmp_path):
    project.publish()
    proxy.fail_next(None)

    proc = werfpull("pull", *project.args("--dest", oci(tmp_path), "--retries", "1"))

    # Planning never reaches a transfer: a registry error, exit 4.
    assert proc.returncode == 4, proc.stderr
    assert proxy.host in proc.stderr and "server error" in proc.stderr
    assert "image-stage-" in proc.stderr
    assert landed(oci(tmp_path)) == {}


# -- interruption and a registry restart --------------------------------------------------


class Running:
    """`werfpull ARGS` in the background, its stderr collected line by line."""

    def __init__(self, *args):
        # A fresh default SIGINT handler: a child started with SIGINT ignored (a CI job
        # in the background) would otherwise keep ignoring it.
        boot = ("import runpy, signal, sys; signal.signal(signal.SIGINT, "
                "signal.default_int_handler); sys.argv[0] = 'werfpull'; "
                "runpy.run_module('werfpull', run_name='__main__')")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", boot, *map(str, args)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._out: list[str] = []
        # One reader per pipe, each the pipe's only reader: nothing is lost or split.
        self._readers = [threading.Thread(target=self._read, args=args, daemon=True)
                         for args in ((self.proc.stderr, self.lines),
                                      (self.proc.stdout, self._out))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe, into: list[str]) -> None:
        for line in pipe:
            into.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    @property
    def out(self) -> str:
        return "".join(self._out)

    def wait(self, timeout: float = 90) -> int:
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def skopeo_children(mark: str) -> list[int]:
    """Live skopeo processes whose command line mentions `mark` (a scan of /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path("/proc", entry, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"skopeo" and any(mark.encode() in a for a in argv):
            pids.append(int(entry))
    return pids


def start_copying(project: Project, proxy: FaultProxy, dest: str, mark: str,
                  *args) -> Running:
    """Start a throttled pull and return once skopeo is moving blob bytes."""
    proxy.throttle(200_000)
    run = Running("pull", *project.args("--dest", dest, "--jobs", "2", "--format", "json",
                                        *args))
    try:
        wait_until(lambda: "werfpull: pulling" in run.stderr or run.proc.poll() is not None,
                   "the first 'pulling' line")
        assert run.proc.poll() is None, run.stderr
        base = proxy.stats()["bytes_down"]
        wait_until(lambda: skopeo_children(mark), "a skopeo copy")
        wait_until(lambda: proxy.stats()["bytes_down"] > base + 100_000, "blob bytes")
    except BaseException:
        run.kill()
        raise
    return run


@pytest.mark.parametrize("sig, code, make_dest", [
    (signal.SIGTERM, 143, store),
    (signal.SIGINT, 130, oci),
], ids=["SIGTERM-containers-storage", "SIGINT-oci"])
def test_interrupt_stops_skopeo_and_a_rerun_completes(project, proxy, tmp_path, sig, code,
                                                      make_dest):
    project.publish(payload=2_000_000)
    dest = make_dest(tmp_path)
    plan = json.loads(werfpull("plan", *project.args("--dest", dest, "--format", "json")).stdout)
    mark = str(tmp_path)
    run = start_copying(project, proxy, dest, mark)

    run.proc.send_signal(sig)
    rc = run.wait()

    assert rc == code, run.stderr
    assert ("terminated" if sig == signal.SIGTERM else "interrupted") in run.stderr
    assert "werfpull: pulled" not in run.stderr  # a killed copy is never reported done
    assert skopeo_children(mark) == []
    assert_nothing_half_tagged(dest, plan)

    proxy.clear()
    again = werfpull("pull", *project.args("--dest", dest, "--format", "json"))

    assert again.returncode == 0, again.stderr
    assert_complete(dest, plan)


def test_sigkill_leaves_no_skopeo_running_and_a_rerun_completes(project, proxy, tmp_path):
    """No cleanup runs after SIGKILL; the children still get their parent-death signal."""
    project.publish(payload=2_000_000)
    dest = store(tmp_path)
    plan = json.loads(werfpull("plan", *project.args("--dest", dest, "--format", "json")).stdout)
    mark = str(tmp_path)
    run = start_copying(project, proxy, dest, mark)
    assert skopeo_children(mark)

    proxy.throttle(10_000)  # left alone, the copies would now need minutes to finish
    run.proc.send_signal(signal.SIGKILL)
    assert run.wait() == -signal.SIGKILL

    wait_until(lambda: not skopeo_children(mark), "the skopeo children to end", timeout=10)
    assert_nothing_half_tagged(dest, plan)
    proxy.clear()
    again = werfpull("pull", *project.args("--dest", dest, "--format", "json"))
    assert again.returncode == 0, again.stderr
    assert_complete(dest, plan)


def test_registry_restart_mid_pull(registry, project, proxy, tmp_path):
    project.publish(payload=1_000_000)
    dest = store(tmp_path)
    plan = json.loads(werfpull("plan", *project.args("--dest", dest, "--format", "json")).stdout)
    # Five retries outlast the outage nearly always; running out is accepted below too.
    run = start_copying(project, proxy, dest, str(tmp_path), "--retries", "5")
    try:
        registry.stop()
        # What the registry had sent still sits in socket buffers and would arrive whole;
        # a real outage loses it, so the open connections go down with the registry.
        proxy.close_connections(reset=True)
        proxy.throttle(None)
        time.sleep(1.0)
    finally:
        registry.start()  # from this thread: the registry dies with the thread that starts it
    rc = run.wait()

    if rc == 0:
        assert json.loads(run.out)["retries"] > 0
    else:  # out of retries: a clean failure that names the registry and the cause
        assert rc in (1, 4), run.stderr
        assert proxy.host in run.stderr and "unreachable" in run.stderr
    assert skopeo_children(str(tmp_path)) == []
    assert_nothing_half_tagged(dest, plan)

    again = werfpull("pull", *project.args("--dest", dest, "--format", "json"))

    assert again.returncode == 0, again.stderr
    assert_complete(dest, plan)


def test_stalled_registry_is_cut_off_by_timeout_and_retried(project, proxy, tmp_path):
    """A registry that accepts and then says nothing: --timeout bounds each call."""
    project.publish()
    dest = oci(tmp_path)
    path, plan = project.save_plan(dest)
    proxy.stall(30)  # accepts, then answers nothing for half a minute

    proc = project.apply(path, "--retries", "1", "--timeout", "2")

    assert proc.returncode == 1, proc.stderr
    assert "timed out" in proc.stderr and proxy.host in proc.stderr
    out = report(proc)
    assert out["retries"] == len(plan["pulls"]) and out["pulled"] == []
    assert_nothing_half_tagged(dest, plan)
    proxy.clear()
    assert project.apply(path, "--timeout", "60").returncode == 0
    assert_complete(dest, plan)
