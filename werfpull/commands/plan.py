"""`werfpull plan`: from a checkout and a stages repository to a Plan."""

from __future__ import annotations

from dataclasses import dataclass, field

from werfpull import skopeo
from werfpull.dest import default_dest, local_stages, oci_blobs, parse_dest
from werfpull.plan import Plan
from werfpull.planner import Inventory, download_bytes, make_pulls, select, wanted_pulls
from werfpull.project import load_project
from werfpull.refs import parse_repo
from werfpull.registry import Remote


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


def make_plan(req: PlanRequest) -> Plan:
    repo = parse_repo(req.repo)
    if req.dest:
        dest, dest_reason = parse_dest(req.dest), "given with --dest"
    else:
        dest, dest_reason = default_dest()
    project = load_project(req.directory, req.config, req.registry)
    planned = project.select(req.images)
    signatures = [s.signature for image in planned for s in image.stages]
    remote = Remote(repo, req.registry, req.retries)
    inventory = Inventory(remote.existing(signatures, req.inventory),
                          local_stages(dest, repo, signatures, req.registry))
    images = select(planned, project.order, inventory, req.all_stages)
    wanted = wanted_pulls(images, req.all_stages)
    pulls = make_pulls(wanted, remote.manifests(list(wanted)))
    local_blobs = oci_blobs(dest.location) if dest.transport == "oci" else None
    return Plan(repo=repo.name, dest=dest.spec, dest_reason=dest_reason,
                registry=req.registry.to_json(), project=project.config.project,
                config_digest=project.config.digest, all_stages=req.all_stages, images=images,
                pulls=pulls, download=download_bytes(pulls, local_blobs),
                inventory=remote.strategy or req.inventory)
