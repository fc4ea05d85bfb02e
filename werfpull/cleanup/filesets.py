"""The file sets of git mappings along a history, kept up to date commit by commit.

A git mapping's checksum (spec section 5) hashes the sorted ls-tree lines of the files
it takes, or of those matching a stage's globs. Along a history most commits change a
few files, so each such set ("selection") is carried from a commit's first parent to
the commit: untouched when no changed path belongs to it (the same object, its
checksum already known), else copied and patched with the changed entries. A
selection first asked for at some commit is built from that commit's whole tree once
and carried on from there. Which paths a mapping takes, and which of them a glob
list matches, is decided once per path for the whole history.
"""

from __future__ import annotations

import bisect
import hashlib

from werfpull.signatures.gitfiles import Selector
from werfpull.signatures.globs import GlobSet

Key = tuple  # (mapping key, globs or None)


class Selection:
    __slots__ = ("paths", "lines", "_digest")

    def __init__(self, paths: list[bytes], lines: list[str]):
        self.paths, self.lines, self._digest = paths, lines, None

    @property
    def checksum(self) -> str:
        if self._digest is None:
            data = "".join(self.lines).encode("utf-8", "surrogateescape")
            self._digest = hashlib.sha256(data).hexdigest()
        return self._digest


class Rules:
    """Per-path decisions of one selection key, remembered for the whole history."""

    def __init__(self, mapping, globs: tuple[str, ...] | None):
        self.selector = Selector(mapping)
        self.globs = GlobSet(globs) if globs is not None else None
        self.memo: dict[str, bool] = {}

    def takes(self, path: str) -> bool:
        hit = self.memo.get(path)
        if hit is None:
            rel = self.selector.rel(path)
            hit = rel is not None and (self.globs is None or self.globs.match(rel))
            self.memo[path] = hit
        return hit


class FileSets:
    """Selections per commit; `advance` makes a commit's from its first parent's."""

    def __init__(self):
        self.rules: dict[Key, Rules] = {}

    def advance(self, parent: dict[Key, Selection], changes) -> dict[Key, Selection]:
        out = {}
        for key, sel in parent.items():
            rules = self.rules[key]
            touched = [(p, m) for p, m in changes if rules.takes(p)]
            out[key] = _patched(sel, touched) if touched else sel
        return out

    def get(self, state: dict[Key, Selection], key: Key, mapping,
            tree: dict[str, str]) -> Selection:
        """The selection `key` at a commit (its `state`, its whole `tree`)."""
        if key not in state:
            if key not in self.rules:
                self.rules[key] = Rules(mapping, key[1])
            rules = self.rules[key]
            items = sorted((p.encode("utf-8", "surrogateescape"), f"{m}\t{p}\n")
                           for p, m in tree.items() if rules.takes(p))
            state[key] = Selection([i[0] for i in items], [i[1] for i in items])
        return state[key]


def _patched(sel: Selection, touched) -> Selection:
    paths, lines = list(sel.paths), list(sel.lines)
    for path, meta in touched:
        raw = path.encode("utf-8", "surrogateescape")
        i = bisect.bisect_left(paths, raw)
        present = i < len(paths) and paths[i] == raw
        if meta is None:
            if present:
                del paths[i], lines[i]
        elif present:
            lines[i] = f"{meta}\t{path}\n"
        else:
            paths.insert(i, raw)
            lines.insert(i, f"{meta}\t{path}\n")
    return Selection(paths, lines)
