"""werf's scan of a reference's history: which images of one image name it keeps.

A transcription of pkg/cleaning/git_history_based_cleanup/scanner.go with werf's
"stage IDs" being, for werfpull, the final signatures an image had at some commits
(and which the stages repository holds). From the reference's head the history is
walked breadth first (a tag only at its head); every expected signature met on the way
is "reached"; `imagesPerReference` then keeps the `last` of them whose latest reaching
commit is newest, and/or those whose commit is within `in`. The scan's
short cuts (stopping once every expected signature is reached, stop commits between
references) are kept where they can change the result and left out where they only
save time. Pure: the commit graph and `now` come in.
"""

from __future__ import annotations

from dataclasses import dataclass

from werfpull.cleanup.policy import AND, Limit, Reference


@dataclass(frozen=True)
class Node:
    time: int  # committer time
    parents: tuple[str, ...]


Graph = dict[str, Node]
Expected = dict[str, list[str]]  # final signature -> the commits that have it


def scan_reference(ref: Reference, graph: Graph, expected: Expected,
                   now: float) -> dict[str, str]:
    """{final signature: the commit it is kept for} of the images `ref` keeps."""
    limit = ref.images or Limit()
    if limit.count == 0:
        return {}
    wanted = expected
    if limit.within is not None and limit.op == AND:
        wanted = {sig: kept for sig, commits in expected.items()
                  if (kept := [c for c in commits if graph[c].time > now - limit.within])}
    if not wanted:
        return {}
    reached = _walk(ref.commit, 1 if ref.kind == "tag" else -1, graph, wanted)
    latest = {sig: _latest(commits, graph) for sig, commits in reached.items() if commits}
    if limit.count < 0 or len(latest) <= limit.count:
        return latest
    by_commit: dict[str, list[str]] = {}
    for sig, commit in latest.items():
        by_commit.setdefault(commit, []).append(sig)
    newest = sorted(by_commit, key=lambda c: -graph[c].time)
    chosen = newest[:limit.count]
    if limit.within is not None:
        recent = [c for c in newest if graph[c].time > now - limit.within]
        if limit.op == AND:
            chosen = [c for c in chosen if c in recent]
        else:
            chosen = recent + [c for c in chosen if c not in recent]
    return {sig: c for c in chosen for sig in by_commit[c]}


def _walk(head: str, depth_limit: int, graph: Graph, wanted: Expected) -> dict[str, list[str]]:
    """werf's scanCommitHistory: breadth first from `head`, generation by generation."""
    at_commit: dict[str, list[str]] = {}
    for sig, commits in wanted.items():
        for c in commits:
            at_commit.setdefault(c, []).append(sig)
    reached: dict[str, list[str]] = {}
    scanned: set[str] = set()
    current, depth = [head], 0
    while True:
        depth += 1
        following: list[str] = []
        for commit in current:
            if commit in scanned or commit not in graph:
                continue
            for sig in at_commit.get(commit, ()):
                reached.setdefault(sig, []).append(commit)
            if depth == depth_limit:
                continue
            if len(reached) == len(wanted):
                break  # werf stops this generation here; the next one still runs
            scanned.add(commit)
            following.extend(graph[commit].parents)
        if not following:
            return reached
        current = following


def _latest(commits: list[str], graph: Graph) -> str:
    best = commits[0]
    for c in commits[1:]:
        if graph[c].time > graph[best].time:
            best = c
    return best
