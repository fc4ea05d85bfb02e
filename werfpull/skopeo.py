"""The one command builder for skopeo: pure functions from plain data to argv.

`apply` runs these argvs through `process.run`; the script renderer shell-quotes the
very same argvs into the generated script, so the two cannot drift apart. A value may
be a `shell_var` marker, which the script renderer turns into a quoted variable
expansion; that is how the script decides some values at run time (destination, TLS)
with the argv still built here. Nothing here runs anything or holds a credential: an
auth file is passed by path only.
"""

from __future__ import annotations

from dataclasses import dataclass

SKOPEO = "skopeo"
VAR_MARK = "\0"


def shell_var(name: str) -> str:
    """A placeholder for `"${name}"` in a rendered script; never reaches a real argv."""
    return f"{VAR_MARK}{name}{VAR_MARK}"


@dataclass(frozen=True)
class RegistryOptions:
    """How to talk to one registry. Serialised into plans without the auth file."""

    insecure: bool = False  # plain HTTP or unverified TLS allowed (werf's --insecure-registry)
    skip_tls_verify: bool = False  # werf's --skip-tls-verify-registry
    authfile: str | None = None  # a path; never serialised
    # Seconds one skopeo call may take; a registry that accepts and then says nothing
    # would otherwise hang it. A call cut off is "unreachable", hence retried.
    timeout: float | None = None

    @property
    def tls_verify(self) -> bool:
        return not (self.insecure or self.skip_tls_verify)

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


def _side(prefix: str, tls_verify: bool | str | None, authfile: str | None) -> list[str]:
    """Flags of one side; `prefix` is "", "src-" or "dest-"."""
    flags = [] if tls_verify is None else [f"--{prefix}tls-verify={_value(tls_verify)}"]
    return flags + ([f"--{prefix}authfile={authfile}"] if authfile else [])


def inspect_raw(ref: str, *, tls_verify: bool | str | None = None,
                authfile: str | None = None, retries: int = 0) -> list[str]:
    """The raw manifest of `ref`, a full transport reference (docker://..., oci:...)."""
    retry = [f"--retry-times={retries}"] if retries else []
    return [SKOPEO, "inspect", "--raw", *retry, *_side("", tls_verify, authfile), ref]


def list_tags(repo: str, *, tls_verify: bool | str = True, authfile: str | None = None,
              retries: int = 0) -> list[str]:
    retry = [f"--retry-times={retries}"] if retries else []
    return [SKOPEO, "list-tags", *retry, *_side("", tls_verify, authfile), f"docker://{repo}"]


def copy(src: str, dest: str, *, src_tls_verify: bool | str | None = None,
         dest_tls_verify: bool | str | None = None, authfile: str | None = None,
         preserve_digests: bool | str = True, digestfile: str | None = None) -> list[str]:
    """One copy. Retries stay with the caller: skopeo's own do not cover HTTP 503."""
    argv = [SKOPEO, "copy", "--quiet", f"--preserve-digests={_value(preserve_digests)}"]
    if digestfile:
        argv.append(f"--digestfile={digestfile}")
    argv += _side("src-", src_tls_verify, authfile) + _side("dest-", dest_tls_verify, authfile)
    return argv + [src, dest]


def delete(ref: str, *, tls_verify: bool | str | None = None,
           authfile: str | None = None) -> list[str]:
    return [SKOPEO, "delete", *_side("", tls_verify, authfile), ref]
