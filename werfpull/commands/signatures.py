"""`werfpull signatures`: every stage signature of every image and artifact."""

from __future__ import annotations

from werfpull.project import Project, load_project
from werfpull.tools import skopeo


def signatures(directory: str = ".", config: str | None = None,
               registry: skopeo.RegistryOptions | None = None) -> Project:
    return load_project(directory, config, registry)
