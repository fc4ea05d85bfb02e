"""The one command builder for buildah: pure functions from plain data to argv.

Every call takes the store flags of a `ContainersStorage` destination (an isolated
root or the default one), so the builder, `push` and the tests all address the same
store the same way.
"""

from __future__ import annotations

BUILDAH = "buildah"


def _cmd(store: list[str], *args: str) -> list[str]:
    return [BUILDAH, *store, *args]


def from_image(store: list[str], image: str, pull: bool, registry=None) -> list[str]:
    """A working container from `image`; `registry` (RegistryOptions) says how to pull it."""
    flags = []
    if pull and registry is not None:
        flags.append(f"--tls-verify={'true' if registry.tls_verify else 'false'}")
        if registry.authfile:
            flags.append(f"--authfile={registry.authfile}")
    return _cmd(store, "from", "--quiet", f"--pull={'missing' if pull else 'never'}", *flags,
                image)


def run(store: list[str], container: str, script: str, volumes: list[tuple[str, str]]) -> list[str]:
    vols = [f"--volume={host}:{target}" for host, target in volumes]
    return _cmd(store, "run", "--isolation=chroot", *vols, container, "--",
                "/bin/sh", "-e", "-c", script)


def mount(store: list[str], container: str) -> list[str]:
    return _cmd(store, "mount", container)


def umount(store: list[str], container: str) -> list[str]:
    return _cmd(store, "umount", container)


def config(store: list[str], container: str, flags: list[str]) -> list[str]:
    return _cmd(store, "config", *flags, container)


def commit(store: list[str], container: str, name: str) -> list[str]:
    return _cmd(store, "commit", "--quiet", "--rm", container, name)


def rm(store: list[str], container: str) -> list[str]:
    return _cmd(store, "rm", container)


def images_json(store: list[str]) -> list[str]:
    return _cmd(store, "images", "--json", "--no-trunc")  # full image IDs


def inspect_image(store: list[str], name: str) -> list[str]:
    return _cmd(store, "inspect", "--type=image", name)
