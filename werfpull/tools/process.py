"""The process boundary: every external command runs through `run` here.

Owns logging the argv, running it through `sh`, and turning a failure into a
`ToolError` carrying argv, exit code and the tail of stderr. Callers classify.
"""

from __future__ import annotations

import ctypes
import logging
import shutil
import signal
import subprocess
import threading

from werfpull.errors import ToolError

log = logging.getLogger("werfpull.process")
STDERR_TAIL = 2000


class Result:
    def __init__(self, argv: list[str], code: int, stdout: bytes, stderr: bytes):
        self.argv, self.code, self.stdout = argv, code, stdout
        self.stderr = stderr.decode("utf-8", "replace")

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def last_line(self) -> str:
        """The last non-blank line of stderr, or the exit code when there is none."""
        lines = [ln for ln in self.stderr.strip().splitlines() if ln.strip()]
        return lines[-1] if lines else f"exit code {self.code}"

    def error(self, message: str | None = None) -> ToolError:
        return ToolError(message or f"{self.argv[0]} failed: {self.last_line}",
                         argv=self.argv, code=self.code,
                         stderr=self.stderr.strip()[-STDERR_TAIL:])


def require(tool: str, package: str | None = None) -> str:
    path = shutil.which(tool)
    if path is None:
        raise ToolError(f"{tool} is not installed",
                        hint=f"install the {package or tool} package (scripts/bootstrap does)")
    return path


_PR_SET_PDEATHSIG = 1


def _resolve_prctl():
    """prctl, looked up once at import: a dlopen inside a child forked from one of the
    copy threads can deadlock on a lock another thread held at fork time."""
    try:
        return ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None


