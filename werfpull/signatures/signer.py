"""Stage signatures (spec sections 2 and 4): a pure function of the config and file state.

Owns each stage's dependency object, emptiness, and the chained sha256; the stage
order is the table in `stages.py`. File state comes in through `tree_for(mapping)`,
the base image digest for `fromLatest` through `from_digest(ref)`, so nothing here
touches the network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass

from werfpull.config.model import Config, GitMapping, Image
from werfpull.signatures.dockercontext import DockerfileInputs
from werfpull.signatures.dockerdeps import dockerfile_deps
from werfpull.signatures.gitfiles import MappingFiles
from werfpull.signatures.stages import BY_NAME, stage_names, stages_of
from werfpull.tools.git import Entry

FORMAT = "werfpull-stage/1"


def canon(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def stage_signature(stage: str, prev: str, deps: dict) -> str:
    return hashlib.sha256(canon([FORMAT, stage, prev, deps])).hexdigest()


@dataclass(frozen=True)
class Stage:
    name: str
    signature: str


@dataclass
class ImageStages:
    image: Image
    stages: list[Stage]  # the non-empty ones, in stage order
    platform: str | None = None  # the chain's platform (section 7); None without platforms

    @property
    def final(self) -> str:
        return self.stages[-1].signature

    @property
    def key(self) -> tuple:
        """(name, platform): what a chain is planned and built as."""
        return (self.image.name, self.platform)

    def upto(self, stage: str) -> str:
        """The signature of `stage`, or of the last non-empty stage before it."""
        order = stage_names(self.image)
        limit = order.index(stage)
        return [s for s in self.stages if order.index(s.name) <= limit][-1].signature

    def to_json(self) -> dict:
        return {"name": self.image.name, "kind": self.image.kind, "platform": self.platform,
                "stages": [{"name": s.name, "signature": s.signature} for s in self.stages],
                "final": self.final}


class Sources:
    """The signed chains one chain refers to: the source's chain for the same platform,
    or its only chain when it has no platforms (section 7)."""

    def __init__(self, done: dict, platform: str | None):
        self.done, self.platform = done, platform

    def chain(self, name) -> ImageStages:
        return self.done.get((name, self.platform)) or self.done[(name, None)]

    def __getitem__(self, name) -> str:
        return self.chain(name).final


TreeFor = Callable[[GitMapping], list[Entry]]
FromDigest = Callable[[str], str]
ContextFor = Callable[[Image], DockerfileInputs]


class Signer:
    """Signs every image and artifact of a config in dependency order."""

    def __init__(self, config: Config, tree_for: TreeFor, from_digest: FromDigest | None = None,
                 context_for: ContextFor | None = None):
        self.config = config
        self.tree_for = tree_for
        self.from_digest = from_digest
        self.context_for = context_for
        self._files: dict[tuple, MappingFiles] = {}

    def sign_all(self) -> list[ImageStages]:
        """Every (image or artifact, platform) chain, in config and platform order."""
        done: dict = {}
        for image in self.config.order():
            for platform in image.platforms or (None,):
                done[(image.name, platform)] = self.sign(image, Sources(done, platform))
        return [done[(i.name, p)] for i in self.config.images for p in i.platforms or (None,)]

    def sign(self, image: Image, finals: Sources) -> ImageStages:
        stages, prev = [], ""
        for kind in stages_of(image.stage_kind):
            deps = getattr(self, f"deps_{kind.deps}")(image, kind.name, finals)
            if deps is None:
                continue
            prev = stage_signature(kind.name, prev, deps)
            stages.append(Stage(kind.name, prev))
        return ImageStages(image, stages, finals.platform)

    def deps(self, image: Image, stage: str, finals: Sources) -> dict | None:
        """The stage's dependency object, or None when the stage is empty."""
        return getattr(self, f"deps_{BY_NAME[stage].deps}")(image, stage, finals)

    # -- one hook per `deps` of the stage table: the DEPS object, or None when empty ----

    def deps_from(self, image: Image, stage: str, finals: Sources) -> dict:
        digest = None
        if image.from_latest:
            if self.from_digest is None:
                raise AssertionError("fromLatest needs a digest resolver")
            digest = self.from_digest(image.from_)
        return _present_only(self._from_core(image, finals, digest), {
            "cacheVersion": self._cache_versions(image), "platform": finals.platform})

    def _cache_versions(self, image: Image) -> dict | None:
        if self.config.build_cache_version is None and image.image_cache_version is None:
            return None
        return {"build": self.config.build_cache_version, "image": image.image_cache_version}

    def _from_core(self, image: Image, finals: Sources, digest) -> dict:
        return {
            "project": self.config.project,
            "from": image.from_,
            "fromImage": finals[image.from_image] if image.from_image is not None else None,
            "fromArtifact": finals[image.from_artifact] if image.from_artifact is not None
            else None,
            "fromCacheVersion": image.from_cache_version,
            "fromDigest": digest,
            "mounts": [{"from": m.from_, "fromPath": m.from_path, "to": m.to}
                       for m in image.mounts],
        }

    def deps_user(self, image: Image, stage: str, finals: Sources) -> dict | None:
        instructions = image.instructions[stage]
        stage_version = image.stage_cache_versions[stage]
        dependencies = _dependencies(image, stage, finals)
        if not instructions and stage_version is None and dependencies is None:
            return None
        git = [] if stage == "beforeInstall" else [
            {"mapping": m.index, "checksum": self.files(m).checksum(m.stage_dependencies[stage])}
            for m in image.git if stage in m.stage_dependencies
        ]
        return _present_only({"builder": image.builder, "instructions": instructions,
                              "cacheVersion": image.cache_version,
                              "stageCacheVersion": stage_version, "git": git},
                             {"dependencies": dependencies})

    def deps_imports(self, image: Image, stage: str, finals: Sources) -> dict | None:
        imports = [_import(i, finals) for i in image.imports if i.stage == stage]
        return {"imports": imports} if imports else None

    def deps_git_archive(self, image: Image, stage: str, finals: Sources) -> dict | None:
        return {"git": [_archive(m) for m in image.git]} if image.git else None

    def deps_git_latest_patch(self, image: Image, stage: str, finals: Sources) -> dict | None:
        if not image.git or image.disable_git_after_patch:
            return None
        return {"git": [{"mapping": m.index, "checksum": self.files(m).checksum()}
                        for m in image.git]}

    def deps_docker(self, image: Image, stage: str, finals: Sources) -> dict | None:
        dependencies = _dependencies(image, stage, finals)
        if not image.docker and dependencies is None:
            return None
        return _present_only({"docker": image.docker or {}}, {"dependencies": dependencies})

    def deps_image_spec(self, image: Image, stage: str, finals: Sources) -> dict | None:
        build = self.config.build_image_spec
        if build is None and image.image_spec is None:
            return None
        return {"imageSpec": {"build": build, "image": image.image_spec}}

    def deps_dockerfile(self, image: Image, stage: str, finals: Sources) -> dict:
        deps = dockerfile_deps(self.config.project, image, self.context_for(image), finals)
        deps.pop("cacheVersion", None)  # with build.cacheVersion too, as for a Stapel image
        return _present_only(deps, {"cacheVersion": self._cache_versions(image),
                                    "platform": finals.platform})

    def files(self, mapping: GitMapping) -> MappingFiles:
        key = (mapping.url, mapping.branch, mapping.tag, mapping.commit, mapping.add,
               mapping.include_paths, mapping.exclude_paths)
        if key not in self._files:
            self._files[key] = MappingFiles(mapping, self.tree_for(mapping))
        return self._files[key]


