"""werf's cleanup keep policy: the `cleanup` section of the meta document, and which git
references it keeps images for.

Owns reading that section (werf's keys, defaults and checks: pkg/config/raw_meta_cleanup.go,
with every mistake named by file, line and key), werf's default policy when
`keepPolicies` is absent, and werf's selection of references
(pkg/cleaning/git_history_based_cleanup/reference_to_scan.go), including its quirks: a
reference several policies select gets the `imagesPerReference` of the last of them.
Branch and tag patterns are Go regular expressions; they are compiled with RE2 (the
google-re2 package) when it is installed, which has Go's syntax, else with Python's
`re`, which accepts a superset (lookarounds, backreferences) and differs in a few
escapes. Pure: time comes in as `now`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from werfpull.config.yamldoc import Document
from werfpull.errors import ConfigError

try:  # Go's regexp is RE2; Python's re is the fallback (see the module docstring)
    import re2 as _re2

    _RE2_OPTIONS = _re2.Options()
    _RE2_OPTIONS.log_errors = False
except ImportError:  # pragma: no cover - depends on the host
    _re2 = None

DEFAULT_KEEP_HOURS = 2
AND, OR = "And", "Or"
HOUR = 3600.0
DAY = 24 * HOUR
_KEYS = ("disable", "disableKubernetesBasedPolicy", "disableGitHistoryBasedPolicy",
         "disableBuiltWithinLastNHoursPolicy", "keepPolicies", "keepImagesBuiltWithinLastNHours")
_UNITS = {"ns": 1e-9, "us": 1e-6, "\u00b5s": 1e-6, "\u03bcs": 1e-6, "ms": 1e-3, "s": 1.0,
          "m": 60.0, "h": HOUR}
_DURATION_PART = re.compile(r"([0-9]*(?:\.[0-9]*)?)([a-z\u00b5\u03bc]+)")


@dataclass(frozen=True)
class Limit:
    """`limit` of references or `imagesPerReference`; None fields take werf's defaults."""

    last: int | None = None
    within: float | None = None  # `in`, in seconds
    operator: str | None = None
    default_last: int = 1

    @property
    def count(self) -> int:
        return self.default_last if self.last is None else self.last

    @property
    def op(self) -> str:
        return self.operator or AND

    def describe(self) -> str:
        parts = [f"in={_human(self.within)}"] if self.within is not None else []
        return " ".join(parts + [f"last={self.count}", f"operator={self.op}"])


@dataclass(frozen=True)
class KeepPolicy:
    kind: str  # "branch" or "tag"
    pattern: str  # as written in werf.yaml
    regex: object = field(compare=False)
    limit: Limit | None = None  # of references; None: every matching reference
    images: Limit = Limit()  # imagesPerReference; werf keeps one image by default

    def describe(self) -> str:
        text = f"{self.kind}={self.pattern}"
        if self.limit is not None:
            text += f" limit={{{self.limit.describe()}}}"
        return text + f" imagesPerReference={{{self.images.describe()}}}"


@dataclass(frozen=True)
class CleanupPolicy:
    keep_policies: tuple[KeepPolicy, ...]
    keep_hours: int = DEFAULT_KEEP_HOURS
    disabled: bool = False
    git_history: bool = True
    built_within: bool = True
    is_default: bool = True  # werf's default keep policies (no keepPolicies in werf.yaml)
    regex_engine: str = "re2" if _re2 else "python-re"

    @property
    def keep_seconds(self) -> float | None:
        """How recent a stage's creation keeps it; None when that rule is off."""
        if not self.built_within or self.keep_hours == 0:
            return None
        return self.keep_hours * HOUR

    def to_json(self) -> dict:
        return {"default": self.is_default, "disabled": self.disabled,
                "git_history": self.git_history,
                "keep_hours": None if self.keep_seconds is None else self.keep_hours,
                "regex_engine": self.regex_engine,
                "keep_policies": [p.describe() for p in self.keep_policies]}


