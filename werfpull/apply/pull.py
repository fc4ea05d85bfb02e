"""The pull direction: planned stages from the stages repository into a destination.

Copies go by the digest the plan recorded, so a tag moved after planning cannot
change what lands; each landed stage is checked the destination's way and its name
removed when it is wrong.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from werfpull.apply.transfer import (
    DEFAULT_JOBS,
    DEFAULT_RETRIES,
    MAX_RETRIES,
    Event,
    Outcome,
    Transfer,
)
from werfpull.destinations import Destination, parse_dest
from werfpull.errors import DaemonError, RegistryError, TransferFailed, UsageError
from werfpull.inventory import ledger
from werfpull.inventory.http import Fallback
from werfpull.inventory.registry import PROBE_JOBS, Remote
from werfpull.plan.model import Plan, Pull
from werfpull.plan.verify import registry_options
from werfpull.refs import Repo, stage_tag
from werfpull.tools import process, skopeo
from werfpull.tools.registry_errors import classify, is_absent


def copy_argv(repo: Repo, pull: Pull, dest: Destination, opts: skopeo.RegistryOptions, *,
              digestfile: str | None = None, staged: bool = True) -> list[str]:
    """The skopeo copy of one planned stage: from the digest the plan recorded to where
    the destination stages it (its name, except in an OCI layout: `commit` publishes).

    The generated script, which copies one stage at a time, makes the `staged=False`
    call (script/render.py builds it from skopeo.copy with the same sides).
    """
    target, side = (dest.copy_target(repo, pull.signature, opts) if staged
                    else (dest.ref(repo, pull.signature), dest.side(opts)))
    return skopeo.copy(
        f"docker://{repo.digested(pull.digest)}", target,
        src_side=opts.side, dest_side=side,
        preserve_digests=dest.preserves_digests, digestfile=digestfile)


@dataclass
class PullInto:
    """A Direction: from the plan's repository into `dest`."""

    repo: Repo
    dest: Destination
    opts: skopeo.RegistryOptions
    check_tags: bool = False  # apply of a saved plan: the tag must still be the plan's
    _remote: Remote | None = field(default=None, init=False, repr=False)
    _tags: process.Ahead | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        if self.check_tags:  # one client for every copy's check: its connections are kept
            # No retries here: the transfer retries a transient error itself.
            self._remote = Remote(self.repo, self.opts, retries=0)

    @property
    def max_jobs(self) -> int | None:
        return self.dest.max_jobs

    @property
    def timeout(self) -> float | None:
        return self.opts.timeout

    @property
    def retried(self) -> int:
        return self._remote.retried if self._remote is not None else 0

    def present(self, pulls: list[Pull]) -> set[str]:
        """The pulls the destination holds with the planned content; a stage held with
        other content is copied again, which replaces it."""
        held = self.dest.present(self.repo, [p.signature for p in pulls], self.opts)
        out = set()
        for pull in pulls:
            want = self.dest.local_id(pull.digest, _config(pull))
            if pull.signature in held and (want is None or held[pull.signature] in (want, None)):
                out.add(pull.signature)
        return out

    def start(self, pulls: list[Pull]) -> None:
        """Every tag read at once, in copy order, before any copy: a copy then waits for
        one HEAD request at most, the first copy for its own only."""
        if self.check_tags:
            self._tags = process.Ahead(self._read_ahead, [p.signature for p in pulls],
                                       PROBE_JOBS)

    def _read_ahead(self, signature: str) -> str | None | object:
        """Over HTTP only: where skopeo must answer (or refuses), each copy asks for its
        own, so that a refusal stops the run after one process, not one per stage."""
        try:
            return self._remote.digest_over_http(stage_tag(signature))
        except Fallback:
            return _ASK

    def argv(self, pull: Pull, digestfile: str) -> list[str]:
        return copy_argv(self.repo, pull, self.dest, self.opts, digestfile=digestfile)

    def before(self, pull: Pull) -> Exception | None:
        """A tag that points elsewhere than the plan says: retagged since the plan, or the
        plan was edited to carry another real digest. The tag's digest is read before
        copying (read ahead by `start`, asked again on a retry: an HTTP HEAD where it
        can answer, inventory/http.py); a tag that is gone is left to the copy, which
        goes by digest."""
        if not self.check_tags:
            return None
        try:
            served = self._tags.take(pull.signature) if self._tags is not None else _ASK
            if served is _ASK:
                served = self._remote.digest_at(stage_tag(pull.signature))
        except (RegistryError, InterruptedError) as exc:
            return exc
        if served is None or served == pull.digest:
            return None
        return RegistryError(
            f"{self.repo.tagged(pull.signature)} points to {served}, the plan says"
            f" {pull.digest}: retagged since the plan (or the plan was edited); not copied",
            registry=self.repo.host, hint="plan again, or pass --force to apply it as it is")

    def landed(self, pull: Pull, ok: bool) -> None:
        if ok:
            self.dest.commit(self.repo, pull.signature)
        else:
            self.dest.discard(self.repo, pull.signature)

    def copy_error(self, pull: Pull, result: process.Result) -> Exception:
        failure = self.dest.failure(result)
        if failure is not None:
            return failure
        what = f"{pull.stage} {self.repo.tagged(pull.signature)}"
        if is_absent(result.stderr):
            return RegistryError(
                f"{self.repo.host}: {what}: digest {pull.digest} is no longer in the registry",
                registry=self.repo.host, hint="it was deleted or overwritten; plan again")
        return classify(result, self.repo.host, what)

    def verify(self, pull: Pull, written: str) -> Exception | None:
        try:
            problem = self.dest.verify(self.repo, pull.signature, pull.digest, _config(pull),
                                       written)
        except DaemonError as exc:
            return exc
        if problem is None:
            return None
        self.dest.untag(self.repo, pull.signature, self.opts)
        return RegistryError(
            f"{self.dest.ref(self.repo, pull.signature)}: {problem}; the name was removed",
            registry=self.repo.host, hint="the registry served other content; plan again")