def _present_only(deps: dict, additions: dict) -> dict:
    """Section 7: a key it adds to a DEPS object is there only when it is not null."""
    deps.update((k, v) for k, v in additions.items() if v is not None)
    return deps


def _dependencies(image: Image, stage: str, finals: Sources) -> list | None:
    entries = [{"image": d.image, "signature": finals[d.image],
                "imports": [{"type": t, "targetEnv": e} for t, e in d.imports]}
               for d in image.dependencies if d.stage == stage]
    return entries or None


def _import(imp, finals: Sources) -> dict:
    if imp.source is None:
        signature = None
    elif imp.source_stage is not None:
        signature = finals.chain(imp.source).upto(imp.source_stage)
    else:
        signature = finals[imp.source]
    return _present_only(
        {"image": imp.image, "artifact": imp.artifact, "signature": signature,
         "add": imp.add, "to": imp.to, "includePaths": list(imp.include_paths),
         "excludePaths": list(imp.exclude_paths), "owner": imp.owner, "group": imp.group},
        {"from": imp.from_, "stage": imp.source_stage})


def _archive(m: GitMapping) -> dict:
    return {"url": m.url, "branch": m.branch, "tag": m.tag, "commit": m.commit,
            "add": m.add, "to": m.to, "includePaths": list(m.include_paths),
            "excludePaths": list(m.exclude_paths), "owner": m.owner, "group": m.group}
