"""Applying a reviewed cleanup plan: delete exactly its tags, by digest, or nothing.

Before anything is deleted the plan must still hold: the same repository, the same
config and git references (the keep set is computed from them), and every planned
tag still pointing to the planned manifest (a moved tag refuses the whole plan). A
manifest that any tag outside the plan points to now (a kept tag, or one pushed since
the plan) is never deleted: a registry deletes a manifest with all its tags. The tag
list is read again before each deletion, so a push that lands during the apply
protects its manifest too. The first deletion doubles as the probe of whether the
registry deletes at all: a refusal there leaves everything in place.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from werfpull.cleanup import registry as reg
from werfpull.cleanup.history import History
from werfpull.cleanup.model import CleanupPlan
from werfpull.config.load import render_config
from werfpull.errors import PlanError, RegistryError
from werfpull.inventory.registry import Remote
from werfpull.plan.planfile import check_repo
from werfpull.refs import parse_repo, sha256_digest
from werfpull.tools import skopeo


@dataclass
class CleanupOutcome:
    deleted: list[str] = field(default_factory=list)  # tags
    skipped: dict[str, str] = field(default_factory=dict)  # tag -> why it stayed
    manifests: int = 0  # manifests deleted

    def to_json(self) -> dict:
        return {"deleted": self.deleted, "skipped": self.skipped, "manifests": self.manifests}


def check_current(plan: CleanupPlan, path: str, *, repo: str | None, directory: str,
                  config: str | None, force: bool) -> None:
    """Refuse a plan for another repository, or whose keep set no longer holds."""
    check_repo(path, plan.repo, repo, "cleanup plan")
    if force:
        return
    history = History(directory, config, None)
    _, text = render_config(directory, config)
    if sha256_digest(text.encode("utf-8")) != plan.config_digest:
        raise PlanError(f"{path}: the keep set is stale: {history.config_path} changed since"
                        " the plan was made", hint="plan again")
    refs, _ = history.references()
    now = {f"{r.kind}:{r.name}": r.commit for r in refs}
    if now != plan.git_refs:
        moved = sorted(k for k in set(now) | set(plan.git_refs)
                       if now.get(k) != plan.git_refs.get(k))
        raise PlanError(f"{path}: the keep set is stale: git references moved since the plan"
                        f" was made ({', '.join(moved[:3])})", hint="plan again")


def apply_cleanup(plan: CleanupPlan, path: str, registry: skopeo.RegistryOptions,
                  retries: int = 2,
                  report: Callable[[str, str], None] = lambda tag, what: None
                  ) -> CleanupOutcome:
    remote = Remote(parse_repo(plan.repo), registry, retries)
    planned = {t.tag: t.digest for t in plan.delete}
    current = {t: m.digest for t, m in reg.manifests(remote, sorted(remote.list_tags())).items()}
    moved = [t for t, d in planned.items() if t in current and current[t] != d]
    if moved:
        raise PlanError(f"{path}: {len(moved)} planned tag(s) moved since the plan was made"
                        f" ({moved[0]} now points to {current[moved[0]][:19]}, the plan says"
                        f" {planned[moved[0]][:19]}); nothing was deleted", hint="plan again")
    outcome = CleanupOutcome()
    by_digest: dict[str, list[str]] = {}
    for tag, digest in planned.items():
        if tag not in current:
            outcome.skipped[tag] = "already gone"
        else:
            by_digest.setdefault(digest, []).append(tag)
    for digest, tags in by_digest.items():
        current = _refresh(remote, current)
        holders = sorted(t for t, d in current.items() if d == digest and t not in planned)
        if holders:
            for tag in tags:
                outcome.skipped[tag] = f"its manifest is also tagged {holders[0]}, which stays"
                report(tag, "kept")
            continue
        try:
            reg.delete(remote, digest)
        except RegistryError as exc:
            done = ("nothing was deleted" if not outcome.manifests else
                    f"{len(outcome.deleted)} tag(s) were deleted before it")
            exc.message = f"{exc.message}; {done}"
            raise
        outcome.manifests += 1
        for tag in tags:
            outcome.deleted.append(tag)
            current.pop(tag, None)
            report(tag, "deleted")
    return outcome


def _refresh(remote: Remote, known: dict[str, str]) -> dict[str, str]:
    """The tag list now; only tags not seen before are inspected (stage tags never move
    in practice, and a moved planned tag was refused above)."""
    tags = remote.list_tags()
    new = sorted(t for t in tags if t not in known)
    out = {t: d for t, d in known.items() if t in tags}
    if new:
        out.update({t: m.digest for t, m in reg.manifests(remote, new).items()})
    return out
