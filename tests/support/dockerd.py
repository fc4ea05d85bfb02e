"""A real Docker daemon for tests, benchmarks and the demo, on its own socket and data root.

`Dockerd` runs Debian's `dockerd` (docker.io 20.10) as root in a directory of its own:
socket, data root, exec root, pid file and an empty config file there (and, with
`tcp=True`, plain TCP on a free loopback port as well), no iptables,
no bridge, the vfs storage driver, and its own managed containerd. It is stopped by
the PID it wrote; what a killed daemon leaves behind (socket, pid file, the mounts
under the directory) is removed before a restart and at the end.

Like `registry.py` it imports nothing from pytest.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.registry import _die_with_parent, _free_port

DOCKERD = "dockerd"
DOCKER = "docker"


class DockerdError(RuntimeError):
    pass


class Dockerd:
    """A dockerd at unix://DIR/docker.sock. `start()`, `stop()`, `kill()`, `close()`."""

    START_TIMEOUT = 30.0
    STOP_TIMEOUT = 15.0

    def __init__(self, workdir: str | os.PathLike | None = None, *, tcp: bool = False):
        self._owns_workdir = workdir is None
        self.tcp_port = _free_port() if tcp else None
        # Short: a unix socket path must stay under 108 bytes.
        self.dir = Path(workdir or tempfile.mkdtemp(prefix="wpd-", dir="/tmp"))
        self.dir.mkdir(parents=True, exist_ok=True)
        self.socket = self.dir / "docker.sock"
        self.pidfile = self.dir / "docker.pid"
        self.log_path = self.dir / "dockerd.log"
        self._proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        """The DOCKER_HOST value that reaches this daemon."""
        return f"unix://{self.socket}"

    @property
    def tcp_host(self) -> str:
        """The same daemon as tcp://127.0.0.1:PORT (plain HTTP, loopback only)."""
        if self.tcp_port is None:
            raise DockerdError("this dockerd was started without tcp=True")
        return f"tcp://127.0.0.1:{self.tcp_port}"

    @property
    def env(self) -> dict[str, str]:
        return dict(os.environ, DOCKER_HOST=self.host)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def __enter__(self) -> Dockerd:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def argv(self) -> list[str]:
        config = self.dir / "daemon.json"
        config.write_text("{}\n")  # never the host's /etc/docker/daemon.json
        tcp = ["--host", self.tcp_host] if self.tcp_port else []
        return [DOCKERD, "--host", self.host, *tcp, "--data-root", str(self.dir / "data"),
                "--exec-root", str(self.dir / "exec"), "--pidfile", str(self.pidfile),
                "--config-file", str(config), "--iptables=false", "--ip6tables=false",
                "--bridge=none", "--storage-driver=vfs"]

    def start(self) -> Dockerd:
        if self.running:
            return self
        if os.geteuid() != 0:
            raise DockerdError("dockerd needs root (run the suite as root, as CI does)")
        if shutil.which(DOCKERD) is None or shutil.which(DOCKER) is None:
            raise DockerdError("dockerd or docker not found; install docker.io (scripts/bootstrap)")
        self._remove_leftovers()
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            # The daemon must not follow a DOCKER_HOST or proxy of the caller's shell.
            env = {k: v for k, v in os.environ.items()
                   if k not in ("DOCKER_HOST", "DOCKER_CONTEXT")}
            self._proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL, stdout=log,
                                          stderr=log, env=env, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + self.START_TIMEOUT
        while not self.answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise DockerdError(f"dockerd did not start within {self.START_TIMEOUT:.0f}s;"
                                   f" log {self.log_path}:\n{self._log_tail(offset)}")
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        if not self.socket.exists():
            return False
        try:
            result = subprocess.run([DOCKER, "--host", self.host, "version", "--format",
                                     "{{.Server.Version}}"], capture_output=True, timeout=10)
        except subprocess.TimeoutExpired:
            return False  # still starting (or stuck: START_TIMEOUT decides)
        return result.returncode == 0

    def stop(self) -> None:
        """SIGTERM by PID (SIGKILL after STOP_TIMEOUT), then remove what is left behind."""
        self._signal(signal.SIGTERM)
        self._remove_leftovers()

    def kill(self) -> None:
        """SIGKILL, as a crash would: the socket, pid file and mounts stay until `start()`."""
        self._signal(signal.SIGKILL)

    def close(self) -> None:
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def _signal(self, sig: int) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(sig)
        try:
            proc.wait(self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._reap_containerd(sig)

    def _reap_containerd(self, sig: int) -> None:
        # The daemon's managed containerd: stopped with the daemon on SIGTERM; after a
        # SIGKILL it lingers (or stays a zombie nobody reaps) and holds the exec root.
        pid = self._containerd_pid()
        if pid is not None:
            try:
                os.kill(pid, signal.SIGKILL if sig == signal.SIGKILL else signal.SIGTERM)
            except OSError:
                pass

    def _containerd_pid(self) -> int | None:
        """The managed containerd's PID while it runs (not a zombie, not a recycled PID)."""
        try:
            pid = int((self.dir / "exec" / "containerd" / "containerd.pid").read_text())
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                ours = str(self.dir).encode() in fh.read()
            with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        return pid if ours and state != "Z" else None

    def _remove_leftovers(self) -> None:
        # A pid file naming a dead (or zombie) containerd makes the next dockerd wait for
        # it forever instead of starting its own.
        deadline = time.monotonic() + 5
        while self._containerd_pid() is not None and time.monotonic() < deadline:
            self._reap_containerd(signal.SIGKILL)
            time.sleep(0.05)
        (self.dir / "exec" / "containerd" / "containerd.pid").unlink(missing_ok=True)
        for mount in sorted(self.mounts(), key=len, reverse=True):
            subprocess.run(["umount", "-l", mount], capture_output=True, timeout=30)
        for path in (self.socket, self.pidfile):
            path.unlink(missing_ok=True)

    def mounts(self) -> list[str]:
        """Mount points under the daemon's directory (a killed daemon leaves some)."""
        prefix = str(self.dir) + "/"
        with open("/proc/self/mountinfo", encoding="utf-8") as fh:
            points = [line.split()[4] for line in fh]
        return [p for p in points if p.startswith(prefix)]

    def _log_tail(self, offset: int = 0, limit: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(offset)
                return fh.read()[-limit:].decode("utf-8", "replace")
        except OSError:
            return ""

    # -- helpers ---------------------------------------------------------------------------

    def docker(self, *args: str, check: bool = True, timeout: float = 120
               ) -> subprocess.CompletedProcess:
        result = subprocess.run([DOCKER, "--host", self.host, *args], capture_output=True,
                                text=True, timeout=timeout)
        if check and result.returncode != 0:
            raise DockerdError(f"docker {' '.join(args)}: {result.stderr.strip()}")
        return result

    def images(self) -> dict[str, str]:
        """{REPOSITORY:TAG: image ID} as `docker images` prints them."""
        out = self.docker("images", "--no-trunc", "--format", "{{json .}}").stdout
        items = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {f"{i['Repository']}:{i['Tag']}": i["ID"] for i in items if i["Tag"] != "<none>"}

    def clear(self) -> None:
        """Remove every image, so that tests sharing the daemon start empty."""
        ids = self.docker("images", "-aq", "--no-trunc").stdout.split()
        if ids:
            self.docker("rmi", "-f", *sorted(set(ids)), check=False)
