"""`werfpull cleanup plan|apply`: plan which registry stages a keep policy no longer
needs, then delete exactly the planned tags."""

from __future__ import annotations

from collections.abc import Callable

from werfpull.cleanup.apply import CleanupOutcome, apply_cleanup, check_current
from werfpull.cleanup.make import CleanupRequest, make_cleanup_plan
from werfpull.cleanup.model import CleanupPlan, load_cleanup_plan
from werfpull.tools import skopeo


def plan(req: CleanupRequest) -> CleanupPlan:
    return make_cleanup_plan(req)


def apply(path: str, *, registry: skopeo.RegistryOptions, retries: int = 2,
          repo: str | None = None, directory: str = ".", config: str | None = None,
          force: bool = False, report: Callable[[str, str], None] = lambda t, w: None
          ) -> tuple[CleanupPlan, CleanupOutcome]:
    loaded = load_cleanup_plan(path)
    check_current(loaded, path, repo=repo, directory=directory, config=config, force=force)
    planned = skopeo.RegistryOptions.from_json(loaded.registry)
    opts = skopeo.RegistryOptions(insecure=registry.insecure or planned.insecure,
                                  skip_tls_verify=registry.skip_tls_verify
                                  or planned.skip_tls_verify,
                                  authfile=registry.authfile, timeout=registry.timeout)
    return loaded, apply_cleanup(loaded, path, opts, retries, report)
