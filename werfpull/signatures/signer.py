"""Stage signatures (spec sections 2 and 4): a pure function of the config and file state.

Owns each stage's dependency object, emptiness, and the chained sha256; the stage
order is the table in `stages.py`. File state comes in through `tree_for(mapping)`,
the base image digest for `fromLatest` through `from_digest(ref)`, so nothing here
touches the network.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from werfpull.config.model import Config, GitMapping, Image
from werfpull.signatures.dockercontext import DockerfileInputs
from werfpull.signatures.dockerdeps import dockerfile_deps
from werfpull.signatures.gitfiles import MappingFiles
from werfpull.signatures.stages import BY_NAME, stages_of
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

    @property
    def final(self) -> str:
        return self.stages[-1].signature

    def to_json(self) -> dict:
        return {"name": self.image.name, "kind": self.image.kind,
                "stages": [{"name": s.name, "signature": s.signature} for s in self.stages],
                "final": self.final}


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
        """Every image and artifact, in config order."""
        done: dict = {}
        for image in self.config.order():
            done[image.name] = self.sign(image, done)
        return [done[i.name] for i in self.config.images]

    def sign(self, image: Image, done: dict) -> ImageStages:
        finals = _Finals(done)  # a view: copying `done` per image made signing quadratic
        stages, prev = [], ""
        for kind in stages_of(image.stage_kind):
            deps = getattr(self, f"deps_{kind.deps}")(image, kind.name, finals)
            if deps is None:
                continue
            prev = stage_signature(kind.name, prev, deps)
            stages.append(Stage(kind.name, prev))
        return ImageStages(image, stages)

    def deps(self, image: Image, stage: str, finals: dict) -> dict | None:
        """The stage's dependency object, or None when the stage is empty."""
        return getattr(self, f"deps_{BY_NAME[stage].deps}")(image, stage, finals)

    # -- one hook per `deps` of the stage table: the DEPS object, or None when empty ----

    def deps_from(self, image: Image, stage: str, finals: dict) -> dict:
        digest = None
        if image.from_latest:
            if self.from_digest is None:
                raise AssertionError("fromLatest needs a digest resolver")
            digest = self.from_digest(image.from_)
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

    def deps_user(self, image: Image, stage: str, finals: dict) -> dict | None:
        instructions = image.instructions[stage]
        stage_version = image.stage_cache_versions[stage]
        if not instructions and stage_version is None:
            return None
        git = [] if stage == "beforeInstall" else [
            {"mapping": m.index, "checksum": self.files(m).checksum(m.stage_dependencies[stage])}
            for m in image.git if stage in m.stage_dependencies
        ]
        return {"builder": image.builder, "instructions": instructions,
                "cacheVersion": image.cache_version, "stageCacheVersion": stage_version,
                "git": git}

    def deps_imports(self, image: Image, stage: str, finals: dict) -> dict | None:
        imports = [_import(i, finals) for i in image.imports if i.stage == stage]
        return {"imports": imports} if imports else None

    def deps_git_archive(self, image: Image, stage: str, finals: dict) -> dict | None:
        return {"git": [_archive(m) for m in image.git]} if image.git else None

    def deps_git_latest_patch(self, image: Image, stage: str, finals: dict) -> dict | None:
        return {"git": [{"mapping": m.index, "checksum": self.files(m).checksum()}
                        for m in image.git]} if image.git else None

    def deps_docker(self, image: Image, stage: str, finals: dict) -> dict | None:
        return {"docker": image.docker} if image.docker else None

    def deps_dockerfile(self, image: Image, stage: str, finals: dict) -> dict:
        return dockerfile_deps(self.config.project, image, self.context_for(image), finals)

    def files(self, mapping: GitMapping) -> MappingFiles:
        key = (mapping.url, mapping.branch, mapping.tag, mapping.commit, mapping.add,
               mapping.include_paths, mapping.exclude_paths)
        if key not in self._files:
            self._files[key] = MappingFiles(mapping, self.tree_for(mapping))
        return self._files[key]


class _Finals(Mapping):
    """{name: final signature} of the images signed so far, read through `done`."""

    def __init__(self, done: dict):
        self._done = done

    def __getitem__(self, name) -> str:
        return self._done[name].final

    def __iter__(self):
        return iter(self._done)

    def __len__(self) -> int:
        return len(self._done)


def _import(imp, finals: dict) -> dict:
    return {"image": imp.image, "artifact": imp.artifact, "signature": finals[imp.source],
            "add": imp.add, "to": imp.to, "includePaths": list(imp.include_paths),
            "excludePaths": list(imp.exclude_paths), "owner": imp.owner, "group": imp.group}


def _archive(m: GitMapping) -> dict:
    return {"url": m.url, "branch": m.branch, "tag": m.tag, "commit": m.commit,
            "add": m.add, "to": m.to, "includePaths": list(m.include_paths),
            "excludePaths": list(m.exclude_paths), "owner": m.owner, "group": m.group}
