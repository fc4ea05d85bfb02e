"""`.dockerignore` as spec section 8 reads it: Docker's reading of the file, Go's
`path.Clean` and `path.Match`, `**` segments, `!` exceptions, the last match deciding.

Owns parsing the file (BOM, comments, trimming, cleaning) and compiling all of its
patterns into one regular expression, so that a context of many files is filtered
with one C-level match per file. A malformed pattern is a `BadPattern` carrying its
line; the caller turns it into a configuration error naming the file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Go's unicode.IsSpace (what strings.TrimSpace trims); Python's str.strip() would also
# trim the control characters \x1c-\x1f, which Go keeps.
GO_SPACE = ("\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
            "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000")
BOM = "\ufeff"


class BadPattern(ValueError):
    def __init__(self, line: int, pattern: str, why: str):
        super().__init__(f"line {line}: malformed pattern {pattern!r}: {why}")
        self.line, self.pattern, self.why = line, pattern, why


@dataclass(frozen=True)
class Pattern:
    text: str  # cleaned, without the leading "!"
    exception: bool
    line: int


def go_clean(path: str) -> str:
    """Go's path.Clean: collapse "/", drop ".", resolve "..", "" becomes "."."""
    rooted = path.startswith("/")
    out: list[str] = []
    for seg in path.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(seg)
    cleaned = "/".join(out)
    if rooted:
        return "/" + cleaned
    return cleaned or "."


def parse(text: str) -> list[Pattern]:
    """The patterns of a .dockerignore's text, as Docker reads the file."""
    if text.startswith(BOM):
        text = text[len(BOM):]
    patterns = []
    for number, raw in enumerate(text.split("\n"), start=1):
        if raw.startswith("#"):  # a comment only in the very first column
            continue
        line = raw.strip(GO_SPACE)
        if not line:
            continue
        exception = line.startswith("!")
        if exception:
            line = line[1:].strip(GO_SPACE)
            if not line:
                raise BadPattern(number, raw.strip(GO_SPACE), "an exception needs a pattern")
        line = go_clean(line)
        if line.startswith("/"):
            line = line[1:]
        patterns.append(Pattern(line, exception, number))
    return patterns


# -- Go's path.Match within one segment, as a regular expression ---------------------


def _char(ch: str) -> str:
    return f"\\U{ord(ch):08x}"


def _class(seg: str, i: int, bad) -> tuple[str, int]:
    """The class starting after the "[" at seg[i-1]: its regex and the index after "]"."""
    negated = i < len(seg) and seg[i] == "^"
    if negated:
        i += 1
    ranges: list[tuple[str, str]] = []
    while True:
        if i < len(seg) and seg[i] == "]" and ranges:
            i += 1
            break
        lo, i = _class_char(seg, i, bad)
        hi = lo
        if seg[i] == "-":
            hi, i = _class_char(seg, i + 1, bad)
        ranges.append((lo, hi))
    # A range with lo > hi matches nothing in Go; Python's re refuses it, so drop it.
    body = "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}"
                   for lo, hi in ranges if lo <= hi)
    if negated:
        return f"[^/{body}]", i  # never "/", which separates segments
    if not body:
        return "(?!)", i
    return f"(?!/)[{body}]", i


def _class_char(seg: str, i: int, bad) -> tuple[str, int]:
    """Go's getEsc: one possibly escaped character of a class, never the class's end."""
    if i >= len(seg) or seg[i] in "-]":
        raise bad("a character class is unclosed or has an empty or dangling range")
    if seg[i] == "\\":
        i += 1
        if i >= len(seg):
            raise bad("a character class is unclosed")
    if i + 1 >= len(seg):
        raise bad("a character class is unclosed")
    return seg[i], i + 1


def _pieces(seg: str, bad) -> list[list[str]]:
    """The segment's fixed-length pieces, split at runs of "*"; each token is one char."""
    pieces: list[list[str]] = [[]]
    i = 0
    while i < len(seg):
        ch = seg[i]
        if ch == "*":
            if pieces[-1] or len(pieces) == 1:
                pieces.append([])
            i += 1
        elif ch == "?":
            pieces[-1].append("[^/]")
            i += 1
        elif ch == "\\":
            if i + 1 >= len(seg):
                raise bad("a trailing '\\' quotes nothing")
            pieces[-1].append(re.escape(seg[i + 1]))
            i += 2
        elif ch == "[":
            token, i = _class(seg, i + 1, bad)
            pieces[-1].append(token)
        else:
            pieces[-1].append(re.escape(ch))
            i += 1
    return pieces


def _segment(seg: str, bad) -> str:
    """"/" and one segment. As in Go's own matcher, every "*" but the last takes the
    leftmost place of the fixed-length piece after it and keeps it (atomic), which is
    never wrong and keeps patterns like `*a*a*a*b` linear."""
    pieces = ["".join(p) for p in _pieces(seg, bad)]
    out = pieces[0]
    if len(pieces) > 1:
        out += "".join(f"(?>[^/]*?{p})" for p in pieces[1:-1]) + "[^/]*" + pieces[-1]
    return "/" + out + "(?![^/])"


