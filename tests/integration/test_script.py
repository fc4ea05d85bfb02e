"""Generated pull scripts, run for real with only a shell, coreutils and skopeo on PATH."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from tests.support.stages import publish_stages
from werfpull.apply.pull import copy_argv
from werfpull.destinations import parse_dest
from werfpull.errors import PlanError
from werfpull.plan.make import PlanRequest, make_plan
from werfpull.plan.planfile import load_plan
from werfpull.refs import Repo
from werfpull.script.render import render, shquote
from werfpull.tools import skopeo

CONFIG = """\
project: scripted
configVersion: 1
---
image: [api, worker]
from: base:1
shell:
  install: make deps
  setup: make app
---
image: web
from: base:2
shell:
  install: make web
"""
SHELLS = ["dash", "busybox sh"]


@pytest.fixture(scope="module")
def minimal_path(tmp_path_factory) -> Path:
    return make_minimal_path(tmp_path_factory.mktemp("minimal-bin"))


def make_minimal_path(bindir: Path) -> Path:
    """A bin directory with a shell, coreutils and skopeo, and nothing else."""
    files = subprocess.run(["dpkg", "-L", "coreutils"], capture_output=True, text=True,
                           check=True).stdout.split()
    for path in files:
        if "/bin/" in path and os.path.isfile(path) and os.access(path, os.X_OK):
            target = bindir / os.path.basename(path)
            if not target.exists():
                target.symlink_to(path)
    (bindir / "skopeo").symlink_to(shutil.which("skopeo"))
    (bindir / "sh").symlink_to(shutil.which("dash"))
    return bindir


def run_script(script: Path, *args, path: Path, env=None, shell="dash"):
    environ = {"PATH": str(path), "HOME": str(script.parent), "TMPDIR": str(script.parent)}
    environ.update(env or {})
    argv = [shutil.which(shell.split()[0]), *shell.split()[1:], str(script), *args]
    return subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=300)


@pytest.fixture
def project(git_repo, repo):
    git_repo.write("werf.yaml", CONFIG)
    git_repo.commit()
    publish_stages(repo, str(git_repo.path))
    return str(git_repo.path)


def make(repo, project, tmp_path, **kw):
    kw.setdefault("dest", f"oci:{tmp_path}/planned-dest")
    return make_plan(PlanRequest(repo=repo, directory=project,
                                 registry=skopeo.RegistryOptions(insecure=True), **kw))


def write_script(plan, tmp_path, name="pull.sh") -> Path:
    path = tmp_path / name
    path.write_text(render(plan))
    path.chmod(0o755)
    return path


def oci_digests(directory: Path) -> dict[str, str]:
    index = json.loads((directory / "index.json").read_text())
    return {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
            for m in index["manifests"]}


def storage_digest(store: str, name: str) -> str:
    raw = subprocess.run(["skopeo", "inspect", "--raw", f"containers-storage:{store}{name}"],
                         capture_output=True, check=True).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def test_export_then_import_into_oci_and_containers_storage(project, repo, tmp_path,
                                                            minimal_path):
    plan = make(repo, project, tmp_path, all_stages=True)
    assert len(plan.pulls) >= 5
    script = write_script(plan, tmp_path)
    bundle = tmp_path / "bundle"
    proc = run_script(script, "export", str(bundle), path=minimal_path)
    assert proc.returncode == 0, proc.stderr
    assert (bundle / "SHA256SUMS").is_file()

    wanted = {Repo(repo).tagged(p.signature): p.digest for p in plan.pulls}
    oci = tmp_path / "imported"
    proc = run_script(script, "import", str(bundle), path=minimal_path,
                      env={"WERFPULL_DEST": f"oci:{oci}"})
    assert proc.returncode == 0, proc.stderr
    assert oci_digests(oci) == wanted

    store = f"[vfs@{tmp_path}/root+{tmp_path}/run]"
    proc = run_script(script, "import", str(bundle), path=minimal_path, shell="busybox sh",
                      env={"WERFPULL_DEST": f"containers-storage:{store}"})
    assert proc.returncode == 0, proc.stderr
    for name, digest in wanted.items():
        assert storage_digest(store, name) == digest


@pytest.mark.parametrize("shell", SHELLS)
def test_pull_directly_then_rerun_skips_everything(project, repo, tmp_path, minimal_path,
                                                   shell):
    plan = make(repo, project, tmp_path)
    assert plan.pulls
    script = write_script(plan, tmp_path)
    proc = run_script(script, "pull", path=minimal_path, shell=shell)
    assert proc.returncode == 0, proc.stderr
    dest = Path(plan.dest[len("oci:"):])
    assert oci_digests(dest) == {Repo(repo).tagged(p.signature): p.digest for p in plan.pulls}
    again = run_script(script, "pull", path=minimal_path, shell=shell)
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("skipped") == len(plan.pulls)
    assert "pulling" not in again.stderr


def test_corrupted_bundle_is_refused_before_anything_is_copied(project, repo, tmp_path,
                                                               minimal_path):
    plan = make(repo, project, tmp_path)
    script = write_script(plan, tmp_path)
    bundle = tmp_path / "bundle"
    assert run_script(script, "export", str(bundle), path=minimal_path).returncode == 0
    blob = sorted((bundle / "blobs" / "sha256").iterdir())[0]
    blob.write_bytes(blob.read_bytes()[:-1])  # truncated
    target = tmp_path / "never"
    proc = run_script(script, "import", str(bundle), path=minimal_path,
                      env={"WERFPULL_DEST": f"oci:{target}"})
    assert proc.returncode == 1
    assert "failed its checksums" in proc.stderr
    assert not target.exists()


@pytest.mark.parametrize("shell", SHELLS)
def test_a_layout_another_script_is_writing_is_left_alone(project, repo, tmp_path,
                                                          minimal_path, shell):
    """Two scripts writing one OCI layout would lose each other's stages (skopeo
    rewrites index.json whole): the second stops at once, touching nothing, and leaves
    the first one's lock as it was."""
    plan = make(repo, project, tmp_path)
    script = write_script(plan, tmp_path)
    bundle, dest = tmp_path / "bundle", tmp_path / "dest"
    writer = subprocess.Popen(["sleep", "60"])  # a live pid, standing for the first script
    holder = f"{writer.pid} {os.uname().nodename}"
    try:
        for directory, args, env in ((bundle, ("export", str(bundle)), {}),
                                     (dest, ("pull",), {"WERFPULL_DEST": f"oci:{dest}"})):
            directory.mkdir()
            (directory / ".pull-cache.lock").write_text(f"{holder}\n")
            proc = run_script(script, *args, path=minimal_path, shell=shell, env=env)
            assert proc.returncode == 1, proc.stderr
            assert f"another script ({holder}) is writing {directory}" in proc.stderr
            assert sorted(os.listdir(directory)) == [".pull-cache.lock"]
            assert (directory / ".pull-cache.lock").read_text() == f"{holder}\n"
    finally:
        writer.kill()
        writer.wait()


