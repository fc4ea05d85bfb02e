"""Executing a plan: copy each planned stage with skopeo, verify it, retry what is transient.

Owns the copy argv of a stage (shared with the script renderer), parallel copies,
retries with exponential backoff and jitter, digest verification, and stopping the
skopeo children on an interrupt. Progress goes to a reporter callback, never to a
terminal directly.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from werfpull import process, skopeo
from werfpull.dest import Destination, local_stages, oci_lock
from werfpull.errors import RegistryError, TLSError, Unauthorized
from werfpull.plan import Plan, Pull
from werfpull.refs import Repo
from werfpull.registry import backoff, classify, is_absent, is_transient

# Measured in docs/benchmarks.md ("Parallel copies"): over loopback 2 to 8 copies are
# within a few percent of each other; over a link capped per connection, 4 copies are
# 2.8x faster than 1, and doubling to 8 gains less than 1.5x for twice the connections.
DEFAULT_JOBS = 4
DEFAULT_RETRIES = 3


def copy_argv(repo: Repo, pull: Pull, dest: Destination, opts: skopeo.RegistryOptions, *,
              digestfile: str | None = None) -> list[str]:
    """The skopeo copy of one planned stage: from the digest the plan recorded to its name.

    Copying by digest means a tag moved after planning cannot change what lands. The
    generated script makes the same call (script.py renders it from skopeo.copy too).
    """
    return skopeo.copy(
        f"docker://{repo.digested(pull.digest)}", dest.ref(repo, pull.signature),
        src_tls_verify=opts.tls_verify, dest_tls_verify=opts.tls_verify,
        authfile=opts.authfile, preserve_digests=dest.preserves_digests,
        digestfile=digestfile)


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
    skipped: list[Pull] = field(default_factory=list)  # already in the destination
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
class Applier:
    plan: Plan
    dest: Destination
    opts: skopeo.RegistryOptions
    jobs: int = DEFAULT_JOBS
    retries: int = DEFAULT_RETRIES
    report: Callable[[Event], None] = lambda event: None
    sleep: Callable[[float], None] | None = None  # default: a wait that an interrupt ends

    def __post_init__(self):
        self.repo = Repo(self.plan.repo)
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.fatal: RegistryError | None = None
        if self.sleep is None:
            self.sleep = self._stop.wait

    def run(self) -> Outcome:
        started = time.monotonic()
        outcome = Outcome()
        present = self.present()
        todo = []
        for pull in self.plan.pulls:
            if pull.signature in present and present[pull.signature] in (pull.digest, None):
                outcome.skipped.append(pull)
                self.report(Event("skip", pull))
            else:
                todo.append(pull)
        self._run_parallel(todo, outcome)
        outcome.seconds = time.monotonic() - started
        if self.fatal is not None:
            raise self.fatal
        return outcome

    # -- what a subclass (push) changes: what is there, the copy, its check -------------

    def present(self) -> dict[str, str | None]:
        """{signature: digest} of the planned stages already in the destination."""
        return local_stages(self.dest, self.repo, [p.signature for p in self.plan.pulls],
                            self.opts)

    def argv(self, pull: Pull, digestfile: str) -> list[str]:
        return copy_argv(self.repo, pull, self.dest, self.opts, digestfile=digestfile)

    def verify(self, pull: Pull, written: str) -> Exception | None:
        return self._verify(pull, written)

    def _run_parallel(self, todo: list[Pull], outcome: Outcome) -> None:
        if not todo:
            return
        # skopeo rewrites an OCI layout's index.json without a lock: two copies into one
        # layout at once can lose a name, so copies into oci: run one at a time.
        jobs = max(1, min(1 if self.dest.transport == "oci" else self.jobs, len(todo)))
        pool = ThreadPoolExecutor(max_workers=jobs)
        waiting, running, futures = list(todo), {}, []
        try:
            while waiting or running:
                for pull in _startable(waiting, running.values(), jobs - len(running)):
                    waiting.remove(pull)
                    future = pool.submit(self._one, pull, outcome)
                    running[future] = pull
                    futures.append(future)
                # A short timeout keeps the main thread responsive to Ctrl-C and SIGTERM.
                done, _ = wait(list(running), timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    del running[future]
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
                    if isinstance(error, (Unauthorized, TLSError)) and self.fatal is None:
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
        """One attempt: copy, then verify; the error, or None when the stage landed."""
        fd, digestfile = tempfile.mkstemp(prefix="werfpull-digest-")
        os.close(fd)
        try:
            argv = self.argv(pull, digestfile)
            with self._dest_lock():
                result = process.run(argv, timeout=self.opts.timeout)
            if not result.ok:
                # Also when stopped: a killed copy is a failure, never a stage that landed.
                return self._copy_error(pull, result)
            return self.verify(pull, _read(digestfile))
        finally:
            os.unlink(digestfile)

    @contextlib.contextmanager
    def _dest_lock(self):
        """Across processes too: another werfpull may write the same OCI layout."""
        if self.dest.transport != "oci":
            yield
            return
        os.makedirs(self.dest.location, exist_ok=True)
        with oci_lock(self.dest.location, exclusive=True):
            saved = _read_bytes(os.path.join(self.dest.location, "index.json"))
            try:
                yield
            finally:
                _restore_torn_index(self.dest.location, saved)

    def _copy_error(self, pull: Pull, result: process.Result) -> Exception:
        where = f"{self.repo.host}: {pull.stage} {self.repo.tagged(pull.signature)}"
        if is_absent(result.stderr):
            return RegistryError(
                f"{where}: digest {pull.digest} is no longer in the registry",
                registry=self.repo.host, hint="it was deleted or overwritten; plan again")
        return classify(result, self.repo.host, f"{pull.stage} {self.repo.tagged(pull.signature)}")

    def _verify(self, pull: Pull, written: str) -> Exception | None:
        if not self.dest.preserves_digests:
            return self._verify_daemon(pull)
        if written == pull.digest:
            return None
        self._untag(pull)
        return RegistryError(
            f"{self.dest.ref(self.repo, pull.signature)}: landed with digest {written or '?'},"
            f" the plan says {pull.digest}; the name was removed",
            registry=self.repo.host, hint="the registry served other content; plan again")

    def _verify_daemon(self, pull: Pull) -> Exception | None:
        # docker load rewrites the manifest; the image ID (config digest) survives it.
        name = self.dest.name(self.repo, pull.signature)
        result = process.run(["docker", "image", "inspect", "--format", "{{.Id}}", name])
        config = pull.layers[0][0] if pull.layers else None
        if result.ok and result.stdout.decode().strip() == config:
            return None
        self._untag(pull)
        return RegistryError(f"docker-daemon:{name}: image ID does not match config {config}",
                             registry=self.repo.host)

    def _untag(self, pull: Pull) -> None:
        """Remove a wrong image's name so nothing wrong stays tagged as this stage."""
        if self.dest.transport == "oci":
            # Under the lock: another werfpull's copy may be rewriting index.json meanwhile.
            with self._dest_lock():
                remove_oci_ref(self.dest.location, self.dest.name(self.repo, pull.signature))
        elif self.dest.transport == "docker-daemon":
            process.run(["docker", "rmi", self.dest.name(self.repo, pull.signature)])
        else:
            remote = self.dest.transport == "docker"
            process.run(skopeo.delete(self.dest.ref(self.repo, pull.signature),
                                      tls_verify=self.opts.tls_verify if remote else None,
                                      authfile=self.opts.authfile if remote else None))