_ASK = object()  # a tag not read ahead: the copy's thread asks for it


def _config(pull: Pull) -> str | None:
    """The config blob's digest (the docker image ID), first of the plan's layers."""
    return pull.layers[0][0] if pull.layers else None


def apply_plan(plan: Plan, *, dest: Destination | str | None = None,
               registry: skopeo.RegistryOptions | None = None, jobs: int = DEFAULT_JOBS,
               retries: int = DEFAULT_RETRIES, check_tags: bool = False,
               report: Callable[[Event], None] = lambda e: None,
               just_planned: bool = False) -> Outcome:
    """Copy exactly the plan's stages; raises TransferFailed when some did not land.

    `just_planned`: this process made the plan a moment ago from a listing of the
    destination, so the stages are not looked up there again."""
    if jobs < 1 or not 0 <= retries <= MAX_RETRIES:
        raise UsageError(f"--jobs must be at least 1 and --retries from 0 to {MAX_RETRIES}")
    if not isinstance(dest, Destination):
        dest = parse_dest(dest or plan.dest)
    direction = PullInto(Repo(plan.repo), dest, registry_options(plan, registry), check_tags)
    outcome = Transfer(plan.pulls, direction, jobs=jobs, retries=retries, report=report,
                       check_present=not just_planned).run()
    # Checked on landing (or found with the planned content): a rerun may trust them.
    ledger.record(dest, {p.signature: dest.local_id(p.digest, _config(p))
                         for p in outcome.pulled + outcome.skipped})
    if outcome.failed:
        first = outcome.failed[0][1]
        raise TransferFailed(
            f"{len(outcome.failed)} of {len(plan.pulls)} stages failed, first: {first}",
            hint=("the others landed; " if outcome.pulled or outcome.skipped else "")
            + "run again to retry the failed ones").with_outcome(outcome)
    return outcome