_PRCTL = _resolve_prctl()


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the thread that started it dies, werfpull included.

    A SIGKILLed werfpull (a CI job's hard timeout) runs no cleanup; without this its
    skopeo children would go on copying. Linux only; elsewhere a no-op.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _sh():
    """The sh library, imported with the first command: its import (asyncio with it)
    is a third of werfpull's start-up, which a plan read over HTTP never needs."""
    import sh

    return sh


_preloading = threading.Lock()


def preload() -> None:
    """Import sh on a background thread, for a caller about to wait on the network
    before a command may run (a plan's registry reads, `apply`'s tag reads): the import
    overlaps those waits. Not sooner: a complete rerun asks no registry and runs no
    command. A command run meanwhile waits for the import to finish (the import lock)."""
    if _preloading.acquire(blocking=False):  # once per process
        threading.Thread(target=_sh, daemon=True, name="werfpull-preload").start()


_live: dict[int, object] = {}
_live_lock = threading.Lock()
_halted = threading.Event()  # set on interrupt: worker threads start no more children


def run(argv: list[str], *, timeout: float | None = None, env: dict | None = None,
        cwd: str | None = None, input: bytes | None = None) -> Result:
    """Run argv to completion; never raises for a non-zero exit, only for a missing tool.

    The child is tracked while it runs so that `terminate_all` can stop it when the
    user interrupts werfpull: a SIGTERM reaches only our own process, not our children.
    """
    log.debug("run: %s", " ".join(argv))
    sh = _sh()
    cmd = sh.Command(require(argv[0]))
    # sh gives a child a line-buffered pseudo-terminal by default; a pipe with large
    # buffers reads a 20,000-tag listing in a fraction of the time (docs/benchmarks.md).
    proc = cmd(*argv[1:], _bg=True, _bg_exc=False, _return_cmd=True, _timeout=timeout,
               _env=env, _in=input, _cwd=cwd, _new_session=False, _tty_out=False,
               _out_bufsize=65536, _err_bufsize=65536, _preexec_fn=_die_with_parent)
    with _live_lock:
        _live[id(proc)] = proc
        halted = _halted.is_set() and threading.current_thread() is not threading.main_thread()
    try:
        if halted:  # started by a worker after `halt`: it must not outlive werfpull's exit
            proc.terminate()
        proc.wait()
        return Result(argv, proc.exit_code, proc.stdout, proc.stderr)
    except sh.ErrorReturnCode as exc:
        return Result(argv, exc.exit_code, exc.stdout or b"", exc.stderr or b"")
    except sh.SignalException as exc:
        return Result(argv, -abs(exc.exit_code), exc.stdout or b"", exc.stderr or b"")
    except sh.TimeoutException:
        return Result(argv, 124, b"", f"timed out after {timeout} s".encode())
    finally:
        with _live_lock:
            _live.pop(id(proc), None)


def spawn(argv: list[str], *, cwd: str | None = None, env: dict | None = None):
    """A long-lived child with pipes for a request/response protocol (git cat-file
    --batch): logged, tool checked and tied to our lifetime like every `run`."""
    log.debug("spawn: %s", " ".join(argv))
    require(argv[0])
    return subprocess.Popen(argv, cwd=cwd, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, preexec_fn=_die_with_parent)


def halt() -> None:
    """werfpull is stopping: stop every child, and let no worker thread start another."""
    _halted.set()
    terminate_all()


def terminate_all() -> int:
    """Stop every child still running (SIGTERM); returns how many were stopped."""
    with _live_lock:
        procs = list(_live.values())
    for proc in procs:
        try:
            proc.terminate()
        except OSError:  # it ended meanwhile
            pass
    return len(procs)


class Ahead:
    """fn(key) for every key, started at once on up to `jobs` daemon threads (a read
    that stalls must not keep werfpull from exiting); `take(key)` waits for that one
    answer, or raises its error, or InterruptedError once werfpull is stopping. A key's
    answer is handed out once: asked again (a retry), or for a key never read ahead,
    `take` calls fn itself."""

    def __init__(self, fn, keys: list, jobs: int):
        self._fn = fn
        self._answers: dict = {}
        self._ready = {key: threading.Event() for key in keys}
        self._taken: set = set()
        self._lock = threading.Lock()
        pending = iter(list(self._ready))

        def work() -> None:
            while not _halted.is_set():
                with self._lock:
                    key = next(pending, None)
                if key is None:
                    return
                try:
                    self._answers[key] = (True, fn(key))
                except Exception as exc:  # handed to the thread that takes it
                    self._answers[key] = (False, exc)
                finally:
                    self._ready[key].set()

        for _ in range(min(jobs, len(self._ready))):
            threading.Thread(target=work, daemon=True, name="werfpull-ahead").start()

    def take(self, key):
        with self._lock:
            first = key in self._ready and key not in self._taken
            self._taken.add(key)
        if not first:
            return self._fn(key)
        while not self._ready[key].wait(0.1):
            if _halted.is_set():
                raise InterruptedError("werfpull is stopping")
        ok, answer = self._answers.pop(key, (None, None))
        if ok is None:  # its reader died before answering
            return self._fn(key)
        if not ok:
            raise answer
        return answer


def parallel(fn, items: list, jobs: int) -> list:
    """[fn(item) ...] on up to `jobs` threads, in order, for registry reads.

    On Ctrl-C or SIGTERM (raised in the main thread while it waits) the children still
    running are stopped and no queued call starts, so that werfpull exits at once. The
    threads are daemons: a read blocked in a socket (an HTTP probe to a registry that
    stalls, even mid-handshake) cannot be stopped like a child, and must not keep the
    interpreter from exiting, as a ThreadPoolExecutor's workers would. An error stops
    the calls not yet started; the first item's error is raised.
    """
    if len(items) <= 1:
        return [fn(i) for i in items]
    results: list = [None] * len(items)
    failed: dict[int, BaseException] = {}
    pending = iter(range(len(items)))
    lock, stopping = threading.Lock(), threading.Event()

    def work() -> None:
        while not stopping.is_set():
            with lock:
                index = next(pending, None)
            if index is None:
                return
            try:
                results[index] = fn(items[index])
            except BaseException as exc:  # handed to the main thread
                failed[index] = exc
                stopping.set()

    threads = [threading.Thread(target=work, daemon=True, name="werfpull-read")
               for _ in range(max(1, min(jobs, len(items))))]
    for thread in threads:
        thread.start()
    try:
        for thread in threads:
            thread.join()
    except BaseException:  # Ctrl-C, SIGTERM's Terminated
        stopping.set()
        halt()
        raise
    if failed:
        raise failed[min(failed)]
    return results
