"""A pull-through cache: Docker Distribution's `proxy` mode in front of another registry.

`PullThroughCache(workdir, upstream_url)` is `registry.Registry` whose config has
`proxy: remoteurl: UPSTREAM`: a read it cannot answer from its own storage it fetches
from the upstream, serves and keeps, so the next host reading the same blob is served
locally. It refuses pushes. `registries_conf(origin, cache)` is the containers-
registries.conf(5) text that makes skopeo read the origin's images by digest from the
cache first (`pull-from-mirror = "digest-only"`) and fall back to the origin;
`route(origin, cache)` installs it as a drop-in in /etc/containers/registries.conf.d
(skopeo 1.9 reads no CONTAINERS_REGISTRIES_CONF) for the lifetime of a `with` block.
Its prefix names the origin's loopback host:port, so no other registry is affected.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from tests.support.registry import Registry


class PullThroughCache(Registry):
    def __init__(self, workdir, upstream_url: str, **kwargs):
        super().__init__(workdir, **kwargs)
        self.upstream_url = upstream_url

    def _write_config(self, port: int) -> None:
        super()._write_config(port)
        config = json.loads(self.config_path.read_text())
        config["proxy"] = {"remoteurl": self.upstream_url}
        config["storage"].pop("delete", None)  # a cache has no delete
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")


def registries_conf(origin_repo: str, cache_repo: str, *, insecure: bool = True) -> str:
    """Copies by digest of `origin_repo` read `cache_repo` first, then the origin."""
    flag = "true" if insecure else "false"
    return (f'[[registry]]\nprefix = "{origin_repo}"\nlocation = "{origin_repo}"\n'
            f"insecure = {flag}\n\n[[registry.mirror]]\n"
            f'location = "{cache_repo}"\ninsecure = {flag}\n'
            f'pull-from-mirror = "digest-only"\n')


DROP_INS = Path("/etc/containers/registries.conf.d")


@contextlib.contextmanager
def route(origin_repo: str, cache_repo: str):
    """The mirror route as a registries.conf drop-in, removed afterwards."""
    name = origin_repo.replace(":", "_").replace("/", "_")
    path = DROP_INS / f"werfpull-test-{name}.conf"
    DROP_INS.mkdir(parents=True, exist_ok=True)
    path.write_text(registries_conf(origin_repo, cache_repo))
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
