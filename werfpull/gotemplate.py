"""Templated werf.yaml: Go text/template, rendered the way werf renders it, to plain YAML.

Owns the template language (lexer, parser and evaluator of the subset of Go's
text/template that werf configs use, faithful to Go where a render depends on it:
trim markers, variable scoping, pipelines, truth, printing of values), the sprig and
werf functions werfpull implements, and werf's template data: `.Files` and partials
(`.werf/**/*.tmpl`) read from the commit HEAD, `.Env`, `.Commit`. Anything outside the
subset is a `TemplateError` naming file, line, column and construct, never a silently
different render. Go values are modelled by Python ones; the few Go types a render can
tell apart get their own classes (`Int64`, `StrList`, `StrMap`, ...).
"""

from __future__ import annotations

import base64
import decimal
import hashlib
import json
import math
import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import yaml

from werfpull.errors import ConfigError
from werfpull.globs import GlobSet

MAIN = "werfConfig"  # the name werf gives the template of werf.yaml itself
PARTIALS_DIR = ".werf"
MAX_DEPTH = 50  # nested template/include/tpl calls; Go allows more, configs need far less


class TemplateError(ConfigError):
    """A template that cannot be rendered, located by file, line and column."""

    def __init__(self, detail: str, *, file: str, line: int, column: int, src=None):
        super().__init__(detail, file=file, line=line)
        self.column, self.detail, self.src = column, detail, src
        self.message = f"{file}:{line}:{column}: {detail}"
        self.args = (self.message,)


class _CallError(Exception):
    """A function failed; the evaluator says where (Go: "error calling NAME: ...")."""


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


# -- Go values ------------------------------------------------------------------------


class Int64(int):
    """A Go int64 (what sprig's arithmetic returns), which Go keeps apart from int."""

    __slots__ = ()


class StrList(list):
    """[]string"""


class NilList(list):
    """A nil []interface {}: prints as [], encodes to JSON as null."""


class IntList(list):
    """[]int"""


class StrMap(dict):
    """map[string]string"""


class AnyMap(dict):
    """map[interface {}]interface {}: the nested maps of werf's fromYaml."""


class _Missing:
    """Go's invalid reflect.Value: an absent map key, a nil that went through a pipeline."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()
_NOFINAL = object()  # no value piped into a command (Go's missingVal)


class GoStruct:
    """A Go struct value of the template data: fields and methods, nothing printable."""

    go_type = "struct"
    label = "a struct"

    def fields(self) -> dict:
        return {}

    def methods(self) -> dict:
        return {}


def go_type(v) -> str:
    if v is None or v is MISSING:
        return "<nil>"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, Int64):
        return "int64"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float64"
    if isinstance(v, str):
        return "string"
    if isinstance(v, StrList):
        return "[]string"
    if isinstance(v, IntList):
        return "[]int"
    if isinstance(v, list):
        return "[]interface {}"
    if isinstance(v, StrMap):
        return "map[string]string"
    if isinstance(v, AnyMap):
        return "map[interface {}]interface {}"
    if isinstance(v, dict):
        return "map[string]interface {}"
    if isinstance(v, GoStruct):
        return v.go_type
    return type(v).__name__


def _show(v) -> str:
    """A value in an error message."""
    return v.label if isinstance(v, GoStruct) else fmt_v(v)


def _b(s: str) -> bytes:
    """A Go string's bytes; file contents that are not UTF-8 travel as surrogates."""
    return s.encode("utf-8", "surrogateescape")


def _s(b: bytes) -> str:
    return b.decode("utf-8", "surrogateescape")


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _sort_key(k):
    if isinstance(k, str):
        return (2, _b(k))
    if isinstance(k, bool):
        return (0, k)
    if isinstance(k, (int, float)):
        return (1, k)
    return (3, str(k))


def sorted_keys(d: dict) -> list:
    """Map keys in the order Go prints and ranges over them (fmtsort)."""
    return sorted(d, key=_sort_key)


def _wrap64(n: int) -> Int64:
    return Int64((n + (1 << 63)) % (1 << 64) - (1 << 63))


# -- printing as Go's fmt does -----------------------------------------------------


_GO_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


def _float_digits(f: float) -> tuple[str, int]:
    """Shortest digits of abs(f) and the decimal point position (0.d1d2... x 10^dp)."""
    sign, digits, exp = decimal.Decimal(repr(abs(f))).as_tuple()
    ds = "".join(map(str, digits))
    dp = len(ds) + exp
    stripped = ds.lstrip("0")
    dp -= len(ds) - len(stripped)
    return stripped.rstrip("0") or "0", dp


def _float_fixed(digits: str, dp: int) -> str:
    if dp <= 0:
        return "0." + "0" * -dp + digits
    if dp >= len(digits):
        return digits + "0" * (dp - len(digits))
    return digits[:dp] + "." + digits[dp:]


def _float_exp(digits: str, dp: int, min_exp_digits: int = 2) -> str:
    x = dp - 1
    mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{mant}e{'-' if x < 0 else '+'}{abs(x):0{min_exp_digits}d}"


def go_float(f: float) -> str:
    """strconv.FormatFloat(f, 'g', -1, 64): what %v prints."""
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "+Inf" if f > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, f) < 0 else ""
    if f == 0:
        return sign + "0"
    digits, dp = _float_digits(f)
    x = dp - 1
    # Shortest digits; %e when the exponent is < -4 or >= 6 (strconv's rule for 'g', -1).
    return sign + (_float_exp(digits, dp) if x < -4 or x >= 6 else _float_fixed(digits, dp))


def fmt_v(v, top: bool = False) -> str:
    """fmt's %v; `top` is a value printed by an action, where nil is "<no value>"."""
    if v is None or v is MISSING:
        return "<no value>" if top else "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return go_float(v)
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + " ".join(fmt_v(e) for e in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{fmt_v(k)}:{fmt_v(v[k])}" for k in sorted_keys(v)) + "]"
    raise _CallError(f"it holds {v.label if isinstance(v, GoStruct) else go_type(v)}")


def go_quote(s: str, quote: str = '"') -> str:
    """strconv.Quote (and QuoteRune with quote="'")."""
    out = [quote]
    for ch in s:
        c = ord(ch)
        if ch == quote or ch == "\\":
            out.append("\\" + ch)
        elif 0xDC80 <= c <= 0xDCFF:  # a byte that is not UTF-8
            out.append(f"\\x{c - 0xDC00:02x}")
        elif ch.isprintable():
            out.append(ch)
        elif ch in "\a\b\f\n\r\t\v":
            out.append("\\" + "abfnrtv"["\a\b\f\n\r\t\v".index(ch)])
        elif c < 0x20 or c == 0x7F:
            out.append(f"\\x{c:02x}")
        elif c < 0x10000:
            out.append(f"\\u{c:04x}")
        else:
            out.append(f"\\U{c:08x}")
    out.append(quote)
    return "".join(out)


class _Unsupported(Exception):
    pass


def _pad(s: str, width, flags: str) -> str:
    if width is None or len(s) >= width:
        return s
    return s + " " * (width - len(s)) if "-" in flags else " " * (width - len(s)) + s


def _fmt_int(v: int, verb: str, flags: str, width, prec) -> str:
    if verb == "c":
        return _pad(chr(v), width, flags)
    if verb == "q":
        return _pad(go_quote(chr(v), "'"), width, flags)
    if verb == "U":
        return _pad(f"U+{v:04X}", width, flags)
    neg, a = v < 0, abs(v)
    digits = {"d": str, "v": str, "x": lambda n: format(n, "x"), "X": lambda n: format(n, "X"),
              "o": lambda n: format(n, "o"), "O": lambda n: format(n, "o"),
              "b": lambda n: format(n, "b")}[verb](a)
    if prec is not None:
        digits = "" if prec == 0 and a == 0 else digits.rjust(prec, "0")
    sign = "-" if neg else "+" if "+" in flags else " " if " " in flags else ""
    if width is not None and "0" in flags and "-" not in flags and prec is None:
        digits = digits.rjust(width - len(sign), "0")
    prefix = ""
    if "#" in flags:
        prefix = {"x": "0x", "X": "0X", "b": "0b"}.get(verb, "0" if verb == "o" else "")
    if verb == "O":
        prefix = "0o"
    return _pad(sign + prefix + digits, width, flags)


def _fmt_float(v: float, verb: str, flags: str, width, prec) -> str:
    if verb in "vgG" and prec is None:
        s = go_float(v)
    elif verb in "fF":
        s = format(v, f".{6 if prec is None else prec}f")
    elif verb in "eE":
        s = format(v, f".{6 if prec is None else prec}e")
    else:
        s = format(v, f".{prec or 1}g")
    if verb in "EG":
        s = s.upper()
    if "+" in flags and not s.startswith("-"):
        s = "+" + s
    if width is not None and "0" in flags and "-" not in flags:
        sign = s[0] if s[0] in "+-" else ""
        s = sign + s[len(sign):].rjust(width - len(sign), "0")
    return _pad(s, width, flags)


