"""The distributed loop end to end, with real buildah, skopeo and a real registry.

Host A builds a small project cold and pushes it; a commit changes backend's
beforeSetup; host B (another empty containers-storage root) pulls the stages cache and
builds: only beforeSetup and what follows it is built for backend, everything else is
reused. The assertions read the build reports, the registry, and the files, owners,
labels and config of the images themselves. The stages are tiny, so the whole module
stays well under a minute or two.
"""

from __future__ import annotations

import json
import subprocess
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.builds import (
    BASE,
    BUILDAH,
    Host,
    actions,
    base_host,
    committed,
    final_name,
    sha256_digest,
    signatures,
    werfpull,
)
from tests.support.git import GitRepo

APP_UID = APP_GID = 1000  # "app" in the base image's /etc/passwd and /etc/group

pytestmark = BUILDAH

GIT = """\
git:
- add: /app
  to: /app
  owner: app
  group: app
  stageDependencies:
    install: [deps.txt]
    setup: ["*.sh"]
"""
BEFORE_INSTALL = """\
  beforeInstall:
  - mkdir -p /opt/base
  - echo "base packages" > /opt/base/marker
"""
CONFIG = f"""\
project: buildtest
configVersion: 1
---
artifact: tools
from: {BASE}
shell:
  install:
  - mkdir -p /out/bin /out/doc
  - echo "tool v1" > /out/bin/tool
  - echo "private" > /out/bin/signing.key
  - echo "manual" > /out/doc/README
---
image: backend
from: {BASE}
{GIT}shell:
{BEFORE_INSTALL}  install:
  - mkdir -p /opt/deps
  - cp /app/deps.txt /opt/deps/deps.txt
  beforeSetup:
  - echo "setup v1" > /opt/before-setup.txt
  setup:
  - cp /app/run.sh /opt/run.sh
import:
- artifact: tools
  add: /out
  to: /opt/tools
  includePaths: [bin]
  excludePaths: ["**/*.key"]
  owner: app
  group: app
  after: setup
docker:
  ENV: {{APP: backend}}
  LABEL: {{tier: api}}
  CMD: ["/bin/sh", "/opt/run.sh"]
---
image: frontend
from: {BASE}
{GIT}shell:
{BEFORE_INSTALL}  install:
  - mkdir -p /opt/deps
  - cp /app/deps.txt /opt/deps/deps.txt
  beforeSetup:
  - echo "frontend setup v1" > /opt/before-setup.txt
  setup:
  - cp /app/run.sh /opt/run.sh
docker:
  ENV: {{APP: frontend}}
---
image: worker
from: {BASE}
shell:
{BEFORE_INSTALL}  install:
  - echo "worker" > /opt/worker.txt
import:
- artifact: tools
  add: /out
  to: /opt/tools
  after: install
"""
APP_FILES = {
    "app/deps.txt": "dep-a 1.0\ndep-b 2.3\n",
    "app/run.sh": "#!/bin/sh\necho committed run.sh\n",
    "app/notes.txt": "notes, deleted by a later commit\n",
    # Attributes change what `git archive` gives, never what an image gets: HEAD's blobs.
    "app/.gitattributes": "notes.txt export-ignore\n",
}
BACKEND_REBUILT = ["beforeSetup", "setup", "importsAfterSetup", "gitLatestPatch",
                   "dockerInstructions"]


# -- the scenario, run once for the module ----------------------------------------------------


@dataclass
class Scenario:
    project: GitRepo
    repo: str
    host_a: Host
    host_b: Host
    report_a: dict
    pulled: list[str]  # signatures the pull on host B took
    report_b: dict
    report_b_again: dict
    report_deleted: dict  # after a commit that deletes app/notes.txt
    sigs_v1: dict
    sigs_v2: dict


