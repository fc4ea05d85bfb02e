"""sprig's word functions, ported from the libraries sprig calls for them: camelcase,
snakecase and kebabcase from huandu/xstrings v1.4.0 (the version werf builds with:
its camelcase is upper camel case), swapcase, untitle, initials, wrap, wrapWith,
abbrev and abbrevboth from Masterminds/goutils v1.1.1.

The ports keep the libraries' quirks, since a render must match werf's: goutils'
initials, wrap and abbreviate count bytes, not characters, and xstrings splits words
by Unicode category (a digit run joins the word before it: "Bld4Floor" is "bld4_floor").
"""

from __future__ import annotations

import unicodedata

from werfpull.gotemplate.values import _GO_SPACES, _b, _s

_RUNE_ERROR = "\ufffd"


def _bad(c: str) -> bool:
    """utf8.RuneError: an invalid byte (held as a surrogate) or U+FFFD itself."""
    return c == _RUNE_ERROR or 0xDC80 <= ord(c) <= 0xDCFF


def _cat(c: str) -> str:
    return unicodedata.category(c)


def _upper(c: str) -> bool:
    return _cat(c) == "Lu"


def _lower(c: str) -> bool:
    return _cat(c) == "Ll"


def _letter(c: str) -> bool:
    return _cat(c).startswith("L")


def _number(c: str) -> bool:
    return _cat(c).startswith("N")


def _punct(c: str) -> bool:
    return _cat(c).startswith("P")


def _space(c: str) -> bool:
    return c in _GO_SPACES


def to_upper(c: str) -> str:
    u = c.upper()
    return u if len(u) == 1 else c


def to_lower(c: str) -> str:
    u = c.lower()
    return u if len(u) == 1 else c


def _to_title(c: str) -> str:
    u = c.title()
    return u if len(u) == 1 else c


def _alphabet(c: str) -> bool:
    """xstrings' isAlphabet: a letter, but not a CJK character."""
    if not _letter(c):
        return False
    o = ord(c)
    return not (0x4E00 <= o <= 0x9FCC or 0x3400 <= o <= 0x4D85 or 0x20000 <= o <= 0x2B81D)


def _connector(c: str) -> bool:
    return c in "-_" or _space(c)


INVALID, NUMBER, UPPER, ALPHA, CONNECTOR, PUNCT, OTHER = range(7)


def _next_valid(s: str, prev: str) -> tuple[str, int]:
    size = 0
    for c in s:
        size += 1
        if not _bad(c):
            return c, size
    return prev, size


def _run(s: str, offset: int, r: str, size: int, keep) -> tuple[int, str]:
    """Extend a word while `keep(rune)`: the new offset and the remaining text."""
    remaining = s[offset:]
    while remaining:
        r, size = _next_valid(remaining, r)
        if not keep(r):
            break
        offset += size
        remaining = remaining[size:]
    return offset, remaining


def _next_word(s: str) -> tuple[int, str, str]:
    """xstrings' nextWord: the type of the next word, the word and the rest."""
    if not s:
        return INVALID, "", ""
    r, offset = _next_valid(s, _RUNE_ERROR)
    if r == _RUNE_ERROR:
        return INVALID, s[:offset], s[offset:]
    if _connector(r):
        wt, keep = CONNECTOR, _connector
    elif _punct(r):
        wt, keep = PUNCT, _punct
    elif _upper(r):
        return _upper_word(s, offset)
    elif _alphabet(r):
        wt, keep = ALPHA, lambda c: _alphabet(c) and not _upper(c)
    elif _number(r):
        wt, keep = NUMBER, _number
    else:
        wt = OTHER

        def keep(c):
            return not (_connector(c) or _alphabet(c) or _number(c) or _punct(c))
    offset, remaining = _run(s, offset, r, offset, keep)
    return wt, s[:offset], remaining


def _upper_word(s: str, offset: int) -> tuple[int, str, str]:
    remaining = s[offset:]
    if remaining:
        r, size = _next_valid(remaining, s[offset - 1])
        if _upper(r):
            prev_size = size
            offset += size
            remaining = remaining[size:]
            while remaining:
                r, size = _next_valid(remaining, r)
                if not _upper(r):
                    break
                prev_size = size
                offset += size
                remaining = remaining[size:]
            # "HTTPStatus" is "HTTP" and "Status": the last capital starts the next word.
            if remaining and _alphabet(r):
                offset -= prev_size
                remaining = s[offset:]
        elif _alphabet(r):
            offset, remaining = _run(s, offset + size, r, size,
                                     lambda c: _alphabet(c) and not _upper(c))
    return UPPER, s[:offset], remaining


def _to_lower_word(out: list, wt: int, word: str, connector: str) -> None:
    if wt not in (UPPER, CONNECTOR):
        out.append(word)
        return
    for c in word:
        out.append(connector if _connector(c) else to_lower(c) if _upper(c) else c)