def _fmt_arg(arg, verb: str, flags: str, width, prec) -> str:
    if verb == "T":
        return _pad(go_type(arg), width, flags)
    if arg is None or arg is MISSING:
        return _pad("<nil>", width, flags) if verb == "v" else f"%!{verb}(<nil>)"
    if isinstance(arg, list):
        return "[" + " ".join(_fmt_arg(e, verb, flags, width, prec) for e in arg) + "]"
    if isinstance(arg, dict):
        return "map[" + " ".join(
            f"{_fmt_arg(k, verb, flags, width, prec)}:{_fmt_arg(arg[k], verb, flags, width, prec)}"
            for k in sorted_keys(arg)) + "]"
    if isinstance(arg, bool):
        if verb in "tv":
            return _pad("true" if arg else "false", width, flags)
    elif isinstance(arg, int):
        if verb in "dvxXoObcqU":
            return _fmt_int(int(arg), verb, flags, width, prec)
    elif isinstance(arg, float):
        if verb in "vgGeEfF":
            return _fmt_float(arg, verb, flags, width, prec)
    elif isinstance(arg, str):
        if "0" in flags:
            raise _Unsupported("the 0 flag with a string")
        if verb in "vs":
            s = arg if prec is None else arg[:prec]
            return _pad(s, width, flags)
        if verb == "q":
            if flags.strip("-"):
                raise _Unsupported(f"%{flags}q")
            return _pad(go_quote(arg if prec is None else arg[:prec]), width, flags)
        if verb in "xX":
            if flags.strip("-"):
                raise _Unsupported(f"%{flags}{verb}")
            h = _b(arg).hex()
            return _pad(h.upper() if verb == "X" else h, width, flags)
    elif isinstance(arg, GoStruct):
        raise _Unsupported(f"printing {arg.label}")
    return f"%!{verb}({go_type(arg)}={fmt_v(arg)})"


_PRINTF_RE = re.compile(r"%([-+# 0]*)([0-9]*)(?:\.([0-9]*))?(.?)", re.DOTALL)


