"""Go's regexp package as sprig's regex functions use it, over RE2 (`google-re2`).

Go's regexp is RE2 (leftmost-first, no backreferences, no lookaround); Python's `re`
accepts another syntax and matches differently, so patterns compile with RE2 itself.
What Go adds on top of the engine is reproduced here from regexp.go: the empty-match
rules of FindAll, ReplaceAll and Split, and the `$1`/`${name}` expansion of
ReplaceAllString (where `$1x` names a group "1x", not group 1 and an "x").
Texts are matched as their bytes, so offsets are Go's byte offsets.
"""

from __future__ import annotations

import functools

from werfpull.gotemplate.values import _b, _s

_MAX_PATTERN = 64 * 1024


class RegexError(Exception):
    """A pattern Go's regexp.Compile refuses."""


def _re2():
    """RE2, imported with the first pattern: most configs use none, and its import is a
    measurable part of every werfpull start."""
    import re2

    return re2


@functools.cache
def _options():
    options = _re2().Options()
    options.log_errors = False  # RE2 would print every bad pattern to stderr
    return options


@functools.lru_cache(maxsize=256)
def compile_go(pattern: str):
    """regexp.Compile: an RE2 program, or RegexError with Go's "error parsing regexp"."""
    raw = _b(pattern)
    if len(raw) > _MAX_PATTERN:
        raise RegexError("error parsing regexp: expression too large")
    if b"\\C" in raw.replace(b"\\\\", b""):  # RE2 has \C (any byte); Go refuses it
        raise RegexError("error parsing regexp: invalid escape sequence: `\\C`")
    re2 = _re2()
    try:
        return re2.compile(raw, _options())
    except re2.error as exc:
        detail = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(
            exc.args[0], bytes) else str(exc)
        code, _, arg = detail.partition(": ")
        code = _GO_CODES.get(code, code)
        raise RegexError(f"error parsing regexp: {code}: `{arg or pattern}`") from None


# RE2's error codes worded as Go's regexp/syntax words them.
_GO_CODES = {"missing )": "missing closing )", "missing ]": "missing closing ]",
             "bad repetition operator": "invalid nested repetition operator",
             "invalid perl operator": "invalid or unsupported Perl syntax",
             "no argument for repetition operator": "missing argument to repetition operator"}


def _rune_width(b: bytes, pos: int) -> int:
    """utf8.DecodeRune's width at pos (1 for an invalid byte, 0 at the end)."""
    if pos >= len(b):
        return 0
    lead = b[pos]
    n = 1 if lead < 0xC0 else 2 if lead < 0xE0 else 3 if lead < 0xF0 else 4
    try:
        b[pos:pos + n].decode("utf-8")
        return n
    except UnicodeDecodeError:
        return 1


def _spans(prog, b: bytes, pos: int):
    m = prog.search(b, pos)
    if m is None:
        return None
    return [m.span(i) for i in range(prog.groups + 1)]


def _all_matches(prog, b: bytes, n: int) -> list:
    """Go's allMatches: successive matches, no empty match right after a match."""
    if n < 0:
        n = len(b) + 1
    out, pos, prev_end = [], 0, -1
    while len(out) < n and pos <= len(b):
        spans = _spans(prog, b, pos)
        if spans is None:
            break
        start, end = spans[0]
        accept = True
        if end == pos:
            if start == prev_end:
                accept = False
            width = _rune_width(b, pos)
            pos = pos + width if width else len(b) + 1
        else:
            pos = end
        prev_end = end
        if accept:
            out.append(spans)
    return out


def match(pattern: str, s: str) -> bool:
    return compile_go(pattern).search(_b(s)) is not None


def find(pattern: str, s: str) -> str:
    m = compile_go(pattern).search(_b(s))
    return "" if m is None else _s(m.group(0))


def find_all(pattern: str, s: str, n: int) -> list[str]:
    b = _b(s)
    return [_s(b[sp[0][0]:sp[0][1]]) for sp in _all_matches(compile_go(pattern), b, n)]


def split(pattern: str, s: str, n: int) -> list[str]:
    """Regexp.Split."""
    if n == 0:
        return []
    if pattern and s == "":
        return [""]
    b = _b(s)
    out: list[str] = []
    beg = end = 0
    for spans in _all_matches(compile_go(pattern), b, n):
        if n > 0 and len(out) == n - 1:
            break
        end = spans[0][0]
        if spans[0][1] != 0:
            out.append(_s(b[beg:end]))
        beg = spans[0][1]
    if end != len(b):
        out.append(_s(b[beg:]))
    return out


def replace_all(pattern: str, s: str, repl: str, literal: bool) -> str:
    """ReplaceAllString (with Go's template expansion) or ReplaceAllLiteralString."""
    prog = compile_go(pattern)
    b, template = _b(s), _b(repl)
    names = {v: k for k, v in prog.groupindex.items()}
    out, last_end, search = [], 0, 0
    while search <= len(b):
        spans = _spans(prog, b, search)
        if spans is None:
            break
        start, end = spans[0]
        out.append(b[last_end:start])
        if end > last_end or start == 0:
            out.append(template if literal or b"$" not in template
                       else _expand(template, b, spans, names))
        last_end = end
        width = _rune_width(b, search)
        if search + width > end:
            search += width
        elif search + 1 > end:
            search += 1
        else:
            search = end
    out.append(b[last_end:])
    return _s(b"".join(out))


def _expand(template: bytes, b: bytes, spans: list, names: dict) -> bytes:
    """Regexp.expand: $$, $n, ${n}, $name, ${name}; a malformed $ stays literal."""
    out = []
    while template:
        i = template.find(b"$")
        if i < 0:
            break
        out.append(template[:i])
        template = template[i + 1:]
        if template[:1] == b"$":
            out.append(b"$")
            template = template[1:]
            continue
        name, rest = _extract(template)
        if name is None:
            out.append(b"$")
            continue
        template = rest
        group = _group_number(name)
        if group is None:
            group = next((i for i in sorted(names) if names[i] == name), None)
        if group is not None and group < len(spans) and spans[group][0] >= 0:
            out.append(b[spans[group][0]:spans[group][1]])
    out.append(template)
    return b"".join(out)


def _extract(t: bytes) -> tuple[bytes | None, bytes]:
    brace = t[:1] == b"{"
    body = t[1:] if brace else t
    text = _s(body)
    i = 0
    while i < len(text) and (text[i].isalpha() or text[i].isdigit() or text[i] == "_"):
        i += 1
    if i == 0:
        return None, t
    name = _b(text[:i])
    rest = body[len(name):]
    if brace:
        if rest[:1] != b"}":
            return None, t
        rest = rest[1:]
    return name, rest


def _group_number(name: bytes) -> int | None:
    if not name.isdigit() or not name.isascii() or (len(name) > 1 and name[:1] == b"0"):
        return None
    return int(name) if len(name) <= 9 else None


_META = set(b"\\.+*?()|[]{}^$")


def quote_meta(s: str) -> str:
    return _s(b"".join(b"\\" + bytes([c]) if c in _META else bytes([c]) for c in _b(s)))
