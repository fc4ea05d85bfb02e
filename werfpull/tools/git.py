"""git, at the process boundary: every git call werfpull makes runs through here.

Owns the argv of each git command, the environment they run in (no prompts, the C
locale), reading trees (`ls-tree`), blobs (`cat-file --batch`) and commits, and turning
a failure into a `GitError` that says which command failed where.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass

from werfpull.errors import GitError
from werfpull.tools import process

GIT = "git"


@dataclass(frozen=True)
class Entry:
    path: str  # from the repository root; non-UTF-8 bytes kept as surrogates
    line: str  # "mode type object\tpath\n", exactly what the checksum hashes

    @property
    def raw_path(self) -> bytes:
        return self.path.encode("utf-8", "surrogateescape")

    @property
    def mode(self) -> str:
        return self.line.split(" ", 1)[0]

    @property
    def kind(self) -> str:
        return self.line.split(" ", 2)[1]

    @property
    def object(self) -> str:
        return self.line.split(" ", 2)[2].split("\t", 1)[0]


def _env() -> dict:
    return dict(os.environ, GIT_TERMINAL_PROMPT="0", LC_ALL="C")


def run(args: list[str], cwd: str, input: bytes | None = None) -> bytes:
    """stdout of `git ARGS` in `cwd`; a failure is a GitError naming command and place."""
    process.require(GIT, "git")
    result = process.run([GIT, *args], cwd=cwd, env=_env(), input=input)
    if not result.ok:
        raise GitError(f"git {' '.join(args[:2])} failed in {cwd}: {result.last_line}")
    return result.stdout


def repo_root(directory: str) -> str | None:
    """The top of the work tree holding `directory`, or None outside git."""
    try:
        out = run(["rev-parse", "--show-toplevel"], directory)
    except GitError:
        return None
    return out.decode("utf-8", "surrogateescape").rstrip("\n")  # a path may end in a space


def head_commit(root: str) -> str | None:
    try:
        return run(["rev-parse", "--verify", "-q", "HEAD^{commit}"], root).decode().strip()
    except GitError:
        return None


def list_tree(git_dir_or_root: str, commit: str, bare: bool = False) -> list[Entry]:
    """Every blob and submodule of `commit`, sorted bytewise by path."""
    args = ["ls-tree", "-r", "-z", "--full-tree", commit]
    if bare:
        args = ["--git-dir", git_dir_or_root] + args
    out = run(args, git_dir_or_root if not bare else os.getcwd())
    entries = []
    for record in out.split(b"\0"):
        if not record:
            continue
        meta, _, raw_path = record.partition(b"\t")
        path = raw_path.decode("utf-8", "surrogateescape")
        entries.append(Entry(path, f"{meta.decode('ascii')}\t{path}\n"))
    entries.sort(key=lambda e: e.raw_path)
    return entries


def read_blobs(root: str, objects: list[str]) -> list[bytes]:
    """The contents of blob `objects`, in order, through one `git cat-file --batch`."""
    out = run(["cat-file", "--batch"], root, input="".join(f"{o}\n" for o in objects).encode())
    blobs, pos = [], 0
    for _ in objects:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])  # "<object> blob <size>"
        blobs.append(out[header_end + 1:header_end + 1 + size])
        pos = header_end + 1 + size + 1  # the content is followed by a newline
    return blobs


def init_bare(git_dir: str) -> None:
    run(["init", "-q", "--bare", git_dir], os.path.dirname(git_dir))


def fetch(git_dir: str, url: str, ref: str) -> None:
    run(["--git-dir", git_dir, "fetch", "-q", "--no-tags", url, ref], os.path.dirname(git_dir))


class CommitFiles:
    """Committed files of HEAD below a project directory, for templated configs (`.Files`
    and `.werf/**/*.tmpl` partials). Paths are relative to the project directory; every
    content comes through one `git cat-file --batch` process, started on first use."""

    def __init__(self, project_dir: str, commit: str | None = None):
        """`commit`: the commit to read (default HEAD), e.g. a past one for cleanup."""
        self.project_dir = project_dir
        self.root = repo_root(project_dir)
        self.commit = commit or (head_commit(self.root) if self.root else None)
        self.prefix = ""
        if self.root:
            rel = os.path.relpath(os.path.realpath(project_dir), os.path.realpath(self.root))
            self.prefix = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        self._head = commit is None
        self._proc = None  # the cat-file process, started on first use
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
        if self.commit and self._head:
            return f"HEAD ({self.commit[:12]})"
        return self.commit[:12] if self.commit else "HEAD"

    def read(self, path: str) -> tuple[str, bytes | None]:
        """("blob", data), ("tree", None), ("outside", None) for a symlink that leaves the
        repository, or ("missing", None); symlinks inside the repository are followed."""
        commit = self._require()
        # A path may climb above the project directory (werf allows it, inside the repo).
        full = posixpath.normpath(self.prefix + path) if path else self.prefix.rstrip("/")
        kind, data = self._batch(f"{commit}:{'' if full == '.' else full}")
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
        for record in run(args, self.root).split(b"\0"):
            meta, _, raw = record.partition(b"\t")
            if record and meta.split()[1] == b"blob":  # not submodules
                paths.append(raw.decode("utf-8", "surrogateescape"))
        return paths

    def _batch(self, name: str) -> tuple[str, bytes | None]:
        if "\n" in name:
            return "missing", None
        if self._proc is None:
            self._proc = process.spawn([GIT, "cat-file", "--batch", "--follow-symlinks"],
                                       cwd=self.root, env=_env())
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


# -- history, for cleanup: references, commits and each commit's tree changes ----------

@dataclass(frozen=True)
class Ref:
    name: str  # the full name, e.g. refs/heads/main
    commit: str  # a tag's peeled commit
    created: int  # Unix seconds: a tag's tagger time, else the commit's committer time


@dataclass(frozen=True)
class Commit:
    sha: str
    tree: str
    time: int  # committer time, Unix seconds (what werf's `in` limits compare)
    parents: tuple[str, ...]
    # (path, "mode type object" or None when the path was deleted) against the first
    # parent, or against the empty tree for a root commit
    changes: tuple[tuple[str, str | None], ...]


def refs(root: str, patterns: tuple[str, ...]) -> list[Ref]:
    """The branches and tags under `patterns` that name a commit (directly or peeled)."""
    fmt = "%(refname)%00%(objecttype)%00%(objectname)%00%(*objecttype)%00%(*objectname)" \
          "%00%(creatordate:unix)"
    out = run(["for-each-ref", f"--format={fmt}", *patterns], root)
    found = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        name, kind, obj, peeled_kind, peeled, created = line.split("\0")
        if kind == "tag" and peeled_kind == "commit":
            obj = peeled
        elif kind != "commit":
            continue  # a tag of a tree or blob, or a tag of a tag: no commit to keep
        found.append(Ref(name, obj, int(created or 0)))
    return found


def history(root: str, commits: list[str]) -> list[Commit]:
    """Every commit reachable from `commits`, parents before children, each with its
    changes against its first parent: one `git log` for the whole history."""
    if not commits:
        return []
    args = ["log", "--stdin", "--raw", "-r", "-z", "--no-abbrev", "--no-renames",
            "--diff-merges=first-parent", "--root", "--topo-order", "--reverse",
            "--format=%x01%H %T %ct %P"]
    out = run(args, root, input="".join(f"{c}\n" for c in commits).encode())
    return [_commit(chunk) for chunk in out.split(b"\x01") if chunk.strip()]


def _commit(chunk: bytes) -> Commit:
    fields = chunk.split(b"\0")
    sha, tree, when, *parents = fields[0].decode("ascii").split()
    changes = []
    items = [f.lstrip(b"\n") for f in fields[1:]]
    for meta, path in zip(items[0::2], items[1::2], strict=False):
        if not meta.startswith(b":"):
            continue
        _, mode, _, obj, status = meta[1:].decode("ascii").split(" ")
        name = path.decode("utf-8", "surrogateescape")
        kind = "commit" if mode == "160000" else "blob"
        changes.append((name, None if status == "D" else f"{mode} {kind} {obj}"))
    return Commit(sha, tree, int(when), tuple(parents), tuple(changes))


def blob_ids(root: str, names: list[str]) -> list[str | None]:
    """The object id of each `COMMIT:path` in `names` (None where there is none), through
    one `git cat-file --batch-check`."""
    out = run(["cat-file", "--batch-check"], root,
              input="".join(f"{n}\n" for n in names).encode("utf-8", "surrogateescape"))
    ids = []
    for line in out.decode("utf-8", "surrogateescape").splitlines():
        parts = line.split(" ")
        ids.append(parts[0] if len(parts) == 3 and parts[1] == "blob" else None)
    return ids


def show(root: str, commit: str, path: str) -> bytes | None:
    """The file `path` (from the repository root) as committed in `commit`, or None."""
    oid = blob_ids(root, [f"{commit}:{path}"])[0]
    return read_blobs(root, [oid])[0] if oid else None
