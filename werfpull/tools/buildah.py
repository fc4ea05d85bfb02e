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


def commit(store: list[str], container: str, name: str, omit_history: bool = False) -> list[str]:
    flags = ["--omit-history"] if omit_history else []
    return _cmd(store, "commit", "--quiet", "--rm", *flags, container, name)


def inspect_container(store: list[str], container: str) -> list[str]:
    return _cmd(store, "inspect", "--type=container", container)


def rm(store: list[str], container: str) -> list[str]:
    return _cmd(store, "rm", container)


def images_json(store: list[str]) -> list[str]:
    return _cmd(store, "images", "--json", "--no-trunc")  # full image IDs


def inspect_image(store: list[str], name: str) -> list[str]:
    return _cmd(store, "inspect", "--type=image", name)


def containers_json(store: list[str]) -> list[str]:
    """Every container of the store, buildah's and other tools' (podman's) alike."""
    return _cmd(store, "containers", "--all", "--json")


def rmi(store: list[str], name: str) -> list[str]:
    return _cmd(store, "rmi", name)


VERSION_NOTE = "1.28"  # Debian 12's, which the builder supports


def build(store: list[str], context: str, *, dockerfile: str, ignorefile: str, tag: str,
          target: str | None, build_args: dict[str, str], labels: list[str],
          secrets: list[str], ssh: str | None, network: str | None, add_hosts: list[str],
          registry=None) -> list[str]:
    """`buildah build` of one Dockerfile image for the host's platform, never pulling an
    image the store already holds (stages of this project are local by name)."""
    flags = ["--isolation=chroot", "--pull=false", "--quiet", f"--file={dockerfile}",
             f"--ignorefile={ignorefile}", f"--tag={tag}"]
    if target is not None:
        flags.append(f"--target={target}")
    flags += [f"--build-arg={k}={v}" for k, v in build_args.items()]
    flags += [f"--label={label}" for label in labels]
    flags += [f"--secret={s}" for s in secrets]
    if ssh is not None:
        flags.append(f"--ssh={ssh}")
    if network is not None:
        flags.append(f"--network={network}")
    flags += [f"--add-host={h}" for h in add_hosts]
    if registry is not None:
        flags.append(f"--tls-verify={'true' if registry.tls_verify else 'false'}")
        if registry.authfile:
            flags.append(f"--authfile={registry.authfile}")
    return _cmd(store, "build", *flags, context)
