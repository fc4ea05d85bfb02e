"""`werfpull script`: a standalone POSIX sh pull script, from a fresh or a saved plan."""

from __future__ import annotations

from werfpull.errors import UsageError
from werfpull.plan.make import PlanRequest, make_plan
from werfpull.plan.model import Plan
from werfpull.plan.planfile import load_plan
from werfpull.script.render import render


def script(req: PlanRequest | None = None, plan_file: str | None = None) -> tuple[Plan, str]:
    if (req is None) == (plan_file is None):
        raise UsageError("give either REPO (to plan now) or --plan PLAN.json, not both")
    plan = load_plan(plan_file) if plan_file else make_plan(req)
    return plan, render(plan)
