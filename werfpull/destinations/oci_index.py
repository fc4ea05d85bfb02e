"""Reading an OCI layout's index.json, and repairing one a killed copy left torn.

skopeo rewrites index.json in place (truncate, then write). A copy killed mid-write by
werfpull is put back by `OCILayout.lock`; one killed with werfpull itself (SIGKILL, a
power cut) leaves a prefix of the index. Such a prefix is repaired: the entries written
whole are kept, the torn one dropped (a rerun copies it again), and the torn bytes kept
beside it as index.json.torn. A file that is no prefix of an index (another tool's, or
hand-edited) is refused, never overwritten. The partial blob files killed copies leave
are removed once nothing has written them for a minute.
"""

from __future__ import annotations

import json
import logging
import os
import re

from werfpull.atomic import write_atomic
from werfpull.errors import UsageError

log = logging.getLogger("werfpull.oci")
_MANIFESTS = re.compile(r'"manifests"\s*:\s*\[')


class TornIndex(ValueError):
    """index.json ends early: a write was cut off."""


def parse_index(directory: str, raw: bytes) -> dict:
    """The index as a JSON object with a `manifests` list; TornIndex when it is a
    prefix of one; UsageError when it is something else."""
    path = os.path.join(directory, "index.json")
    try:
        index = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise UsageError(f"{path} is not an OCI index (not UTF-8)") from None
    except json.JSONDecodeError as exc:
        if exc.pos >= len(exc.doc.rstrip()) or exc.msg.startswith("Unterminated string"):
            raise TornIndex(exc.msg) from None
        raise UsageError(f"{path} is not an OCI index ({exc.msg} at line {exc.lineno})",
                         hint="move it away, or choose another --dest") from None
    except RecursionError:
        raise UsageError(f"{path} is not an OCI index (nested too deep)") from None
    if not isinstance(index, dict) or not isinstance(index.get("manifests", []), list) \
            or not all(isinstance(d, dict) for d in index.get("manifests", [])):
        raise UsageError(f"{path} is not an OCI index (no list of manifest descriptors)",
                         hint="move it away, or choose another --dest")
    return index


def salvage(raw: bytes) -> dict:
    """The descriptors a torn index holds whole, in an index of its own."""
    text = raw.decode("utf-8", "replace")
    entries: list = []
    found = _MANIFESTS.search(text)
    pos, decoder = (found.end() if found else len(text)), json.JSONDecoder()
    while pos < len(text):
        while pos < len(text) and text[pos] in " \t\r\n,":
            pos += 1
        try:
            entry, pos = decoder.raw_decode(text, pos)
        except ValueError:
            break
        if isinstance(entry, dict):
            entries.append(entry)
    return {"schemaVersion": 2, "manifests": entries}


def repair(directory: str) -> None:
    """Repair a torn index.json in place (the caller holds the layout's write lock)."""
    path = os.path.join(directory, "index.json")
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return
    try:
        parse_index(directory, raw)
        return  # whole (another run repaired it first), or refused by the reader
    except TornIndex:
        pass
    index = salvage(raw)
    write_atomic(path + ".torn", raw)
    write_atomic(path, json.dumps(index, separators=(",", ":")))
    log.warning("%s was torn (a copy was killed while writing it): kept its %d whole"
                " entries; the torn bytes are in index.json.torn", path, len(index["manifests"]))


PARTIAL_PREFIX = "oci-put-blob"  # skopeo's temporary blob file, renamed when complete
PARTIAL_AGE = 60.0  # seconds untouched: no copy is writing it any more


def remove_partial_blobs(directory: str, now: float) -> int:
    """Remove the temporary blob files killed copies left (the caller holds the layout's
    write lock, so no werfpull copy is writing one); returns how many."""
    removed = 0
    for where in (directory, os.path.join(directory, "blobs", "sha256")):
        try:
            names = [n for n in os.listdir(where) if n.startswith(PARTIAL_PREFIX)]
        except OSError:
            continue
        for name in names:
            path = os.path.join(where, name)
            try:
                if os.path.isfile(path) and not os.path.islink(path) \
                        and now - os.lstat(path).st_mtime > PARTIAL_AGE:
                    os.unlink(path)
                    removed += 1
            except OSError:
                pass
    if removed:
        log.info("%s: removed %d partial blob file(s) of interrupted copies", directory, removed)
    return removed
