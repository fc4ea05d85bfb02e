"""A Stapel image's `docker` instructions as `buildah config` flags."""

from __future__ import annotations

import json


def docker_flags(docker: dict) -> list[str]:
    flags = []
    for key, value in docker.items():
        values = value if isinstance(value, list) else [value]
        if key == "VOLUME":
            flags += [f"--volume={v}" for v in values]
        elif key == "EXPOSE":
            flags += [f"--port={v}" for v in values]
        elif key in ("ENV", "LABEL"):
            flag = "--env" if key == "ENV" else "--label"
            flags += [f"{flag}={k}={v}" for k, v in (value or {}).items()]
        elif key in ("ENTRYPOINT", "CMD"):
            flag = "--entrypoint" if key == "ENTRYPOINT" else "--cmd"
            flags.append(f"{flag}={json.dumps(value) if isinstance(value, list) else value}")
        elif key == "WORKDIR":
            flags.append(f"--workingdir={value}")
        elif key == "USER":
            flags.append(f"--user={value}")
        elif key == "HEALTHCHECK":
            flags.append(f"--healthcheck={value}")
    return flags
