"""The werf 1.2/2 keys of spec section 7: meta `build`, and per image `final`,
`cacheVersion`, `platform`, `disableGitAfterPatch`, `secrets`, `dependencies`,
`imageSpec`; and the whole-config checks they need (platforms of references, the
stage an import names).

Owns their types and normal forms; `schema.py` calls in here with its located-error
parser, so every mistake is still one line naming file, line, document and key.
"""

from __future__ import annotations

import re

from werfpull.config.model import Config, Dependency, Image, Secret
from werfpull.config.yamldoc import describe
from werfpull.errors import ConfigError
from werfpull.signatures.stages import stage_names

META_KEYS = ("project", "configVersion", "build", "deploy", "cleanup", "gitWorktree")
BUILD_KEYS = ("cacheVersion", "platform", "staged", "imageSpec")
IMAGE_KEYS = ("final", "cacheVersion", "platform", "disableGitAfterPatch", "secrets",
              "dependencies", "imageSpec")
ARTIFACT_KEYS = tuple(k for k in IMAGE_KEYS if k not in ("final", "imageSpec"))
SECRET_KEYS = ("id", "env", "src", "value")
_SECRET_ID = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")
DEPENDENCY_KEYS = ("image", "before", "after", "imports")
DEPENDENCY_TYPES = ("ImageName", "ImageID", "ImageRepo", "ImageTag", "ImageDigest")
# Where a dependency enters the chain (section 7).
DEPENDENCY_STAGES = {("before", "install"): "install", ("after", "install"): "beforeSetup",
                     ("before", "setup"): "setup", ("after", "setup"): "dockerInstructions"}


