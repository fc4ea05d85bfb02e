"""What the stages repository holds: tags and manifests.

Owns the three-valued existence of a stage in a registry (errors are classified in
`tools/registry_errors.py`), the probe-or-list choice, and `call`: the one way a
skopeo registry read runs, with the timeout and the retries of server errors applied.
A probe is first one HTTP request over a kept-alive connection (`http.py`); whatever
that cannot answer cleanly is asked again through skopeo.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Callable

from werfpull.errors import RegistryError, ServerError
from werfpull.inventory import http
from werfpull.inventory.model import MalformedManifest, Manifest
from werfpull.refs import Repo, sha256_digest, stage_tag
from werfpull.tools import process, skopeo
from werfpull.tools.registry_errors import classify, is_absent

log = logging.getLogger("werfpull.inventory")

# Probing costs one request per stage asked (a skopeo process when HTTP falls back),
# listing one call whose cost grows with the repository's history. Past PROBE_MAX
# probes still to make (HTTP_PROBE_MAX over HTTP), one bounded tag page is asked too
# (first by `existing`, beside the probes by survey.py): when the repository has at
# most TAG_PAGE tags, that page answers every stage at once (docs/benchmarks.md,
# "Inventory strategies"). Over HTTP the page must save more than a few round trips of
# every connection: to serve one page Distribution reads every tag the repository
# holds, a cost on the registry of every host's plan that grows with its history.
PROBE_MAX = 8
PROBE_JOBS = 16
HTTP_PROBE_MAX = 4 * PROBE_JOBS
TAG_PAGE = 1000
BACKOFF_BASE = 0.5  # seconds; doubled per attempt, with full jitter
BACKOFF_MAX = 8.0


def page_pays(probes: int, over_http: bool) -> bool:
    """Whether one bounded tag page is worth asking besides `probes` probes."""
    return probes > (HTTP_PROBE_MAX if over_http else PROBE_MAX)


def backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential, full jitter."""
    return random.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1)))


def call(argv: list[str], opts: skopeo.RegistryOptions, host: str, retries: int = 0,
         on_retry: Callable[[str], None] = lambda line: None) -> process.Result:
    """Run one registry read with `opts.timeout`, retrying server errors (5xx, 429)
    that outlast skopeo's own `--retry-times`. Every registry call werfpull makes runs
    here; `on_retry` hears of each retry, with why."""
    for attempt in range(1, retries + 2):
        result = process.run(argv, timeout=opts.timeout)
        if result.ok or attempt > retries:
            return result
        error = classify(result, host, "")
        if not isinstance(error, ServerError):
            return result
        delay = backoff(attempt)
        on_retry(f"retry {attempt} of a registry read in {delay:.1f} s: {error}")
        time.sleep(delay)
    return result


def manifest_digest(ref: str, host: str, opts: skopeo.RegistryOptions, what: str) -> str:
    """The manifest digest the registry `host` serves for `ref` (a docker reference)."""
    result = call(skopeo.inspect_raw(f"docker://{ref}", opts.side), opts, host)
    if not result.ok:
        raise classify(result, host, what)
    return sha256_digest(result.stdout)


