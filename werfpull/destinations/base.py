"""The destination protocol: where pulled stages land, and what the script needs of it.

A destination is an object, never a string compared: it names a stage inside itself
(`name`, `ref`), says how skopeo reaches it (`side`), whether a copy keeps manifest
digests, how many copies may write it at once and where one writes (`copy_target`,
`commit`), which wanted stages it already holds (`present`) and what a correct copy of
one reports there (`local_id`), how a landed stage is checked (`verify`), a wrong one
removed (`untag`) and a failure of the destination itself told from the registry's
(`failure`), and for host cleanup which stages it holds (`local_images`) and how they
go (`remove_images`).
`shell_*` give the generated script the same mapping.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

from werfpull.errors import UsageError
from werfpull.refs import Repo, sha256_digest
from werfpull.tools import process, skopeo
from werfpull.tools.registry_errors import is_absent, message


@dataclass(frozen=True)
class LocalImage:
    """An image a local store holds under `name`, as host cleanup sees it."""

    name: str
    size: int  # bytes (a store reports them rounded to three digits)
    created: float | None  # Unix seconds
    image_id: str = ""
    in_use: bool = False  # a container uses it (a running build's)


@dataclass(frozen=True)
class Destination:
    location: str = ""  # store spec, OCI directory, or mirror repository

    transport: ClassVar[str]
    # The generated script: (`case` pattern of the WERFPULL_DEST values it accepts, sh
    # expression of a stage's reference there), with $DEST, $name (the stage's
    # REPO:image-stage-SIG) and $sig (its signature) set.
    shell_cases: ClassVar[tuple[tuple[str, str], ...]]
    preserves_digests: ClassVar[bool] = True
    max_jobs: ClassVar[int | None] = None  # None: as many copies as --jobs
    # Whether a copy skips the blobs the destination already has (docker load does not:
    # skopeo streams every layer of each stage into it).
    reuses_blobs: ClassVar[bool] = True

    @classmethod
    def parse(cls, text: str) -> Destination | None:
        """The destination `text` names, None when it is not of this transport."""
        raise NotImplementedError

    @property
    def spec(self) -> str:
        """The `--dest` text that names this destination."""
        raise NotImplementedError

    def side(self, opts: skopeo.RegistryOptions) -> skopeo.Side:
        """How skopeo reaches this destination. The registry's flags are passed to every
        transport (skopeo ignores them for local ones), as the generated script does."""
        return opts.side

    def name(self, repo: Repo, signature: str) -> str:
        """The stage's name inside the destination (without the transport)."""
        return repo.tagged(signature)

    def ref(self, repo: Repo, signature: str) -> str:
        """The full skopeo transport reference of the stage in this destination."""
        raise NotImplementedError

    def copy_target(self, repo: Repo, signature: str,
                    opts: skopeo.RegistryOptions) -> tuple[str, skopeo.Side]:
        """Where one copy of the stage writes and how skopeo reaches it; `commit` makes
        it visible under `ref` (a destination that stages copies, like an OCI layout)."""
        return self.ref(repo, signature), self.side(opts)

    def commit(self, repo: Repo, signature: str) -> None:
        """Publish a copy that wrote to `copy_target`; nothing to do for most."""

    def discard(self, repo: Repo, signature: str) -> None:
        """Drop what a failed copy left at `copy_target`; nothing to do for most."""

    def present(self, repo: Repo, signatures: list[str],
                opts: skopeo.RegistryOptions) -> dict[str, str | None]:
        """{signature: `local_id`} of the wanted stages held here (None: present, digest
        unknown)."""
        raise NotImplementedError

    def local_id(self, digest: str, config: str | None) -> str | None:
        """What `present` reports for a correct copy of the registry's manifest `digest`
        with config blob `config`: the manifest digest where copies keep it."""
        return digest

    def failure(self, result: process.Result) -> Exception | None:
        """The destination's own error for a failed copy into it, or None (the registry's)."""
        return None

    def verify(self, repo: Repo, signature: str, digest: str, config: str | None,
               written: str) -> str | None:
        """What is wrong with a stage that just landed (skopeo wrote `written`), or None."""
        if written == digest:
            return None
        return f"landed with digest {written or '?'}, the plan says {digest}"

    def untag(self, repo: Repo, signature: str, opts: skopeo.RegistryOptions) -> None:
        """Remove a wrong image's name so nothing wrong stays tagged as this stage."""
        raise NotImplementedError

    def blobs(self) -> set[str] | None:
        """Blob digests already here, when that is cheap to know (an OCI layout)."""
        return None

    def local_images(self, prefixes: tuple[str, ...]) -> list[LocalImage]:
        """The images held here under a name starting with one of `prefixes`."""
        raise UsageError(f"host-cleanup works on containers-storage and oci:DIR, not {self.spec}")

    def remove_images(self, names: list[str]) -> None:
        """Remove these names, and with the last name of an image what only it used."""
        raise UsageError(f"host-cleanup works on containers-storage and oci:DIR, not {self.spec}")


def probe_each(refs: dict[str, str], *, config: bool = False) -> dict[str, str]:
    """{key: manifest digest, or with `config` its config digest} of the local references
    `refs` ({key: ref}) that exist, one `skopeo inspect` each, in parallel."""
    def one(ref: str) -> str | None:
        result = process.run(skopeo.inspect_raw(ref))
        if result.ok:
            if config:
                return (json.loads(result.stdout).get("config") or {}).get("digest")
            return sha256_digest(result.stdout)
        if is_absent(result.stderr) or "no such file" in result.stderr.lower():
            return None
        raise result.error(f"cannot read {ref}: {message(result.stderr)}")

    keys = list(refs)
    found = process.parallel(one, [refs[k] for k in keys], 8)
    return {k: d for k, d in zip(keys, found, strict=True) if d is not None}