def drop_nulls(value):
    """Explicit nulls read as absent keys at every depth (section 9); list items stay."""
    if isinstance(value, dict):
        return {k: drop_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [drop_nulls(v) for v in value]
    return value


def parse_meta(p, data: dict) -> dict:
    """The meta `build` mapping in normal form (nulls dropped, `platform: []` absent),
    after checking `configVersion` and the mapping keys that are never hashed."""
    if "configVersion" not in data:
        raise p.error((), "'configVersion' is required in the meta document",
                      key="configVersion")
    version = data["configVersion"]
    if isinstance(version, bool) or not isinstance(version, (int, float)) or version != 1:
        raise p.error(("configVersion",), f"configVersion must be 1, not {version!r}",
                      key="configVersion")
    for key in ("deploy", "cleanup", "gitWorktree"):
        if key in data and not isinstance(data[key], dict):
            raise p.error((key,), f"expected a mapping, got {describe(data[key])}")
    if "build" not in data:
        return {}
    raw = p.mapping(("build",), data["build"], BUILD_KEYS)
    build: dict = {}
    if "cacheVersion" in raw:
        build["cacheVersion"] = p.version(("build", "cacheVersion"), raw["cacheVersion"])
    platforms = platform_list(p, ("build", "platform"), raw.get("platform"))
    if platforms:
        build["platform"] = platforms
    p.boolean(("build", "staged"), raw.get("staged"))  # checked, never hashed
    if "imageSpec" in raw:
        build["imageSpec"] = image_spec(p, ("build", "imageSpec"), raw["imageSpec"])
    return build


def platform_list(p, at: tuple, value) -> tuple[str, ...]:
    """A list of platform strings, a repeated one counted once; [] is no platforms."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise p.error(at, f"expected a list of platforms, got {describe(value)}")
    out: list[str] = []
    for i, item in enumerate(value):
        platform = p.string(at + (i,), item)
        if not platform:
            raise p.error(at + (i,), "a platform must not be empty")
        if platform not in out:
            out.append(platform)
    return tuple(out)


def image_spec(p, at: tuple, value) -> dict:
    if not isinstance(value, dict):
        raise p.error(at, f"expected a mapping, got {describe(value)}")
    return drop_nulls(value)


def image_fields(p, kind: str, body: dict, build: dict) -> dict:
    """The Image fields of section 7 for one image or artifact document."""
    own = platform_list(p, ("platform",), body.get("platform"))
    return {
        "final": p.boolean(("final",), body["final"]) if "final" in body else True,
        "image_cache_version": p.version(("cacheVersion",), body.get("cacheVersion")),
        "platforms": own or build.get("platform", ()),
        "disable_git_after_patch": p.boolean(("disableGitAfterPatch",),
                                             body.get("disableGitAfterPatch")),
        "secrets": secrets(p, body.get("secrets")),
        "dependencies": _dependencies(p, kind, body.get("dependencies")),
        "image_spec": image_spec(p, ("imageSpec",), body["imageSpec"])
        if "imageSpec" in body else None,
    }


def _secret_field(p, at: tuple, value) -> str:
    """A string; a boolean or number as it is written (`value: false` is the secret
    "false"), as werf reads these fields. Never hashed, so no signature depends on it."""
    if isinstance(value, (bool, int, float)) and at in p.doc.texts:
        return p.doc.texts[at]
    return p.string(at, value)


def secrets(p, value) -> tuple[Secret, ...]:
    secrets = []
    for i, raw in enumerate(p.list_of_mappings(("secrets",), value)):
        at = ("secrets", i)
        data = p.mapping(at, raw, SECRET_KEYS)
        if "id" not in data:
            raise p.error(at, "a secret needs an 'id'", key=f"secrets[{i}].id")
        sources = [k for k in ("env", "src", "value") if k in data]
        if len(sources) != 1:
            raise p.error(at, "a secret needs exactly one of 'env', 'src', 'value'"
                          + (f", got {', '.join(sources)}" if sources else ""))
        fields = {k: _secret_field(p, at + (k,), data[k]) for k in SECRET_KEYS if k in data}
        if not _SECRET_ID.fullmatch(fields["id"]):
            # It names the file /run/secrets/ID in the build container.
            raise p.error(at + ("id",), f"secret id {fields['id']!r} must be letters, digits,"
                          " '.', '_' or '-', and not start with '.'")
        secrets.append(Secret(**fields, line=p.doc.line_of(at)))
    ids = [s.id for s in secrets]
    for s in secrets:
        if ids.count(s.id) > 1:
            raise p.error(("secrets",), f"two secrets have the id {s.id!r}")
    return tuple(secrets)


def _dependencies(p, kind: str, value) -> tuple[Dependency, ...]:
    deps = []
    for i, raw in enumerate(p.list_of_mappings(("dependencies",), value)):
        at = ("dependencies", i)
        data = p.mapping(at, raw, DEPENDENCY_KEYS)
        if "image" not in data:
            raise p.error(at, "'image' is required in a dependency",
                          key=f"dependencies[{i}].image")
        if ("before" in data) == ("after" in data):
            raise p.error(at, "a dependency needs exactly one of 'before' and 'after'")
        when = "before" if "before" in data else "after"
        stage = data[when]
        if stage not in ("install", "setup"):
            raise p.error(at + (when,), f"'{when}' must be install or setup, not {stage!r}")
        if kind == "artifact" and (when, stage) == ("after", "setup"):
            raise p.error(at + (when,), "an artifact has no stage after setup for a"
                          " dependency (it has no dockerInstructions)")
        imports = []
        for j, item in enumerate(p.list_of_mappings(at + ("imports",), data.get("imports"))):
            iat = at + ("imports", j)
            imp = p.mapping(iat, item, ("type", "targetEnv"))
            for key in ("type", "targetEnv"):
                if key not in imp:
                    raise p.error(iat, f"'{key}' is required in a dependency import",
                                  key=f"dependencies[{i}].imports[{j}].{key}")
            kind_ = p.string(iat + ("type",), imp["type"])
            if kind_ not in DEPENDENCY_TYPES:
                raise p.error(iat + ("type",), f"unknown dependency type {kind_!r}",
                              hint=f"expected one of: {', '.join(DEPENDENCY_TYPES)}")
            imports.append((kind_, p.string(iat + ("targetEnv",), imp["targetEnv"])))
        deps.append(Dependency(p.string(at + ("image",), data["image"]),
                               DEPENDENCY_STAGES[(when, stage)], tuple(imports),
                               line=p.doc.line_of(at)))
    return tuple(deps)


def check_config(config: Config) -> None:
    """What needs the whole config: the stage an import names, and platforms of sources."""
    by_name = {i.name: i for i in config.images}
    for image in config.images:
        for i, imp in enumerate(image.imports):
            source = by_name.get(imp.source)
            if imp.source_stage is not None and source is not None \
                    and imp.source_stage not in stage_names(source):
                raise ConfigError(
                    f"{image.label} imports stage {imp.source_stage!r} of {source.label},"
                    f" which has no such stage", file=config.path, line=imp.line,
                    document=f"document {image.document}", key=f"import[{i}].stage",
                    hint=f"stages: {', '.join(stage_names(source))}")
        for ref, line in _sources(image):
            _check_platforms(config, image, by_name[ref], line)


def _sources(image: Image) -> list[tuple[str, int]]:
    out = []
    if image.from_image is not None or image.from_artifact is not None:
        out.append((image.from_image or image.from_artifact, image.from_line))
    out += [(i.source, i.line) for i in image.imports if i.source is not None]
    out += [(d.image, d.line) for d in image.dependencies]
    return out


def _check_platforms(config: Config, image: Image, source: Image, line: int) -> None:
    """Section 7: a source serves the consumer's platforms, or has none at all."""
    if not source.platforms:
        return
    if not image.platforms:
        problem = (f"{image.label} has no platforms but uses {source.label}, which is"
                   f" built for {', '.join(source.platforms)}")
    else:
        missing = [p for p in image.platforms if p not in source.platforms]
        if not missing:
            return
        problem = (f"{image.label} is built for {', '.join(missing)}, which {source.label}"
                   f" it uses is not (it has {', '.join(source.platforms)})")
    raise ConfigError(problem, file=config.path, line=line or image.line,
                      document=f"document {image.document}", key="platform")
