"""`werfpull apply`: copy exactly what a saved, reviewed plan lists, once the plan is
fresh and its signatures are the checkout's; each tag must still point to its digest."""

from __future__ import annotations

from collections.abc import Callable

from werfpull.apply.pull import apply_plan
from werfpull.apply.transfer import DEFAULT_JOBS, DEFAULT_RETRIES, Event, Outcome
from werfpull.destinations import Destination, parse_dest
from werfpull.plan.model import Plan
from werfpull.plan.planfile import check_fresh, load_plan
from werfpull.plan.verify import check_signatures, registry_options
from werfpull.project import load_project
from werfpull.tools import skopeo


def apply(path: str, *, dest: str | None = None, repo: str | None = None, force: bool = False,
          directory: str = ".", config: str | None = None,
          registry: skopeo.RegistryOptions | None = None, jobs: int = DEFAULT_JOBS,
          retries: int = DEFAULT_RETRIES,
          report: Callable[[Event], None] = lambda e: None,
          loaded: Callable[[Plan, Destination], None] = lambda plan, dest: None,
          ) -> tuple[Plan, Destination, Outcome]:
    """The plan, the destination it went into (`--dest` or the plan's), and the outcome."""
    plan = load_plan(path)
    check_fresh(plan, path, repo=repo, directory=directory, config=config, force=force)
    opts = registry_options(plan, registry, path)
    if not force:
        check_signatures(plan, path, load_project(directory, config, opts).signed)
    target = parse_dest(dest or plan.dest)
    loaded(plan, target)
    return plan, target, apply_plan(plan, dest=target, registry=registry, jobs=jobs,
                                    retries=retries, check_tags=not force, report=report)