def go_sprintf(fmt: str, args: list) -> str:
    """fmt.Sprintf for the common verbs; anything else raises _Unsupported."""
    out, i, argi = [], 0, 0
    while True:
        j = fmt.find("%", i)
        if j < 0:
            out.append(fmt[i:])
            break
        out.append(fmt[i:j])
        m = _PRINTF_RE.match(fmt, j)
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        i = m.end()
        if verb in ("*", "["):
            raise _Unsupported(f"%{verb} in a format")
        if not verb:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue
        if verb not in "vTtdbcoOqxXUeEfFgGs":
            raise _Unsupported(f"the verb %{verb}")
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        if "#" in flags and verb in "vT":
            raise _Unsupported("%#v")
        out.append(_fmt_arg(arg, verb, flags, int(width) if width else None,
                            (int(prec) if prec else 0) if prec is not None else None))
    if argi < len(args):
        extra = ", ".join("<nil>" if a is None else f"{go_type(a)}={fmt_v(a)}"
                          for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def go_sprint(args: list, ln: bool = False) -> str:
    """fmt.Sprint (spaces between operands when neither is a string), or Sprintln."""
    out = []
    for i, a in enumerate(args):
        if i and (ln or not (isinstance(a, str) or isinstance(args[i - 1], str))):
            out.append(" ")
        out.append(fmt_v(a))
    return "".join(out) + ("\n" if ln else "")


# -- JSON and YAML as sprig, werf and Helm produce them -----------------------------


class _JSONError(Exception):
    pass


def _json_str(s: str, escape_html: bool) -> str:
    out = ['"']
    for ch in s:
        c = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in "\n\r\t\b\f":
            out.append("\\" + "nrtbf"["\n\r\t\b\f".index(ch)])
        elif c < 0x20 or (escape_html and ch in "<>&") or c in (0x2028, 0x2029):
            out.append(f"\\u{c:04x}")
        elif 0xDC80 <= c <= 0xDCFF:
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _json_float(f: float) -> str:
    if math.isnan(f) or math.isinf(f):
        raise _JSONError(f"json: unsupported value: {go_float(f)}")
    if f == 0:
        return "-0" if math.copysign(1.0, f) < 0 else "0"
    digits, dp = _float_digits(f)
    sign = "-" if f < 0 else ""
    if abs(f) < 1e-6 or abs(f) >= 1e21:
        s = _float_exp(digits, dp)
        s = re.sub(r"e-0(\d)$", r"e-\1", s)
        return sign + s
    return sign + _float_fixed(digits, dp)


def go_json(v, indent: str | None = None, escape_html: bool = True, level: int = 0) -> str:
    """encoding/json.Marshal (or MarshalIndent with `indent`)."""
    if v is None or v is MISSING:
        return "null"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(int(v))
    if isinstance(v, float):
        return _json_float(v)
    if isinstance(v, str):
        return _json_str(v, escape_html)
    if isinstance(v, NilList):
        return "null"
    nl = "" if indent is None else "\n" + indent * (level + 1)
    end = "" if indent is None else "\n" + indent * level
    if isinstance(v, list):
        if not v:
            return "[]"
        items = [go_json(e, indent, escape_html, level + 1) for e in v]
        return "[" + nl + ("," + nl).join(items) + end + "]"
    if isinstance(v, AnyMap):
        raise _JSONError("json: unsupported type: map[interface {}]interface {}")
    if isinstance(v, dict):
        if not v:
            return "{}"
        sep = ":" if indent is None else ": "
        items = [_json_str(k, escape_html) + sep + go_json(v[k], indent, escape_html, level + 1)
                 for k in sorted(v, key=_b)]
        return "{" + nl + ("," + nl).join(items) + end + "}"
    if isinstance(v, GoStruct):
        return "{}"
    raise _JSONError(f"json: unsupported type: {go_type(v)}")


def _plain(v):
    """Python builtins for PyYAML, which refuses subclasses."""
    if v is None or v is MISSING:
        return None
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        return int(v)
    if isinstance(v, (float, str)):
        return v
    if isinstance(v, NilList):
        return None
    if isinstance(v, list):
        return [_plain(e) for e in v]
    if isinstance(v, dict):
        return {_plain(k): _plain(x) for k, x in v.items()}
    raise _CallError(f"cannot convert {go_type(v)} to YAML")


def to_yaml(v) -> str:
    out = yaml.safe_dump(_plain(v), default_flow_style=False, sort_keys=True,
                         allow_unicode=True)
    if out.endswith("\n...\n"):
        out = out[:-4]
    return out[:-1] if out.endswith("\n") else out


class _YAMLv2Loader(yaml.SafeLoader):
    """YAML as gopkg.in/yaml.v2 reads it into interface{}: timestamps stay strings,
    y/n are booleans."""


_YAMLv2Loader.add_constructor("tag:yaml.org,2002:timestamp",
                              lambda loader, node: loader.construct_scalar(node))
_YAMLv2Loader.add_implicit_resolver("tag:yaml.org,2002:yn", re.compile(r"^(?:y|Y|n|N)$"),
                                    list("yYnN"))
_YAMLv2Loader.add_constructor("tag:yaml.org,2002:yn",
                              lambda loader, node: loader.construct_scalar(node) in "yY")


def _from_yaml_value(v):
    if isinstance(v, dict):
        return AnyMap({k: _from_yaml_value(x) for k, x in v.items()})
    if isinstance(v, list):
        return [_from_yaml_value(e) for e in v]
    if isinstance(v, bytes):
        return _s(v)
    return v


def from_yaml(text: str) -> dict:
    """werf's fromYaml: a map[string]interface {} decoded by yaml.v2."""
    try:
        data = yaml.load(text, Loader=_YAMLv2Loader)  # a SafeLoader
    except yaml.YAMLError as exc:
        raise _CallError(f"yaml: {str(exc).splitlines()[0]}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _CallError(f"yaml: cannot unmarshal {go_type(_from_yaml_value(data))}"
                         " into map[string]interface {}")
    out = {}
    for k, v in data.items():
        if not isinstance(k, str):
            raise _CallError(f"yaml: cannot unmarshal key {k!r} into string")
        out[k] = _from_yaml_value(v)
    return out


def from_json(text: str):
    def no_constant(name):
        raise ValueError(name)

    def convert(v):
        if isinstance(v, list):
            return [convert(e) for e in v]
        if isinstance(v, dict):
            return {k: convert(x) for k, x in v.items()}
        return v

    try:
        return convert(json.loads(text, parse_int=float, parse_constant=no_constant))
    except ValueError:
        return None


# -- the lexer (text/template/parse/lex.go) ---------------------------------------


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


def _gq(s: str) -> str:
    return go_quote(s)


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


# -- the parser (text/template/parse/parse.go) -----------------------------------


@dataclass(eq=False)
class Node:
    pos: int
    end: int
    src: Source = field(repr=False)

    def text(self) -> str:
        return self.src.text[self.pos:self.end]


@dataclass(eq=False)
class ListNode(Node):
    nodes: list = field(default_factory=list)


@dataclass(eq=False)
class TextNode(Node):
    value: str = ""


@dataclass(eq=False)
class PipeNode(Node):
    decl: list = field(default_factory=list)
    is_assign: bool = False
    cmds: list = field(default_factory=list)


@dataclass(eq=False)
class ActionNode(Node):
    pipe: PipeNode = None


@dataclass(eq=False)
class CommandNode(Node):
    args: list = field(default_factory=list)


@dataclass(eq=False)
class ControlNode(Node):
    kind: str = ""  # if, range, with
    pipe: PipeNode = None
    body: ListNode = None
    orelse: ListNode | None = None


@dataclass(eq=False)
class TemplateNode(Node):
    name: str = ""
    pipe: PipeNode | None = None


@dataclass(eq=False)
class BreakNode(Node):
    kind: str = "break"


@dataclass(eq=False)
class FieldNode(Node):
    idents: list = field(default_factory=list)


@dataclass(eq=False)
class VariableNode(Node):
    idents: list = field(default_factory=list)


@dataclass(eq=False)
class ChainNode(Node):
    node: Node = None
    fields: list = field(default_factory=list)


@dataclass(eq=False)
class IdentifierNode(Node):
    name: str = ""


@dataclass(eq=False)
class DotNode(Node):
    pass


@dataclass(eq=False)
class NilNode(Node):
    pass


@dataclass(eq=False)
class BoolNode(Node):
    value: bool = False


@dataclass(eq=False)
class StringNode(Node):
    value: str = ""


@dataclass(eq=False)
class NumberNode(Node):
    is_int: bool = False
    int_value: int = 0
    is_float: bool = False
    float_value: float = 0.0
    is_char: bool = False


@dataclass(eq=False)
class _End(Node):
    kind: str = "end"  # end | else | else-if


_LITERALS = (BoolNode, DotNode, NilNode, NumberNode, StringNode)


@dataclass
class Tree:
    name: str
    root: ListNode
    src: Source


def _is_empty(node) -> bool:
    if isinstance(node, ListNode):
        return all(_is_empty(n) for n in node.nodes)
    return isinstance(node, TextNode) and not node.value.strip(_GO_SPACES)


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


def _number(tok: Tok, src: Source) -> NumberNode:
    node = NumberNode(tok.pos, tok.end, src)
    text = tok.val
    if tok.kind == "charconst":
        try:
            ch = go_unquote(text)
        except ValueError:
            raise src.error(tok.pos, f"malformed character constant: {text}") from None
        if len(ch) != 1:
            raise src.error(tok.pos, f"malformed character constant: {text}")
        node.is_int = node.is_float = node.is_char = True
        node.int_value = ord(ch)
        node.float_value = float(node.int_value)
        return node
    if text.endswith("i"):
        raise src.error(tok.pos, "complex numbers are not supported")
    i = _parse_go_int(text)
    if i is not None:
        if not -(1 << 63) <= i < (1 << 63):
            raise src.error(tok.pos, f"{text} overflows int")
        node.is_int, node.int_value = True, i
        node.is_float, node.float_value = True, float(i)
        return node
    try:
        plain = text.replace("_", "")
        f = float.fromhex(plain) if re.match(r"[+-]?0[xX]", text) else float(plain)
    except ValueError:
        raise src.error(tok.pos, f"illegal number syntax: {_gq(text)}") from None
    if not any(c in text for c in ".eEpP"):
        raise src.error(tok.pos, f"integer overflow: {_gq(text)}")
    node.is_float, node.float_value = True, f
    if math.isfinite(f) and f == int(f) and -(1 << 63) <= int(f) < (1 << 63):
        node.is_int, node.int_value = True, int(f)
    return node


def _tok_str(tok: Tok) -> str:
    if tok.kind == "eof":
        return "EOF"
    if tok.kind in _KEYWORDS:
        return f"<{tok.val}>"
    return _gq(tok.val) if len(tok.val) <= 10 else _gq(tok.val[:10]) + "..."


class _Parser:
    def __init__(self, src: Source, funcs: dict, trees: dict):
        self.src, self.funcs, self.trees = src, funcs, trees
        self.toks = _lex(src.text)
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.defined: dict[str, Tree] = {}  # by this text, for duplicate checks

    # -- tokens

    def error(self, pos: int, detail: str) -> TemplateError:
        return self.src.error(pos, detail)

    def next(self) -> Tok:
        tok = self.toks[self.i]
        if tok.kind == "error":
            raise self.error(tok.pos, tok.val)
        self.i += 1
        return tok

    def peek(self) -> Tok:
        tok = self.toks[self.i]
        if tok.kind == "error":
            raise self.error(tok.pos, tok.val)
        return tok

    def next_non_space(self) -> Tok:
        while True:
            tok = self.next()
            if tok.kind != "space":
                return tok

    def peek_non_space(self) -> Tok:
        tok = self.next_non_space()
        self.i -= 1
        return tok

    def expect(self, kind: str, context: str) -> Tok:
        tok = self.next_non_space()
        if tok.kind != kind:
            self.unexpected(tok, context)
        return tok

    def unexpected(self, tok: Tok, context: str):
        raise self.error(tok.pos, f"unexpected {_tok_str(tok)} in {context}")

    # -- structure

    def parse(self) -> ListNode:
        root = ListNode(0, len(self.src.text), self.src)
        while self.peek().kind != "eof":
            if self.peek().kind == "ldelim":
                mark = self.i
                delim = self.next()
                if self.next_non_space().kind == "define":
                    self.definition(delim)
                    continue
                self.i = mark
            node = self.text_or_action()
            if isinstance(node, _End):
                raise self.error(node.pos, f"unexpected {{{{{node.kind.split('-')[0]}}}}}")
            root.nodes.append(node)
        self.add(self.src.name, root, 0)
        return root

    def add(self, name: str, root: ListNode, pos: int) -> None:
        prev = self.defined.get(name)
        if prev is not None and not _is_empty(prev.root):
            if not _is_empty(root):
                raise self.error(pos, f"multiple definition of template {_gq(name)}")
            return
        tree = Tree(name, root, self.src)
        self.defined[name] = tree
        old = self.trees.get(name)
        if old is None or not _is_empty(root) or _is_empty(old.root):
            self.trees[name] = tree

    def new_tree(self, parse_body: Callable[[], ListNode]) -> ListNode:
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        try:
            return parse_body()
        finally:
            self.vars, self.range_depth = saved

    def definition(self, delim: Tok) -> None:
        tok = self.next_non_space()
        if tok.kind not in ("string", "rawstring"):
            self.unexpected(tok, "define clause")
        name = self.unquote(tok)
        self.expect("rdelim", "define clause")
        body, end = self.new_tree(lambda: self.item_list(delim, "define"))
        if end.kind != "end":
            raise self.error(end.pos, "unexpected {{else}} in define clause")
        self.add(name, body, delim.pos)

    def item_list(self, opener: Tok, what: str) -> tuple[ListNode, _End]:
        body = ListNode(self.peek_non_space().pos, 0, self.src)
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, _End):
                body.end = node.pos
                return body, node
            body.nodes.append(node)
        raise self.error(opener.pos, f"unclosed {{{{{what}}}}}: no matching {{{{end}}}}")

    def text_or_action(self):
        tok = self.next_non_space()
        if tok.kind == "text":
            return TextNode(tok.pos, tok.end, self.src, tok.val)
        if tok.kind == "ldelim":
            return self.action(tok)
        self.unexpected(tok, "input")

    def action(self, delim: Tok):
        tok = self.next_non_space()
        kind = tok.kind
        if kind in ("if", "range", "with"):
            return self.control(delim, kind)
        if kind == "end":
            self.expect("rdelim", "end")
            return _End(delim.pos, tok.end, self.src, "end")
        if kind == "else":
            nxt = self.peek_non_space()
            if nxt.kind in ("if", "with"):
                return _End(delim.pos, tok.end, self.src, f"else-{nxt.kind}")
            self.expect("rdelim", "else")
            return _End(delim.pos, tok.end, self.src, "else")
        if kind in ("break", "continue"):
            nxt = self.next_non_space()
            if nxt.kind != "rdelim":
                self.unexpected(nxt, f"{{{{{kind}}}}}")
            if not self.range_depth:
                raise self.error(tok.pos, f"{{{{{kind}}}}} outside {{{{range}}}}")
            return BreakNode(delim.pos, nxt.end, self.src, kind)
        if kind == "template":
            return self.template(delim)
        if kind == "block":
            return self.block(delim)
        if kind == "define":
            raise self.error(tok.pos, "{{define}} is allowed only at the top level, outside"
                             " other actions")
        self.i -= 1
        pipe = self.pipeline("command", "rdelim")
        return ActionNode(delim.pos, self.toks[self.i - 1].end, self.src, pipe)

    def control(self, delim: Tok, kind: str) -> ControlNode:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(kind, "rdelim")
            if kind == "range":
                if pipe.is_assign:
                    raise self.error(pipe.pos, "range with '=' is not supported; use ':='")
                self.range_depth += 1
            body, end = self.item_list(delim, kind)
            if kind == "range":
                self.range_depth -= 1
            node = ControlNode(delim.pos, 0, self.src, kind, pipe, body)
            if end.kind == "else-if" and kind == "if":
                self.next_non_space()  # the "if" of "else if"
                inner = self.control(end, "if")
                node.orelse = ListNode(end.pos, inner.end, self.src, [inner])
            elif end.kind.startswith("else-"):
                raise self.error(end.pos, f"{{{{else {end.kind[5:]}}}}} is not supported in"
                                 f" {{{{{kind}}}}}")
            elif end.kind == "else":
                node.orelse, end = self.item_list(delim, kind)
                if end.kind != "end":
                    raise self.error(end.pos, "expected {{end}}; found {{else}}")
            node.end = self.toks[self.i - 1].end
            return node
        finally:
            del self.vars[mark:]

    def template(self, delim: Tok) -> TemplateNode:
        tok = self.next_non_space()
        name = self.template_name(tok, "template clause")
        pipe = None
        if self.next_non_space().kind != "rdelim":
            self.i -= 1
            pipe = self.pipeline("template clause", "rdelim")
        return TemplateNode(delim.pos, self.toks[self.i - 1].end, self.src, name, pipe)

    def block(self, delim: Tok) -> TemplateNode:
        tok = self.next_non_space()
        name = self.template_name(tok, "block clause")
        pipe = self.pipeline("block clause", "rdelim")
        end_of_action = self.toks[self.i - 1].end
        body, end = self.new_tree(lambda: self.item_list(delim, "block"))
        if end.kind != "end":
            raise self.error(end.pos, "unexpected {{else}} in block clause")
        self.add(name, body, delim.pos)
        return TemplateNode(delim.pos, end_of_action, self.src, name, pipe)

    def template_name(self, tok: Tok, context: str) -> str:
        if tok.kind not in ("string", "rawstring"):
            self.unexpected(tok, context)
        return self.unquote(tok)

    def unquote(self, tok: Tok) -> str:
        try:
            return go_unquote(tok.val)
        except ValueError:
            raise self.error(tok.pos, f"invalid string literal {tok.val}") from None

    # -- pipelines

    def pipeline(self, context: str, end: str) -> PipeNode:
        start = self.peek_non_space()
        pipe = PipeNode(start.pos, start.pos, self.src)
        while self.peek_non_space().kind == "variable":
            mark = self.i
            var = self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.kind in ("assign", "declare"):
                pipe.is_assign = nxt.kind == "assign"
                self.next_non_space()
                pipe.decl.append(var.val)
                self.vars.append(var.val)
                break
            if nxt.kind == "char" and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(var.val)
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("variable", "rdelim", "rparen"):
                        continue
                    raise self.error(nxt.pos, "range can only initialize variables")
                raise self.error(nxt.pos, f"too many declarations in {context}")
            self.i = mark
            break
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                self.check_pipeline(pipe, context, tok)
                pipe.end = tok.pos
                return pipe
            if tok.kind in ("bool", "charconst", "dot", "field", "ident", "number", "nil",
                            "rawstring", "string", "variable", "lparen"):
                self.i -= 1
                pipe.cmds.append(self.command())
            else:
                self.unexpected(tok, context)

    def check_pipeline(self, pipe: PipeNode, context: str, tok: Tok) -> None:
        if not pipe.cmds:
            raise self.error(tok.pos, f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], _LITERALS):
                raise self.error(cmd.pos, f"non executable command in pipeline stage {i + 2}")

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos, 0, self.src)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("rdelim", "rparen"):
                self.i -= 1
            elif tok.kind != "pipe":
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.error(cmd.pos, "empty command")
        cmd.end = cmd.args[-1].end
        return cmd

    def operand(self):
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        fields = []
        while self.peek().kind == "field":
            tok = self.next()
            fields.append(tok.val[1:])
            end = tok.end
        if isinstance(node, FieldNode):
            return FieldNode(node.pos, end, self.src, node.idents + fields)
        if isinstance(node, VariableNode):
            return VariableNode(node.pos, end, self.src, node.idents + fields)
        if isinstance(node, _LITERALS):
            raise self.error(node.pos, f"unexpected . after term {_gq(node.text())}")
        return ChainNode(node.pos, end, self.src, node, fields)

    def term(self):
        tok = self.next_non_space()
        k, src = tok.kind, self.src
        if k == "ident":
            if tok.val not in self.funcs:
                raise self.error(tok.pos, _unknown_function(tok.val))
            return IdentifierNode(tok.pos, tok.end, src, tok.val)
        if k == "dot":
            return DotNode(tok.pos, tok.end, src)
        if k == "nil":
            return NilNode(tok.pos, tok.end, src)
        if k == "variable":
            if tok.val not in self.vars:
                raise self.error(tok.pos, f"undefined variable {_gq(tok.val)}")
            return VariableNode(tok.pos, tok.end, src, [tok.val])
        if k == "field":
            return FieldNode(tok.pos, tok.end, src, [tok.val[1:]])
        if k == "bool":
            return BoolNode(tok.pos, tok.end, src, tok.val == "true")
        if k in ("number", "charconst"):
            return _number(tok, src)
        if k == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            pipe.pos, pipe.end = tok.pos, self.toks[self.i - 1].end
            return pipe
        if k in ("string", "rawstring"):
            return StringNode(tok.pos, tok.end, src, self.unquote(tok))
        self.i -= 1
        return None


