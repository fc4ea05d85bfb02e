"""Every rendering for people: signatures, plans, progress lines and summaries.

The CLI prints what these return; nothing here prints or decides anything.
"""

from __future__ import annotations

import json
import re

from werfpull.plan.model import Plan
from werfpull.plan.planner import download_bytes
from werfpull.signatures.signer import ImageStages


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown size"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError


def image_label(kind: str, name: str | None, platform: str | None = None) -> str:
    label = "image (unnamed)" if name is None else f"{kind} {name}"
    return f"{label} [{platform}]" if platform is not None else label


def signatures_text(project: str, signed: list[ImageStages]) -> str:
    lines = [f"project {project}"]
    for s in signed:
        lines.append(image_label(s.image.kind, s.image.name, s.platform))
        lines += [f"  {st.name:<20} {st.signature}" for st in s.stages]
    return "\n".join(lines) + "\n"


def signatures_json(project: str, signed: list[ImageStages]) -> str:
    return json.dumps({"project": project, "images": [s.to_json() for s in signed]},
                      indent=2) + "\n"


def plan_text(plan: Plan) -> str:
    lines = [
        f"Plan for {plan.repo} (project {plan.project})",
        f"  destination {plan.dest} ({plan.dest_reason})",
        f"  {'all stages' if plan.all_stages else 'last valid stage per image'};"
        f" registry listed by {plan.inventory}; config {plan.config_digest[:19]}",
        "",
    ]
    pulled = {p.signature: p for p in plan.pulls}
    for image in plan.images:
        upto = f" (up to {image.upto}, for an import)" if image.upto else ""
        lines.append(f"{image_label(image.kind, image.name, image.platform)}{upto}:"
                     f" {image.reason}")
        if not image.needed and not plan.all_stages:
            continue
        for st in image.stages:
            marks = ("remote" if st.remote else "?" if st.remote is None else "-",
                     "local" if st.local else "-")
            arrow = "  <- pull" if st.signature in pulled else (
                "  <- selected" if st.signature == image.selected else "")
            lines.append(f"  {st.name:<20} {st.signature[:12]}  {marks[0]:<6} {marks[1]:<5}{arrow}")
    shared = [p for p in plan.pulls if len(p.images) > 1]
    if shared:
        lines += ["", "Shared stages, pulled once:"]
        lines += [f"  {p.stage} {p.signature[:12]} for "
                  f"{', '.join(n if n is not None else '(unnamed)' for n in p.images)}"
                  for p in shared]
    lines.append("")
    if plan.pulls:
        already = plan.total_size - plan.download if plan.download is not None else None
        lines.append(
            f"To pull: {len(plan.pulls)} stage{'s' if len(plan.pulls) != 1 else ''}, "
            f"{human_bytes(plan.download)} to download"
            + (f" ({human_bytes(already)} of {human_bytes(plan.total_size)} already local"
               " or shared)" if already else ""))
    else:
        lines.append("To pull: nothing")
    return "\n".join(lines) + "\n"


def announce(plan: Plan, dest: str) -> str:
    reason = plan.dest_reason if dest == plan.dest else "given with --dest"
    return f"destination {dest} ({reason}); {len(plan.pulls)} stage(s) to pull"


def outcome(plan: Plan, dest: str, result, fmt: str) -> str:
    """The summary of a pull or apply into `dest`, as text or JSON."""
    if fmt == "json":
        return json.dumps({"plan": plan.identity, "dest": dest, **result.to_json()},
                          indent=2) + "\n"
    return outcome_text(plan, result, dest)


def outcome_text(plan: Plan, outcome, dest: str | None = None) -> str:
    idle = sum(1 for i in plan.images if i.needed and not any(
        p.signature == i.selected for p in plan.pulls))

    # Stages that share layers carry them in each image; a copy fetches them once.
    distinct = download_bytes(outcome.pulled, None)
    size = human_bytes(outcome.bytes) + (
        f" of images, {human_bytes(distinct)} of distinct blobs"
        if distinct is not None and distinct != outcome.bytes else "")
    return (f"Pulled {len(outcome.pulled)} stage{'s' if len(outcome.pulled) != 1 else ''}"
            f" ({size}) in {outcome.seconds:.1f} s into {dest or plan.dest};"
            f" {len(outcome.skipped)} already local; {idle} image(s) with nothing to pull;"
            f" {outcome.retries} retries; {len(outcome.failed)} failed\n")


