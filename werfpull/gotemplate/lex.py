"""The lexer (Go's text/template/parse/lex.go): template text to tokens.

`Source` is one template text with its name and file, and locates errors in it; `_lex`
cuts it into `Tok`s, applying trim markers and dropping comments, and ends the list with
an "error" token where Go's lexer would stop, for the parser to raise when it gets there.
"""

from __future__ import annotations

from dataclasses import dataclass

from werfpull.gotemplate.errors import TemplateError
from werfpull.gotemplate.fmt import _gq

_KEYWORDS = {"block", "break", "continue", "define", "else", "end", "if", "range", "nil",
             "template", "with"}
_SPACE = " \t\r\n"


@dataclass
class Source:
    """One template text: `name` for include/template, `file` for errors."""

    name: str
    file: str
    text: str

    def where(self, pos: int) -> tuple[int, int]:
        line = self.text.count("\n", 0, pos) + 1
        return line, pos - (self.text.rfind("\n", 0, pos) + 1) + 1

    def error(self, pos: int, detail: str) -> TemplateError:
        line, col = self.where(pos)
        return TemplateError(detail, file=self.file, line=line, column=col, src=self)


@dataclass
class Tok:
    kind: str
    val: str
    pos: int
    end: int


def _alnum(ch: str) -> bool:
    return ch == "_" or ch.isalpha() or ch.isdecimal()


def _right_delim(text: str, p: int) -> tuple[bool, bool]:
    """(at a closing delimiter, with a trim marker) at p."""
    if text.startswith("-}}", p + 1) and p < len(text) and text[p] in _SPACE:
        return True, True
    return text.startswith("}}", p), False


def _lex(text: str) -> list[Tok]:
    toks: list[Tok] = []
    n = len(text)
    pos = 0

    def err(p: int, msg: str) -> list[Tok]:
        toks.append(Tok("error", msg, p, p))
        return toks

    while True:
        x = text.find("{{", pos)
        if x < 0:
            if pos < n:
                toks.append(Tok("text", text[pos:], pos, n))
            toks.append(Tok("eof", "", n, n))
            return toks
        trim = text.startswith("-", x + 2) and x + 3 < n and text[x + 3] in _SPACE
        end = pos + len(text[pos:x].rstrip(_SPACE)) if trim else x
        if end > pos:
            toks.append(Tok("text", text[pos:end], pos, end))
        p = x + 4 if trim else x + 2
        if text.startswith("/*", p):
            c = text.find("*/", p + 2)
            if c < 0:
                return err(x, "unclosed comment")
            delim, trim_right = _right_delim(text, c + 2)
            if not delim:
                return err(x, "comment ends before closing delimiter")
            pos = c + 2 + (2 if trim_right else 0) + 2
            if trim_right:
                pos = n - len(text[pos:].lstrip(_SPACE))
            continue
        toks.append(Tok("ldelim", "{{", x, x + 2))
        paren = 0
        while True:
            delim, trim_right = _right_delim(text, p)
            if delim:
                if paren:
                    return err(p, "unclosed left paren")
                if trim_right:
                    p += 2
                toks.append(Tok("rdelim", "}}", p, p + 2))
                p += 2
                if trim_right:
                    p = n - len(text[p:].lstrip(_SPACE))
                break
            if p >= n:
                return err(x, "unclosed action")
            ch, start = text[p], p
            if ch in _SPACE:
                while p < n and text[p] in _SPACE:
                    p += 1
                if text.startswith("-}}", p):
                    p -= 1  # leave " -}}" for the closing delimiter
                if p > start:
                    toks.append(Tok("space", text[start:p], start, p))
                continue
            p += 1
            if ch == "=":
                toks.append(Tok("assign", ch, start, p))
            elif ch == ":":
                if not text.startswith("=", p):
                    return err(start, "expected :=")
                p += 1
                toks.append(Tok("declare", ":=", start, p))
            elif ch == "|":
                toks.append(Tok("pipe", ch, start, p))
            elif ch in "\"'":
                kind = "string" if ch == '"' else "charconst"
                what = "quoted string" if ch == '"' else "character constant"
                while True:
                    c = text[p] if p < n else "\n"
                    p += 1
                    if c == "\\" and p < n and text[p] != "\n":
                        p += 1
                        continue
                    if c in "\n\\":
                        return err(start, f"unterminated {what}")
                    if c == ch:
                        break
                toks.append(Tok(kind, text[start:p], start, p))
            elif ch == "`":
                c = text.find("`", p)
                if c < 0:
                    return err(start, "unterminated raw quoted string")
                p = c + 1
                toks.append(Tok("rawstring", text[start:p], start, p))
            elif ch == "$" or (ch == "." and not (p < n and "0" <= text[p] <= "9")):
                if _at_terminator(text, p):
                    toks.append(Tok("variable" if ch == "$" else "dot", ch, start, p))
                    continue
                while p < n and _alnum(text[p]):
                    p += 1
                if not _at_terminator(text, p):
                    return err(p, f"bad character {_u(text[p])}")
                toks.append(Tok("variable" if ch == "$" else "field", text[start:p], start, p))
            elif ch in "+-." or "0" <= ch <= "9":
                p = _scan_number(text, start)
                if p < 0:
                    return err(start, f"bad number syntax: {_gq(text[start:-p])}")
                if p < n and text[p] in "+-":
                    return err(start, "complex numbers are not supported")
                toks.append(Tok("number", text[start:p], start, p))
            elif _alnum(ch):
                while p < n and _alnum(text[p]):
                    p += 1
                if not _at_terminator(text, p):
                    return err(p, f"bad character {_u(text[p])}")
                word = text[start:p]
                kind = word if word in _KEYWORDS else "bool" if word in ("true", "false") \
                    else "ident"
                toks.append(Tok(kind, word, start, p))
            elif ch == "(":
                paren += 1
                toks.append(Tok("lparen", ch, start, p))
            elif ch == ")":
                paren -= 1
                if paren < 0:
                    return err(start, "unexpected right paren")
                toks.append(Tok("rparen", ch, start, p))
            elif ord(ch) < 0x80 and ch.isprintable():
                toks.append(Tok("char", ch, start, p))
            else:
                return err(start, f"unrecognized character in action: {_u(ch)}")
        pos = p


def _u(ch: str) -> str:
    return f"U+{ord(ch):04X} {ch!r}" if ch else "EOF"


def _at_terminator(text: str, p: int) -> bool:
    return p >= len(text) or text[p] in _SPACE or text[p] in ".,|:)(}"


def _scan_number(text: str, p: int) -> int:
    """End of a number literal at p, or -end when it is malformed (Go's scanNumber)."""
    n = len(text)

    def accept(chars: str) -> bool:
        nonlocal p
        if p < n and text[p] in chars:
            p += 1
            return True
        return False

    def run(chars: str) -> None:
        while accept(chars):
            pass

    accept("+-")
    digits = "0123456789_"
    if accept("0"):
        if accept("xX"):
            digits = "0123456789abcdefABCDEF_"
        elif accept("oO"):
            digits = "01234567_"
        elif accept("bB"):
            digits = "01_"
    run(digits)
    if accept("."):
        run(digits)
    if len(digits) == 11 and accept("eE"):
        accept("+-")
        run("0123456789_")
    if len(digits) == 23 and accept("pP"):
        accept("+-")
        run("0123456789_")
    accept("i")
    if p < n and _alnum(text[p]):
        return -(p + 1)
    return p
