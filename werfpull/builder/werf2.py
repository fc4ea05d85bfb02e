"""What the reference builder needs for the werf 2 keys (spec section 7): the host's
platform, the values of a dependency, and the files that carry secrets.

Secrets reach a `buildah run` as read-only files at `/run/secrets/ID` (werf's place
for them): buildah 1.28's `run` has no `--secret`, and a value on a command line would
show in `ps` and in a -vv log. Values and environment secrets are written to 0600
files in the build's private temporary directory, which the builder removes.
"""

from __future__ import annotations

import os
import platform

from werfpull.config.model import Image
from werfpull.errors import ConfigError
from werfpull.refs import stage_tag

# platform.machine() to the OCI architecture (and variant) names werf uses
_ARCHES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64",
           "armv7l": "arm/v7", "armv6l": "arm/v6", "i386": "386", "i686": "386",
           "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}


def host_platform() -> str:
    machine = platform.machine()
    return f"linux/{_ARCHES.get(machine, machine)}"


def dependency_env(kind: str, tagged: str, repo: str, info: dict | None) -> str:
    """The value of one dependency import; `tagged` is REPO:image-stage-SIG and `info`
    the `buildah inspect` of that image (for ImageID and ImageDigest)."""
    if kind == "ImageName":
        return tagged
    if kind == "ImageRepo":
        return repo
    if kind == "ImageTag":
        return stage_tag(tagged.rsplit("image-stage-", 1)[1])
    if kind == "ImageID":
        return "sha256:" + info["FromImageID"]
    if kind == "ImageDigest":
        return info["FromImageDigest"]
    raise AssertionError(kind)


def secret_volumes(image: Image, config_path: str, project_dir: str,
                   tmp: str) -> list[tuple[str, str]]:
    """(host file, /run/secrets/ID) for every secret of the image; a missing source
    is a ConfigError naming the secret and its source, never showing a value."""
    volumes = []
    for secret in image.secrets:
        where = {"file": config_path, "line": secret.line, "key": "secrets"}
        if secret.src is not None:
            source = os.path.join(project_dir, os.path.expanduser(secret.src))
            try:
                with open(source, "rb") as fh:
                    value = fh.read()
            except OSError:
                raise ConfigError(f"{image.label}: secret {secret.id!r}: cannot read its"
                                  f" source file {secret.src}", **where) from None
        elif secret.env is not None:
            if secret.env not in os.environ:
                raise ConfigError(f"{image.label}: secret {secret.id!r}: environment"
                                  f" variable {secret.env} is not set", **where)
            value = os.environb[os.fsencode(secret.env)]
        else:
            value = secret.value.encode("utf-8")
        # A copy even of a file: its path could hold the ':' that --volume splits on.
        path = os.path.join(tmp, f"secret-{len(volumes)}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(value)
        volumes.append((path, f"/run/secrets/{secret.id}:ro"))
    return volumes
