"""The reference stage builder on buildah, for shell-based configs.

Owns building each missing stage on top of the previous one and committing it as
`REPO:image-stage-<signature>` with labels naming the signature format, stage,
signature and project; reusing the last stage that is already local. It shows the
signature contract at work: a stage pulled by werfpull is exactly what it reuses.
Git files come from `HEAD` (never the working tree), like the signatures.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass

from werfpull import buildah, process
from werfpull.config import USER_STAGES, GitMapping, Image
from werfpull.dest import Destination, local_stages, storage_flags
from werfpull.errors import ConfigError
from werfpull.gitfiles import GitState, MappingFiles, list_tree
from werfpull.globs import GlobSet
from werfpull.project import Project
from werfpull.refs import Repo
from werfpull.signatures import FORMAT, ImageStages

STATE_DIR = ".werfpull/git"  # in the image: which files each git mapping placed


@dataclass
class StageResult:
    image: str | None
    stage: str
    signature: str
    action: str  # reused | built | cached (an earlier stage, not needed)
    seconds: float = 0.0

    def to_json(self) -> dict:
        return {"image": self.image, "stage": self.stage, "signature": self.signature,
                "action": self.action, "seconds": round(self.seconds, 3)}


class Builder:
    def __init__(self, project: Project, project_dir: str, repo: Repo, dest: Destination,
                 report: Callable[[StageResult], None] = lambda r: None):
        if dest.transport != "containers-storage":
            raise ConfigError(f"the reference builder builds into containers-storage, not"
                              f" {dest.spec}")
        self.project, self.project_dir, self.repo, self.dest = project, project_dir, repo, dest
        self.store = storage_flags(dest)
        self.report = report
        self.signed = {s.image.name: s for s in project.signed}
        self.results: list[StageResult] = []
        self._finals: dict = {}
        self._existing = set(local_stages(dest, repo, [
            st.signature for s in project.signed for st in s.stages]))
        self._tree_dir: str | None = None
        self._git = GitState(project_dir, project.config.path)
        self._tmp = tempfile.mkdtemp(prefix="werfpull-build-")

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def build(self, names: list[str]) -> list[StageResult]:
        for stages in self.project.select(names):
            if stages.image.kind == "image":
                self.final(stages.image.name)
        return self.results

    def name(self, signature: str) -> str:
        return self.repo.tagged(signature)

    def final(self, image_name) -> str:
        """The final stage of an image or artifact, built as far as needed."""
        if image_name not in self._finals:
            stages = self.signed[image_name]
            present = [i for i, s in enumerate(stages.stages) if s.signature in self._existing]
            last = present[-1] if present else -1
            for i, st in enumerate(stages.stages[: last + 1]):
                self._record(StageResult(image_name, st.name, st.signature,
                                         "reused" if i == last else "cached"))
            for i in range(last + 1, len(stages.stages)):
                self._build_stage(stages, i)
            self._finals[image_name] = self.name(stages.final)
        return self._finals[image_name]

    def _record(self, result: StageResult) -> None:
        self.results.append(result)
        self.report(result)

    def _build_stage(self, stages: ImageStages, i: int) -> None:
        image, stage = stages.image, stages.stages[i]
        # What this stage starts from or imports is built before its clock starts, so
        # that the report does not count an artifact's build twice.
        base = self._base(image) if i == 0 else self.name(stages.stages[i - 1].signature)
        for imp in image.imports:
            if imp.stage == stage.name:
                self.final(imp.source)
        started = time.monotonic()
        external = i == 0 and image.from_ is not None  # only a base image may be pulled
        ctr = self._run(buildah.from_image(self.store, base, pull=external),
                        f"cannot start {image.label} {stage.name} from {base}").strip()
        try:
            self._apply(image, stage.name, ctr)
            self._run(buildah.config(self.store, ctr, [
                f"--label=werfpull.stage-format={FORMAT}", f"--label=werfpull.stage={stage.name}",
                f"--label=werfpull.signature={stage.signature}",
                f"--label=werfpull.project={self.project.config.project}"]), "cannot label")
            self._run(buildah.commit(self.store, ctr, self.name(stage.signature)),
                      f"cannot commit {image.label} {stage.name}")
        except BaseException:
            # On Ctrl-C or SIGTERM a `buildah run` may still be going: stop it first, or
            # the container cannot be removed.
            process.terminate_all()
            process.run(buildah.rm(self.store, ctr))
            raise
        self._existing.add(stage.signature)
        self._record(StageResult(image.name, stage.name, stage.signature, "built",
                                 time.monotonic() - started))

    def _base(self, image: Image) -> str:
        if image.from_ is not None:
            return image.from_
        return self.final(image.from_image if image.from_image is not None
                          else image.from_artifact)

    def _apply(self, image: Image, stage: str, ctr: str) -> None:
        if stage in USER_STAGES:
            if image.builder != "shell":
                raise ConfigError(f"{image.label}: ansible sections are not supported by the"
                                  " reference builder (signatures and pulls still work)",
                                  file=self.project.config.path, line=image.line)
            if stage != "beforeInstall" and image.git:
                self._sync_git(image, ctr)
            self._shell(image, stage, ctr)
        elif stage in ("gitArchive", "gitLatestPatch"):
            self._sync_git(image, ctr)
        elif stage.startswith("imports"):
            self._imports(image, stage, ctr)
        elif stage == "dockerInstructions":
            self._run(buildah.config(self.store, ctr, docker_flags(image.docker)),
                      f"{image.label}: bad docker instructions")

    def _shell(self, image: Image, stage: str, ctr: str) -> None:
        script = "\n".join(image.instructions[stage])
        if not script:
            return  # a stage made non-empty by its cache version alone
        result = process.run(buildah.run(self.store, ctr, script, self._volumes(image)))
        if not result.ok:
            raise result.error(f"{image.label} {stage} failed (exit {result.code}):"
                               f" {_script_tail(result)}")

    def _volumes(self, image: Image) -> list[tuple[str, str]]:
        vols = []
        for m in image.mounts:
            if m.from_path is not None:
                host = os.path.join(self.project_dir, m.from_path)
            elif m.from_ == "build_dir":
                host = os.path.join(os.path.expanduser("~/.cache/werfpull/build_dir"),
                                    self.project.config.project, str(image.name))
            else:
                host = tempfile.mkdtemp(dir=self._tmp)
            os.makedirs(host, exist_ok=True)
            vols.append((host, m.to))
        return vols

    # -- files, through a mounted container --------------------------------------------

    def _mounted(self, ctr: str) -> str:
        return self._run(buildah.mount(self.store, ctr), "cannot mount").strip()

    def _sync_git(self, image: Image, ctr: str) -> None:
        """Make every mapping's files in the container exactly those of HEAD."""
        root = self._mounted(ctr)
        try:
            for mapping in image.git:
                self._sync_mapping(root, mapping)
        finally:
            process.run(buildah.umount(self.store, ctr))

    def _sync_mapping(self, root: str, mapping: GitMapping) -> None:
        if mapping.url is not None:
            raise ConfigError("remote git mappings are not supported by the reference builder",
                              file=self.project.config.path, line=mapping.line)
        files = MappingFiles(mapping, self._git.tree_for(mapping))
        single = len(files.items) == 1 and files.items[0][1].path == mapping.add.strip("/")
        placed = {}
        for rel, entry in files.items:
            target = mapping.to if single else os.path.join(mapping.to, rel)
            placed[_abs(target)] = entry
        state = os.path.join(root, STATE_DIR, str(mapping.index))
        for old in _read_lines(state):
            if old not in placed:
                _remove(root, old)
        tree = self._tree()
        for target, entry in placed.items():
            if entry.line.startswith("160000"):
                continue  # a submodule: a commit, not a file
            _place(os.path.join(tree, entry.path), root + target)
            _chown(root, root + target, mapping.owner, mapping.group)
        # The mapping's directories belong to its owner too, from `to` down (never "/").
        top = _abs(mapping.to)
        dirs = {d for t in placed for d in _parents(os.path.dirname(t), top)}
        for directory in sorted(dirs):
            _chown(root, root + directory, mapping.owner, mapping.group)
        os.makedirs(os.path.dirname(state), exist_ok=True)
        with open(state, "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write("".join(f"{t}\n" for t in sorted(placed)))

    def _tree(self) -> str:
        """HEAD's files as git stores them, extracted once per build (never the working tree).

        Not `git archive`: it applies .gitattributes (export-ignore drops a file,
        export-subst rewrites one), while the signatures hash the blobs themselves.
        """
        if self._tree_dir is None:
            self._tree_dir = os.path.join(self._tmp, "head")
            os.makedirs(self._tree_dir)
            top = subprocess.run(["git", "rev-parse", "--show-toplevel"], cwd=self.project_dir,
                                 capture_output=True, text=True, check=True).stdout.strip()
            _extract_blobs(top, self._tree_dir)
        return self._tree_dir

    def _imports(self, image: Image, stage: str, ctr: str) -> None:
        root = self._mounted(ctr)
        try:
            for imp in (i for i in image.imports if i.stage == stage):
                src_ctr = self._run(buildah.from_image(self.store, self.final(imp.source), False),
                                    f"cannot open {imp.source}").strip()
                try:
                    src = os.path.join(self._mounted(src_ctr), imp.add.lstrip("/"))
                    if not os.path.lexists(src):
                        # Copying nothing would hide a typo until the image is run.
                        raise ConfigError(f"{image.label}: import of {imp.add} from"
                                          f" {imp.source}: no such path in its final stage",
                                          file=self.project.config.path, line=imp.line)
                    _copy_filtered(src,
                                   root + _abs(imp.to),
                                   GlobSet(imp.include_paths), GlobSet(imp.exclude_paths))
                    _chown(root, root + _abs(imp.to), imp.owner, imp.group,
                           recursive=True)
                finally:
                    process.run(buildah.rm(self.store, src_ctr))
        finally:
            process.run(buildah.umount(self.store, ctr))

    def _run(self, argv: list[str], what: str) -> str:
        result = process.run(argv)
        if not result.ok:
            raise result.error(f"{what}: {result.last_line}")
        return result.stdout.decode()


def _extract_blobs(top: str, dest: str) -> None:
    """Write every blob of HEAD under `dest`, byte for byte, with git's file mode."""
    blobs = [(e, e.line.split()[0], e.line.split()[2]) for e in list_tree(top, "HEAD")
             if e.line.split()[1] == "blob"]
    out = subprocess.run(["git", "cat-file", "--batch"], cwd=top, capture_output=True,
                         check=True, input="".join(f"{obj}\n" for _, _, obj in blobs).encode()
                         ).stdout
    pos = 0
    for entry, mode, _ in blobs:
        header_end = out.index(b"\n", pos)
        size = int(out[pos:header_end].split()[2])  # "<object> blob <size>"
        data = out[header_end + 1:header_end + 1 + size]
        pos = header_end + 1 + size + 1  # the content is followed by a newline
        target = os.path.join(dest, entry.path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if mode == "120000":
            os.symlink(os.fsdecode(data), target)
            continue
        with open(target, "wb") as fh:
            fh.write(data)
        os.chmod(target, 0o755 if mode == "100755" else 0o644)


def docker_flags(docker: dict) -> list[str]:
    flags = []
    for key, value in docker.items():
        values = value if isinstance(value, list) else [value]
        if key == "VOLUME":
            flags += [f"--volume={v}" for v in values]
        elif key == "EXPOSE":
            flags += [f"--port={v}" for v in values]
        elif key in ("ENV", "LABEL"):
            flag = "--env" if key == "ENV" else "--label"
            flags += [f"{flag}={k}={v}" for k, v in (value or {}).items()]
        elif key in ("ENTRYPOINT", "CMD"):
            flag = "--entrypoint" if key == "ENTRYPOINT" else "--cmd"
            flags.append(f"{flag}={json.dumps(value) if isinstance(value, list) else value}")
        elif key == "WORKDIR":
            flags.append(f"--workingdir={value}")
        elif key == "USER":
            flags.append(f"--user={value}")
        elif key == "HEALTHCHECK":
            flags.append(f"--healthcheck={value}")
    return flags


def _abs(path: str) -> str:
    """An absolute, normal path inside the image ("//x" would stay "//x" otherwise)."""
    return os.path.normpath("/" + path.lstrip("/"))


def _parents(directory: str, top: str) -> list[str]:
    """`directory` and its parents up to and including `top`; none when `top` is "/",
    whose directories (/usr, /etc) the image had before any mapping."""
    if top == "/":
        return []
    out = []
    while directory != "/" and (directory == top or directory.startswith(top.rstrip("/") + "/")):
        out.append(directory)
        directory = os.path.dirname(directory)
    return out


# What `buildah run` adds after a failing command's own output.
_RUN_TRAILER = ("subprocess exited with status", "Error: exit status", "error running container")


def _script_tail(result: process.Result) -> str:
    """The failing command's last word, not buildah's "exit status N" that follows it."""
    lines = [ln for ln in result.stderr.strip().splitlines()
             if ln.strip() and not ln.startswith(_RUN_TRAILER)]
    return lines[-1] if lines else result.last_line


def _read_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return fh.read().splitlines()
    except FileNotFoundError:
        return []


def _remove(root: str, target: str) -> None:
    path = root + target
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)


def _place(src: str, dest: str) -> None:
    os.makedirs(os.path.dirname(dest), exist_ok=True)
    if os.path.lexists(dest) and (os.path.islink(dest) or not os.path.isdir(dest)):
        os.unlink(dest)
    if os.path.islink(src):
        os.symlink(os.readlink(src), dest)
    else:
        shutil.copy2(src, dest)


def _copy_filtered(src: str, dest: str, include: GlobSet, exclude: GlobSet) -> None:
    if os.path.isfile(src) or os.path.islink(src):
        _place(src, dest)
        return
    for dirpath, dirs, files in os.walk(src):
        # os.walk lists a symlink to a directory among the directories and does not
        # follow it; it is an entry to copy like a file.
        for name in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, src)
            if (include and not include.match(rel)) or exclude.match(rel):
                continue
            _place(path, os.path.join(dest, rel))


def _chown(root: str, path: str, owner, group, recursive: bool = False) -> None:
    if owner is None and group is None:
        return
    uid = _lookup(root, "etc/passwd", owner) if owner is not None else -1
    gid = _lookup(root, "etc/group", group) if group is not None else -1
    paths = [path]
    if recursive and os.path.isdir(path):
        paths += [os.path.join(d, n) for d, dirs, files in os.walk(path) for n in dirs + files]
    for p in paths:
        os.lchown(p, uid, gid)


def _lookup(root: str, table: str, name: str) -> int:
    if name.isdigit():
        return int(name)
    for line in _read_lines(os.path.join(root, table)):
        fields = line.split(":")
        if fields[0] == name and len(fields) > 2:
            return int(fields[2])
    raise ConfigError(f"owner/group {name!r} is not in the image's /{table}")

