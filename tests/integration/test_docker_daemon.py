"""The docker-daemon destination against a real dockerd on a socket of its own.

Each test publishes a small project's stages to a fresh repository of the session's
registry, points DOCKER_HOST at the session's dockerd (emptied for each test) and
checks with the docker CLI what landed there: names `REPO:image-stage-SIG`, each with
the image ID (config digest) the registry's manifest names.
"""

from __future__ import annotations

import json

import pytest

from tests.integration.test_script import make_minimal_path, run_script
from tests.support.pulls import Published, report, start_copying
from tests.support.stages import werfpull
from werfpull.destinations import DockerDaemon
from werfpull.refs import Repo
from werfpull.tools.skopeo import RegistryOptions


@pytest.fixture
def published(published, daemon, monkeypatch) -> Published:
    """conftest.py's project, its werfpull runs pointed at the session's dockerd."""
    monkeypatch.setenv("DOCKER_HOST", daemon.host)
    return published


def image_ids(plan: dict) -> dict[str, str]:
    """{REPO:image-stage-SIG: planned image ID} of every pull of a plan."""
    return {f"{plan['repo']}:{p['tag']}": p["layers"][0][0] for p in plan["pulls"]}


def test_pull_lands_every_planned_stage_with_its_image_id(published, daemon):
    plan = published.plan("--dest", "docker-daemon")
    assert len(plan["pulls"]) == 2
    # docker load reuses no layer: each copy fetches all of its stage's blobs.
    assert plan["download"] == sum(p["size"] for p in plan["pulls"])

    proc = published.run("pull", "--dest", "docker-daemon", "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert sorted(report(proc)["pulled"]) == sorted(p["signature"] for p in plan["pulls"])
    assert daemon.images() == image_ids(plan)


def test_rerun_moves_nothing_and_the_plan_sees_the_stages_as_local(published, daemon):
    first = published.run("pull", "--dest", "docker-daemon", "--format", "json")
    assert first.returncode == 0, first.stderr
    before = daemon.images()

    plan = published.plan("--dest", "docker-daemon")
    again = published.run("pull", "--dest", "docker-daemon", "--format", "json")

    assert plan["pulls"] == [] and plan["download"] == 0
    selected = {i["selected"] for i in plan["images"] if i["needed"]}
    local = {s["signature"] for i in plan["images"] for s in i["stages"] if s["local"]}
    assert selected and selected <= local
    assert again.returncode == 0, again.stderr
    assert report(again)["pulled"] == [] and report(again)["bytes"] == 0
    assert daemon.images() == before


def test_default_destination_is_the_daemon_at_docker_host(published, daemon):
    plan = published.plan()

    assert plan["dest"] == "docker-daemon"
    assert daemon.host in plan["dest_reason"]
    proc = published.run("pull", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert daemon.images() == image_ids(plan)


def test_plan_json_round_trip_through_apply(published, daemon):
    path = published.save_plan("docker-daemon")
    plan = json.loads(path.read_text())

    proc = werfpull("apply", path, "--dir", published.dir, "--insecure-registry",
                    "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert daemon.images() == image_ids(plan)


def test_a_wrong_image_under_a_stage_name_is_not_local_and_is_replaced(published, daemon):
    plan = published.plan("--dest", "docker-daemon")
    first = published.run("pull", "--dest", "docker-daemon")
    assert first.returncode == 0, first.stderr
    right, other = sorted(image_ids(plan))
    daemon.docker("tag", other, right)  # another stage's image under `right`'s name

    again = published.plan("--dest", "docker-daemon")

    wrong_sig = right.rsplit("image-stage-", 1)[1]
    assert [p["signature"] for p in again["pulls"]] == [wrong_sig]
    states = [s for i in again["images"] for s in i["stages"] if s["signature"] == wrong_sig]
    assert states and not any(s["local"] for s in states)
    reasons = [i["reason"] for i in again["images"] if i["selected"] == wrong_sig]
    assert reasons and all("local copy differs from the registry: pulling again" in r
                           for r in reasons)
    proc = published.run("pull", "--dest", "docker-daemon", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["pulled"] == [wrong_sig]
    assert daemon.images() == image_ids(plan)


def test_all_stages_replaces_a_wrong_local_stage(published, daemon):
    plan = published.plan("--dest", "docker-daemon", "--all-stages")
    assert published.run("pull", "--dest", "docker-daemon", "--all-stages").returncode == 0
    names = sorted(image_ids(plan))
    daemon.docker("tag", names[0], names[1])

    proc = published.run("pull", "--dest", "docker-daemon", "--all-stages", "--format", "json")

    assert proc.returncode == 0, proc.stderr
    assert report(proc)["pulled"] == [names[1].rsplit("image-stage-", 1)[1]]
    assert daemon.images() == image_ids(plan)


def test_docker_host_over_tcp_is_probed_and_used(published, daemon, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", daemon.tcp_host)

    plan = published.plan()
    proc = published.run("pull", "--format", "json")

    assert plan["dest"] == "docker-daemon"
    assert plan["dest_reason"] == f"a docker daemon answers at {daemon.tcp_host} (DOCKER_HOST)"
    assert proc.returncode == 0, proc.stderr
    assert daemon.images() == image_ids(plan)


def test_default_destination_says_what_it_tried(published, monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    plan = published.plan()
    assert plan["dest"] == "containers-storage"
    assert plan["dest_reason"].startswith(
        f"no docker daemon answers at unix://{tmp_path}/none.sock (DOCKER_HOST): cannot connect")

    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:1")
    plan = published.plan()
    assert plan["dest"] == "containers-storage"
    assert "no docker daemon answers at tcp://127.0.0.1:1 (DOCKER_HOST)" in plan["dest_reason"]


def test_a_stopped_daemon_is_a_daemon_error_not_a_registry_error(published, daemon):
    daemon.stop()

    for command in ("plan", "pull"):
        proc = published.run(command, "--dest", "docker-daemon")

        assert proc.returncode == 7, proc.stderr
        assert f"docker daemon at {daemon.host}: not answering" in proc.stderr
        assert "registry" not in proc.stderr.lower() and "Traceback" not in proc.stderr


# -- the generated script ----------------------------------------------------------------


@pytest.fixture
def script(published, tmp_path):
    """The pull script of the project's plan (all stages), and a PATH of only sh,
    coreutils and skopeo to run it with."""
    path = tmp_path / "pull-cache.sh"
    proc = published.run("script", "--all-stages", "--dest", "docker-daemon", "-o", path)
    assert proc.returncode == 0, proc.stderr
    bindir = tmp_path / "bin"
    bindir.mkdir()
    return path, make_minimal_path(bindir)


@pytest.mark.parametrize("shell", ["dash", "busybox sh"])
def test_script_pulls_into_the_daemon_skips_on_rerun_and_replaces_a_wrong_stage(
        published, daemon, script, shell):
    path, bindir = script
    plan = published.plan("--dest", "docker-daemon", "--all-stages")
    env = {"WERFPULL_DEST": "docker-daemon", "DOCKER_HOST": daemon.host}

    proc = run_script(path, "pull", path=bindir, env=env, shell=shell)

    assert proc.returncode == 0, proc.stderr
    assert daemon.images() == image_ids(plan)
    again = run_script(path, "pull", path=bindir, env=env, shell=shell)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("skipped") == len(plan["pulls"])
    assert "pulling" not in again.stderr
    first, second = sorted(image_ids(plan))[:2]
    daemon.docker("tag", first, second)
    fixed = run_script(path, "pull", path=bindir, env=env, shell=shell)
    assert fixed.returncode == 0, fixed.stderr
    pulling = [line for line in fixed.stderr.splitlines() if "pulling" in line]
    assert len(pulling) == 1 and second.split(":image-stage-")[1] in pulling[0]
    assert daemon.images() == image_ids(plan)


def test_script_exports_a_bundle_and_imports_it_into_the_daemon(published, daemon, script,
                                                                tmp_path):
    path, bindir = script
    plan = published.plan("--dest", "docker-daemon", "--all-stages")
    bundle = tmp_path / "bundle"
    assert run_script(path, "export", str(bundle), path=bindir).returncode == 0

    env = {"WERFPULL_DEST": "docker-daemon", "DOCKER_HOST": daemon.tcp_host}
    proc = run_script(path, "import", str(bundle), path=bindir, env=env)

    assert proc.returncode == 0, proc.stderr
    assert daemon.images() == image_ids(plan)
    again = run_script(path, "import", str(bundle), path=bindir, env=env)
    assert again.returncode == 0 and again.stderr.count("skipped") == len(plan["pulls"])


def test_script_names_a_stopped_daemon(published, daemon, script):
    path, bindir = script
    daemon.stop()
    env = {"WERFPULL_DEST": "docker-daemon", "DOCKER_HOST": daemon.host, "WERFPULL_RETRIES": "0"}

    proc = run_script(path, "pull", path=bindir, env=env)

    assert proc.returncode == 1, proc.stderr
    assert "failed; rerun to continue" in proc.stderr


# -- faults and spellings ------------------------------------------------------------------


def test_daemon_killed_mid_pull_leaves_nothing_wrongly_tagged_and_a_rerun_completes(
        project, proxy, daemon, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", daemon.host)
    project.publish(payload=2_000_000)
    plan = json.loads(werfpull("plan", *project.args("--dest", "docker-daemon", "--format",
                                                       "json")).stdout)
    run = start_copying(project, proxy, "docker-daemon", str(daemon.dir))

    daemon.kill()
    rc = run.wait()

    assert rc == 7, run.stderr
    assert f"docker daemon at {daemon.host}: not answering" in run.stderr
    assert "registry" not in run.stderr.split("error:", 1)[1]
    assert "retry" not in run.stderr  # a daemon fault is not retried as a registry blip
    daemon.start()  # removes what the killed daemon left: socket, pid file, mounts
    want = image_ids(plan)
    assert all(want.get(name) == image_id for name, image_id in daemon.images().items())
    proxy.clear()
    again = werfpull("pull", *project.args("--dest", "docker-daemon", "--format", "json"))
    assert again.returncode == 0, again.stderr
    assert daemon.images() == want


def test_docker_hub_spellings_are_recognised_as_local(published, daemon):
    plan = published.plan("--dest", "docker-daemon")
    assert published.run("pull", "--dest", "docker-daemon").returncode == 0
    ids = {p["signature"]: p["layers"][0][0] for p in plan["pulls"]}
    dest = DockerDaemon()
    for spelling in ("docker.io/library/stages", "docker.io/werf/stages",
                     "index.docker.io/werf/stages", "index.docker.io/library/stages"):
        for sig in ids:  # no network: the names are given with docker tag
            daemon.docker("tag", f"{plan['repo']}:image-stage-{sig}",
                          f"{spelling}:image-stage-{sig}")

        assert dest.present(Repo(spelling), list(ids), RegistryOptions()) == ids, spelling
        for sig, image_id in ids.items():
            assert dest.verify(Repo(spelling), sig, "", image_id, "") is None
    printed = set(daemon.images())
    assert {f"stages:image-stage-{s}" for s in ids} <= printed  # docker's short spelling
    assert {f"werf/stages:image-stage-{s}" for s in ids} <= printed
