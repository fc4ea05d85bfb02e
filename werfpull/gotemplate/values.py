"""The Go value model: how Go values of a render are held as Python values.

Most Go values are plain Python ones (bool, int, float, str, list, dict, None). The few
Go types a render can tell apart (by printing, JSON, `index`, type checks of function
parameters) get their own classes: `Int64`, `StrList`, `NilList`, `IntList`, `StrMap`,
`AnyMap`, `GoStruct` and `MISSING`. Here too: one table of their Go type names (what
`%T` prints) and reflect kinds (`go_type`, `kind_of`), Go's truth, map key order, and
strings as Go's bytes.
"""

from __future__ import annotations


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


class EnvEmpty(str):
    """The "" that `env NAME` gives for an unset or empty variable: a Go string, which
    remembers its variable so that an error it causes can name the env call."""

    def __new__(cls, name: str, unset: bool):
        obj = super().__new__(cls, "")
        obj.name, obj.unset = name, unset
        return obj

    def origin(self) -> str:
        return (f"the empty value comes from {{{{ env \"{self.name}\" }}}}:"
                f" {self.name} is {'unset' if self.unset else 'empty'}")


class _Missing:
    """Go's invalid reflect.Value: an absent map key, a nil that went through a pipeline."""

    def __repr__(self) -> str:
        return "<no value>"


MISSING = _Missing()


class GoStruct:
    """A Go struct value of the template data: fields and methods, nothing printable."""

    go_type = "struct"
    label = "a struct"

    def fields(self) -> dict:
        return {}

    def methods(self) -> dict:
        return {}


# Each class a value can be an instance of, with the Go type it stands for (what %T
# prints) and that type's reflect Kind (what sprig's kindOf says). The first match wins:
# bool before int, Int64 before int, the typed lists and maps before list and dict.
_TYPES: tuple[tuple[type, str, str], ...] = (
    (bool, "bool", "bool"),
    (Int64, "int64", "int64"),
    (int, "int", "int"),
    (float, "float64", "float64"),
    (str, "string", "string"),
    (StrList, "[]string", "slice"),
    (IntList, "[]int", "slice"),
    (list, "[]interface {}", "slice"),
    (StrMap, "map[string]string", "map"),
    (AnyMap, "map[interface {}]interface {}", "map"),
    (dict, "map[string]interface {}", "map"),
)


def type_and_kind(v) -> tuple[str, str]:
    """(Go type name, reflect.Value.Kind().String()) of a render's value."""
    if v is None or v is MISSING:
        return "<nil>", "invalid"
    for cls, name, kind in _TYPES:
        if isinstance(v, cls):
            return name, kind
    name = v.go_type if isinstance(v, GoStruct) else type(v).__name__
    return name, "ptr" if name.startswith("*") else "map" if name.startswith("map[") else "struct"


def go_type(v) -> str:
    """The name `%T` prints."""
    return type_and_kind(v)[0]


def kind_of(v) -> str:
    """reflect.Value.Kind().String()."""
    return type_and_kind(v)[1]


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


# What Go's unicode.IsSpace accepts: the parser's emptiness test and sprig's trim and
# nospace must agree with Go on it, not with str.isspace.
_GO_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"


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
