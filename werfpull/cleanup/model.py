"""The cleanup plan: a versioned JSON record of what a cleanup keeps, why, and what it
deletes, and the strict reading of one back from disk.

A plan names every stage tag it deletes with the manifest digest it had when planned,
the git references (and the config digest) the keep set was computed from, and every
kept tag with its digest; `apply` refuses a plan when any of that moved.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from werfpull import __version__
from werfpull.errors import PlanError
from werfpull.refs import DIGEST_RE, STAGE_TAG_PREFIX, TAG_RE, sha256_digest

FORMAT = 1
KIND = "werfpull-cleanup"


@dataclass
class KeptImage:
    image: str
    signature: str  # the image's final stage
    commit: str  # the commit it is kept for (its latest one on the reference)


@dataclass
class RefPlan:
    name: str
    kind: str  # branch or tag
    commit: str
    policy: str  # the keep policy that selected it, as werf describes one
    kept: list[KeptImage] = field(default_factory=list)


@dataclass
class TagState:
    tag: str
    digest: str
    why: str
    size: int | None = None
    created: float | None = None  # Unix seconds, from the image config's `created`


@dataclass
class CleanupPlan:
    repo: str
    registry: dict
    project: str
    config_digest: str
    made_at: float
    policy: dict
    branches_from: str  # "origin" (werf's remote branches) or "local"
    git_refs: dict  # every reference considered: name -> commit
    references: list[RefPlan]
    keep: list[TagState]
    delete: list[TagState]
    freed: int | None  # bytes of blobs no remaining manifest uses
    notes: list[str] = field(default_factory=list)
    format: int = FORMAT
    kind: str = KIND
    tool: str = __version__

    def to_json(self) -> dict:
        data = asdict(self)
        order = ["format", "kind", "tool", "repo", "registry", "project", "config_digest",
                 "made_at", "policy", "branches_from", "git_refs", "notes", "freed",
                 "references", "delete", "keep"]
        return {k: data[k] for k in order}

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @property
    def identity(self) -> str:
        canon = json.dumps(self.to_json(), sort_keys=True, separators=(",", ":"))
        return sha256_digest(canon.encode())


def load_cleanup_plan(path: str) -> CleanupPlan:
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan: {exc.strerror}") from None
    except ValueError as exc:
        raise PlanError(f"{path}: not a cleanup plan (invalid JSON: {exc})",
                        hint="the file is truncated or was edited; plan again") from None
    return plan_from_json(data, path)


def plan_from_json(data, path: str) -> CleanupPlan:
    def bad(name: str, problem: str) -> PlanError:
        return PlanError(f"{path}: field {name!r} {problem}",
                         hint="the plan was edited or damaged; plan again")

    if not isinstance(data, dict) or data.get("kind") != KIND:
        raise PlanError(f"{path}: not a cleanup plan (kind is not {KIND!r})",
                        hint="`werfpull apply` takes pull plans; cleanup plans come from"
                             " `werfpull cleanup plan --out`")
    if data.get("format") != FORMAT:
        raise PlanError(f"{path}: cleanup plan format {data.get('format')!r} is not {FORMAT}",
                        hint="plan again with this werfpull")
    kinds = {"repo": str, "registry": dict, "project": str, "config_digest": str,
             "made_at": (int, float), "policy": dict, "branches_from": str, "git_refs": dict,
             "references": list, "keep": list, "delete": list, "notes": list}
    for key, kind in kinds.items():
        if not isinstance(data.get(key), kind) or isinstance(data.get(key), bool):
            raise bad(key, "is missing or of the wrong type")
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in data["git_refs"].items()):
        raise bad("git_refs", "is not a map of reference names to commits")
    tags = {"keep": [_tag(bad, f"keep[{i}]", t) for i, t in enumerate(data["keep"])],
            "delete": [_tag(bad, f"delete[{i}]", t) for i, t in enumerate(data["delete"])]}
    refs = []
    for i, raw in enumerate(data["references"]):
        try:
            refs.append(RefPlan(raw["name"], raw["kind"], raw["commit"], raw["policy"],
                                [KeptImage(**k) for k in raw["kept"]]))
        except (TypeError, KeyError):
            raise bad(f"references[{i}]", "is not a reference record") from None
    freed = data.get("freed")
    if freed is not None and (type(freed) is not int or freed < 0):
        raise bad("freed", "is not a byte count")
    return CleanupPlan(repo=data["repo"], registry=data["registry"], project=data["project"],
                       config_digest=data["config_digest"], made_at=float(data["made_at"]),
                       policy=data["policy"], branches_from=data["branches_from"],
                       git_refs=data["git_refs"], references=refs, keep=tags["keep"],
                       delete=tags["delete"], freed=freed, notes=list(data["notes"]),
                       tool=str(data.get("tool", "")))


def _tag(bad, at: str, raw) -> TagState:
    if not isinstance(raw, dict):
        raise bad(at, "is not a tag record")
    tag, digest = raw.get("tag"), raw.get("digest")
    if not isinstance(tag, str) or not TAG_RE.fullmatch(tag):
        raise bad(f"{at}.tag", "is not a tag")
    if at.startswith("delete") and not tag.startswith(STAGE_TAG_PREFIX):
        raise bad(f"{at}.tag", "is not a stage tag: cleanup deletes nothing else")
    if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
        raise bad(f"{at}.digest", "is not a sha256 digest")
    size, created = raw.get("size"), raw.get("created")
    if size is not None and (type(size) is not int or size < 0):
        raise bad(f"{at}.size", "is not a byte count")
    if created is not None and (not isinstance(created, (int, float)) or isinstance(created, bool)):
        raise bad(f"{at}.created", "is not a time")
    return TagState(tag, digest, str(raw.get("why", "")), size,
                    None if created is None else float(created))
