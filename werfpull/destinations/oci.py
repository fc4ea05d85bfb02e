"""oci:DIR: an OCI image layout whose blobs are shared between the stages in it.

skopeo rewrites index.json in place (truncate, then write) and without a lock, so every
write holds werfpull's flock on the layout, one copy at a time, and an index a killed
copy left torn is put back as it was (one left torn by a killed werfpull is repaired:
oci_index.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time

from werfpull.atomic import write_atomic
from werfpull.destinations.base import Destination
from werfpull.destinations.oci_index import TornIndex, parse_index, remove_partial_blobs, repair
from werfpull.errors import UsageError
from werfpull.refs import Repo

OCI_LOCK = ".werfpull.lock"
REF_NAME = "org.opencontainers.image.ref.name"


class OCILayout(Destination):
    transport = "oci"
    shell_cases = (("oci:/*", '"$DEST:$name"'),)
    max_jobs = 1  # index.json is rewritten whole by each copy

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

    @contextlib.contextmanager
    def lock(self):
        try:
            os.makedirs(self.location, exist_ok=True)
        except OSError as exc:
            raise UsageError(f"--dest oci:{self.location}: cannot create the layout:"
                             f" {exc.strerror or exc}") from None
        with oci_lock(self.location, exclusive=True):
            repair(self.location)
            remove_partial_blobs(self.location, time.time())
            saved = _read_bytes(os.path.join(self.location, "index.json"))
            try:
                yield
            finally:
                _restore_torn_index(self.location, saved)

    def present(self, repo, signatures, opts):
        wanted = {self.name(repo, s): s for s in signatures}
        return {wanted[n]: d for n, d in oci_refs(self.location).items() if n in wanted}

    def untag(self, repo, signature, opts):
        # Under the lock: another werfpull's copy may be rewriting index.json meanwhile.
        with self.lock():
            remove_oci_ref(self.location, self.name(repo, signature))

    def blobs(self) -> set[str]:
        blob_dir = os.path.join(self.location, "blobs", "sha256")
        try:
            return {"sha256:" + name for name in os.listdir(blob_dir)}
        except FileNotFoundError:
            return set()


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
    """{ref name: manifest digest} of an OCI layout; empty when there is none yet. A torn
    index is repaired first (oci_index.py)."""
    if not os.path.isdir(directory):
        return {}
    try:
        with oci_lock(directory, exclusive=False):
            raw = _read_bytes(os.path.join(directory, "index.json"))
        if raw is None:
            return {}
        try:
            index = parse_index(directory, raw)
        except TornIndex:
            with oci_lock(directory, exclusive=True):
                repair(directory)
            return oci_refs(directory)
    except OSError as exc:
        raise UsageError(f"{directory}/index.json cannot be read: {exc.strerror or exc}") from None
    out = {}
    for desc in index.get("manifests", []):
        name = (desc.get("annotations") or {}).get(REF_NAME)
        if name:
            out[name] = desc.get("digest")
    return out


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _restore_torn_index(directory: str, saved: bytes | None) -> None:
    """Put back the index a killed skopeo left half-written (it does not write atomically).

    Blobs are content-addressed and harmless; only a torn index.json would break every
    later run, so the index as it was before the copy comes back.
    """
    path = os.path.join(directory, "index.json")
    try:
        with open(path, encoding="utf-8") as fh:
            json.load(fh)
        return
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        pass
    if saved is None:
        os.unlink(path)
        return
    write_atomic(path, saved)


def remove_oci_ref(directory: str, name: str) -> None:
    index_path = os.path.join(directory, "index.json")
    with open(index_path, encoding="utf-8") as fh:
        index = json.load(fh)
    index["manifests"] = [d for d in index.get("manifests", [])
                          if (d.get("annotations") or {}).get(REF_NAME) != name]
    write_atomic(index_path, json.dumps(index))
