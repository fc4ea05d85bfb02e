"""Builds with the reference builder, as the build tests run them: `werfpull` for a
build (failing loudly), `Host` (a containers-storage root of its own with the offline
base image of scripts/make-base-image), `base_host` (one for a block) and the readers
of a build report.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.git import GitRepo, new_repo
from tests.support.stages import ROOT

MAKE_BASE = ROOT / "scripts" / "make-base-image"
BASE = "localhost/werfpull-demo/busybox:1"
# What a build test needs: `pytestmark = BUILDAH` in its module.
BUILDAH = [
    pytest.mark.buildah,
    pytest.mark.skipif(shutil.which("buildah") is None, reason="needs buildah"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
]


def werfpull(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("REGISTRY_AUTH_FILE", None)
    proc = subprocess.run([sys.executable, "-m", "werfpull", *args], env=env, text=True,
                          capture_output=True, timeout=600)
    if check and proc.returncode != 0:
        raise AssertionError(f"werfpull {' '.join(args)} exited with {proc.returncode}:\n"
                             f"{proc.stderr[-3000:]}")
    return proc


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Host:
    """A build host: its own containers-storage root, with the offline base image."""

    base: Path

    @property
    def store(self) -> str:
        return f"containers-storage:[vfs@{self.base}/root+{self.base}/run]"

    @property
    def flags(self) -> list[str]:
        return ["--storage-driver", "vfs", "--root", f"{self.base}/root",
                "--runroot", f"{self.base}/run"]

    def setup(self) -> Host:
        subprocess.run([str(MAKE_BASE), self.store], check=True, capture_output=True)
        return self

    def buildah(self, *args: str) -> str:
        return subprocess.run(["buildah", *self.flags, *args], check=True, text=True,
                              capture_output=True).stdout

    def build(self, project: Path, repo: str, *extra: str) -> dict:
        report = self.base / "report.json"
        werfpull("build", "--dir", str(project), "--storage", self.store, "--repo", repo,
                 "--report", str(report), *extra)
        return json.loads(report.read_text())

    def names(self) -> set[str]:
        images = json.loads(self.buildah("images", "--json") or "[]") or []
        return {n for image in images for n in image.get("names") or []}

    def digest(self, name: str) -> str:
        raw = subprocess.run(["skopeo", "inspect", "--raw", f"{self.store}{name}"],
                             check=True, capture_output=True).stdout
        return sha256_digest(raw)

    def inspect(self, name: str) -> dict:
        return json.loads(self.buildah("inspect", "--type=image", name))["OCIv1"]["config"]

    @contextlib.contextmanager
    def mounted(self, name: str) -> Iterator[Path]:
        ctr = self.buildah("from", "--quiet", "--pull=never", name).strip()
        try:
            yield Path(self.buildah("mount", ctr).strip())
        finally:
            self.buildah("rm", ctr)

    def remove(self) -> None:
        shutil.rmtree(self.base, ignore_errors=True)


@contextlib.contextmanager
def base_host(path: Path) -> Iterator[Host]:
    """A host with the base image, for the block; its storage is removed after it."""
    host = Host(path).setup()
    try:
        yield host
    finally:
        host.remove()


def committed(path: Path, home: Path, files: dict[str, str], message: str = "c") -> GitRepo:
    """A new git repository at `path` with `files` ({path: text}) in its first commit."""
    repo = new_repo(path, home)
    for relpath, text in files.items():
        repo.write(relpath, text)
    repo.commit(message)
    return repo


def actions(report: dict, action: str) -> dict[str, list[str]]:
    """{image: [stage, ...]} of the report's stages with this action, in build order."""
    out: dict[str, list[str]] = {}
    for s in report["stages"]:
        if s["action"] == action:
            out.setdefault(s["image"], []).append(s["stage"])
    return out


def final_name(report: dict, image: str) -> str:
    last = [s for s in report["stages"] if s["image"] == image][-1]
    return f"{report['repo']}:image-stage-{last['signature']}"


def signatures(project: Path) -> dict[str, dict[str, str]]:
    """{image: {stage: signature}} as `werfpull signatures` computes them."""
    out = json.loads(werfpull("signatures", "--dir", str(project), "--format", "json").stdout)
    return {i["name"]: {s["name"]: s["signature"] for s in i["stages"]} for i in out["images"]}
