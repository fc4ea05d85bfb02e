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
        project, repo, tmp_path, minimal_path):  # noqa: F811
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
