"""werfpull run as a user runs it, in a subprocess: with an environment of its own
(`isolated_env`, `cli`), or in the background (`Running`), and the waits and /proc
scans that tests of interruptions need (`wait_until`, `skopeo_children`); `auth_file`
gives the skopeo processes a test starts itself (its pushes) an auth file.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support.stages import ROOT


@contextlib.contextmanager
def auth_file(path: Path):
    """REGISTRY_AUTH_FILE=path in this process for the block, as it was after it."""
    saved = os.environ.get("REGISTRY_AUTH_FILE")
    os.environ["REGISTRY_AUTH_FILE"] = str(path)
    try:
        yield
    finally:
        if saved is None:
            del os.environ["REGISTRY_AUTH_FILE"]
        else:
            os.environ["REGISTRY_AUTH_FILE"] = saved


def isolated_env(tmp: Path, **extra) -> dict[str, str]:
    """os.environ with no credential source but the ones given in `extra`."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("REGISTRY_AUTH_FILE", "DOCKER_CONFIG") and not k.startswith("XDG_")}
    home = tmp / "home"
    (home / ".config").mkdir(parents=True, exist_ok=True)
    (tmp / "xdg-runtime").mkdir(exist_ok=True)
    env.update(HOME=str(home), XDG_RUNTIME_DIR=str(tmp / "xdg-runtime"),
               XDG_CONFIG_HOME=str(home / ".config"),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])))
    env.update(extra)
    return env


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    seconds: float


def credential_helper(bin_dir: Path, home: Path, host: str, user: str,
                      password: str) -> Path:
    """A docker-credential-werftest in `bin_dir` answering `user`/`password`, named for
    `host` in HOME's ~/.docker/config.json; `bin_dir` goes first in PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    helper = bin_dir / "docker-credential-werftest"
    helper.write_text(f"#!/bin/sh\ncat >/dev/null\n"
                      f"printf '%s' '{{\"Username\":\"{user}\",\"Secret\":\"{password}\"}}'\n")
    helper.chmod(helper.stat().st_mode | stat.S_IXUSR)
    config = home / ".docker" / "config.json"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"credHelpers": {host: "werftest"}}))
    return helper


def helper_env(tmp: Path, host: str, user: str, password: str) -> dict[str, str]:
    """`isolated_env` whose only credentials come from a credential helper: the HTTP
    reads leave every read to skopeo then."""
    env = isolated_env(tmp)
    credential_helper(tmp / "bin", Path(env["HOME"]), host, user, password)
    env["PATH"] = f"{tmp / 'bin'}:{env['PATH']}"
    return env


def cli(env: dict, *args, timeout: float = 120) -> Run:
    """`python -m werfpull ARGS` in `env`, timed."""
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "werfpull", *map(str, args)], env=env,
                          capture_output=True, text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr, time.monotonic() - started)


class Running:
    """`werfpull ARGS` in the background, its stderr collected line by line."""

    def __init__(self, *args):
        # A fresh default SIGINT handler: a child started with SIGINT ignored (a CI job
        # in the background) would otherwise keep ignoring it.
        boot = ("import runpy, signal, sys; signal.signal(signal.SIGINT, "
                "signal.default_int_handler); sys.argv[0] = 'werfpull'; "
                "runpy.run_module('werfpull', run_name='__main__')")
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.proc = subprocess.Popen([sys.executable, "-c", boot, *map(str, args)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._out: list[str] = []
        # One reader per pipe, each the pipe's only reader: nothing is lost or split.
        self._readers = [threading.Thread(target=self._read, args=args, daemon=True)
                         for args in ((self.proc.stderr, self.lines),
                                      (self.proc.stdout, self._out))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe, into: list[str]) -> None:
        for line in pipe:
            into.append(line)

    @property
    def stderr(self) -> str:
        return "".join(self.lines)

    @property
    def out(self) -> str:
        return "".join(self._out)

    def wait(self, timeout: float = 90) -> int:
        self.proc.wait(timeout)
        for reader in self._readers:
            reader.join(10)
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def wait_until(condition, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def skopeo_children(mark: str) -> list[int]:
    """Live skopeo processes whose command line mentions `mark` (a scan of /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path("/proc", entry, "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if os.path.basename(argv[0]) == b"skopeo" and any(mark.encode() in a for a in argv):
            pids.append(int(entry))
    return pids