@pytest.mark.parametrize("holder", ["1 {host}", "{gone} other-host", "", "not a pid"])
def test_a_lock_is_taken_over_only_from_a_writer_gone_from_this_host(
        project, repo, tmp_path, minimal_path, holder):
    """pid 1 runs (a live writer; were it another user's, kill -0 could not signal it
    and /proc would still show it); another host's pid cannot be checked from here; an
    unreadable lock proves nothing. Each is left alone, naming the lock to remove."""
    plan = make(repo, project, tmp_path)
    gone = subprocess.Popen(["true"])
    gone.wait()
    holder = holder.format(host=os.uname().nodename, gone=gone.pid)
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / ".pull-cache.lock").write_text(f"{holder}\n")
    proc = run_script(write_script(plan, tmp_path), "export", str(bundle), path=minimal_path)
    assert proc.returncode == 1, proc.stderr
    assert f"or remove {bundle}/.pull-cache.lock if none is" in proc.stderr
    assert sorted(os.listdir(bundle)) == [".pull-cache.lock"]


@pytest.mark.parametrize("shell", SHELLS)
def test_a_lock_whose_writer_is_gone_is_taken_over_and_released(project, repo, tmp_path,
                                                                 minimal_path, shell):
    plan = make(repo, project, tmp_path)
    script = write_script(plan, tmp_path)
    bundle = tmp_path / "bundle"
    gone = subprocess.Popen(["true"])
    gone.wait()  # its pid names no process now
    bundle.mkdir()
    (bundle / ".pull-cache.lock").write_text(f"{gone.pid} {os.uname().nodename}\n")
    proc = run_script(script, "export", str(bundle), path=minimal_path, shell=shell)
    assert proc.returncode == 0, proc.stderr
    assert (bundle / "SHA256SUMS").is_file()
    assert not [n for n in os.listdir(bundle) if n.startswith(".pull-cache.lock")]
    dest = tmp_path / "imported"
    proc = run_script(script, "import", str(bundle), path=minimal_path, shell=shell,
                      env={"WERFPULL_DEST": f"oci:{dest}"})
    assert proc.returncode == 0, proc.stderr
    assert oci_digests(dest) == {Repo(repo).tagged(p.signature): p.digest for p in plan.pulls}
    assert not [n for n in os.listdir(dest) if n.startswith(".pull-cache.lock")]