def _lower_case(s: str, connector: str) -> str:
    """xstrings' camelCaseToLowerCase: snakecase and kebabcase."""
    if not s:
        return ""
    out: list[str] = []
    wt, word, remaining = _next_word(s)
    while remaining:
        if wt != CONNECTOR:
            _to_lower_word(out, wt, word, connector)
        prev, last = wt, word
        wt, word, remaining = _next_word(remaining)
        if prev == NUMBER:
            while wt in (ALPHA, NUMBER):
                _to_lower_word(out, wt, word, connector)
                wt, word, remaining = _next_word(remaining)
            if wt not in (INVALID, PUNCT, CONNECTOR):
                out.append(connector)
        elif prev == CONNECTOR:
            _to_lower_word(out, prev, last, connector)
        elif prev == PUNCT:
            pass
        elif wt != NUMBER:
            if wt not in (CONNECTOR, PUNCT):
                out.append(connector)
        elif remaining:
            last = word
            wt, word, remaining = _next_word(remaining)
            if wt != ALPHA:  # "Bld4Floor": the number belongs to the word before it
                _to_lower_word(out, NUMBER, last, connector)
                if wt not in (CONNECTOR, PUNCT):
                    out.append(connector)
            else:  # "HTTP2xx": lower case letters after a number start a word
                out.append(connector)
                _to_lower_word(out, NUMBER, last, connector)
                while wt in (ALPHA, NUMBER):
                    _to_lower_word(out, wt, word, connector)
                    wt, word, remaining = _next_word(remaining)
                if wt not in (INVALID, CONNECTOR, PUNCT):
                    out.append(connector)
    _to_lower_word(out, wt, word, connector)
    return "".join(out)


def snakecase(s: str) -> str:
    return _lower_case(s, "_")


def kebabcase(s: str) -> str:
    return _lower_case(s, "-")


def camelcase(s: str) -> str:
    """xstrings v1.4.0 ToCamelCase: "http_server" is "HttpServer"."""
    runes = [_RUNE_ERROR if _bad(c) else c for c in s]
    if not runes:
        return ""
    out, i = [], 0
    r0 = ""
    while i < len(runes):
        r0 = runes[i]
        i += 1
        if not _connector(r0):
            r0 = to_upper(r0)
            break
        out.append(r0)
    if i >= len(runes):  # xstrings writes the last rune again, even a connector
        out.append(r0)
        return "".join(out)
    while i < len(runes):
        r1, r0 = r0, runes[i]
        i += 1
        if _connector(r0) and _connector(r1):
            out.append(r1)
            continue
        if _connector(r1):
            r0 = to_upper(r0)
        else:
            out.append(r1)
    out.append(r0)
    return "".join(out)


def swapcase(s: str) -> str:
    """goutils SwapCase: a lower case letter after a space becomes title case."""
    out, whitespace = [], True
    for c in s:
        if _upper(c) or _cat(c) == "Lt":
            out.append(to_lower(c))
            whitespace = False
        elif _lower(c):
            out.append(_to_title(c) if whitespace else to_upper(c))
            whitespace = False
        else:
            out.append(c)
            whitespace = _space(c)
    return "".join(out)


def untitle(s: str) -> str:
    """goutils Uncapitalize: the first letter of each space-separated word lowered."""
    out, nxt = [], True
    for c in s:
        if _space(c):
            nxt = True
            out.append(c)
        elif nxt:
            out.append(to_lower(c))
            nxt = False
        else:
            out.append(c)
    return "".join(out)


def initials(s: str) -> str:
    """goutils Initials: reads bytes as runes, as goutils does (é gives "Ã")."""
    out, gap = [], True
    for byte in _b(s):
        ch = chr(byte)
        if _space(ch):
            gap = True
        elif gap:
            out.append(ch)
            gap = False
    return "".join(out)


def wrap_custom(s: str, length: int, newline: str, long_words: bool) -> str:
    """goutils WrapCustom, over bytes like the original."""
    b = _b(s)
    if not b:
        return ""
    nl = _b(newline) or b"\n"
    length = max(length, 1)
    out, offset = [], 0
    while len(b) - offset > length:
        if b[offset] == 0x20:
            offset += 1
            continue
        space = b[offset:length + offset + 1].rfind(b" ") + offset
        if space >= offset:
            out += [b[offset:space], nl]
            offset = space + 1
        elif long_words:
            out += [b[offset:offset + length], nl]
            offset += length
        else:
            index = b[offset + length:].find(b" ")
            if index == -1:
                out.append(b[offset:])
                offset = len(b)
            else:
                space = index + offset + length
                out += [b[offset:space], nl]
                offset = space + 1
    out.append(b[offset:])
    return _s(b"".join(out))


def abbreviate(s: str, offset: int, width: int) -> str:
    """goutils AbbreviateFull ("" where goutils returns an error, as sprig does)."""
    b = _b(s)
    if not b:
        return ""
    if width < 4:
        return ""
    if len(b) <= width:
        return s
    offset = min(offset, len(b))
    if len(b) - offset < width - 3:
        offset = len(b) - (width - 3)
    if offset <= 4:
        return _s(b[:width - 3]) + "..."
    if width < 7:
        return ""
    if offset + width - 3 < len(b):
        return "..." + abbreviate(_s(b[offset:]), 0, width - 3)
    return "..." + _s(b[len(b) - (width - 3):])