@pytest.fixture(scope="module")
def scenario(registry, tmp_path_factory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("build")
    project = committed(tmp / "project", tmp / "home", {"werf.yaml": CONFIG, **APP_FILES}, "v1")
    repo = registry.repo("t/build-scenario")
    with base_host(tmp / "host-a") as host_a, base_host(tmp / "host-b") as host_b:
        sigs_v1 = signatures(project.path)
        report_a = host_a.build(project.path, repo)
        werfpull("push", repo, "--dir", str(project.path), "--storage", host_a.store,
                 "--insecure-registry")

        project.write("werf.yaml", CONFIG.replace('"setup v1"', '"setup v2"'))
        project.git("commit", "-q", "-a", "-m", "backend: setup v2")
        # Edits that are not committed must never reach an image.
        project.write("app/run.sh", "#!/bin/sh\necho UNCOMMITTED\n")
        project.write("app/untracked.txt", "untracked\n")
        sigs_v2 = signatures(project.path)

        pull = werfpull("pull", repo, "--dest", host_b.store, "--dir", str(project.path),
                        "--insecure-registry", "--format", "json")
        pulled = json.loads(pull.stdout)["pulled"]
        report_b = host_b.build(project.path, repo)
        report_b_again = host_b.build(project.path, repo)

        project.git("rm", "-q", "app/notes.txt")
        project.git("commit", "-q", "-m", "delete notes.txt")  # run.sh stays uncommitted
        # The loop again: pull first (frontend's setup is only in the registry), then build.
        werfpull("pull", repo, "--dest", host_b.store, "--dir", str(project.path),
                 "--insecure-registry")
        report_deleted = host_b.build(project.path, repo)
        yield Scenario(project, repo, host_a, host_b, report_a, pulled, report_b,
                       report_b_again, report_deleted, sigs_v1, sigs_v2)


# -- host A and the push ------------------------------------------------------------------------


def test_host_a_builds_every_stage_once(scenario):
    built = [s["signature"] for s in scenario.report_a["stages"] if s["action"] == "built"]
    every = {sig for stages in scenario.sigs_v1.values() for sig in stages.values()}
    assert sorted(built) == sorted(every)  # each signature once, shared stages too
    assert actions(scenario.report_a, "built")["backend"] == list(scenario.sigs_v1["backend"])


def test_push_sends_every_stage(scenario, registry):
    every = {sig for stages in scenario.sigs_v1.values() for sig in stages.values()}
    assert set(registry.tags(scenario.repo)) == {f"image-stage-{s}" for s in every}


def test_pull_on_another_root_keeps_the_registry_digests(scenario):
    local = {n for n in scenario.host_b.names() if n.startswith(scenario.repo + ":")}
    pulled = {f"{scenario.repo}:image-stage-{s}" for s in scenario.pulled}
    assert pulled and pulled <= local
    for name in sorted(pulled):
        served = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false",
                                 f"docker://{name}"], check=True, capture_output=True).stdout
        assert scenario.host_b.digest(name) == sha256_digest(served), name


# -- host B after the beforeSetup change ---------------------------------------------------------


def test_host_b_builds_only_before_setup_onwards(scenario):
    report, sigs = scenario.report_b, scenario.sigs_v2
    assert actions(report, "built") == {"backend": BACKEND_REBUILT}
    assert actions(report, "reused") == {
        "backend": ["install"], "tools": ["install"],
        "frontend": ["dockerInstructions"], "worker": ["importsAfterInstall"]}
    built = {s["stage"]: s["signature"] for s in report["stages"] if s["action"] == "built"}
    assert built == {stage: sigs["backend"][stage] for stage in BACKEND_REBUILT}
    assert all(scenario.sigs_v1["backend"][stage] != built[stage] for stage in built)


def test_second_build_reuses_everything(scenario):
    report = scenario.report_b_again
    assert actions(report, "built") == {}
    finals = {s["image"]: s["stage"] for s in report["stages"] if s["action"] == "reused"}
    assert finals == {"backend": "dockerInstructions", "frontend": "dockerInstructions",
                      "worker": "importsAfterInstall"}


def test_final_image_has_head_files_and_the_new_before_setup(scenario):
    with scenario.host_b.mounted(final_name(scenario.report_b, "backend")) as root:
        assert (root / "opt/before-setup.txt").read_text() == "setup v2\n"
        for path in ("app/deps.txt", "app/run.sh", "app/notes.txt", "app/.gitattributes"):
            assert (root / path).read_text() == APP_FILES[path], path
        assert (root / "opt/run.sh").read_text() == APP_FILES["app/run.sh"]  # not UNCOMMITTED
        assert (root / "opt/deps/deps.txt").read_text() == APP_FILES["app/deps.txt"]
        assert not (root / "app/untracked.txt").exists()
        assert not (root / "app/werf.yaml").exists()  # outside the mapping's add
        for path in ("app/run.sh", "app/deps.txt", "app"):  # the mapping's directory too
            st = (root / path).lstat()
            assert (st.st_uid, st.st_gid) == (APP_UID, APP_GID), path
        assert (root / "opt").stat().st_uid == 0  # nothing outside the mapping


def test_import_respects_include_exclude_and_owner(scenario):
    with scenario.host_b.mounted(final_name(scenario.report_b, "backend")) as root:
        tool = root / "opt/tools/bin/tool"
        assert tool.read_text() == "tool v1\n"
        assert (tool.stat().st_uid, tool.stat().st_gid) == (APP_UID, APP_GID)
        assert not (root / "opt/tools/bin/signing.key").exists()  # excludePaths
        assert not (root / "opt/tools/doc").exists()  # not in includePaths
    with scenario.host_b.mounted(final_name(scenario.report_b, "worker")) as root:
        assert (root / "opt/tools/bin/signing.key").exists()  # no filter there
        assert (root / "opt/tools/doc/README").read_text() == "manual\n"
        assert (root / "opt/tools/bin/tool").stat().st_uid == 0


