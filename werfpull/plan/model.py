"""The plan: a versioned, self-describing, JSON-serialisable record of what to pull.

Owns the plan's shape and its JSON form; `planfile.py` reads a plan file back.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from werfpull import __version__
from werfpull.refs import sha256_digest

FORMAT = 1


@dataclass
class StageState:
    name: str
    signature: str
    remote: bool | None  # None: unknown
    local: bool | None


@dataclass
class ImagePlan:
    name: str | None
    kind: str
    needed: bool
    stages: list[StageState]
    selected: str | None
    reason: str
    platform: str | None = None  # the chain's platform (spec section 7)
    upto: str | None = None  # only the stages up to this one (an import with `stage`)


@dataclass
class Pull:
    tag: str
    signature: str
    stage: str
    digest: str
    size: int | None
    layers: list[list]  # [digest, size], config blob first
    images: list  # names of the images and artifacts that use it (None: unnamed)


@dataclass
class Plan:
    repo: str
    dest: str
    dest_reason: str
    registry: dict
    project: str
    config_digest: str
    all_stages: bool
    images: list[ImagePlan]
    pulls: list[Pull]
    download: int | None  # bytes of the pulls' blobs not already in the destination
    inventory: str = "auto"  # which strategy listed the registry
    format: int = FORMAT
    tool: str = __version__

    def to_json(self) -> dict:
        data = asdict(self)
        for image in data["images"]:
            # Optional in format 1: a plan without platforms reads as it always did.
            for key in ("platform", "upto"):
                if image[key] is None:
                    del image[key]
        order = ["format", "tool", "repo", "dest", "dest_reason", "registry", "project",
                 "config_digest", "all_stages", "inventory", "download", "images", "pulls"]
        return {k: data[k] for k in order}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, sort_keys=False) + "\n"

    @property
    def identity(self) -> str:
        """A digest naming this plan; the same plan always has the same identity."""
        canon = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return sha256_digest(canon.encode())

    @property
    def total_size(self) -> int:
        return sum(p.size or 0 for p in self.pulls)
