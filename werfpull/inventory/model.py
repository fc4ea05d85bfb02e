"""What the registry and the destination hold, as plain data for the planner, and the
creation time an image config states (`parse_time`)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime

from werfpull.refs import DIGEST_RE, sha256_digest


@dataclass
class Inventory:
    remote: set[str]  # signatures whose tag the stages repository has
    # signature -> what the destination reports (Destination.local_id), for stages it has
    local: dict[str, str | None]
    # local stages whose content is not the registry's manifest: they count as absent
    differs: set[str] = field(default_factory=set)
    asked: set[str] | None = None  # signatures the registry was asked about; None: all

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
        """The manifest a registry served; MalformedManifest when it is JSON of the wrong
        shape (a hostile or broken registry): a size that is no count, layers that are no
        list. Text that is no JSON at all is left to the copy, which names it."""
        digest = sha256_digest(raw)
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            return cls(digest, None, None, ())
        if not isinstance(doc, dict):
            raise MalformedManifest(f"a JSON {type(doc).__name__}, not an object")
        media = doc.get("mediaType")
        if media is not None and not isinstance(media, str):
            raise MalformedManifest("'mediaType' is not a string")
        if "layers" not in doc and "config" not in doc:  # an index or schema 1: no sizes
            return cls(digest, media, None, ())
        if not isinstance(doc.get("layers"), list):
            raise MalformedManifest("'layers' is not a list")
        blobs = [doc.get("config"), *doc["layers"]]
        layers = tuple(_descriptor(b, "config" if i == 0 else f"layers[{i - 1}]")
                       for i, b in enumerate(blobs))
        return cls(digest, media, len(raw) + sum(s for _, s in layers), layers)


class MalformedManifest(ValueError):
    """A manifest of the wrong shape; the caller names the registry and the tag."""


def _descriptor(blob, at: str) -> tuple[str, int]:
    if not isinstance(blob, dict):
        raise MalformedManifest(f"'{at}' is not an object")
    digest, size = blob.get("digest"), blob.get("size", 0)
    if not (isinstance(digest, str) and DIGEST_RE.fullmatch(digest)):
        raise MalformedManifest(f"'{at}.digest' is not a sha256 digest")
    if type(size) is not int or not 0 <= size < 2**63:  # OCI sizes are int64
        raise MalformedManifest(f"'{at}.size' is not a byte count: {json.dumps(size)[:40]}")
    return digest, size


def parse_time(text) -> float | None:
    """RFC 3339 (Go's, nanoseconds allowed) to Unix seconds; None for anything else."""
    if not isinstance(text, str) or "T" not in text:
        return None
    date, _, rest = text.partition("T")
    zone = ""
    for mark in ("Z", "+", "-"):
        if mark in rest:
            idx = rest.index(mark)
            rest, zone = rest[:idx], rest[idx:]
            break
    clock, _, frac = rest.partition(".")
    zone = "+00:00" if zone in ("Z", "") else zone
    try:
        return datetime.fromisoformat(f"{date}T{clock}.{(frac + '000000')[:6]}{zone}"
                                      ).timestamp()
    except ValueError:
        return None
