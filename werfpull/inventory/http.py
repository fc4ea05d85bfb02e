"""Registry reads over kept-alive HTTP connections: a probe costs a request, not a process.

Owns the fast path of `Remote.probe` and of the bounded tag page: a GET with the
credentials and the TLS trust skopeo would use, answered present (the manifest),
absent (404 with MANIFEST_UNKNOWN or NAME_UNKNOWN, what skopeo reads as absent) or
`Fallback`. Anonymous registries, HTTP Basic and the Docker token protocol (a Bearer
challenge: a pull token per repository from the realm, `bearer.py`) are read here.
Everything else falls back: any other status, a network or TLS error, an auth file
with a credential helper or an identity token, a token server that refuses or fails,
another auth scheme, a proxy in the environment. Errors are never classified here:
skopeo asks again and classifies them the one way (`tools/registry_errors.py`), so an
error reads the same whichever path met it; once the credentials or a token were
refused, every later read of that host is skopeo's. Transfers always go through skopeo.

Credentials are looked up as containers-auth.json(5) says skopeo does: the auth file
given (`--registry-authfile`, else `REGISTRY_AUTH_FILE`), otherwise
`${XDG_RUNTIME_DIR}/containers/auth.json`, `${XDG_CONFIG_HOME:-~/.config}/containers/
auth.json`, `~/.docker/config.json`, `~/.dockercfg`; the first file naming the
registry wins. TLS trust is the system's plus containers-certs.d(5):
`/etc/containers/certs.d/HOST:PORT/*.crt` (and `/etc/docker/certs.d`), client
certificates `*.cert` with `*.key`. A registries.conf(5) entry that sends this host's
reads elsewhere (another `location`, a mirror that serves tags, `blocked`) leaves
every read to skopeo; mirrors with `pull-from-mirror = "digest-only"` only serve the
copies by digest, never a probe by tag, so they change nothing here.
"""

from __future__ import annotations

import base64
import glob
import http.client
import json
import os
import ssl
import threading
import tomllib
import urllib.parse
from collections.abc import Callable

from werfpull.inventory.bearer import Fallback, Tokens, challenge
from werfpull.refs import DIGEST_RE, sha256_digest

ACCEPT = ", ".join((
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
))
ABSENT_CODES = {"MANIFEST_UNKNOWN", "NAME_UNKNOWN"}
CERTS_DIRS = ("/etc/containers/certs.d", "/etc/docker/certs.d")
MAX_BODY = 32 * 1024 * 1024  # a tag page or a manifest larger than this: ask skopeo


