"""`werfpull pull`: plan, then copy the planned stages into the destination."""

from __future__ import annotations

from collections.abc import Callable

from werfpull.apply.pull import apply_plan
from werfpull.apply.transfer import DEFAULT_JOBS, Event, Outcome
from werfpull.errors import TransferFailed
from werfpull.plan.make import PlanRequest, make_plan
from werfpull.plan.model import Plan


def pull(req: PlanRequest, *, jobs: int = DEFAULT_JOBS,
         planned: Callable[[Plan], None] = lambda plan: None,
         report: Callable[[Event], None] = lambda e: None) -> tuple[Plan, Outcome]:
    """`planned` sees the plan before anything is copied (the CLI says what comes). The
    outcome's retries count the planning's too (each is said as it happens)."""
    retried: list[str] = []
    plan = make_plan(req, on_retry=retried.append)
    planned(plan)
    try:
        outcome = apply_plan(plan, registry=req.registry, jobs=jobs, retries=req.retries,
                             report=report, just_planned=True)
    except TransferFailed as exc:
        if exc.outcome is not None:
            exc.outcome.retries += len(retried)
        raise
    outcome.retries += len(retried)
    return plan, outcome
