"""Real registry processes and tiny OCI images for tests and benchmarks.

This module owns two things:

* `Registry`: a throw-away Docker Distribution (`docker-registry serve`) bound to
  127.0.0.1 on a free port, with filesystem storage in a temporary directory.
* `make_oci_image` / `push_oci` / `publish_image`: byte-reproducible OCI images
  written in pure Python and pushed with `skopeo copy`.

It deliberately imports nothing from pytest so that benchmark scripts can use it.
"""

from __future__ import annotations

import ctypes
import gzip
import hashlib
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

REGISTRY_BIN = "/usr/bin/docker-registry"
SKOPEO_BIN = "skopeo"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_ANNOTATION = "org.opencontainers.image.ref.name"

# Talk to 127.0.0.1 directly even when the CI exports http_proxy without no_proxy.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# Where each blob written by make_oci_image lives, so that base_layers made in one
# layout directory can be reused from another.
_BLOB_SOURCES: dict[str, Path] = {}


class RegistryError(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Resolved here, not in the forked child: dlopen after fork can deadlock when another
# thread held the loader lock at fork time.
try:
    _PRCTL = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):
    _PRCTL = None
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    # A SIGKILLed pytest/bench run must not leave registries behind (finalizers never
    # run then). The signal fires when the *thread* that forked exits.
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, int(signal.SIGTERM))


def _registry_env() -> dict[str, str]:
    # docker-registry lets REGISTRY_* variables override the config file; a stray
    # REGISTRY_HTTP_ADDR on a build host would silently move the listener.
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


class Registry:
    """A docker-registry process on 127.0.0.1:<free port>.

    The constructor only prepares the work directory; call `start()` (or use the
    instance as a context manager). `stop()` keeps port and storage, so a later
    `start()` brings the same registry back with its data; `close()` also deletes the
    work directory if this object created it.

    The process gets SIGTERM when the thread that started it exits, so start it from
    the main thread (or another thread that outlives its use), not from a pool worker.
    """

    START_TIMEOUT = 20.0
    STOP_TIMEOUT = 5.0
    PORT_ATTEMPTS = 5

    def __init__(self, workdir: str | os.PathLike | None = None, binary: str = REGISTRY_BIN,
                 delete_enabled: bool = True):
        self._owns_workdir = workdir is None
        # False: Distribution's default, which refuses DELETE with 405 UNSUPPORTED.
        self.delete_enabled = delete_enabled
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="werfpull-registry-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.storage_dir = self.workdir / "storage"
        self.storage_dir.mkdir(exist_ok=True)
        self.log_path = self.workdir / "registry.log"
        self.config_path = self.workdir / "config.yml"
        self.binary = binary
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        if self.port is None:
            raise RegistryError("registry has not been started yet")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def pid(self) -> int | None:
        """The registry's process id while it runs (benchmarks read its CPU time)."""
        return self._proc.pid if self.running else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def repo(self, name: str) -> str:
        return f"{self.host}/{name}"

    def __enter__(self) -> Registry:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<Registry {self.port and self.host} {state} {self.workdir}>"

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> Registry:
        if self.running:
            return self
        if not os.access(self.binary, os.X_OK):
            raise RegistryError(
                f"{self.binary} not found or not executable; "
                "install the Debian package docker-registry (scripts/bootstrap)"
            )
        if self.port is not None:
            # A restart must keep the port: callers hold references that embed it.
            try:
                self._start_on(self.port)
            except _PortTaken as e:
                raise RegistryError(f"cannot restart, another process took the port: {e}") from e
            return self
        last: RegistryError | None = None
        for _ in range(self.PORT_ATTEMPTS):
            try:
                self._start_on(_free_port())
            except _PortTaken as e:
                # Another process grabbed the port between our probe and the bind.
                self.port, last = None, e
                continue
            except BaseException:
                self.port = None
                raise
            return self
        raise RegistryError(f"could not find a free port after {self.PORT_ATTEMPTS} tries: {last}")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(self.STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        """Stop and, if the work directory was created here, delete it."""
        self.stop()
        if self._owns_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _write_config(self, port: int) -> None:
        # JSON is valid YAML, which spares a PyYAML dependency in this module.
        config = {
            "version": 0.1,
            "log": {"level": "warn", "accesslog": {"disabled": True}},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage_dir)},
                "delete": {"enabled": self.delete_enabled},
            },
            "http": {
                "addr": f"127.0.0.1:{port}",
                # A fixed secret silences a startup warning and keeps in-flight upload
                # URLs valid across a restart.
                "secret": "werfpull-tests",
            },
        }
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")

    def _start_on(self, port: int) -> None:
        self._write_config(port)
        log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with open(self.log_path, "ab") as log:
            proc = subprocess.Popen(
                [self.binary, "serve", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                cwd=self.workdir,
                env=_registry_env(),
                preexec_fn=_die_with_parent,
            )
        self._proc = proc
        self.port = port
        try:
            self._wait_ready(proc, port, log_offset)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, proc: subprocess.Popen, port: int, log_offset: int) -> None:
        deadline = time.monotonic() + self.START_TIMEOUT
        while True:
            if proc.poll() is not None:
                self._proc = None
                tail = self._log_tail(log_offset)
                if "address already in use" in tail:
                    # Distinguished so that start() can retry a freshly probed port.
                    raise _PortTaken(f"127.0.0.1:{port}: {tail.strip()}")
                raise RegistryError(
                    f"docker-registry exited with {proc.returncode} during startup on "
                    f"127.0.0.1:{port}; log {self.log_path}:\n{tail}"
                )
            if self._ping():
                # Someone else may own the port and answer /v2/ before our process
                # notices the bind failure; confirm that ours is still alive.
                time.sleep(0.05)
                if proc.poll() is None:
                    return
                continue
            if time.monotonic() > deadline:
                raise RegistryError(
                    f"docker-registry on 127.0.0.1:{port} did not answer GET /v2/ within "
                    f"{self.START_TIMEOUT:.0f}s; log {self.log_path}:\n{self._log_tail(log_offset)}"
                )
            time.sleep(0.05)

    def _ping(self) -> bool:
        try:
            with _HTTP.open(f"{self.url}/v2/", timeout=1) as resp:
                return resp.status == 200
        except (urllib.error.URLError, OSError):
            return False

    def _log_tail(self, offset: int = 0, limit: int = 4000) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                data = f.read()
        except OSError:
            return ""
        return data[-limit:].decode("utf-8", "replace")

    def log_tail(self, limit: int = 4000) -> str:
        return self._log_tail(0, limit)

    # -- API helpers ---------------------------------------------------------------

    def _name(self, repo: str) -> str:
        prefix = f"{self.host}/"
        return repo[len(prefix) :] if repo.startswith(prefix) else repo

    def tags(self, repo_name: str) -> list[str]:
        """Tags of a repository (`t/foo` or `127.0.0.1:PORT/t/foo`); [] if unknown."""
        name = self._name(repo_name)
        try:
            with _HTTP.open(f"{self.url}/v2/{name}/tags/list", timeout=10) as resp:
                body = json.load(resp)
        except urllib.error.HTTPError as e:
            payload = e.read().decode("utf-8", "replace")
            if e.code == 404 and "NAME_UNKNOWN" in payload:
                return []
            raise RegistryError(f"GET /v2/{name}/tags/list: HTTP {e.code}: {payload}") from e
        # After every tag is deleted the registry answers {"tags": null}.
        return list(body.get("tags") or [])


