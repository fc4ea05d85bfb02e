"""The reference stage builder on buildah, for Stapel (shell-based) images.

Owns building each missing stage on top of the previous one and committing it as
`REPO:image-stage-<signature>` with labels naming the signature format, stage,
signature and project; reusing the last stage that is already local. Each stage is
built by the hook the stage table names. It shows the signature contract at work: a
stage pulled by werfpull is exactly what it reuses. Git files come from `HEAD` (never
the working tree), like the signatures.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass

from werfpull.builder import dockerfile, files, rootfs
from werfpull.builder.docker import docker_flags
from werfpull.builder.imagespec import spec_flags
from werfpull.builder.werf2 import dependency_env, host_platform, secret_volumes
from werfpull.config.model import GitMapping, Image
from werfpull.destinations import ContainersStorage
from werfpull.errors import ConfigError, GitError, UsageError
from werfpull.project import Project
from werfpull.refs import Repo
from werfpull.signatures.dockercontext import DockerContexts
from werfpull.signatures.gitfiles import GitState, MappingFiles
from werfpull.signatures.globs import GlobSet
from werfpull.signatures.signer import FORMAT, ImageStages, Stage
from werfpull.signatures.stages import BY_NAME
from werfpull.tools import buildah, git, process, skopeo

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
    def __init__(self, project: Project, project_dir: str, repo: Repo, dest: ContainersStorage,
                 report: Callable[[StageResult], None] = lambda r: None,
                 registry: skopeo.RegistryOptions | None = None):
        self.project, self.project_dir, self.repo, self.dest = project, project_dir, repo, dest
        self.registry = registry or skopeo.RegistryOptions()
        self.store = dest.store_flags
        self.report = report
        # One chain per image: the host's platform, or the only one (no emulation here).
        self.platform = host_platform()
        self.signed = {s.image.name: s for s in project.signed
                       if s.platform in (None, self.platform)}
        self.results: list[StageResult] = []
        self._finals: dict = {}
        self._recorded: set = set()
        self._omit_history: set = set()  # containers an imageSpec clears the history of
        self._existing = set(dest.present(repo, [
            st.signature for s in project.signed for st in s.stages], self.registry))
        self._tree_dir: str | None = None
        self._git = GitState(project_dir, project.config.path)
        self._contexts = DockerContexts(self._git, project.config.path)
        self._tmp = tempfile.mkdtemp(prefix="werfpull-build-")

    def close(self) -> None:
        shutil.rmtree(self._tmp, ignore_errors=True)

    def build(self, names: list[str]) -> list[StageResult]:
        for stages in self.project.select(names):
            image = stages.image
            if image.kind == "image" and (image.final or image.name in names):
                self.final(image.name)
        return self.results

    def name(self, signature: str) -> str:
        return self.repo.tagged(signature)

    def final(self, image_name, upto: str | None = None) -> str:
        """The final stage of an image or artifact (or its stage `upto`, as an import
        with `stage` names it), built as far as needed."""
        stages = self._chain(image_name)
        signature = stages.upto(upto) if upto is not None else stages.final
        if (image_name, signature) not in self._finals:
            end = [s.signature for s in stages.stages].index(signature) + 1
            present = [i for i, s in enumerate(stages.stages[:end])
                       if s.signature in self._existing]
            last = present[-1] if present else -1
            for i, st in enumerate(stages.stages[: last + 1]):
                self._record(StageResult(image_name, st.name, st.signature,
                                         "reused" if i == last else "cached"))
            for i in range(last + 1, end):
                self._build_stage(stages, i)
            self._finals[(image_name, signature)] = self.name(signature)
        return self._finals[(image_name, signature)]

    def _chain(self, image_name) -> ImageStages:
        if image_name not in self.signed:
            image = self.project.config.get(image_name)
            raise UsageError(f"{image.label} is built for {', '.join(image.platforms)}; the"
                             f" reference builder builds only this host's platform"
                             f" ({self.platform}) and does not emulate others")
        return self.signed[image_name]

    def _record(self, result: StageResult) -> None:
        key = (result.image, result.signature, result.action)
        if result.action != "built" and key in self._recorded:
            return  # a stage an earlier, partial build already reported
        self._recorded.add(key)
        self.results.append(result)
        self.report(result)

    def _build_stage(self, stages: ImageStages, i: int) -> None:
        image, stage = stages.image, stages.stages[i]
        if not BY_NAME[stage.name].container:
            self._build_whole(image, stage)
            return
        # What this stage starts from or imports is built before its clock starts, so
        # that the report does not count an artifact's build twice.
        base = self._base(image) if i == 0 else self.name(stages.stages[i - 1].signature)
        for imp in image.imports:
            if imp.stage == stage.name and imp.source is not None:
                self.final(imp.source, imp.source_stage)
        env = [(e, self._dependency_value(d.image, kind)) for d in image.dependencies
               if d.stage == stage.name for kind, e in d.imports]
        started = time.monotonic()
        external = i == 0 and image.from_ is not None  # only a base image may be pulled
        ctr = self._run(buildah.from_image(self.store, base, pull=external,
                                           registry=self.registry),
                        f"cannot start {stage.name} of {image.label} on {base}").strip()
        try:
            if env:
                # In the container's config, so that this stage and every later one has it.
                self._run(buildah.config(self.store, ctr, [f"--env={k}={v}" for k, v in env]),
                          f"{image.label}: cannot set the dependency variables")
            self._apply(image, stage.name, ctr)
            labels = [f"--label={label}" for label in self._labels(stage)]
            self._run(buildah.config(self.store, ctr, labels), "cannot label")
            self._run(buildah.commit(self.store, ctr, self.name(stage.signature),
                                     omit_history=ctr in self._omit_history),
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

    def _labels(self, stage: Stage) -> list[str]:
        return [f"werfpull.stage-format={FORMAT}", f"werfpull.stage={stage.name}",
                f"werfpull.signature={stage.signature}",
                f"werfpull.project={self.project.config.project}"]

    def _build_whole(self, image: Image, stage: Stage) -> None:
        """A stage that its hook builds and names itself (a Dockerfile's), not in a
        container; what it depends on is built before its clock starts."""
        deps = {d.image: dockerfile.dependency(self.store, self.final(d.image), self.repo.name)
                for d in image.dockerfile.dependencies}
        started = time.monotonic()
        getattr(self, f"build_{BY_NAME[stage.name].build}")(image, stage, deps)
        self._existing.add(stage.signature)
        self._record(StageResult(image.name, stage.name, stage.signature, "built",
                                 time.monotonic() - started))

    def build_dockerfile(self, image: Image, stage: Stage, deps: dict) -> None:
        builder = dockerfile.DockerfileBuilder(self.store, self.registry, self._tmp,
                                               self.project_dir, self.project.config.path)
        builder.build(image, self._contexts.inputs(image), self.name(stage.signature),
                      self._labels(stage), deps)

    def _base(self, image: Image) -> str:
        if image.from_ is not None:
            return image.from_
        return self.final(image.from_image if image.from_image is not None
                          else image.from_artifact)

    def _apply(self, image: Image, stage: str, ctr: str) -> None:
        getattr(self, f"build_{BY_NAME[stage].build}")(image, stage, ctr)

    # -- one hook per `build` of the stage table ---------------------------------------

    def build_from(self, image: Image, stage: str, ctr: str) -> None:
        """Nothing to do: the container starts from the base image."""

    def build_user(self, image: Image, stage: str, ctr: str) -> None:
        if image.builder != "shell":
            raise ConfigError(f"{image.label}: ansible sections are not supported by the"
                              " reference builder (signatures and pulls still work)",
                              file=self.project.config.path, line=image.line)
        if stage != "beforeInstall" and image.git:
            self._sync_git(image, ctr)
        self._shell(image, stage, ctr)

    def build_git(self, image: Image, stage: str, ctr: str) -> None:
        self._sync_git(image, ctr)

    def build_imports(self, image: Image, stage: str, ctr: str) -> None:
        self._imports(image, stage, ctr)

    def build_docker(self, image: Image, stage: str, ctr: str) -> None:
        self._run(buildah.config(self.store, ctr, docker_flags(image.docker)),
                  f"{image.label}: bad docker instructions")

    def build_image_spec(self, image: Image, stage: str, ctr: str) -> None:
        specs = [("build.imageSpec", self.project.config.build_image_spec),
                 (f"{image.label}: imageSpec", image.image_spec)]
        for where, spec in specs:
            if spec is None:
                continue
            labels = json.loads(self._run(buildah.inspect_container(self.store, ctr),
                                          "cannot inspect")).get("OCIv1", {}) \
                .get("config", {}).get("Labels") or {}
            flags, omit = spec_flags(spec, labels, where)
            if omit:
                self._omit_history.add(ctr)
            if flags:
                self._run(buildah.config(self.store, ctr, flags), f"{where}: cannot apply")

    def _dependency_value(self, name: str, kind: str) -> str:
        tagged = self.final(name)
        info = None
        if kind in ("ImageID", "ImageDigest"):
            info = json.loads(self._run(buildah.inspect_image(self.store, tagged),
                                        f"cannot inspect {tagged}"))
        return dependency_env(kind, tagged, self.repo.name, info)

    def _shell(self, image: Image, stage: str, ctr: str) -> None:
        script = "\n".join(image.instructions[stage])
        if not script:
            return  # a stage made non-empty by its cache version alone
        volumes = self._volumes(image) + secret_volumes(
            image, self.project.config.path, self.project_dir, self._tmp)
        result = process.run(buildah.run(self.store, ctr, script, volumes))
        if not result.ok:
            raise result.error(f"{image.label} {stage} failed (exit {result.code}):"
                               f" {_script_tail(result)}")
        if image.secrets:
            self._drop_secret_mounts(image, ctr)

    def _drop_secret_mounts(self, image: Image, ctr: str) -> None:
        """The run leaves its mount points behind as empty files: no trace in the image."""
        root = self._mounted(ctr)
        try:
            for secret in image.secrets:
                files.remove(root, f"/run/secrets/{secret.id}")
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(root, "run", "secrets"))
        finally:
            process.run(buildah.umount(self.store, ctr))

    def _volumes(self, image: Image) -> list[tuple[str, str]]:
        vols = []
        for m in image.mounts:
            if m.from_path is not None:
                host = os.path.join(self.project_dir, m.from_path)
            elif m.from_ == "build_dir":
                host = os.path.join(os.path.expanduser("~/.cache/werfpull/build_dir"),
                                    _component(self.project.config.project),
                                    _component(str(image.name)))
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
        mapped = MappingFiles(mapping, self._git.tree_for(mapping))
        single = len(mapped.items) == 1 and mapped.items[0][1].path == mapping.add.strip("/")
        placed = {}
        for rel, entry in mapped.items:
            target = mapping.to if single else os.path.join(mapping.to, rel)
            placed[files.in_image(target)] = entry
        state = os.path.join(STATE_DIR, str(mapping.index))
        for old in files.read_lines(rootfs.resolve(root, state)):
            if old not in placed:
                files.remove(root, old)
        tree = self._tree()
        for target, entry in placed.items():
            if entry.line.startswith("160000"):
                continue  # a submodule: a commit, not a file
            files.place(os.path.join(tree, entry.path), root, target)
            files.chown(root, target, mapping.owner, mapping.group)
        # The mapping's directories belong to its owner too, from `to` down (never "/").
        top = files.in_image(mapping.to)
        dirs = {d for t in placed for d in files.parents(os.path.dirname(t), top)}
        for directory in sorted(dirs):
            files.chown(root, directory, mapping.owner, mapping.group)
        with open(rootfs.entry(root, state), "w", encoding="utf-8", errors="surrogateescape") as fh:
            fh.write("".join(f"{t}\n" for t in sorted(placed)))

    def _tree(self) -> str:
        """HEAD's files as git stores them, extracted once per build (never the working tree).

        Not `git archive`: it applies .gitattributes (export-ignore drops a file,
        export-subst rewrites one), while the signatures hash the blobs themselves.
        """
        if self._tree_dir is None:
            self._tree_dir = os.path.join(self._tmp, "head")
            os.makedirs(self._tree_dir)
            top = git.repo_root(self.project_dir)
            if top is None:
                raise GitError(f"{self.project_dir} is not inside a git repository")
            files.extract_blobs(top, self._tree_dir)
        return self._tree_dir

    def _imports(self, image: Image, stage: str, ctr: str) -> None:
        root = self._mounted(ctr)
        try:
            for imp in (i for i in image.imports if i.stage == stage):
                if imp.from_ is not None:  # an external image, fetched like a base image
                    argv = buildah.from_image(self.store, imp.from_, pull=True,
                                              registry=self.registry)
                else:
                    argv = buildah.from_image(self.store,
                                              self.final(imp.source, imp.source_stage), False)
                src_ctr = self._run(argv, f"cannot open {imp.from_ or imp.source}").strip()
                try:
                    src = rootfs.resolve(self._mounted(src_ctr), imp.add, follow_last=False)
                    if not os.path.lexists(src):
                        # Copying nothing would hide a typo until the image is run.
                        raise ConfigError(f"{image.label}: import of {imp.add} from"
                                          f" {imp.from_ or imp.source}: no such path in it",
                                          file=self.project.config.path, line=imp.line)
                    files.copy_filtered(src, root, files.in_image(imp.to),
                                        GlobSet(imp.include_paths), GlobSet(imp.exclude_paths))
                    files.chown(root, files.in_image(imp.to), imp.owner, imp.group,
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


def _component(name: str) -> str:
    """`name` as one directory name: a project or image called "../x" or "a/b" must not
    choose which host directory is mounted read-write into the build."""
    quoted = urllib.parse.quote(name, safe="")
    if quoted.strip(".") == "":
        return quoted.replace(".", "%2E") or "%"
    return quoted


# What `buildah run` adds after a failing command's own output.
_RUN_TRAILER = ("subprocess exited with status", "Error: exit status", "error running container")


def _script_tail(result: process.Result) -> str:
    """The failing command's last word, not buildah's "exit status N" that follows it."""
    lines = [ln for ln in result.stderr.strip().splitlines()
             if ln.strip() and not ln.startswith(_RUN_TRAILER)]
    return lines[-1] if lines else result.last_line
