"""What the stages repository holds: tags, manifests, and skopeo's errors classified.

Owns the three-valued existence of a stage in a registry. skopeo 1.9 exits 1 for every
error, so its stderr is classified: `manifest unknown` is absent; authentication, TLS,
unreachable and server errors are errors of their own kind and never read as absent.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from werfpull import process, skopeo
from werfpull.errors import RegistryError, ServerError, TLSError, Unauthorized, Unreachable
from werfpull.refs import Repo, stage_tag

# Probing costs one skopeo process per wanted stage, listing one call whose cost grows
# with the repository's history; below this many stages probing is cheaper
# (docs/benchmarks.md, "Inventory strategies").
PROBE_MAX = 8
PROBE_JOBS = 8
BACKOFF_BASE = 0.5  # seconds; doubled per attempt, with full jitter
BACKOFF_MAX = 8.0

_ABSENT = ("manifest unknown", "name unknown", "repository name not known",
           "does not resolve to an image id", "identifier is not an image",
           "no such image", "not found in index")
_UNAUTHORIZED = ("unauthorized", "authentication required", "denied", "401 ", "403 ",
                 "invalid username/password", "no basic auth credentials")
_TLS = ("x509", "certificate", "tls: ", "server gave http response to https client")
_UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "connection reset",
                "eof", "network is unreachable", "timed out", "timeout", "no route to host",
                "broken pipe", "server misbehaving")
_SERVER = ("500 ", "502 ", "503 ", "504 ", "429 ", "internal server error",
           "service unavailable", "bad gateway", "gateway timeout", "too many requests",
           "unexpected http status: 5")


def is_absent(stderr: str) -> bool:
    low = stderr.lower()
    return any(s in low for s in _ABSENT)


def classify(result: process.Result, registry: str, what: str) -> RegistryError:
    """The typed error for a failed skopeo call against `registry` about `what`."""
    low = result.stderr.lower()
    last = _message(result.stderr)
    unreadable = _credentials_error(result.stderr)
    if unreadable:
        # Not the registry's answer: skopeo could not read an auth file, and the innermost
        # cause alone ("invalid character ...") would not say which file.
        return Unauthorized(
            f"{registry}: cannot read the credentials ({unreadable}) for {what}",
            registry=registry, hint="fix or remove that auth file (--registry-authfile, "
                                    "REGISTRY_AUTH_FILE or ~/.docker/config.json)")
    if any(s in low for s in _UNAUTHORIZED):
        return Unauthorized(
            f"{registry}: access refused ({last}) reading {what}", registry=registry,
            hint="check the credentials in --registry-authfile, REGISTRY_AUTH_FILE or "
                 "~/.docker/config.json")
    if any(s in low for s in _TLS):
        return TLSError(
            f"{registry}: TLS failed ({last}) reading {what}", registry=registry,
            # The exact directory skopeo reads for this host:port, ready to copy the CA to.
            hint=f"trust the registry's CA: copy it to /etc/containers/certs.d/{registry}/ca.crt"
                 " (see containers-certs.d(5)), or pass --skip-tls-verify-registry (or "
                 "--insecure-registry for plain HTTP)")
    if any(s in low for s in _SERVER):
        return ServerError(f"{registry}: server error ({last}) reading {what}", registry=registry,
                           hint="the registry is failing; retry later")
    if any(s in low for s in _UNREACHABLE):
        return Unreachable(f"{registry}: registry unreachable ({last}) reading {what}",
                           registry=registry, hint="check the address and that the registry is up")
    return RegistryError(f"{registry}: registry error ({last}) reading {what}",
                         registry=registry)


def is_transient(error: RegistryError) -> bool:
    return isinstance(error, (Unreachable, ServerError))


def backoff(attempt: int) -> float:
    """Seconds to wait before retry `attempt` (1-based): exponential, full jitter."""
    return random.uniform(0, min(BACKOFF_MAX, BACKOFF_BASE * 2 ** (attempt - 1)))


def _logged(stderr: str) -> str:
    """The last line of skopeo's stderr, logrus's msg="..." unquoted."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    text = lines[-1] if lines else "no error message"
    if 'msg="' in text:
        # logrus escapes quotes and newlines inside msg; a literal "\n" must not reach users.
        text = text.split('msg="', 1)[1].rstrip('"').replace('\\"', '"')
        text = text.replace("\\n", " ").replace("\\t", " ")
    return text


