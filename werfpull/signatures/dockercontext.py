"""The files a Dockerfile image is built from (spec section 8), and their checksums.

Owns where the Dockerfile and the context are in the repository, the context's
committed files less what its `.dockerignore` excludes, the `contextAddFiles` entries
made from the working tree (`git hash-object` of the raw bytes), and the checks that
need those files: the Dockerfile exists, `target` names one of its build stages, no
path leaves the repository. Everything else reads `git ls-tree` of HEAD, never the
working tree.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass

from werfpull.config.model import Image
from werfpull.errors import ConfigError
from werfpull.signatures.dockerignore import BadPattern, DockerIgnore, go_clean
from werfpull.signatures.gitfiles import GitState, checksum
from werfpull.tools import git
from werfpull.tools.git import Entry


@dataclass(frozen=True)
class AddedFile:
    entry: Entry  # as an ls-tree line would show it
    source: str  # its path in the working tree


@dataclass
class DockerfileInputs:
    root: str  # the repository's top directory
    dockerfile: Entry
    text: bytes  # the Dockerfile as committed
    context: str  # from the repository root, "" for the root itself
    files: list[Entry]  # the context's kept files, sorted by path
    added: list[AddedFile] | None  # contextAddFiles; None when the key is absent

    def checksums(self) -> tuple[str, str, str | None]:
        added = None if self.added is None else checksum([a.entry for a in self.added])
        return checksum([self.dockerfile]), checksum(self.files), added


def stage_names(text: bytes, where: str) -> list[str]:
    """The build stages a Dockerfile names (`FROM ... AS name`), lower-cased as BuildKit
    compares them."""
    import dockerfile as buildkit  # BuildKit's grammar, needed by Dockerfile images only

    try:
        commands = buildkit.parse_string(text.decode("utf-8", "replace"))
    except buildkit.GoParseError as exc:
        raise ConfigError(f"{where}: cannot parse the Dockerfile: {exc}") from None
    names = []
    for cmd in commands:
        if cmd.cmd.upper() == "FROM" and len(cmd.value) >= 3 and cmd.value[1].upper() == "AS":
            names.append(cmd.value[2].lower())
    return names


class DockerContexts:
    """The inputs of every Dockerfile image of one project, each read once."""

    def __init__(self, state: GitState, config_path: str):
        self.state, self.config_path = state, config_path
        self._done: dict[int, DockerfileInputs] = {}

    def inputs(self, image: Image) -> DockerfileInputs:
        if id(image.dockerfile) not in self._done:
            self._done[id(image.dockerfile)] = _Reader(self, image).read()
        return self._done[id(image.dockerfile)]


class _Reader:
    def __init__(self, contexts: DockerContexts, image: Image):
        self.contexts, self.image, self.spec = contexts, image, image.dockerfile

    def error(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(message, file=self.contexts.config_path, line=self.spec.line(key),
                           document=f"document {self.image.document} ({self.image.label})",
                           key=key, hint=hint)

    def read(self) -> DockerfileInputs:
        state = self.contexts.state
        tree = state.local_tree(line=self.spec.line("dockerfile"), key="dockerfile",
                                what="Dockerfile images")
        root = state.local_root
        context = self._in_repo("context", state.config_prefix(), self.spec.context)
        path = self._in_repo("dockerfile", context, self.spec.dockerfile)
        by_path = {e.path: e for e in tree}
        entry = by_path.get(path)
        if entry is None or entry.kind != "blob":
            raise self.error("dockerfile", f"no Dockerfile {path!r} in HEAD"
                             f" ({'a submodule' if entry else 'not committed'})",
                             hint="commit it, or fix 'dockerfile' and 'context'")
        ignore_entry = by_path.get(f"{context}/.dockerignore" if context else ".dockerignore")
        objects = [entry.object] + ([ignore_entry.object] if ignore_entry else [])
        blobs = git.read_blobs(root, objects)
        if self.spec.target is not None:
            stages = stage_names(blobs[0], f"{path} in HEAD")
            if self.spec.target.lower() not in stages:
                raise self.error("target", f"target {self.spec.target!r} is not a build stage"
                                 f" of {path}", hint=f"its stages: {', '.join(stages) or 'none'}")
        ignore = self._ignore(blobs[1], context) if ignore_entry else None
        return DockerfileInputs(root, entry, blobs[0], context,
                                self._context_files(tree, context, ignore),
                                self._added(root, context))

    def _in_repo(self, key: str, base: str, path: str) -> str:
        """`base` joined with `path` as Go's path.Join does, a leading "/" removed; the
        repository root is ""."""
        cleaned = go_clean("/".join(p for p in (base, path) if p))
        if cleaned == ".." or cleaned.startswith("../"):
            raise self.error(key, f"{path!r} lies outside the repository")
        cleaned = cleaned.lstrip("/")
        return "" if cleaned == "." else cleaned

    def _ignore(self, data: bytes, context: str) -> DockerIgnore:
        try:
            return DockerIgnore.from_text(data.decode("utf-8", "surrogateescape"))
        except BadPattern as exc:
            name = f"{context}/.dockerignore" if context else ".dockerignore"
            raise ConfigError(f"{exc.why}: {exc.pattern!r}", file=name, line=exc.line,
                              document=self.image.label) from None

    def _context_files(self, tree: list[Entry], context: str,
                       ignore: DockerIgnore | None) -> list[Entry]:
        prefix = context + "/" if context else ""
        cut = len(prefix)
        kept = []
        for e in tree:
            if not e.path.startswith(prefix):
                continue
            rel = e.path[cut:]
            if ignore is not None and ignore.excluded(rel):
                continue
            if not e.path.isascii() and not _utf8(e.path):
                raise self.error("context", f"the path {e.path!r} in the context is not"
                                 " valid UTF-8")
            kept.append(e)
        return kept

    def _added(self, root: str, context: str) -> list[AddedFile] | None:
        if self.spec.context_add_files is None:
            return None
        found: dict[str, AddedFile] = {}
        for listed in self.spec.context_add_files:
            path = self._in_repo("contextAddFiles", context, listed)
            if context and path != context and not path.startswith(context + "/"):
                raise self.error("contextAddFiles", f"{listed!r} lies outside the context"
                                 f" {context!r}")
            source = os.path.join(root, path)
            try:
                st = os.lstat(source)
            except OSError:
                raise self.error("contextAddFiles", f"{listed!r} does not exist in the working"
                                 f" tree ({source})") from None
            if stat.S_ISDIR(st.st_mode):
                for src in _walk(source):
                    rel = os.path.relpath(src, source).replace(os.sep, "/")
                    self._add(found, f"{path}/{rel}" if path else rel, src)
            else:
                self._add(found, path, source)
        return [found[p] for p in sorted(found, key=lambda p: p.encode("utf-8"))]

    def _add(self, found: dict, path: str, source: str) -> None:
        if not _utf8(path):
            raise self.error("contextAddFiles", f"the path {path!r} is not valid UTF-8")
        if path in found:
            return
        entry = hash_object(path, source)
        if entry is not None:
            found[path] = AddedFile(entry, source)


def _walk(top: str):
    """Files and symlinks under `top`, symlinks never followed."""
    for dirpath, dirs, files in os.walk(top):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            yield os.path.join(dirpath, name)


def hash_object(path: str, source: str) -> Entry | None:
    """The entry `git hash-object --no-filters` would give; None for a special file."""
    st = os.lstat(source)
    if stat.S_ISLNK(st.st_mode):
        mode, data = "120000", os.fsencode(os.readlink(source))
    elif stat.S_ISREG(st.st_mode):
        mode = "100755" if st.st_mode & stat.S_IXUSR else "100644"
        with open(source, "rb") as fh:
            data = fh.read()
    else:
        return None
    sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
    return Entry(path, f"{mode} blob {sha}\t{path}\n")


def _utf8(path: str) -> bool:
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
