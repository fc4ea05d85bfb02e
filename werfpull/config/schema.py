"""The werf.yaml schema: which keys exist where, their types and normal forms.

Every mistake becomes a one-line `ConfigError` naming file, line, document and key.
"""

from __future__ import annotations

import logging

from werfpull.config import dockerfile, werf2
from werfpull.config.model import Config, GitMapping, Image, Import, Mount
from werfpull.config.yamldoc import Document, describe, dotted
from werfpull.errors import ConfigError, close_matches
from werfpull.signatures.stages import DEP_STAGES, IMPORT_STAGES, USER_STAGES

log = logging.getLogger("werfpull.config")

IMAGE_KEYS = (
    "image", "from", "fromImage", "fromArtifact", "fromLatest", "fromCacheVersion",
    "git", "shell", "ansible", "mount", "import", "docker",
) + werf2.IMAGE_KEYS
SECTION_KEYS = USER_STAGES + ("cacheVersion",) + tuple(f"{s}CacheVersion" for s in USER_STAGES)
GIT_KEYS = (
    "add", "to", "url", "branch", "tag", "commit", "includePaths", "excludePaths",
    "owner", "group", "stageDependencies", "basicAuth",
)
IMPORT_KEYS = (
    "image", "artifact", "add", "to", "includePaths", "excludePaths", "owner", "group",
    "before", "after", "from", "stage",
)
DOCKER_KEYS = (
    "VOLUME", "EXPOSE", "ENV", "LABEL", "ENTRYPOINT", "CMD", "WORKDIR", "USER", "HEALTHCHECK",
    "exactValues",
)


def parse_documents(docs: list[Document], path: str) -> tuple[str, list[Image], dict]:
    """The project name, every image and artifact, and the meta `build` mapping."""
    if not docs:
        raise ConfigError("the config is empty: it needs a meta document with 'project'",
                          file=path)
    project, build = _parse_meta(docs[0], path)
    images: list[Image] = []
    for doc in docs[1:]:
        images.extend(_Parser(doc, path, build=build).images())
    return project, images, build


def check(config: Config) -> None:
    """What needs the whole config: unique names, references, no cycles, platforms."""
    _check_names(config)
    config.order()  # raises on cycles
    werf2.check_config(config)


def _parse_meta(doc: Document, path: str) -> tuple[str, dict]:
    p = _Parser(doc, path, label=f"document {doc.index} (meta)")
    # Checked before the schema, whose "unknown key 'image'" would hide the real mistake.
    if isinstance(doc.data, dict) and ("image" in doc.data or "artifact" in doc.data):
        key = "image" if "image" in doc.data else "artifact"
        raise p.error((key,), "the first document must be the meta document"
                      " (project, configVersion), not an image or artifact")
    data = p.mapping((), doc.data, werf2.META_KEYS)
    if "project" not in data:
        raise p.error((), "'project' is required in the meta document", key="project")
    project = p.string(("project",), data["project"])
    if not project:
        raise p.error(("project",), "'project' must not be empty", key="project")
    return project, werf2.parse_meta(p, data)


def _check_names(config: Config) -> None:
    seen: dict = {}
    for image in config.images:
        if image.name in seen:
            raise ConfigError(
                f"{image.label} is declared twice (first in document {seen[image.name]})",
                file=config.path, line=image.line, document=f"document {image.document}",
            )
        seen[image.name] = image.document
    kinds = {i.name: i.kind for i in config.images}
    for image in config.images:
        for kind, ref, key, line in _reference_sites(image):
            if ref not in kinds or kind not in ("any", kinds[ref]):
                other = f" ({ref!r} is an {kinds[ref]})" if ref in kinds else ""
                near = close_matches(
                    ref, [n for n, k in kinds.items() if kind in ("any", k) and n], n=1)
                what = "image or artifact" if kind == "any" else kind
                raise ConfigError(
                    f"{image.label} references unknown {what} {ref!r}{other}",
                    file=config.path, line=line, document=f"document {image.document}",
                    key=key, hint=_external_hint(key, ref) or (
                        f"did you mean {near[0]!r}?" if near else None),
                )
        if image.from_ is not None and kinds.get(image.from_) == "image":
            # werf 2 builds such an image on the config's image; spec section 1 reads
            # `from` as a registry reference, always: say so rather than sign in silence.
            log.warning("%s", ConfigError(
                f"from: {image.from_!r} names an image of this config too; it is signed as"
                f" the registry image {image.from_!r} (spec section 1), not built on that"
                " image", file=config.path, line=image.line,
                document=f"document {image.document}", key="from",
                hint=f"write fromImage: {image.from_} to build on the config's image"))


