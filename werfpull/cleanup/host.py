"""Host cleanup: remove the local stages of this project that its current config no
longer uses, oldest first, down to a size or age limit.

Owns choosing what goes: an image a container uses (a running build's) is never
removed. Each destination lists its images and removes them (`Destination.local_images`,
`remove_images`: a containers-storage store through buildah, an `oci:` layout through
its index, where the blobs no remaining manifest uses go with the last manifest that
used them). A stage of this project is an image named `REPO:image-stage-SIG` for one
of the given repositories.
"""

from __future__ import annotations

from dataclasses import dataclass

from werfpull.destinations import Destination
from werfpull.refs import STAGE_TAG_PREFIX

DAY = 86400.0


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
    return [LocalStage(i.name, i.name.rsplit(STAGE_TAG_PREFIX, 1)[1], i.size, i.created,
                       i.image_id, i.in_use) for i in dest.local_images(prefixes)]


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
    if stages:
        dest.remove_images([s.name for s in stages])
