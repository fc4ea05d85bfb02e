"""Destinations: where pulled stages land, how they are named, and what is already there.

Owns parsing `--dest` (containers-storage[:[driver@ROOT+RUNROOT]], docker-daemon,
oci:DIR, docker://HOST/REPO), the transport reference of a stage in it, the default
destination of this host, and listing the stages a destination already holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import socket
from dataclasses import dataclass

from werfpull import buildah, process
from werfpull.errors import UsageError
from werfpull.refs import Repo, parse_repo, stage_tag

_STORE_RE = re.compile(r"\[(?P<driver>[a-z0-9_]+)@(?P<root>/[^+\]]*)\+(?P<runroot>/[^\]]*)\]")
DOCKER_SOCKET = "/var/run/docker.sock"


@dataclass(frozen=True)
class Destination:
    transport: str  # containers-storage | docker-daemon | oci | docker
    location: str = ""  # store spec, OCI directory, or mirror repository

    @property
    def spec(self) -> str:
        if self.transport == "containers-storage":
            return f"containers-storage:{self.location}" if self.location else self.transport
        if self.transport == "docker-daemon":
            return self.transport
        if self.transport == "oci":
            return f"oci:{self.location}"
        return f"docker://{self.location}"

    @property
    def preserves_digests(self) -> bool:
        """docker-daemon rewrites manifests on load; the others keep them byte for byte."""
        return self.transport != "docker-daemon"

    @property
    def store(self) -> dict | None:
        m = _STORE_RE.fullmatch(self.location) if self.transport == "containers-storage" else None
        return m.groupdict() if m else None

    def name(self, repo: Repo, signature: str) -> str:
        """The stage's name inside the destination (without the transport)."""
        if self.transport == "docker":
            return f"{self.location}:{stage_tag(signature)}"
        return repo.tagged(signature)

    def ref(self, repo: Repo, signature: str) -> str:
        """The full skopeo transport reference of the stage in this destination."""
        name = self.name(repo, signature)
        if self.transport == "containers-storage":
            return f"containers-storage:{self.location}{name}"
        if self.transport == "docker-daemon":
            return f"docker-daemon:{name}"
        if self.transport == "oci":
            return f"oci:{self.location}:{name}"
        return f"docker://{name}"


def parse_dest(text: str) -> Destination:
    if text == "containers-storage":
        return Destination("containers-storage")
    if text.startswith("containers-storage:"):
        store = text.split(":", 1)[1]
        if not _STORE_RE.fullmatch(store):
            raise UsageError(f"--dest {text!r}: expected containers-storage:[DRIVER@ROOT+RUNROOT]"
                             " with absolute ROOT and RUNROOT")
        return Destination("containers-storage", store)
    if text == "docker-daemon":
        return Destination("docker-daemon")
    if text.startswith("oci:"):
        path = text[4:]
        if not path or ":" in path:
            raise UsageError(f"--dest {text!r}: expected oci:DIR, a directory path without ':'")
        return Destination("oci", os.path.abspath(path))
    if text.startswith("docker://"):
        return Destination("docker", parse_repo(text[len("docker://"):], "--dest").name)
    raise UsageError(
        f"--dest {text!r} is not a destination",
        hint="use containers-storage, containers-storage:[DRIVER@ROOT+RUNROOT], docker-daemon,"
             " oci:DIR or docker://HOST/REPO",
    )


def docker_daemon_reachable() -> bool:
    host = os.environ.get("DOCKER_HOST", f"unix://{DOCKER_SOCKET}")
    if not host.startswith("unix://"):
        return False  # a TCP daemon needs TLS settings we do not guess; ask for --dest
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1)
    try:
        sock.connect(host[len("unix://"):])
        return True
    except OSError:
        return False
    finally:
        sock.close()


def default_dest() -> tuple[Destination, str]:
    """The destination this host has, and why it was picked (said in plan and output)."""
    if docker_daemon_reachable():
        return Destination("docker-daemon"), "a docker daemon answers"
    return Destination("containers-storage"), "no docker daemon answers"


# -- what the destination already holds --------------------------------------------------


def local_stages(dest: Destination, repo: Repo, signatures: list[str],
                 opts=None) -> dict[str, str | None]:
    """{signature: manifest digest or None} for the wanted stages the destination holds.

    A None digest means present with a digest we cannot read cheaply (docker-daemon).
    """
    wanted = {dest.name(repo, s): s for s in signatures}
    if dest.transport == "oci":
        return {wanted[n]: d for n, d in oci_refs(dest.location).items() if n in wanted}
    if dest.transport == "containers-storage" and shutil.which("buildah"):
        return {wanted[n]: d for n, d in storage_names(dest).items() if n in wanted}
    if dest.transport == "docker-daemon":
        return {wanted[n]: None for n in _docker_names() if n in wanted}
    from werfpull.registry import probe_local  # containers-storage without buildah, mirrors

    return probe_local(dest, repo, signatures, opts)


OCI_LOCK = ".werfpull.lock"


@contextlib.contextmanager
def oci_lock(directory: str, *, exclusive: bool):
    """werfpull's flock on an OCI layout, across processes: exclusive to write, shared to read.

    skopeo rewrites index.json in place (truncate, then write), so without the lock a
    reader can see half an index while another werfpull copies into the same layout.
    """
    try:
        fh = open(os.path.join(directory, OCI_LOCK), "a")
    except OSError:
        if exclusive:
            raise
        yield  # a layout we may read but not write: no werfpull can write it either
        return
    with fh:  # closing the file releases the lock
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def oci_refs(directory: str) -> dict[str, str]:
    """{ref name: manifest digest} of an OCI layout; empty when there is none yet."""
    if not os.path.isdir(directory):
        return {}
    try:
        with oci_lock(directory, exclusive=False), \
                open(os.path.join(directory, "index.json"), encoding="utf-8") as fh:
            index = json.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise UsageError(f"{directory}/index.json is not a readable OCI index: {exc}") from None
    out = {}
    for desc in index.get("manifests", []):
        name = (desc.get("annotations") or {}).get("org.opencontainers.image.ref.name")
        if name:
            out[name] = desc.get("digest")
    return out


def oci_blobs(directory: str) -> set[str]:
    """Digests of the blobs an OCI layout already has (so they need no download)."""
    blob_dir = os.path.join(directory, "blobs", "sha256")
    try:
        return {"sha256:" + name for name in os.listdir(blob_dir)}
    except FileNotFoundError:
        return set()


def storage_flags(dest: Destination) -> list[str]:
    store = dest.store
    if not store:
        return []
    return ["--storage-driver", store["driver"], "--root", store["root"],
            "--runroot", store["runroot"]]


def storage_names(dest: Destination) -> dict[str, str]:
    result = process.run(buildah.images_json(storage_flags(dest)))
    if not result.ok:
        raise result.error(f"cannot list images in {dest.spec}: "
                           f"{result.stderr.strip().splitlines()[-1:] or result.code}")
    out = {}
    for image in json.loads(result.stdout or b"[]") or []:
        for name in image.get("names") or []:
            out[name] = image.get("digest")
    return out


def _docker_names() -> set[str]:
    result = process.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}"])
    if not result.ok:
        raise result.error("cannot list the docker daemon's images")
    return set(result.stdout.decode().split())
