"""Go's builtin template functions (and, or, not, len, index, print, println, printf,
eq, ne, lt, le, gt, ge, html, js, urlquery): the table `_builtins` and the functions
behind it.

and/or have no body here: the executor evaluates their arguments lazily itself.
"""

from __future__ import annotations

import unicodedata
import urllib.parse

from werfpull.gotemplate.errors import _CallError
from werfpull.gotemplate.exec import Fn
from werfpull.gotemplate.fmt import go_sprint, go_sprintf
from werfpull.gotemplate.values import (
    MISSING,
    AnyMap,
    GoStruct,
    StrMap,
    _b,
    _is_int,
    _truth,
    go_type,
)


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


def _eval_args(args) -> str:
    """text/template's evalArgs: one string as is, anything else as fmt.Sprint."""
    return args[0] if len(args) == 1 and isinstance(args[0], str) else go_sprint(list(args))


_HTML = {"\0": "\ufffd", '"': "&#34;", "'": "&#39;", "&": "&amp;", "<": "&lt;", ">": "&gt;"}
_JS = {"\\": "\\\\", "'": "\\'", '"': '\\"', "<": "\\u003C", ">": "\\u003E",
       "&": "\\u0026", "=": "\\u003D"}


def _html(*args) -> str:
    return "".join(_HTML.get(c, c) for c in _eval_args(args))


def _js_char(c: str) -> str:
    if c in _JS:
        return _JS[c]
    if c < " ":
        return f"\\u00{ord(c):02X}"
    if c < "\x80" or unicodedata.category(c)[0] not in "CZ" or c == " ":
        return c
    return f"\\u{ord(c):04X}"


def _js(*args) -> str:
    return "".join(_js_char(c) for c in _eval_args(args))


def _urlquery(*args) -> str:
    return urllib.parse.quote_plus(_b(_eval_args(args)), safe="")


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
        "html": Fn((), "any", _html),
        "js": Fn((), "any", _js),
        "urlquery": Fn((), "any", _urlquery),
    }
