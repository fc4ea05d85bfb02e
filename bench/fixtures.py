"""Fixtures made fast: a big git repository, a registry with a long tag history.

* `git_repo_with_files`: one commit of N files written with `git fast-import`, so no
  file of the tree is ever written to the work tree; werf.yaml is both committed and
  written to the work tree (the only file there), which is all werfpull reads.
* `seed_tags`: T tags written straight into Docker Distribution 2.8's filesystem
  storage, all pointing at the manifest of one image pushed for real, because
  pushing 20,000 tags through the API takes far longer than the benchmark itself.
* `Registry` and the OCI helpers come from tests/support/registry.py, shared with the tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from bench.timing import progress
from tests.support.registry import Registry, make_oci_image, push_oci

__all__ = ["Registry", "fake_stage_tags", "git_env", "git_repo_with_files", "images_config",
           "push_seed_image", "seed_tags", "skopeo_digest", "skopeo_tags", "tempdir"]


@contextlib.contextmanager
def tempdir(prefix: str) -> Iterator[Path]:
    """A directory under /tmp, removed afterwards however the block ends."""
    path = Path(tempfile.mkdtemp(prefix=f"werfpull-bench-{prefix}-", dir="/tmp"))
    try:
        yield path
    finally:
        t0 = time.perf_counter()
        shutil.rmtree(path, ignore_errors=True)
        if time.perf_counter() - t0 > 2:
            progress(f"removed {path} in {time.perf_counter() - t0:.0f} s")


def git_env(home: Path, identity: bool = False) -> dict[str, str]:
    """git without the host's system and global configuration; `identity` for commits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), GIT_CONFIG_NOSYSTEM="1",
               GIT_TERMINAL_PROMPT="0")
    if identity:
        env.update(GIT_AUTHOR_NAME="bench", GIT_AUTHOR_EMAIL="bench@werfpull.invalid",
                   GIT_COMMITTER_NAME="bench", GIT_COMMITTER_EMAIL="bench@werfpull.invalid")
    return env


def images_config(project: str, images: int, artifacts: int, width: int = 3) -> str:
    """A werf.yaml of `images` images and `artifacts` artifacts, shell stages: every tenth
    document names two images with one body (`image: [a, b]`), some images build on
    others (`fromImage`), some import an artifact, images of a base share their
    `beforeInstall` stage. Image names are zero-padded to `width` digits."""
    docs = [f"project: {project}\nconfigVersion: 1\n"]
    for a in range(artifacts):
        docs.append(f"artifact: art{a}\nfrom: alpine:3.18\nshell:\n"
                    f"  install: [make -C /src/art{a}]\n  setup: [strip /out/art{a}]\n")
    i = 0
    while i < images:
        if i % 10 == 8 and i + 1 < images:
            names, step = f"[img{i:0{width}d}, img{i + 1:0{width}d}]", 2
        else:
            names, step = f"img{i:0{width}d}", 1
        base = (f"fromImage: img{i - 1:0{width}d}" if i % 20 == 5 else
                f"from: {'alpine:3.18' if i % 3 == 0 else 'debian:12'}")
        body = (f"image: {names}\n{base}\nshell:\n"
                f"  beforeInstall: [apt-get update, apt-get install -y pkg{i % 17}]\n"
                f"  install: [pip install -r requirements-{i}.txt]\n"
                f"  beforeSetup: [make configure]\n"
                f"  setup: [make build TARGET={i}]\n"
                f"  setupCacheVersion: {i % 3}\n"
                f"docker:\n  ENV: {{APP: img{i:0{width}d}}}\n")
        if i % 25 == 0 and artifacts:
            body += (f"import:\n- artifact: art{(i // 25) % artifacts}\n  add: /out\n"
                     f"  to: /opt/art\n  after: install\n")
        docs.append(body)
        i += step
    return "---\n".join(docs)


def git_repo_with_files(path: Path, files: Iterable[tuple[str, bytes]],
                        worktree: dict[str, str], env: dict[str, str]) -> int:
    """Init `path` and commit `files` plus `worktree` in one fast-import; returns #entries.

    `worktree` files (werf.yaml) are also written to the work tree. The index stays
    empty, so `git status` shows the other files as deleted; `git ls-tree HEAD`, which
    is all werfpull reads, lists the whole commit.
    """
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True, env=env)
    stream = bytearray(b"commit refs/heads/main\n"
                       b"committer werfpull bench <bench@werfpull.invalid> 0 +0000\n"
                       b"data 6\nbench\n")
    count = 0
    for name, data in [*files, *((n, t.encode()) for n, t in worktree.items())]:
        stream += b"M 100644 inline %s\ndata %d\n%s\n" % (name.encode(), len(data), data)
        count += 1
    stream += b"\n"
    subprocess.run(["git", "fast-import", "--quiet"], input=bytes(stream), cwd=path,
                   check=True, env=env)
    for name, text in worktree.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_text(text, encoding="utf-8")
    return count


# -- the registry ---------------------------------------------------------------------------


def push_seed_image(registry: Registry, repo_name: str, tag: str, workdir: Path) -> str:
    """Push one real small image as `repo_name:tag`; returns its manifest digest."""
    image = make_oci_image(workdir, tag, {"seed.txt": b"werfpull bench seed\n"})
    push_oci(workdir, tag, f"{registry.repo(repo_name)}:{tag}")
    return image["manifest_digest"]


def seed_tags(registry: Registry, repo_name: str, digest: str, tags: Iterable[str]) -> int:
    """Write tags into the registry's storage, each pointing at the pushed `digest`.

    Docker Distribution 2.8's filesystem layout: a tag is
    `_manifests/tags/<tag>/current/link` (the digest it points at) plus
    `_manifests/tags/<tag>/index/sha256/<hex>/link` (its history); the manifest
    revision and blobs already exist because `digest` was pushed through the API.
    The registry keeps no tag cache, so the tags are served as soon as they exist.
    """
    base = (registry.storage_dir / "docker" / "registry" / "v2" / "repositories" /
            repo_name / "_manifests")
    hexdigest = digest.split(":", 1)[1]
    if not (base / "revisions" / "sha256" / hexdigest / "link").exists():
        raise RuntimeError(f"{digest} was not pushed to {repo_name}: push the seed image first")
    tags_dir, data, count = base / "tags", digest.encode(), 0
    for tag in tags:
        tag_dir = os.path.join(tags_dir, tag)
        index_dir = os.path.join(tag_dir, "index", "sha256", hexdigest)
        os.makedirs(index_dir)
        os.mkdir(os.path.join(tag_dir, "current"))
        for link in (os.path.join(tag_dir, "current", "link"), os.path.join(index_dir, "link")):
            fd = os.open(link, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                os.write(fd, data)
            finally:
                os.close(fd)
        count += 1
    return count


def fake_stage_tags(count: int, seed: str) -> Iterator[str]:
    """`image-stage-<sha256>` tags no config of ours can produce: old builds' history."""
    for i in range(count):
        yield "image-stage-" + hashlib.sha256(f"{seed}/{i}".encode()).hexdigest()


def skopeo_tags(registry: Registry, repo_name: str) -> list[str]:
    """The tags `skopeo list-tags` reports (follows pagination, as werfpull's does)."""
    proc = subprocess.run(["skopeo", "list-tags", "--tls-verify=false",
                           f"docker://{registry.repo(repo_name)}"],
                          capture_output=True, check=True)
    return json.loads(proc.stdout).get("Tags") or []


def skopeo_digest(ref: str) -> str:
    proc = subprocess.run(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
                          capture_output=True, check=True)
    return "sha256:" + hashlib.sha256(proc.stdout).hexdigest()
