"""The one stage table (spec section 3): every stage kind, in stage order.

A row names the stage, the kinds of image that have it, the `Signer` method that
computes its dependency object (spec section 4) and the builder method that builds
it. Config, signer, planner and builder all read stage names and order from here, so a
new stage kind is one row (plus its schema key) and the two hooks it names.
"""

from __future__ import annotations

from dataclasses import dataclass

IMAGE = "image"
ARTIFACT = "artifact"
DOCKERFILE = "dockerfile"  # an image built from a Dockerfile (spec section 8)


@dataclass(frozen=True)
class StageKind:
    name: str
    kinds: frozenset  # which of IMAGE, ARTIFACT have this stage
    deps: str  # Signer.deps_<deps>(image, stage, finals) -> dict | None (None: empty)
    build: str  # Builder.build_<build>(image, stage, container)
    user: bool = False  # a shell/ansible section's stage
    imports_at: tuple[str, str] | None = None  # (before|after, install|setup) of imports
    container: bool = True  # built in a container of the previous stage (or the base)


_BOTH = frozenset((IMAGE, ARTIFACT))
_IMAGE = frozenset((IMAGE,))

STAGES: tuple[StageKind, ...] = (
    # Built whole by `buildah build`, not in a container of the stage before it.
    StageKind("dockerfile", frozenset((DOCKERFILE,)), deps="dockerfile", build="dockerfile",
              container=False),
    StageKind("from", _BOTH, deps="from", build="from"),
    StageKind("beforeInstall", _BOTH, deps="user", build="user", user=True),
    StageKind("importsBeforeInstall", _BOTH, deps="imports", build="imports",
              imports_at=("before", "install")),
    StageKind("gitArchive", _BOTH, deps="git_archive", build="git"),
    StageKind("install", _BOTH, deps="user", build="user", user=True),
    StageKind("importsAfterInstall", _BOTH, deps="imports", build="imports",
              imports_at=("after", "install")),
    StageKind("beforeSetup", _BOTH, deps="user", build="user", user=True),
    StageKind("importsBeforeSetup", _BOTH, deps="imports", build="imports",
              imports_at=("before", "setup")),
    StageKind("setup", _BOTH, deps="user", build="user", user=True),
    StageKind("importsAfterSetup", _BOTH, deps="imports", build="imports",
              imports_at=("after", "setup")),
    StageKind("gitLatestPatch", _IMAGE, deps="git_latest_patch", build="git"),
    StageKind("dockerInstructions", _IMAGE, deps="docker", build="docker"),
    StageKind("imageSpec", frozenset((IMAGE, DOCKERFILE)), deps="image_spec",
              build="image_spec"),
)

BY_NAME = {s.name: s for s in STAGES}
USER_STAGES = tuple(s.name for s in STAGES if s.user)
# The user stages a git mapping's stageDependencies may name (never beforeInstall).
DEP_STAGES = USER_STAGES[1:]
IMPORT_STAGES = {s.imports_at: s.name for s in STAGES if s.imports_at}


def stages_of(kind: str) -> tuple[StageKind, ...]:
    """The stages an image or artifact has, in stage order."""
    return tuple(s for s in STAGES if kind in s.kinds)


def stage_names(image) -> tuple[str, ...]:
    """The stage names an image or artifact of the config has (what `import.stage` may
    name), whether or not they are empty."""
    return tuple(s.name for s in stages_of(image.stage_kind))


IMAGE_STAGES = tuple(s.name for s in stages_of(IMAGE))
ARTIFACT_STAGES = tuple(s.name for s in stages_of(ARTIFACT))
DOCKERFILE_STAGES = tuple(s.name for s in stages_of(DOCKERFILE))
