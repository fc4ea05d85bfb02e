"""Text views for people: signatures and plans, as a reviewer reads them."""

from __future__ import annotations

from werfpull.plan import Plan
from werfpull.signatures import ImageStages


def human_bytes(n: int | None) -> str:
    if n is None:
        return "unknown size"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    raise AssertionError


def image_label(kind: str, name: str | None) -> str:
    return "image (unnamed)" if name is None else f"{kind} {name}"


def signatures_text(project: str, signed: list[ImageStages]) -> str:
    lines = [f"project {project}"]
    for s in signed:
        lines.append(image_label(s.image.kind, s.image.name))
        lines += [f"  {st.name:<20} {st.signature}" for st in s.stages]
    return "\n".join(lines) + "\n"


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
        lines.append(f"{image_label(image.kind, image.name)}: {image.reason}")
        if not image.needed and not plan.all_stages:
            continue
        for st in image.stages:
            marks = ("remote" if st.remote else "-", "local" if st.local else "-")
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


def outcome_text(plan: Plan, outcome) -> str:
    idle = sum(1 for i in plan.images if i.needed and not any(
        p.signature == i.selected for p in plan.pulls))
    from werfpull.planner import download_bytes

    # Stages that share layers carry them in each image; a copy fetches them once.
    distinct = download_bytes(outcome.pulled, None)
    size = human_bytes(outcome.bytes) + (
        f" of images, {human_bytes(distinct)} of distinct blobs"
        if distinct is not None and distinct != outcome.bytes else "")
    return (f"Pulled {len(outcome.pulled)} stage{'s' if len(outcome.pulled) != 1 else ''}"
            f" ({size}) in {outcome.seconds:.1f} s into {plan.dest};"
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
