"""File state of git repositories, from `git ls-tree` only (spec section 5).

Owns reading one tree listing per repository and commit, selecting the entries of a
git mapping (add, includePaths, excludePaths, stage globs) and their checksum. The
working tree never counts: uncommitted edits do not change a signature.
"""

from __future__ import annotations

import hashlib
import os

from werfpull.config.model import GitMapping
from werfpull.errors import GitError
from werfpull.signatures.globs import GlobSet
from werfpull.tools import git
from werfpull.tools.git import Entry


def checksum(entries: list[Entry]) -> str:
    """sha256 of the entries' ls-tree lines; `entries` are already sorted by path."""
    h = hashlib.sha256()
    for e in entries:
        h.update(e.line.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


class Selector:
    """Which paths of a tree a git mapping takes, and each one's path relative to `add`."""

    def __init__(self, mapping: GitMapping):
        self.add = mapping.add.strip("/")
        self.prefix = self.add + "/"
        self.filtered = bool(mapping.include_paths)
        self.include = GlobSet(mapping.include_paths)
        self.exclude = GlobSet(mapping.exclude_paths)

    def rel(self, path: str) -> str | None:
        if not self.add:
            rel = path
        elif path == self.add:
            rel = path.rsplit("/", 1)[-1]
        elif path.startswith(self.prefix):
            rel = path[len(self.prefix):]
        else:
            return None
        # An includePaths of empty patterns is not empty: it matches nothing.
        if self.filtered and not self.include.match(rel):
            return None
        if self.exclude.match(rel):
            return None
        return rel


class MappingFiles:
    """The entries of one git mapping, each with its path relative to `add`."""

    def __init__(self, mapping: GitMapping, tree: list[Entry]):
        rel = Selector(mapping).rel
        self.items: list[tuple[str, Entry]] = []
        for entry in tree:
            name = rel(entry.path)
            if name is not None:
                self.items.append((name, entry))

    def checksum(self, globs: tuple[str, ...] | None = None) -> str:
        """Checksum of all files, or of those whose rel path matches one of `globs`."""
        if globs is None:
            return checksum([e for _, e in self.items])
        matcher = GlobSet(globs)
        return checksum([e for rel, e in self.items if matcher.match(rel)])


class GitState:
    """Trees of the local repository and of remote mappings, each listed once."""

    def __init__(self, project_dir: str, config_path: str, cache_dir: str | None = None,
                 commit: str | None = None):
        """`commit`: the commit whose tree local mappings read (default HEAD)."""
        self.project_dir = project_dir
        self.commit = commit
        self.config_path = config_path
        self.cache_dir = cache_dir or os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "werfpull", "git")
        self._trees: dict[tuple, list[Entry]] = {}

    def tree_for(self, mapping: GitMapping) -> list[Entry]:
        if mapping.url is None:
            return self._local_tree(mapping)
        return self._remote_tree(mapping)

    def _local_tree(self, mapping: GitMapping) -> list[Entry]:
        return self.local_tree(mapping.line, f"git[{mapping.index}]")

    def _config_dir(self) -> str:
        return os.path.join(self.project_dir, os.path.dirname(self.config_path)) or "."

    def local_tree(self, line: int | None, key: str, what: str = "git mappings") -> list[Entry]:
        """HEAD's tree of the repository that holds werf.yaml; `line`, `key` and `what`
        say who needs it when there is none."""
        if ("local",) not in self._trees:
            # The repository that holds werf.yaml (spec 5), even when --config points
            # outside the project directory.
            where = self._config_dir()
            root = git.repo_root(where)
            if root is None:
                raise GitError(f"{what} need a git repository, but "
                               f"{where} is not inside one",
                               file=self.config_path, line=line, key=key,
                               hint="run 'git init' and commit" + (
                                   ", or remove the git mapping" if key.startswith("git[")
                                   else ""))
            commit = self.commit or git.head_commit(root)
            if commit is None:
                raise GitError(f"{what} need a commit, but the repository at {root}"
                               " has none", file=self.config_path, line=line,
                               key=key, hint="commit the files first")
            self._trees[("local",)] = git.list_tree(root, commit)
            self.local_root = root
        return self._trees[("local",)]

    def config_prefix(self) -> str:
        """The directory of werf.yaml from the repository root ("" for the root); call
        after local_tree."""
        rel = os.path.relpath(os.path.realpath(self._config_dir()),
                              os.path.realpath(self.local_root))
        return "" if rel == "." else rel.replace(os.sep, "/")

    def _remote_tree(self, mapping: GitMapping) -> list[Entry]:
        ref = mapping.commit or (f"refs/tags/{mapping.tag}" if mapping.tag else None) or (
            f"refs/heads/{mapping.branch}" if mapping.branch else "HEAD")
        key = ("remote", mapping.url, ref)
        if key not in self._trees:
            git_dir = self._fetch(mapping, ref)
            self._trees[key] = git.list_tree(git_dir, "FETCH_HEAD", bare=True)
        return self._trees[key]

    def _fetch(self, mapping: GitMapping, ref: str) -> str:
        name = hashlib.sha256(mapping.url.encode()).hexdigest()[:24]
        git_dir = os.path.join(self.cache_dir, name)
        where = dict(file=self.config_path, line=mapping.line, key=f"git[{mapping.index}].url")
        try:
            if not os.path.isdir(git_dir):
                os.makedirs(os.path.dirname(git_dir), exist_ok=True)
                git.init_bare(git_dir)
            git.fetch(git_dir, mapping.url, ref)
        except GitError as exc:
            raise GitError(f"cannot fetch {ref} of {mapping.url}: {exc.message}",
                           **where) from None
        return git_dir


