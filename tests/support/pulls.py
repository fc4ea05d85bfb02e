"""What the pull tests check, and the two-image project they pull through a fault proxy.

Destinations made in a test's tmp_path (`oci`, `store`), the names a plan promises
(`expected`), the checks of what landed (`assert_complete`, `assert_nothing_half_tagged`),
a run's JSON report, and `ProxiedProject`: a committed project whose every werfpull call
goes through a `FaultProxy` while its stages are published straight to the registry.
The `proxy` and `project` fixtures of tests/conftest.py make one per test; its
`published` fixture is `PULL_PROJECT` with every stage in the registry (`Published`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tests.support.faultproxy import FaultProxy
from tests.support.runs import Running, skopeo_children, wait_until
from tests.support.stages import dest_ref, landed, publish_stages, raw_digest, werfpull

# An artifact, two images sharing their stages and a third importing the artifact.
PULL_PROJECT = """\
project: pulls
configVersion: 1
---
artifact: tools
from: alpine:3.18
shell:
  install: make tools
---
image: [a, b]
from: alpine:3.18
shell:
  beforeInstall: apk add curl
  install: make ab
---
image: c
from: alpine:3.18
shell:
  beforeInstall: apk add curl
  setup: make c
import:
- artifact: tools
  add: /tools
  to: /usr/local/bin
  after: install
"""


@dataclass
class Published:
    """A committed project whose stages are all in `repo`: the `published` fixture."""

    dir: Path
    repo: str
    digests: dict[str, str]  # signature -> manifest digest, every stage pushed
    tmp: Path

    def run(self, command: str, *args, repo: str | None = None):
        """werfpull plan/pull of this project against its repository."""
        return werfpull(command, repo or self.repo, *args, "--dir", self.dir,
                        "--insecure-registry")

    def plan(self, *args) -> dict:
        proc = self.run("plan", *args, "--format", "json")
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)

    def save_plan(self, dest: str, *args) -> Path:
        path = self.tmp / "plan.json"
        proc = self.run("plan", "--dest", dest, "--out", path, *args)
        assert proc.returncode == 0, proc.stderr
        return path


def two_images(project: str) -> str:
    """werf.yaml of two images from two bases, one shell stage each."""
    return f"""\
project: {project}
configVersion: 1
---
image: x
from: alpine:3.18
shell:
  install: make x
---
image: y
from: debian:12
shell:
  install: make y
"""


def oci(tmp_path: Path) -> str:
    return f"oci:{tmp_path / 'layout'}"


def store(tmp_path: Path) -> str:
    return f"containers-storage:[vfs@{tmp_path / 'root'}+{tmp_path / 'runroot'}]"


def expected(plan: dict) -> dict[str, str]:
    """{name in the destination: digest} of every pull of a plan."""
    return {f"{plan['repo']}:{p['tag']}": p["digest"] for p in plan["pulls"]}


def assert_complete(dest: str, plan: dict) -> None:
    """Every planned stage is there with its planned digest, and nothing else."""
    want = expected(plan)
    assert want, "the plan pulls nothing"
    assert landed(dest) == want
    for name, digest in want.items():
        assert raw_digest(dest_ref(dest, name)) == digest


def assert_nothing_half_tagged(dest: str, plan: dict) -> None:
    """Whatever landed is a planned stage with its planned digest, and readable."""
    want = expected(plan)
    for name, digest in landed(dest).items():
        assert want.get(name) == digest, name
        assert raw_digest(dest_ref(dest, name)) == digest


def report(proc) -> dict:
    assert proc.stdout, proc.stderr
    return json.loads(proc.stdout)


class ProxiedProject:
    """A committed project whose REPO is the proxy's: every werfpull call goes through it."""

    def __init__(self, git_repo, repo: str, proxy: FaultProxy, tmp: Path):
        self.dir, self.tmp = git_repo.path, tmp
        self.repo = proxy.repo(repo)
        self.proxy = proxy

    def publish(self, payload: int = 0) -> None:
        """Push the stages to the registry itself, past the proxy and its faults."""
        upstream = f"{self.proxy.upstream[0]}:{self.proxy.upstream[1]}/{self.repo.split('/', 1)[1]}"
        publish_stages(upstream, str(self.dir), payload=payload,
                       workdir=str(self.tmp / "publish"))

    def args(self, *args) -> list:
        return [self.repo, *args, "--dir", self.dir, "--insecure-registry"]

    def save_plan(self, dest: str, *args) -> tuple[Path, dict]:
        path = self.tmp / "plan.json"
        proc = werfpull("plan", *self.args("--dest", dest, "--out", path, *args))
        assert proc.returncode == 0, proc.stderr
        return path, json.loads(path.read_text())

    def apply(self, path: Path, *args):
        return werfpull("apply", path, "--dir", self.dir, "--insecure-registry",
                        "--format", "json", *args)


def start_copying(project: ProxiedProject, proxy: FaultProxy, dest: str, mark: str,
                  *args) -> Running:
    """Start a throttled pull and return once skopeo is moving blob bytes."""
    proxy.throttle(200_000)
    run = Running("pull", *project.args("--dest", dest, "--jobs", "2", "--format", "json",
                                        *args))
    try:
        wait_until(lambda: "werfpull: pulling" in run.stderr or run.proc.poll() is not None,
                   "the first 'pulling' line")
        assert run.proc.poll() is None, run.stderr
        base = proxy.stats()["bytes_down"]
        wait_until(lambda: skopeo_children(mark), "a skopeo copy")
        wait_until(lambda: proxy.stats()["bytes_down"] > base + 100_000, "blob bytes")
    except BaseException:
        run.kill()
        raise
    return run
