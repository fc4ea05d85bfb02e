"""docker-daemon: the docker engine's image store, at DOCKER_HOST or the default socket.

`docker load` rewrites manifests, so a stage here is known by its image ID (the config
digest), which survives the load: that is what `present` reports and `verify` checks.
Docker Hub repositories are compared in docker's short spelling (`docker images`
prints `docker.io/library/x` as `x`). A copy that fails because of the daemon, or a
daemon that does not answer, is a `DaemonError` with the daemon's address, never a
registry's error.
"""

from __future__ import annotations

import json

from werfpull.destinations.base import Destination
from werfpull.errors import DaemonError
from werfpull.refs import Repo
from werfpull.tools import docker, process, skopeo
from werfpull.tools.registry_errors import message

HUB_DOMAINS = ("docker.io/", "index.docker.io/")
# What skopeo says when the daemon end of a copy broke: it loads through a pipe into
# `docker load` and, when the daemon goes away, reports only the closed pipe.
DAEMON_FAILURES = ("cannot connect to the docker daemon", "is the docker daemon running",
                   "error response from daemon", "docker engine", "read/write on closed pipe")


class DockerDaemon(Destination):
    transport = "docker-daemon"
    shell_cases = (("docker-daemon", '"docker-daemon:$name"'),)
    preserves_digests = False
    reuses_blobs = False

    @classmethod
    def parse(cls, text: str) -> DockerDaemon | None:
        return cls() if text == cls.transport else None

    @property
    def spec(self) -> str:
        return self.transport

    def side(self, opts: skopeo.RegistryOptions) -> skopeo.Side:
        host = docker.skopeo_host()
        tls = host is not None and host.startswith("tcp://")
        return skopeo.Side(tls_verify=opts.tls_verify, authfile=opts.authfile,
                           daemon_host=host, cert_dir=docker.cert_dir() if tls else None)

    def ref(self, repo: Repo, signature: str) -> str:
        return f"docker-daemon:{self.name(repo, signature)}"

    def images(self) -> dict[str, str]:
        """{REPOSITORY:TAG: image ID} of every tagged image the daemon has, in docker's
        short spelling."""
        result = process.run(docker.images())
        if not result.ok:
            raise daemon_error(result)
        out = {}
        for line in result.stdout.decode().splitlines():
            item = json.loads(line)
            out[familiar(f"{item['repository']}:{item['tag']}")] = item["id"]
        return out

    def present(self, repo, signatures, opts):
        wanted = {familiar(self.name(repo, s)): s for s in signatures}
        return {wanted[n]: image_id for n, image_id in self.images().items() if n in wanted}

    def local_id(self, digest, config):
        return config

    def verify(self, repo, signature, digest, config, written):
        result = process.run(docker.image_id(self.name(repo, signature)))
        if not result.ok and docker.ping() is not None:
            raise daemon_error(result)
        landed = result.stdout.decode().strip() if result.ok else "nothing"
        if landed == config:
            return None
        return f"image ID is {landed}, the registry's config is {config}"

    def untag(self, repo, signature, opts):
        process.run(docker.rmi(self.name(repo, signature)))

    def failure(self, result):
        low = result.stderr.lower()
        if not any(s in low for s in DAEMON_FAILURES):
            return None
        return daemon_error(result)


def daemon_error(result: process.Result) -> DaemonError:
    """The daemon's failure: why it does not answer, else what it (or skopeo) said."""
    down = docker.ping()
    if down is not None:
        return DaemonError(docker.address(), f"not answering: {down}")
    said = message(result.stderr) if "msg=" in result.stderr else result.last_line
    return DaemonError(docker.address(), said)


def familiar(name: str) -> str:
    """A reference as docker prints it: Docker Hub's domain, and `library/` before a
    one-component name, left out."""
    for domain in HUB_DOMAINS:
        if name.startswith(domain):
            rest = name[len(domain):]
            short = rest[len("library/"):] if rest.startswith("library/") else None
            return short if short and "/" not in short.split(":", 1)[0] else rest
    return name


def probe() -> tuple[bool, str]:
    """Whether a docker daemon answers at DOCKER_HOST (unix:// or tcp://) or the default
    socket, and the reason to print: what was tried, and what it said."""
    host = docker.address()
    source = "DOCKER_HOST" if docker.daemon_host() else "the default socket"
    down = docker.ping(host)
    if down is None:
        return True, f"a docker daemon answers at {host} ({source})"
    return False, f"no docker daemon answers at {host} ({source}): {down}"
