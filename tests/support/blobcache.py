"""A coalescing cache of content-addressed registry reads: nginx with `proxy_cache_lock`.

`BlobCache(workdir, upstream)` runs nginx on a free loopback port in front of the
registry at `upstream` (HOST:PORT). Reads by digest (`/v2/NAME/blobs/sha256:...`,
`/v2/NAME/manifests/sha256:...`) are cached under the URI alone, since a digest names
its content, and concurrent misses of one digest are coalesced: one request goes to
the upstream, the others wait for it to land in the cache (`proxy_cache_lock`), which
is what Docker Distribution 2.8's `proxy` mode does not do (tests/support/
pullthrough.py). Everything else (the `/v2/` ping, tags) passes through uncached.
Routed by the same registries.conf mirror (`pullthrough.route`), skopeo reads by
digest through it and falls back to the origin when it is down.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.support.registry import _die_with_parent, _free_port

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
DIGEST_PATH = r"^/v2/.+/(blobs|manifests)/sha256:[0-9a-f]{64}$"


def config(prefix: Path, port: int, upstream: str) -> str:
    temp = " ".join(f"{kind}_temp_path {prefix}/{kind};"
                    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    return f"""
worker_processes 1;
daemon off;
user root;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
    {temp}
    proxy_cache_path {prefix}/cache levels=1:2 keys_zone=stages:10m inactive=30d
                     use_temp_path=off;
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 0;
        proxy_http_version 1.1;
        proxy_set_header Host {upstream};
        proxy_set_header Connection "";
        location ~ "{DIGEST_PATH}" {{
            proxy_pass http://{upstream};
            proxy_cache stages;
            proxy_cache_key $uri;
            proxy_cache_valid 200 30d;
            proxy_cache_lock on;
            proxy_cache_lock_timeout 1h;
            proxy_cache_lock_age 1h;
            proxy_ignore_headers Cache-Control Expires Set-Cookie;
            add_header X-Cache $upstream_cache_status;
        }}
        location / {{
            proxy_pass http://{upstream};
        }}
    }}
}}
"""


class BlobCache:
    def __init__(self, workdir, upstream: str):
        self.prefix = Path(workdir)
        self.upstream = upstream
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> BlobCache:
        self.prefix.mkdir(parents=True, exist_ok=True)
        self.port = _free_port()
        conf = self.prefix / "nginx.conf"
        conf.write_text(config(self.prefix, self.port, self.upstream))
        # The master dies with its parent, as the registries do, when a run is killed.
        self._proc = subprocess.Popen([NGINX, "-p", str(self.prefix), "-c", str(conf)],
                                      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self._proc.stderr.read().decode()[-500:]}"
                                   f" {self._log()}")
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"nginx did not listen on {self.host}: {self._log()}")

    def stop(self) -> None:
        if self._proc is None:
            return
        if self._proc.poll() is None:
            self._proc.send_signal(signal.SIGQUIT)  # graceful: the worker exits too
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc.stderr.close()
        self._proc = None

    def __enter__(self) -> BlobCache:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _log(self) -> str:
        path = self.prefix / "error.log"
        return path.read_text()[-500:] if path.exists() else ""
