"""The one command builder for skopeo: pure functions from plain data to argv.

`apply` runs these argvs through `process.run`; the script renderer shell-quotes the
very same argvs into the generated script, so the two cannot drift apart. Nothing
here runs anything or holds a credential: an auth file is passed by path only.
"""

from __future__ import annotations

from dataclasses import dataclass

SKOPEO = "skopeo"


@dataclass(frozen=True)
class RegistryOptions:
    """How to talk to one registry. Serialised into plans without the auth file."""

    insecure: bool = False  # plain HTTP or unverified TLS allowed (werf's --insecure-registry)
    skip_tls_verify: bool = False  # werf's --skip-tls-verify-registry
    authfile: str | None = None  # a path; never serialised

    @property
    def tls_verify(self) -> bool:
        return not (self.insecure or self.skip_tls_verify)

    def to_json(self) -> dict:
        return {"insecure": self.insecure, "skip_tls_verify": self.skip_tls_verify}

    @classmethod
    def from_json(cls, data: dict, authfile: str | None = None) -> RegistryOptions:
        return cls(insecure=bool(data.get("insecure")),
                   skip_tls_verify=bool(data.get("skip_tls_verify")), authfile=authfile)


def _registry_flags(opts: RegistryOptions | None, prefix: str = "") -> list[str]:
    """Flags for one side of a command; `prefix` is "src-" or "dest-" for copy."""
    if opts is None:
        return []
    flags = [] if opts.tls_verify else [f"--{prefix}tls-verify=false"]
    if opts.authfile:
        flags.append(f"--{prefix}authfile={opts.authfile}")
    return flags


def inspect_raw(ref: str, opts: RegistryOptions | None, retries: int = 0) -> list[str]:
    """The raw manifest of `ref`, a full transport reference (docker://..., oci:...)."""
    retry = [f"--retry-times={retries}"] if retries else []
    return [SKOPEO, "inspect", "--raw", *retry, *_registry_flags(opts), ref]


def list_tags(repo: str, opts: RegistryOptions | None, retries: int = 0) -> list[str]:
    retry = [f"--retry-times={retries}"] if retries else []
    return [SKOPEO, "list-tags", *retry, *_registry_flags(opts), f"docker://{repo}"]


def copy(src: str, dest: str, *, src_opts: RegistryOptions | None = None,
         dest_opts: RegistryOptions | None = None, preserve_digests: bool = True,
         digestfile: str | None = None, retries: int = 0, quiet: bool = True) -> list[str]:
    argv = [SKOPEO, "copy"]
    if quiet:
        argv.append("--quiet")
    if retries:
        argv.append(f"--retry-times={retries}")
    if preserve_digests:
        argv.append("--preserve-digests")
    if digestfile:
        argv.append(f"--digestfile={digestfile}")
    argv += _registry_flags(src_opts, "src-") + _registry_flags(dest_opts, "dest-")
    return argv + [src, dest]
