"""Files into a mounted container: HEAD's blobs, placed, filtered, owned.

Every path written is inside the container's mounted root; owners and groups are
looked up in the container's own /etc/passwd and /etc/group.
"""

from __future__ import annotations

import os
import shutil

from werfpull.errors import ConfigError
from werfpull.signatures.globs import GlobSet
from werfpull.tools import git


def extract_blobs(top: str, dest: str) -> None:
    """Write every blob of HEAD under `dest`, byte for byte, with git's file mode."""
    blobs = [e for e in git.list_tree(top, "HEAD") if e.kind == "blob"]
    for entry, data in zip(blobs, git.read_blobs(top, [e.object for e in blobs]), strict=True):
        target = os.path.join(dest, entry.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if entry.mode == "120000":
            os.symlink(os.fsdecode(data), target)
            continue
        with open(target, "wb") as fh:
            fh.write(data)
        os.chmod(target, 0o755 if entry.mode == "100755" else 0o644)


def in_image(path: str) -> str:
    """An absolute, normal path inside the image ("//x" would stay "//x" otherwise)."""
    return os.path.normpath("/" + path.lstrip("/"))


def parents(directory: str, top: str) -> list[str]:
    """`directory` and its parents up to and including `top`; none when `top` is "/",
    whose directories (/usr, /etc) the image had before any mapping."""
    if top == "/":
        return []
    out = []
    while directory != "/" and (directory == top or directory.startswith(top.rstrip("/") + "/")):
        out.append(directory)
        directory = os.path.dirname(directory)
    return out


def read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return []


def remove(root: str, target: str) -> None:
    path = root + target
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)


def place(src: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest) and (os.path.islink(dest) or not os.path.isdir(dest)):
        os.unlink(dest)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dest)
    else:
        shutil.copy2(src, dest)


def copy_filtered(src: str, dest: str, include: GlobSet, exclude: GlobSet) -> None:
    if os.path.isfile(src) or os.path.islink(src):
        place(src, dest)
        return
    for dirpath, dirs, files in os.walk(src):
        # os.walk lists a symlink to a directory among the directories and does not
        # follow it; it is an entry to copy like a file.
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            if (include and not include.match(rel)) or exclude.match(rel):
                continue
            place(path, os.path.join(dest, rel))


def chown(root: str, path: str, owner, group, recursive: bool = False) -> None:
    if owner is None and group is None:
        return
    uid = lookup(root, "etc/passwd", owner) if owner is not None else -1
    gid = lookup(root, "etc/group", group) if group is not None else -1
    paths = [path]
    if recursive and os.path.isdir(path):
        paths += [os.path.join(d, n) for d, dirs, files in os.walk(path) for n in dirs + files]
    for p in paths:
        os.lchown(p, uid, gid)


def lookup(root: str, table: str, name: str) -> int:
    if name.isdigit():
        return int(name)
    for line in read_lines(os.path.join(root, table)):
        fields = line.split(":")
        if fields[0] == name and len(fields) > 2:
            return int(fields[2])
    raise ConfigError(f"owner/group {name!r} is not in the image's /{table}")

