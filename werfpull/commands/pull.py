"""`werfpull pull` and `werfpull apply`: make the planned stages local."""

from __future__ import annotations

import os
from collections.abc import Callable

from werfpull import skopeo
from werfpull.commands.plan import PlanRequest, make_plan
from werfpull.config import find_config, load_config
from werfpull.dest import parse_dest
from werfpull.errors import ConfigError, PlanError, TransferFailed, UsageError
from werfpull.plan import Plan
from werfpull.refs import parse_repo
from werfpull.transfer import DEFAULT_JOBS, DEFAULT_RETRIES, Applier, Event, Outcome


def check_fresh(plan: Plan, path: str, *, repo: str | None, directory: str,
                config: str | None, force: bool) -> None:
    """Refuse a plan made for another repository or an older state of the config."""
    if repo is not None and parse_repo(repo).name != plan.repo:
        raise PlanError(f"{path}: the plan is for {plan.repo}, not {repo}",
                        hint="plan again for this repository")
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


def apply_plan(plan: Plan, *, dest: str | None = None,
               registry: skopeo.RegistryOptions | None = None, jobs: int = DEFAULT_JOBS,
               retries: int = DEFAULT_RETRIES,
               report: Callable[[Event], None] = lambda e: None) -> Outcome:
    """Copy exactly the plan's stages; raises TransferFailed when some did not land."""
    if jobs < 1 or retries < 0:
        raise UsageError("--jobs must be at least 1 and --retries at least 0")
    given = registry or skopeo.RegistryOptions()
    planned = skopeo.RegistryOptions.from_json(plan.registry)
    opts = skopeo.RegistryOptions(insecure=given.insecure or planned.insecure,
                                  skip_tls_verify=given.skip_tls_verify or planned.skip_tls_verify,
                                  authfile=given.authfile, timeout=given.timeout)
    applier = Applier(plan, parse_dest(dest or plan.dest), opts, jobs=jobs, retries=retries,
                      report=report)
    outcome = applier.run()
    if outcome.failed:
        first = outcome.failed[0][1]
        raise TransferFailed(
            f"{len(outcome.failed)} of {len(plan.pulls)} stages failed, first: {first}",
            hint="the others landed; run again to retry the failed ones").with_outcome(outcome)
    return outcome


def pull(req: PlanRequest, *, jobs: int = DEFAULT_JOBS,
         report: Callable[[Event], None] = lambda e: None) -> tuple[Plan, Outcome]:
    plan = make_plan(req)
    return plan, apply_plan(plan, registry=req.registry, jobs=jobs, retries=req.retries,
                            report=report)