def _credentials_error(stderr: str) -> str | None:
    """What skopeo said when it could not read credentials (names the auth file), or None."""
    text = _logged(stderr)
    marker = "getting username and password: "
    if marker not in text:
        return None
    detail = re.sub(r"\d+ errors? occurred:", "", text.split(marker, 1)[1]).strip(" *")
    return " ".join(detail.split())


def _message(stderr: str) -> str:
    """skopeo's message without logrus decoration, on one line."""
    text = _logged(stderr)
    # skopeo nests causes as "context: context: cause"; the innermost one says most.
    parts = [p for p in (x.strip() for x in text.split(": ")) if p]
    return " ".join((parts[-1] if parts else text).split())


@dataclass(frozen=True)
class Manifest:
    digest: str
    media_type: str | None
    size: int | None  # manifest + config + layers, as the manifest declares them
    layers: tuple[tuple[str, int], ...]  # (digest, size), config blob included

    @classmethod
    def parse(cls, raw: bytes) -> Manifest:
        digest = "sha256:" + hashlib.sha256(raw).hexdigest()
        try:
            doc = json.loads(raw)
        except ValueError:
            return cls(digest, None, None, ())
        media = doc.get("mediaType")
        if "layers" not in doc or "config" not in doc:  # an index or schema 1: no sizes
            return cls(digest, media, None, ())
        blobs = [doc["config"], *doc["layers"]]
        layers = tuple((b["digest"], int(b.get("size", 0))) for b in blobs)
        return cls(digest, media, len(raw) + sum(s for _, s in layers), layers)


class Remote:
    """The stages repository: which stages it has and their manifests."""

    def __init__(self, repo: Repo, opts: skopeo.RegistryOptions, retries: int = 2):
        self.repo, self.opts, self.retries = repo, opts, retries
        self._manifests: dict[str, Manifest] = {}
        self.strategy: str | None = None

    def existing(self, signatures: list[str], strategy: str = "auto") -> set[str]:
        """The subset of `signatures` whose stage tag exists; raises on registry errors."""
        unique = list(dict.fromkeys(signatures))
        if strategy == "auto":
            strategy = "probe" if len(unique) <= PROBE_MAX else "list"
        self.strategy = strategy
        if strategy == "list":
            tags = self.list_tags()
            return {s for s in unique if stage_tag(s) in tags}
        found = _parallel(self.probe, unique)
        return {s for s, m in zip(unique, found, strict=True) if m is not None}

    def list_tags(self) -> set[str]:
        """Every tag of the repository; only exact stage tags will ever match a lookup."""
        result = self._run(skopeo.list_tags(self.repo.name, tls_verify=self.opts.tls_verify,
                                            authfile=self.opts.authfile,
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
        ref = self.repo.tagged(signature)
        result = self._run(skopeo.inspect_raw(f"docker://{ref}", tls_verify=self.opts.tls_verify,
                                              authfile=self.opts.authfile,
                                              retries=self.retries))
        if not result.ok:
            if is_absent(result.stderr):
                return None
            raise classify(result, self.repo.host, ref)
        manifest = Manifest.parse(result.stdout)
        self._manifests[signature] = manifest
        return manifest

    def _run(self, argv: list[str]) -> process.Result:
        """Run a read, retrying server errors (5xx, 429): skopeo's own retry skips them."""
        for attempt in range(1, self.retries + 2):
            result = process.run(argv, timeout=self.opts.timeout)
            if result.ok or attempt > self.retries or not isinstance(
                    classify(result, self.repo.host, ""), ServerError):
                return result
            time.sleep(backoff(attempt))
        return result

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
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=min(PROBE_JOBS, len(items))) as pool:
        return list(pool.map(fn, items))


def probe_local(dest, repo: Repo, signatures: list[str],
                opts: skopeo.RegistryOptions | None = None) -> dict[str, str | None]:
    """Stages in a destination that cannot be listed in one call, one probe each."""
    if dest.transport == "docker":
        mirror = Remote(Repo(dest.location), opts or skopeo.RegistryOptions())
        return {s: mirror.probe(s).digest for s in mirror.existing(signatures, "probe")}

    def one(sig: str) -> str | None:
        result = process.run(skopeo.inspect_raw(dest.ref(repo, sig)))
        if result.ok:
            return "sha256:" + hashlib.sha256(result.stdout).hexdigest()
        if is_absent(result.stderr) or "no such file" in result.stderr.lower():
            return None
        raise result.error(f"cannot read {dest.ref(repo, sig)}: {_message(result.stderr)}")

    found = _parallel(one, signatures)
    return {s: d for s, d in zip(signatures, found, strict=True) if d is not None}
