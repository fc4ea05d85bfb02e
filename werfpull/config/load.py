"""Loading a config: find werf.yaml, render it when it is a template, then parse it.

Owns the order of those steps, which is what keeps templates (which read git) and the
schema (which knows nothing of git) apart.
"""

from __future__ import annotations

import os

from werfpull.config.model import Config
from werfpull.config.schema import check, parse_documents
from werfpull.config.yamldoc import load_documents
from werfpull.errors import ConfigError
from werfpull.gotemplate import render_werf_config
from werfpull.refs import sha256_digest
from werfpull.tools import git

CONFIG_NAMES = ("werf.yaml", "werf.yml")


def find_config(directory: str, config: str | None = None) -> str:
    if config:
        path = config if os.path.isabs(config) else os.path.join(directory, config)
        if not os.path.isfile(path):
            raise ConfigError(f"{path}: no such config file")
        return path
    for name in CONFIG_NAMES:
        path = os.path.join(directory, name)
        if os.path.isfile(path):
            return path
    raise ConfigError(
        f"{os.path.join(directory, CONFIG_NAMES[0])}: no werf.yaml here",
        hint="pass --dir to the project directory or --config FILE",
    )


def _refuse_escape(path: str, directory: str) -> None:
    """A config that is a symlink must stay inside its repository (or the project
    directory outside git): a committed werf.yaml -> /etc/... would make every host
    that checks the project out read, and sign, a file of its own."""
    if not os.path.islink(path):
        return
    top = os.path.realpath(git.repo_root(directory) or directory)
    target = os.path.realpath(path)
    if os.path.commonpath([top, target]) != top:
        raise ConfigError(f"{path}: a symlink to {target}, outside {top}: refused",
                          hint="commit the config itself, or point --config at it")


def load_config(directory: str = ".", config: str | None = None) -> Config:
    path, text = render_config(directory, config)
    return parse_config(text, path, rendered=True)


def render_config(directory: str = ".", config: str | None = None) -> tuple[str, str]:
    """The config's path and its text, rendered first when it is a Go template."""
    path = find_config(directory, config)
    _refuse_escape(path, directory)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError("the config is not valid UTF-8", file=path, line=line) from None
    _refuse_includes(directory)
    if "{{" in text:
        text = render_werf_config(text, path, directory)
    return path, text


def _refuse_includes(directory: str) -> None:
    """werf-includes.yaml pulls templates from other repositories at render time."""
    path = os.path.join(directory, "werf-includes.yaml")
    if os.path.lexists(path):
        raise ConfigError("werf-includes.yaml fetches configuration from other git repositories"
                          " over the network, which werfpull does not use", file=path,
                          hint="copy the included files into this repository instead")


def parse_config(text: str, path: str = "werf.yaml", rendered: bool = False) -> Config:
    """`text` is plain YAML, or with `rendered` the output of render_config (which may hold
    '{{' produced by the template, e.g. for ansible); the digest covers this text."""
    if not rendered:
        _refuse_templates(text, path)
    project, images, build = parse_documents(load_documents(text, path), path)
    config = Config(path=path, project=project, images=images,
                    digest=sha256_digest(text.encode("utf-8")), text=text, build=build)
    check(config)
    return config


def _refuse_templates(text: str, path: str) -> None:
    pos = text.find("{{")
    if pos >= 0:
        raise ConfigError(
            "Go template syntax '{{' is not supported: format 1 reads plain YAML only",
            file=path, line=text.count("\n", 0, pos) + 1,
            hint="render the template to plain YAML first",
        )

