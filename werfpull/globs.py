"""Path globs of spec section 5, compiled to one regular expression per glob list.

`*` and `?` stay inside a segment, a `**` segment spans whole segments, every other
character (`[` and `\\` included) is literal, and a glob that matches a directory
takes everything under it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def _segment(seg: str) -> str:
    out = []
    for ch in seg:
        if ch == "*":
            if not out or out[-1] != "[^/]*":  # a run of stars is one star
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def glob_regex(pattern: str) -> str | None:
    """Regex source matching "/" + rel; None for a pattern that matches nothing."""
    pattern = pattern.strip("/")
    if not pattern:
        return None
    parts = []
    for seg in pattern.split("/"):
        parts.append("(?:/[^/]+)*" if seg == "**" else "/" + _segment(seg))
    # The trailing group lets a pattern naming a directory take what it contains.
    return "".join(parts) + "(?:/.*)?"


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
