"""Plan files: the strict reading of a plan from disk, and whether it still holds.

A tampered, truncated or foreign plan is refused before anything runs, with the field
named; a plan made for another repository or an older config is refused as stale.
"""

from __future__ import annotations

import json
import os

from werfpull.config.load import find_config, load_config
from werfpull.destinations import parse_dest
from werfpull.errors import ConfigError, PlanError, UsageError
from werfpull.plan.model import FORMAT, ImagePlan, Plan, Pull, StageState
from werfpull.refs import DIGEST_RE, SIGNATURE_RE, name_problem, parse_repo, stage_tag
from werfpull.signatures.stages import ARTIFACT, BY_NAME, IMAGE

# A plan of 100,000 stages is about 60 MB; anything larger is not one werfpull wrote.
MAX_PLAN_BYTES = 256 * 2**20


def load_plan(path: str) -> Plan:
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_PLAN_BYTES + 1)
    except OSError as exc:
        raise PlanError(f"{path}: cannot read the plan: {exc.strerror or exc}") from None
    if len(raw) > MAX_PLAN_BYTES:
        raise PlanError(f"{path}: not a plan (over {MAX_PLAN_BYTES // 2**20} MiB)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PlanError(f"{path}: not a plan (not UTF-8: byte {exc.start})",
                        hint="the file was damaged or is something else; plan again") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PlanError(f"{path}: not a plan (invalid JSON at line {exc.lineno}: {exc.msg})",
                        hint="the file is truncated or was edited; plan again") from None
    except RecursionError:
        raise PlanError(f"{path}: not a plan (JSON nested too deep)",
                        hint="the file was edited; plan again") from None
    return plan_from_json(data, path)


def plan_from_json(data, path: str = "plan") -> Plan:
    check = _Checker(path)
    check.type("", data, dict)
    if data.get("kind") == "werfpull-cleanup":
        raise PlanError(f"{path}: this is a cleanup plan, not a pull plan",
                        hint="apply it with `werfpull cleanup apply`")
    if data.get("format") != FORMAT:
        raise PlanError(f"{path}: plan format {data.get('format')!r} is not {FORMAT}",
                        hint="plan again with this werfpull")
    repo = check.field(data, "repo", str)
    try:
        parse_repo(repo)
    except UsageError:
        raise check.bad("repo", "is not a valid repository reference") from None
    for key in ("dest", "dest_reason", "project", "config_digest", "tool"):
        check.name(key, check.field(data, key, str))
    _check_dest(check, data["dest"])
    if not DIGEST_RE.fullmatch(data["config_digest"]):
        raise check.bad("config_digest", "is not a sha256 digest")
    registry = check.field(data, "registry", dict)
    for key, value in registry.items():
        if key not in ("insecure", "skip_tls_verify") or not isinstance(value, bool):
            raise check.bad(f"registry.{key}", "is not a known boolean registry option")
    images = [_image(check, i, raw) for i, raw in enumerate(check.field(data, "images", list))]
    pulls = [_pull(check, i, raw) for i, raw in enumerate(check.field(data, "pulls", list))]
    seen: dict[str, int] = {}
    for i, pull in enumerate(pulls):
        if pull.signature in seen:
            raise check.bad(f"pulls[{i}].signature", f"repeats pulls[{seen[pull.signature]}]")
        seen[pull.signature] = i
    download = data.get("download")
    if download is not None and not _count(download):
        raise check.bad("download", "is not a byte count")
    return Plan(repo=repo, dest=data["dest"], dest_reason=data["dest_reason"],
                registry=registry, project=data["project"],
                config_digest=data["config_digest"],
                all_stages=check.field(data, "all_stages", bool), images=images, pulls=pulls,
                download=download, inventory=_inventory(check, data),
                tool=data["tool"])


def _inventory(check, data: dict) -> str:
    inventory = data.get("inventory", "auto")
    if inventory not in ("auto", "probe", "list"):
        raise check.bad("inventory", "is not auto, probe or list")
    return inventory


def _count(value) -> bool:
    """A byte count a registry can declare: OCI sizes are int64."""
    return type(value) is int and 0 <= value < 2**63


def _check_dest(check, dest: str) -> None:
    try:
        parse_dest(dest)
    except UsageError as exc:
        raise check.bad("dest", f"is not a destination ({exc.message})") from None