def _startable(waiting: list[Pull], running, free: int) -> list[Pull]:
    """The next copies that share no layer with a running one (or with each other).

    Two copies of stages with a common layer, run at once, both download it: the
    destination learns of a layer only when a copy has committed it. One after the
    other, the second reuses it (docs/benchmarks.md, "Bytes moved").
    """
    busy = {digest for pull in running for digest, _ in pull.layers}
    picked = []
    for pull in waiting:
        if len(picked) == free:
            break
        layers = {digest for digest, _ in pull.layers}
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


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except FileNotFoundError:
        return None


def _restore_torn_index(directory: str, saved: bytes | None) -> None:
    """Put back the index a killed skopeo left half-written (it does not write atomically).

    Blobs are content-addressed and harmless; only a torn index.json would break every
    later run, so the index as it was before the copy comes back.
    """
    path = os.path.join(directory, "index.json")
    try:
        with open(path, encoding="utf-8") as fh:
            json.load(fh)
        return
    except FileNotFoundError:
        return
    except (OSError, ValueError):
        pass
    if saved is None:
        os.unlink(path)
        return
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(saved)
    os.replace(tmp, path)


def remove_oci_ref(directory: str, name: str) -> None:
    index_path = os.path.join(directory, "index.json")
    with open(index_path, encoding="utf-8") as fh:
        index = json.load(fh)
    index["manifests"] = [
        d for d in index.get("manifests", [])
        if (d.get("annotations") or {}).get("org.opencontainers.image.ref.name") != name]
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".index-")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(index, fh)
    os.replace(tmp, index_path)
