"""Asking what exists, cheapest first: the destination, then the registry per image.

Owns the order of the inventory questions. The destination is listed once; an image
whose final stage is already there needs nothing from the registry, so a complete
rerun makes no registry call at all. For the other images the registry is asked per
image from the last stage backwards, in two waves, each in parallel and each signature
asked once: every image's last stage (usually present: one probe per image), then, for
the images whose last stage is missing, every stage below it down to one held here.
The planner takes the last present one; the second wave asks a few stages more than
one by one would, and saves a round trip per stage. When more probes may still be
needed than a few round trips of every connection make (`registry.page_pays`), one
bounded tag page is asked beside them over HTTP: when it comes back holding every tag
(a repository of at most `TAG_PAGE`), it answers the rest at once; a larger repository
costs that one request and no waiting, so planning time does not grow with the
repository's history. Where reads cannot go over HTTP (each probe a skopeo process),
the page is asked first instead, past `PROBE_MAX` probes.
`--inventory list` lists every tag; `--inventory probe` never lists. Stages below
the one chosen are never asked: their remote state is unknown (None).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from werfpull.inventory.registry import TAG_PAGE, Remote, page_pays
from werfpull.refs import stage_tag
from werfpull.tools import process

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
        process.preload()
        return _report(_everything(wanted, remote, strategy), remote)
    pending = [c for c in chains if c and c[-1] not in local]
    if not pending:
        return _report(Survey(set(), set(), "local"), remote)
    process.preload()  # the registry is asked: copies may follow
    if strategy == "list":
        return _report(_everything(_below(pending, local, 1), remote, "list"), remote)
    found: dict[str, bool] = {}
    page = None
    for depth in (1, 2):
        below, tags = _below(pending, local, depth), None
        if strategy == "auto" and page is None:
            over_http = remote.http.usable()
            if page_pays(len(below), over_http):
                if over_http:
                    page = _Page(remote)  # asked beside the probes, never waited for
                else:  # each probe would be a skopeo process: one listing first
                    tags = remote.tag_page()
        if tags is None and page is not None:
            tags = page.answer()
        if tags is not None:
            found.update((s, stage_tag(s) in tags) for s in below)
            return _report(_result(found, "list"), remote)
        # First every image's last stage (usually the answer), then at once every stage
        # below it down to a local one: two round trips, however long the chains.
        wave = [c[-1] for c in pending] if depth == 1 else below
        wave = [s for s in dict.fromkeys(wave) if s not in found]
        present = remote.probe_all(wave)
        found.update((s, s in present) for s in wave)
        pending = [c for c in pending if len(c) > 1 and not found[c[-1]]
                   and c[-2] not in local]
        if not pending:
            break
    return _report(_result(found, "probe"), remote)


def _result(found: dict[str, bool], strategy: str) -> Survey:
    return Survey({s for s, ok in found.items() if ok}, set(found), strategy)


class _Page:
    """One bounded tag page over HTTP, in the background. A repository of at most
    `TAG_PAGE` tags answers every stage still undecided at once; for a larger one the
    registry may take a while to say so (Distribution reads every tag to serve a page),
    so the probes go on meanwhile and the plan never waits for it."""

    def __init__(self, remote: Remote):
        self._tags: set[str] | None = None
        self._done = threading.Event()
        threading.Thread(target=self._ask, args=(remote,), daemon=True,
                         name="werfpull-tag-page").start()

    def _ask(self, remote: Remote) -> None:
        try:
            self._tags = remote.http.tags_page(remote.repo.path, TAG_PAGE)
        except Exception:  # noqa: BLE001 - any failure: the probes answer, as without it
            self._tags = None
        finally:
            self._done.set()

    def answer(self) -> set[str] | None:
        """Every tag, once the page has come and held them all; else None."""
        return self._tags if self._done.is_set() else None


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
    log.info("inventory: %s, %d registry calls (%d HTTP requests, %d skopeo processes),"
             " %d retried", result.strategy, remote.calls, remote.http.requests,
             remote.processes, remote.retried)
    return result
