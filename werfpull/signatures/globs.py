"""Path globs, compiled to one regular expression per glob list.

Spec section 5's globs (git mappings, imports): `*` and `?` stay inside a segment, a
`**` segment spans whole segments, every other character (`[` and `\\` included) is
literal, and a glob that matches a directory takes everything under it.

`extended=True` reads them as werf's `.Files.Glob` does (doublestar's syntax): also
`{a,b}` alternatives, `[abc]`, `[a-z]` and `[!a]` classes of one character other than
`/`, and `\\` escaping the next character; a glob whose last segments are only stars
also takes the path before them (werf's path matcher).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_ALTERNATIVES = 1024  # a glob of nested braces expands multiplicatively
MAX_BRACES = 256  # each { is a level of recursion


class GlobError(ValueError):
    """A glob that cannot be read: an unclosed `[` or `{`, an empty class."""


def _pieces(seg: str, extended: bool) -> list[str]:
    """One segment as regexes of one character each, and "*" for a star."""
    out, i = [], 0
    while i < len(seg):
        ch = seg[i]
        if ch == "*":
            out.append("*")
        elif ch == "?":
            out.append("[^/]")
        elif extended and ch == "\\" and i + 1 < len(seg):
            i += 1
            out.append(re.escape(seg[i]))
        elif extended and ch == "[":
            regex, i = _char_class(seg, i)
            out.append(regex)
        else:
            out.append(re.escape(ch))
        i += 1
    return out


def _char_class(seg: str, start: int) -> tuple[str, int]:
    """The class opening at seg[start] as a regex, and the index of its `]`. As in
    doublestar, a range is an unescaped `-` between two characters; a reversed range
    (`z-a`) matches nothing."""
    i, negated = start + 1, False
    if i < len(seg) and seg[i] in "!^":
        negated, i = True, i + 1
    items: list[tuple[str, bool]] = []  # (character, escaped)
    while i < len(seg) and seg[i] not in "]/":  # a class never holds "/"
        escaped = seg[i] == "\\" and i + 1 < len(seg)
        i += escaped
        items.append((seg[i], escaped))
        i += 1
    closed = i < len(seg) and seg[i] == "]"
    if not closed or not items:
        raise GlobError("a class [] is empty" if closed else "a class [ is not closed")
    parts, k = [], 0
    while k < len(items):
        if k + 2 < len(items) and items[k + 1] == ("-", False):
            low, high = items[k][0], items[k + 2][0]
            if low <= high:
                parts.append(f"{re.escape(low)}-{re.escape(high)}")
            k += 3
        else:
            parts.append(re.escape(items[k][0]))
            k += 1
    if not parts:  # only reversed ranges: nothing, or (negated) any one character
        return ("[^/]" if negated else "(?!)"), i
    return f"(?!/)[{'^' if negated else ''}{''.join(parts)}]", i


def _segment(seg: str, extended: bool) -> str:
    """One path segment. Plain backtracking over several `*` is exponential, so each
    `*` but the last takes the shortest run before its fixed-length piece and never
    gives it back (atomic): with fixed-length pieces the leftmost choice is never wrong.
    A run of stars is one star."""
    pieces = [""]
    for piece in _pieces(seg, extended):
        if piece != "*":
            pieces[-1] += piece
        elif pieces[-1] or len(pieces) == 1:
            pieces.append("")
    out = pieces[0]
    if len(pieces) > 1:
        out += "".join(f"(?>[^/]*?{p})" for p in pieces[1:-1]) + "[^/]*" + pieces[-1]
    return "/" + out + "(?![^/])"  # the whole segment, never a prefix of it


def glob_regex(pattern: str, extended: bool = False) -> str | None:
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
            groups[-1].append(_segment(seg, extended))
    out = "".join(groups[0])
    out += "".join(f"(?>(?:/[^/]+)*?{''.join(g)})" for g in groups[1:] if g)
    # The trailing group lets a pattern naming a directory take what it contains; it
    # also stands for a trailing `**`.
    return out + "(?:/.*)?"


def expand_braces(pattern: str) -> list[str]:
    """`a{b,c}d` as `abd` and `acd`, nested braces too; a `\\` escapes the next
    character, and a class (`[{]`) holds no brace. Raises GlobError for an unclosed
    `{`, more than MAX_BRACES of them or more than MAX_ALTERNATIVES globs."""
    if pattern.count("{") > MAX_BRACES:
        raise GlobError(f"it has more than {MAX_BRACES} {{")
    open_at, depth, commas, i = None, 0, [], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1
        elif ch == "[":
            i = _class_close(pattern, i)
        elif ch == "{":
            if depth == 0:
                open_at = i
            depth += 1
        elif ch == "," and depth == 1:
            commas.append(i)
        elif ch == "}" and depth:
            depth -= 1
            if depth == 0:
                cuts = [open_at, *commas, i]
                heads = [x for a, b in zip(cuts, cuts[1:], strict=False)
                         for x in expand_braces(pattern[a + 1:b])]
                tails = expand_braces(pattern[i + 1:])
                if len(heads) * len(tails) > MAX_ALTERNATIVES:
                    raise GlobError(f"its {{}} expand to over {MAX_ALTERNATIVES} globs")
                return [pattern[:open_at] + h + t for h in heads for t in tails]
        i += 1
    if depth:
        raise GlobError("a { is not closed")
    return [pattern]


def _class_close(pattern: str, start: int) -> int:
    """Index of the `]` closing the class at `start`, or `start` itself when it is no
    class: then `[` is read on as it is (and refused where its segment is compiled)."""
    try:
        return _char_class(pattern, start)[1]
    except GlobError:
        return start


def _star_trimmed(pattern: str) -> str:
    """The pattern without its trailing segments of only stars (werf's path matcher)."""
    segments = pattern.strip("/").split("/")
    while segments and segments[-1] and not segments[-1].strip("*"):
        segments.pop()
    return "/".join(segments)


class GlobSet:
    """Matches a path against any of several globs; an empty set matches nothing.
    `extended`: werf's `.Files.Glob` syntax (the module's docstring); may raise GlobError."""

    def __init__(self, patterns: Iterable[str], extended: bool = False):
        patterns = list(patterns)
        if extended:  # trimmed as werf trims, before the braces are expanded
            patterns = [e for p in patterns for q in dict.fromkeys((p, _star_trimmed(p)))
                        for e in expand_braces(q)]
        sources = [s for s in (glob_regex(p, extended) for p in patterns) if s is not None]
        self._re = re.compile("|".join(f"(?:{s})" for s in sources), re.DOTALL) if sources \
            else None

    def __bool__(self) -> bool:
        return self._re is not None

    def match(self, rel: str) -> bool:
        return self._re is not None and self._re.fullmatch("/" + rel) is not None