def _external_hint(key: str, ref: str) -> str | None:
    """For a registry reference where a name of this config belongs (a tag or digest)."""
    if "@" not in ref and ":" not in ref:
        return None
    if key == "fromImage":
        return f"fromImage names an image of this config; for a registry image write from: {ref}"
    if key.startswith("import[") and key.endswith(".image"):
        return (f"import's image names an image of this config; for a registry image write"
                f" {key[:-len('.image')]}.from: {ref}")
    return None


def _reference_sites(image: Image) -> list[tuple[str, str, str, int]]:
    """(kind, name, key, line) of every reference, so that a bad one is located exactly."""
    sites = []
    if image.from_image is not None:
        sites.append(("image", image.from_image, "fromImage", image.from_line))
    if image.from_artifact is not None:
        sites.append(("artifact", image.from_artifact, "fromArtifact", image.from_line))
    for i, imp in enumerate(image.imports):
        if imp.source is None:
            continue  # an external image
        kind = "image" if imp.image is not None else "artifact"
        sites.append((kind, imp.source, f"import[{i}].{kind}", imp.line))
    for i, dep in enumerate(image.dependencies):
        sites.append(("any", dep.image, f"dependencies[{i}].image", dep.line))
    if image.dockerfile is not None:
        sites.extend(("any", d.image, f"dependencies[{i}].image", d.line)
                     for i, d in enumerate(image.dockerfile.dependencies))
    return sites


