"""`werfpull host-cleanup`: remove this project's local stages the current config no
longer uses, oldest first, down to a size or age limit."""

from __future__ import annotations

import time

from werfpull.cleanup.host import LocalStage, choose, local_stages, remove
from werfpull.destinations import parse_dest
from werfpull.errors import UsageError
from werfpull.project import default_repo, load_project
from werfpull.refs import parse_repo
from werfpull.tools import skopeo


def host_cleanup(*, storage: str, repos: list[str], directory: str = ".",
                 config: str | None = None, keep_bytes: int | None = None,
                 keep_days: float | None = None, dry_run: bool = False,
                 registry: skopeo.RegistryOptions | None = None
                 ) -> tuple[list[LocalStage], list[LocalStage]]:
    """(every stage of the project found, the ones removed or, with dry_run, to remove)."""
    if keep_bytes is not None and keep_bytes < 0 or keep_days is not None and keep_days < 0:
        raise UsageError("--keep-bytes and --keep-days must not be negative")
    dest = parse_dest(storage)
    project = load_project(directory, config, registry)
    names = [parse_repo(r, "--repo").name for r in repos] or [
        default_repo(project.config.project)]
    used = {st.signature for s in project.signed for st in s.stages}
    stages = local_stages(dest, names)
    chosen = choose(stages, used, keep_bytes=keep_bytes, keep_days=keep_days, now=time.time())
    if not dry_run:
        remove(dest, chosen)
    return stages, chosen
