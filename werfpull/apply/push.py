"""The push direction: local stages into the stages repository, so that others can pull.

Pushing compresses layers, so the registry's digest is new: each push is checked by
reading back the manifest the tag now serves. A stage whose `werfpull.signature` label
(set by the builder) names another signature than its tag is never pushed: its
content is not what its name promises, and the registry would spread it to every host.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field

from werfpull.apply.transfer import DEFAULT_JOBS, DEFAULT_RETRIES, Event, Outcome, Transfer
from werfpull.destinations import ContainersStorage, parse_dest
from werfpull.errors import RegistryError, ServerError, TransferFailed, UsageError
from werfpull.inventory.registry import Remote, manifest_digest
from werfpull.plan.model import Pull
from werfpull.project import default_repo, load_project
from werfpull.refs import Repo, parse_repo, stage_tag
from werfpull.tools import process, skopeo
from werfpull.tools.registry_errors import classify


@dataclass
class PushFrom:
    """A Direction: from a containers-storage into `repo`."""

    repo: Repo
    store: ContainersStorage
    opts: skopeo.RegistryOptions
    local_names: dict  # signature -> the stage's name in the store
    max_jobs = None
    _remote: Remote | None = field(default=None, init=False, repr=False)

    @property
    def timeout(self) -> float | None:
        return self.opts.timeout

    @property
    def retried(self) -> int:
        return self._remote.retried if self._remote is not None else 0

    def present(self, pulls: list[Pull]) -> set[str]:
        self._remote = Remote(self.repo, self.opts)
        return self._remote.existing([p.signature for p in pulls])

    def argv(self, pull: Pull, digestfile: str) -> list[str]:
        return skopeo.copy(
            f"containers-storage:{self.store.location}{self.local_names[pull.signature]}",
            f"docker://{self.repo.tagged(pull.signature)}", dest_side=self.opts.side,
            preserve_digests=False, digestfile=digestfile)

    def start(self, pulls: list[Pull]) -> None:
        """Nothing to read ahead: `present` asked the registry for every stage."""

    def before(self, pull: Pull) -> Exception | None:
        return None

    def landed(self, pull: Pull, ok: bool) -> None:
        """Nothing to publish: a registry shows a pushed tag at once."""

    def copy_error(self, pull: Pull, result: process.Result) -> Exception:
        what = f"{pull.stage} {self.repo.tagged(pull.signature)}"
        if "blob unknown" in result.stderr.lower():
            # docker-registry 2.8 rewrites a layer's link file in place when two of our
            # parallel pushes upload the same layer; a manifest checked at that moment
            # names the layer unknown. Transient: pushing again finds the layer.
            return ServerError(f"{self.repo.host}: a layer of {what} was briefly unknown"
                               " (a parallel push was linking it)", registry=self.repo.host)
        # Not the pull direction's reading of "manifest unknown": that one is about pulls.
        return classify(result, self.repo.host, what)

    def verify(self, pull: Pull, written: str) -> Exception | None:
        ref = self.repo.tagged(pull.signature)
        try:
            served = manifest_digest(ref, self.repo.host, self.opts, f"docker://{ref}")
        except RegistryError as exc:
            return exc
        if served != written:
            return RegistryError(f"docker://{ref} serves {served} after pushing {written}",
                                 registry=self.repo.host)
        return None


def local_names(store: ContainersStorage, repos: list[Repo]) -> dict[str, str]:
    """{signature: local name} of every stage image in the store, under any of `repos`."""
    names = {}
    for name in store.images():
        for repo in repos:
            prefix = f"{repo.name}:image-stage-"
            if name.startswith(prefix):
                names.setdefault(name[len(prefix):], name)
    return names


def mislabelled(store: ContainersStorage, names: dict[str, str]) -> dict[str, str]:
    """{signature: why} of the stages ({signature: local name}) whose builder's label
    names another signature. A stage without the label (not built by werfpull) passes."""
    def one(item: tuple[str, str]) -> str | None:
        sig, name = item
        result = process.run(skopeo.inspect_config(f"containers-storage:{store.location}{name}"))
        if not result.ok:
            return None  # the copy reads it again and reports its own error
        labels = (json.loads(result.stdout).get("config") or {}).get("Labels") or {}
        built = labels.get("werfpull.signature")
        if built and built != sig:
            return (f"{name} holds the stage built as {built} (its werfpull.signature label):"
                    " its content does not match its name; not pushed")
        return None

    found = process.parallel(one, list(names.items()), 8)
    return {sig: why for sig, why in zip(names, found, strict=True) if why}


def push(repo_text: str, names: list[str], *, directory: str = ".", config: str | None = None,
         storage: str = "containers-storage", registry: skopeo.RegistryOptions | None = None,
         jobs: int = DEFAULT_JOBS, retries: int = DEFAULT_RETRIES,
         report: Callable[[Event], None] = lambda e: None) -> Outcome:
    repo = parse_repo(repo_text)
    store = parse_dest(storage)
    if not isinstance(store, ContainersStorage):
        raise UsageError(f"--storage {storage!r}: push reads from containers-storage")
    opts = registry or skopeo.RegistryOptions()
    project = load_project(directory, config, opts)
    local = local_names(store, [repo, parse_repo(default_repo(project.config.project))])
    pulls: dict[str, Pull] = {}
    for image in project.select(names):
        for stage in image.stages:
            if stage.signature in local:
                pull = pulls.setdefault(stage.signature, Pull(
                    stage_tag(stage.signature), stage.signature, stage.name, "", None, [], []))
                pull.images.append(image.image.name)
    refused = mislabelled(store, {sig: local[sig] for sig in pulls})
    direction = PushFrom(repo, store, opts, local)
    outcome = Transfer([p for p in pulls.values() if p.signature not in refused], direction,
                       jobs=jobs, retries=retries, report=report).run()
    for sig, why in refused.items():
        outcome.failed.append((pulls[sig], why))
        report(Event("fail", pulls[sig], error=why))
    if outcome.failed:
        raise TransferFailed(f"{len(outcome.failed)} of {len(pulls)} stages failed to push,"
                             f" first: {outcome.failed[0][1]}",
                             hint="rerun to push the rest").with_outcome(outcome)
    return outcome
