"""Publish the stages of a project to a real registry, as a stage builder would.

Each stage image is its previous stage's image plus one small layer, so stages of
one chain share their lower layers in the registry, like real stage images do.
Used by the plan and pull tests and by the benchmarks, with small helpers for the
pull tests: run the CLI, read what a destination holds, delete a manifest.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path

from tests.support.registry import make_oci_image, push_oci
from werfpull.project import load_project


def publish_stages(repo: str, project_dir: str, *, names=None, stages=None,
                   payload: int = 0, workdir: str | None = None, created: str | None = None,
                   skip: set[str] | frozenset = frozenset()) -> dict[str, str]:
    """Push the stages of the named images (default: all); returns {signature: digest}.

    `stages` limits which stage names are pushed (e.g. to leave a gap); `payload` adds
    that many pseudo-random bytes to each stage's layer, for size-sensitive checks;
    `created` (RFC 3339) is each stage's creation time; signatures in `skip` are not
    pushed again (nor returned).
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
                made = make_oci_image(layout, "s", files, below, created=created)
                layers_of[sig] = made["layers"]
                if (stages is None or stage.name in stages) and sig not in skip:
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


# -- helpers for the pull tests ---------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
_STORE = re.compile(r"containers-storage:\[(\w+)@([^+\]]+)\+([^\]]+)\]")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def werfpull(*args, timeout: float = 120) -> subprocess.CompletedProcess:
    """`python -m werfpull ARGS` as a user runs it, from any directory; text output."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "werfpull", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env)


def store_flags(dest: str) -> list[str]:
    """buildah's flags for an isolated `containers-storage:[DRIVER@ROOT+RUNROOT]`."""
    m = _STORE.fullmatch(dest)
    if not m:
        raise ValueError(f"not an isolated containers-storage destination: {dest}")
    return ["--storage-driver", m[1], "--root", m[2], "--runroot", m[3]]


def landed(dest: str) -> dict[str, str]:
    """{name: manifest digest} of every image in an `oci:DIR` or isolated store."""
    if dest.startswith("oci:"):
        index = Path(dest[4:], "index.json")
        if not index.exists():
            return {}
        return {m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
                for m in json.loads(index.read_text())["manifests"]
                if "org.opencontainers.image.ref.name" in (m.get("annotations") or {})}
    out = subprocess.run(["buildah", *store_flags(dest), "images", "--json"],
                         capture_output=True, check=True, timeout=60).stdout
    return {name: image["digest"] for image in json.loads(out or b"[]") or []
            for name in image.get("names") or []}


def raw_digest(ref: str) -> str:
    """sha256 of the manifest `skopeo inspect --raw` reads from a transport reference."""
    tls = ["--tls-verify=false"] if ref.startswith("docker://") else []  # loopback HTTP
    raw = subprocess.run(["skopeo", "inspect", "--raw", *tls, ref], capture_output=True,
                         check=True, timeout=60).stdout
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def dest_ref(dest: str, name: str) -> str:
    """The transport reference of `name` in `oci:DIR` or `containers-storage:[...]`."""
    return f"{dest}:{name}" if dest.startswith("oci:") else f"{dest}{name}"


def delete_manifest(repo: str, digest: str) -> None:
    """DELETE the manifest from a loopback registry (delete is enabled there)."""
    host, name = repo.split("/", 1)
    req = urllib.request.Request(f"http://{host}/v2/{name}/manifests/{digest}",
                                 method="DELETE")
    with _NO_PROXY.open(req, timeout=10) as resp:
        assert resp.status == 202, resp.status
