"""Destinations: where pulled stages land. One module per transport, one table here.

A new destination is a `Destination` subclass in a module of its own and one entry of
`TRANSPORTS`; `parse_dest`, the plan file, apply, push and the generated script all
go through the table.
"""

from __future__ import annotations

from werfpull.destinations.base import Destination
from werfpull.destinations.containers_storage import ContainersStorage
from werfpull.destinations.docker_daemon import DockerDaemon, probe
from werfpull.destinations.mirror import Mirror
from werfpull.destinations.oci import OCILayout
from werfpull.errors import UsageError

TRANSPORTS: tuple[type[Destination], ...] = (ContainersStorage, DockerDaemon, OCILayout, Mirror)


def parse_dest(text: str) -> Destination:
    for transport in TRANSPORTS:
        dest = transport.parse(text)
        if dest is not None:
            return dest
    raise UsageError(
        f"--dest {text!r} is not a destination",
        hint="use containers-storage, containers-storage:[DRIVER@ROOT+RUNROOT], docker-daemon,"
             " oci:DIR or docker://HOST/REPO",
    )


def default_dest() -> tuple[Destination, str]:
    """The destination this host has, and why it was picked (said in plan and output)."""
    answers, reason = probe()
    return (DockerDaemon() if answers else ContainersStorage()), reason


__all__ = ["TRANSPORTS", "ContainersStorage", "Destination", "DockerDaemon", "Mirror",
           "OCILayout", "default_dest", "parse_dest"]
