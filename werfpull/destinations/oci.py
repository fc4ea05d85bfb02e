"""oci:DIR: an OCI image layout whose blobs are shared between the stages in it.

skopeo rewrites index.json in place (truncate, then write) and without a lock, so two
copies into one layout lose each other's tags, and a killed copy leaves it torn. Each
copy therefore writes a staging layout of its own under DIR/.werfpull-staging whose
blobs go straight into DIR/blobs (`--dest-shared-blob-dir`: content-addressed, renamed
into place, so parallel copies share and reuse them), and `commit` adds its entry to
DIR/index.json under werfpull's flock with an atomic rename: copies run in parallel,
only the index update is serial, and skopeo never writes DIR/index.json itself. An
index torn by an older writer is repaired before the first copy (oci_index.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import shutil
import threading
import time

from werfpull.atomic import write_atomic
from werfpull.destinations.base import Destination, LocalImage
from werfpull.destinations.oci_index import TornIndex, parse_index, remove_partial_blobs, repair
from werfpull.errors import UsageError
from werfpull.inventory.model import parse_time
from werfpull.refs import Repo

OCI_LOCK = ".werfpull.lock"
STAGING = ".werfpull-staging"
REF_NAME = "org.opencontainers.image.ref.name"
LAYOUT = '{"imageLayoutVersion":"1.0.0"}'


class OCILayout(Destination):
    transport = "oci"
    shell_cases = (("oci:/*", '"$DEST:$name"'),)

    @classmethod
    def parse(cls, text: str) -> OCILayout | None:
        if not text.startswith("oci:"):
            return None
        path = text[4:]
        if os.path.exists(path) and not os.path.isdir(path):
            raise UsageError(f"--dest {text!r}: {path} is a file, not a directory")
        if not path or ":" in os.path.abspath(path):
            raise UsageError(f"--dest {text!r}: expected oci:DIR, a directory path without ':'"
                             " (also in the working directory of a relative DIR)")
        return cls(os.path.abspath(path))

    @property
    def spec(self) -> str:
        return f"oci:{self.location}"

    def ref(self, repo: Repo, signature: str) -> str:
        return f"oci:{self.location}:{self.name(repo, signature)}"

    def copy_target(self, repo, signature, opts):
        self._prepare()
        staging = self._staging(signature)
        shutil.rmtree(staging, ignore_errors=True)  # a copy killed before left it
        os.makedirs(staging)
        side = dataclasses.replace(self.side(opts),
                                   shared_blob_dir=os.path.join(self.location, "blobs"))
        return f"oci:{staging}:{self.name(repo, signature)}", side

    def commit(self, repo, signature):
        staging = self._staging(signature)
        try:
            with open(os.path.join(staging, "index.json"), encoding="utf-8") as fh:
                added = json.load(fh).get("manifests", [])
            with oci_lock(self.location, exclusive=True):
                merge_oci_refs(self.location, added)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def discard(self, repo, signature):
        shutil.rmtree(self._staging(signature), ignore_errors=True)

    def _staging(self, signature: str) -> str:
        # One per copy: per process and thread, so two werfpulls never share one.
        return os.path.join(self.location, STAGING,
                            f"{signature[:24]}.{os.getpid()}.{threading.get_ident()}")

    def _prepare(self) -> None:
        """Create the layout, repair a torn index and drop what killed copies left."""
        try:
            os.makedirs(os.path.join(self.location, "blobs"), exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--dest oci:{self.location}: cannot create the layout:"
                             f" {exc.strerror or exc}") from None
        with oci_lock(self.location, exclusive=True):
            repair(self.location)
            remove_partial_blobs(self.location, time.time())
            _remove_dead_staging(os.path.join(self.location, STAGING))

    def present(self, repo, signatures, opts):
        wanted = {self.name(repo, s): s for s in signatures}
        return {wanted[n]: d for n, d in oci_refs(self.location).items() if n in wanted}

    def untag(self, repo, signature, opts):
        # Under the lock: another werfpull may be adding to index.json meanwhile.
        with oci_lock(self.location, exclusive=True):
            remove_oci_ref(self.location, self.name(repo, signature))

    def blobs(self) -> set[str]:
        blob_dir = os.path.join(self.location, "blobs", "sha256")
        try:
            return {"sha256:" + name for name in os.listdir(blob_dir)}
        except FileNotFoundError:
            return set()

    def local_images(self, prefixes):
        directory = self.location
        index = read_index(directory)
        out = []
        for desc in index.get("manifests", []):
            name = (desc.get("annotations") or {}).get(REF_NAME, "")
            if not name.startswith(prefixes):
                continue
            manifest = _read_json(directory, desc["digest"])
            config = (manifest.get("config") or {}).get("digest")
            created = parse_time(_read_json(directory, config).get("created")) if config else None
            if created is None and os.path.exists(_blob(directory, desc["digest"])):
                created = os.path.getmtime(_blob(directory, desc["digest"]))
            size = sum(int(b.get("size", 0)) for b in [manifest.get("config") or {},
                                                        *manifest.get("layers", [])])
            out.append(LocalImage(name, size + int(desc.get("size", 0)), created,
                                  desc["digest"]))
        return out

    def remove_images(self, names):
        """Drop the refs, then every blob no remaining manifest reaches, under the lock."""
        if names:
            with oci_lock(self.location, exclusive=True):
                _remove_unreached(self.location, set(names))


def _remove_dead_staging(directory: str) -> None:
    """Staging layouts of werfpull processes that are gone (killed mid-copy)."""
    try:
        names = os.listdir(directory)
    except OSError:
        return
    for name in names:
        pid = name.split(".")[1] if name.count(".") == 2 else ""
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(os.path.join(directory, name), ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # someone else's process: alive
    return True


@contextlib.contextmanager
def oci_lock(directory: str, *, exclusive: bool):
    """werfpull's flock on an OCI layout, across processes: exclusive to write, shared to read.

    skopeo rewrites index.json in place (truncate, then write), so without the lock a
    reader can see half an index while another werfpull copies into the same layout.
    """
    try:
        fh = open(os.path.join(directory, OCI_LOCK), "a")
    except OSError as exc:
        if exclusive:
            raise UsageError(f"oci:{directory}: cannot write the layout:"
                             f" {exc.strerror or exc}") from None
        yield  # a layout we may read but not write: no werfpull can write it either
        return
    with fh:  # closing the file releases the lock
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield


def oci_refs(directory: str) -> dict[str, str]:
    """{ref name: manifest digest} of an OCI layout; empty when there is none yet."""
    out = {}
    for desc in read_index(directory).get("manifests", []):
        name = (desc.get("annotations") or {}).get(REF_NAME)
        if name:
            out[name] = desc.get("digest")
    return out


def read_index(directory: str) -> dict:
    """The layout's index, empty when there is none yet. A torn index is repaired first
    (oci_index.py); one that cannot be read or is no index is a UsageError."""
    if not os.path.isdir(directory):
        return {}
    try:
        with oci_lock(directory, exclusive=False):
            raw = _read_bytes(os.path.join(directory, "index.json"))
        if raw is None:
            return {}
        try:
            return parse_index(directory, raw)
        except TornIndex:
            with oci_lock(directory, exclusive=True):
                repair(directory)
            return read_index(directory)
    except OSError as exc:
        raise UsageError(f"{directory}/index.json cannot be read: {exc.strerror or exc}") from None


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def merge_oci_refs(directory: str, added: list[dict]) -> None:
    """Add the named manifest descriptors `added` to the layout's index, replacing
    entries of the same names; under the caller's exclusive `oci_lock`."""
    index_path = os.path.join(directory, "index.json")
    try:
        with open(index_path, encoding="utf-8") as fh:
            index = json.load(fh)
    except FileNotFoundError:
        index = {"schemaVersion": 2, "manifests": []}
    names = {(d.get("annotations") or {}).get(REF_NAME) for d in added}
    index["manifests"] = [d for d in index.get("manifests", [])
                          if (d.get("annotations") or {}).get(REF_NAME) not in names] + added
    if not os.path.exists(os.path.join(directory, "oci-layout")):
        write_atomic(os.path.join(directory, "oci-layout"), LAYOUT)
    write_atomic(index_path, json.dumps(index))