# -- the evaluator (text/template/exec.go) ---------------------------------------


@dataclass
class Fn:
    """A template function: Go parameter types, the variadic element type, the body.

    Types: "any" (interface{}), "value" (reflect.Value of the builtins), "string", "int",
    "bool", "map" (map[string]interface {})."""

    params: tuple
    variadic: str | None
    impl: Callable
    lazy: bool = False  # and/or: arguments evaluated one by one


_TYPE_NAMES = {"string": "string", "int": "int", "bool": "bool",
               "map": "map[string]interface {}", "value": "reflect.Value",
               "any": "interface {}"}


def _truth(v) -> tuple[bool, bool]:
    """Go's isTrue: (truth, ok)."""
    if v is None or v is MISSING:
        return False, True
    if isinstance(v, (bool, int, float)):
        return bool(v), True
    if isinstance(v, (str, list, dict)):
        return len(v) > 0, True
    if isinstance(v, GoStruct):
        return True, True
    return False, False


class _Exec:
    def __init__(self, trees: dict, funcs: dict):
        self.trees, self.funcs = trees, funcs
        self.out: list[str] = []
        self.vars: list[list] = []
        self.depth = 0

    def fail(self, node: Node, detail: str) -> TemplateError:
        text = " ".join(node.text().split())
        if len(text) > 60:
            text = text[:57] + "..."
        return node.src.error(node.pos, f"at <{text}>: {detail}")

    def execute(self, name: str, data, node: Node | None = None) -> str:
        """Run template `name` with `data` into a string, as include does."""
        tree = self.trees.get(name)
        if tree is None:
            raise _CallError(f"template {_gq(name)} not defined")
        if data is None:
            data = MISSING
        saved = self.out, self.vars
        self.out, self.vars = [], [["$", data]]
        try:
            self.enter(node or tree.root)
            self.walk(data, tree.root)
            return "".join(self.out)
        finally:
            self.depth -= 1
            self.out, self.vars = saved

    def enter(self, node: Node) -> None:
        if self.depth >= MAX_DEPTH:
            raise self.fail(node, f"templates nest deeper than {MAX_DEPTH} calls")
        self.depth += 1

    # -- statements

    def walk(self, dot, node) -> None:
        if isinstance(node, TextNode):
            self.out.append(node.value)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, ActionNode):
            value = self.pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.out.append(self.printable(node, value))
        elif isinstance(node, ControlNode):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_with(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break() if node.kind == "break" else _Continue()
        else:  # pragma: no cover - the parser makes no other nodes
            raise self.fail(node, "unknown node")

    def printable(self, node: Node, value) -> str:
        if isinstance(value, GoStruct):
            raise self.fail(node, f"cannot print {value.label} whole; print its fields")
        try:
            return fmt_v(value, top=True)
        except _CallError as exc:
            raise self.fail(node, f"cannot print {go_type(value)}: {exc}") from None

    def walk_if_with(self, dot, node: ControlNode) -> None:
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            truth, ok = _truth(value)
            if not ok:
                raise self.fail(node.pipe, f"{node.kind} can't use {_show(value)}")
            if truth:
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.orelse is not None:
                self.walk(dot, node.orelse)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot, node: ControlNode) -> None:
        mark0 = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            if isinstance(value, list):
                items = list(enumerate(value))
            elif isinstance(value, dict) and not isinstance(value, GoStruct):
                items = [(k, value[k]) for k in sorted_keys(value)]
            elif value is None or value is MISSING:
                items = []
            else:
                raise self.fail(node.pipe, f"range can't iterate over {_show(value)}")
            mark = len(self.vars)
            ndecl = len(node.pipe.decl)
            try:
                for index, elem in items:
                    if ndecl:
                        self.vars[-1][1] = elem
                    if ndecl > 1:
                        self.vars[-2][1] = index
                    try:
                        self.walk(elem, node.body)
                    except _Continue:
                        pass
                    finally:
                        del self.vars[mark:]
            except _Break:
                return
            if not items and node.orelse is not None:
                self.walk(dot, node.orelse)
        finally:
            del self.vars[mark0:]

    def walk_template(self, dot, node: TemplateNode) -> None:
        tree = self.trees.get(node.name)
        if tree is None:
            raise self.fail(node, f"template {_gq(node.name)} not defined")
        value = self.pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        saved = self.vars
        self.vars = [["$", value]]
        self.enter(node)
        try:
            self.walk(value, tree.root)
        finally:
            self.depth -= 1
            self.vars = saved

    # -- expressions

    def pipeline(self, dot, pipe: PipeNode):
        value = _NOFINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
            if value is None:
                value = MISSING  # a nil interface leaves a pipeline as no value
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(pipe, name, value)
            else:
                self.vars.append([name, value])
        return value

    def set_var(self, node: Node, name: str, value) -> None:
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        raise self.fail(node, f"undefined variable: {name}")

    def var_value(self, node: Node, name: str):
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        raise self.fail(node, f"undefined variable: {name}")

    def not_a_function(self, args: list, final) -> None:
        if len(args) > 1 or final is not _NOFINAL:
            raise self.fail(args[0], f"can't give argument to non-function {args[0].text()}")

    def command(self, dot, cmd: CommandNode, final):
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, ChainNode):
            receiver = self.arg(dot, "raw", first.node)
            return self.field_chain(dot, receiver, first, first.fields, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.call(dot, first, first.name, self.funcs[first.name], cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.variable(dot, first, cmd.args, final)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.fail(first, "nil is not a command")
        if isinstance(first, NumberNode):
            return self.constant(first)
        if isinstance(first, StringNode):
            return first.value
        raise self.fail(first, "can't evaluate command")  # pragma: no cover

    def constant(self, node: NumberNode):
        if node.is_float and not node.is_char and not _is_hex_int(node.text()) \
                and any(c in node.text() for c in ".eEpP"):
            return node.float_value
        if node.is_int:
            return node.int_value
        raise self.fail(node, f"{node.text()} overflows int")

    def variable(self, dot, node: VariableNode, args: list | None, final):
        value = self.var_value(node, node.idents[0])
        if len(node.idents) == 1:
            if args is not None:
                self.not_a_function(args, final)
            return value
        return self.field_chain(dot, value, node, node.idents[1:], args, final)

    def field_chain(self, dot, receiver, node: Node, idents: list, args, final):
        for name in idents[:-1]:
            receiver = self.field(dot, name, node, None, _NOFINAL, receiver)
        return self.field(dot, idents[-1], node, args, final, receiver)

    def field(self, dot, name: str, node: Node, args, final, receiver):
        if receiver is MISSING:
            return MISSING
        if receiver is None:
            raise self.fail(node, f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _NOFINAL
        if isinstance(receiver, GoStruct):
            method = receiver.methods().get(name)
            if method is not None:
                return self.call(dot, node, name, method, args, final)
            fields = receiver.fields()
            if name in fields:
                if has_args:
                    raise self.fail(node, f"{name} has arguments but cannot be invoked as"
                                    " function")
                value = fields[name]
                try:
                    return value() if callable(value) else value
                except _CallError as exc:
                    raise self.fail(node, str(exc)) from None
        elif isinstance(receiver, dict):
            if has_args:
                raise self.fail(node, f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        raise self.fail(node, f"can't evaluate field {name} in type {go_type(receiver)}")

    def call(self, dot, node: Node, name: str, fn: Fn, args, final):
        args = list(args[1:]) if args else []
        n_in = len(args) + (final is not _NOFINAL)
        fixed = len(fn.params)
        if fn.variadic is not None:
            if n_in < fixed:
                raise self.fail(node, f"wrong number of args for {name}: want at least"
                                f" {fixed} got {len(args)}")
        elif n_in != fixed:
            raise self.fail(node, f"wrong number of args for {name}: want {fixed} got {n_in}")
        if fn.lazy:  # and/or: the first deciding argument wins, the rest is not evaluated
            value = None
            for a in args:
                value = self.arg(dot, "value", a)
                if _truth(value)[0] == (name == "or"):
                    return value
            if final is not _NOFINAL:
                value = self.check_type(node, final, "value")
            return value
        argv = []
        for i, a in enumerate(args):
            argv.append(self.arg(dot, fn.params[i] if i < fixed else fn.variadic, a))
        if final is not _NOFINAL:
            last = len(argv)
            typ = fn.params[last] if last < fixed else fn.variadic
            argv.append(self.check_type(node, final, typ))
        try:
            return fn.impl(*argv)
        except _CallError as exc:
            raise self.fail(node, f"error calling {name}: {exc}") from None
        except _Unsupported as exc:
            raise self.fail(node, f"{name}: {exc} is not supported") from None

    def arg(self, dot, typ: str, node: Node):
        if isinstance(node, DotNode):
            return self.check_type(node, dot, typ)
        if isinstance(node, NilNode):
            if typ in ("any", "value", "map"):
                return None
            raise self.fail(node, f"cannot assign nil to {_TYPE_NAMES[typ]}")
        if isinstance(node, FieldNode):
            value = self.field_chain(dot, dot, node, node.idents, [node], _NOFINAL)
            return self.check_type(node, value, typ)
        if isinstance(node, VariableNode):
            return self.check_type(node, self.variable(dot, node, None, _NOFINAL), typ)
        if isinstance(node, PipeNode):
            return self.check_type(node, self.pipeline(dot, node), typ)
        if isinstance(node, IdentifierNode):
            value = self.call(dot, node, node.name, self.funcs[node.name], None, _NOFINAL)
            return self.check_type(node, MISSING if value is None else value, typ)
        if isinstance(node, ChainNode):
            return self.check_type(node, self.command(dot, CommandNode(
                node.pos, node.end, node.src, [node]), _NOFINAL), typ)
        if typ in ("any", "value", "raw"):
            if isinstance(node, BoolNode):
                return node.value
            if isinstance(node, StringNode):
                return node.value
            if isinstance(node, NumberNode):
                return self.constant(node)
        if typ == "string" and isinstance(node, StringNode):
            return node.value
        if typ == "int" and isinstance(node, NumberNode) and node.is_int:
            return node.int_value
        if typ == "bool" and isinstance(node, BoolNode):
            return node.value
        expected = {"int": "integer"}.get(typ, _TYPE_NAMES[typ])
        raise self.fail(node, f"expected {expected}; found {node.text()}")

    def check_type(self, node: Node, value, typ: str):
        """Go's validateType: a value for a parameter of type `typ`."""
        if typ == "raw":
            return value
        if value is MISSING:
            if typ in ("any", "value", "map"):
                return None
            raise self.fail(node, f"invalid value; expected {_TYPE_NAMES[typ]}")
        if typ in ("any", "value"):
            return value
        ok = {"string": lambda v: isinstance(v, str),
              "int": lambda v: _is_int(v) and not isinstance(v, Int64),
              "bool": lambda v: isinstance(v, bool),
              "map": lambda v: type(v) is dict}[typ](value)
        if not ok:
            got = "interface {}" if value is None else go_type(value)
            raise self.fail(node, f"wrong type for value; expected {_TYPE_NAMES[typ]};"
                            f" got {got}")
        return value


# -- builtins and sprig --------------------------------------------------------------


def _kind(v) -> str:
    if v is None or v is MISSING:
        return "invalid"
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "float"
    if isinstance(v, str):
        return "string"
    return "other"


def _eq(a, *others) -> bool:
    if not others:
        raise _CallError("missing argument for comparison")
    k1 = _kind(a)
    for b in others:
        k2 = _kind(b)
        if k1 != k2:
            if k1 != "invalid" and k2 != "invalid":
                raise _CallError("incompatible types for comparison")
            truth = False
        elif k1 == "invalid":
            truth = True
        elif k1 == "other":
            raise _CallError(go_sprintf("non-comparable type %s: %v", [b, go_type(b)]))
        else:
            truth = a == b
        if truth:
            return True
    return False


def _lt(a, b) -> bool:
    k1, k2 = _kind(a), _kind(b)
    if k1 in ("invalid", "other") or k2 in ("invalid", "other"):
        raise _CallError("invalid type for comparison")
    if k1 != k2:
        raise _CallError("incompatible types for comparison")
    if k1 == "bool":
        raise _CallError("invalid type for comparison")
    return _b(a) < _b(b) if k1 == "string" else a < b


def _index(item, *indexes):
    if item is None:
        raise _CallError("index of untyped nil")
    for index in indexes:
        if item is None:
            raise _CallError("index of nil pointer")
        if isinstance(item, (list, str)):
            if index is None:
                raise _CallError("cannot index slice/array with nil")
            if not _is_int(index):
                raise _CallError(f"cannot index slice/array with type {go_type(index)}")
            seq = _b(item) if isinstance(item, str) else item
            if index < 0 or index >= len(seq):
                raise _CallError(f"index out of range: {index}")
            item = seq[index]
        elif isinstance(item, dict) and not isinstance(item, GoStruct):
            if not isinstance(item, AnyMap):
                if index is None:
                    raise _CallError("value is nil; should be of type string")
                if not isinstance(index, str):
                    raise _CallError(f"value has type {go_type(index)}; should be string")
            zero = "" if isinstance(item, StrMap) else None
            item = item.get(index, zero)
        else:
            raise _CallError(f"can't index item of type {go_type(item)}")
    return item


def _len(item) -> int:
    if item is None:
        raise _CallError("len of nil pointer")
    if isinstance(item, str):
        return len(_b(item))
    if isinstance(item, (list, dict)) and not isinstance(item, GoStruct):
        return len(item)
    raise _CallError(f"len of type {go_type(item)}")


def strval(v) -> str:
    return v if isinstance(v, str) else fmt_v(v)


def _empty(v) -> bool:
    if v is None or v is MISSING:
        return True
    if isinstance(v, GoStruct):
        return False
    if isinstance(v, (str, list, dict)):
        return len(v) == 0
    return not v


def _strslice(v) -> list:
    if isinstance(v, StrList):
        return list(v)
    if isinstance(v, list):
        return [strval(e) for e in v if e is not None]
    if v is None:
        return []
    return [strval(v)]


def _trim_zero_decimal(s: str) -> str:
    found_zero = False
    for i in range(len(s), 0, -1):
        c = s[i - 1]
        if c == ".":
            return s[:i - 1] if found_zero else s
        if c == "0":
            found_zero = True
        else:
            return s
    return s


def _to_int64(v) -> Int64:
    """spf13/cast.ToInt64, with its errors read as 0 as sprig does."""
    if isinstance(v, bool):
        return Int64(int(v))
    if isinstance(v, int):
        return _wrap64(int(v))
    if isinstance(v, float):
        return _wrap64(int(v)) if math.isfinite(v) else Int64(-(1 << 63))
    if isinstance(v, str):
        n = _parse_go_int(_trim_zero_decimal(v))
        return Int64(n) if n is not None and -(1 << 63) <= n < (1 << 63) else Int64(0)
    return Int64(0)


def _to_float64(v) -> float:
    if isinstance(v, (bool, int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v) if re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", v) \
                else 0.0
        except ValueError:
            return 0.0
    return 0.0


def _list_items(v, what: str) -> list:
    if isinstance(v, list):
        return list(v)
    raise _CallError(f"Cannot {what} on type {_reflect_kind(v)}")


def _reflect_kind(v) -> str:
    if isinstance(v, (dict, GoStruct)):
        return "map" if isinstance(v, dict) else "struct"
    return {"int64": "int64", "float64": "float64"}.get(go_type(v), go_type(v))


def _deep_equal(a, b) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_deep_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_deep_equal(a[k], b[k]) for k in a)
    return a == b


def _bytes_slice(s: str, lo: int, hi: int | None = None) -> str:
    b = _b(s)
    if lo < 0 or (hi is not None and (hi < lo or hi > len(b))) or lo > len(b):
        raise _CallError(f"slice bounds out of range [{lo}:{hi if hi is not None else ''}]")
    out = b[lo:hi]
    text = _s(out)
    if any(0xDC80 <= ord(c) <= 0xDCFF for c in text) and not any(
            0xDC80 <= ord(c) <= 0xDCFF for c in s):
        raise _Unsupported("cutting a multi-byte character")
    return text


def _go_title(s: str) -> str:
    out, prev = [], " "
    for ch in s:
        if _is_separator(prev):
            t = ch.title()
            out.append(t if len(t) == 1 else ch)
        else:
            out.append(ch)
        prev = ch
    return "".join(out)


def _is_separator(ch: str) -> bool:
    if ord(ch) <= 0x7F:
        return not (ch.isalnum() or ch == "_")
    if ch.isalpha() or ch.isdecimal():
        return False
    return ch in _GO_SPACES


def _case(s: str, upper: bool) -> str:
    out = []
    for ch in s:
        c = ch.upper() if upper else ch.lower()
        out.append(c if len(c) == 1 else ch)
    return "".join(out)


def _go_split(s: str, sep: str, n: int = -1) -> list[str]:
    if n == 0:
        return []
    if sep == "":
        chars = list(s)
        if 0 < n < len(chars):
            return chars[:n - 1] + ["".join(chars[n - 1:])]
        return chars
    return s.split(sep, n - 1) if n > 0 else s.split(sep)


def _path_clean(p: str) -> str:
    """Go's path.Clean."""
    if p == "":
        return "."
    rooted = p.startswith("/")
    parts: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(seg)
    out = "/".join(parts)
    return ("/" + out) if rooted else (out or ".")


def _path_base(p: str) -> str:
    if p == "":
        return "."
    p = p.rstrip("/")
    return p.rsplit("/", 1)[-1] if p else "/"


def _path_dir(p: str) -> str:
    return _path_clean(p[:p.rfind("/") + 1])


def _path_ext(p: str) -> str:
    for i in range(len(p) - 1, -1, -1):
        if p[i] == "/":
            break
        if p[i] == ".":
            return p[i:]
    return ""


def _until_step(start: int, stop: int, step: int) -> IntList:
    if stop < start:
        return IntList(range(start, stop, step)) if step < 0 else IntList()
    return IntList(range(start, stop, step)) if step > 0 else IntList()


def _seq(*params: int) -> str:
    if len(params) == 1:
        end = params[0]
        inc = -1 if end < 1 else 1
        nums = _until_step(1, end + inc, inc)
    elif len(params) == 2:
        start, end = params
        inc = -1 if end < start else 1
        nums = _until_step(start, end + inc, inc)
    elif len(params) == 3:
        start, step, end = params
        inc = 1
        if end < start:
            inc = -1
            if step > 0:
                return ""
        nums = _until_step(start, end + inc, step)
    else:
        return ""
    return " ".join(map(str, nums))


def _div(a, b, op: str) -> Int64:
    x, y = _to_int64(a), _to_int64(b)
    if y == 0:
        raise _CallError("runtime error: integer divide by zero")
    q = abs(x) // abs(y) * (1 if (x < 0) == (y < 0) else -1)
    return _wrap64(q) if op == "div" else _wrap64(x - q * y)


def _dict(*v) -> dict:
    out = {}
    for i in range(0, len(v), 2):
        out[strval(v[i])] = v[i + 1] if i + 1 < len(v) else ""
    return out


def _set(d, key, value):
    if d is None:
        raise _CallError("assignment to entry in nil map")
    d[key] = value
    return d


def _unset(d, key):
    if d is not None:
        d.pop(key, None)
    return d


def _dig(*ps):
    if len(ps) < 3:
        raise _CallError("dig needs at least three arguments")
    d, default, keys = ps[-1], ps[-2], ps[:-2]
    if type(d) is not dict or not all(isinstance(k, str) for k in keys):
        raise _CallError("interface conversion: dig takes string keys and a"
                         " map[string]interface {}")
    for i, k in enumerate(keys):
        if k not in d:
            return default
        if i == len(keys) - 1:
            return d[k]
        d = d[k]
        if type(d) is not dict:
            raise _CallError(f"interface conversion: interface {{}} is {go_type(d)}, not"
                             " map[string]interface {}")
    return d  # pragma: no cover


def _ternary(vt, vf, cond):
    return vt if cond else vf


def _b64dec(s: str) -> str:
    try:
        return _s(base64.b64decode(_b(s).replace(b"\r", b"").replace(b"\n", b""),
                                   validate=True))
    except ValueError:
        raise _Unsupported("decoding text that is not base64") from None


def _to_json(v, indent=None, escape_html=True) -> str:
    try:
        return go_json(v, indent, escape_html)
    except _JSONError:
        return ""


def _sprig() -> dict[str, Fn]:
    STR, INT, ANY, BOOL, MAP = "string", "int", "any", "bool", "map"  # Go parameter types
    f = Fn
    return {
        # strings
        "trim": f((STR,), None, lambda s: s.strip(_GO_SPACES)),
        "trimAll": f((STR, STR), None, lambda cut, s: s.strip(cut)),
        "trimall": f((STR, STR), None, lambda cut, s: s.strip(cut)),
        "trimSuffix": f((STR, STR), None, lambda x, s: s[:-len(x)] if x and s.endswith(x) else s),
        "trimPrefix": f((STR, STR), None, lambda x, s: s[len(x):] if s.startswith(x) else s),
        "upper": f((STR,), None, lambda s: _case(s, True)),
        "lower": f((STR,), None, lambda s: _case(s, False)),
        "title": f((STR,), None, _go_title),
        "repeat": f((INT, STR), None, lambda n, s: s * n if n >= 0 else _fail_negative()),
        "substr": f((INT, INT, STR), None, lambda a, z, s: _bytes_slice(s, 0, z) if a < 0 else
                    _bytes_slice(s, a) if z < 0 or z > len(_b(s)) else _bytes_slice(s, a, z)),
        "trunc": f((INT, STR), None, lambda c, s: _bytes_slice(s, len(_b(s)) + c)
                   if c < 0 and len(_b(s)) + c > 0 else _bytes_slice(s, 0, c)
                   if 0 <= c < len(_b(s)) else s),
        "nospace": f((STR,), None, lambda s: "".join(c for c in s if c not in _GO_SPACES)),
        "contains": f((STR, STR), None, lambda sub, s: sub in s),
        "hasPrefix": f((STR, STR), None, lambda p, s: s.startswith(p)),
        "hasSuffix": f((STR, STR), None, lambda p, s: s.endswith(p)),
        "quote": f((), ANY, lambda *v: " ".join(go_quote(strval(x)) for x in v if x is not None)),
        "squote": f((), ANY, lambda *v: " ".join(f"'{fmt_v(x)}'" for x in v if x is not None)),
        "cat": f((), ANY, lambda *v: " ".join(fmt_v(x) for x in v if x is not None)),
        "indent": f((INT, STR), None, lambda n, s: " " * n + s.replace("\n", "\n" + " " * n)),
        "nindent": f((INT, STR), None,
                     lambda n, s: "\n" + " " * n + s.replace("\n", "\n" + " " * n)),
        "replace": f((STR, STR, STR), None, lambda old, new, s: s.replace(old, new)),
        "plural": f((STR, STR, INT), None, lambda one, many, n: one if n == 1 else many),
        "toString": f((ANY,), None, strval),
        "toStrings": f((ANY,), None, lambda v: StrList(_strslice(v))),
        "split": f((STR, STR), None, lambda sep, s: StrMap(
            (f"_{i}", p) for i, p in enumerate(_go_split(s, sep)))),
        "splitn": f((STR, INT, STR), None, lambda sep, n, s: StrMap(
            (f"_{i}", p) for i, p in enumerate(_go_split(s, sep, n)))),
        "splitList": f((STR, STR), None, lambda sep, s: StrList(_go_split(s, sep))),
        "join": f((STR, ANY), None, lambda sep, v: sep.join(_strslice(v))),
        "sortAlpha": f((ANY,), None, lambda v: StrList(sorted(_strslice(v), key=_b))
                       if isinstance(v, list) else StrList([strval(v)])),
        "b64enc": f((STR,), None, lambda s: base64.b64encode(_b(s)).decode("ascii")),
        "b64dec": f((STR,), None, _b64dec),
        "sha256sum": f((STR,), None, lambda s: hashlib.sha256(_b(s)).hexdigest()),
        "sha1sum": f((STR,), None, lambda s: hashlib.sha1(_b(s)).hexdigest()),
        # numbers
        "add1": f((ANY,), None, lambda v: _wrap64(_to_int64(v) + 1)),
        "add": f((), ANY, lambda *v: _wrap64(sum(_to_int64(x) for x in v))),
        "sub": f((ANY, ANY), None, lambda a, b: _wrap64(_to_int64(a) - _to_int64(b))),
        "mul": f((ANY,), ANY, lambda a, *v: _wrap64(math.prod([_to_int64(a)] + [
            _to_int64(x) for x in v]))),
        "div": f((ANY, ANY), None, lambda a, b: _div(a, b, "div")),
        "mod": f((ANY, ANY), None, lambda a, b: _div(a, b, "mod")),
        "max": f((ANY,), ANY, lambda a, *v: Int64(max([_to_int64(a)] + [_to_int64(x) for x in v]))),
        "biggest": f((ANY,), ANY,
                     lambda a, *v: Int64(max([_to_int64(a)] + [_to_int64(x) for x in v]))),
        "min": f((ANY,), ANY, lambda a, *v: Int64(min([_to_int64(a)] + [_to_int64(x) for x in v]))),
        "int": f((ANY,), None, lambda v: int(_to_int64(v))),
        "int64": f((ANY,), None, _to_int64),
        "float64": f((ANY,), None, _to_float64),
        "atoi": f((STR,), None, lambda s: _atoi(s)),
        "until": f((INT,), None, lambda n: _until_step(0, n, -1 if n < 0 else 1)),
        "untilStep": f((INT, INT, INT), None, _until_step),
        "seq": f((), INT, _seq),
        # lists
        "list": f((), ANY, lambda *v: list(v)),
        "tuple": f((), ANY, lambda *v: list(v)),
        "first": f((ANY,), None, lambda v: (_list_items(v, "find first") or [None])[0]),
        "last": f((ANY,), None, lambda v: (_list_items(v, "find last") or [None])[-1]),
        "rest": f((ANY,), None, lambda v: _nil_if_empty(_list_items(v, "find rest"), 1, None)),
        "initial": f((ANY,), None,
                     lambda v: _nil_if_empty(_list_items(v, "find initial"), 0, -1)),
        "append": f((ANY, ANY), None, lambda v, x: _list_items(v, "push") + [x]),
        "push": f((ANY, ANY), None, lambda v, x: _list_items(v, "push") + [x]),
        "prepend": f((ANY, ANY), None, lambda v, x: [x] + _list_items(v, "prepend")),
        "concat": f((), ANY, lambda *ls: [x for v in ls for x in _list_items(v, "concat")]
                    or NilList()),
        "reverse": f((ANY,), None, lambda v: _list_items(v, "find reverse")[::-1]),
        "compact": f((ANY,), None, lambda v: [x for x in _list_items(v, "compact")
                                            if not _empty(x)]),
        "uniq": f((ANY,), None, _uniq),
        "without": f((ANY,), ANY, lambda v, *omit: [x for x in _list_items(v, "find without")
                                                if not any(_deep_equal(x, o) for o in omit)]),
        "has": f((ANY, ANY), None, lambda needle, v: v is not None and any(
            _deep_equal(needle, x) for x in _list_items(v, "find has"))),
        # dicts
        "dict": f((), ANY, _dict),
        "get": f((MAP, STR), None, lambda d, k: (d or {}).get(k, "")),
        "set": f((MAP, STR, ANY), None, _set),
        "unset": f((MAP, STR), None, _unset),
        "hasKey": f((MAP, STR), None, lambda d, k: d is not None and k in d),
        "keys": f((), MAP, lambda *ds: StrList(sorted((k for d in ds if d for k in d), key=_b))),
        "pluck": f((STR,), MAP, lambda k, *ds: [d[k] for d in ds if d and k in d]),
        "pick": f((MAP,), STR, lambda d, *ks: {k: d[k] for k in ks if d and k in d}),
        "omit": f((MAP,), STR, lambda d, *ks: {k: v for k, v in (d or {}).items() if k not in ks}),
        "dig": f((), ANY, _dig),
        # defaults and flow
        "default": f((ANY,), ANY,
                     lambda d, *given: d if not given or _empty(given[0]) else given[0]),
        "empty": f((ANY,), None, _empty),
        "coalesce": f((), ANY, lambda *v: next((x for x in v if not _empty(x)), None)),
        "all": f((), ANY, lambda *v: all(not _empty(x) for x in v)),
        "any": f((), ANY, lambda *v: any(not _empty(x) for x in v)),
        "ternary": f((ANY, ANY, BOOL), None, _ternary),
        "fail": f((STR,), None, lambda msg: _raise(msg)),
        # encodings
        "toJson": f((ANY,), None, _to_json),
        "toPrettyJson": f((ANY,), None, lambda v: _to_json(v, "  ")),
        "toRawJson": f((ANY,), None, lambda v: _raw_json(v)),
        "fromJson": f((STR,), None, from_json),
        "toYaml": f((ANY,), None, to_yaml),
        # paths
        "base": f((STR,), None, _path_base),
        "dir": f((STR,), None, _path_dir),
        "clean": f((STR,), None, _path_clean),
        "ext": f((STR,), None, _path_ext),
        "isAbs": f((STR,), None, lambda p: p.startswith("/")),
    }


def _nil_if_empty(items: list, lo: int, hi: int | None) -> list:
    return NilList() if not items else items[lo:hi]


def _fail_negative():
    raise _CallError("strings: negative Repeat count")


def _atoi(s: str) -> int:
    n = re.fullmatch(r"[+-]?[0-9]+", s)
    return int(s) if n and -(1 << 63) <= int(s) < (1 << 63) else 0


def _uniq(v) -> list:
    out: list = []
    for x in _list_items(v, "find uniq"):
        if not any(_deep_equal(x, y) for y in out):
            out.append(x)
    return out


def _raw_json(v) -> str:
    try:
        return go_json(v, None, escape_html=False)
    except _JSONError as exc:
        raise _CallError(str(exc)) from None


def _raise(msg: str):
    raise _CallError(msg)


def _builtins() -> dict[str, Fn]:
    V = "value"
    return {
        "and": Fn((V,), V, None, lazy=True),
        "or": Fn((V,), V, None, lazy=True),
        "not": Fn((V,), None, lambda v: not _truth(v)[0]),
        "len": Fn((V,), None, _len),
        "index": Fn((V,), V, _index),
        "print": Fn((), "any", lambda *a: go_sprint(list(a))),
        "println": Fn((), "any", lambda *a: go_sprint(list(a), ln=True)),
        "printf": Fn(("string",), "any", lambda f, *a: go_sprintf(f, list(a))),
        "eq": Fn((V,), V, _eq),
        "ne": Fn((V, V), None, lambda a, b: not _eq(a, b)),
        "lt": Fn((V, V), None, _lt),
        "le": Fn((V, V), None, lambda a, b: _lt(a, b) or _eq(a, b)),
        "gt": Fn((V, V), None, lambda a, b: not (_lt(a, b) or _eq(a, b))),
        "ge": Fn((V, V), None, lambda a, b: not _lt(a, b)),
    }


# Functions of werf's map that werfpull leaves out: named in the error, so that a config
# using one fails plainly instead of rendering differently.
_LEFT_OUT = {
    "call", "html", "js", "urlquery", "slice",  # Go builtins
    "ago", "date", "date_in_zone", "date_modify", "dateInZone", "dateModify", "duration",
    "durationRound", "htmlDate", "htmlDateInZone", "must_date_modify", "mustDateModify",
    "mustToDate", "now", "toDate", "unixEpoch", "randAlphaNum", "randAlpha", "randAscii",
    "randNumeric", "randBytes", "randInt", "uuidv4", "shuffle", "bcrypt", "htpasswd",
    "genPrivateKey", "derivePassword", "buildCustomCert", "genCA", "genCAWithKey",
    "genSelfSignedCert", "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey",
    "encryptAES", "decryptAES", "getHostByName",  # not reproducible from the commit
    "abbrev", "abbrevboth", "untitle", "initials", "swapcase", "snakecase", "camelcase",
    "kebabcase", "wrap", "wrapWith", "adler32sum", "b32enc", "b32dec", "toDecimal",
    "add1f", "addf", "subf", "divf", "mulf", "maxf", "minf", "ceil", "floor", "round",
    "mustCompact", "mustFromJson", "mustToJson", "mustToPrettyJson", "mustToRawJson",
    "deepCopy", "mustDeepCopy", "typeOf", "typeIs", "typeIsLike", "kindOf", "kindIs",
    "deepEqual", "osBase", "osClean", "osDir", "osExt", "osIsAbs", "merge", "mergeOverwrite",
    "mustMerge", "mustMergeOverwrite", "values", "mustAppend", "mustPush", "mustPrepend",
    "mustFirst", "mustRest", "mustLast", "mustInitial", "mustReverse",
    "mustUniq", "mustWithout", "mustHas", "mustSlice", "chunk", "mustChunk", "semver",
    "semverCompare", "regexMatch", "mustRegexMatch", "regexFindAll", "mustRegexFindAll",
    "regexFind", "mustRegexFind", "regexReplaceAll", "mustRegexReplaceAll",
    "regexReplaceAllLiteral", "mustRegexReplaceAllLiteral", "regexSplit", "mustRegexSplit",
    "regexQuoteMeta", "urlParse", "urlJoin", "hello", "tpl_debug", "include_debug",
    "printf_debug",
}


def _unknown_function(name: str) -> str:
    if name in _LEFT_OUT:
        return (f"function {_gq(name)} is not supported by werfpull's renderer"
                " (see \"Templated werf.yaml\" in the README)")
    if name == "expandenv":
        return f"function {_gq(name)} not defined (werf removes it; use env)"
    return f"function {_gq(name)} not defined"


# -- werf: the template set, its data and its functions ----------------------------


class Files(GoStruct):
    """werf's `.Files`: committed files of HEAD, by path relative to the project."""

    go_type = "config.files"
    label = ".Files"

    def __init__(self, reader):
        self.reader = reader

    def methods(self) -> dict:
        return {"Get": Fn(("string",), None, self.get),
                "Glob": Fn(("string",), None, self.glob),
                "Exists": Fn(("string",), None, self.exists),
                "IsDir": Fn(("string",), None, self.is_dir)}

    def _path(self, call: str, rel: str) -> str:
        norm = posixpath.normpath(rel) if rel else ""
        if not rel or rel.startswith("/") or norm == ".." or norm.startswith("../"):
            raise _CallError(f"{{{{ .Files.{call} {_gq(rel)} }}}}: the path must be relative"
                             " to the project directory and stay inside it")
        return "" if norm == "." else norm

    def _call(self, call: str, rel: str, fn):
        try:
            return fn(self._path(call, rel))
        except ConfigError as exc:
            raise _CallError(f"{{{{ .Files.{call} {_gq(rel)} }}}}: {exc.message}") from None

    def get(self, rel: str) -> str:
        def read(path):
            kind, data = self.reader.read(path)
            if kind != "blob":
                why = {"tree": "it is a directory",
                       "outside": "it is a symlink that leaves the repository"}.get(
                    kind, f"no such file in the commit {self.reader.commit_label()}")
                raise _CallError(f"{{{{ .Files.Get {_gq(rel)} }}}}: {why}")
            return _s(data)
        return self._call("Get", rel, read)

    def exists(self, rel: str) -> bool:
        return self._call("Exists", rel, lambda path: self.reader.read(path)[0] == "blob")

    def is_dir(self, rel: str) -> bool:
        return self._call("IsDir", rel, lambda path: self.reader.read(path)[0] == "tree")

    def glob(self, pattern: str) -> dict:
        def find(_):
            matcher = GlobSet([pattern])
            out = {}
            for path in self.reader.files():
                if matcher.match(path):
                    kind, data = self.reader.read(path)
                    if kind == "blob":
                        out[path] = _s(data)
            if not out:
                raise _CallError(f"{{{{ .Files.Glob {_gq(pattern)} }}}}: no matches found")
            return out
        return self._call("Glob", pattern or ".", find)


class _Commit(GoStruct):
    """werf's `.Commit`: Hash and Date.Unix of HEAD (author date, as werf uses)."""

    go_type = "map[string]interface {}"
    label = ".Commit"

    def __init__(self, reader):
        self.reader = reader

    def fields(self) -> dict:
        return {"Hash": lambda: self._info()[0], "Date": lambda: _CommitDate(self)}

    def _info(self) -> tuple[str, str]:
        try:
            return self.reader.commit_info()
        except ConfigError as exc:
            raise _CallError(f".Commit: {exc.message}") from None


class _CommitDate(GoStruct):
    go_type = "map[string]string"
    label = ".Commit.Date"

    def __init__(self, commit: _Commit):
        self.commit = commit

    def fields(self) -> dict:
        return {"Unix": lambda: self.commit._info()[1], "Human": self._human}

    def _human(self):
        raise _CallError(".Commit.Date.Human is not supported: werf prints it in the time"
                         " zone of the host, so it differs between hosts; use"
                         " .Commit.Date.Unix")


class StaticFiles:
    """A files reader over a dict of {path: text}, for rendering without git."""

    def __init__(self, files: dict[str, str] | None = None, commit=("", "0")):
        self.data = {k: _b(v) for k, v in (files or {}).items()}
        self.commit = commit

    def read(self, path: str) -> tuple[str, bytes | None]:
        if path in self.data:
            return "blob", self.data[path]
        prefix = path + "/" if path else ""
        return ("tree", None) if any(p.startswith(prefix) for p in self.data) else \
            ("missing", None)

    def files(self) -> list[str]:
        return sorted(self.data)

    def partials(self) -> list[tuple[str, str]]:
        prefix = PARTIALS_DIR + "/"
        return [(p[len(prefix):], _s(b)) for p, b in sorted(self.data.items())
                if p.startswith(prefix) and p.endswith(".tmpl")]

    def commit_info(self) -> tuple[str, str]:
        return self.commit

    def commit_label(self) -> str:
        return "HEAD"

    def close(self) -> None:
        pass


class Renderer:
    """One render: the template set (partials, then the config), functions and data."""

    def __init__(self, files_reader, environ: dict | None = None, env_name: str = ""):
        self.reader = files_reader
        self.environ = os.environ if environ is None else environ
        self.trees: dict[str, Tree] = {}
        self.funcs = {**_builtins(), **_sprig(), **self._werf_funcs()}
        self.exec = _Exec(self.trees, self.funcs)
        self.data = {"Files": Files(files_reader), "Env": env_name,
                     "Commit": _Commit(files_reader)}
        self.tpl_count = 0

    def add(self, name: str, file: str, text: str) -> None:
        try:
            _Parser(Source(name, file, text), self.funcs, self.trees).parse()
        except RecursionError:
            raise ConfigError("the template nests too deeply", file=file) from None

    def render(self, name: str = MAIN) -> str:
        try:
            return self.exec.execute(name, self.data)
        except RecursionError:
            raise ConfigError(f"templates nest too deeply while rendering {name}",
                              file=self.trees[name].src.file) from None

    def _werf_funcs(self) -> dict[str, Fn]:
        return {
            "include": Fn(("string", "any"), None, self._include),
            "tpl": Fn(("string", "any"), None, self._tpl),
            "env": Fn(("any",), "string", self._env),
            "required": Fn(("string", "any"), None, self._required),
            "fromYaml": Fn(("string",), None, from_yaml),
        }

    def _include(self, name: str, data) -> str:
        return self.exec.execute(name, data)

    def _tpl(self, text: str, data) -> str:
        self.tpl_count += 1
        src = Source(f"tpl-{self.tpl_count}", "the tpl text", text)
        try:
            _Parser(src, self.funcs, self.trees).parse()
            return self.exec.execute(src.name, data)
        except TemplateError as exc:
            if exc.src is src:
                raise _CallError(exc.message) from None
            raise

    def _env(self, name, *default: str) -> str:
        if len(default) > 1:
            raise _CallError("more than 1 optional argument prohibited")
        value = self.environ.get(strval(name))
        if not value and default:
            return default[0]
        return value or ""

    @staticmethod
    def _required(msg: str, value):
        if value is None or value == "" and isinstance(value, str):
            raise _CallError(msg)
        return value


def render_werf_config(text: str, path: str, project_dir: str, *, files=None,
                       environ: dict | None = None) -> str:
    """werf.yaml text, rendered as werf renders it: partials from `.werf/**/*.tmpl` of
    HEAD first, then the config as template "werfConfig"; `.Files` reads HEAD."""
    if files is None:
        from werfpull.gitfiles import CommitFiles

        files = CommitFiles(project_dir)
    environ = os.environ if environ is None else environ
    try:
        renderer = Renderer(files, environ, env_name=environ.get("WERF_ENV", ""))
        for name, partial in files.partials():
            renderer.add(name, os.path.join(project_dir, PARTIALS_DIR, name), partial)
        renderer.add(MAIN, path, text)
        out = renderer.render()
    finally:
        files.close()
    try:
        out.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = out.count("\n", 0, exc.start) + 1
        raise ConfigError(f"the rendered config is not valid UTF-8 at its line {line}",
                          file=path, hint="a file read with .Files is binary; b64enc it"
                          ) from None
    return out