class Client:
    """Kept-alive connections to one registry host, shared by threads."""

    def __init__(self, host: str, *, tls_verify: bool, authfile: str | None,
                 timeout: float | None,
                 on_server_error: Callable[[str], None] = lambda line: None):
        self.host, self.tls_verify, self.timeout = host, tls_verify, timeout
        self.authfile = authfile
        # A 5xx or 429 answer is never read here: skopeo asks again, and retries.
        self._on_server_error = on_server_error
        self._sent = 0
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._ready = threading.Lock()
        self._scheme: str | None = None
        self._auth: dict[str, str] = {}  # the Basic Authorization header, when needed
        self._tokens: Tokens | None = None  # the registry asked for Bearer tokens
        self._refused: str | None = None  # why this host is skopeo's, once known
        self._context: ssl.SSLContext | None = None

    def manifest(self, name: str, reference: str) -> bytes | None:
        """The raw manifest of NAME:REFERENCE, None when absent; raises Fallback."""
        status, headers, body = self.get(name, f"/v2/{name}/manifests/{reference}",
                                         {"Accept": ACCEPT})
        if status == 200:
            return body
        if status == 404 and _codes(body) & ABSENT_CODES:
            return None
        raise Fallback(f"HTTP {status}")

    def digest(self, name: str, reference: str) -> str | None:
        """The digest NAME:REFERENCE points to, from a HEAD request (no manifest body
        sent), None when absent; raises Fallback when the registry does not say it."""
        status, headers, _ = self.get(name, f"/v2/{name}/manifests/{reference}",
                                      {"Accept": ACCEPT}, method="HEAD")
        if status == 404:  # a HEAD answer has no body with error codes to read
            return None
        digest = headers.get("docker-content-digest", "")
        if status != 200 or not DIGEST_RE.fullmatch(digest):
            raise Fallback(f"HTTP {status} without a Docker-Content-Digest")
        return digest

    def blob(self, name: str, digest: str) -> bytes:
        """The blob `digest` of NAME, checked against the digest; raises Fallback (also
        for a redirect to a storage backend, which skopeo follows)."""
        status, _, body = self.get(name, f"/v2/{name}/blobs/{digest}", {})
        if status != 200:
            raise Fallback(f"HTTP {status}")
        if sha256_digest(body) != digest:
            raise Fallback("the blob does not match its digest")
        return body

    def tags_page(self, name: str, n: int) -> set[str] | None:
        """Every tag of NAME when the registry has at most `n` (one page), else None."""
        status, headers, body = self.get(name, f"/v2/{name}/tags/list?n={n}", {})
        if status == 404 and _codes(body) & ABSENT_CODES:
            return set()  # a repository nothing was pushed to yet
        if status != 200:
            raise Fallback(f"HTTP {status}")
        if "link" in headers:
            return None
        try:
            return set(json.loads(body).get("tags") or [])
        except (ValueError, AttributeError):
            raise Fallback("not a tag list") from None

    def get(self, name: str, path: str, headers: dict,
            method: str = "GET") -> tuple[int, dict, bytes]:
        """GET (or HEAD) `path` of repository NAME with the credentials the registry
        asks for."""
        self._prepare()
        if self._tokens is None:
            return self._send(path, {**headers, **self._auth}, method)
        answer = self._send(path, {**headers, **self._bearer(name)}, method)
        if answer[0] == 401:  # expired or revoked meanwhile: one new token, once
            answer = self._send(path, {**headers, **self._bearer(name, renew=True)}, method)
            if answer[0] == 401:
                self._refuse("a fresh token was refused")
        return answer

    @property
    def requests(self) -> int:
        """Requests sent, to the registry and to its token server."""
        return self._sent + (self._tokens.requests if self._tokens else 0)

    def _bearer(self, name: str, renew: bool = False) -> dict[str, str]:
        try:
            return self._tokens.header(name, renew=renew)
        except Fallback as exc:
            self._refuse(str(exc))
            raise

    def _refuse(self, why: str) -> None:
        """Leave this host's reads to skopeo from now on: a refusal is skopeo's to read
        and report, and asking again for every probe would only repeat it."""
        with self._ready:
            self._refused = why

    def usable(self) -> bool:
        """Whether reads of this host go over HTTP (pings it once); else they are skopeo's."""
        try:
            self._prepare()
        except Fallback:
            return False
        return True

    # -- connections ------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Once per host: the scheme, and the credentials the registry asks for."""
        with self._ready:
            if self._refused:
                raise Fallback(self._refused)
            if self._scheme is not None:
                return
            try:
                self._ping()
            except Fallback as exc:
                self._refused = str(exc)
                raise

    def _ping(self) -> None:
        if _proxied(self.host):
            raise Fallback("a proxy is configured")
        if self.host == "docker.io":
            raise Fallback("docker.io is served from another host")
        if rerouted(self.host):
            raise Fallback("registries.conf sends this registry's reads elsewhere")
        creds = credentials(self.host, self.authfile)
        schemes = ("https",) if self.tls_verify else ("https", "http")
        for scheme in schemes:
            self._scheme = scheme
            try:
                status, headers, _ = self._send("/v2/", {})
                break
            except Fallback:
                self._scheme = None
                if scheme == schemes[-1]:
                    raise
        if status == 200:
            return
        asked = headers.get("www-authenticate", "")
        bearer = challenge(asked) if status == 401 else None
        if bearer is not None:
            self._tokens = Tokens(bearer, creds, registry_scheme=self._scheme,
                                  context=self._tls(),
                                  timeout=self.timeout)
            return
        if status != 401 or not asked.lower().startswith("basic") or not creds:
            self._scheme = None
            raise Fallback(f"HTTP {status} {asked.split(' ', 1)[0]}")
        user, password = creds
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        self._auth = {"Authorization": f"Basic {token}"}
        if self._send("/v2/", self._auth)[0] != 200:
            self._scheme, self._auth = None, {}
            raise Fallback("credentials refused")

    def _send(self, path: str, headers: dict, method: str = "GET") -> tuple[int, dict, bytes]:
        for attempt in (1, 2):
            conn, reused = self._connection()
            with self._lock:
                self._sent += 1  # every request sent, answered or not
            try:
                conn.request(method, path, headers={"Host": self.host, **headers})
                response = conn.getresponse()
                body = response.read(MAX_BODY + 1)
            except (OSError, http.client.HTTPException) as exc:
                conn.close()
                if reused and attempt == 1:
                    continue  # the server closed an idle connection: open a new one
                raise Fallback(f"{type(exc).__name__}: {exc}") from None
            if response.status >= 500 or response.status == 429:
                self._on_server_error(f"retry of a registry read: {self.host} answered"
                                      f" HTTP {response.status} to {method} {path}")
            if len(body) > MAX_BODY:
                conn.close()
                raise Fallback("response too large")
            if response.will_close:
                conn.close()
            else:
                with self._lock:
                    self._idle.append(conn)
            return response.status, {k.lower(): v for k, v in response.getheaders()}, body
        raise Fallback("unreachable")  # not reached: the loop returns or raises

    def _connection(self) -> tuple[http.client.HTTPConnection, bool]:
        with self._lock:
            if self._idle:
                return self._idle.pop(), True
        if self._scheme == "https":
            return http.client.HTTPSConnection(self.host, timeout=self.timeout,
                                               context=self._tls()), False
        return http.client.HTTPConnection(self.host, timeout=self.timeout), False

    def _tls(self) -> ssl.SSLContext:
        """One context for every connection to the host: loading the system's trust
        costs tens of milliseconds of CPU, which each of the parallel connections paid."""
        with self._lock:
            if self._context is None:
                self._context = tls_context(self.host, self.tls_verify)
            return self._context

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def tls_context(host: str, verify: bool) -> ssl.SSLContext:
    """The system's trust plus the registry's certs.d directory, as skopeo builds it;
    without verification no trust is loaded (client certificates still are)."""
    if verify:
        context = ssl.create_default_context()
    else:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    for base in CERTS_DIRS:
        directory = os.path.join(base, host)
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        for name in names:
            path = os.path.join(directory, name)
            if name.endswith(".crt"):
                context.load_verify_locations(cafile=path)
            elif name.endswith(".cert"):
                key = path[:-len(".cert")] + ".key"
                context.load_cert_chain(path, key if os.path.exists(key) else None)
    return context


