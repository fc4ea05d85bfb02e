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
import re
import signal
import time
import urllib.error
import urllib.request

import pytest

from tests.support.faultproxy import FaultProxy
from tests.support.pulls import (
    assert_complete,
    assert_nothing_half_tagged,
    oci,
    report,
    start_copying,
    store,
)
from tests.support.registry import publish_image
from tests.support.runs import skopeo_children, wait_until
from tests.support.stages import landed, werfpull

# The `proxy` and `project` fixtures are conftest.py's; the checks are tests/support/pulls.py's.


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


def test_a_503_met_by_applys_tag_checks_is_said_and_counted(project, proxy, tmp_path):
    project.publish()
    dest = oci(tmp_path)
    path, plan = project.save_plan(dest)
    proxy.fail_next(2)  # the tag checks' first HTTP reads

    proc = project.apply(path)

    assert proc.returncode == 0, proc.stderr
    assert proxy.stats()["faults_503"] == 2
    retried = [line for line in proc.stderr.splitlines() if "a registry read" in line]
    assert retried and all("503" in line for line in retried), proc.stderr
    assert report(proc)["retries"] >= len(retried)
    assert_complete(dest, plan)


def test_burst_of_503_while_planning_is_retried(project, proxy, tmp_path):
    project.publish()
    dest = store(tmp_path)
    proxy.fail_next(3)

    proc = werfpull("pull", *project.args("--dest", dest, "--format", "json", "-v"))

    assert proc.returncode == 0, proc.stderr
    assert proxy.stats()["faults_503"] == 3
    # Not silent: each retry is said with its reason, and the run's count includes them.
    retried = [line for line in proc.stderr.splitlines() if "a registry read" in line]
    assert retried and all("503" in line for line in retried), proc.stderr
    assert report(proc)["retries"] >= len(retried)
    assert re.search(rf"inventory: .*, {len(retried)} retried", proc.stderr), proc.stderr
    # -v is werfpull's account, not sh's plumbing of each process it starts.
    assert "<Command" not in proc.stderr, proc.stderr
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
    # The one copy retry --retries 1 allows, and each tag read the 503 made ask again.
    reads = [line for line in proc.stderr.splitlines() if "retry of a registry read" in line]
    assert reads and out["retries"] == 1 + len(reads), proc.stderr
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
