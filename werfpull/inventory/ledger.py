"""What werfpull itself landed in a destination: {signature: local id}, kept on the host.

Owns the record that lets a complete rerun skip the registry. A stage counts as local
without a registry read only when the destination still reports, under its name, the
very id (`Destination.local_id`) werfpull checked when it landed it there; any other
local stage (retagged, built here, damaged) is compared with the registry's manifest
by the planner. The record is `${XDG_CACHE_HOME:-~/.cache}/werfpull/landed/<sha256 of
the destination spec>.json`, updated under a lock by concurrent runs; a record that
cannot be read or written is no record (the registry is asked instead).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os

from werfpull.atomic import write_atomic
from werfpull.destinations import Destination


def path(dest: Destination) -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    name = hashlib.sha256(dest.spec.encode()).hexdigest()[:32]
    return os.path.join(cache, "werfpull", "landed", f"{name}.json")


def _load(file: str) -> dict[str, str]:
    try:
        with open(file, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} \
        if isinstance(data, dict) else {}


def unchanged(dest: Destination, local: dict[str, str | None]) -> dict[str, str | None]:
    """The stages of `local` that still hold what werfpull landed under their names."""
    landed = _load(path(dest))
    return {sig: held for sig, held in local.items()
            if held is not None and landed.get(sig) == held}


def record(dest: Destination, landed: dict[str, str | None]) -> None:
    """Add stages just landed and checked ({signature: local id}) to the record."""
    landed = {k: v for k, v in landed.items() if v}
    if not landed:
        return
    file = path(dest)
    with contextlib.suppress(OSError):
        os.makedirs(os.path.dirname(file), exist_ok=True)
        with open(file + ".lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            write_atomic(file, json.dumps({**_load(file), **landed}, sort_keys=True))