def compile_go_regex(source: str):
    """werf's processRegexpString: `/RE/` is a regex, anything else a literal; anchored."""
    if len(source) >= 2 and source.startswith("/") and source.endswith("/"):
        body = source[1:-1]
    else:
        body = re.escape(source) if _re2 is None else _re2.escape(source)
    expr = f"^{body}$"
    if _re2 is not None:
        return _re2.compile(expr, _RE2_OPTIONS)
    return re.compile(expr)


def default_policies() -> tuple[KeepPolicy, ...]:
    """werf's policies when werf.yaml has none (reference_to_scan.go)."""
    week = 7 * DAY
    return (
        KeepPolicy("tag", "/.*/", compile_go_regex("/.*/"), Limit(10, default_last=-1)),
        KeepPolicy("branch", "/.*/", compile_go_regex("/.*/"), Limit(10, week, AND, -1),
                   Limit(2, week, AND)),
        KeepPolicy("branch", "/^(main|master|staging|production)$/",
                   compile_go_regex("/^(main|master|staging|production)$/"), None, Limit(10)),
    )


# -- reading the section ---------------------------------------------------------------


class _Reader:
    def __init__(self, doc: Document, path: str):
        self.doc, self.path = doc, path

    def error(self, at: tuple, message: str) -> ConfigError:
        key = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in at)
        return ConfigError(message, file=self.path, line=self.doc.line_of(at),
                           document=f"document {self.doc.index} (meta)",
                           key=key.replace(".[", "["))

    def mapping(self, at: tuple, value, keys: tuple[str, ...]) -> dict:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(at, "must be a mapping")
        for key in value:
            if key not in keys:
                raise self.error(at + (key,), f"unknown key {key!r} (known: {', '.join(keys)})")
        return value

    def boolean(self, at: tuple, value) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(at, f"must be true or false, not {value!r}")
        return value

    def integer(self, at: tuple, value, minimum: int | None = None) -> int | None:
        if value is None:
            return None
        if type(value) is not int or (minimum is not None and value < minimum):
            floor = f" of at least {minimum}" if minimum is not None else ""
            raise self.error(at, f"must be an integer{floor}, not {value!r}")
        return value

    def duration(self, at: tuple, value) -> float | None:
        if value is None:
            return None
        seconds = parse_duration(value) if isinstance(value, str) else None
        if seconds is None:
            raise self.error(at, f"must be a Go duration such as '168h' or '30m', not {value!r}")
        return seconds

    def limit(self, at: tuple, value, default_last: int) -> Limit:
        data = self.mapping(at, value, ("last", "in", "operator"))
        operator = data.get("operator")
        if operator is not None and operator not in (AND, OR):
            raise self.error(at + ("operator",), f"unsupported value {operator!r} for"
                             " 'operator: Or|And'")
        return Limit(self.integer(at + ("last",), data.get("last")),
                     self.duration(at + ("in",), data.get("in")), operator, default_last)

    def keep_policy(self, i: int, value) -> KeepPolicy:
        at = ("cleanup", "keepPolicies", i)
        data = self.mapping(at, value, ("references", "imagesPerReference"))
        if data.get("references") is None:
            raise self.error(at, "cleanup keep policy must have references section")
        ref_at = at + ("references",)
        refs = self.mapping(ref_at, data["references"], ("tag", "branch", "limit"))
        tag, branch = refs.get("tag"), refs.get("branch")
        for name, text in (("tag", tag), ("branch", branch)):
            if text is not None and not isinstance(text, str):
                raise self.error(ref_at + (name,), f"must be a string, not {text!r}")
        if not tag and not branch:
            raise self.error(ref_at, "tag 'tag: string|REGEX' or branch 'branch: string|REGEX'"
                             " required for cleanup keep policy")
        if tag and branch:
            raise self.error(ref_at, "specify only tag or branch for cleanup keep policy")
        kind, pattern = ("branch", branch) if branch else ("tag", tag)
        try:
            regex = compile_go_regex(pattern)
        except Exception as exc:  # re.error and re2's Error share no base class
            raise self.error(ref_at + (kind,), f"invalid value {pattern!r} for {kind!r}:"
                             f" {_regex_problem(exc)}") from None
        limit = None if refs.get("limit") is None else self.limit(
            ref_at + ("limit",), refs["limit"], -1)
        images = self.limit(at + ("imagesPerReference",), data.get("imagesPerReference"), 1)
        return KeepPolicy(kind, pattern, regex, limit, images)


