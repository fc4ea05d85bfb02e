"""Path globs of spec section 5, compiled to one regular expression per glob list.

`*` and `?` stay inside a segment, a `**` segment spans whole segments, every other
character (`[` and `\\` included) is literal, and a glob that matches a directory
takes everything under it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _fixed(piece: str) -> str:
    return "".join("[^/]" if ch == "?" else re.escape(ch) for ch in piece)


def _segment(seg: str) -> str:
    """One path segment. Plain backtracking over several `*` is exponential, so each
    `*` but the last takes the shortest run before its fixed-length piece and never
    gives it back (atomic): with fixed-length pieces the leftmost choice is never wrong.
    A run of stars is one star."""
    pieces = [_fixed(p) for p in re.split(r"\*+", seg)]
    out = pieces[0]
    if len(pieces) > 1:
        out += "".join(f"(?>[^/]*?{p})" for p in pieces[1:-1]) + "[^/]*" + pieces[-1]
    return "/" + out + "(?![^/])"  # the whole segment, never a prefix of it


def glob_regex(pattern: str) -> str | None:
    """Regex source matching "/" + rel; None for a pattern that matches nothing."""
    pattern = pattern.strip("/")
    if not pattern:
        return None
    # Split at `**` segments into groups of plain segments; as for stars in a segment,
    # each group after a `**` takes its leftmost place and keeps it, which is never
    # wrong because whatever follows it can skip any number of segments too.
    groups = [[]]
    for seg in pattern.split("/"):
        if seg == "**":
            groups.append([])
        else:
            groups[-1].append(_segment(seg))
    out = "".join(groups[0])
    out += "".join(f"(?>(?:/[^/]+)*?{''.join(g)})" for g in groups[1:] if g)
    # The trailing group lets a pattern naming a directory take what it contains; it
    # also stands for a trailing `**`.
    return out + "(?:/.*)?"


class GlobSet:
    """Matches a path against any of several globs; an empty set matches nothing."""

    def __init__(self, patterns: Iterable[str]):
        sources = [s for s in (glob_regex(p) for p in patterns) if s is not None]
        self._re = re.compile("|".join(f"(?:{s})" for s in sources), re.DOTALL) if sources \
            else None

    def __bool__(self) -> bool:
        return self._re is not None

    def match(self, rel: str) -> bool:
        return self._re is not None and self._re.fullmatch("/" + rel) is not None