def test_stage_labels_and_docker_instructions(scenario):
    host, report = scenario.host_b, scenario.report_b
    for s in report["stages"]:
        if s["action"] != "built":
            continue
        labels = host.inspect(f"{scenario.repo}:image-stage-{s['signature']}")["Labels"]
        assert labels["werfpull.stage"] == s["stage"]
        assert labels["werfpull.signature"] == s["signature"]
        assert labels["werfpull.project"] == "buildtest"
        assert labels["werfpull.stage-format"] == "werfpull-stage/1"  # spec, section 2
    config = host.inspect(final_name(report, "backend"))
    assert "APP=backend" in config["Env"]
    assert config["Cmd"] == ["/bin/sh", "/opt/run.sh"]
    assert config["Labels"]["tier"] == "api"
    assert "APP=frontend" in host.inspect(final_name(report, "frontend"))["Env"]


def test_deleted_file_is_gone_after_git_latest_patch(scenario):
    report = scenario.report_deleted
    assert actions(report, "built") == {"backend": ["gitLatestPatch", "dockerInstructions"],
                                        "frontend": ["gitLatestPatch", "dockerInstructions"]}
    with scenario.host_b.mounted(final_name(report, "backend")) as root:
        assert not (root / "app/notes.txt").exists()
        assert (root / "app/run.sh").read_text() == APP_FILES["app/run.sh"]
        assert (root / "opt/before-setup.txt").read_text() == "setup v2\n"


# -- failures --------------------------------------------------------------------------------


def test_ansible_is_a_clear_config_error(git_repo, host):
    git_repo.write("werf.yaml", textwrap.dedent(f"""\
        project: ansibletest
        configVersion: 1
        ---
        image: app
        from: {BASE}
        ansible:
          install:
          - name: say hello
            shell: echo hello
        """))
    git_repo.commit()
    proc = werfpull("build", "--dir", str(git_repo.path), "--storage", host.store, check=False)
    assert proc.returncode == 3, proc.stderr
    assert "not supported by the reference builder" in proc.stderr
    assert "image 'app'" in proc.stderr


def test_failing_shell_command_names_image_and_stage(git_repo, host):
    git_repo.write("werf.yaml", textwrap.dedent(f"""\
        project: failtest
        configVersion: 1
        ---
        image: broken
        from: {BASE}
        shell:
          beforeInstall:
          - echo fine > /fine.txt
          install:
          - echo "about to fail" >&2
          - exit 7
        """))
    git_repo.commit()
    sigs = signatures(git_repo.path)["broken"]
    proc = werfpull("build", "--dir", str(git_repo.path), "--storage", host.store, check=False)
    assert proc.returncode == 6, proc.stderr
    error = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert error and "image 'broken' install failed (exit 7): about to fail" in error[0], \
        proc.stderr  # the command's own last word, not buildah's "exit status 7"
    names = host.names()
    repo = "localhost/failtest/stages"
    assert f"{repo}:image-stage-{sigs['beforeInstall']}" in names  # built before the failure
    assert f"{repo}:image-stage-{sigs['install']}" not in names
    assert json.loads(host.buildah("containers", "--json") or "[]") in ([], None)


def test_a_briefly_unknown_blob_during_push_is_retried():
    # docker-registry 2.8 rewrites a layer's link in place when parallel pushes upload the
    # same layer; the manifest PUT that reads it then fails with "blob unknown".
    from werfpull.apply.push import PushFrom
    from werfpull.destinations import parse_dest
    from werfpull.plan.model import Pull
    from werfpull.refs import Repo
    from werfpull.tools import process
    from werfpull.tools.registry_errors import is_transient
    from werfpull.tools.skopeo import RegistryOptions

    sig = "a" * 64
    pull = Pull(f"image-stage-{sig}", sig, "install", "", None, [], [])
    pusher = PushFrom(Repo("127.0.0.1:5000/x/stages"), parse_dest("containers-storage"),
                      RegistryOptions(insecure=True), {})
    stderr = (b'time="..." level=fatal msg="writing manifest: uploading manifest image-stage-'
              b'aaa to 127.0.0.1:5000/x/stages: manifest blob unknown: blob unknown to '
              b'registry"\n')
    error = pusher.copy_error(pull, process.Result(["skopeo"], 1, b"", stderr))
    assert is_transient(error), error
    other = pusher.copy_error(pull, process.Result(["skopeo"], 1, b"", b"manifest unknown"))
    assert not is_transient(other) and "no longer in the registry" not in str(other)