def _groups(segs: list[str], bad) -> str:
    """Regex source matching exactly "/s1/s2..." for the segments `segs` ("" for none)."""
    groups: list[list[str]] = [[]]
    for seg in segs:
        if seg == "**":
            groups.append([])
        else:
            groups[-1].append(_segment(seg, bad))
    out = "".join(groups[0])
    # Each group after a `**` takes its leftmost place and keeps it: a later `**` can
    # skip segments too. The last one must be able to give it back to end exactly.
    tail = [g for g in groups[1:] if g]
    out += "".join(f"(?>(?:/[^/]+)*?{''.join(g)})" for g in tail[:-1])
    if tail:
        out += f"(?:/[^/]+)*?{''.join(tail[-1])}"
    elif len(groups) > 1:
        out += "(?:/[^/]+)*"
    return out


@dataclass(frozen=True)
class _Compiled:
    """One pattern as a directory part and a last segment: the pattern matches a path
    exactly when `parent` matches "/" + its directory and `last` "/" + its name."""

    index: int
    exception: bool
    parent: re.Pattern
    last: str
    literal: str | None  # the directory part when it is plain text ("/a/b", "" for none)


def _compile(index: int, pattern: Pattern) -> _Compiled | None:
    """None for a pattern that matches nothing ("." or empty)."""

    def bad(why: str) -> BadPattern:
        return BadPattern(pattern.line, ("!" if pattern.exception else "") + pattern.text, why)

    if pattern.text in ("", "."):
        return None
    segs = pattern.text.split("/")
    for seg in segs:
        _segment(seg, bad)  # every segment is checked, whatever is dropped below
    # A trailing `**` adds nothing: matching a directory already takes what is under it.
    while segs and segs[-1] == "**":
        segs.pop()
    if not segs:
        segs = ["**", "*"]  # `**` alone matches every path
    plain = all(not any(ch in seg for ch in "*?[\\") for seg in segs[:-1])
    return _Compiled(index, pattern.exception, re.compile(_groups(segs[:-1], bad), re.DOTALL),
                     _segment(segs[-1], bad), "".join("/" + s for s in segs[:-1]) if plain
                     else None)


class _Dir:
    """What the patterns say about one directory: the last pattern that matched it or
    a directory above it, and which patterns may match a name directly inside it."""

    __slots__ = ("best", "names", "order")

    def __init__(self, best: int, candidates: list[_Compiled], regexes: dict):
        self.best = best
        key = tuple(c.index for c in candidates)
        if key not in regexes:
            # The last pattern first: the group that matches is the last match.
            # Names hold no "/": match them without the segment's leading one.
            alts = "|".join(f"({c.last[1:]})" for c in reversed(candidates))
            regexes[key] = re.compile(alts, re.DOTALL) if candidates else None
        self.names = regexes[key]
        self.order = key[::-1]

    def last_match(self, name: str) -> int:
        if self.names is None:
            return -1
        m = self.names.fullmatch(name)
        return self.order[m.lastindex - 1] if m is not None else -1


class DockerIgnore:
    """The compiled patterns of one .dockerignore; `excluded(rel)` per context path.

    A pattern matches a path or a directory above it, so each directory is decided
    once and each file costs one match of its name against the few patterns that can
    end in its directory."""

    def __init__(self, patterns: list[Pattern]):
        self.patterns = patterns
        self._compiled = [c for c in (_compile(i, p) for i, p in enumerate(patterns)) if c]
        self._exception = [p.exception for p in patterns]
        # A plain directory part is looked up; the others are tested once per directory
        # however many patterns share them.
        self._literal: dict[str, list[_Compiled]] = {}
        self._parents: dict[str, tuple[re.Pattern, list[_Compiled]]] = {}
        for c in self._compiled:
            if c.literal is not None:
                self._literal.setdefault(c.literal, []).append(c)
            else:
                self._parents.setdefault(c.parent.pattern, (c.parent, []))[1].append(c)
        self._regexes: dict = {}
        self._dirs: dict[str, _Dir] = {}
        self._last: tuple[str | None, _Dir | None] = (None, None)  # files come by directory

    @classmethod
    def from_text(cls, text: str) -> DockerIgnore:
        return cls(parse(text))

    def _dir(self, path: str) -> _Dir:
        state = self._dirs.get(path)
        if state is None:
            if path:
                parent, _, name = path.rpartition("/")
                above = self._dir(parent)
                best = max(above.best, above.last_match(name))
            else:
                best = -1
            prefix = "/" + path if path else ""
            candidates = list(self._literal.get(prefix, ()))
            for rx, group in self._parents.values():
                if rx.fullmatch(prefix):
                    candidates += group
            candidates.sort(key=lambda c: c.index)
            state = self._dirs[path] = _Dir(best, candidates, self._regexes)
        return state

    def excluded(self, rel: str) -> bool:
        if not self._compiled:
            return False
        parent, _, name = rel.rpartition("/")
        last_parent, state = self._last
        if parent != last_parent:
            state = self._dir(parent)
            self._last = (parent, state)
        index = state.last_match(name)
        if index < state.best:
            index = state.best
        return index >= 0 and not self._exception[index]
