"""Shared pytest fixtures: one real registry per session, a fresh repository per test,
one real docker daemon per session (emptied for each test that uses it), throw-away
git repositories isolated from the host's git configuration, a build host with the
offline base image (`host`), a project with every stage in `repo` (`published`), a
fault proxy in front of the registry with a two-image project pulled through it
(`proxy`, `project`), and a TLS + htpasswd registry per module with that project's
stages on it (`secure`, `secure_project`)."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator

import pytest

from tests.support.builds import Host, base_host
from tests.support.dockerd import Dockerd
from tests.support.faultproxy import FaultProxy
from tests.support.git import GitRepo, new_repo
from tests.support.pulls import PULL_PROJECT, ProxiedProject, Published, two_images
from tests.support.registry import Registry
from tests.support.secure_registry import (
    PASSWORD,
    USER,
    SecureProject,
    SecureRegistry,
    publish_project,
    serving,
)
from tests.support.stages import publish_stages

_repo_counter = itertools.count(1)


def pytest_collection_modifyitems(items):
    # Lets `-m "not registry"` deselect everything that needs the real registry.
    for item in items:
        if "registry" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.registry)
        if "daemon" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.dockerd)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """One docker-registry for the whole session; tests isolate via `repo`."""
    reg = Registry(workdir=tmp_path_factory.mktemp("registry"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


@pytest.fixture(scope="session")
def dockerd(tmp_path_factory):
    """One dockerd for the whole session, on its own socket and data root. It is never
    skipped: a machine that cannot run it fails these tests loudly (CI runs as root)."""
    daemon = Dockerd(tcp=True)
    daemon.start()
    try:
        yield daemon
    finally:
        daemon.close()


@pytest.fixture
def daemon(dockerd) -> Dockerd:
    """The session's dockerd, started again if a test stopped it, without any image."""
    dockerd.start()
    dockerd.clear()
    return dockerd


def _repo_component(test_name: str) -> str:
    # Docker path components: [a-z0-9]+ joined by single separators; "-" is the
    # simplest separator that survives every grammar version.
    name = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    return name[:60].rstrip("-") or "test"


@pytest.fixture
def repo(registry, request) -> str:
    """A repository reference no other test uses: '127.0.0.1:PORT/t/<test>-<n>'."""
    return registry.repo(f"t/{_repo_component(request.node.name)}-{next(_repo_counter)}")


@pytest.fixture
def git_repo(tmp_path) -> GitRepo:
    """An empty git repository on branch main with a local identity."""
    return new_repo(tmp_path / "repo", tmp_path / "home")


@pytest.fixture
def host(tmp_path) -> Iterator[Host]:
    """A build host with the offline base image (tests/support/builds.py)."""
    with base_host(tmp_path / "host") as h:
        yield h


@pytest.fixture
def published(git_repo, repo, tmp_path) -> Published:
    """PULL_PROJECT committed in `git_repo`, every stage of it pushed to `repo`."""
    git_repo.write("werf.yaml", PULL_PROJECT)
    git_repo.commit()
    digests = publish_stages(repo, str(git_repo.path), workdir=str(tmp_path / "publish"))
    return Published(git_repo.path, repo, digests, tmp_path)


@pytest.fixture
def proxy(registry):
    """A fault proxy in front of the session's registry, no fault armed."""
    with FaultProxy.for_registry(registry, max_seconds=240) as px:
        yield px


@pytest.fixture
def project(git_repo, repo, proxy, tmp_path) -> ProxiedProject:
    """Two images committed in `git_repo`, pulled from `repo` through `proxy`."""
    git_repo.write("werf.yaml", two_images("faults"))
    git_repo.commit()
    return ProxiedProject(git_repo, repo, proxy, tmp_path)


@pytest.fixture(scope="module")
def secure(tmp_path_factory):
    """A TLS + htpasswd registry whose CA skopeo trusts (until the module ends)."""
    with serving(SecureRegistry(tmp_path_factory.mktemp("secure-registry"), USER,
                                PASSWORD)) as reg:
        yield reg


@pytest.fixture(scope="module")
def secure_project(secure, tmp_path_factory) -> SecureProject:
    """Two images, their stages published to `secure` with the account's credentials."""
    tmp = tmp_path_factory.mktemp("secure-project")
    return publish_project(secure, tmp, secure.authfile(tmp / "publish-auth.json"))
