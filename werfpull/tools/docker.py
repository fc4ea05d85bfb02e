"""The one command builder for the docker CLI, and where the daemon is.

Owns the daemon's address (DOCKER_HOST, else the default socket) and the argv of the
few docker calls werfpull makes: list images, read an image ID, remove a name.
"""

from __future__ import annotations

import os

DOCKER = "docker"
DEFAULT_SOCKET = "/var/run/docker.sock"


def daemon_host() -> str | None:
    """DOCKER_HOST when set: skopeo 1.9 ignores it, so it is passed on explicitly."""
    return os.environ.get("DOCKER_HOST") or None


def address() -> str:
    """The daemon werfpull talks to, as a URL (for messages and probes)."""
    return daemon_host() or f"unix://{DEFAULT_SOCKET}"


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
