# ruff: noqa: F811 (pytest fixtures imported from test_script.py are parameters here)
"""Generated pull scripts against hostile bundles, environments and registries.

Run for real with only a shell, coreutils and skopeo on PATH, like test_script.py,
whose project, plan and runner they share.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.test_script import (  # noqa: F401 (fixtures)
    make,
    minimal_path,
    oci_digests,
    project,
    run_script,
    write_script,
)


def resum(bundle: Path) -> None:
    """Regenerate SHA256SUMS the way the script writes it: a forger can do the same."""
    files = ["oci-layout", "index.json", "werfpull-plan-id"] + sorted(
        f"blobs/sha256/{p.name}" for p in (bundle / "blobs" / "sha256").iterdir())
    sums = subprocess.run(["sha256sum", "--", *files], cwd=bundle, check=True,
                          capture_output=True, text=True).stdout
    (bundle / "SHA256SUMS").write_text(sums)


def test_bundle_naming_a_stage_with_another_manifest_is_refused_before_copying(
        project, repo, tmp_path, minimal_path):
    plan = make(repo, project, tmp_path, all_stages=True)
    script = write_script(plan, tmp_path)
    bundle = tmp_path / "bundle"
    assert run_script(script, "export", str(bundle), path=minimal_path).returncode == 0
    index = json.loads((bundle / "index.json").read_text())
    # The last planned stage's name now points at the first stage's manifest.
    first, last = plan.pulls[0], plan.pulls[-1]
    for m in index["manifests"]:
        if m["annotations"]["org.opencontainers.image.ref.name"] == f"image-stage-{last.signature}":
            donor = next(d for d in index["manifests"] if d["digest"] == first.digest)
            m.update(digest=donor["digest"], size=donor["size"])
    (bundle / "index.json").write_text(json.dumps(index))
    resum(bundle)
    target = tmp_path / "imported"
    proc = run_script(script, "import", str(bundle), path=minimal_path,
                      env={"WERFPULL_DEST": f"oci:{target}"})
    assert proc.returncode == 1, proc.stderr
    assert (f"holds {first.digest} as stage {last.stage} {last.signature}, the plan says"
            f" {last.digest}; nothing was imported") in proc.stderr, proc.stderr
    assert not target.exists()  # not one stage copied, so no name on a wrong image
    store = f"[vfs@{tmp_path}/root+{tmp_path}/run]"
    proc = run_script(script, "import", str(bundle), path=minimal_path,
                      env={"WERFPULL_DEST": f"containers-storage:{store}"})
    assert proc.returncode == 1 and "nothing was imported" in proc.stderr
    for p in plan.pulls:
        name = f"containers-storage:{store}{repo}:image-stage-{p.signature}"
        assert subprocess.run(["skopeo", "inspect", "--raw", name],
                              capture_output=True).returncode != 0, name


def test_a_nul_in_an_image_name_never_becomes_a_variable(git_repo, repo, tmp_path):
    from tests.support.stages import publish_stages, werfpull

    git_repo.write("werf.yaml", 'project: nul\nconfigVersion: 1\n---\nimage: "a\\0HOME\\0b"\n'
                                'from: base:1\nshell:\n  install: make\n')
    git_repo.commit()
    publish_stages(repo, str(git_repo.path))
    out = tmp_path / "pull.sh"
    proc = werfpull("script", repo, "--dir", git_repo.path, "--insecure-registry", "-o", out)
    assert proc.returncode == 5, proc.stderr
    assert "the image name 'a\\x00HOME\\x00b' holds the control character U+0000" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not out.exists()


def run_in(script: Path, cwd: Path, *args, path: Path, env=None, timeout: float = 60):
    """The script in `cwd`, with only sh, coreutils and skopeo; (proc, seconds)."""
    import shutil
    import time
    environ = {"PATH": str(path), "HOME": str(script.parent), "TMPDIR": str(script.parent),
               **(env or {})}
    started = time.monotonic()
    proc = subprocess.run([shutil.which("dash"), str(script), *args], cwd=cwd, env=environ,
                          capture_output=True, text=True, timeout=timeout)
    return proc, time.monotonic() - started


def test_over_large_retries_are_a_usage_error(project, repo, tmp_path, minimal_path):
    script = write_script(make(repo, project, tmp_path), tmp_path)
    for value in ("99999999999999999999", "101"):
        proc, _ = run_in(script, tmp_path, "pull", path=minimal_path,
                         env={"WERFPULL_RETRIES": value})
        assert proc.returncode == 2, proc.stderr
        assert f"WERFPULL_RETRIES must be from 0 to 100, not {value}" in proc.stderr


def test_a_relative_oci_destination_is_read_from_the_working_directory(
        project, repo, tmp_path, minimal_path):
    plan = make(repo, project, tmp_path)
    script = write_script(plan, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    proc, _ = run_in(script, work, "pull", path=minimal_path, env={"WERFPULL_DEST": "oci:out"})
    assert proc.returncode == 0, proc.stderr
    assert set(oci_digests(work / "out").values()) == {p.digest for p in plan.pulls}

    colon = tmp_path / "a:b"
    colon.mkdir()
    proc, _ = run_in(script, colon, "pull", path=minimal_path, env={"WERFPULL_DEST": "oci:out"})
    assert proc.returncode == 2, proc.stderr
    assert "WERFPULL_DEST=oci:out: the path oci:" in proc.stderr and "holds ':'" in proc.stderr
    proc, _ = run_in(script, colon, "export", "bundle", path=minimal_path)
    assert proc.returncode == 2, proc.stderr
    assert f"the bundle's path {colon}/bundle holds ':'" in proc.stderr
    assert list(colon.iterdir()) == []


def _exported(project, repo, tmp_path, minimal_path):
    script = write_script(make(repo, project, tmp_path), tmp_path)
    bundle = tmp_path / "bundle"
    assert run_script(script, "export", str(bundle), path=minimal_path).returncode == 0
    return script, bundle


def test_a_bundle_blob_that_is_a_symlink_to_a_device_is_refused(project, repo, tmp_path,
                                                                minimal_path):
    script, bundle = _exported(project, repo, tmp_path, minimal_path)
    blob = sorted((bundle / "blobs" / "sha256").iterdir())[0]
    blob.unlink()
    blob.symlink_to("/dev/zero")  # sha256sum would read it for ever
    target = tmp_path / "imported"
    proc, seconds = run_in(script, tmp_path, "import", str(bundle), path=minimal_path,
                           env={"WERFPULL_DEST": f"oci:{target}"})
    assert proc.returncode == 1, proc.stderr
    assert f"{blob} is not a plain file" in proc.stderr
    assert not target.exists()


def test_a_checksum_list_naming_other_files_is_refused(project, repo, tmp_path,
                                                       minimal_path):
    script, bundle = _exported(project, repo, tmp_path, minimal_path)
    sums = bundle / "SHA256SUMS"
    sums.write_text(sums.read_text() + "0" * 64 + "  /dev/zero\n")
    proc, _ = run_in(script, tmp_path, "import", str(bundle), path=minimal_path,
                     env={"WERFPULL_DEST": f"oci:{tmp_path / 'imported'}"})
    assert proc.returncode == 1, proc.stderr
    assert "SHA256SUMS names /dev/zero: not a bundle of this script" in proc.stderr


def test_the_script_gives_up_on_a_stalled_registry(project, repo, registry, tmp_path,
                                                   minimal_path):
    from tests.support.faultproxy import FaultProxy

    script = write_script(make(repo, project, tmp_path), tmp_path)
    with FaultProxy.for_registry(registry, max_seconds=120) as proxy:
        proxy.stall(100)
        proc, seconds = run_in(script, tmp_path, "pull", path=minimal_path, timeout=90,
                               env={"WERFPULL_MIRROR": proxy.host, "WERFPULL_TIMEOUT": "2",
                                    "WERFPULL_RETRIES": "1", "WERFPULL_TLS_VERIFY": "false",
                                    "WERFPULL_DEST": f"oci:{tmp_path / 'never'}"})
    assert proc.returncode == 1, proc.stderr
    assert "failed; rerun to continue" in proc.stderr
    assert seconds < 30, seconds  # 2 attempts of 2 s and a 1 s backoff; the stall is 100 s