class _PortTaken(RegistryError):
    pass


# -- OCI images ------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _canonical_json(obj) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()


def _tar_info(name: str, *, is_dir: bool, size: int = 0) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if is_dir else tarfile.REGTYPE
    info.mode = 0o755 if is_dir else 0o644
    info.size = size
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def _layer_tar(files: dict[str, bytes | str]) -> bytes:
    entries: dict[str, bytes | None] = {}
    for raw_name, content in files.items():
        name = raw_name.strip("/")
        if not name or ".." in name.split("/"):
            raise ValueError(f"bad path in image files: {raw_name!r}")
        entries[name] = content.encode() if isinstance(content, str) else bytes(content)
        # Explicit parent directories make the layer extract identically everywhere.
        parts = name.split("/")
        for i in range(1, len(parts)):
            entries.setdefault("/".join(parts[:i]), None)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            data = entries[name]
            if data is None:
                tar.addfile(_tar_info(name, is_dir=True))
            else:
                tar.addfile(_tar_info(name, is_dir=False, size=len(data)), io.BytesIO(data))
    return buf.getvalue()


def _gzip(data: bytes) -> bytes:
    buf = io.BytesIO()
    # filename="" and mtime=0 keep the gzip header free of host-specific bytes.
    with gzip.GzipFile(filename="", mode="wb", fileobj=buf, mtime=0, compresslevel=6) as gz:
        gz.write(data)
    return buf.getvalue()


def _write_blob(layout: Path, data: bytes) -> str:
    digest = _sha256(data)
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
    _BLOB_SOURCES[digest] = path
    return digest


def _ensure_blob(layout: Path, digest: str) -> None:
    path = layout / "blobs" / "sha256" / digest.split(":", 1)[1]
    if path.exists():
        return
    source = _BLOB_SOURCES.get(digest)
    if source is None or not source.exists():
        raise FileNotFoundError(
            f"base layer {digest} is neither in {layout} nor in any layout written by this "
            "process; make the base image with make_oci_image first"
        )
    _write_blob(layout, source.read_bytes())


