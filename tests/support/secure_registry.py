"""A docker-registry with TLS (a throw-away test CA) and htpasswd authentication.

`SecureRegistry` is `registry.Registry` with three additions to its config: a server
certificate for 127.0.0.1 (IP SAN) signed by a CA made here with the `openssl` CLI,
htpasswd authentication (bcrypt, as docker-registry 2.8 requires) for one user, and
the access log switched on, so that tests can count the requests a run made.

skopeo trusts a CA per registry through `/etc/containers/certs.d/HOST:PORT/*.crt`
(containers-certs.d(5)); `trust()` installs ours there and `distrust()` removes it.
The directory names the port, so registries of parallel runs never share one.

`serving` runs one (or its token-auth kind, token_registry.py) trusted for a block;
`publish_project` puts a two-image project's stages on it (the `secure_project`
fixture of conftest.py, and test_token_auth.py's).

Like `registry.py` this imports nothing from pytest, so that a benchmark can use it.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import shutil
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.git import git_project
from tests.support.pulls import two_images
from tests.support.registry import Registry, RegistryError
from tests.support.runs import auth_file
from tests.support.stages import publish_stages

CERTS_D = Path("/etc/containers/certs.d")
# The one account of the tests' secure registries (the `secure` fixture of conftest.py).
USER = "ci-builder"
PASSWORD = "Pw-9fQz2-werfpull-test-K7"
# One access-log line per request: `HOST - USER [date] "METHOD PATH HTTP/1.1" STATUS ...`.
_ACCESS = re.compile(r'^\S+ - \S+ \[[^\]]+\] "(?P<method>[A-Z]+) (?P<path>\S+) [^"]*" '
                     r"(?P<status>\d{3}) ", re.M)


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=60)
    if proc.returncode != 0:
        raise RegistryError(f"openssl {' '.join(args)} failed:\n{proc.stderr}")


def make_pki(directory: Path) -> dict[str, Path]:
    """A CA and a server certificate for IP 127.0.0.1 signed by it; paths by role."""
    directory.mkdir(parents=True, exist_ok=True)
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
             "-subj", "/CN=werfpull test CA",
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=directory)
    _openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr",
             "-subj", "/CN=127.0.0.1", cwd=directory)
    # Go verifies the SAN only, never the CN: the IP SAN is what makes 127.0.0.1 valid.
    (directory / "server.ext").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n")
    _openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
             "-CAcreateserial", "-out", "server.crt", "-days", "2",
             "-extfile", "server.ext", cwd=directory)
    return {"ca": directory / "ca.crt", "cert": directory / "server.crt",
            "key": directory / "server.key"}


def bcrypt_htpasswd(user: str, password: str) -> str:
    """One `user:$2y$...` line; `htpasswd -B` (apache2-utils, scripts/bootstrap)."""
    if shutil.which("htpasswd") is None:
        raise RegistryError("htpasswd not found: install apache2-utils (scripts/bootstrap)")
    # -i reads the password from stdin, so that it never shows in a process listing.
    proc = subprocess.run(["htpasswd", "-B", "-i", "-n", user], input=password,
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise RegistryError(f"htpasswd failed: {proc.stderr}")
    return proc.stdout.strip() + "\n"


def auth_json(host: str, user: str, password: str) -> str:
    """A containers-auth.json / docker config.json holding credentials for `host`."""
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return json.dumps({"auths": {host: {"auth": token}}}, indent=2) + "\n"


class SecureRegistry(Registry):
    """`Registry` over TLS with htpasswd auth and an access log (see the module doc)."""

    def __init__(self, workdir, user: str, password: str, **kwargs):
        super().__init__(workdir, **kwargs)
        self.user, self.password = user, password
        self.pki = make_pki(self.workdir / "pki")
        self.htpasswd_path = self.workdir / "htpasswd"
        self.htpasswd_path.write_text(bcrypt_htpasswd(user, password))
        context = ssl.create_default_context(cafile=str(self.pki["ca"]))
        # Straight to 127.0.0.1 even when the CI exports https_proxy (as registry.py does).
        self.http = urllib.request.build_opener(urllib.request.ProxyHandler({}),
                                                urllib.request.HTTPSHandler(context=context))

    @property
    def url(self) -> str:
        return f"https://{self.host}"

    @property
    def certs_dir(self) -> Path:
        return CERTS_D / self.host

    def _write_config(self, port: int) -> None:
        super()._write_config(port)
        config = json.loads(self.config_path.read_text())
        config["log"] = {"level": "warn", "accesslog": {"disabled": False}}
        config["http"]["tls"] = {"certificate": str(self.pki["cert"]),
                                 "key": str(self.pki["key"])}
        config["auth"] = {"htpasswd": {"realm": "werfpull-tests",
                                       "path": str(self.htpasswd_path)}}
        self.config_path.write_text(json.dumps(config, indent=2) + "\n")

    def _ping(self) -> bool:
        # Unauthenticated, /v2/ answers 401: the registry is up and speaking TLS.
        try:
            with self.http.open(f"{self.url}/v2/", timeout=1) as resp:
                return resp.status == 200
        except urllib.error.HTTPError as e:
            return e.code == 401
        except (urllib.error.URLError, OSError):
            return False

    # -- trust, credentials and the request count ------------------------------------

    def trust(self) -> None:
        """Install the test CA where skopeo looks for this host:port's CAs."""
        self.certs_dir.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(self.pki["ca"], self.certs_dir / "ca.crt")

    def distrust(self) -> None:
        shutil.rmtree(self.certs_dir, ignore_errors=True)

    def authfile(self, path: Path, password: str | None = None) -> Path:
        """Write an auth file for this registry (with another password if given)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(auth_json(self.host, self.user,
                                  self.password if password is None else password))
        os.chmod(path, 0o600)
        return path

    def requests(self) -> list[tuple[str, str, int]]:
        """(method, path, status) of every request the access log holds so far."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return [(m["method"], m["path"], int(m["status"])) for m in _ACCESS.finditer(text)]

    def close(self) -> None:
        self.distrust()
        super().close()


@contextlib.contextmanager
def serving(reg: SecureRegistry) -> Iterator[SecureRegistry]:
    """`reg` started, its CA trusted, for the block; then stopped and distrusted."""
    reg.start()
    reg.trust()  # removed again by close()
    try:
        yield reg
    finally:
        reg.close()


@dataclass
class SecureProject:
    dir: Path
    repo: str
    registry: SecureRegistry

    def args(self, *args) -> list:
        return [self.repo, *args, "--dir", self.dir]


def publish_project(reg: SecureRegistry, tmp: Path, authfile: Path) -> SecureProject:
    """A two-image project committed under `tmp`, its stages pushed to `reg` with the
    credentials of `authfile`."""
    checkout = git_project(tmp / "project", two_images("secure"))
    repo = reg.repo("team/stages")
    with auth_file(authfile):  # for push_oci's skopeo
        publish_stages(repo, str(checkout), workdir=str(tmp / "publish"))
    return SecureProject(checkout, repo, reg)
