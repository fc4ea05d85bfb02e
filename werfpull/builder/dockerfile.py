"""Building a Dockerfile image's `dockerfile` stage with `buildah build` (spec section 8).

Owns exporting exactly the signed inputs (the committed Dockerfile, the context's
committed files less what `.dockerignore` excludes, `contextAddFiles` from the working
tree) into a fresh directory, the build arguments that carry dependencies, and
refusing, with one line naming it, a Dockerfile feature Debian's buildah 1.28 cannot
build. buildah is given an empty ignore file, so its own reading of `.dockerignore`
never changes what the signature counted.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass

import dockerfile as buildkit

from werfpull.config.model import Image
from werfpull.errors import ConfigError
from werfpull.signatures.dockercontext import DockerfileInputs
from werfpull.tools import buildah, git, process, skopeo


@dataclass(frozen=True)
class Dependency:
    """A built or pulled stage that a build argument points at."""

    name: str  # REPO:image-stage-SIG
    repo: str
    tag: str
    image_id: str
    digest: str


def unsupported(text: bytes) -> str | None:
    """The first Dockerfile feature buildah 1.28 cannot build, named with its line."""
    try:
        commands = buildkit.parse_string(text.decode("utf-8", "replace"))
    except buildkit.GoParseError as exc:
        return f"the Dockerfile does not parse: {exc}"
    for cmd in commands:
        if cmd.heredocs:
            return f"line {cmd.start_line}: heredocs ({cmd.cmd} <<{cmd.heredocs[0].name})"
        for flag in cmd.flags:
            name = flag.split("=", 1)[0]
            if name in _UNSUPPORTED_FLAGS.get(cmd.cmd.upper(), ()):
                return f"line {cmd.start_line}: {cmd.cmd} {name}"
    return None


# Flags BuildKit knows that buildah 1.28 refuses or ignores (it would build something
# else than the Dockerfile says).
_UNSUPPORTED_FLAGS = {
    "COPY": ("--link", "--parents", "--exclude"),
    "ADD": ("--link", "--checksum", "--keep-git-dir", "--exclude"),
    "RUN": ("--network", "--security"),
}


def build_arg(kind: str, dep: Dependency) -> str:
    return {"ImageName": dep.name, "ImageRepo": dep.repo, "ImageTag": dep.tag,
            "ImageID": dep.image_id, "ImageDigest": dep.digest}[kind]


def export_context(inputs: DockerfileInputs, dest: str) -> None:
    """The context as it was signed, under `dest`: committed blobs byte for byte with
    git's modes, then the working tree's contextAddFiles over them."""
    prefix = inputs.context + "/" if inputs.context else ""
    blobs = [e for e in inputs.files if e.kind == "blob"]
    for entry, data in zip(blobs, git.read_blobs(inputs.root, [e.object for e in blobs]),
                           strict=True):
        _write(os.path.join(dest, entry.path[len(prefix):]), entry.mode, data)
    for added in inputs.added or ():
        target = os.path.join(dest, added.entry.path[len(prefix):])
        if added.entry.mode == "120000":
            _write(target, "120000", os.fsencode(os.readlink(added.source)))
        else:
            with open(added.source, "rb") as fh:
                _write(target, added.entry.mode, fh.read())


def _write(target: str, mode: str, data: bytes) -> None:
    os.makedirs(os.path.dirname(target), exist_ok=True)
    if os.path.lexists(target):
        os.unlink(target)
    if mode == "120000":
        os.symlink(os.fsdecode(data), target)
        return
    with open(target, "wb") as fh:
        fh.write(data)
    os.chmod(target, 0o755 if mode == "100755" else 0o644)


class DockerfileBuilder:
    """Builds one Dockerfile image's stage into the store, named and labelled."""

    def __init__(self, store: list[str], registry: skopeo.RegistryOptions, tmp: str,
                 project_dir: str, config_path: str):
        self.store, self.registry, self.tmp = store, registry, tmp
        self.project_dir, self.config_path = project_dir, config_path

    def build(self, image: Image, inputs: DockerfileInputs, name: str, labels: list[str],
              deps: dict[str, Dependency]) -> None:
        spec = image.dockerfile
        problem = unsupported(inputs.text)
        if problem is not None:
            raise ConfigError(f"{image.label}: buildah {buildah.VERSION_NOTE} cannot build"
                              f" {inputs.dockerfile.path}: {problem} (signatures, plans and"
                              " pulls still work)", file=self.config_path,
                              line=spec.line("dockerfile"))
        work = tempfile.mkdtemp(prefix="dockerfile-", dir=self.tmp)
        try:
            context = os.path.join(work, "context")
            os.makedirs(context)
            export_context(inputs, context)
            dockerfile = os.path.join(work, "Dockerfile")
            with open(dockerfile, "wb") as fh:
                fh.write(inputs.text)
            ignore = os.path.join(work, "ignore")
            open(ignore, "w").close()
            args = dict(spec.args)
            for dep in spec.dependencies:
                for imp in dep.imports:
                    args[imp.target_build_arg] = build_arg(imp.type, deps[dep.image])
            argv = buildah.build(
                self.store, context, dockerfile=dockerfile, ignorefile=ignore, tag=name,
                target=spec.target, build_args=args, labels=labels,
                secrets=self._secrets(image, work), ssh=spec.ssh, network=spec.network,
                add_hosts=list(spec.add_host), registry=self.registry)
            result = process.run(argv)
            if not result.ok:
                raise result.error(f"{image.label}: buildah build failed (exit {result.code}):"
                                   f" {_tail(result)}")
        finally:
            shutil.rmtree(work, ignore_errors=True)

    def _secrets(self, image: Image, work: str) -> list[str]:
        out = []
        for i, secret in enumerate(image.dockerfile.secrets):
            if secret.src is not None:
                src = os.path.join(self.project_dir, os.path.expanduser(secret.src))
            elif secret.env is not None:
                if secret.env not in os.environ:
                    raise ConfigError(f"{image.label}: secret {secret.id!r} reads ${secret.env},"
                                      " which is not set", file=self.config_path,
                                      line=image.dockerfile.line("secrets"))
                src = os.path.join(work, f"secret-{i}")
                _private(src, os.environ[secret.env])
            else:
                src = os.path.join(work, f"secret-{i}")
                _private(src, secret.value)
            out.append(f"id={secret.id},src={src}")
        return out


def _private(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)


def _tail(result: process.Result) -> str:
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else result.last_line


def dependency(store: list[str], name: str, repo: str) -> Dependency:
    """What a dependency's build arguments can say about its stage `name` in the store."""
    result = process.run(buildah.inspect_image(store, name))
    if not result.ok:
        raise result.error(f"cannot inspect the dependency {name}: {result.last_line}")
    info = json.loads(result.stdout)
    return Dependency(name=name, repo=repo, tag=name.rsplit(":", 1)[1],
                      image_id=info["FromImageID"], digest=info["FromImageDigest"])
