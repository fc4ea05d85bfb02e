"""Host cleanup: remove the local stages of this project that its current config no
longer uses, oldest first, down to a size or age limit.

Owns listing a store's stages (a containers-storage store through buildah, an `oci:`
layout through its index), choosing what goes, and removing it: an image a container
uses (a running build's) is never removed, and in an OCI layout the blobs no remaining
manifest uses go with the last manifest that used them. A stage of this project is an
image named `REPO:image-stage-SIG` for one of the given repositories.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from werfpull.atomic import write_atomic
from werfpull.cleanup.registry import parse_time
from werfpull.destinations import ContainersStorage, Destination, OCILayout
from werfpull.destinations.oci import REF_NAME, oci_lock
from werfpull.errors import UsageError
from werfpull.refs import STAGE_TAG_PREFIX
from werfpull.tools import buildah, process

DAY = 86400.0
_SIZE = re.compile(r"([0-9.]+)\s*([kKMGT]?B)")
_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}


@dataclass
class LocalStage:
    name: str  # REPO:image-stage-SIG
    signature: str
    size: int  # bytes (a store reports them rounded to three digits)
    created: float | None
    image_id: str = ""
    in_use: bool = False
    used: bool = False  # the current config has this signature
    why: str = ""

    def to_json(self) -> dict:
        return {"name": self.name, "signature": self.signature, "size": self.size,
                "created": self.created, "in_use": self.in_use, "used": self.used,
                "why": self.why}


def local_stages(dest: Destination, repos: list[str]) -> list[LocalStage]:
    prefixes = tuple(f"{r}:{STAGE_TAG_PREFIX}" for r in repos)
    if isinstance(dest, ContainersStorage):
        return _store_stages(dest, prefixes)
    if isinstance(dest, OCILayout):
        return _oci_stages(dest.location, prefixes)
    raise UsageError(f"host-cleanup works on containers-storage and oci:DIR, not {dest.spec}")


def choose(stages: list[LocalStage], used: set[str], *, keep_bytes: int | None,
           keep_days: float | None, now: float) -> list[LocalStage]:
    """The stages to remove, oldest first. Unused ones only, never one in use; with no
    limit every unused stage goes, else those older than `keep_days` and, oldest first,
    as many as it takes to bring the project's stages down to `keep_bytes`."""
    for s in stages:
        s.used = s.signature in used
    total = sum(s.size for s in stages)
    removable = sorted((s for s in stages if not s.used and not s.in_use),
                       key=lambda s: (s.created or 0, s.name))
    out = []
    for s in removable:
        old = keep_days is not None and (s.created or 0) < now - keep_days * DAY
        over = keep_bytes is not None and total > keep_bytes
        if (keep_bytes is None and keep_days is None) or old or over:
            s.why = ("older than --keep-days" if old else
                     "over --keep-bytes" if over else "not used by the current config")
            out.append(s)
            total -= s.size
    for s in stages:
        if s.in_use and not s.used:
            s.why = "a container uses it"
    return out


def remove(dest: Destination, stages: list[LocalStage]) -> None:
    if not stages:
        return
    if isinstance(dest, ContainersStorage):
        for s in stages:
            # rmi of a name removes that name only while the image has others.
            result = process.run(buildah.rmi(dest.store_flags, s.name))
            if not result.ok:
                raise result.error(f"cannot remove {s.name} from {dest.spec}: {result.last_line}")
        return
    _oci_remove(dest.location, {s.name for s in stages})


# -- containers-storage -----------------------------------------------------------------


def _store_stages(dest: ContainersStorage, prefixes: tuple[str, ...]) -> list[LocalStage]:
    images = _json(buildah.images_json(dest.store_flags), f"list images in {dest.spec}")
    containers = _json(buildah.containers_json(dest.store_flags),
                       f"list containers in {dest.spec}")
    busy = {_bare(c.get("imageid", "")) for c in containers}
    out = []
    for image in images:
        # IDs come full or truncated, with "sha256:" or without, depending on the flags.
        image_id = _bare(image.get("id", ""))
        in_use = bool(image_id) and any(b.startswith(image_id) for b in busy)
        for name in image.get("names") or []:
            if name.startswith(prefixes):
                out.append(LocalStage(name, name.rsplit(STAGE_TAG_PREFIX, 1)[1],
                                      _bytes(image.get("size", "")), image.get("created"),
                                      image_id, in_use))
    return out


def _bare(image_id: str) -> str:
    return image_id.split(":", 1)[1] if image_id.startswith("sha256:") else image_id


def _json(argv: list[str], what: str) -> list:
    result = process.run(argv)
    if not result.ok:
        raise result.error(f"cannot {what}: {result.last_line}")
    return json.loads(result.stdout or b"[]") or []


def _bytes(text: str) -> int:
    m = _SIZE.search(text or "")
    return int(float(m.group(1)) * _UNITS.get(m.group(2), 1)) if m else 0


# -- oci: layouts -----------------------------------------------------------------------


def _blob(directory: str, digest: str) -> str:
    return os.path.join(directory, "blobs", *digest.split(":", 1))


def _read(directory: str, digest: str) -> dict:
    try:
        with open(_blob(directory, digest), "rb") as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return {}


def _oci_stages(directory: str, prefixes: tuple[str, ...]) -> list[LocalStage]:
    index = _read_index(directory)
    out = []
    for desc in index.get("manifests", []):
        name = (desc.get("annotations") or {}).get(REF_NAME, "")
        if not name.startswith(prefixes):
            continue
        manifest = _read(directory, desc["digest"])
        config = (manifest.get("config") or {}).get("digest")
        created = parse_time(_read(directory, config).get("created")) if config else None
        if created is None and os.path.exists(_blob(directory, desc["digest"])):
            created = os.path.getmtime(_blob(directory, desc["digest"]))
        size = sum(int(b.get("size", 0)) for b in [manifest.get("config") or {},
                                                    *manifest.get("layers", [])])
        out.append(LocalStage(name, name.rsplit(STAGE_TAG_PREFIX, 1)[1],
                              size + int(desc.get("size", 0)), created, desc["digest"]))
    return out


def _read_index(directory: str) -> dict:
    path = os.path.join(directory, "index.json")
    if not os.path.exists(path):
        return {}
    with oci_lock(directory, exclusive=False), open(path, encoding="utf-8") as fh:
        return json.load(fh)


def _oci_remove(directory: str, names: set[str]) -> None:
    """Drop the refs, then every blob no remaining manifest reaches, under the lock."""
    with oci_lock(directory, exclusive=True):
        path = os.path.join(directory, "index.json")
        with open(path, encoding="utf-8") as fh:
            index = json.load(fh)
        index["manifests"] = [d for d in index.get("manifests", [])
                              if (d.get("annotations") or {}).get(REF_NAME) not in names]
        write_atomic(path, json.dumps(index))
        live = set()
        todo = [d["digest"] for d in index["manifests"]]
        while todo:
            digest = todo.pop()
            if digest in live:
                continue
            live.add(digest)
            doc = _read(directory, digest)
            todo += [d["digest"] for d in [doc.get("config") or {}, *doc.get("layers", []),
                                           *doc.get("manifests", [])] if "digest" in d]
        blob_dir = os.path.join(directory, "blobs", "sha256")
        for name in os.listdir(blob_dir) if os.path.isdir(blob_dir) else []:
            if f"sha256:{name}" not in live:
                os.unlink(os.path.join(blob_dir, name))
