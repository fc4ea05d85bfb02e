"""What a stages repository holds, for cleanup: every tag's manifest, a stage's creation
time, and deleting a manifest by digest.

Owns the calls cleanup makes to the registry (all through `inventory.registry.call`, so
timeouts and retries apply) and reading a refused delete: Distribution without
`storage.delete.enabled` answers 405 UNSUPPORTED, credentials (a token) without the
delete action 401 or 403: both are named as refusals to delete.
"""

from __future__ import annotations

import json
import re

from werfpull.errors import RegistryError, Unauthorized
from werfpull.inventory.model import Manifest, parse_time
from werfpull.inventory.registry import Remote, call
from werfpull.tools import process, skopeo
from werfpull.tools.registry_errors import classify, message

JOBS = 8


def manifests(remote: Remote, tags: list[str]) -> dict[str, Manifest]:
    """{tag: manifest} of `tags`; a tag deleted meanwhile is left out. One request a tag
    over kept-alive connections where HTTP can answer (inventory/http.py)."""
    found = _parallel(remote.manifest_at, tags)
    return {t: m for t, m in zip(tags, found, strict=True) if m is not None}


def created(remote: Remote, found: dict[str, Manifest]) -> dict[str, float | None]:
    """{tag: Unix time of the image config's `created`} (None: no such field, an index).
    Each distinct config is read once, however many tags share it."""
    by_config = {m.layers[0][0]: m for m in found.values() if m.layers}
    configs = list(by_config)
    times = dict(zip(configs, _parallel(lambda c: _created(remote.config_of(by_config[c])),
                                        configs), strict=True))
    return {t: times.get(m.layers[0][0]) if m.layers else None for t, m in found.items()}


def _created(config: bytes | None) -> float | None:
    if config is None:
        return None
    try:
        return parse_time(json.loads(config).get("created"))
    except (ValueError, AttributeError, RecursionError):  # not JSON, or not an object
        return None


def delete(remote: Remote, digest: str) -> None:
    """DELETE the manifest `digest`: every tag pointing to it goes with it."""
    ref = f"docker://{remote.repo.digested(digest)}"
    result = call(skopeo.delete(ref, remote.opts.side), remote.opts, remote.repo.host,
                  remote.retries)
    if result.ok:
        return
    low = result.stderr.lower()
    if "405" in low or "unsupported" in low:
        raise RegistryError(f"{remote.repo.host}: the registry refuses to delete manifests"
                            f" in {remote.repo} ({message(result.stderr)})",
                            registry=remote.repo.host,
                            hint="enable deletion (Distribution: storage.delete.enabled: true)"
                                 " or use credentials that may delete")
    error = classify(result, remote.repo.host, f"the deletion of {remote.repo.digested(digest)}")
    if isinstance(error, Unauthorized):
        # The same credentials have just read every tag: what is refused is the delete
        # action (a read-only token, a pull-only user of Harbor or GitLab).
        status = re.search(r"\((40[13] [A-Za-z ]+)\)", result.stderr)
        raise Unauthorized(f"{remote.repo.host}: the credentials given may not delete"
                           f" manifests in {remote.repo}"
                           f" ({status[1] if status else message(result.stderr)})",
                           registry=remote.repo.host,
                           hint="use credentials whose token grants the delete action on"
                                " this repository")
    raise error


def _parallel(fn, items: list) -> list:
    return process.parallel(fn, items, JOBS)
