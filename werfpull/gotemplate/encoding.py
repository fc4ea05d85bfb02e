"""JSON and YAML as sprig, werf and Helm produce and read them: `go_json`
(encoding/json), `to_yaml`, `from_yaml` (gopkg.in/yaml.v2 into interface{}) and
`from_json`.
"""

from __future__ import annotations

import json
import math
import re

import yaml

import werfpull.gotemplate.limits as limits
from werfpull.gotemplate.errors import _CallError
from werfpull.gotemplate.fmt import _float_digits, _float_exp, _float_fixed, go_float
from werfpull.gotemplate.values import (
    MISSING,
    AnyMap,
    GoStruct,
    NilList,
    _b,
    _s,
    go_type,
)


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


def go_json(v, indent: str | None = None, escape_html: bool = True, level: int = 0,
            memo: dict | None = None) -> str:
    """encoding/json.Marshal (or MarshalIndent with `indent`); `memo` encodes a list or
    map that occurs many times (shared) once per nesting level."""
    if isinstance(v, (list, dict)) and not isinstance(v, (NilList, GoStruct)):
        memo = {} if memo is None else memo
        key = (id(v), level)
        if key not in memo:
            memo[key] = _json_container(v, indent, escape_html, level, memo)
        return memo[key]
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
    if isinstance(v, GoStruct):
        return "{}"
    raise _JSONError(f"json: unsupported type: {go_type(v)}")


def _json_container(v, indent, escape_html: bool, level: int, memo: dict) -> str:
    nl = "" if indent is None else "\n" + indent * (level + 1)
    end = "" if indent is None else "\n" + indent * level
    if isinstance(v, list):
        if not v:
            return "[]"
        items = [go_json(e, indent, escape_html, level + 1, memo) for e in v]
        limits.check_string(sum(map(len, items)) + len(items) * (len(nl) + 1), "the JSON")
        return "[" + nl + ("," + nl).join(items) + end + "]"
    if isinstance(v, AnyMap):
        raise _JSONError("json: unsupported type: map[interface {}]interface {}")
    if isinstance(v, dict):
        if not v:
            return "{}"
        sep = ":" if indent is None else ": "
        items = [_json_str(k, escape_html) + sep
                 + go_json(v[k], indent, escape_html, level + 1, memo) for k in sorted(v, key=_b)]
        limits.check_string(sum(map(len, items)) + len(items) * (len(nl) + 1), "the JSON")
        return "{" + nl + ("," + nl).join(items) + end + "}"
    raise _JSONError(f"json: unsupported type: {go_type(v)}")


def _plain(v, budget: list | None = None):
    """Python builtins for PyYAML, which refuses subclasses; every occurrence of a shared
    value is its own copy (yaml.v2 writes no anchors), within a budget of nodes."""
    budget = [limits.MAX_YAML_NODES] if budget is None else budget
    budget[0] -= 1
    if budget[0] < 0:
        raise _CallError(f"the value has more than {limits.MAX_YAML_NODES} nodes,"
                         " werfpull's limit")
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
        return [_plain(e, budget) for e in v]
    if isinstance(v, dict):
        return {_plain(k, budget): _plain(x, budget) for k, x in v.items()}
    raise _CallError(f"cannot convert {go_type(v)} to YAML")


def to_yaml(v) -> str:
    out = yaml.safe_dump(_plain(v), default_flow_style=False, sort_keys=True,
                         allow_unicode=True)
    if out.endswith("\n...\n"):
        out = out[:-4]
    return out[:-1] if out.endswith("\n") else out


class _YAMLv2Loader(yaml.SafeLoader):
    """YAML as gopkg.in/yaml.v2 reads it into interface{}: timestamps and base-60
    numbers ("10:30") stay strings, y/n are booleans."""


# PyYAML's YAML 1.1 int and float resolvers accept base 60; yaml.v2's do not.
_YAMLv2Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_YAMLv2Loader.add_implicit_resolver(
    "tag:yaml.org,2002:int", re.compile(r"""^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)
    |[-+]?0x[0-9a-fA-F_]+)$""", re.X), list("-+0123456789"))
_YAMLv2Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float", re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?
    |\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."))


_YAMLv2Loader.add_constructor("tag:yaml.org,2002:timestamp",
                              lambda loader, node: loader.construct_scalar(node))
_YAMLv2Loader.add_implicit_resolver("tag:yaml.org,2002:yn", re.compile(r"^(?:y|Y|n|N)$"),
                                    list("yYnN"))
_YAMLv2Loader.add_constructor("tag:yaml.org,2002:yn",
                              lambda loader, node: loader.construct_scalar(node) in "yY")


def _from_yaml_value(v, budget: list):
    """Aliases share one Python object; here every use becomes a copy, as in Go, so the
    nodes are counted ("billion laughs")."""
    budget[0] -= 1
    if budget[0] < 0:
        raise _CallError(f"yaml: the document expands to more than {limits.MAX_YAML_NODES}"
                         " values (aliases), werfpull's limit")
    if isinstance(v, dict):
        return AnyMap({k: _from_yaml_value(x, budget) for k, x in v.items()})
    if isinstance(v, list):
        return [_from_yaml_value(e, budget) for e in v]
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
        raise _CallError(f"yaml: cannot unmarshal {go_type(data)}"
                         " into map[string]interface {}")
    out, budget = {}, [limits.MAX_YAML_NODES]
    for k, v in data.items():
        if not isinstance(k, str):
            raise _CallError(f"yaml: cannot unmarshal key {k!r} into string")
        out[k] = _from_yaml_value(v, budget)
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
