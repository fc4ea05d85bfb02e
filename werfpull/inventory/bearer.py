"""Docker token authentication for the HTTP reads of `http.py`: a pull token per scope.

Owns reading a `WWW-Authenticate: Bearer realm=...,service=...` challenge and asking the
realm for a token the way skopeo (containers/image) does: `GET REALM?service=S&scope=
repository:NAME:pull` (and `account=USER`), with HTTP Basic credentials from the auth
file when it has some, anonymous otherwise; the answer's `token` (or `access_token`)
is kept per scope until `expires_in` (60 s when absent, as the protocol says) runs
out. The realm is trusted as skopeo trusts it: with the registry's TLS context
(certs.d of the registry host). Anything else raises `Fallback`, so skopeo asks and
classifies the error the one way: a realm that is not https (unless the registry
itself is plain HTTP), a token server that refuses, fails or answers no token. Tokens
and credentials never appear in an error or a log line: only a status or a kind.
"""

from __future__ import annotations

import base64
import http.client
import json
import ssl
import threading
import time
import urllib.parse

DEFAULT_EXPIRY = 60  # seconds: the token protocol's default when expires_in is absent
MARGIN = 5  # seconds: a token this close to its expiry is not sent any more
MAX_TOKEN_BODY = 1024 * 1024


class Fallback(Exception):
    """This read is skopeo's: the answer was not a clean present or absent."""


def challenge(header: str) -> dict[str, str] | None:
    """The parameters of a Bearer challenge (realm, service, scope, error), else None."""
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    params, i = {}, 0
    while i < len(rest):
        eq = rest.find("=", i)
        if eq < 0:
            break
        key = rest[i:eq].strip(" ,").lower()
        if rest[eq + 1:eq + 2] == '"':
            end = rest.find('"', eq + 2)
            if end < 0:
                raise Fallback("an unreadable Bearer challenge")
            params[key], i = rest[eq + 2:end], end + 1
        else:
            end = rest.find(",", eq + 1)
            end = len(rest) if end < 0 else end
            params[key], i = rest[eq + 1:end].strip(), end + 1
    return params


class Tokens:
    """Pull tokens of one registry, per scope; shared by the client's threads."""

    def __init__(self, params: dict[str, str], creds: tuple[str, str] | None, *,
                 registry_scheme: str, context: ssl.SSLContext, timeout: float | None):
        realm = urllib.parse.urlsplit(params.get("realm", ""))
        if not realm.hostname or realm.scheme not in ("https", "http"):
            raise Fallback("a Bearer challenge without a usable realm")
        if realm.scheme == "http" and registry_scheme != "http":
            raise Fallback("a token realm over plain HTTP")  # credentials would go in clear
        self.realm, self.service, self.creds = realm, params.get("service"), creds
        self.context, self.timeout = context, timeout
        self.requests = 0
        self._cache: dict[str, tuple[str, float]] = {}  # scope: (token, valid until)
        self._lock = threading.Lock()
        self._failed: str | None = None  # the token server refused or failed: ask no more

    def header(self, name: str, *, renew: bool = False) -> dict[str, str]:
        """The Authorization header for a pull of NAME; `renew` drops the kept token."""
        scope = f"repository:{name}:pull"
        with self._lock:
            if self._failed:  # threads that waited for the fetch that failed
                raise Fallback(self._failed)
            kept = self._cache.get(scope)
            if renew or kept is None or kept[1] <= time.monotonic():
                try:
                    kept = self._fetch(scope)
                except Fallback as exc:
                    self._failed = str(exc)
                    raise
                self._cache[scope] = kept
        return {"Authorization": f"Bearer {kept[0]}"}

    def _fetch(self, scope: str) -> tuple[str, float]:
        query = [("scope", scope)]
        if self.service:
            query.insert(0, ("service", self.service))
        headers = {"Host": self.realm.netloc}
        if self.creds:
            user, password = self.creds
            query.append(("account", user))
            basic = base64.b64encode(f"{user}:{password}".encode()).decode()
            headers["Authorization"] = f"Basic {basic}"
        path = self.realm.path or "/"
        joined = "&".join(filter(None, [self.realm.query, urllib.parse.urlencode(query)]))
        started = time.monotonic()
        status, body = self._get(f"{path}?{joined}", headers)
        if status != 200:
            raise Fallback(f"the token server answered HTTP {status}")
        try:
            doc = json.loads(body)
            token = doc.get("token") or doc.get("access_token")
            expires = int(doc.get("expires_in") or DEFAULT_EXPIRY)
        except (ValueError, AttributeError, TypeError):
            raise Fallback("the token server's answer is not a token") from None
        if not isinstance(token, str) or not token or any(c in token for c in "\r\n "):
            raise Fallback("the token server's answer is not a token")
        return token, started + max(expires, 0) - MARGIN

    def _get(self, target: str, headers: dict) -> tuple[int, bytes]:
        self.requests += 1
        host, port = self.realm.hostname, self.realm.port
        if self.realm.scheme == "https":
            conn = http.client.HTTPSConnection(host, port, timeout=self.timeout,
                                               context=self.context)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=self.timeout)
        try:
            conn.request("GET", target, headers=headers)
            response = conn.getresponse()
            body = response.read(MAX_TOKEN_BODY + 1)
        except (OSError, http.client.HTTPException) as exc:
            raise Fallback(f"the token server: {type(exc).__name__}") from None
        finally:
            conn.close()
        if len(body) > MAX_TOKEN_BODY:
            raise Fallback("the token server's answer is too large")
        return response.status, body