def remove_oci_ref(directory: str, name: str) -> None:
    remove_oci_refs(directory, {name})


def remove_oci_refs(directory: str, names: set[str]) -> dict:
    """Drop the refs `names` from the layout's index, under the caller's exclusive
    `oci_lock`; the index that is left."""
    index_path = os.path.join(directory, "index.json")
    with open(index_path, encoding="utf-8") as fh:
        index = json.load(fh)
    index["manifests"] = [d for d in index.get("manifests", [])
                          if (d.get("annotations") or {}).get(REF_NAME) not in names]
    write_atomic(index_path, json.dumps(index))
    return index


def _blob(directory: str, digest: str) -> str:
    return os.path.join(directory, "blobs", *digest.split(":", 1))


def _read_json(directory: str, digest: str) -> dict:
    try:
        with open(_blob(directory, digest), "rb") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _remove_unreached(directory: str, names: set[str]) -> None:
    """Drop the refs `names`, then the blobs no remaining manifest reaches; under the
    caller's exclusive `oci_lock`."""
    index = remove_oci_refs(directory, names)
    live = set()
    todo = [d["digest"] for d in index["manifests"]]
    while todo:
        digest = todo.pop()
        if digest in live:
            continue
        live.add(digest)
        doc = _read_json(directory, digest)
        todo += [d["digest"] for d in [doc.get("config") or {}, *doc.get("layers", []),
                                       *doc.get("manifests", [])] if "digest" in d]
    blob_dir = os.path.join(directory, "blobs", "sha256")
    for name in os.listdir(blob_dir) if os.path.isdir(blob_dir) else []:
        if f"sha256:{name}" not in live:
            os.unlink(os.path.join(blob_dir, name))
