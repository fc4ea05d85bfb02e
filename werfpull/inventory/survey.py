"""Asking what exists, cheapest first: the destination, then the registry per image.

Owns the order of the inventory questions. The destination is listed once; an image
whose final stage is already there needs nothing from the registry, so a complete
rerun makes no registry call at all. For the other images the registry is asked per
image from the last stage backwards, stopping at the first stage present here or
there (usually one probe per image), in waves: each wave probes, in parallel and each
signature once, the next stage of every image still undecided. When more than
`PROBE_MAX` probes may still be needed, one bounded tag page is asked first, which
answers everything at once for a repository of at most `TAG_PAGE` tags.
`--inventory list` lists every tag; `--inventory probe` never lists. Stages below
the one chosen are never asked: their remote state is unknown (None).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from werfpull.inventory.registry import PROBE_MAX, Remote
from werfpull.refs import stage_tag

log = logging.getLogger("werfpull.inventory")


@dataclass
class Survey:
    remote: set[str]  # signatures the registry has
    asked: set[str] | None  # signatures the registry was asked about; None: all
    strategy: str  # local | probe | list


def survey(chains: list[list[str]], local: dict, remote: Remote, strategy: str,
           all_stages: bool) -> Survey:
    """`chains`: each planned image's stage signatures, first to last."""
    if all_stages:
        wanted = list(dict.fromkeys(s for c in chains for s in c if s not in local))
        return _report(_everything(wanted, remote, strategy), remote)
    pending = [c for c in chains if c and c[-1] not in local]
    if not pending:
        return _report(Survey(set(), set(), "local"), remote)
    if strategy == "list":
        return _report(_everything(_below(pending, local, 1), remote, "list"), remote)
    found: dict[str, bool] = {}
    depth = 1
    while pending:
        if strategy == "auto" and len(_below(pending, local, depth)) > PROBE_MAX:
            tags = remote.tag_page()
            if tags is not None:
                found.update((s, stage_tag(s) in tags) for s in _below(pending, local, depth))
                return _report(Survey({s for s, ok in found.items() if ok}, set(found),
                                      "list"), remote)
            strategy = "probe"  # the repository is too large to list in one page
        wave = list(dict.fromkeys(c[-depth] for c in pending if c[-depth] not in found))
        present = remote.probe_all(wave)
        found.update((s, s in present) for s in wave)
        pending = [c for c in pending if len(c) > depth and not found[c[-depth]]
                   and c[-depth - 1] not in local]
        depth += 1
    return _report(Survey({s for s, ok in found.items() if ok}, set(found), "probe"), remote)


def _everything(wanted: list[str], remote: Remote, strategy: str) -> Survey:
    present = remote.existing(wanted, strategy) if wanted else set()
    return Survey(present, set(wanted), remote.strategy or "probe")


def _below(chains: list[list[str]], local: dict, depth: int) -> list[str]:
    """The stages each chain may still need asked: from its `depth`-th stage from the end
    down to a local one."""
    out = []
    for chain in chains:
        for sig in reversed(chain[:len(chain) - depth + 1]):
            if sig in local:
                break
            out.append(sig)
    return list(dict.fromkeys(out))


def _report(result: Survey, remote: Remote) -> Survey:
    log.info("inventory: %s, %d registry calls (%d HTTP requests, %d skopeo processes)",
             result.strategy, remote.calls, remote.http.requests, remote.processes)
    return result
