"""Making a plan: signatures and inventory gathered at the edges, then the pure planner.

Owns the order of the planning steps (project, destination, registry, selection) for
one request; everything it decides is decided in `planner.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from werfpull.destinations import default_dest, parse_dest
from werfpull.inventory import ledger
from werfpull.inventory.local import differing, local_stages
from werfpull.inventory.model import Inventory
from werfpull.inventory.registry import Remote
from werfpull.inventory.survey import survey
from werfpull.plan.model import Plan
from werfpull.plan.planner import (
    chains,
    download_bytes,
    make_pulls,
    select,
    to_check,
    wanted_pulls,
)
from werfpull.project import load_project
from werfpull.refs import parse_repo
from werfpull.tools import skopeo


@dataclass
class PlanRequest:
    repo: str
    images: list[str] = field(default_factory=list)
    directory: str = "."
    config: str | None = None
    all_stages: bool = False
    dest: str | None = None
    registry: skopeo.RegistryOptions = field(default_factory=skopeo.RegistryOptions)
    inventory: str = "auto"  # auto | probe | list
    retries: int = 2
    platforms: list[str] = field(default_factory=list)  # narrow to these (--platform)


def make_plan(req: PlanRequest,
              on_retry: Callable[[str], None] = lambda line: None) -> Plan:
    """The plan for `req`; `on_retry` hears of each registry read retried meanwhile."""
    repo = parse_repo(req.repo)
    if req.dest:
        dest, dest_reason = parse_dest(req.dest), "given with --dest"
    else:
        dest, dest_reason = default_dest()
    project = load_project(req.directory, req.config, req.registry)
    planned = project.select(req.images, req.platforms)
    signatures = [s.signature for image in planned for s in image.stages]
    # The destination first: a daemon that is down fails the plan before any registry call.
    local = local_stages(dest, repo, signatures, req.registry)
    remote = Remote(repo, req.registry, req.retries, on_retry)
    # Stages this destination got from werfpull and still holds as they landed need no
    # registry read; any other local stage is checked against the registry's manifest.
    found = survey(chains(planned, req.all_stages), ledger.unchanged(dest, local), remote,
                   req.inventory, req.all_stages)
    inventory = Inventory(found.remote, local, asked=found.asked)
    inventory.differs = differing(dest, inventory.local,
                                  remote.manifests(to_check(planned, inventory, req.all_stages)))
    images = select(planned, project.order, inventory, req.all_stages, req.images)
    wanted = wanted_pulls(images, req.all_stages)
    pulls = make_pulls(wanted, remote.manifests(list(wanted)))
    return Plan(repo=repo.name, dest=dest.spec, dest_reason=dest_reason,
                registry=req.registry.to_json(), project=project.config.project,
                config_digest=project.config.digest, all_stages=req.all_stages, images=images,
                pulls=pulls, download=download_bytes(pulls, dest.blobs(), dest.reuses_blobs),
                inventory=found.strategy)
