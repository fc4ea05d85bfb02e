"""Pull selection (spec section 6): a pure function from signatures and inventory to a plan.

Owns which stage each image takes, which artifacts are needed, deduplication of shared
stages, the reviewer's reasons, and the bytes to download. The registry's and the
destination's answers come in as plain data; nothing here does I/O.
"""

from __future__ import annotations

from werfpull.config.model import Image
from werfpull.inventory.model import Inventory, Manifest
from werfpull.plan.model import ImagePlan, Pull, StageState
from werfpull.refs import stage_tag
from werfpull.signatures.signer import ImageStages


def select(planned: list[ImageStages], order: list[Image], inventory: Inventory,
           all_stages: bool) -> list[ImagePlan]:
    """One ImagePlan per planned image or artifact, in the order of `planned`."""
    by_name = {s.image.name: s for s in planned}
    chosen = {s.image.name: _last_present(s, inventory) for s in planned}
    needed: dict = {}
    # Consumers come after what they use in `order`; walk it backwards so that every
    # consumer is decided before the artifacts it uses.
    for image in reversed([i for i in order if i.name in by_name]):
        needed[image.name] = image.kind == "image" or _consumed_by_rebuild(
            image.name, by_name, chosen, needed)
    return [_image_plan(s, chosen[s.image.name], needed[s.image.name], inventory, all_stages)
            for s in planned]


def to_check(planned: list[ImageStages], inventory: Inventory, all_stages: bool) -> list[str]:
    """The local stages whose content must be compared with the registry's manifest:
    those the plan could take (every stage with --all-stages, else each image's last
    present one) that are in the registry too. Only they cost a registry read."""
    out: dict[str, None] = {}
    for image in planned:
        k = _last_present(image, inventory)
        picks = image.stages if all_stages else image.stages[k:k + 1] if k >= 0 else []
        for stage in picks:
            if inventory.local.get(stage.signature) and stage.signature in inventory.remote:
                out[stage.signature] = None
    return list(out)


def _last_present(stages: ImageStages, inv: Inventory) -> int:
    """Index of the last stage present remotely or locally; -1 when none is."""
    for k in range(len(stages.stages) - 1, -1, -1):
        sig = stages.stages[k].signature
        if sig in inv.remote or sig in inv.local:
            return k
    return -1


def _consumed_by_rebuild(artifact: str, by_name: dict, chosen: dict, needed: dict) -> bool:
    for consumer in by_name.values():
        if not needed.get(consumer.image.name):
            continue
        for stage_name in _consuming_stages(consumer.image, artifact):
            index = [s.name for s in consumer.stages].index(stage_name)
            if index > chosen[consumer.image.name]:
                return True
    return False


def _consuming_stages(image: Image, artifact: str) -> list[str]:
    stages = ["from"] if image.from_artifact == artifact else []
    if image.dockerfile is not None and any(d.image == artifact
                                            for d in image.dockerfile.dependencies):
        stages.append("dockerfile")  # a Dockerfile image consumes in its one build stage
    return stages + [i.stage for i in image.imports if i.artifact == artifact]


def _image_plan(stages: ImageStages, k: int, needed: bool, inv: Inventory,
                all_stages: bool) -> ImagePlan:
    states = [StageState(s.name, s.signature, s.signature in inv.remote,
                         inv.holds(s.signature)) for s in stages.stages]
    if all_stages:
        todo = sum(1 for s in states if s.remote and not s.local)
        missing = sum(1 for s in states if not s.remote)
        differ = sum(1 for s in states if s.signature in inv.differs)
        reason = (f"all stages: pulling {todo} of {len(states)} ({len(states) - todo - missing}"
                  f" already local, {missing} not in the registry"
                  + (f", {differ} whose local copy differs from the registry: pulling again"
                     if differ else "") + ")")
        return ImagePlan(stages.image.name, stages.image.kind, needed, states,
                         states[k].signature if k >= 0 else None, reason)
    selected = states[k].signature if k >= 0 and needed else None
    return ImagePlan(stages.image.name, stages.image.kind, needed, states, selected,
                     _reason(states, k, needed, inv.differs,
                             stages.image.dockerfile is not None))


def _reason(states: list[StageState], k: int, needed: bool, differs: set[str],
            dockerfile: bool = False) -> str:
    if not needed:
        return "not needed: every consumer is cached past the stage that uses it"
    if k < 0:
        if dockerfile:
            return "the Dockerfile's inputs changed since the last push: nothing to pull," \
                   " building from scratch"
        return "no stage in the registry or the destination: building from the base image"
    chosen = states[k]
    if chosen.signature in differs:
        return f"{chosen.name}: local copy differs from the registry: pulling again"
    if k == len(states) - 1:
        if chosen.local:
            return "up to date: the final stage is already local, nothing to pull"
        if dockerfile and chosen.name == "dockerfile":
            return "up to date in the registry: pulling dockerfile"
        return f"up to date in the registry: pulling the final stage {chosen.name}"
    changed = states[k + 1].name
    if chosen.local:
        return f"{changed} changed since the last push: {chosen.name} is already local," \
               " nothing to pull"
    return f"{changed} changed since the last push: pulling {chosen.name}"


def wanted_pulls(images: list[ImagePlan], all_stages: bool) -> dict[str, list]:
    """{signature: [stage name, image names...]} to pull, each signature once."""
    pulls: dict[str, list] = {}
    for image in images:
        if all_stages:
            picks = [s for s in image.stages if s.remote and not s.local]
        else:
            picks = [s for s in image.stages if s.signature == image.selected
                     and s.remote and not s.local]
        for stage in picks:
            pulls.setdefault(stage.signature, [stage.name])
            if image.name not in pulls[stage.signature][1:]:
                pulls[stage.signature].append(image.name)
    return pulls


def make_pulls(wanted: dict[str, list], manifests: dict[str, Manifest]) -> list[Pull]:
    return [Pull(tag=stage_tag(sig), signature=sig, stage=names[0],
                 digest=manifests[sig].digest, size=manifests[sig].size,
                 layers=[list(layer) for layer in manifests[sig].layers], images=names[1:])
            for sig, names in wanted.items()]


def download_bytes(pulls: list[Pull], local_blobs: set[str] | None) -> int | None:
    """Bytes of distinct blobs to fetch; None when a manifest gave no sizes."""
    if any(p.size is None for p in pulls):
        return None
    seen = set(local_blobs or ())
    total = 0
    for pull in pulls:
        total += pull.size - sum(size for _, size in pull.layers)  # the manifest itself
        for digest, size in pull.layers:
            if digest not in seen:
                seen.add(digest)
                total += size
    return total

