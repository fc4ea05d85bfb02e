"""skopeo's registry errors, classified: skopeo 1.9 exits 1 for every error.

Owns reading its stderr into three-valued existence and typed errors: `manifest
unknown` is absent; authentication, TLS, unreachable and server errors are errors of
their own kind and never read as absent. The generated script renders its own checks
from the same pattern lists.
"""

from __future__ import annotations

import re

from werfpull.errors import RegistryError, ServerError, TLSError, Unauthorized, Unreachable
from werfpull.tools import process

ABSENT = ("manifest unknown", "name unknown", "repository name not known",
           "does not resolve to an image id", "identifier is not an image",
           "no such image", "not found in index")
UNAUTHORIZED = ("unauthorized", "authentication required", "denied", "401 ", "403 ",
                 "invalid username/password", "no basic auth credentials")
TLS = ("x509", "certificate", "tls: ", "server gave http response to https client")
UNREACHABLE = ("connection refused", "no such host", "i/o timeout", "connection reset",
                "eof", "network is unreachable", "timed out", "timeout", "no route to host",
                "broken pipe", "server misbehaving",
                # Go's net/http when the server closed a kept-alive connection as the
                # request went out: the next attempt opens a new one.
                "server closed idle connection")
SERVER = ("500 ", "502 ", "503 ", "504 ", "429 ", "internal server error",
           "service unavailable", "bad gateway", "gateway timeout", "too many requests",
           "unexpected http status: 5")


# What the generated script does not retry: a refusal or absence, never a blip.
PERMANENT = ABSENT + UNAUTHORIZED + TLS


def is_absent(stderr: str) -> bool:
    low = stderr.lower()
    return any(s in low for s in ABSENT)


def classify(result: process.Result, registry: str, what: str) -> RegistryError:
    """The typed error for a failed skopeo call against `registry` about `what`."""
    low = result.stderr.lower()
    last = message(result.stderr)
    unreadable = _credentials_error(result.stderr)
    if unreadable:
        # Not the registry's answer: skopeo could not read an auth file, and the innermost
        # cause alone ("invalid character ...") would not say which file.
        return Unauthorized(
            f"{registry}: cannot read the credentials ({unreadable}) for {what}",
            registry=registry, hint="fix or remove that auth file (--registry-authfile, "
                                    "REGISTRY_AUTH_FILE or ~/.docker/config.json)")
    if any(s in low for s in UNAUTHORIZED):
        return Unauthorized(
            f"{registry}: access refused ({last}) reading {what}", registry=registry,
            hint="check the credentials in --registry-authfile, REGISTRY_AUTH_FILE or "
                 "~/.docker/config.json")
    if any(s in low for s in TLS):
        return TLSError(
            f"{registry}: TLS failed ({last}) reading {what}", registry=registry,
            # The exact directory skopeo reads for this host:port, ready to copy the CA to.
            hint=f"trust the registry's CA: copy it to /etc/containers/certs.d/{registry}/ca.crt"
                 " (see containers-certs.d(5)), or pass --skip-tls-verify-registry (or "
                 "--insecure-registry for plain HTTP)")
    if any(s in low for s in SERVER):
        return ServerError(f"{registry}: server error ({last}) reading {what}", registry=registry,
                           hint="the registry is failing; retry later")
    if any(s in low for s in UNREACHABLE):
        realm = _token_server(result.stderr, registry)
        if realm:  # the registry answered; its token server (the Bearer realm) did not
            return Unreachable(f"{registry}: its token server {realm} is unreachable ({last})"
                               f" reading {what}", registry=registry,
                               hint="check that the registry's token service is up")
        return Unreachable(f"{registry}: registry unreachable ({last}) reading {what}",
                           registry=registry, hint="check the address and that the registry is up")
    return RegistryError(f"{registry}: registry error ({last}) reading {what}",
                         registry=registry)


def is_transient(error: RegistryError) -> bool:
    return isinstance(error, (Unreachable, ServerError))


def _logged(stderr: str) -> str:
    """The last line of skopeo's stderr, logrus's msg="..." unquoted."""
    lines = [ln for ln in stderr.strip().splitlines() if ln.strip()]
    text = lines[-1] if lines else "no error message"
    if 'msg="' in text:
        # logrus escapes quotes and newlines inside msg; a literal "\n" must not reach users.
        text = text.split('msg="', 1)[1].rstrip('"').replace('\\"', '"')
        text = text.replace("\\n", " ").replace("\\t", " ")
    return text


def _token_server(stderr: str, registry: str) -> str | None:
    """The host of a failed token request skopeo names (`Get "https://AUTH/token?
    service=...&scope=...": dial tcp ...`), when it is not the registry itself; a blob
    redirect to a storage backend asks for no service or scope."""
    for m in re.finditer(r'(?:Get|GET) \\?"https?://([^/"\\]+)([^"\\]*)', stderr):
        if m[1] != registry and re.search(r"[?&](service|scope)=", m[2]):
            return m[1]
    return None


def _credentials_error(stderr: str) -> str | None:
    """What skopeo said when it could not read credentials (names the auth file), or None."""
    text = _logged(stderr)
    marker = "getting username and password: "
    if marker not in text:
        return None
    detail = re.sub(r"\d+ errors? occurred:", "", text.split(marker, 1)[1]).strip(" *")
    return " ".join(detail.split())


def message(stderr: str) -> str:
    """skopeo's message without logrus decoration, on one line."""
    text = _logged(stderr)
    # skopeo nests causes as "context: context: cause"; the innermost one says most.
    parts = [p for p in (x.strip() for x in text.split(": ")) if p]
    return " ".join((parts[-1] if parts else text).split())


