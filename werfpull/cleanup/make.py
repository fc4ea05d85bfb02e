"""Making a cleanup plan: from the checkout's history and the stages repository to the
tags a cleanup keeps and the tags it deletes.

Owns the order of the steps and the keep rules: the keep policy names, per reference
and image, the final signatures to keep (`scan.py`); every stage of that image and of
the images and artifacts it needs, at the commit it is kept for, is kept; then every
stage created within `keepImagesBuiltWithinLastNHours`; then every tag sharing a
manifest with a kept tag (a manifest is deleted by digest, with all its tags). Tags that
are not stage tags are never deleted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from werfpull.cleanup import registry as reg
from werfpull.cleanup.history import History, parse_meta_tolerant
from werfpull.cleanup.model import CleanupPlan, KeptImage, RefPlan, TagState
from werfpull.cleanup.policy import CleanupPolicy, read_policy, references_to_scan
from werfpull.cleanup.scan import Node, scan_reference
from werfpull.config.load import render_config
from werfpull.inventory.model import Manifest
from werfpull.inventory.registry import Remote
from werfpull.project import base_digest
from werfpull.refs import SIGNATURE_RE, STAGE_TAG_PREFIX, parse_repo
from werfpull.tools import skopeo


@dataclass
class CleanupRequest:
    repo: str
    directory: str = "."
    config: str | None = None
    registry: skopeo.RegistryOptions = skopeo.RegistryOptions()
    retries: int = 2
    now: float | None = None


def stage_signature(tag: str) -> str | None:
    sig = tag[len(STAGE_TAG_PREFIX):] if tag.startswith(STAGE_TAG_PREFIX) else ""
    return sig if SIGNATURE_RE.fullmatch(sig) else None


def make_cleanup_plan(req: CleanupRequest) -> CleanupPlan:
    repo = parse_repo(req.repo)
    now = time.time() if req.now is None else req.now
    path, text = render_config(req.directory, req.config)
    config, docs = parse_meta_tolerant(text, path)
    policy = read_policy(docs[0], path)
    history = History(req.directory, req.config, _memo(base_digest(req.registry)))
    refs, branches_from = history.references()
    remote = Remote(repo, req.registry, req.retries)
    found = reg.manifests(remote, sorted(remote.list_tags()))
    notes = [f"branch and tag patterns are matched with {policy.regex_engine}"]
    plan = CleanupPlan(repo=repo.name, registry=req.registry.to_json(),
                       project=config.project, config_digest=config.digest, made_at=now,
                       policy=policy.to_json(), branches_from=branches_from,
                       git_refs={f"{r.kind}:{r.name}": r.commit for r in refs},
                       references=[], keep=[], delete=[], freed=None, notes=notes)
    if policy.disabled or not policy.git_history:
        notes.append("cleanup is disabled in werf.yaml" if policy.disabled else
                     "disableGitHistoryBasedPolicy: no stage is deleted by git history")
        plan.keep = [TagState(t, m.digest, "cleanup disabled", m.size) for t, m in found.items()]
        return plan
    keep_why = _keep_by_history(history, refs, policy, found, now, plan)
    _classify(remote, policy, found, keep_why, now, plan)
    return plan


def _keep_by_history(history: History, refs, policy: CleanupPolicy,
                     found: dict[str, Manifest], now: float, plan: CleanupPlan) -> dict:
    """{signature: why it is kept}; fills the plan's per-reference records."""
    selected = references_to_scan(refs, policy, now)
    commits = history.commits([r.commit for r in selected])
    graph = {c.sha: Node(c.time, c.parents) for c in commits}
    wanted = _reachable([r.commit for r in selected if r.kind == "branch"], graph)
    wanted |= {r.commit for r in selected if r.kind == "tag"}
    signed = history.sign_all(commits, wanted)
    problems = {s.problem for s in signed.values() if s.problem}
    skipped = sum(1 for s in signed.values() if s.problem)
    if skipped:
        plan.notes.append(f"{skipped} of {len(signed)} commits have no stages: "
                          + "; ".join(sorted(problems)[:3]))
    present = {stage_signature(t) for t in found} - {None}
    expected: dict[str, dict[str, list[str]]] = {}  # image -> final signature -> commits
    for sha, s in signed.items():
        for name, stages in s.images.items():
            if stages.image.kind == "image" and getattr(stages.image, "final", True) \
                    and stages.final in present:
                expected.setdefault(name, {}).setdefault(stages.final, []).append(sha)
    keep_why: dict[str, str] = {}
    for ref in selected:
        record = RefPlan(ref.name, ref.kind, ref.commit, ref.policy)
        for name in sorted(expected, key=str):
            for final, commit in sorted(scan_reference(ref, graph, expected[name], now).items(),
                                        key=lambda kv: -graph[kv[1]].time):
                record.kept.append(KeptImage(name, final, commit))
                why = f"{name or '~'} at {commit[:12]} ({ref.kind} {ref.name})"
                for needed in signed[commit].needs[name]:
                    for stage in signed[commit].images[needed].stages:
                        keep_why.setdefault(stage.signature, why)
        plan.references.append(record)
    return keep_why


