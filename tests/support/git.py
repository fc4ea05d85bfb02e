"""Throw-away git repositories, isolated from the host's git configuration."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


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


def new_repo(path: Path, home: Path) -> GitRepo:
    """An empty git repository at `path` on branch main, with a local identity."""
    path.mkdir(parents=True)
    repo = GitRepo(path=path, env=git_env(home))
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.name", "werfpull tests")
    repo.git("config", "user.email", "tests@werfpull.invalid")
    repo.git("config", "commit.gpgsign", "false")
    return repo


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


def _git(path: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(HOME=str(path.parent), GIT_CONFIG_NOSYSTEM="1")
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@werfpull.invalid",
                    "-c", "commit.gpgsign=false", *args], cwd=path, env=env, check=True,
                   capture_output=True)


def git_project(path: Path, text: str) -> Path:
    """A new git checkout at `path` with `text` as its committed werf.yaml."""
    path.mkdir(parents=True)
    (path / "werf.yaml").write_text(text)
    _git(path, "init", "-q", "-b", "main")
    _git(path, "add", "-A")
    _git(path, "commit", "-q", "-m", "c")
    return path
