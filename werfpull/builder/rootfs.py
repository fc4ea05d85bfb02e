"""Paths inside a mounted container root, resolved as if that root were `/`.

A stage may leave any symlink in its image (`ln -s /etc /app`, `ln -s ../../.. x`),
and a later stage's git mapping, import or state file is written by werfpull as root
on the host, through the mount. Every such path is resolved here component by
component: a symlink is followed the way the container's kernel would follow it
(an absolute target starts again at the container's root, `..` stops at it), so a
write never lands outside the root. Nothing runs in the container while werfpull
places files (its `buildah run` has finished), so the resolution cannot race.
"""

from __future__ import annotations

import os
from collections import deque

from werfpull.errors import ConfigError

MAX_LINKS = 40  # Linux's own limit on symlinks in one path resolution


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve(root: str, path: str, follow_last: bool = True) -> str:
    """The host path of the image path `path` under `root`, never outside `root`.

    With `follow_last` false a symlink in the last component is not followed (it is the
    entry itself that is replaced or removed, never what it points to).
    """
    todo, done, links = deque(_parts(path)), [], 0
    while todo:
        name = todo.popleft()
        if name == "..":
            if done:
                done.pop()
            continue
        host = os.path.join(root, *done, name)
        if (todo or follow_last) and os.path.islink(host):
            links += 1
            if links > MAX_LINKS:
                raise ConfigError(f"{path}: too many levels of symbolic links in the image")
            target = os.readlink(host)
            if target.startswith("/"):
                done = []
            todo.extendleft(reversed(_parts(target)))
            continue
        done.append(name)
    return os.path.join(root, *done)


def makedirs(root: str, directory: str) -> str:
    """Create the image directory `directory` (and its parents) inside `root`."""
    host = resolve(root, directory)
    os.makedirs(host, exist_ok=True)
    return host


def entry(root: str, path: str) -> str:
    """The host path of the entry `path` names, its parent directories created; a
    symlink or file already there is removed so that nothing writes through it."""
    parent = makedirs(root, os.path.dirname("/" + path.lstrip("/")))
    host = os.path.join(parent, os.path.basename(path.rstrip("/")))
    if os.path.islink(host) or (os.path.lexists(host) and not os.path.isdir(host)):
        os.unlink(host)
    return host