def _image(check, i: int, raw) -> ImagePlan:
    at = f"images[{i}]"
    check.type(at, raw, dict)
    name = raw.get("name")
    if name is not None and not isinstance(name, str):
        raise check.bad(f"{at}.name", "is not a string or null")
    check.name(f"{at}.name", name)
    if check.field(raw, "kind", str, at) not in (IMAGE, ARTIFACT):
        raise check.bad(f"{at}.kind", "is neither 'image' nor 'artifact'")
    check.name(f"{at}.reason", check.field(raw, "reason", str, at))
    stages = []
    for j, st in enumerate(check.field(raw, "stages", list, at)):
        sat = f"{at}.stages[{j}]"
        check.type(sat, st, dict)
        sig = check.field(st, "signature", str, sat)
        if not SIGNATURE_RE.fullmatch(sig):
            raise check.bad(f"{sat}.signature", "is not 64 lower-case hex digits")
        check.stage(f"{sat}.name", check.field(st, "name", str, sat))
        stages.append(StageState(st["name"], sig,
                                 st.get("remote"), st.get("local")))
    selected = raw.get("selected")
    if selected is not None and not (
            isinstance(selected, str) and SIGNATURE_RE.fullmatch(selected)):
        raise check.bad(f"{at}.selected", "is not a signature or null")
    return ImagePlan(name, check.field(raw, "kind", str, at), check.field(raw, "needed", bool, at),
                     stages, selected, check.field(raw, "reason", str, at),
                     **_where(check, raw, at))


def _where(check, raw: dict, at: str) -> dict:
    """The optional `platform` and `upto` of an image entry (absent in older plans)."""
    platform, upto = raw.get("platform"), raw.get("upto")
    if "platform" in raw and not (isinstance(platform, str) and platform):
        raise check.bad(f"{at}.platform", "is not a platform name")
    if "upto" in raw and upto not in BY_NAME:
        raise check.bad(f"{at}.upto", "is not a stage name")
    return {"platform": platform, "upto": upto}


def _pull(check, i: int, raw) -> Pull:
    at = f"pulls[{i}]"
    check.type(at, raw, dict)
    sig = check.field(raw, "signature", str, at)
    if not SIGNATURE_RE.fullmatch(sig):
        raise check.bad(f"{at}.signature", "is not 64 lower-case hex digits")
    if check.field(raw, "tag", str, at) != stage_tag(sig):
        raise check.bad(f"{at}.tag", "does not match its signature")
    if not DIGEST_RE.fullmatch(check.field(raw, "digest", str, at)):
        raise check.bad(f"{at}.digest", "is not a sha256 digest")
    size = raw.get("size")
    if size is not None and not _count(size):
        raise check.bad(f"{at}.size", "is not a byte count")
    layers = check.field(raw, "layers", list, at)
    for j, layer in enumerate(layers):
        if not (isinstance(layer, list) and len(layer) == 2 and isinstance(layer[0], str)
                and DIGEST_RE.fullmatch(layer[0]) and _count(layer[1])):
            raise check.bad(f"{at}.layers[{j}]", "is not [sha256 digest, size]")
    images = check.field(raw, "images", list, at)
    if any(n is not None and not isinstance(n, str) for n in images):
        raise check.bad(f"{at}.images", "holds something other than image names")
    for j, n in enumerate(images):
        check.name(f"{at}.images[{j}]", n)
    check.stage(f"{at}.stage", check.field(raw, "stage", str, at))
    return Pull(raw["tag"], sig, check.field(raw, "stage", str, at), raw["digest"], size,
                layers, images)


class _Checker:
    def __init__(self, path: str):
        self.path = path

    def bad(self, field_name: str, problem: str) -> PlanError:
        return PlanError(f"{self.path}: field {field_name!r} {problem}",
                         hint="the plan was edited or damaged; plan again")

    def name(self, at: str, value) -> None:
        problem = name_problem(value)
        if problem:
            raise self.bad(at, problem)

    def stage(self, at: str, value: str) -> None:
        if value not in BY_NAME:
            raise self.bad(at, "is not a stage name")

    def type(self, at: str, value, kind) -> None:
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.bad(at or "(top level)", f"is not a {kind.__name__}")

    def field(self, data: dict, key: str, kind, at: str = ""):
        name = f"{at}.{key}" if at else key
        if key not in data:
            raise self.bad(name, "is missing")
        self.type(name, data[key], kind)
        return data[key]


def check_repo(path: str, planned: str, repo: str | None, what: str = "plan") -> None:
    """Refuse a plan (`what`: a pull or a cleanup plan) made for another repository
    than the one `--repo` names."""
    if repo is not None and parse_repo(repo).name != planned:
        raise PlanError(f"{path}: the {what} is for {planned}, not {repo}",
                        hint="plan again for this repository")


def check_fresh(plan: Plan, path: str, *, repo: str | None, directory: str,
                config: str | None, force: bool) -> None:
    """Refuse a plan made for another repository or an older state of the config."""
    check_repo(path, plan.repo, repo)
    if force:
        return
    try:
        current = load_config(directory, config)
    except ConfigError as exc:
        try:
            find_config(directory, config)
        except ConfigError:
            raise PlanError(
                f"{path}: no werf.yaml in {os.path.abspath(directory)} to check the plan against",
                hint="pass --dir to the checkout, or --force to apply it unchecked") from None
        raise exc
    if current.digest != plan.config_digest:
        raise PlanError(f"{path}: the plan is stale: {current.path} changed since it was made"
                        f" ({plan.config_digest[:19]} then, {current.digest[:19]} now)",
                        hint="plan again, or pass --force to apply it as it is")
