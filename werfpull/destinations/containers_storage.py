"""containers-storage: the host's default store (buildah, podman) or an isolated one.

A stage here is known by its image ID, the config digest: it is the same for a stage
pulled from the registry and for one built here and pushed (a push compresses the
layers, so the registry's manifest digest differs from the local one; the config stays).
"""

from __future__ import annotations

import json
import re
import shutil

from werfpull.destinations.base import Destination, LocalImage, probe_each
from werfpull.errors import UsageError
from werfpull.refs import Repo
from werfpull.tools import buildah, process, skopeo

_SIZE = re.compile(r"([0-9.]+)\s*([kKMGT]?B)")
_UNITS = {"B": 1, "kB": 1000, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4}
_STORE_RE = re.compile(r"\[(?P<driver>[a-z0-9_]+)@(?P<root>/[^+\]]*)\+(?P<runroot>/[^\]]*)\]")
PREFIX = "containers-storage"


class ContainersStorage(Destination):
    transport = "containers-storage"
    shell_cases = ((PREFIX, '"containers-storage:$name"'),
                   (r"containers-storage:\[*@/*+/*\]", '"$DEST$name"'))

    @classmethod
    def parse(cls, text: str) -> ContainersStorage | None:
        if text == PREFIX:
            return cls()
        if not text.startswith(PREFIX + ":"):
            return None
        store = text.split(":", 1)[1]
        if not _STORE_RE.fullmatch(store):
            raise UsageError(f"--dest {text!r}: expected containers-storage:[DRIVER@ROOT+RUNROOT]"
                             " with absolute ROOT and RUNROOT")
        return cls(store)

    @property
    def spec(self) -> str:
        return f"{PREFIX}:{self.location}" if self.location else PREFIX

    @property
    def store(self) -> dict | None:
        m = _STORE_RE.fullmatch(self.location)
        return m.groupdict() if m else None

    @property
    def store_flags(self) -> list[str]:
        """buildah's flags for this store (none for the default store)."""
        store = self.store
        if not store:
            return []
        return ["--storage-driver", store["driver"], "--root", store["root"],
                "--runroot", store["runroot"]]

    def ref(self, repo: Repo, signature: str) -> str:
        return f"{PREFIX}:{self.location}{self.name(repo, signature)}"

    def images(self) -> dict[str, str]:
        """{name: image ID} of every named image in the store."""
        result = process.run(buildah.images_json(self.store_flags))
        if not result.ok:
            raise result.error(f"cannot list images in {self.spec}: {result.last_line}")
        out = {}
        for image in json.loads(result.stdout or b"[]") or []:
            for name in image.get("names") or []:
                out[name] = image.get("id")
        return out

    def present(self, repo, signatures, opts):
        wanted = {self.name(repo, s): s for s in signatures}
        if not shutil.which(buildah.BUILDAH):
            return probe_each({s: self.ref(repo, s) for s in signatures}, config=True)
        return {wanted[n]: d for n, d in self.images().items() if n in wanted}

    def local_id(self, digest, config):
        return config

    def untag(self, repo, signature, opts):
        process.run(skopeo.delete(self.ref(repo, signature)))

    def local_images(self, prefixes):
        images = _json(buildah.images_json(self.store_flags), f"list images in {self.spec}")
        containers = _json(buildah.containers_json(self.store_flags),
                           f"list containers in {self.spec}")
        busy = {_bare(c.get("imageid", "")) for c in containers}
        out = []
        for image in images:
            # IDs come full or truncated, with "sha256:" or without, depending on the flags.
            image_id = _bare(image.get("id", ""))
            in_use = bool(image_id) and any(b.startswith(image_id) for b in busy)
            out += [LocalImage(name, _bytes(image.get("size", "")), image.get("created"),
                               image_id, in_use)
                    for name in image.get("names") or [] if name.startswith(prefixes)]
        return out

    def remove_images(self, names):
        for name in names:
            # rmi of a name removes that name only while the image has others.
            result = process.run(buildah.rmi(self.store_flags, name))
            if not result.ok:
                raise result.error(f"cannot remove {name} from {self.spec}: {result.last_line}")


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
