"""Go's strconv as far as templates need it: `go_unquote` (strconv.Unquote) for the
parser's string and character literals, the syntax of strconv.ParseInt(s, 0, 64) for
its number literals and for sprig's conversions of strings to numbers.
"""

from __future__ import annotations

import re

from werfpull.gotemplate.values import _s

_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\"}


def go_unquote(lit: str) -> str:
    """strconv.Unquote of a "..." or `...` literal; ValueError when malformed."""
    if lit[0] == "`":
        return lit[1:-1].replace("\r", "")
    quote, body, out, i = lit[0], lit[1:-1], [], 0
    while i < len(body):
        ch = body[i]
        if ch == quote:
            raise ValueError("invalid syntax")
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        i += 1
        e = body[i] if i < len(body) else ""
        if e in _GO_ESCAPES:
            out.append(_GO_ESCAPES[e])
            i += 1
        elif e == quote:
            out.append(e)
            i += 1
        elif e in "xuU":
            size = {"x": 2, "u": 4, "U": 8}[e]
            digits = body[i + 1:i + 1 + size]
            if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError("invalid syntax")
            v = int(digits, 16)
            if e == "x":
                out.append(_s(bytes([v])) if v >= 0x80 else chr(v))
            elif v > 0x10FFFF or 0xD800 <= v <= 0xDFFF:
                raise ValueError("invalid syntax")
            else:
                out.append(chr(v))
            i += 1 + size
        elif e in "01234567":
            digits = body[i:i + 3]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) \
                    or int(digits, 8) > 255:
                raise ValueError("invalid syntax")
            v = int(digits, 8)
            out.append(_s(bytes([v])) if v >= 0x80 else chr(v))
            i += 3
        else:
            raise ValueError("invalid syntax")
    return "".join(out)


_GO_INT = re.compile(r"[+-]?(?:0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+"
                     r"|0(?:_?[0-7])+|[1-9](?:_?[0-9])*|0)")


def _parse_go_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64) without its range check; None when malformed."""
    if not _GO_INT.fullmatch(text):
        return None
    body = text.replace("_", "").lstrip("+-")
    if body[:2].lower() in ("0x", "0o", "0b"):
        value = int(body, 0)
    elif len(body) > 1 and body[0] == "0":
        value = int(body[1:], 8)  # a leading 0 means octal
    else:
        value = int(body)
    return -value if text.startswith("-") else value


def _is_hex_int(text: str) -> bool:
    return bool(re.match(r"0[xX]", text)) and not any(c in text for c in "pP")
