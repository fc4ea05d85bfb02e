"""sprig's `semver` and `semverCompare`: Masterminds/semver v3.3.1 (the version werf
builds with), ported from its version.go and constraints.go.

Versions parse leniently as NewVersion does ("v1.2" is 1.2.0), constraints take the
full syntax (`=`, `!=`, `<`, `<=`, `>`, `>=`, `~`, `~>`, `^`, wildcards `x`/`X`/`*`,
ranges `1 - 2`, `,` or spaces for and, `||` for or) with its pre-release rule: a
pre-release version satisfies only a constraint that has a pre-release itself. The
library's regular expressions are Go's, so they run on the package's RE2 wrapper.
"""

from __future__ import annotations

from werfpull.gotemplate.errors import _CallError
from werfpull.gotemplate.exec import Fn
from werfpull.gotemplate.regex import compile_go
from werfpull.gotemplate.values import GoStruct, _b, _s

_SEMVER = (r"v?(0|[1-9]\d*)(?:\.(0|[1-9]\d*))?(?:\.(0|[1-9]\d*))?"
           r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)"
           r"(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
           r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?")
_CV = (r"v?([0-9|x|X|\*]+)(\.[0-9|x|X|\*]+)?(\.[0-9|x|X|\*]+)?"
       r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
       r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?")
_OPS = r"=||!=|>|<|>=|=>|<=|=<|~|~>|\^"
_VERSION_RE = "^" + _SEMVER + "$"
_CONSTRAINT_RE = rf"^\s*({_OPS})\s*({_CV})\s*$"
_RANGE_RE = rf"\s*({_CV})\s+-\s+({_CV})\s*"
_FIND_RE = rf"({_OPS})\s*({_CV})"
_VALID_RE = rf"^(\s*({_OPS})\s*({_CV})\s*)((?:\s+|,\s*)({_OPS})\s*({_CV})\s*)*$"
_ALLOWED = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-0123456789")
_MAX_U64 = (1 << 64) - 1


def _groups(pattern: str, s: str) -> list[str] | None:
    m = compile_go(pattern).search(_b(s))
    return None if m is None else [_s(g or b"") for g in m.groups()]


def _uint(text: str) -> int:
    n = int(text)
    if n > _MAX_U64:
        raise _CallError(f'Error parsing version segment: strconv.ParseUint: parsing'
                         f' "{text}": value out of range')
    return n


class Version(GoStruct):
    """A *semver.Version: prints as its String(), fields through its methods."""

    go_type = "*semver.Version"
    label = "a semver.Version"

    def __init__(self, major: int, minor: int, patch: int, pre: str, meta: str, orig: str):
        self.major, self.minor, self.patch = major, minor, patch
        self.pre, self.meta, self.orig = pre, meta, orig

    def go_string(self) -> str:
        out = f"{self.major}.{self.minor}.{self.patch}"
        return out + (f"-{self.pre}" if self.pre else "") + (f"+{self.meta}" if self.meta else "")

    def methods(self) -> dict:
        other = ("any",)
        return {
            "Major": Fn((), None, lambda: self.major), "Minor": Fn((), None, lambda: self.minor),
            "Patch": Fn((), None, lambda: self.patch),
            "Prerelease": Fn((), None, lambda: self.pre),
            "Metadata": Fn((), None, lambda: self.meta),
            "Original": Fn((), None, lambda: self.orig),
            "String": Fn((), None, self.go_string),
            "Compare": Fn(other, None, lambda o: compare(self, _version_arg(o))),
            "LessThan": Fn(other, None, lambda o: compare(self, _version_arg(o)) < 0),
            "LessThanEqual": Fn(other, None, lambda o: compare(self, _version_arg(o)) <= 0),
            "GreaterThan": Fn(other, None, lambda o: compare(self, _version_arg(o)) > 0),
            "GreaterThanEqual": Fn(other, None,
                                   lambda o: compare(self, _version_arg(o)) >= 0),
            "Equal": Fn(other, None, lambda o: compare(self, _version_arg(o)) == 0),
            "IncMajor": Fn((), None, lambda: self._next(self.major + 1, 0, 0)),
            "IncMinor": Fn((), None, lambda: self._next(self.major, self.minor + 1, 0)),
            "IncPatch": Fn((), None, lambda: self._next(
                self.major, self.minor, self.patch + (0 if self.pre else 1))),
        }

    def _next(self, major: int, minor: int, patch: int) -> Version:
        v = Version(major, minor, patch, "", "", "")
        v.orig = ("v" if self.orig.startswith("v") else "") + v.go_string()
        return v


def _version_arg(o) -> Version:
    if not isinstance(o, Version):
        raise _CallError("the argument must be a semver version (from semver)")
    return o


def new_version(v: str) -> Version:
    """NewVersion: the lenient parse sprig's semver uses."""
    m = _groups(_VERSION_RE, v)
    if m is None:
        raise _CallError("Invalid Semantic Version")
    major, minor, patch, pre, meta = m[:5]
    out = Version(_uint(major), _uint(minor) if minor else 0, _uint(patch) if patch else 0,
                  pre, meta, v)
    if pre:
        _validate_pre(pre)
    if meta and any(not p or not set(p) <= _ALLOWED for p in meta.split(".")):
        raise _CallError("Invalid Metadata string")
    return out


def _validate_pre(pre: str) -> None:
    for p in pre.split("."):
        if not p:
            raise _CallError("Invalid Metadata string")
        if p.isdigit() and p.isascii():
            if len(p) > 1 and p[0] == "0":
                raise _CallError("Version segment starts with 0")
        elif not set(p) <= _ALLOWED:
            raise _CallError("Invalid Prerelease string")


def compare(v: Version, o: Version) -> int:
    for a, b in ((v.major, o.major), (v.minor, o.minor), (v.patch, o.patch)):
        if a != b:
            return -1 if a < b else 1
    if not v.pre and not o.pre:
        return 0
    if not v.pre:
        return 1
    if not o.pre:
        return -1
    return _compare_pre(v.pre, o.pre)


def _compare_pre(v: str, o: str) -> int:
    sp, op = v.split("."), o.split(".")
    for i in range(max(len(sp), len(op))):
        d = _compare_part(sp[i] if i < len(sp) else "", op[i] if i < len(op) else "")
        if d:
            return d
    return 0


def _as_uint(s: str) -> int | None:
    return int(s) if s.isdigit() and s.isascii() and int(s) <= _MAX_U64 else None


def _compare_part(s: str, o: str) -> int:
    if s == o:
        return 0
    if s == "":
        return -1
    if o == "":
        return 1
    oi, si = _as_uint(o), _as_uint(s)
    if oi is None and si is None:
        return 1 if _b(s) > _b(o) else -1
    if oi is None:
        return -1
    if si is None:
        return 1
    return 1 if si > oi else -1


class _Constraint:
    def __init__(self, text: str):
        m = _groups(_CONSTRAINT_RE, text)
        if m is None:
            raise _CallError(f"improper constraint: {text}")
        self.op, self.orig = m[0], m[1]
        self.minor_dirty = self.patch_dirty = self.dirty = False
        major, minor, patch, pre = m[2], m[3], m[4], m[5]
        ver = self.orig
        if _is_x(major) or major == "":
            ver, self.dirty = f"0.0.0{pre}", True
        elif _is_x(minor.removeprefix(".")) or minor == "":
            ver, self.dirty, self.minor_dirty = f"{major}.0.0{pre}", True, True
        elif _is_x(patch.removeprefix(".")) or patch == "":
            ver, self.dirty, self.patch_dirty = f"{major}{minor}.0{pre}", True, True
        try:
            self.con = new_version(ver)
        except _CallError:
            raise _CallError("constraint Parser Error") from None

    def check(self, v: Version) -> bool:
        c, op = self.con, self.op
        if v.pre and not c.pre and (op != "!=" or self.dirty):
            return False  # a pre-release satisfies only constraints with one
        if op in ("", "="):
            return self._tilde(v) if self.dirty else compare(v, c) == 0
        if op == "!=":
            return self._not_equal(v)
        if op == ">":
            if not self.dirty:
                return compare(v, c) > 0
            if v.major != c.major:
                return v.major > c.major
            if self.minor_dirty:
                return False
            return v.minor > c.minor if self.patch_dirty else compare(v, c) > 0
        if op == "<":
            return compare(v, c) < 0
        if op in (">=", "=>"):
            return compare(v, c) >= 0
        if op in ("<=", "=<"):
            if not self.dirty:
                return compare(v, c) <= 0
            return not (v.major > c.major or v.major == c.major and v.minor > c.minor
                        and not self.minor_dirty)
        if op in ("~", "~>"):
            return self._tilde(v)
        return self._caret(v)

    def _not_equal(self, v: Version) -> bool:
        c = self.con
        if self.dirty:
            if c.major != v.major:
                return True
            if c.minor != v.minor and not self.minor_dirty:
                return True
            if self.minor_dirty:
                return False
            if c.patch != v.patch and not self.patch_dirty:
                return True
            if self.patch_dirty:
                return bool(v.pre or c.pre) and _compare_pre(v.pre, c.pre) != 0
        return compare(v, c) != 0

    def _tilde(self, v: Version) -> bool:
        c = self.con
        if compare(v, c) < 0:
            return False
        if c.major == c.minor == c.patch == 0 and not self.minor_dirty \
                and not self.patch_dirty:
            return True
        if v.major != c.major:
            return False
        return v.minor == c.minor or self.minor_dirty

    def _caret(self, v: Version) -> bool:
        c = self.con
        if compare(v, c) < 0:
            return False
        if c.major > 0 or self.minor_dirty:
            return v.major == c.major
        if v.major > 0:
            return False
        if c.minor > 0 or self.patch_dirty:
            return v.minor == c.minor
        if v.minor > 0:
            return False
        return c.patch == v.patch


def _is_x(s: str) -> bool:
    return s in ("x", "X", "*")


def _rewrite_range(text: str) -> str:
    prog = compile_go(_RANGE_RE)
    out, b = text, _b(text)
    for m in _all(prog, b):
        whole, lo, hi = _s(m.group(0)), _s(m.group(1)), _s(m.group(11))
        out = out.replace(whole, f">= {lo}, <= {hi} ", 1)
    return out


def _all(prog, b: bytes):
    pos = 0
    while pos <= len(b):
        m = prog.search(b, pos)
        if m is None:
            return
        yield m
        pos = m.end() if m.end() > pos else pos + 1


def new_constraint(text: str) -> list[list[_Constraint]]:
    """NewConstraint: or-groups of and-ed constraints."""
    ors = []
    for part in _rewrite_range(text).split("||"):
        if _groups(_VALID_RE, part) is None:
            raise _CallError(f"improper constraint: {part}")
        found = [_s(m.group(0)) for m in _all(compile_go(_FIND_RE), _b(part))]
        ors.append([_Constraint(s) for s in (found or [part])])
    return ors


def semver(version: str) -> Version:
    return new_version(version)


def semver_compare(constraint: str, version: str) -> bool:
    ors = new_constraint(constraint)
    v = new_version(version)
    return any(all(c.check(v) for c in group) for group in ors)
