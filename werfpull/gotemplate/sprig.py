"""The sprig functions werfpull implements: the table `_sprig` and the helpers behind it
(sprig's strval, spf13/cast conversions, Go's strings and path functions).

A sprig function werf has and this table lacks is an error at parse time (`_LEFT_OUT`
in parse.py names it), never a different render; adding one to the table is enough.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re

import werfpull.gotemplate.dicts as dicts
import werfpull.gotemplate.limits as limits
import werfpull.gotemplate.mathf as mathf
import werfpull.gotemplate.regex as regex
import werfpull.gotemplate.strings as words
from werfpull.gotemplate.encoding import _JSONError, from_json, go_json, to_yaml
from werfpull.gotemplate.errors import _CallError, _Unsupported
from werfpull.gotemplate.exec import Fn
from werfpull.gotemplate.fmt import fmt_v, go_quote
from werfpull.gotemplate.paths import _path_base, _path_clean, _path_dir, _path_ext
from werfpull.gotemplate.semver import semver, semver_compare
from werfpull.gotemplate.strconv import _parse_go_int
from werfpull.gotemplate.values import (
    _GO_SPACES,
    GoStruct,
    Int64,
    IntList,
    NilList,
    StrList,
    StrMap,
    _b,
    _s,
    _wrap64,
    go_type,
)


def strval(v) -> str:
    return v if isinstance(v, str) else fmt_v(v)


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
    limits.check_items(len(s) if sep == "" else s.count(sep) + 1)
    if sep == "":
        chars = list(s)
        if 0 < n < len(chars):
            return chars[:n - 1] + ["".join(chars[n - 1:])]
        return chars
    return s.split(sep, n - 1) if n > 0 else s.split(sep)


def _until_step(start: int, stop: int, step: int) -> IntList:
    if (stop < start and step < 0) or (stop >= start and step > 0):
        limits.check_items(limits.range_len(start, stop, step))
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
        "repeat": f((INT, STR), None, _repeat),
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
        "indent": f((INT, STR), None, _indent),
        "nindent": f((INT, STR), None, lambda n, s: "\n" + _indent(n, s)),
        "replace": f((STR, STR, STR), None, _replace),
        "plural": f((STR, STR, INT), None, lambda one, many, n: one if n == 1 else many),
        "toString": f((ANY,), None, strval),
        "toStrings": f((ANY,), None, lambda v: StrList(_strslice(v))),
        "split": f((STR, STR), None, lambda sep, s: StrMap(
            (f"_{i}", p) for i, p in enumerate(_go_split(s, sep)))),
        "splitn": f((STR, INT, STR), None, lambda sep, n, s: StrMap(
            (f"_{i}", p) for i, p in enumerate(_go_split(s, sep, n)))),
        "splitList": f((STR, STR), None, lambda sep, s: StrList(_go_split(s, sep))),
        "join": f((STR, ANY), None, _join),
        "sortAlpha": f((ANY,), None, lambda v: StrList(sorted(_strslice(v), key=_b))
                       if isinstance(v, list) else StrList([strval(v)])),
        "b64enc": f((STR,), None, lambda s: base64.b64encode(_b(s)).decode("ascii")),
        "b64dec": f((STR,), None, _b64dec),
        "sha256sum": f((STR,), None, lambda s: hashlib.sha256(_b(s)).hexdigest()),
        "sha1sum": f((STR,), None, lambda s: hashlib.sha1(_b(s)).hexdigest()),
        "sha512sum": f((STR,), None, lambda s: hashlib.sha512(_b(s)).hexdigest()),
        "adler32sum": f((STR,), None, mathf.adler32sum),
        "b32enc": f((STR,), None, lambda s: base64.b32encode(_b(s)).decode("ascii")),
        "b32dec": f((STR,), None, mathf.b32dec),
        "abbrev": f((INT, STR), None, lambda w, s: s if w < 4 else words.abbreviate(s, 0, w)),
        "abbrevboth": f((INT, INT, STR), None, lambda left, right, s: s if right < 4 or (
            left > 0 and right < 7) else words.abbreviate(s, left, right)),
        "untitle": f((STR,), None, words.untitle),
        "initials": f((STR,), None, words.initials),
        "swapcase": f((STR,), None, words.swapcase),
        "snakecase": f((STR,), None, words.snakecase),
        "camelcase": f((STR,), None, words.camelcase),
        "kebabcase": f((STR,), None, words.kebabcase),
        "wrap": f((INT, STR), None, lambda n, s: words.wrap_custom(s, n, "", False)),
        "wrapWith": f((INT, STR, STR), None, lambda n, sep, s: words.wrap_custom(s, n, sep, True)),
        "hello": f((), None, lambda: "Hello!"),
        # regular expressions (Go's regexp is RE2)
        "regexMatch": f((STR, STR), None, _regex_match),
        "mustRegexMatch": f((STR, STR), None, lambda r, s: _re(regex.match, r, s)),
        "regexFindAll": f((STR, STR, INT), None, lambda r, s, n: _re(_find_all, r, s, n)),
        "mustRegexFindAll": f((STR, STR, INT), None, lambda r, s, n: _re(_find_all, r, s, n)),
        "regexFind": f((STR, STR), None, lambda r, s: _re(regex.find, r, s)),
        "mustRegexFind": f((STR, STR), None, lambda r, s: _re(regex.find, r, s)),
        "regexReplaceAll": f((STR, STR, STR), None,
                             lambda r, s, t: _re(regex.replace_all, r, s, t, False)),
        "mustRegexReplaceAll": f((STR, STR, STR), None,
                                 lambda r, s, t: _re(regex.replace_all, r, s, t, False)),
        "regexReplaceAllLiteral": f((STR, STR, STR), None,
                                    lambda r, s, t: _re(regex.replace_all, r, s, t, True)),
        "mustRegexReplaceAllLiteral": f((STR, STR, STR), None,
                                        lambda r, s, t: _re(regex.replace_all, r, s, t, True)),
        "regexSplit": f((STR, STR, INT), None, lambda r, s, n: _re(_split, r, s, n)),
        "mustRegexSplit": f((STR, STR, INT), None, lambda r, s, n: _re(_split, r, s, n)),
        "regexQuoteMeta": f((STR,), None, regex.quote_meta),
        # semantic versions (Masterminds/semver v3)
        "semver": f((STR,), None, semver),
        "semverCompare": f((STR, STR), None, semver_compare),
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
        "toDecimal": f((ANY,), None, lambda v: Int64(mathf.to_decimal(v))),
        "add1f": f((ANY,), None, lambda v: mathf.decimal_op("+", _to_float64(v), [1.0])),
        "addf": f((), ANY, lambda *v: mathf.decimal_op("+", 0.0, [_to_float64(x) for x in v])),
        "subf": f((ANY,), ANY, lambda a, *v: _fop("-", a, v)),
        "mulf": f((ANY,), ANY, lambda a, *v: _fop("*", a, v)),
        "divf": f((ANY,), ANY, lambda a, *v: _fop("/", a, v)),
        "maxf": f((ANY,), ANY, lambda a, *v: _fold(mathf.go_max, a, v)),
        "minf": f((ANY,), ANY, lambda a, *v: _fold(mathf.go_min, a, v)),
        "ceil": f((ANY,), None, lambda v: mathf.go_ceil(_to_float64(v))),
        "floor": f((ANY,), None, lambda v: mathf.go_floor(_to_float64(v))),
        "round": f((ANY, INT), "float64", lambda v, p, *on: dicts.round_half(
            _to_float64(v), float(p), on[0] if on else 0.5)),
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
        "mustAppend": f((ANY, ANY), None, lambda v, x: _list_items(v, "push") + [x]),
        "mustPush": f((ANY, ANY), None, lambda v, x: _list_items(v, "push") + [x]),
        "mustPrepend": f((ANY, ANY), None, lambda v, x: [x] + _list_items(v, "prepend")),
        "mustFirst": f((ANY,), None, lambda v: (_list_items(v, "find first") or [None])[0]),
        "mustLast": f((ANY,), None, lambda v: (_list_items(v, "find last") or [None])[-1]),
        "mustRest": f((ANY,), None,
                      lambda v: _nil_if_empty(_list_items(v, "find rest"), 1, None)),
        "mustInitial": f((ANY,), None,
                         lambda v: _nil_if_empty(_list_items(v, "find initial"), 0, -1)),
        "mustReverse": f((ANY,), None, lambda v: _list_items(v, "find reverse")[::-1]),
        "mustCompact": f((ANY,), None, lambda v: [x for x in _list_items(v, "compact")
                                                if not dicts.empty(x)]),
        "mustUniq": f((ANY,), None, _uniq),
        "mustWithout": f((ANY,), ANY, lambda v, *o: [x for x in _list_items(v, "find without")
                                                   if not any(_deep_equal(x, y) for y in o)]),
        "mustHas": f((ANY, ANY), None, lambda needle, v: v is not None and any(
            _deep_equal(needle, x) for x in _list_items(v, "find has"))),
        "slice": f((ANY,), ANY, _slice),
        "mustSlice": f((ANY,), ANY, _slice),
        "chunk": f((INT, ANY), None, dicts.chunk),
        "mustChunk": f((INT, ANY), None, dicts.chunk),
        "concat": f((), ANY, lambda *ls: _concat(ls)),
        "reverse": f((ANY,), None, lambda v: _list_items(v, "find reverse")[::-1]),
        "compact": f((ANY,), None, lambda v: [x for x in _list_items(v, "compact")
                                            if not dicts.empty(x)]),
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
        "merge": f((MAP,), MAP, dicts.merge),
        "mustMerge": f((MAP,), MAP, dicts.merge),
        "mergeOverwrite": f((MAP,), MAP, lambda d, *s: dicts.merge(d, *s, overwrite=True)),
        "mustMergeOverwrite": f((MAP,), MAP, lambda d, *s: dicts.merge(d, *s, overwrite=True)),
        "values": f((MAP,), None, dicts.values),
        "deepCopy": f((ANY,), None, dicts.deep_copy),
        "mustDeepCopy": f((ANY,), None, dicts.deep_copy),
        # reflection
        "typeOf": f((ANY,), None, go_type),
        "typeIs": f((STR, ANY), None, lambda t, v: t == go_type(v)),
        "typeIsLike": f((STR, ANY), None, lambda t, v: go_type(v) in (t, "*" + t)),
        "kindOf": f((ANY,), None, dicts.kind_of),
        "kindIs": f((STR, ANY), None, lambda k, v: k == dicts.kind_of(v)),
        "deepEqual": f((ANY, ANY), None, _deep_equal),
        # defaults and flow
        "default": f((ANY,), ANY,
                     lambda d, *given: d if not given or dicts.empty(given[0]) else given[0]),
        "empty": f((ANY,), None, dicts.empty),
        "coalesce": f((), ANY, lambda *v: next((x for x in v if not dicts.empty(x)), None)),
        "all": f((), ANY, lambda *v: all(not dicts.empty(x) for x in v)),
        "any": f((), ANY, lambda *v: any(not dicts.empty(x) for x in v)),
        "ternary": f((ANY, ANY, BOOL), None, _ternary),
        "fail": f((STR,), None, lambda msg: _raise(msg)),
        # encodings
        "toJson": f((ANY,), None, _to_json),
        "toPrettyJson": f((ANY,), None, lambda v: _to_json(v, "  ")),
        "toRawJson": f((ANY,), None, lambda v: _raw_json(v)),
        "fromJson": f((STR,), None, from_json),
        "mustFromJson": f((STR,), None, _must_from_json),
        "mustToJson": f((ANY,), None, lambda v: _raw_json(v, escape_html=True)),
        "mustToPrettyJson": f((ANY,), None, lambda v: _raw_json(v, "  ", escape_html=True)),
        "mustToRawJson": f((ANY,), None, lambda v: _raw_json(v)),
        "toYaml": f((ANY,), None, to_yaml),
        # paths
        "base": f((STR,), None, _path_base),
        "dir": f((STR,), None, _path_dir),
        "clean": f((STR,), None, _path_clean),
        "ext": f((STR,), None, _path_ext),
        "isAbs": f((STR,), None, lambda p: p.startswith("/")),
        "osBase": f((STR,), None, _path_base),  # filepath on Linux is path
        "osDir": f((STR,), None, _path_dir),
        "osClean": f((STR,), None, _path_clean),
        "osExt": f((STR,), None, _path_ext),
        "osIsAbs": f((STR,), None, lambda p: p.startswith("/")),
    }


def _nil_if_empty(items: list, lo: int, hi: int | None) -> list:
    return NilList() if not items else items[lo:hi]


def _fail_negative():
    raise _CallError("strings: negative Repeat count")


def _repeat(n: int, s: str) -> str:
    if n < 0:
        _fail_negative()
    limits.check_string(n * len(_b(s)))
    return s * n


def _indent(n: int, s: str) -> str:
    if n < 0:
        _fail_negative()
    limits.check_string(len(_b(s)) + n * (s.count("\n") + 1))
    pad = " " * n
    return pad + s.replace("\n", "\n" + pad)


def _replace(old: str, new: str, s: str) -> str:
    count = len(s) + 1 if old == "" else s.count(old)
    limits.check_string(len(_b(s)) + count * max(0, len(_b(new)) - len(_b(old))))
    return s.replace(old, new)


def _join(sep: str, v) -> str:
    parts = _strslice(v)
    limits.check_string(sum(map(len, parts)) + len(sep) * max(0, len(parts) - 1))
    return sep.join(parts)


def _concat(lists) -> list:
    items = [_list_items(v, "concat") for v in lists]
    limits.check_items(sum(map(len, items)))
    return [x for v in items for x in v] or NilList()


def _atoi(s: str) -> int:
    """strconv.Atoi with its error dropped, as sprig does: 0 for bad syntax, and for a
    number out of range the clamped value ParseInt returns along with ErrRange."""
    if not re.fullmatch(r"[+-]?[0-9]+", s):
        return 0
    return max(-(1 << 63), min((1 << 63) - 1, int(s)))


def _uniq(v) -> list:
    out: list = []
    for x in _list_items(v, "find uniq"):
        if not any(_deep_equal(x, y) for y in out):
            out.append(x)
    return out


def _raw_json(v, indent=None, escape_html=False) -> str:
    try:
        return go_json(v, indent, escape_html=escape_html)
    except _JSONError as exc:
        raise _CallError(str(exc)) from None


def _must_from_json(text: str):
    value = from_json(text)
    if value is None and text.strip() != "null":
        raise _CallError("invalid character in JSON text")
    return value


def _re(fn, pattern: str, *args):
    try:
        return fn(pattern, *args)
    except regex.RegexError as exc:
        raise _CallError(str(exc)) from None


def _regex_match(pattern: str, s: str) -> bool:
    try:
        return regex.match(pattern, s)
    except regex.RegexError:
        return False  # sprig's regexMatch drops the compile error


def _find_all(pattern: str, s: str, n: int) -> StrList:
    return StrList(regex.find_all(pattern, s, n))


def _split(pattern: str, s: str, n: int) -> StrList:
    return StrList(regex.split(pattern, s, n))


def _slice(items, *indices):
    return dicts.go_slice(items, *(int(_to_int64(i)) for i in indices))


def _fop(op: str, a, rest) -> float:
    return mathf.decimal_op(op, _to_float64(a), [_to_float64(x) for x in rest])


def _fold(fn, a, rest) -> float:
    acc = _to_float64(a)
    for x in rest:
        acc = fn(acc, _to_float64(x))
    return acc


def _raise(msg: str):
    raise _CallError(msg)
