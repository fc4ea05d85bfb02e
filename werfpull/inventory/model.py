"""What the registry and the destination hold, as plain data for the planner."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from werfpull.refs import sha256_digest


@dataclass
class Inventory:
    remote: set[str]  # signatures whose tag the stages repository has
    # signature -> what the destination reports (Destination.local_id), for stages it has
    local: dict[str, str | None]
    # local stages whose content is not the registry's manifest: they count as absent
    differs: set[str] = field(default_factory=set)

    def holds(self, signature: str) -> bool:
        """Whether the destination holds the right content under the stage's name."""
        return signature in self.local and signature not in self.differs


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str | None
    size: int | None  # manifest + config + layers, as the manifest declares them
    layers: tuple[tuple[str, int], ...]  # (digest, size), config blob included

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        digest = sha256_digest(raw)
        try:
            doc = json.loads(raw)
        except ValueError:
            return cls(digest, None, None, ())
        media = doc.get("mediaType")
        if "layers" not in doc or "config" not in doc:  # an index or schema 1: no sizes
            return cls(digest, media, None, ())
        blobs = [doc["config"], *doc["layers"]]
        layers = tuple((b["digest"], int(b.get("size", 0))) for b in blobs)
        return cls(digest, media, len(raw) + sum(s for _, s in layers), layers)


