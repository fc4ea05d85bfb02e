"""A docker-registry with Docker token authentication, and the token server it trusts.

`TokenServer` is the Docker token protocol's authorization service on 127.0.0.1 (HTTPS
with the test CA's server certificate, or plain HTTP):
`GET /token?service=S&scope=repository:NAME:ACTIONS` checks HTTP Basic credentials
against a few users and answers a JWT (RS256, signed
with the `openssl` CLI, the signing certificate in the `x5c` header) granting the
requested actions the user may have. Anonymous requests get a token granting nothing,
as Docker Hub and Harbor answer for a private repository; a wrong password gets 401.
Every request is logged (user, scope, status) and every token kept in `issued`, so
that tests can look for them where they must not be.

`TokenRegistry` is `SecureRegistry` (TLS unless told otherwise, access log) with
`auth: token` naming that server as realm, its service and issuer, and the signing certificate as
`rootcertbundle`, which is how Distribution 2.8 verifies the tokens.

Like `registry.py` this imports nothing from pytest.
"""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from tests.support.registry import RegistryError
from tests.support.secure_registry import SecureRegistry, _openssl, auth_json

SERVICE = "werfpull-test-registry"
ISSUER = "werfpull-test-token-issuer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class TokenServer:
    """The authorization service: users {name: (password, actions)}; "*" grants all."""

    def __init__(self, directory: Path, pki: dict[str, Path],
                 users: dict[str, tuple[str, set[str]]], *, expires_in: int = 300,
                 field: str = "token", tls: bool = True):
        self.directory, self.users, self.tls = Path(directory), users, tls
        self.expires_in, self.field = expires_in, field
        self.log: list[dict] = []
        self.issued: list[str] = []  # every token answered, for leak checks
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self.signing_key = self.directory / "signing.key"
        self.signing_cert = self.directory / "signing.crt"
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "signing.key",
                 "-out", "signing.crt", "-days", "2", "-subj", "/CN=werfpull token signer",
                 cwd=self.directory)
        der = subprocess.run(["openssl", "x509", "-in", "signing.crt", "-outform", "DER"],
                             cwd=self.directory, capture_output=True, check=True).stdout
        self._x5c = base64.b64encode(der).decode()
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(pki["cert"], pki["key"])
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None

    @property
    def realm(self) -> str:
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{self.port}/token"

    def start(self) -> TokenServer:
        server = ThreadingHTTPServer(("127.0.0.1", self.port or 0), _handler(self))
        if self.tls:
            server.socket = self._context.wrap_socket(server.socket, server_side=True)
        server.daemon_threads = True
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop answering; `start()` brings it back on the same port."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join()

    def requests(self) -> list[dict]:
        with self._lock:
            return list(self.log)

    # -- tokens ------------------------------------------------------------------------------

    def answer(self, authorization: str | None, query: dict) -> tuple[int, dict]:
        user = None
        if authorization:
            scheme, _, value = authorization.partition(" ")
            name, _, password = base64.b64decode(value).decode().partition(":")
            known = self.users.get(name)
            if scheme.lower() != "basic" or known is None or known[0] != password:
                self._note(name, query, 401)
                return 401, {"errors": [{"code": "UNAUTHORIZED",
                                         "message": "invalid username or password"}]}
            user = name
        access = [self._grant(user, scope) for scope in query.get("scope", [])]
        self._note(user, query, 200)
        token = self._sign({
            "iss": ISSUER, "sub": user or "", "aud": query.get("service", [""])[0],
            "exp": int(time.time()) + self.expires_in, "nbf": int(time.time()) - 10,
            "iat": int(time.time()), "jti": uuid.uuid4().hex,
            "access": [a for a in access if a]})
        with self._lock:
            self.issued.append(token)
        return 200, {self.field: token, "expires_in": self.expires_in,
                     "issued_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}

    def _grant(self, user: str | None, scope: str) -> dict | None:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind != "repository" or user is None:
            return None
        allowed = self.users[user][1]
        wanted = set(actions.split(","))
        granted = wanted if "*" in allowed else wanted & allowed
        return {"type": "repository", "name": name, "actions": sorted(granted)}

    def _note(self, user: str | None, query: dict, status: int) -> None:
        with self._lock:
            self.log.append({"user": user, "scope": query.get("scope", []), "status": status})

    def _sign(self, claims: dict) -> str:
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = (_b64url(json.dumps(header).encode()) + "." +
                         _b64url(json.dumps(claims).encode()))
        proc = subprocess.run(["openssl", "dgst", "-sha256", "-sign", str(self.signing_key)],
                              input=signing_input.encode(), capture_output=True, timeout=60)
        if proc.returncode != 0:
            raise RegistryError(f"openssl dgst failed: {proc.stderr.decode()}")
        return signing_input + "." + _b64url(proc.stdout)


def _handler(server: TokenServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 (http.server's name)
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                status, body = 404, {"errors": [{"code": "NOT_FOUND"}]}
            else:
                status, body = server.answer(self.headers.get("Authorization"),
                                             urllib.parse.parse_qs(url.query))
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):  # the log above is the one kept
            pass

    return Handler


class TokenRegistry(SecureRegistry):
    """`SecureRegistry` with `auth: token` against a `TokenServer` (see the module doc).

    `users` is {name: (password, actions)}; the first user is the one `authfile()`
    writes by default (SecureRegistry's user and password). `tls=False` serves the
    registry over plain HTTP, `realm_tls=False` the token server."""

    def __init__(self, workdir, users: dict[str, tuple[str, set[str]]], *, tls: bool = True,
                 realm_tls: bool = True, **kwargs):
        first, (password, _) = next(iter(users.items()))
        super().__init__(workdir, first, password, **kwargs)
        self.users, self.tls = users, tls
        self.tokens = TokenServer(self.workdir / "token", self.pki, users, tls=realm_tls)

    @property
    def url(self) -> str:
        return f"{'https' if self.tls else 'http'}://{self.host}"

    def start(self) -> TokenRegistry:
        if self.tokens.port is None or self.tokens._server is None:
            self.tokens.start()
        super().start()
        return self

    def _write_config(self, port: int) -> None:
        super()._write_config(port)
        config = json.loads(self.config_path.read_text())
        if not self.tls:
            del config["http"]["tls"]
        config["auth"] = {"token": {"realm": self.tokens.realm, "service": SERVICE,
                                    "issuer": ISSUER,
                                    "rootcertbundle": str(self.tokens.signing_cert)}}
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")

    def authfile_for(self, path: Path, user: str, password: str | None = None) -> Path:
        """An auth file holding `user`'s credentials (another password if given)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(auth_json(self.host, user,
                                  self.users[user][0] if password is None else password))
        path.chmod(0o600)
        return path

    def close(self) -> None:
        super().close()
        self.tokens.stop()
