"""Shared pytest fixtures: one real registry per session, a fresh repository per test,
and throw-away git repositories isolated from the host's git configuration."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

# tests/ is not a package; make `import registry` work from any test module.
sys.path.insert(0, str(Path(__file__).resolve().parent))

from registry import Registry  # noqa: E402

_repo_counter = itertools.count(1)


def pytest_collection_modifyitems(items):
    # Lets `-m "not registry"` deselect everything that needs the real registry.
    for item in items:
        if "registry" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.registry)


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """One docker-registry for the whole session; tests isolate via `repo`."""
    reg = Registry(workdir=tmp_path_factory.mktemp("registry"))
    reg.start()
    try:
        yield reg
    finally:
        reg.stop()


def _repo_component(test_name: str) -> str:
    # Docker path components: [a-z0-9]+ joined by single separators; "-" is the
    # simplest separator that survives every grammar version.
    name = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    return name[:60].rstrip("-") or "test"


@pytest.fixture
def repo(registry, request) -> str:
    """A repository reference no other test uses: '127.0.0.1:PORT/t/<test>-<n>'."""
    return registry.repo(f"t/{_repo_component(request.node.name)}-{next(_repo_counter)}")


@dataclass
class GitRepo:
    path: Path
    env: dict[str, str] = field(repr=False)

    def git(self, *args: str) -> str:
        proc = subprocess.run(
            ["git", *args], cwd=self.path, env=self.env, capture_output=True, text=True
        )
        if proc.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr}")
        return proc.stdout

    def write(self, relpath: str, text: str) -> Path:
        target = self.path / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        return target

    def commit(self, message: str = "c") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").strip()


def git_env(home: Path) -> dict[str, str]:
    """Environment for git that ignores the host's system and global configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        HOME=str(home),
        XDG_CONFIG_HOME=str(home / ".config"),
        GIT_CONFIG_NOSYSTEM="1",
        GIT_TERMINAL_PROMPT="0",
    )
    return env


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