def read_policy(doc: Document, path: str) -> CleanupPolicy:
    """The keep policy of the meta document `doc` (werf's defaults when it has none)."""
    r = _Reader(doc, path)
    meta = doc.data if isinstance(doc.data, dict) else {}
    data = r.mapping(("cleanup",), meta.get("cleanup"), _KEYS)
    raw = data.get("keepPolicies")
    if raw is not None and not isinstance(raw, list):
        raise r.error(("cleanup", "keepPolicies"), "must be a list of keep policies")
    policies = tuple(r.keep_policy(i, p) for i, p in enumerate(raw or []))
    hours = r.integer(("cleanup", "keepImagesBuiltWithinLastNHours"),
                      data.get("keepImagesBuiltWithinLastNHours"), 0)
    return CleanupPolicy(
        keep_policies=policies or default_policies(),
        keep_hours=DEFAULT_KEEP_HOURS if hours is None else hours,
        disabled=r.boolean(("cleanup", "disable"), data.get("disable")),
        git_history=not r.boolean(("cleanup", "disableGitHistoryBasedPolicy"),
                                  data.get("disableGitHistoryBasedPolicy")),
        built_within=not r.boolean(("cleanup", "disableBuiltWithinLastNHoursPolicy"),
                                   data.get("disableBuiltWithinLastNHoursPolicy")),
        is_default=not policies)


def parse_duration(text: str) -> float | None:
    """Go's time.ParseDuration, in seconds; None when `text` is not a duration."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    total, pos = 0.0, 0
    while pos < len(body):
        m = _DURATION_PART.match(body, pos)
        if not m or m.group(1) in ("", ".") or m.group(2) not in _UNITS:
            return None
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not body:
        return None
    return -total if text.startswith("-") else total


def _regex_problem(exc: Exception) -> str:
    msg = exc.args[0] if exc.args else str(exc)
    return msg.decode("utf-8", "replace") if isinstance(msg, bytes) else str(msg)


def _human(seconds: float) -> str:
    for unit, size in (("d", DAY), ("h", HOUR), ("m", 60.0)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


# -- which references the policy keeps images for ---------------------------------------


@dataclass
class Reference:
    name: str  # the short name the patterns match: "main", "v1.0"
    kind: str  # "branch" or "tag"
    commit: str
    created: int  # werf's CreatedAt: tagger time, else the head commit's committer time
    images: Limit | None = None  # set by the last policy that selects this reference
    policy: str = ""  # that policy, described


def references_to_scan(refs: list[Reference], policy: CleanupPolicy,
                       now: float) -> list[Reference]:
    """The references the keep policies select, each with its `imagesPerReference`:
    branches first, then tags, each newest first (werf's order)."""
    branches = [r for r in refs if r.kind == "branch"]
    tags = [r for r in refs if r.kind == "tag"]
    kept_branches: list[Reference] = []
    kept_tags: list[Reference] = []
    for keep in policy.keep_policies:
        pool, result = (branches, kept_branches) if keep.kind == "branch" else (tags, kept_tags)
        chosen = _limit_refs([r for r in pool if keep.regex.search(r.name)], keep.limit, now)
        for ref in chosen:
            ref.images, ref.policy = keep.images, keep.describe()
            if not any(ref is k for k in result):
                result.append(ref)
    kept_branches.sort(key=lambda r: -r.created)
    kept_tags.sort(key=lambda r: -r.created)
    return kept_branches + kept_tags


def _limit_refs(refs: list[Reference], limit: Limit | None, now: float) -> list[Reference]:
    if limit is None:
        return refs
    by_in = refs if limit.within is None else [
        r for r in refs if r.created > now - limit.within]
    by_last = sorted(refs, key=lambda r: -r.created)
    if limit.count >= 0:
        by_last = by_last[:limit.count]
    if limit.op == OR:
        return by_in + [r for r in by_last if not any(r is x for x in by_in)]
    return [r for r in by_in if any(r is x for x in by_last)]
