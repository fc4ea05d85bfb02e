"""sprig's float arithmetic and its small encodings: addf, subf, mulf, divf (computed
in shopspring/decimal, as sprig does, then read back as the nearest float64), maxf,
minf, ceil, floor, toDecimal, b32enc/b32dec and adler32sum.
"""

from __future__ import annotations

import base64
import decimal
import math
import zlib

from werfpull.gotemplate.errors import _CallError
from werfpull.gotemplate.fmt import fmt_v
from werfpull.gotemplate.values import _b, _s

_CTX = decimal.Context(prec=400, rounding=decimal.ROUND_HALF_EVEN)
_DIV_PLACES = decimal.Decimal(1).scaleb(-16)  # shopspring's DivisionPrecision


def _dec(f: float) -> decimal.Decimal:
    """decimal.NewFromFloat: the shortest decimal that reads back as f."""
    if math.isnan(f) or math.isinf(f):
        raise _CallError(f"Cannot create a Decimal from {fmt_v(f)}")
    return decimal.Decimal(repr(f))


def decimal_op(op: str, first: float, rest: list[float]) -> float:
    acc = _dec(first)
    for x in rest:
        d = _dec(x)
        if op == "+":
            acc = _CTX.add(acc, d)
        elif op == "-":
            acc = _CTX.subtract(acc, d)
        elif op == "*":
            acc = _CTX.multiply(acc, d)
        else:
            if d == 0:
                raise _CallError("decimal division by zero")
            acc = _CTX.divide(acc, d).quantize(_DIV_PLACES, rounding=decimal.ROUND_HALF_UP,
                                               context=_CTX)
    return float(acc)


def go_max(a: float, b: float) -> float:
    """math.Max: NaN wins, +0 beats -0."""
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1, a) > 0 else b
    return max(a, b)


def go_min(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    if a == b == 0:
        return a if math.copysign(1, a) < 0 else b
    return min(a, b)


def go_ceil(f: float) -> float:
    return f if math.isinf(f) or math.isnan(f) else float(math.ceil(f))


def go_floor(f: float) -> float:
    return f if math.isinf(f) or math.isnan(f) else float(math.floor(f))


def to_decimal(v) -> int:
    """strconv.ParseInt(fmt.Sprint(v), 8, 64), 0 on error."""
    text = fmt_v(v)
    body = text[1:] if text[:1] in "+-" else text
    if not body or not all(c in "01234567" for c in body):
        return 0
    n = int(body, 8) * (-1 if text.startswith("-") else 1)
    return n if -(1 << 63) <= n < (1 << 63) else 0


def b32dec(s: str) -> str:
    try:
        return _s(base64.b32decode(_b(s)))
    except ValueError:
        return _b32_error(s)


def _b32_error(s: str) -> str:
    """The text of Go's CorruptInputError, which sprig returns as the result."""
    b = _b(s)
    alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567="
    for i, c in enumerate(b):
        if c not in alphabet or (c == ord("=") and i % 8 < 2):
            return f"illegal base32 data at input byte {i}"
    return f"illegal base32 data at input byte {len(b) - len(b) % 8}"


def adler32sum(s: str) -> str:
    return str(zlib.adler32(_b(s)))
