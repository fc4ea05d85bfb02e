"""The one command builder for skopeo: pure functions from plain data to argv.

`apply` runs these argvs through `process.run`; the script renderer shell-quotes the
very same argvs into the generated script, so the two cannot drift apart. A value may
be a `shell_var` marker, which the script renderer turns into a quoted variable
expansion; that is how the script decides some values at run time (destination, TLS)
with the argv still built here. Nothing here runs anything or holds a credential: an
auth file is passed by path only.

Each end of a call is a `Side` (how skopeo reaches it), passed whole: a registry's
TLS and auth file, a docker daemon's address, or nothing for local transports.
"""

from __future__ import annotations

from dataclasses import dataclass

SKOPEO = "skopeo"
VAR_MARK = "\0"


def shell_var(name: str) -> str:
    """A placeholder for `"${name}"` in a rendered script; never reaches a real argv."""
    return f"{VAR_MARK}{name}{VAR_MARK}"


@dataclass(frozen=True)
class Side:
    """How skopeo reaches one end of a call; None leaves a flag out."""

    tls_verify: bool | str | None = None
    authfile: str | None = None
    daemon_host: str | None = None  # docker-daemon: skopeo 1.9 ignores DOCKER_HOST
    cert_dir: str | None = None  # a TLS docker daemon's client certificates

    def flags(self, prefix: str = "") -> list[str]:
        """Flags of this side; `prefix` is "", "src-" or "dest-"."""
        flags = [] if self.tls_verify is None else [
            f"--{prefix}tls-verify={_value(self.tls_verify)}"]
        if self.authfile:
            flags.append(f"--{prefix}authfile={self.authfile}")
        if self.daemon_host:
            flags.append(f"--{prefix}daemon-host={self.daemon_host}")
        if self.cert_dir:
            flags.append(f"--{prefix}cert-dir={self.cert_dir}")
        return flags


LOCAL = Side()


@dataclass(frozen=True)
class RegistryOptions:
    """How to talk to a registry. Serialised into plans without the auth file."""

    insecure: bool = False  # plain HTTP or unverified TLS allowed (werf's --insecure-registry)
    skip_tls_verify: bool = False  # werf's --skip-tls-verify-registry
    authfile: str | None = None  # a path; never serialised
    # Seconds one skopeo call may take; a registry that accepts and then says nothing
    # would otherwise hang it. A call cut off is "unreachable", hence retried.
    timeout: float | None = None

    @property
    def tls_verify(self) -> bool:
        return not (self.insecure or self.skip_tls_verify)

    @property
    def side(self) -> Side:
        return Side(tls_verify=self.tls_verify, authfile=self.authfile)

    def to_json(self) -> dict:
        return {"insecure": self.insecure, "skip_tls_verify": self.skip_tls_verify}

    @classmethod
    def from_json(cls, data: dict, authfile: str | None = None,
                  timeout: float | None = None) -> RegistryOptions:
        return cls(insecure=bool(data.get("insecure")),
                   skip_tls_verify=bool(data.get("skip_tls_verify")), authfile=authfile,
                   timeout=timeout)


def _value(value: bool | int | str) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


def _retry(retries: int) -> list[str]:
    return [f"--retry-times={retries}"] if retries else []


def inspect_raw(ref: str, side: Side = LOCAL, *, retries: int = 0) -> list[str]:
    """The raw manifest of `ref`, a full transport reference (docker://..., oci:...)."""
    return [SKOPEO, "inspect", "--raw", *_retry(retries), *side.flags(), ref]


def inspect_config(ref: str, side: Side = LOCAL) -> list[str]:
    """The image's config blob, as stored (its digest is the image ID)."""
    return [SKOPEO, "inspect", "--config", "--raw", *side.flags(), ref]


def list_tags(repo: str, side: Side, *, retries: int = 0) -> list[str]:
    return [SKOPEO, "list-tags", *_retry(retries), *side.flags(), f"docker://{repo}"]


def copy(src: str, dest: str, *, src_side: Side = LOCAL, dest_side: Side = LOCAL,
         preserve_digests: bool | str = True, digestfile: str | None = None) -> list[str]:
    """One copy. Retries stay with the caller: skopeo's own do not cover HTTP 503."""
    argv = [SKOPEO, "copy", "--quiet", f"--preserve-digests={_value(preserve_digests)}"]
    if digestfile:
        argv.append(f"--digestfile={digestfile}")
    return argv + src_side.flags("src-") + dest_side.flags("dest-") + [src, dest]


def delete(ref: str, side: Side = LOCAL) -> list[str]:
    return [SKOPEO, "delete", *side.flags(), ref]
