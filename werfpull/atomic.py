"""Atomic file writes: a reader sees the old file or the new one, never half of one.

A path that cannot be written (no such directory, read-only, a directory) is the
caller's argument at fault: a usage error naming it, never a traceback.
"""

from __future__ import annotations

import os
import tempfile

from werfpull.errors import UsageError


def write_atomic(path: str, data: str | bytes, mode: int = 0o644) -> None:
    """Write through a temporary file in the same directory, then rename it over `path`."""
    directory = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"{path}: cannot write: it is a directory")
    try:
        fd, tmp = tempfile.mkstemp(prefix=".werfpull-", dir=directory)
    except OSError as exc:
        raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UsageError(f"{path}: cannot write: {exc.strerror or exc}") from None
        raise
