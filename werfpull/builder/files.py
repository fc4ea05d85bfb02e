"""Files into a mounted container: HEAD's blobs, placed, filtered, owned.

Every path written is inside the container's mounted root, resolved there by
`rootfs` (a symlink a stage left never leads a write out of it); owners and groups are
looked up in the container's own /etc/passwd and /etc/group.
"""

from __future__ import annotations

import os
import shutil
import stat

from werfpull.builder import rootfs
from werfpull.errors import ConfigError
from werfpull.signatures.globs import GlobSet
from werfpull.tools import git


def extract_blobs(top: str, dest: str) -> None:
    """Write every blob of HEAD under `dest`, byte for byte, with git's file mode."""
    blobs = [e for e in git.list_tree(top, "HEAD") if e.kind == "blob"]
    for entry, data in zip(blobs, git.read_blobs(top, [e.object for e in blobs]), strict=True):
        target = rootfs.entry(dest, entry.path)
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
    """The lines of a regular file (a FIFO or device an image holds there is no file)."""
    if not os.path.isfile(path):
        return []
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return []


def remove(root: str, target: str) -> None:
    path = rootfs.resolve(root, target, follow_last=False)
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)


def place(src: str, root: str, target: str) -> None:
    """Copy the host file `src` to the image path `target` (a symlink as a symlink)."""
    dest = rootfs.entry(root, target)
    if os.path.isdir(dest) and not os.path.islink(src):
        dest = rootfs.entry(root, os.path.join(target, os.path.basename(src)))
    mode = os.lstat(src).st_mode
    if stat.S_ISLNK(mode):
        os.symlink(os.readlink(src), dest)
    elif stat.S_ISREG(mode):
        shutil.copy2(src, dest)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISFIFO(mode):
        # Recreated, never opened: reading an image's device node would read the host's.
        os.mknod(dest, mode, os.lstat(src).st_rdev)
    else:
        raise ConfigError(f"{target}: cannot copy a socket into an image")


def copy_filtered(src: str, root: str, dest: str, include: GlobSet, exclude: GlobSet) -> None:
    """Copy the host tree `src` to the image path `dest` under `root`."""
    if os.path.islink(src) or not os.path.isdir(src):
        place(src, root, dest)
        return
    for dirpath, dirs, names in os.walk(src):
        # os.walk lists a symlink to a directory among the directories and does not
        # follow it; it is an entry to copy like a file.
        for name in names + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            if (include and not include.match(rel)) or exclude.match(rel):
                continue
            place(path, root, os.path.join(dest, rel))


def chown(root: str, target: str, owner, group, recursive: bool = False) -> None:
    """Give the image path `target` (not what a symlink there points to) its owners."""
    if owner is None and group is None:
        return
    uid = lookup(root, "etc/passwd", owner) if owner is not None else -1
    gid = lookup(root, "etc/group", group) if group is not None else -1
    path = rootfs.resolve(root, target, follow_last=False)
    paths = [path]
    if recursive and not os.path.islink(path) and os.path.isdir(path):
        paths += [os.path.join(d, n) for d, dirs, files in os.walk(path) for n in dirs + files]
    for p in paths:
        os.lchown(p, uid, gid)


def lookup(root: str, table: str, name: str) -> int:
    if name.isdigit():
        return int(name)
    for line in read_lines(rootfs.resolve(root, table)):
        fields = line.split(":")
        if fields[0] == name and len(fields) > 2:
            return int(fields[2])
    raise ConfigError(f"owner/group {name!r} is not in the image's /{table}")

