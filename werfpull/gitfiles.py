"""File state of git repositories, from `git ls-tree` only (spec section 5).

Owns reading one tree listing per repository and commit, selecting the entries of a
git mapping (add, includePaths, excludePaths, stage globs) and their checksum. The
working tree never counts: uncommitted edits do not change a signature.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
from dataclasses import dataclass

from werfpull.config import GitMapping
from werfpull.errors import GitError
from werfpull.globs import GlobSet


@dataclass(frozen=True)
class Entry:
    path: str  # from the repository root; non-UTF-8 bytes kept as surrogates
    line: str  # "mode type object\tpath\n", exactly what the checksum hashes

    @property
    def raw_path(self) -> bytes:
        return self.path.encode("utf-8", "surrogateescape")


def _git(args: list[str], cwd: str) -> bytes:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
    try:
        proc = subprocess.run(["git", *args], cwd=cwd, capture_output=True, env=env)
    except FileNotFoundError:
        raise GitError("git is not installed", hint="install git") from None
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {' '.join(args[:2])} failed in {cwd}: "
                       f"{err[-1] if err else 'exit ' + str(proc.returncode)}")
    return proc.stdout


def repo_root(directory: str) -> str | None:
    """The top of the work tree holding `directory`, or None outside git."""
    try:
        out = _git(["rev-parse", "--show-toplevel"], directory)
    except GitError:
        return None
    return out.decode("utf-8", "surrogateescape").rstrip("\n")  # a path may end in a space


def head_commit(root: str) -> str | None:
    try:
        return _git(["rev-parse", "--verify", "-q", "HEAD^{commit}"], root).decode().strip()
    except GitError:
        return None


def list_tree(git_dir_or_root: str, commit: str, bare: bool = False) -> list[Entry]:
    """Every blob and submodule of `commit`, sorted bytewise by path."""
    args = ["ls-tree", "-r", "-z", "--full-tree", commit]
    if bare:
        args = ["--git-dir", git_dir_or_root] + args
    out = _git(args, git_dir_or_root if not bare else os.getcwd())
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        path = raw_path.decode("utf-8", "surrogateescape")
        entries.append(Entry(path, f"{meta.decode('ascii')}\t{path}\n"))
    entries.sort(key=lambda e: e.raw_path)
    return entries


def checksum(entries: list[Entry]) -> str:
    """sha256 of the entries' ls-tree lines; `entries` are already sorted by path."""
    h = hashlib.sha256()
    for e in entries:
        h.update(e.line.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


class MappingFiles:
    """The entries of one git mapping, each with its path relative to `add`."""

    def __init__(self, mapping: GitMapping, tree: list[Entry]):
        add = mapping.add.strip("/")
        include = GlobSet(mapping.include_paths)
        exclude = GlobSet(mapping.exclude_paths)
        self.items: list[tuple[str, Entry]] = []
        prefix = add + "/"
        for entry in tree:
            if not add:
                rel = entry.path
            elif entry.path == add:
                rel = entry.path.rsplit("/", 1)[-1]
            elif entry.path.startswith(prefix):
                rel = entry.path[len(prefix):]
            else:
                continue
            # An includePaths of empty patterns is not empty: it matches nothing.
            if mapping.include_paths and not include.match(rel):
                continue
            if exclude.match(rel):
                continue
            self.items.append((rel, entry))

    def checksum(self, globs: tuple[str, ...] | None = None) -> str:
        """Checksum of all files, or of those whose rel path matches one of `globs`."""
        if globs is None:
            return checksum([e for _, e in self.items])
        matcher = GlobSet(globs)
        return checksum([e for rel, e in self.items if matcher.match(rel)])


class GitState:
    """Trees of the local repository and of remote mappings, each listed once."""

    def __init__(self, project_dir: str, config_path: str, cache_dir: str | None = None):
        self.project_dir = project_dir
        self.config_path = config_path
        self.cache_dir = cache_dir or os.path.join(
            os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "werfpull", "git")
        self._trees: dict[tuple, list[Entry]] = {}

    def tree_for(self, mapping: GitMapping) -> list[Entry]:
        if mapping.url is None:
            return self._local_tree(mapping)
        return self._remote_tree(mapping)

    def _local_tree(self, mapping: GitMapping) -> list[Entry]:
        if ("local",) not in self._trees:
            # The repository that holds werf.yaml (spec 5), even when --config points
            # outside the project directory.
            where = os.path.join(self.project_dir, os.path.dirname(self.config_path)) or "."
            root = repo_root(where)
            if root is None:
                raise GitError("git mappings need a git repository, but "
                               f"{where} is not inside one",
                               file=self.config_path, line=mapping.line,
                               key=f"git[{mapping.index}]",
                               hint="run 'git init' and commit, or remove the git mapping")
            commit = head_commit(root)
            if commit is None:
                raise GitError(f"git mappings need a commit, but the repository at {root}"
                               " has none", file=self.config_path, line=mapping.line,
                               key=f"git[{mapping.index}]", hint="commit the files first")
            self._trees[("local",)] = list_tree(root, commit)
        return self._trees[("local",)]

    def _remote_tree(self, mapping: GitMapping) -> list[Entry]:
        ref = mapping.commit or (f"refs/tags/{mapping.tag}" if mapping.tag else None) or (
            f"refs/heads/{mapping.branch}" if mapping.branch else "HEAD")
        key = ("remote", mapping.url, ref)
        if key not in self._trees:
            git_dir = self._fetch(mapping, ref)
            self._trees[key] = list_tree(git_dir, "FETCH_HEAD", bare=True)
        return self._trees[key]

    def _fetch(self, mapping: GitMapping, ref: str) -> str:
        name = hashlib.sha256(mapping.url.encode()).hexdigest()[:24]
        git_dir = os.path.join(self.cache_dir, name)
        where = dict(file=self.config_path, line=mapping.line, key=f"git[{mapping.index}].url")
        try:
            if not os.path.isdir(git_dir):
                os.makedirs(os.path.dirname(git_dir), exist_ok=True)
                _git(["init", "-q", "--bare", git_dir], os.path.dirname(git_dir))
            _git(["--git-dir", git_dir, "fetch", "-q", "--no-tags", mapping.url, ref],
                 os.path.dirname(git_dir))
        except GitError as exc:
            raise GitError(f"cannot fetch {ref} of {mapping.url}: {exc.message}",
                           **where) from None
        return git_dir


class CommitFiles:
    """Committed files of HEAD below a project directory, for templated configs (`.Files`
    and `.werf/**/*.tmpl` partials). Paths are relative to the project directory; every
    content comes through one `git cat-file --batch` process, started on first use."""

    def __init__(self, project_dir: str):
        self.project_dir = project_dir
        self.root = repo_root(project_dir)
        self.commit = head_commit(self.root) if self.root else None
        self.prefix = ""
        if self.root:
            rel = os.path.relpath(os.path.realpath(project_dir), os.path.realpath(self.root))
            self.prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        self._proc: subprocess.Popen | None = None
        self._files: list[str] | None = None

    def _require(self) -> str:
        if self.root is None:
            raise GitError(f"a templated config reads files from git, but {self.project_dir}"
                           " is not inside a git repository", hint="run 'git init' and commit")
        if self.commit is None:
            raise GitError(f"the repository at {self.root} has no commit",
                           hint="commit the files first")
        return self.commit

    def commit_label(self) -> str:
        return f"HEAD ({self.commit[:12]})" if self.commit else "HEAD"

    def read(self, path: str) -> tuple[str, bytes | None]:
        """("blob", data), ("tree", None), ("outside", None) for a symlink that leaves the
        repository, or ("missing", None); symlinks inside the repository are followed."""
        commit = self._require()
        kind, data = self._batch(f"{commit}:{(self.prefix + path).rstrip('/')}")
        if kind in ("blob", "tree", "outside"):
            return kind, data if kind == "blob" else None
        return "missing", None

    def files(self) -> list[str]:
        """Every file (blob or symlink) below the project directory, in tree order."""
        if self._files is None:
            self._files = [p[len(self.prefix):] for p in self._list(self.prefix)]
        return self._files

    def partials(self) -> list[tuple[str, str]]:
        """(name inside .werf/, text) of every `.werf/**/*.tmpl`; none outside git."""
        if self.root is None or self.commit is None:
            return []
        base = self.prefix + ".werf/"
        out = []
        for path in self._list(base):
            if path.endswith(".tmpl"):
                kind, data = self.read(path[len(self.prefix):])
                if kind == "blob":
                    out.append((path[len(base):], data.decode("utf-8", "surrogateescape")))
        return out

    def commit_info(self) -> tuple[str, str]:
        """HEAD's hash and author time (Unix seconds, as a string): werf's `.Commit`."""
        commit = self._require()
        _, data = self._batch(commit)
        for line in data.split(b"\n"):
            if line.startswith(b"author "):
                return commit, line.rsplit(b" ", 2)[1].decode("ascii")
        raise GitError(f"commit {commit} has no author line")  # pragma: no cover

    def _list(self, prefix: str) -> list[str]:
        args = ["ls-tree", "-r", "-z", "--full-tree", self._require()]
        if prefix:
            args += ["--", f":(literal){prefix}"]
        paths = []
        for record in _git(args, self.root).split(b"\0"):
            meta, _, raw = record.partition(b"\t")
            if record and meta.split()[1] == b"blob":  # not submodules
                paths.append(raw.decode("utf-8", "surrogateescape"))
        return paths

    def _batch(self, name: str) -> tuple[str, bytes | None]:
        if "\n" in name:
            return "missing", None
        if self._proc is None:
            env = dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")
            try:
                self._proc = subprocess.Popen(
                    ["git", "cat-file", "--batch", "--follow-symlinks"], cwd=self.root,
                    stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                    env=env)
            except FileNotFoundError:
                raise GitError("git is not installed", hint="install git") from None
        proc = self._proc
        proc.stdin.write(name.encode("utf-8", "surrogateescape") + b"\n")
        proc.stdin.flush()
        header = proc.stdout.readline().rstrip(b"\n").split(b" ")
        if header == [b""]:
            raise GitError(f"git cat-file stopped in {self.root}")
        if header[-1] in (b"missing", b"ambiguous"):
            return "missing", None
        if header[0] in (b"symlink", b"dangling", b"loop", b"notdir"):
            proc.stdout.read(int(header[1]) + 1)
            return ("outside" if header[0] == b"symlink" else "missing"), None
        data = proc.stdout.read(int(header[2]) + 1)[:-1]
        return header[1].decode("ascii"), data

    def close(self) -> None:
        if self._proc is not None:
            self._proc.stdin.close()
            self._proc.stdout.close()
            self._proc.wait()
            self._proc = None
