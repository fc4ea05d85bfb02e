"""Printing as Go's fmt and strconv do: `%v` of every value (`fmt_v`), floats
(`go_float`), `strconv.Quote` (`go_quote`), `fmt.Sprintf` for the common verbs
(`go_sprintf`) and `fmt.Sprint`/`Sprintln` (`go_sprint`).

A render prints values in actions and through print, printf, quote and friends, so these
must match Go byte for byte; a verb or flag they do not reproduce raises `_Unsupported`.
"""

from __future__ import annotations

import decimal
import math
import re

import werfpull.gotemplate.limits as limits
from werfpull.gotemplate.errors import _CallError, _Unsupported
from werfpull.gotemplate.values import MISSING, GoStruct, _b, go_type, sorted_keys


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


def fmt_v(v, top: bool = False, memo: dict | None = None) -> str:
    """fmt's %v; `top` is a value printed by an action, where nil is "<no value>".
    `memo` prints a list or map that occurs many times (shared) once."""
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
    if hasattr(v, "go_string"):  # a fmt.Stringer (a semver version)
        return v.go_string()
    if isinstance(v, (list, dict)):
        memo = {} if memo is None else memo
        if id(v) not in memo:
            memo[id(v)] = "[" + _joined([fmt_v(e, memo=memo) for e in v]) + "]" \
                if isinstance(v, list) else "map[" + _joined([
                    f"{fmt_v(k, memo=memo)}:{fmt_v(v[k], memo=memo)}"
                    for k in sorted_keys(v)]) + "]"
        return memo[id(v)]
    raise _CallError(f"it holds {v.label if isinstance(v, GoStruct) else go_type(v)}")


def _joined(parts: list[str]) -> str:
    """" ".join, refused before it builds a string over the limit (shared lists nest)."""
    limits.check_string(sum(map(len, parts)) + len(parts), "the printed value")
    return " ".join(parts)


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


def _gq(s: str) -> str:
    """A name or text in an error message, quoted as Go's errors quote it."""
    return go_quote(s)


def _pad(s: str, width, flags: str) -> str:
    if width is None or len(s) >= width:
        return s
    return s + " " * (width - len(s)) if "-" in flags else " " * (width - len(s)) + s


def _rune(v: int) -> str:
    """rune(c) as fmt prints it: anything that is not a valid rune prints as U+FFFD."""
    return chr(v) if 0 <= v <= 0x10FFFF and not 0xD800 <= v <= 0xDFFF else "\ufffd"


def _fmt_int(v: int, verb: str, flags: str, width, prec) -> str:
    if verb == "c":
        return _pad(_rune(v), width, flags)
    if verb == "q":
        return _pad(go_quote(_rune(v), "'"), width, flags)
    if verb == "U":  # fmtUnicode prints the value as a uint64
        return _pad(f"U+{v & ((1 << 64) - 1):04X}", width, flags)
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
        return "[" + _joined([_fmt_arg(e, verb, flags, width, prec) for e in arg]) + "]"
    if isinstance(arg, dict):
        return "map[" + _joined([
            f"{_fmt_arg(k, verb, flags, width, prec)}:{_fmt_arg(arg[k], verb, flags, width, prec)}"
            for k in sorted_keys(arg)]) + "]"
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


def _parsenum(digits: str) -> int | None:
    """fmt's parsenum: None when the number overflows (more than 1e6 before its last
    digit), after which Go reads the rest of the format as the bad verb's."""
    num = 0
    for c in digits:
        if num > 1_000_000:
            return None
        num = num * 10 + int(c)
    return num


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
        if (width and _parsenum(width) is None) or (prec and _parsenum(prec) is None):
            out.append("%!(NOVERB)")  # Go skips to the end of the format
            break
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
