"""Publish the stages of a project to a real registry, as a stage builder would.

Each stage image is its previous stage's image plus one small layer, so stages of
one chain share their lower layers in the registry, like real stage images do.
Used by the plan and pull tests and by the benchmarks.
"""

from __future__ import annotations

import os
import tempfile

from registry import make_oci_image, push_oci

from werfpull.project import load_project


def publish_stages(repo: str, project_dir: str, *, names=None, stages=None,
                   payload: int = 0, workdir: str | None = None) -> dict[str, str]:
    """Push the stages of the named images (default: all); returns {signature: digest}.

    `stages` limits which stage names are pushed (e.g. to leave a gap); `payload` adds
    that many pseudo-random bytes to each stage's layer, for size-sensitive checks.
    """
    workdir = workdir or tempfile.mkdtemp(prefix="stages-")
    project = load_project(project_dir)
    published: dict[str, str] = {}
    layers_of: dict[str, list] = {}
    for image in project.signed:
        if names is not None and image.image.name not in names:
            continue
        below: list = []
        for stage in image.stages:
            sig = stage.signature
            if sig not in layers_of:
                files = {f"stage/{stage.name}": sig.encode()}
                if payload:
                    files["stage/payload"] = _noise(sig, payload)
                layout = os.path.join(workdir, sig[:16])
                made = make_oci_image(layout, "s", files, below)
                layers_of[sig] = made["layers"]
                if stages is None or stage.name in stages:
                    push_oci(layout, "s", f"{repo}:image-stage-{sig}")
                    published[sig] = made["manifest_digest"]
            below = layers_of[sig]
    return published


def _noise(seed: str, size: int) -> bytes:
    """Incompressible but reproducible bytes, so gzip does not shrink the payload."""
    import hashlib

    out = bytearray()
    block = seed.encode()
    while len(out) < size:
        block = hashlib.sha256(block).digest()
        out += block
    return bytes(out[:size])
