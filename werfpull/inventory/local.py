"""What a destination already holds of the wanted stages, and which of those hold
other content than the registry's manifest says."""

from __future__ import annotations

from werfpull.destinations import Destination
from werfpull.inventory.model import Manifest
from werfpull.refs import Repo
from werfpull.tools import skopeo


def local_stages(dest: Destination, repo: Repo, signatures: list[str],
                 opts: skopeo.RegistryOptions | None = None) -> dict[str, str | None]:
    """{signature: Destination.local_id or None} for the wanted stages the destination
    holds (None: present, content unknown)."""
    return dest.present(repo, signatures, opts or skopeo.RegistryOptions())


def differing(dest: Destination, local: dict[str, str | None],
              manifests: dict[str, Manifest]) -> set[str]:
    """The stages held locally whose content is not `manifests` (the registry's): a
    wrong or damaged image under a stage's name, to be pulled again."""
    out = set()
    for sig, manifest in manifests.items():
        config = manifest.layers[0][0] if manifest.layers else None
        want = dest.local_id(manifest.digest, config)
        if local.get(sig) is not None and want is not None and local[sig] != want:
            out.add(sig)
    return out
