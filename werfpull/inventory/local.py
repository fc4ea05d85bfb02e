"""What a destination already holds of the wanted stages."""

from __future__ import annotations

from werfpull.destinations import Destination
from werfpull.refs import Repo
from werfpull.tools import skopeo


def local_stages(dest: Destination, repo: Repo, signatures: list[str],
                 opts: skopeo.RegistryOptions | None = None) -> dict[str, str | None]:
    """{signature: manifest digest or None} for the wanted stages the destination holds.

    A None digest means present with a digest we cannot read cheaply (docker-daemon).
    """
    return dest.present(repo, signatures, opts or skopeo.RegistryOptions())
