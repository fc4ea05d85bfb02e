"""`werfpull config render`: the werf.yaml as werfpull reads it, rendered to plain YAML."""

from __future__ import annotations

from werfpull.config.load import render_config


def render(directory: str = ".", config: str | None = None) -> str:
    return render_config(directory, config)[1]