def event_line(event, verb: str = "pull") -> str | None:
    """One progress line for a transfer event; "pull" or "push" names the direction."""
    item = event.pull
    what = f"{item.stage} {item.signature[:12]}"
    size = f" ({human_bytes(item.size)})" if item.size is not None else ""
    if event.kind == "start" and event.attempt == 1:
        users = ", ".join(n if n is not None else "(unnamed)" for n in item.images)
        return f"{verb}ing {what}{size} for {users}"
    if event.kind == "done":
        rate = (f", {human_bytes(int(item.size / event.seconds))}/s"
                if item.size is not None and event.seconds else "")
        return f"{verb}ed  {what}{size} in {event.seconds:.1f} s{rate}"
    if event.kind == "retry":
        return f"retry {event.attempt} of {what} in {event.delay:.1f} s: {event.error}"
    if event.kind == "fail":
        return f"FAILED  {what}: {event.error}"
    if event.kind == "skip":
        return f"skipped {what}: already in the destination"
    return None


def script_written(path: str, plan: Plan) -> str:
    return f"wrote {path}: {len(plan.pulls)} stage(s), plan {plan.identity}"


def build_line(result) -> str | None:
    """The progress line of one stage the builder built or reused (none for the others)."""
    if result.action == "cached":
        return None
    timing = f" in {result.seconds:.1f} s" if result.action == "built" else ""
    return (f"{result.action:<6} {result.image or '(unnamed)'} {result.stage}"
            f" {result.signature[:12]}{timing}")


def build_summary(report: dict) -> str:
    built = [s for s in report["stages"] if s["action"] == "built"]
    reused = [s for s in report["stages"] if s["action"] == "reused"]
    return f"Built {len(built)} stage(s), reused {len(reused)}, in {report['seconds']:.1f} s\n"


def push_summary(outcome, repo: str) -> str:
    return (f"Pushed {len(outcome.pulled)} stage(s) in {outcome.seconds:.1f} s;"
            f" {len(outcome.skipped)} already in {repo}\n")


_TERMINAL_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


class ForTerminal:
    """A text stream to a terminal that shows control characters as `\\xNN`: a name
    holding ESC or CR must not recolour, move or erase what the user reads. Pipes and
    files get the bytes unchanged (a script written to stdout stays exact)."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(_TERMINAL_CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text))
        return len(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def for_terminal(stream):
    return ForTerminal(stream) if stream.isatty() else stream

def cleanup_plan_text(plan) -> str:
    """A cleanup plan for review: per reference what it keeps, then what goes."""
    lines = [f"Cleanup plan for {plan.repo} (project {plan.project}, config"
             f" {plan.config_digest[:19]})",
             f"  policy: {'werf default' if plan.policy.get('default') else 'werf.yaml'};"
             f" branches from {plan.branches_from}"]
    lines += [f"  note: {n}" for n in plan.notes]
    for ref in plan.references:
        lines.append(f"{ref.kind} {ref.name} ({ref.commit[:12]}): {ref.policy}")
        if not ref.kept:
            lines.append("  keeps nothing")
        for k in ref.kept:
            lines.append(f"  keeps {k.image or '~'} {k.signature[:12]} built at {k.commit[:12]}")
    lines.append(f"keep {len(plan.keep)} tag(s)")
    why: dict[str, int] = {}
    for t in plan.keep:
        reason = t.why.split(" (")[0] if t.why.startswith("created") else t.why
        why[reason] = why.get(reason, 0) + 1
    lines += [f"  {n:>4}  {w}" for w, n in sorted(why.items(), key=lambda kv: -kv[1])[:20]]
    lines.append(f"delete {len(plan.delete)} tag(s), {human_bytes(plan.freed)} freed"
                 " (after the registry's garbage collection)")
    lines += [f"  {t.tag}  {t.digest[:19]}  {human_bytes(t.size)}" for t in plan.delete]
    return "\n".join(lines) + "\n"


def cleanup_outcome(outcome, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(outcome.to_json(), indent=2) + "\n"
    lines = [f"deleted {len(outcome.deleted)} tag(s) ({outcome.manifests} manifest(s))"]
    lines += [f"  kept {tag}: {why}" for tag, why in sorted(outcome.skipped.items())]
    return "\n".join(lines) + "\n"


def host_cleanup_text(found, chosen, dry_run: bool) -> str:
    verb = "would remove" if dry_run else "removed"
    lines = [f"{len(found)} local stage(s) of this project, {verb} {len(chosen)}"
             f" ({human_bytes(sum(s.size for s in chosen))})"]
    lines += [f"  {verb} {s.name} ({human_bytes(s.size)}, {s.why})" for s in chosen]
    lines += [f"  kept {s.name}: {s.why}" for s in found if s.why and s not in chosen]
    return "\n".join(lines) + "\n"
