"""`werfpull plan`: from a checkout and a stages repository to a Plan, nothing pulled."""

from __future__ import annotations

from werfpull.plan.make import PlanRequest, make_plan
from werfpull.plan.model import Plan


def plan(req: PlanRequest) -> Plan:
    return make_plan(req)
