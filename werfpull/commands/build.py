"""`werfpull build`: the reference builder over a project."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

from werfpull.builder.stapel import Builder, StageResult
from werfpull.destinations import ContainersStorage, parse_dest
from werfpull.errors import UsageError
from werfpull.project import default_repo, load_project
from werfpull.refs import parse_repo
from werfpull.tools import skopeo


def build(names: list[str], *, directory: str = ".", config: str | None = None,
          repo: str | None = None, storage: str = "containers-storage",
          registry: skopeo.RegistryOptions | None = None,
          report: Callable[[StageResult], None] = lambda r: None) -> dict:
    dest = parse_dest(storage)
    if not isinstance(dest, ContainersStorage):
        raise UsageError(f"--storage {storage!r}: the builder needs containers-storage")
    started = time.monotonic()
    project = load_project(directory, config, registry)
    stages_repo = parse_repo(repo or default_repo(project.config.project), "--repo")
    builder = Builder(project, os.path.abspath(directory), stages_repo, dest, report,
                      registry or skopeo.RegistryOptions())
    try:
        results = builder.build(names)
    finally:
        builder.close()
    return {"project": project.config.project, "repo": stages_repo.name, "storage": dest.spec,
            "seconds": round(time.monotonic() - started, 3),
            "stages": [r.to_json() for r in results]}
