"""Shared pytest fixtures: one real registry per session, a fresh repository per test,
one real docker daemon per session (emptied for each test that uses it), and
throw-away git repositories isolated from the host's git configuration."""

from __future__ import annotations

import itertools
import re

import pytest

from tests.support.dockerd import Dockerd
from tests.support.git import GitRepo, git_env
from tests.support.registry import Registry

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
    path = tmp_path / "repo"
    path.mkdir()
    repo = GitRepo(path=path, env=git_env(tmp_path / "home"))
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.name", "werfpull tests")
    repo.git("config", "user.email", "tests@werfpull.invalid")
    repo.git("config", "commit.gpgsign", "false")
    return repo
