"""`werfpull push`: send the local stages a stages repository lacks, so others can pull."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from werfpull import process, skopeo
from werfpull.commands.build import default_repo
from werfpull.dest import Destination, parse_dest, storage_names
from werfpull.errors import RegistryError, ServerError, TransferFailed, UsageError
from werfpull.plan import Plan, Pull
from werfpull.project import load_project
from werfpull.refs import Repo, parse_repo, stage_tag
from werfpull.registry import Remote, classify
from werfpull.transfer import DEFAULT_JOBS, DEFAULT_RETRIES, Applier, Event, Outcome


class Pusher(Applier):
    """An Applier whose copies go from local storage to the registry."""

    local_names: dict  # signature -> local name

    def present(self) -> dict[str, str | None]:
        remote = Remote(self.repo, self.opts)
        return {s: None for s in remote.existing([p.signature for p in self.plan.pulls])}

    def argv(self, pull: Pull, digestfile: str) -> list[str]:
        return skopeo.copy(
            f"containers-storage:{self.dest.location}{self.local_names[pull.signature]}",
            f"docker://{self.repo.tagged(pull.signature)}",
            dest_tls_verify=self.opts.tls_verify, authfile=self.opts.authfile,
            preserve_digests=False, digestfile=digestfile)

    def _copy_error(self, pull: Pull, result: process.Result) -> Exception:
        what = f"{pull.stage} {self.repo.tagged(pull.signature)}"
        if "blob unknown" in result.stderr.lower():
            # docker-registry 2.8 rewrites a layer's link file in place when two of our
            # parallel pushes upload the same layer; a manifest checked at that moment
            # names the layer unknown. Transient: pushing again finds the layer.
            return ServerError(f"{self.repo.host}: a layer of {what} was briefly unknown"
                               " (a parallel push was linking it)", registry=self.repo.host)
        # Not the Applier's reading of "manifest unknown": that one is about pulls.
        return classify(result, self.repo.host, what)

    def verify(self, pull: Pull, written: str) -> Exception | None:
        # Pushing compresses layers, so the registry's digest is new: check that the tag
        # now serves exactly the manifest skopeo wrote.
        ref = f"docker://{self.repo.tagged(pull.signature)}"
        result = process.run(skopeo.inspect_raw(ref, tls_verify=self.opts.tls_verify,
                                                authfile=self.opts.authfile))
        if not result.ok:
            return classify(result, self.repo.host, ref)
        served = "sha256:" + hashlib.sha256(result.stdout).hexdigest()
        if served != written:
            return RegistryError(f"{ref} serves {served} after pushing {written}",
                                 registry=self.repo.host)
        return None


def local_names(dest: Destination, repos: list[Repo]) -> dict[str, str]:
    """{signature: local name} of every stage image in the store, under any of `repos`."""
    names = {}
    for name in storage_names(dest):
        for repo in repos:
            prefix = f"{repo.name}:image-stage-"
            if name.startswith(prefix):
                names.setdefault(name[len(prefix):], name)
    return names


def push(repo_text: str, names: list[str], *, directory: str = ".", config: str | None = None,
         storage: str = "containers-storage", registry: skopeo.RegistryOptions | None = None,
         jobs: int = DEFAULT_JOBS, retries: int = DEFAULT_RETRIES,
         report: Callable[[Event], None] = lambda e: None) -> Outcome:
    repo = parse_repo(repo_text)
    dest = parse_dest(storage)
    if dest.transport != "containers-storage":
        raise UsageError(f"--storage {storage!r}: push reads from containers-storage")
    opts = registry or skopeo.RegistryOptions()
    project = load_project(directory, config, opts)
    local = local_names(dest, [repo, parse_repo(default_repo(project.config.project))])
    pulls: dict[str, Pull] = {}
    for image in project.select(names):
        for stage in image.stages:
            if stage.signature in local:
                pull = pulls.setdefault(stage.signature, Pull(
                    stage_tag(stage.signature), stage.signature, stage.name, "", None, [], []))
                pull.images.append(image.image.name)
    plan = Plan(repo=repo.name, dest=dest.spec, dest_reason="push", registry=opts.to_json(),
                project=project.config.project, config_digest=project.config.digest,
                all_stages=True, images=[], pulls=list(pulls.values()), download=None)
    pusher = Pusher(plan, dest, opts, jobs=jobs, retries=retries, report=report)
    pusher.local_names = local
    outcome = pusher.run()
    if outcome.failed:
        raise TransferFailed(f"{len(outcome.failed)} of {len(pulls)} stages failed to push,"
                             f" first: {outcome.failed[0][1]}",
                             hint="rerun to push the rest").with_outcome(outcome)
    return outcome

