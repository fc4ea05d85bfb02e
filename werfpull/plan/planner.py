"""Pull selection (spec section 6): a pure function from signatures and inventory to a plan.

Owns which stage each image takes, which artifacts are needed, deduplication of shared
stages, the reviewer's reasons, and the bytes to download. The registry's and the
destination's answers come in as plain data; nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from werfpull.config.model import Image
from werfpull.inventory.model import Inventory, Manifest
from werfpull.plan.model import ImagePlan, Pull, StageState
from werfpull.refs import stage_tag
from werfpull.signatures.signer import ImageStages, Stage
from werfpull.signatures.stages import stage_names


@dataclass
class _Unit:
    """What is planned as an image of its own: an (image, platform) chain, or the part of
    one up to the stage an `import ... stage: S` names (spec section 6)."""

    chain: ImageStages
    upto: str | None = None  # None: the whole chain
    stages: list[Stage] = field(default_factory=list)

    def __post_init__(self):
        if not self.stages:
            self.stages = _truncated(self.chain, self.upto)


def select(planned: list[ImageStages], order: list[Image], inventory: Inventory,
           all_stages: bool, named=()) -> list[ImagePlan]:
    """One ImagePlan per planned chain (and per partial need of a stage import), in the
    order of `planned`. Images named by the user are needed even with `final: false`."""
    by_key = {s.key: _Unit(s) for s in planned}
    partial = {} if all_stages else _stage_import_units(planned, by_key)
    units = list(by_key.values()) + list(partial.values())
    chosen = {id(u): _last_present(u.stages, inventory) for u in units}
    rank = {image.name: i for i, image in enumerate(order)}
    needed: dict = {}
    # Consumers come after what they use in `order`; walk it backwards so that every
    # consumer is decided before the sources it uses.
    for unit in sorted(units, key=lambda u: rank[u.chain.image.name], reverse=True):
        image = unit.chain.image
        always = unit.upto is None and image.kind == "image" and (
            image.final or image.name in named)
        needed[id(unit)] = always or any(
            needed.get(id(consumer)) and _rebuilds(consumer, stage, chosen[id(consumer)])
            for consumer, stage in _consumers(unit, units, by_key, partial))
    return [_image_plan(u, chosen[id(u)], needed[id(u)], inventory, all_stages)
            for u in units]


def chains(planned: list[ImageStages], all_stages: bool) -> list[list[str]]:
    """The signature chains, first stage to last, that `select` looks along: each planned
    chain and each part of one a stage import needs. The inventory is asked along them
    from the end (inventory/survey.py)."""
    by_key = {s.key: _Unit(s) for s in planned}
    partial = {} if all_stages else _stage_import_units(planned, by_key)
    return [[s.signature for s in u.stages] for u in [*by_key.values(), *partial.values()]]


def to_check(planned: list[ImageStages], inventory: Inventory, all_stages: bool) -> list[str]:
    """The local stages whose content must be compared with the registry's manifest:
    those the plan could take (every stage with --all-stages, else each image's last
    present one) that are in the registry too. Only they cost a registry read."""
    out: dict[str, None] = {}
    for image in planned:
        k = _last_present(image.stages, inventory)
        picks = image.stages if all_stages else image.stages[k:k + 1] if k >= 0 else []
        for stage in picks:
            if inventory.local.get(stage.signature) and stage.signature in inventory.remote:
                out[stage.signature] = None
    return list(out)


def _truncated(chain: ImageStages, upto: str | None) -> list[Stage]:
    if upto is None:
        return list(chain.stages)
    order = stage_names(chain.image)
    return [s for s in chain.stages if order.index(s.name) <= order.index(upto)]


def _source_key(consumer: ImageStages, name, by_key: dict) -> tuple:
    """The source's chain for the consumer's platform, or its only chain (section 7)."""
    key = (name, consumer.platform)
    return key if key in by_key else (name, None)


def _stage_import_units(planned: list[ImageStages], by_key: dict) -> dict:
    units: dict = {}
    for chain in planned:
        for imp in chain.image.imports:
            if imp.source is None or imp.source_stage is None:
                continue
            key = _source_key(chain, imp.source, by_key)
            if key in by_key:
                unit = _Unit(by_key[key].chain, imp.source_stage)
                units.setdefault((key, len(unit.stages)), unit)
    return units


def _consumers(unit: _Unit, units: list, by_key: dict, partial: dict):
    """(consumer unit, consuming stage) of every use of `unit`'s chain, as far as the
    consumer's own stages go."""
    name = unit.chain.image.name
    for consumer in units:
        chain = consumer.chain
        if _source_key(chain, name, by_key) != unit.chain.key:
            continue
        for stage, source_stage in _consuming_stages(chain.image, name):
            if source_stage is None:
                target = by_key.get(unit.chain.key)
            else:
                cut = len(_truncated(unit.chain, source_stage))
                target = partial.get((unit.chain.key, cut))
            if target is unit:
                yield consumer, stage


