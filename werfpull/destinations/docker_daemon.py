"""docker-daemon: the docker engine's image store, at DOCKER_HOST or the default socket.

`docker load` rewrites manifests, so a stage here is checked by its image ID (the
config digest), which survives the load.
"""

from __future__ import annotations

import json
import socket

from werfpull.destinations.base import Destination
from werfpull.refs import Repo
from werfpull.tools import docker, process, skopeo


class DockerDaemon(Destination):
    transport = "docker-daemon"
    shell_cases = (("docker-daemon", '"docker-daemon:$name"'),)
    preserves_digests = False

    @classmethod
    def parse(cls, text: str) -> DockerDaemon | None:
        return cls() if text == cls.transport else None

    @property
    def spec(self) -> str:
        return self.transport

    def side(self, opts: skopeo.RegistryOptions) -> skopeo.Side:
        return skopeo.Side(tls_verify=opts.tls_verify, authfile=opts.authfile,
                           daemon_host=docker.daemon_host())

    def ref(self, repo: Repo, signature: str) -> str:
        return f"docker-daemon:{self.name(repo, signature)}"

    def images(self) -> dict[str, str]:
        """{REPOSITORY:TAG: image ID} of every tagged image the daemon has."""
        result = process.run(docker.images())
        if not result.ok:
            raise result.error(f"cannot list the images of the docker daemon at"
                               f" {docker.address()}: {result.last_line}")
        out = {}
        for line in result.stdout.decode().splitlines():
            item = json.loads(line)
            out[f"{item['repository']}:{item['tag']}"] = item["id"]
        return out

    def present(self, repo, signatures, opts):
        wanted = {self.name(repo, s): s for s in signatures}
        return {wanted[n]: None for n in self.images() if n in wanted}

    def verify(self, repo, signature, digest, config, written):
        result = process.run(docker.image_id(self.name(repo, signature)))
        if result.ok and result.stdout.decode().strip() == config:
            return None
        return f"image ID does not match config {config}"

    def untag(self, repo, signature, opts):
        process.run(docker.rmi(self.name(repo, signature)))


def reachable() -> bool:
    """Whether a docker daemon answers on a unix socket at DOCKER_HOST or the default."""
    host = docker.address()
    if not host.startswith("unix://"):
        return False  # a TCP daemon needs TLS settings we do not guess; ask for --dest
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(1)
    try:
        sock.connect(host[len("unix://"):])
        return True
    except OSError:
        return False
    finally:
        sock.close()


