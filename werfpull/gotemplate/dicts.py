"""sprig's structure functions whose semantics come from the libraries it calls:
merge and mergeOverwrite (imdario/mergo), deepCopy (mitchellh/copystructure), chunk,
slice and values, and the reflection functions (typeOf, kindOf and their tests).

mergo's rules, as its deepMerge applies them to map[string]interface {}: a key the
destination lacks, or holds an empty value for ("", 0, false, nil, an empty list or
map), takes the source's value; nested maps merge recursively (the destination's map is
changed in place, a missing one is the source's own map, not a copy); with overwrite
every source value replaces the destination's, nil included, except that a map never
replaces a non-empty destination value that is not a map.
"""

from __future__ import annotations

import math

from werfpull.gotemplate.errors import _CallError
from werfpull.gotemplate.values import (
    MISSING,
    GoStruct,
    kind_of,
    sorted_keys,
)


def empty(v) -> bool:
    """Go template emptiness, which is also mergo's isEmptyValue of an interface value
    (sprig's `empty`, `default`, `coalesce` and merge all use it)."""
    if v is None or v is MISSING:
        return True
    if isinstance(v, GoStruct):
        return False
    if isinstance(v, (str, list, dict)):
        return len(v) == 0
    return not v


def _is_map(v) -> bool:
    return isinstance(v, dict) and not isinstance(v, GoStruct)


def _merge_into(dst: dict, src: dict, overwrite: bool) -> None:
    for key, value in src.items():
        has = key in dst
        old = dst.get(key)
        if value is None:
            if overwrite:
                dst[key] = None
            continue
        if _is_map(value):
            if has and _is_map(old):
                _merge_into(old, value, overwrite)
        elif isinstance(value, list) and overwrite:
            dst[key] = value
        if has and not empty(old) and (_is_map(value) or isinstance(value, list)):
            continue
        if overwrite or not has or empty(old):
            dst[key] = value


def merge(dst, *srcs, overwrite: bool = False):
    out = {} if dst is None else dst
    for src in srcs:
        if src is not None:
            _merge_into(out, src, overwrite)
    return out


def deep_copy(v):
    """copystructure.Copy: lists and maps copied with their Go types, the rest shared."""
    if isinstance(v, list):
        return type(v)(deep_copy(e) for e in v)
    if _is_map(v):
        return type(v)((k, deep_copy(x)) for k, x in v.items())
    return v


def values(d) -> list:
    """Go ranges over a map in random order; keys are taken sorted, as `keys` does."""
    return [d[k] for k in sorted_keys(d or {})]


def chunk(size: int, items) -> list:
    if not isinstance(items, list):
        raise _CallError(f"Cannot chunk type {kind_of(items)}")
    if size <= 0:
        raise _CallError("runtime error: chunk size must be positive")
    return [list(items[i:i + size]) for i in range(0, len(items), size)]


def go_slice(items, *indices: int):
    """sprig's slice: list[start:end] (indices already cast to int) with Go's bounds
    checks; nil for an empty list."""
    if not isinstance(items, list):
        raise _CallError(f"list should be type of slice or array but {kind_of(items)}")
    if not items:
        return None
    start = indices[0] if indices else 0
    end = indices[1] if len(indices) > 1 else len(items)
    if not 0 <= start <= end <= len(items):
        raise _CallError(f"reflect: slice index out of range [{start}:{end}]")
    return type(items)(items[start:end])


def round_half(v: float, places: float, on: float) -> float:
    """sprig's round: up when the fraction of v*10^places reaches `on`."""
    pow_ = math.pow(10, places)
    digit = pow_ * v
    if math.isinf(digit) or math.isnan(digit):
        return digit / pow_
    frac = math.modf(digit)[0]
    return (math.ceil(digit) if frac >= on else math.floor(digit)) / pow_