def test_a_script_removes_only_its_own_lock(project, repo, tmp_path, minimal_path):
    """Should another script's lock replace this one's meanwhile (two took over one
    stale lock at once), leaving does not remove it."""
    plan = make(repo, project, tmp_path)
    text = render(plan).replace('each_stage export_stage\n',
                                'each_stage export_stage\n\tprintf "1 other\\n" >"$lock"\n')
    script = tmp_path / "pull.sh"
    script.write_text(text)
    bundle = tmp_path / "bundle"
    proc = run_script(script, "export", str(bundle), path=minimal_path)
    assert proc.returncode == 0, proc.stderr
    assert (bundle / ".pull-cache.lock").read_text() == "1 other\n"


def test_bundle_of_another_plan_is_refused(project, repo, tmp_path, minimal_path):
    plan = make(repo, project, tmp_path)
    bundle = tmp_path / "bundle"
    assert run_script(write_script(plan, tmp_path), "export", str(bundle),
                      path=minimal_path).returncode == 0
    other = write_script(replace(plan, all_stages=True), tmp_path, "other.sh")
    proc = run_script(other, "import", str(bundle), path=minimal_path,
                      env={"WERFPULL_DEST": f"oci:{tmp_path}/x"})
    assert proc.returncode == 1 and "another plan" in proc.stderr


def test_same_plan_renders_byte_identical_scripts(project, repo, tmp_path):
    plan_file = tmp_path / "plan.json"
    subprocess.run([sys.executable, "-m", "werfpull", "plan", repo, "--dir", project,
                    "--insecure-registry", "--dest", f"oci:{tmp_path}/d", "--out",
                    str(plan_file)], check=True, capture_output=True)
    outs = []
    for name in ("a.sh", "b.sh"):
        subprocess.run([sys.executable, "-m", "werfpull", "script", "--plan", str(plan_file),
                        "-o", str(tmp_path / name)], check=True, capture_output=True)
        outs.append((tmp_path / name).read_bytes())
    assert outs[0] == outs[1]
    assert os.access(tmp_path / "a.sh", os.X_OK)
    assert load_plan(str(plan_file)).identity.encode() in outs[0]


def test_script_runs_the_same_copy_as_apply(project, repo, tmp_path, minimal_path):
    """The script's skopeo argv equals apply's, but for the digest file's path."""
    plan = make(repo, project, tmp_path)
    log = tmp_path / "argv.log"
    shim_dir = tmp_path / "shim"
    shim_dir.mkdir()
    for entry in minimal_path.iterdir():
        if entry.name != "skopeo":
            (shim_dir / entry.name).symlink_to(os.readlink(entry))
    shim = shim_dir / "skopeo"
    shim.write_text(f'#!/bin/dash\nprintf "%s\\n" "$*" >>{log}\n'
                    f'exec {shutil.which("skopeo")} "$@"\n')
    shim.chmod(0o755)
    proc = run_script(write_script(plan, tmp_path), "pull", path=shim_dir)
    assert proc.returncode == 0, proc.stderr
    copies = [line for line in log.read_text().splitlines() if line.startswith("copy ")]
    dest = parse_dest(plan.dest)
    opts = skopeo.RegistryOptions(insecure=True)
    expected = [" ".join(copy_argv(Repo(plan.repo), p, dest, opts, digestfile="DIGESTFILE",
                                  staged=False)[1:])
                for p in plan.pulls]
    normalised = [" ".join("--digestfile=DIGESTFILE" if w.startswith("--digestfile=") else w
                           for w in line.split()) for line in copies]
    assert normalised == expected


HOSTILE = ["$(touch PWNED)", "`touch PWNED`", "a'b\"c", "x\ntouch PWNED", "a;touch PWNED",
           "${IFS}touch${IFS}PWNED", "-n"]