def make_oci_image(
    layout_dir: str | os.PathLike,
    ref: str,
    files: dict[str, bytes],
    base_layers: list[dict] | None = None,
    created: str | None = None,
) -> dict:
    """Write a one-new-layer image tagged `ref` into the OCI layout `layout_dir`.

    The same input always yields the same bytes, hence the same manifest digest.
    `base_layers` are `result["layers"]` entries of earlier images; they go first, so
    images built on the same base share those blobs in a registry. `created` (RFC 3339)
    becomes the config's creation time, which cleanup reads; none by default.
    Returns {"manifest_digest", "size" (manifest bytes), "config_digest", "layers",
    "media_type", "ref"}; each layer is {"mediaType", "digest", "size", "diff_id"}.
    """
    layout = Path(layout_dir)
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text('{"imageLayoutVersion":"1.0.0"}')

    layers = [dict(d) for d in (base_layers or [])]
    for d in layers:
        if "diff_id" not in d:
            raise ValueError(f"base layer {d.get('digest')} has no diff_id; pass result['layers']")
        _ensure_blob(layout, d["digest"])

    tar = _layer_tar(files)
    compressed = _gzip(tar)
    layers.append(
        {
            "mediaType": OCI_LAYER_GZIP,
            "digest": _write_blob(layout, compressed),
            "size": len(compressed),
            "diff_id": _sha256(tar),
        }
    )

    config_doc = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [d["diff_id"] for d in layers]},
    }
    if created is not None:
        config_doc["created"] = created
    config = _canonical_json(config_doc)
    config_digest = _write_blob(layout, config)
    manifest = _canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [
                {"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"]}
                for d in layers
            ],
        }
    )
    manifest_digest = _write_blob(layout, manifest)

    index_path = layout / "index.json"
    index = json.loads(index_path.read_text()) if index_path.exists() else {}
    entries = [
        m
        for m in index.get("manifests", [])
        if (m.get("annotations") or {}).get(REF_ANNOTATION) != ref
    ]
    entries.append(
        {
            "mediaType": OCI_MANIFEST,
            "digest": manifest_digest,
            "size": len(manifest),
            "annotations": {REF_ANNOTATION: ref},
        }
    )
    entries.sort(key=lambda m: (m.get("annotations") or {}).get(REF_ANNOTATION, ""))
    index_path.write_bytes(_canonical_json({"schemaVersion": 2, "manifests": entries}))

    return {
        "manifest_digest": manifest_digest,
        "size": len(manifest),
        "config_digest": config_digest,
        "layers": layers,
        "media_type": OCI_MANIFEST,
        "ref": ref,
    }


def _skopeo(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    cmd = [SKOPEO_BIN, *args]
    try:
        proc = subprocess.run(cmd, capture_output=True, timeout=timeout)
    except FileNotFoundError as e:
        raise RegistryError("skopeo not found; run scripts/bootstrap") from e
    if proc.returncode != 0:
        raise RegistryError(
            f"{' '.join(cmd)} exited with {proc.returncode}:\n"
            f"{proc.stderr.decode('utf-8', 'replace').strip()}"
        )
    return proc


def push_oci(layout_dir: str | os.PathLike, ref: str, dest: str) -> None:
    """`skopeo copy oci:LAYOUT:REF docker://DEST` to a plain-HTTP registry."""
    _skopeo(
        "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout_dir}:{ref}", f"docker://{dest}"
    )


def inspect_raw(image: str) -> bytes:
    """The manifest bytes a registry serves for `image` (`host/name:tag` or `@digest`)."""
    return _skopeo("inspect", "--tls-verify=false", "--raw", f"docker://{image}").stdout


def publish_image(
    registry_repo: str,
    tag: str,
    files: dict[str, bytes],
    base_layers: list[dict] | None = None,
    *,
    workdir: str | os.PathLike,
) -> str:
    """Make an image in the OCI layout `workdir`, push it as REPO:TAG, return its digest.

    The digest is the one the registry serves; it must equal the locally computed one
    because skopeo copies an OCI manifest unchanged when no conversion is needed.
    """
    ref = f"{registry_repo.split('/', 1)[-1]}:{tag}"
    image = make_oci_image(workdir, ref, files, base_layers)
    dest = f"{registry_repo}:{tag}"
    push_oci(workdir, ref, dest)
    served = _sha256(inspect_raw(dest))
    assert served == image["manifest_digest"], (
        f"registry serves {dest} as {served}, but the pushed manifest was "
        f"{image['manifest_digest']}: skopeo rewrote the manifest"
    )
    return served
