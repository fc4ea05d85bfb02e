"""docker://HOST/REPO: another registry, warmed as a mirror of the stages repository."""

from __future__ import annotations

from werfpull.destinations.base import Destination
from werfpull.inventory.registry import Remote, call
from werfpull.refs import Repo, parse_repo, stage_tag
from werfpull.tools import skopeo


class Mirror(Destination):
    transport = "docker"
    shell_cases = (("docker://*", '"$DEST:image-stage-$sig"'),)

    @classmethod
    def parse(cls, text: str) -> Mirror | None:
        if not text.startswith("docker://"):
            return None
        return cls(parse_repo(text[len("docker://"):], "--dest").name)

    @property
    def spec(self) -> str:
        return f"docker://{self.location}"

    def name(self, repo: Repo, signature: str) -> str:
        return f"{self.location}:{stage_tag(signature)}"

    def ref(self, repo: Repo, signature: str) -> str:
        return f"docker://{self.name(repo, signature)}"

    def present(self, repo, signatures, opts):
        mirror = Remote(Repo(self.location), opts)
        return {s: mirror.probe(s).digest for s in mirror.existing(signatures, "probe")}

    def untag(self, repo, signature, opts):
        call(skopeo.delete(self.ref(repo, signature), opts.side), opts, Repo(self.location).host)


