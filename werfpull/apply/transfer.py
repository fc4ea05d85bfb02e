"""Verified parallel copies in one direction: the engine under pull, apply and push.

Owns running copies in parallel, retries with exponential backoff and jitter, the
check of each copy, and stopping the skopeo children on an interrupt. What is copied
from where to where, and how a copy is checked, is the `Direction`'s (`pull.py`,
`push.py`). Progress goes to a reporter callback, never to a terminal directly.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

from werfpull.errors import DaemonError, RegistryError, TLSError, Unauthorized
from werfpull.inventory.registry import backoff
from werfpull.plan.model import Pull
from werfpull.tools import process
from werfpull.tools.registry_errors import is_transient

# Measured in docs/benchmarks.md ("Parallel copies"): over loopback 2 to 8 copies are
# within a few percent of each other; over a link capped per connection, 4 copies are
# 2.8x faster than 1, and doubling to 8 gains less than 1.5x for twice the connections.
DEFAULT_JOBS = 4
DEFAULT_RETRIES = 3
# With the backoff capped at 8 s, 100 retries wait up to ~13 minutes per stage; more is
# a typo, and skopeo's own --retry-times would retry a refused connection forever.
MAX_RETRIES = 100


class Direction(Protocol):
    """What one kind of transfer copies, and how each copy is checked."""

    max_jobs: int | None  # a limit the target storage sets, or None
    timeout: float | None  # seconds one copy may take (the registry options)
    retried: int  # registry reads retried besides the copies (tag checks, presence)

    def present(self, pulls: list[Pull]) -> set[str]:
        """Signatures of the `pulls` the target already holds correctly."""

    def start(self, pulls: list[Pull]) -> None:
        """The copies about to run, in order: begin what can be read ahead for them."""

    def argv(self, pull: Pull, digestfile: str) -> list[str]:
        """The skopeo copy of one stage, writing the digest it wrote to `digestfile`."""

    def before(self, pull: Pull) -> Exception | None:
        """Why this stage must not be copied now (checked at each attempt), or None."""

    def landed(self, pull: Pull, ok: bool) -> None:
        """After skopeo exited (`ok`: with success), before the check: publish or drop."""

    def copy_error(self, pull: Pull, result: process.Result) -> Exception:
        """The typed error for a failed copy."""

    def verify(self, pull: Pull, written: str) -> Exception | None:
        """The error of a copy that landed wrong (its name removed), or None."""


@dataclass
class Event:
    kind: str  # start | done | retry | skip | fail
    pull: Pull
    attempt: int = 1
    seconds: float = 0.0
    delay: float = 0.0
    error: str = ""


@dataclass
class Outcome:
    pulled: list[Pull] = field(default_factory=list)
    skipped: list[Pull] = field(default_factory=list)  # already in the target
    failed: list[tuple[Pull, str]] = field(default_factory=list)
    retries: int = 0
    seconds: float = 0.0

    @property
    def bytes(self) -> int:
        return sum(p.size or 0 for p in self.pulled)

    def to_json(self) -> dict:
        return {"pulled": [p.signature for p in self.pulled],
                "skipped": [p.signature for p in self.skipped],
                "failed": [{"signature": p.signature, "error": e} for p, e in self.failed],
                "bytes": self.bytes, "retries": self.retries,
                "seconds": round(self.seconds, 3)}


@dataclass
class Transfer:
    pulls: list[Pull]
    direction: Direction
    jobs: int = DEFAULT_JOBS
    retries: int = DEFAULT_RETRIES
    report: Callable[[Event], None] = lambda event: None
    sleep: Callable[[float], None] | None = None  # default: a wait that an interrupt ends
    # False when the caller listed the target a moment ago (a pull plans and copies in one
    # run): one listing serves both, the target is not listed again.
    check_present: bool = True

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.fatal: RegistryError | DaemonError | None = None
        if self.sleep is None:
            self.sleep = self._stop.wait

    def run(self) -> Outcome:
        started = time.monotonic()
        outcome = Outcome()
        present = self.direction.present(self.pulls) if self.check_present else set()
        todo = []
        for pull in self.pulls:
            if pull.signature in present:
                outcome.skipped.append(pull)
                self.report(Event("skip", pull))
            else:
                todo.append(pull)
        self._run_parallel(todo, outcome)
        outcome.retries += self.direction.retried
        outcome.seconds = time.monotonic() - started
        if self.fatal is not None:
            raise self.fatal
        return outcome

    def _run_parallel(self, todo: list[Pull], outcome: Outcome) -> None:
        if not todo:
            return
        self.direction.start(todo)
        limit = self.direction.max_jobs or self.jobs
        jobs = max(1, min(limit, self.jobs, len(todo)))
        pool = ThreadPoolExecutor(max_workers=jobs)
        waiting, running, futures = list(todo), {}, []
        landed: set[str] = set()  # layers a finished copy has put into the target
        try:
            while waiting or running:
                for pull in _startable(waiting, running.values(), jobs - len(running), landed):
                    waiting.remove(pull)
                    future = pool.submit(self._one, pull, outcome)
                    running[future] = pull
                    futures.append(future)
                # A short timeout keeps the main thread responsive to Ctrl-C and SIGTERM.
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    pull = running.pop(future)
                    if pull in outcome.pulled:
                        landed.update(digest for digest, _ in pull.layers)
        except BaseException:
            self._interrupt(pool, futures)
            raise
        pool.shutdown(wait=True)
        for future in futures:
            future.result()  # re-raise a bug in _one rather than hide it

    def _interrupt(self, pool: ThreadPoolExecutor, futures: list) -> None:
        """Stop every copy and wait for the workers, so that no skopeo outlives us.

        Terminating once is not enough: a worker past its stop check may start a copy
        just after terminate_all, and that copy would then run to its end.
        """
        self._stop.set()
        process.halt()  # also ends a copy's wait for a tag read ahead (apply/pull.py)
        pool.shutdown(wait=False, cancel_futures=True)
        while not all(f.done() for f in futures):  # a cancelled future counts as done
            process.terminate_all()
            time.sleep(0.05)
        pool.shutdown(wait=True)

    def _one(self, pull: Pull, outcome: Outcome) -> None:
        for attempt in range(1, self.retries + 2):
            if self._stop.is_set():
                return
            self.report(Event("start", pull, attempt))
            began = time.monotonic()
            error = self._copy(pull)
            if error is None:
                with self._lock:
                    outcome.pulled.append(pull)
                self.report(Event("done", pull, attempt, time.monotonic() - began))
                return
            if self._stop.is_set():
                return
            if not (isinstance(error, RegistryError) and is_transient(error)) \
                    or attempt > self.retries:
                with self._lock:
                    outcome.failed.append((pull, str(error)))
                    if isinstance(error, (Unauthorized, TLSError, DaemonError)) \
                            and self.fatal is None:
                        # Every other copy would be refused the same way: stop them all.
                        self.fatal = error
                        self._stop.set()
                self.report(Event("fail", pull, attempt, error=str(error)))
                return
            delay = backoff(attempt)
            with self._lock:
                outcome.retries += 1
            self.report(Event("retry", pull, attempt, delay=delay, error=str(error)))
            self.sleep(delay)

    def _copy(self, pull: Pull) -> Exception | None:
        """One attempt: check, copy, verify; the error, or None when the stage landed."""
        refused = self.direction.before(pull)
        if refused is not None:
            return refused
        fd, digestfile = tempfile.mkstemp(prefix="werfpull-digest-")
        os.close(fd)
        try:
            argv = self.direction.argv(pull, digestfile)
            result = process.run(argv, timeout=self.direction.timeout)
            self.direction.landed(pull, result.ok)
            if not result.ok:
                # Also when stopped: a killed copy is a failure, never a stage that landed.
                return self.direction.copy_error(pull, result)
            return self.direction.verify(pull, _read(digestfile))
        finally:
            os.unlink(digestfile)


def _startable(waiting: list[Pull], running, free: int, landed: set[str]) -> list[Pull]:
    """The next copies that need no layer another copy is fetching right now.

    Two copies of stages with a common layer, run at once, both download it: the
    destination learns of a layer only when a copy has committed it. So a copy waits
    while a layer it needs is in flight, and once a finished copy has `landed` that
    layer every copy needing it may start and reuses it (docs/benchmarks.md, "Bytes
    moved"): the first copy of each base goes alone, the rest in parallel.
    """
    busy = {digest for pull in running for digest, _ in pull.layers} - landed
    picked = []
    for pull in waiting:
        if len(picked) == free:
            break
        layers = {digest for digest, _ in pull.layers} - landed
        if not layers & busy:
            picked.append(pull)
            busy |= layers
    return picked


def _read(path: str) -> str:
    try:
        with open(path, encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return ""