class _Parser:
    """Schema checks for one document, with errors located by key path."""

    def __init__(self, doc: Document, path: str, label: str | None = None,
                 build: dict | None = None):
        self.doc, self.path = doc, path
        self.label = label or f"document {doc.index}"
        self.build = build or {}

    def error(self, at: tuple, message: str, key: str | None = None, hint=None) -> ConfigError:
        if key is None and any(isinstance(k, str) for k in at):
            key = dotted(at)
        return ConfigError(message, file=self.path, line=self.doc.line_of(at),
                           document=self.label, key=key, hint=hint)

    # -- typed accessors; `at` is the key path of the value inside the document

    def mapping(self, at: tuple, value, allowed: tuple) -> dict:
        """Check keys against the schema; explicit nulls read as absent keys."""
        if not isinstance(value, dict):
            raise self.error(at, f"expected a mapping, got {describe(value)}")
        for key in value:
            if key not in allowed:
                near = close_matches(key, allowed, n=1)
                raise self.error(
                    at + (key,), "unknown key", key=dotted(at + (key,)),
                    hint=f"did you mean {near[0]!r}?" if near else
                    f"expected one of: {', '.join(allowed)}",
                )
        return {k: v for k, v in value.items() if v is not None}

    def string(self, at: tuple, value) -> str:
        if not isinstance(value, str):
            raise self.error(at, f"expected a string, got {describe(value)}")
        return value

    def opt_string(self, data: dict, key: str, at: tuple) -> str | None:
        return self.string(at + (key,), data[key]) if key in data else None

    def string_list(self, at: tuple, value, sort: bool = False) -> tuple[str, ...]:
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list):
            raise self.error(at, f"expected a string or a list of strings, got {describe(value)}")
        out = [self.string(at + (i,), item) for i, item in enumerate(items)]
        return tuple(sorted(out)) if sort else tuple(out)

    def version(self, at: tuple, value) -> str | None:
        """Cache versions, owner and group: a string, or an integer as its decimal."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise self.error(at, f"expected a string or an integer, got {describe(value)}")
        return str(value)

    def boolean(self, at: tuple, value) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise self.error(at, f"expected true or false, got {describe(value)}")
        return value

    def list_of_mappings(self, at: tuple, value) -> list:
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(at, f"expected a list, got {describe(value)}")
        return value

    # -- documents

    def images(self) -> list[Image]:
        data = self.doc.data
        if not isinstance(data, dict):
            raise self.error((), f"expected a mapping, got {describe(data)}")
        if ("image" in data) == ("artifact" in data):
            raise self.error((), "a document needs exactly one of 'image' or 'artifact'"
                             if "image" not in data else "'image' and 'artifact' together")
        kind = "image" if "image" in data else "artifact"
        names = self._names(kind, data[kind])
        shown = ("~" if n is None else n for n in names)
        self.label = f"document {self.doc.index} ({kind} {', '.join(shown)})"
        if "dockerfile" in data and data["dockerfile"] is None:
            data = {k: v for k, v in data.items() if k != "dockerfile"}  # null is absent
        if "dockerfile" in data:
            if kind == "artifact":
                raise self.error(("dockerfile",), "an artifact cannot be built from a"
                                 " Dockerfile: declare it with 'image'")
            return dockerfile.parse_image(self, names, data)
        allowed = IMAGE_KEYS if kind == "image" else tuple(
            "artifact" if k == "image" else k for k in IMAGE_KEYS
            if k not in ("docker", "final", "imageSpec"))
        body = self.mapping((), data, allowed)
        return [self._image(kind, name, body) for name in names]

    def _names(self, kind: str, value) -> list:
        if value is None:
            if kind == "artifact":
                raise self.error(("artifact",), "an artifact needs a name")
            return [None]
        if isinstance(value, str):
            if not value:
                raise self.error((kind,), f"{kind} name must not be empty")
            return [value]
        if kind == "image" and isinstance(value, list) and value:
            return [self.string((kind, i), v) for i, v in enumerate(value)]
        raise self.error((kind,), f"{kind} must be a name" +
                         (" or a non-empty list of names" if kind == "image" else "") +
                         f", got {describe(value)}")

    def _image(self, kind: str, name, body: dict) -> Image:
        bases = [k for k in ("from", "fromImage", "fromArtifact") if k in body]
        if len(bases) != 1:
            raise self.error((bases[1],) if len(bases) > 1 else (), (
                f"only one of 'from', 'fromImage', 'fromArtifact' may be set, got "
                f"{', '.join(bases)}") if bases else
                "one of 'from', 'fromImage', 'fromArtifact' is required")
        if "shell" in body and "ansible" in body:
            raise self.error(("ansible",), "at most one of 'shell' and 'ansible' may be set")
        from_latest = self.boolean(("fromLatest",), body.get("fromLatest"))
        if from_latest and "from" not in body:
            raise self.error(("fromLatest",), "fromLatest needs 'from' (a base image reference)")
        builder = "ansible" if "ansible" in body else "shell"
        instructions, cache_version, stage_versions = self._section(builder, body.get(builder))
        return Image(
            name=name, kind=kind,
            from_=self.opt_string(body, "from", ()),
            from_image=self.opt_string(body, "fromImage", ()),
            from_artifact=self.opt_string(body, "fromArtifact", ()),
            from_latest=from_latest,
            from_cache_version=self.version(("fromCacheVersion",), body.get("fromCacheVersion")),
            builder=builder, instructions=instructions, cache_version=cache_version,
            stage_cache_versions=stage_versions,
            git=self._git(body.get("git")),
            mounts=self._mounts(body.get("mount")),
            imports=self._imports(body.get("import")),
            docker=self._docker(body.get("docker")) if kind == "image" else None,
            document=self.doc.index, line=self.doc.line,
            from_line=self.doc.line_of((bases[0],)),
            **werf2.image_fields(self, kind, body, self.build),
        )

    def _section(self, builder: str, value):
        at = (builder,)
        data = self.mapping(at, value, SECTION_KEYS) if value is not None else {}
        instructions = {}
        for stage in USER_STAGES:
            raw = data.get(stage)
            if builder == "shell":
                instructions[stage] = list(self.string_list(at + (stage,), raw))
            else:
                tasks = self.list_of_mappings(at + (stage,), raw)
                for i, task in enumerate(tasks):
                    if not isinstance(task, dict):
                        raise self.error(at + (stage, i),
                                         f"an ansible task must be a mapping, got {describe(task)}")
                instructions[stage] = tasks
        versions = {s: self.version(at + (f"{s}CacheVersion",), data.get(f"{s}CacheVersion"))
                    for s in USER_STAGES}
        cache_version = self.version(at + ("cacheVersion",), data.get("cacheVersion"))
        return instructions, cache_version, versions

    def _git(self, value) -> tuple[GitMapping, ...]:
        mappings = []
        for i, raw in enumerate(self.list_of_mappings(("git",), value)):
            at = ("git", i)
            data = self.mapping(at, raw, GIT_KEYS)
            if "to" not in data:
                raise self.error(at, "'to' is required in a git mapping", key=f"git[{i}].to")
            if "url" not in data:
                for key in ("branch", "tag", "commit"):
                    if key in data:
                        raise self.error(at + (key,), f"'{key}' is only for a remote"
                                         " repository (a mapping with 'url')")
            deps = self.mapping(at + ("stageDependencies",), data.get("stageDependencies", {}),
                                DEP_STAGES)
            stage_deps = {}
            for stage in DEP_STAGES:
                globs = self.string_list(at + ("stageDependencies", stage), deps.get(stage), True)
                if globs:
                    stage_deps[stage] = globs
            mappings.append(GitMapping(
                index=i,
                add=self.string(at + ("add",), data.get("add", "/")),
                to=self.string(at + ("to",), data["to"]),
                url=self.opt_string(data, "url", at),
                branch=self.opt_string(data, "branch", at),
                tag=self.opt_string(data, "tag", at),
                commit=self.opt_string(data, "commit", at),
                **self._filters(data, at),
                stage_dependencies=stage_deps,
                line=self.doc.line_of(at),
                basic_auth=self._basic_auth(data, at),
            ))
        return tuple(mappings)

    def _basic_auth(self, data: dict, at: tuple) -> dict | None:
        if "basicAuth" not in data:
            return None
        if "url" not in data:
            raise self.error(at + ("basicAuth",), "'basicAuth' is only for a remote"
                             " repository (a mapping with 'url')")
        if not isinstance(data["basicAuth"], dict):
            raise self.error(at + ("basicAuth",),
                             f"expected a mapping, got {describe(data['basicAuth'])}")
        return data["basicAuth"]

    def _filters(self, data: dict, at: tuple) -> dict:
        """What git mappings and imports share: which paths, and whose files they become."""
        return {
            "include_paths": self.string_list(at + ("includePaths",), data.get("includePaths"),
                                              True),
            "exclude_paths": self.string_list(at + ("excludePaths",), data.get("excludePaths"),
                                              True),
            "owner": self.version(at + ("owner",), data.get("owner")),
            "group": self.version(at + ("group",), data.get("group")),
        }

    def _mounts(self, value) -> tuple[Mount, ...]:
        mounts = []
        for i, raw in enumerate(self.list_of_mappings(("mount",), value)):
            at = ("mount", i)
            data = self.mapping(at, raw, ("from", "fromPath", "to"))
            if ("from" in data) == ("fromPath" in data):
                raise self.error(at, "a mount needs exactly one of 'from' and 'fromPath'")
            if "to" not in data:
                raise self.error(at, "'to' is required in a mount", key=f"mount[{i}].to")
            source = self.opt_string(data, "from", at)
            if source is not None and source not in ("tmp_dir", "build_dir"):
                raise self.error(at + ("from",), f"mount 'from' must be tmp_dir or build_dir,"
                                 f" not {source!r}")
            mounts.append(Mount(source, self.opt_string(data, "fromPath", at),
                                self.string(at + ("to",), data["to"])))
        targets = [m.to for m in mounts]
        for to in targets:
            if targets.count(to) > 1:
                raise self.error(("mount",), f"two mounts have the same 'to': {to!r}")
        return tuple(sorted(mounts, key=lambda m: m.to))

    def _imports(self, value) -> tuple[Import, ...]:
        imports = []
        for i, raw in enumerate(self.list_of_mappings(("import",), value)):
            at = ("import", i)
            data = self.mapping(at, raw, IMPORT_KEYS)
            if sum(k in data for k in ("image", "artifact", "from")) != 1:
                raise self.error(at, "an import needs exactly one of 'image', 'artifact'"
                                 " and 'from'")
            if "from" in data and "stage" in data:
                raise self.error(at + ("stage",), "'stage' names a stage of an image or"
                                 " artifact of this config, not of an external 'from' image")
            if "add" not in data:
                raise self.error(at, "'add' is required in an import", key=f"import[{i}].add")
            if ("before" in data) == ("after" in data):
                raise self.error(at, "an import needs exactly one of 'before' and 'after'")
            when = "before" if "before" in data else "after"
            stage = data[when]
            if stage not in ("install", "setup"):
                raise self.error(at + (when,), f"'{when}' must be install or setup,"
                                 f" not {stage!r}")
            add = self.string(at + ("add",), data["add"])
            imports.append(Import(
                image=self.opt_string(data, "image", at),
                artifact=self.opt_string(data, "artifact", at),
                add=add, to=self.string(at + ("to",), data.get("to", add)),
                **self._filters(data, at),
                stage=IMPORT_STAGES[(when, stage)],
                line=self.doc.line_of(at),
                from_=self.opt_string(data, "from", at),
                source_stage=self.opt_string(data, "stage", at),
            ))
        return tuple(imports)

    def _docker(self, value) -> dict | None:
        if value is None:
            return None
        docker = self.mapping(("docker",), value, DOCKER_KEYS)
        if "exactValues" in docker:
            self.boolean(("docker", "exactValues"), docker["exactValues"])
        return werf2.drop_nulls(docker) or None