def _classify(remote: Remote, policy: CleanupPolicy, found: dict[str, Manifest],
              keep_why: dict, now: float, plan: CleanupPlan) -> None:
    candidates = []
    for tag, manifest in found.items():
        sig = stage_signature(tag)
        if sig is None:
            plan.keep.append(TagState(tag, manifest.digest, "not a stage tag", manifest.size))
        elif sig in keep_why:
            plan.keep.append(TagState(tag, manifest.digest, keep_why[sig], manifest.size))
        else:
            candidates.append(TagState(tag, manifest.digest, "no kept commit needs it",
                                       manifest.size))
    candidates = _spare_shared(candidates, plan)
    recent = policy.keep_seconds
    born = reg.created(remote, {t.tag: found[t.tag] for t in candidates}) \
        if recent and candidates else {}
    doomed = []
    for state in candidates:
        state.created = born.get(state.tag)
        if recent is not None and state.created is not None and now - state.created <= recent:
            age = max(0, int((now - state.created) // 60))
            state.why = (f"created {age} min ago (within keepImagesBuiltWithinLastNHours="
                         f"{policy.keep_hours})")
            plan.keep.append(state)
        else:
            doomed.append(state)
    plan.delete = _spare_shared(doomed, plan)
    plan.keep.sort(key=lambda t: t.tag)
    plan.delete.sort(key=lambda t: t.tag)
    plan.freed = freed_bytes(found, {t.tag for t in plan.delete})


def _spare_shared(states: list[TagState], plan: CleanupPlan) -> list[TagState]:
    """Those of `states` whose manifest no kept tag has; the others join the kept ones:
    deleting a manifest deletes every tag that points to it."""
    kept_by_digest = {t.digest: t.tag for t in plan.keep}
    out = []
    for state in states:
        if state.digest in kept_by_digest:
            state.why = f"shares its manifest with the kept tag {kept_by_digest[state.digest]}"
            plan.keep.append(state)
        else:
            out.append(state)
    return out


def freed_bytes(found: dict[str, Manifest], deleted: set[str]) -> int:
    """Bytes of the manifests and blobs only deleted tags use: what the registry's garbage
    collection can then free. Blobs of an index's children are not counted."""
    kept_blobs = {b for t, m in found.items() if t not in deleted for b, _ in m.layers}
    kept_digests = {m.digest for t, m in found.items() if t not in deleted}
    blobs: dict[str, int] = {}
    manifests: dict[str, int] = {}
    for tag in deleted:
        m = found[tag]
        if m.digest in kept_digests:
            continue
        manifests[m.digest] = (m.size or 0) - sum(s for _, s in m.layers)
        for blob, size in m.layers:
            if blob not in kept_blobs:
                blobs[blob] = size
    return sum(blobs.values()) + sum(manifests.values())


def _reachable(heads: list[str], graph: dict[str, Node]) -> set[str]:
    seen: set[str] = set()
    todo = [h for h in heads if h in graph]
    while todo:
        sha = todo.pop()
        if sha in seen:
            continue
        seen.add(sha)
        todo.extend(p for p in graph[sha].parents if p in graph)
    return seen


def _memo(fn):
    cache: dict = {}

    def wrapped(arg):
        if arg not in cache:
            cache[arg] = fn(arg)
        return cache[arg]
    return wrapped
