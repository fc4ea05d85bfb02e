"""A project on disk: its config, its git state and its signatures.

Owns the I/O edge between a checkout and the pure signer: where werf.yaml is, which
repository holds it, and how a `fromLatest` base image's digest is asked for.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from werfpull.config.load import load_config
from werfpull.config.model import Config, Image
from werfpull.errors import UsageError, close_matches
from werfpull.inventory.registry import manifest_digest
from werfpull.refs import Repo
from werfpull.signatures.dockercontext import DockerContexts
from werfpull.signatures.gitfiles import GitState
from werfpull.signatures.signer import ImageStages, Signer
from werfpull.tools import skopeo


@dataclass
class Project:
    config: Config
    signed: list[ImageStages]  # config order

    def select(self, names: list[str], platforms=()) -> list[ImageStages]:
        """The named images and what they need (everything when no name is given), on
        the given platforms only (chains without a platform serve every platform)."""
        chains = self.signed
        if names:
            known = {i.name for i in self.config.images if i.name is not None}
            for name in names:
                if name not in known:
                    near = close_matches(name, sorted(known), n=1)
                    raise UsageError(f"{self.config.path}: no image or artifact named {name!r}",
                                     hint=f"did you mean {near[0]!r}?" if near else
                                     f"known: {', '.join(sorted(known)) or 'none'}")
            keep = {i.name for i in self.config.needed_closure(names)}
            chains = [s for s in chains if s.image.name in keep]
        if platforms:
            have = {s.platform for s in chains if s.platform is not None}
            for platform in platforms:
                if platform not in have:
                    raise UsageError(f"--platform {platform}: no planned image is built for it",
                                     hint=f"platforms: {', '.join(sorted(have)) or 'none'}")
            chains = [s for s in chains if s.platform is None or s.platform in platforms]
        return chains

    @property
    def order(self) -> list[Image]:
        return self.config.order()


def default_repo(project: str) -> str:
    """Where the builder names stages when no --repo is given."""
    return f"localhost/{project.lower()}/stages"


def base_digest(opts: skopeo.RegistryOptions):
    """The resolver for `fromLatest`: the base image's manifest digest in its registry."""
    def resolve(ref: str) -> str:
        host = Repo(ref.split("@", 1)[0]).host
        return manifest_digest(ref, host, opts, f"the base image {ref} (fromLatest)")
    return resolve


def load_project(directory: str = ".", config: str | None = None,
                 opts: skopeo.RegistryOptions | None = None) -> Project:
    directory = os.path.abspath(directory)
    cfg = load_config(directory, config)
    git = GitState(directory, cfg.path)
    signer = Signer(cfg, git.tree_for, base_digest(opts or skopeo.RegistryOptions()),
                    DockerContexts(git, cfg.path).inputs)
    return Project(cfg, signer.sign_all())