def auth_files(authfile: str | None) -> list[str]:
    """The auth files skopeo reads, in its order (containers-auth.json(5))."""
    given = authfile or os.environ.get("REGISTRY_AUTH_FILE")
    if given:
        return [given]
    home = os.path.expanduser("~")
    files = []
    if os.environ.get("XDG_RUNTIME_DIR"):
        files.append(os.path.join(os.environ["XDG_RUNTIME_DIR"], "containers", "auth.json"))
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(home, ".config")
    files += [os.path.join(config, "containers", "auth.json"),
              os.path.join(home, ".docker", "config.json"), os.path.join(home, ".dockercfg")]
    return files


def credentials(host: str, authfile: str | None) -> tuple[str, str] | None:
    """(user, password) for `host` from the first auth file that names it; None when none
    does. Raises Fallback for what only skopeo reads: helpers, tokens, broken files."""
    for path in auth_files(authfile):
        try:
            with open(path, encoding="utf-8") as fh:
                doc = json.load(fh)
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            raise Fallback(f"{path} is not readable JSON") from None
        if not isinstance(doc, dict):
            raise Fallback(f"{path} is not an auth file")
        if host in (doc.get("credHelpers") or {}):
            raise Fallback("a credential helper")
        auths = doc.get("auths", doc if path.endswith(".dockercfg") else {})
        entry = _entry(auths, host)
        if entry is None:
            if doc.get("credsStore"):
                raise Fallback("a credential store")
            continue
        if entry.get("identitytoken") or not entry.get("auth"):
            raise Fallback("an identity token")
        try:
            user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            raise Fallback(f"{path}: an unreadable auth entry") from None
        return user, password
    return None


def _entry(auths: dict, host: str) -> dict | None:
    """The entry for `host`: its exact key, or a legacy URL key (https://HOST/v1/)."""
    if not isinstance(auths, dict):
        return None
    if host in auths:
        return auths[host]
    for key, entry in auths.items():
        if key.startswith(host + "/"):
            raise Fallback("a per-repository auth entry")  # skopeo picks by repository
        if urllib.parse.urlsplit(key).netloc == host:
            return entry
    return None


def registries_confs() -> list[str]:
    """The registries.conf files skopeo reads, in its order (containers-registries.conf(5))."""
    if os.environ.get("CONTAINERS_REGISTRIES_CONF"):
        return [os.environ["CONTAINERS_REGISTRIES_CONF"]]
    config = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"),
                                                               ".config")
    user = os.path.join(config, "containers", "registries.conf")
    main = user if os.path.exists(user) else "/etc/containers/registries.conf"
    return [main, *sorted(glob.glob("/etc/containers/registries.conf.d/*.conf")),
            *sorted(glob.glob(os.path.join(config, "containers", "registries.conf.d",
                                           "*.conf")))]


def rerouted(host: str) -> bool:
    """Whether registries.conf makes skopeo read tags of `host` from anywhere else."""
    for path in registries_confs():
        try:
            with open(path, "rb") as fh:
                doc = tomllib.load(fh)
        except FileNotFoundError:
            continue
        except (OSError, ValueError):
            return True  # skopeo would refuse it: let skopeo say so
        for entry in doc.get("registry") or []:
            prefix = entry.get("prefix") or entry.get("location") or ""
            if prefix != host and not prefix.startswith(host + "/"):
                continue
            mirrors = entry.get("mirror") or []
            if entry.get("location", prefix) != prefix or entry.get("blocked") or any(
                    m.get("pull-from-mirror", "all") != "digest-only" for m in mirrors):
                return True
    return False


def _codes(body: bytes) -> set[str]:
    try:
        return {e.get("code") for e in json.loads(body).get("errors") or []}
    except (ValueError, AttributeError):
        return set()


def _proxied(host: str) -> bool:
    """Whether skopeo would go through an HTTP proxy (it honours the usual variables)."""
    names = ("https_proxy", "http_proxy", "all_proxy")
    if not any(os.environ.get(n) or os.environ.get(n.upper()) for n in names):
        return False
    no_proxy = os.environ.get("no_proxy") or os.environ.get("NO_PROXY") or ""
    bare = host.rsplit(":", 1)[0]
    return not any(p.strip() in (host, bare, "*") for p in no_proxy.split(",") if p.strip())
