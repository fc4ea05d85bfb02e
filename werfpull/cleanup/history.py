"""The signatures every commit of the history had: signing past commits for cleanup.

Owns reading the references cleanup considers, the history behind them, and each
commit's config and file state from git alone (never the working tree): one `git log`
gives every commit with its changes against its first parent, from which each
commit's full tree is rebuilt in memory; the config is that commit's `werf.yaml`
(rendered with that commit's files when it is a template). Work is shared between
commits: a config text is parsed once, a (config, tree) pair signed once, and which
paths a git mapping takes (and which stage globs they match) is decided once per
path for the whole history.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from werfpull.cleanup.filesets import FileSets
from werfpull.cleanup.policy import Reference
from werfpull.config.load import find_config
from werfpull.config.model import Config
from werfpull.config.schema import check, parse_documents
from werfpull.config.yamldoc import load_documents
from werfpull.errors import ConfigError, GitError
from werfpull.gotemplate import render_werf_config
from werfpull.refs import sha256_digest
from werfpull.signatures.dockercontext import DockerContexts
from werfpull.signatures.gitfiles import GitState
from werfpull.signatures.signer import ImageStages, Signer
from werfpull.tools import git
from werfpull.tools.git import Commit

BRANCHES_REMOTE = "refs/remotes/origin/"
BRANCHES_LOCAL = "refs/heads/"
TAGS = "refs/tags/"


@dataclass
class Signed:
    """What one commit's config makes of it: every image's stages, or why nothing."""

    images: dict[str, ImageStages] = field(default_factory=dict)  # by image name
    needs: dict[str, list[str]] = field(default_factory=dict)  # name -> its closure
    problem: str | None = None


def parse_meta_tolerant(text: str, path: str) -> tuple[Config, list]:
    """The config of `text` and its YAML documents. The meta document's `cleanup` section
    is taken out before the schema sees it: it belongs to cleanup alone (policy.py)."""
    docs = load_documents(text, path)
    schema_docs = list(docs)
    if docs and isinstance(docs[0].data, dict) and "cleanup" in docs[0].data:
        meta = docs[0]
        schema_docs[0] = type(meta)(meta.index, meta.line,
                                    {k: v for k, v in meta.data.items() if k != "cleanup"},
                                    meta.lines)
    project, images, build = parse_documents(schema_docs, path)
    config = Config(path=path, project=project, images=images,
                    digest=sha256_digest(text.encode("utf-8")), text=text, build=build)
    check(config)
    return config, docs


class History:
    """The git history of a project checkout, signed commit by commit."""

    def __init__(self, directory: str, config: str | None, from_digest):
        self.directory = os.path.abspath(directory)
        self.config_path = find_config(self.directory, config)
        root = git.repo_root(os.path.dirname(self.config_path))
        if root is None:
            raise GitError(f"cleanup reads the git history, but {self.config_path} is not"
                           " inside a git repository")
        self.root = root
        real_root = os.path.realpath(root)
        self.config_rel = os.path.relpath(os.path.realpath(self.config_path), real_root)
        self.from_digest = from_digest
        self._remote = GitState(self.directory, self.config_path)
        self._texts: dict[str, str] = {}  # config blob -> text
        self._configs: dict[str, Config | str] = {}
        self._signed: dict[tuple, Signed] = {}
        self.filesets = FileSets()

    # -- references and commits -----------------------------------------------------

    def references(self) -> tuple[list[Reference], str]:
        """Branches and tags, and where branches came from. Like werf, the branches of
        the `origin` remote; a repository without one (a build host's own clone) has
        its local branches taken instead."""
        remote = [r for r in git.refs(self.root, (BRANCHES_REMOTE,))
                  if r.name != BRANCHES_REMOTE + "HEAD"]
        prefix = BRANCHES_REMOTE if remote else BRANCHES_LOCAL
        branches = remote or git.refs(self.root, (BRANCHES_LOCAL,))
        out = [Reference(r.name[len(prefix):], "branch", r.commit, r.created) for r in branches]
        out += [Reference(r.name[len(TAGS):], "tag", r.commit, r.created)
                for r in git.refs(self.root, (TAGS,))]
        return out, ("origin" if remote else "local")

    def configs(self) -> list[Config]:
        """The distinct configs met so far (those that load)."""
        return [c for c in self._configs.values() if isinstance(c, Config)]

    def commits(self, heads: list[str]) -> list[Commit]:
        return git.history(self.root, list(dict.fromkeys(heads)))

    # -- signing ----------------------------------------------------------------------

    def sign_all(self, commits: list[Commit], wanted: set[str]) -> dict[str, Signed]:
        """{sha: Signed} for the commits in `wanted`; `commits` is the whole history,
        parents first, whose changes rebuild each tree and each mapping's file set."""
        self._read_configs(commits, wanted)
        children: dict[str, int] = {}
        for c in commits:
            if c.parents:
                children[c.parents[0]] = children.get(c.parents[0], 0) + 1
        trees: dict[str, tuple[dict, dict]] = {}  # sha -> (tree, selections)
        out: dict[str, Signed] = {}
        for c in commits:
            base_tree, base_sets = trees.get(c.parents[0], ({}, {})) if c.parents else ({}, {})
            tree = dict(base_tree)
            for path, meta in c.changes:
                if meta is None:
                    tree.pop(path, None)
                else:
                    tree[path] = meta
            sets = self.filesets.advance(base_sets, c.changes)
            if c.parents and c.parents[0] in trees:
                children[c.parents[0]] -= 1
                if children[c.parents[0]] == 0:
                    del trees[c.parents[0]]  # no other child needs it any more
            if children.get(c.sha):
                trees[c.sha] = (tree, sets)
            if c.sha in wanted:
                out[c.sha] = self.sign(c, tree, sets)
        return out

    def sign(self, commit: Commit, tree: dict[str, str], sets: dict) -> Signed:
        meta = tree.get(self.config_rel)
        if meta is None or " blob " not in meta:
            return Signed(problem=f"no {self.config_rel} in this commit")
        config = self.config_at(commit, meta.rsplit(" ", 1)[1])
        if isinstance(config, str):
            return Signed(problem=config)
        files = _CommitFiles(self, tree, sets)
        # Two commits whose config and file sets agree sign alike: sign once. A
        # Dockerfile image's context is the whole tree, read by `git ls-tree` of the
        # commit as `signatures` reads HEAD.
        dockerfile = any(i.dockerfile is not None for i in config.images)
        key = (config.digest, commit.tree if dockerfile else None,
               tuple(files.get(m).checksum for m in _local_mappings(config)))
        if key not in self._signed:
            contexts = DockerContexts(GitState(self.directory, config.path, commit=commit.sha),
                                      config.path).inputs if dockerfile else None
            self._signed[key] = self._sign(config, files, contexts)
        return self._signed[key]

    def _read_configs(self, commits: list[Commit], wanted: set[str]) -> None:
        """Every distinct config text of the wanted commits, through one `git cat-file`:
        the config's blob follows the first-parent changes like the trees do."""
        blob_of: dict[str, str | None] = {}
        needed = set()
        for c in commits:
            blob = blob_of.get(c.parents[0]) if c.parents else None
            for path, meta in c.changes:
                if path == self.config_rel:
                    blob = meta.rsplit(" ", 1)[1] if meta and " blob " in meta else None
            blob_of[c.sha] = blob
            if c.sha in wanted and blob and blob not in self._texts:
                needed.add(blob)
        order = sorted(needed)
        if not order:
            return
        for blob, data in zip(order, git.read_blobs(self.root, order), strict=True):
            self._texts[blob] = data.decode("utf-8", "replace")

    def config_at(self, commit: Commit, blob: str) -> Config | str:
        """The commit's config, or the one-line reason it has none that parses."""
        if blob not in self._texts:
            self._texts[blob] = git.read_blobs(self.root, [blob])[0].decode("utf-8", "replace")
        text = self._texts[blob]
        path = os.path.join(self.root, self.config_rel)
        try:
            if "{{" in text:
                files = git.CommitFiles(self.directory, commit=commit.sha)
                try:
                    text = render_werf_config(text, path, self.directory, files=files)
                finally:
                    files.close()
        except ConfigError as exc:
            return f"its config does not render: {exc.message}"
        digest = sha256_digest(text.encode("utf-8"))
        if digest not in self._configs:
            try:
                self._configs[digest] = parse_meta_tolerant(text, path)[0]
            except ConfigError as exc:
                self._configs[digest] = f"its config does not load: {exc.message}"
        return self._configs[digest]

    def _sign(self, config: Config, files: _CommitFiles, contexts) -> Signed:
        signer = _HistorySigner(config, self._remote.tree_for, self.from_digest, files,
                                contexts)
        try:
            signed = signer.sign_all()
        except ConfigError as exc:
            return Signed(problem=f"it does not sign: {exc.message}")
        # One entry per image: with platforms, the stages of all its chains together.
        images: dict = {}
        for chain in signed:  # unnamed: None
            if chain.image.name in images:
                images[chain.image.name].stages.extend(chain.stages)
            else:
                images[chain.image.name] = ImageStages(chain.image, list(chain.stages))
        return Signed(images=images,
                      needs={i.name: [n.name for n in config.needed_closure([i.name])]
                             for i in config.images})


def _mapping_key(m) -> tuple:
    return (m.url, m.branch, m.tag, m.commit, m.add, m.include_paths, m.exclude_paths)


def _local_mappings(config: Config) -> list[tuple]:
    """(mapping, globs) of every file set the config's local git mappings checksum."""
    out = []
    for image in config.images:
        for m in image.git:
            if m.url is None:
                out.append((m, None))
                out += [(m, tuple(g)) for g in m.stage_dependencies.values()]
    return out


class _CommitFiles:
    """One commit's file sets, as the signer asks for them."""

    def __init__(self, history: History, tree: dict, sets: dict):
        self.history, self.tree, self.sets = history, tree, sets

    def get(self, pair: tuple):
        mapping, globs = pair
        key = (_mapping_key(mapping), globs)
        return self.history.filesets.get(self.sets, key, mapping, self.tree)


class _SetFiles:
    """What the signer needs of a local mapping's files: their checksums."""

    def __init__(self, files: _CommitFiles, mapping):
        self.files, self.mapping = files, mapping

    def checksum(self, globs=None) -> str:
        return self.files.get((self.mapping, None if globs is None else tuple(globs))).checksum


class _HistorySigner(Signer):
    """A Signer reading local mappings from the history's file sets of one commit."""

    def __init__(self, config, remote_tree_for, from_digest, files: _CommitFiles, contexts):
        super().__init__(config, remote_tree_for, from_digest, contexts)
        self.commit_files = files

    def files(self, mapping):
        if mapping.url is None:
            return _SetFiles(self.commit_files, mapping)
        return super().files(mapping)
