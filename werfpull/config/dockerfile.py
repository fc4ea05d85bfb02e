"""The schema of a Dockerfile image document (spec section 8) and its typed model.

A document with `dockerfile` is a Dockerfile image: it has no Stapel section, so its
`Image` carries empty Stapel fields and a `DockerfileSpec`. What needs the git tree
(the Dockerfile exists, `target` names one of its stages, the context lies inside
the repository, `contextAddFiles` exist) is checked where the files are read
(`signatures/dockercontext.py`); this module knows only the YAML.
"""

from __future__ import annotations

from werfpull.config import werf2
from werfpull.config.model import BuildArgImport, DockerfileDependency, DockerfileSpec, Image
from werfpull.config.yamldoc import describe

DOCKERFILE_KEYS = (
    "image", "dockerfile", "context", "target", "args", "contextAddFiles", "addHost",
    "network", "ssh", "secrets", "dependencies", "staged", "final", "cacheVersion",
    "platform", "imageSpec",
)
# Keys of a Stapel image that a Dockerfile image must not have (spec section 8).
STAPEL_KEYS = (
    "from", "fromImage", "fromArtifact", "fromLatest", "fromCacheVersion", "git", "shell",
    "ansible", "mount", "import", "docker", "disableGitAfterPatch",
)


def parse_image(p, names: list, body: dict) -> list[Image]:
    """The Dockerfile images that one document declares; `p` is the schema's parser."""
    data = p.mapping((), body, DOCKERFILE_KEYS + STAPEL_KEYS)
    for key in STAPEL_KEYS:
        if key in data:
            raise p.error((key,), f"'{key}' is a Stapel key: a Dockerfile image"
                          " (a document with 'dockerfile') cannot have it")
    spec = DockerfileSpec(
        dockerfile=_path(p, ("dockerfile",), data.get("dockerfile")),
        context=p.string(("context",), data.get("context", "")).lstrip("/"),
        target=p.opt_string(data, "target", ()),
        args=_args(p, data.get("args")),
        context_add_files=_strings(p, "contextAddFiles", data)
        if "contextAddFiles" in data else None,
        add_host=_strings(p, "addHost", data),
        network=p.opt_string(data, "network", ()),
        ssh=p.opt_string(data, "ssh", ()),
        secrets=werf2.secrets(p, data.get("secrets")),
        dependencies=_dependencies(p, data.get("dependencies")),
        staged=p.boolean(("staged",), data.get("staged")),
        final=p.boolean(("final",), data.get("final", True)),
        cache_version=p.version(("cacheVersion",), data.get("cacheVersion")),
        platform=_strings(p, "platform", data),
        image_spec=werf2.image_spec(p, ("imageSpec",), data["imageSpec"])
        if "imageSpec" in data else None,
        lines={key: p.doc.line_of((key,)) for key in data} | {"": p.doc.line},
    )
    return [_image(p, name, spec) for name in names]


def _image(p, name, spec: DockerfileSpec) -> Image:
    return Image(
        name=name, kind="image", from_=None, from_image=None, from_artifact=None,
        from_latest=False, from_cache_version=None, builder="shell",
        instructions={}, cache_version=None, stage_cache_versions={}, git=(), mounts=(),
        imports=(), docker=None, document=p.doc.index, line=p.doc.line, dockerfile=spec,
        # the section 7 keys, read by the signer, planner and builder as for any image
        final=spec.final, image_cache_version=spec.cache_version,
        platforms=tuple(dict.fromkeys(spec.platform)) or p.build.get("platform", ()),
        image_spec=spec.image_spec,
    )


def _path(p, at: tuple, value) -> str:
    if value is None:
        raise p.error((), "'dockerfile' is required", key="dockerfile")
    path = p.string(at, value)
    if not path.strip("/"):
        raise p.error(at, "the Dockerfile path must not be empty")
    return path


def _strings(p, key: str, data: dict) -> tuple[str, ...]:
    value = data.get(key)
    if value is None:
        return ()
    if isinstance(value, str):  # werf reads one string as a list of it (docs/signatures.md)
        return (value,)
    if not isinstance(value, list):
        raise p.error((key,), f"expected a string or a list of strings, got {describe(value)}")
    return tuple(p.string((key, i), v) for i, v in enumerate(value))


def _args(p, value) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise p.error(("args",), f"expected a mapping, got {describe(value)}")
    out = {}
    for name, arg in value.items():
        if arg is None:
            continue  # an explicit null is an absent key
        if isinstance(arg, bool) or not isinstance(arg, (str, int)):
            written = p.doc.texts.get(("args", name))  # `1.10`, which YAML reads as 1.1
            raise p.error(("args", name), f"a build argument is a string or an integer,"
                          f" got {describe(arg)} (spec section 9)", key=f"args.{name}",
                          hint=f"quote it: {name}: \"{written}\"" if written else None)
        out[name] = str(arg)
    return out


def _dependencies(p, value) -> tuple[DockerfileDependency, ...]:
    deps = []
    for i, raw in enumerate(p.list_of_mappings(("dependencies",), value)):
        at = ("dependencies", i)
        for key in ("before", "after"):
            if isinstance(raw, dict) and raw.get(key) is not None:
                raise p.error(at + (key,), f"'{key}' is for Stapel images: a Dockerfile"
                              " image's dependencies become build arguments")
        data = p.mapping(at, raw, ("image", "imports", "before", "after"))
        if "image" not in data:
            raise p.error(at, "a dependency needs 'image'", key=f"dependencies[{i}].image")
        imports = []
        for j, item in enumerate(p.list_of_mappings(at + ("imports",), data.get("imports"))):
            iat = at + ("imports", j)
            if isinstance(item, dict) and item.get("targetEnv") is not None:
                raise p.error(iat + ("targetEnv",), "'targetEnv' is for Stapel images: a"
                              " Dockerfile image imports into 'targetBuildArg'")
            entry = p.mapping(iat, item, ("type", "targetBuildArg", "targetEnv"))
            for key in ("type", "targetBuildArg"):
                if key not in entry:
                    raise p.error(iat, f"'{key}' is required in a dependency import",
                                  key=f"dependencies[{i}].imports[{j}].{key}")
            kind = p.string(iat + ("type",), entry["type"])
            if kind not in werf2.DEPENDENCY_TYPES:
                raise p.error(iat + ("type",), f"unknown import type {kind!r}",
                              hint=f"expected one of: {', '.join(werf2.DEPENDENCY_TYPES)}")
            imports.append(BuildArgImport(kind, p.string(iat + ("targetBuildArg",),
                                                         entry["targetBuildArg"])))
        deps.append(DockerfileDependency(p.string(at + ("image",), data["image"]),
                                         tuple(imports), p.doc.line_of(at)))
    return tuple(deps)