@pytest.mark.parametrize("shell", SHELLS)
def test_hostile_names_are_quoted_so_they_cannot_run(project, repo, tmp_path, minimal_path,
                                                     shell):
    plan = make(repo, project, tmp_path)
    plan.project = "p$(touch PWNED)"
    for pull in plan.pulls:
        pull.images = HOSTILE
    script = write_script(plan, tmp_path)
    assert subprocess.run(["shellcheck", str(script)], capture_output=True).returncode == 0
    work = tmp_path / "work"
    work.mkdir()
    environ = {"PATH": str(minimal_path), "TMPDIR": str(tmp_path)}
    sh_argv = [shutil.which(shell.split()[0]), *shell.split()[1:]]
    for command in ("list", "pull", "--help"):
        argv = [*sh_argv, str(script), command]
        proc = subprocess.run(argv, cwd=work, env=environ, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
        assert not (work / "PWNED").exists()
    listing = subprocess.run([*sh_argv, str(script), "list"], cwd=work, env=environ,
                             capture_output=True, text=True).stdout
    assert "$(touch PWNED)" in listing and "`touch PWNED`" in listing


def test_plan_edited_to_inject_shell_is_refused(project, repo, tmp_path):
    plan_file = tmp_path / "plan.json"
    plan_file.write_text(make(repo, project, tmp_path).dumps())
    data = json.loads(plan_file.read_text())
    cases = {
        "repo": lambda d: d.update(repo="127.0.0.1:5000/x$(id)"),
        "pulls[0].digest": lambda d: d["pulls"][0].update(digest="sha256:$(reboot)"),
        "pulls[0].signature": lambda d: d["pulls"][0].update(signature="`id`"),
        "dest": lambda d: d.update(dest="sh -c 'id'"),
    }
    for field, edit in cases.items():
        edited = json.loads(json.dumps(data))
        edit(edited)
        bad = tmp_path / f"bad-{len(field)}.json"
        bad.write_text(json.dumps(edited))
        with pytest.raises(PlanError, match=field.replace("[", r"\[").replace("]", r"\]")):
            load_plan(str(bad))
        proc = subprocess.run([sys.executable, "-m", "werfpull", "script", "--plan", str(bad),
                               "-o", str(tmp_path / "never.sh")], capture_output=True, text=True)
        assert proc.returncode == 5, (field, proc.stderr)
        assert not (tmp_path / "never.sh").exists()


def test_hostile_repo_argument_is_refused(project):
    proc = subprocess.run([sys.executable, "-m", "werfpull", "script", "127.0.0.1/x;id",
                           "--dir", project], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a valid repository reference" in proc.stderr


def test_no_credentials_in_scripts(project, repo, tmp_path):
    authfile = tmp_path / "auth.json"
    authfile.write_text(json.dumps({"auths": {"x": {"auth": "c2VjcmV0OnNlY3JldA=="}}}))
    plan = make_plan(PlanRequest(repo=repo, directory=project, dest=f"oci:{tmp_path}/d",
                                 registry=skopeo.RegistryOptions(insecure=True,
                                                                 authfile=str(authfile))))
    text = render(plan) + plan.dumps()
    assert str(authfile) not in text and "c2VjcmV0" not in text


@pytest.mark.parametrize("word, quoted", [
    ("plain-word_1.2:3@sha256", "plain-word_1.2:3@sha256"),
    ("it's", "'it'\\''s'"),
    ("", "''"),
    ("a b", "'a b'"),
    ("--x=" + skopeo.shell_var("DEST"), '--x="${DEST}"'),
])
def test_shquote(word, quoted):
    assert shquote(word) == quoted


@pytest.mark.parametrize("shell", ["dash", "busybox", "bash"])
def test_scripts_parse_in_every_shell(project, repo, tmp_path, shell):
    script = write_script(make(repo, project, tmp_path), tmp_path)
    argv = [shell, "sh", "-n", str(script)] if shell == "busybox" else [shell, "-n", str(script)]
    assert subprocess.run(argv, capture_output=True).returncode == 0
    assert subprocess.run(["shellcheck", str(script)], capture_output=True).returncode == 0


def test_mirror_replaces_the_registry_host_at_run_time(git_repo, registry, repo, tmp_path,
                                                       minimal_path):
    """Planned against one host, pulled from a mirror holding the same repository path."""
    from tests.support.faultproxy import FaultProxy

    git_repo.write("werf.yaml", CONFIG)
    git_repo.commit()
    publish_stages(repo, str(git_repo.path))
    with FaultProxy.for_registry(registry) as proxy:  # the host the plan names
        plan = make(proxy.repo(repo), str(git_repo.path), tmp_path)
    assert plan.pulls and not plan.repo.startswith(registry.host)
    script = write_script(plan, tmp_path)
    dest = tmp_path / "mirrored"

    # The plan's host is gone; the mirror (the registry itself) has the same path.
    proc = run_script(script, "pull", path=minimal_path,
                      env={"WERFPULL_MIRROR": registry.host, "WERFPULL_DEST": f"oci:{dest}"})

    assert proc.returncode == 0, proc.stderr
    assert oci_digests(dest) == {Repo(plan.repo).tagged(p.signature): p.digest
                                 for p in plan.pulls}
    bad = run_script(script, "pull", path=minimal_path, env={"WERFPULL_MIRROR": "x;id"})
    assert bad.returncode == 2 and "WERFPULL_MIRROR" in bad.stderr