def _rebuilds(consumer: _Unit, stage: str, chosen: int) -> bool:
    names = [s.name for s in consumer.stages]
    return stage in names and names.index(stage) > chosen


def _last_present(stages: list[Stage], inv: Inventory) -> int:
    """Index of the last stage present remotely or locally; -1 when none is."""
    for k in range(len(stages) - 1, -1, -1):
        sig = stages[k].signature
        if sig in inv.remote or sig in inv.local:
            return k
    return -1


def _consuming_stages(image: Image, source: str) -> list[tuple[str, str | None]]:
    """(stage of `image`, stage of the source it needs or None for all) per use."""
    uses = [("from", None)] if source in (image.from_image, image.from_artifact) else []
    uses += [(i.stage, i.source_stage) for i in image.imports if i.source == source]
    if image.dockerfile is not None and any(d.image == source
                                            for d in image.dockerfile.dependencies):
        uses.append(("dockerfile", None))  # a Dockerfile image consumes in its one stage
    return uses + [(d.stage, None) for d in image.dependencies if d.image == source]


def _image_plan(unit: _Unit, k: int, needed: bool, inv: Inventory,
                all_stages: bool) -> ImagePlan:
    stages = unit.chain
    states = [StageState(s.name, s.signature, _remote(s.signature, inv),
                         inv.holds(s.signature)) for s in unit.stages]
    where = {"platform": stages.platform, "upto": unit.upto}
    if all_stages:
        todo = sum(1 for s in states if s.remote and not s.local)
        missing = sum(1 for s in states if not s.remote)
        differ = sum(1 for s in states if s.signature in inv.differs)
        reason = (f"all stages: pulling {todo} of {len(states)} ({len(states) - todo - missing}"
                  f" already local, {missing} not in the registry"
                  + (f", {differ} whose local copy differs from the registry: pulling again"
                     if differ else "") + ")")
        return ImagePlan(stages.image.name, stages.image.kind, needed, states,
                         states[k].signature if k >= 0 else None, reason, **where)
    selected = states[k].signature if k >= 0 and needed else None
    return ImagePlan(stages.image.name, stages.image.kind, needed, states, selected,
                     _reason(states, k, needed, inv.differs,
                             stages.image.dockerfile is not None), **where)


def _remote(signature: str, inv: Inventory) -> bool | None:
    """Whether the registry has the stage; None when it was not asked (below the choice)."""
    if signature in inv.remote or inv.asked is None or signature in inv.asked:
        return signature in inv.remote
    return None


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
        user = image.name if image.platform is None else \
            f"{image.name or '(unnamed)'} [{image.platform}]"
        for stage in picks:
            pulls.setdefault(stage.signature, [stage.name])
            if user not in pulls[stage.signature][1:]:
                pulls[stage.signature].append(user)
    return pulls


def make_pulls(wanted: dict[str, list], manifests: dict[str, Manifest]) -> list[Pull]:
    return [Pull(tag=stage_tag(sig), signature=sig, stage=names[0],
                 digest=manifests[sig].digest, size=manifests[sig].size,
                 layers=[list(layer) for layer in manifests[sig].layers], images=names[1:])
            for sig, names in wanted.items()]


def download_bytes(pulls: list[Pull], local_blobs: set[str] | None,
                   shared: bool = True) -> int | None:
    """Bytes of distinct blobs to fetch; None when a manifest gave no sizes. Without
    `shared` (a destination whose copies reuse no blob) every pull counts whole."""
    if any(p.size is None for p in pulls):
        return None
    if not shared:
        return sum(p.size for p in pulls)
    seen = set(local_blobs or ())
    total = 0
    for pull in pulls:
        total += pull.size - sum(size for _, size in pull.layers)  # the manifest itself
        for digest, size in pull.layers:
            if digest not in seen:
                seen.add(digest)
                total += size
    return total