class Remote:
    """The stages repository: which stages it has and their manifests."""

    def __init__(self, repo: Repo, opts: skopeo.RegistryOptions, retries: int = 2,
                 on_retry: Callable[[str], None] = lambda line: None):
        self.repo, self.opts, self.retries = repo, opts, retries
        self._on_retry = on_retry
        self.retried = 0  # reads retried after a server error
        self._lock = threading.Lock()
        self._manifests: dict[str, Manifest] = {}
        self.strategy: str | None = None
        self.processes = 0  # skopeo calls made
        self.http = http.Client(repo.host, tls_verify=opts.tls_verify,
                                authfile=opts.authfile, timeout=opts.timeout,
                                on_server_error=self._retrying)

    @property
    def calls(self) -> int:
        """Registry calls made: HTTP requests plus skopeo processes."""
        return self.http.requests + self.processes

    def tag_page(self) -> set[str] | None:
        """Every tag, when one bounded HTTP request can say so; None when the repository
        has more. Where HTTP cannot answer (an auth scheme not implemented there), one
        skopeo list-tags: many probes would cost a process each."""
        try:
            return self.http.tags_page(self.repo.path, TAG_PAGE)
        except http.Fallback:
            return self.list_tags()

    def existing(self, signatures: list[str], strategy: str = "auto") -> set[str]:
        """The subset of `signatures` whose stage tag exists; raises on registry errors."""
        unique = list(dict.fromkeys(signatures))
        tags = None
        if strategy == "list":
            tags = self.list_tags()
        elif strategy == "auto" and page_pays(len(unique), self.http.usable()):
            tags = self.tag_page()  # one request; None when the repository has more
        self.strategy = "probe" if tags is None else "list"
        if tags is not None:
            return {s for s in unique if stage_tag(s) in tags}
        return self.probe_all(unique)

    def probe_all(self, signatures: list[str]) -> set[str]:
        """The subset of `signatures` present, one probe each, in parallel."""
        found = _parallel(self.probe, signatures)
        return {s for s, m in zip(signatures, found, strict=True) if m is not None}

    def list_tags(self) -> set[str]:
        """Every tag of the repository; only exact stage tags will ever match a lookup."""
        self.strategy = "list"
        result = self._run(skopeo.list_tags(self.repo.name, self.opts.side,
                                            retries=self.retries))
        if not result.ok:
            # A repository nothing was pushed to yet: tags/list answers 404 NAME_UNKNOWN.
            if is_absent(result.stderr) or "404 (not found)" in result.stderr.lower():
                return set()
            raise classify(result, self.repo.host, f"the tags of {self.repo}")
        return set(json.loads(result.stdout).get("Tags") or [])

    def probe(self, signature: str) -> Manifest | None:
        """The stage's manifest, or None when the registry says it is absent."""
        if signature in self._manifests:
            return self._manifests[signature]
        manifest = self.manifest_at(stage_tag(signature))
        if manifest is not None:
            self._manifests[signature] = manifest
        return manifest

    def manifest_at(self, tag: str) -> Manifest | None:
        """The manifest tagged `tag`, None when absent: one HTTP request, else skopeo."""
        ref = f"{self.repo.name}:{tag}"
        try:
            raw = self.http.manifest(self.repo.path, tag)
        except http.Fallback:
            raw = self._skopeo_probe(ref)
        if raw is None:
            return None
        try:
            return Manifest.parse(raw)
        except MalformedManifest as exc:
            raise RegistryError(f"{self.repo.host}: {ref}: the registry served a malformed"
                                f" manifest ({exc})", registry=self.repo.host,
                                hint="the stage cannot be pulled; push it again") from None

    def digest_at(self, tag: str) -> str | None:
        """The digest `tag` points to, None when absent: a HEAD request where HTTP can
        answer, else the manifest read (and its digest computed)."""
        try:
            return self.digest_over_http(tag)
        except http.Fallback:
            manifest = self.manifest_at(tag)
        return None if manifest is None else manifest.digest

    def digest_over_http(self, tag: str) -> str | None:
        """`digest_at` by one HEAD request; raises http.Fallback where HTTP cannot say."""
        return self.http.digest(self.repo.path, tag)

    def config_of(self, manifest: Manifest) -> bytes | None:
        """The image config blob of `manifest` (None: it has none, or it is gone): one
        HTTP request checked against its digest, else `skopeo inspect --config`."""
        if not manifest.layers:
            return None
        try:
            return self.http.blob(self.repo.path, manifest.layers[0][0])
        except http.Fallback:
            pass
        ref = self.repo.digested(manifest.digest)
        result = self._run(skopeo.inspect_config(f"docker://{ref}", self.opts.side))
        if not result.ok:
            if is_absent(result.stderr):
                return None
            raise classify(result, self.repo.host, ref)
        return result.stdout

    def _skopeo_probe(self, ref: str) -> bytes | None:
        result = self._run(skopeo.inspect_raw(f"docker://{ref}", self.opts.side,
                                              retries=self.retries))
        if not result.ok:
            if is_absent(result.stderr):
                return None
            raise classify(result, self.repo.host, ref)
        return result.stdout

    def _run(self, argv: list[str]) -> process.Result:
        with self._lock:
            self.processes += 1
        return call(argv, self.opts, self.repo.host, self.retries, self._retrying)

    def _retrying(self, line: str) -> None:
        """Said as it happens, as a copy's retry is: a burst of server errors while
        planning is not silent, and the run's count of retries includes it."""
        with self._lock:
            self.retried += 1
        log.warning("%s", line)
        self._on_retry(line)

    def manifests(self, signatures: list[str]) -> dict[str, Manifest]:
        """Manifests of stages known to exist; one that vanished meanwhile is an error."""
        found = _parallel(self.probe, signatures)
        out = {}
        for sig, manifest in zip(signatures, found, strict=True):
            if manifest is None:
                raise RegistryError(f"{self.repo.tagged(sig)} vanished while planning",
                                    registry=self.repo.host, hint="plan again")
            out[sig] = manifest
        return out


def _parallel(fn, items: list) -> list:
    return process.parallel(fn, items, PROBE_JOBS)
