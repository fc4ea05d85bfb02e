"""The one command builder for the docker CLI, and where the daemon is.

Owns the daemon's address (DOCKER_HOST, else the default socket), asking it whether it
answers (`ping`, the Engine API's GET /_ping over a unix socket or plain TCP), and
the argv of the few docker calls werfpull makes: list images, read an image ID,
remove a name.
"""

from __future__ import annotations

import os
import socket

DOCKER = "docker"
DEFAULT_SOCKET = "/var/run/docker.sock"
PING_TIMEOUT = 2.0  # seconds: a daemon answers /_ping in milliseconds


def daemon_host() -> str | None:
    """DOCKER_HOST when set (docker's spelling, for the docker CLI and messages)."""
    return os.environ.get("DOCKER_HOST") or None


def tls() -> bool:
    """Whether the docker CLI would talk TLS to a tcp:// daemon (DOCKER_TLS_VERIFY set)."""
    return bool(os.environ.get("DOCKER_TLS_VERIFY"))


def cert_dir() -> str:
    """Where the docker CLI reads ca.pem, cert.pem and key.pem for a TLS daemon."""
    return os.environ.get("DOCKER_CERT_PATH") or os.path.expanduser("~/.docker")


def skopeo_host() -> str | None:
    """DOCKER_HOST as skopeo must be given it: skopeo 1.9 ignores the variable, and reads
    tcp:// as TLS where docker means plain HTTP unless DOCKER_TLS_VERIFY is set."""
    host = daemon_host()
    if host and host.startswith("tcp://") and not tls():
        return "http://" + host[len("tcp://"):]
    return host


def address() -> str:
    """The daemon werfpull talks to, as a URL (for messages and probes)."""
    return daemon_host() or f"unix://{DEFAULT_SOCKET}"


def ping(host: str | None = None, timeout: float = PING_TIMEOUT) -> str | None:
    """None when a docker daemon answers GET /_ping at `host` (default: `address()`),
    else why not, in a few words."""
    host = host or address()
    try:
        sock = _connect(host, timeout)
        if host.startswith("tcp://") and tls():
            sock = _tls(sock, host)
    except ValueError as exc:
        return str(exc)
    except OSError as exc:
        return f"cannot connect ({exc.strerror or exc})"
    try:
        sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
        head = sock.recv(4096).decode("latin-1")
    except OSError as exc:
        return f"no answer to GET /_ping ({exc.strerror or exc})"
    finally:
        sock.close()
    status = head.split("\r\n", 1)[0]
    if status.split(" ")[1:2] == ["200"] and head.rstrip().endswith("OK"):
        return None
    return f"not a docker daemon over plain HTTP (GET /_ping: {status or 'no reply'})"


def _connect(host: str, timeout: float) -> socket.socket:
    if host.startswith("unix://"):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        target: object = host[len("unix://"):]
    elif host.startswith("tcp://"):
        hostport = host[len("tcp://"):].rstrip("/")
        name, _, port = hostport.rpartition(":")
        if not name or not port.isdigit():
            raise ValueError(f"expected tcp://HOST:PORT, not {host}")
        sock = socket.socket(socket.AF_INET6 if ":" in name else socket.AF_INET,
                             socket.SOCK_STREAM)
        target = (name.strip("[]"), int(port))
    else:
        raise ValueError(f"{host}: werfpull reaches a daemon by unix:// or tcp:// only")
    sock.settimeout(timeout)
    try:
        sock.connect(target)
    except BaseException:
        sock.close()
        raise
    return sock


def _tls(sock: socket.socket, host: str) -> socket.socket:
    import ssl

    certs = cert_dir()
    context = ssl.create_default_context(cafile=os.path.join(certs, "ca.pem"))
    context.load_cert_chain(os.path.join(certs, "cert.pem"), os.path.join(certs, "key.pem"))
    name = host[len("tcp://"):].rstrip("/").rpartition(":")[0].strip("[]")
    return context.wrap_socket(sock, server_hostname=name)


def _cmd(*args: str) -> list[str]:
    host = daemon_host()
    return [DOCKER, *(["--host", host] if host else []), *args]


def images() -> list[str]:
    """Every image name with its ID, one JSON object a line."""
    return _cmd("images", "--no-trunc", "--format",
                '{"repository":{{json .Repository}},"tag":{{json .Tag}},"id":{{json .ID}}}')


def image_id(name: str) -> list[str]:
    return _cmd("image", "inspect", "--format", "{{.Id}}", name)


def rmi(name: str) -> list[str]:
    return _cmd("rmi", name)
