"""The typed model of a werf.yaml: plain dataclasses, no I/O (spec section 1).

`Config` knows the references between its images and artifacts, their dependency
order (a cycle is a ConfigError naming the chain) and which images a selection needs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from werfpull.errors import ConfigError


@dataclass(frozen=True)
class GitMapping:
    index: int
    add: str
    to: str
    url: str | None
    branch: str | None
    tag: str | None
    commit: str | None
    include_paths: tuple[str, ...]
    exclude_paths: tuple[str, ...]
    owner: str | None
    group: str | None
    # stage -> sorted, non-empty glob list; a stage with no globs is left out
    stage_dependencies: dict = field(default_factory=dict, hash=False)
    line: int = 0
    # credentials for a remote repository: never hashed, never shown (section 7)
    basic_auth: dict | None = field(default=None, hash=False, repr=False, compare=False)


@dataclass(frozen=True)
class Mount:
    from_: str | None
    from_path: str | None
    to: str


@dataclass(frozen=True)
class Import:
    image: str | None
    artifact: str | None
    add: str
    to: str
    include_paths: tuple[str, ...]
    exclude_paths: tuple[str, ...]
    owner: str | None
    group: str | None
    stage: str  # importsBeforeInstall, ...
    line: int = 0
    from_: str | None = None  # an external image (section 7), instead of image/artifact
    source_stage: str | None = None  # `stage: S`: the source up to its stage S

    @property
    def source(self) -> str | None:
        """The image or artifact of this config imported from; None for an external one."""
        return self.image if self.image is not None else self.artifact


@dataclass(frozen=True)
class Secret:
    """A build secret (section 7): never hashed, never in a plan, a script or a log."""

    id: str
    env: str | None = field(default=None, repr=False)
    src: str | None = field(default=None, repr=False)
    value: str | None = field(default=None, repr=False)
    line: int = 0


@dataclass(frozen=True)
class BuildArgImport:
    type: str
    target_build_arg: str


@dataclass(frozen=True)
class DockerfileDependency:
    image: str
    imports: tuple[BuildArgImport, ...]
    line: int = 0


@dataclass
class DockerfileSpec:
    dockerfile: str
    context: str  # relative to the directory of werf.yaml, leading "/" dropped; "" is it
    target: str | None
    args: dict  # name -> string, nulls dropped, integers as decimal strings
    context_add_files: tuple[str, ...] | None  # None when absent; () is present
    add_host: tuple[str, ...]
    network: str | None
    ssh: str | None
    secrets: tuple[Secret, ...]
    dependencies: tuple[DockerfileDependency, ...]
    staged: bool
    final: bool
    cache_version: str | None
    platform: tuple[str, ...]
    image_spec: dict | None
    lines: dict = field(default_factory=dict)  # key -> line in werf.yaml

    def line(self, key: str) -> int:
        return self.lines.get(key, self.lines.get("", 0))


@dataclass(frozen=True)
class Dependency:
    """`dependencies[]` of a Stapel image: values of another image for one stage on."""

    image: str
    stage: str  # the stage it attaches to: install, beforeSetup, setup, dockerInstructions
    imports: tuple[tuple[str, str], ...]  # (type, targetEnv), config order
    line: int = 0


@dataclass
class Image:
    """One image or artifact; `image: [a, b]` gives two of these with one body."""

    name: str | None
    kind: str  # "image" | "artifact"
    from_: str | None
    from_image: str | None
    from_artifact: str | None
    from_latest: bool
    from_cache_version: str | None
    builder: str  # "shell" | "ansible"
    instructions: dict  # stage -> list
    cache_version: str | None
    stage_cache_versions: dict  # stage -> str | None
    git: tuple[GitMapping, ...]
    mounts: tuple[Mount, ...]
    imports: tuple[Import, ...]
    docker: dict | None
    document: int
    line: int
    from_line: int = 0  # line of fromImage/fromArtifact, to locate a bad reference
    # werf 2 keys (spec section 7); the defaults sign exactly as format 1 did
    final: bool = True
    image_cache_version: str | None = None  # the document's own `cacheVersion`
    platforms: tuple[str, ...] = ()  # `platform`, else meta build.platform; repeats dropped
    disable_git_after_patch: bool = False
    secrets: tuple[Secret, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    image_spec: dict | None = None
    dockerfile: DockerfileSpec | None = None  # set for a Dockerfile image (spec 8)

    @property
    def label(self) -> str:
        if self.name is None:
            return "the unnamed image"
        return f"{self.kind} {self.name!r}"

    def references(self) -> list[tuple[str, str]]:
        """(kind, name) of every image or artifact this one is built from or imports."""
        refs = []
        if self.from_image is not None:
            refs.append(("image", self.from_image))
        if self.from_artifact is not None:
            refs.append(("artifact", self.from_artifact))
        refs.extend(
            ("image", i.image) if i.image is not None else ("artifact", i.artifact)
            for i in self.imports if i.source is not None
        )
        refs.extend(("any", d.image) for d in self.dependencies)
        if self.dockerfile is not None:
            # A dependency names an image or an artifact; "any" lets either match.
            refs.extend(("any", d.image) for d in self.dockerfile.dependencies)
        return refs

    @property
    def stage_kind(self) -> str:
        """Which stages it has (the `kinds` of the stage table): a Dockerfile image is an
        image to everyone else, but has the stages of its own kind."""
        return "dockerfile" if self.dockerfile is not None else self.kind


@dataclass
class Config:
    path: str
    project: str
    images: list[Image]  # config order
    digest: str  # sha256 of the config text
    text: str = field(repr=False, default="")
    build: dict = field(default_factory=dict)  # meta `build`, nulls dropped (section 7)
    _by_name: dict = field(repr=False, default_factory=dict, compare=False)

    @property
    def build_cache_version(self) -> str | None:
        return self.build.get("cacheVersion")

    @property
    def build_image_spec(self) -> dict | None:
        return self.build.get("imageSpec")

    def get(self, name: str | None) -> Image:
        # An index, built once: a scan per reference made large configs quadratic.
        if len(self._by_name) != len(self.images):
            self._by_name = {}
            for image in self.images:
                self._by_name.setdefault(image.name, image)
        return self._by_name[name]

    def order(self) -> list[Image]:
        """Images and artifacts so that every one comes after what it references."""
        done: dict[str | None, Image] = {}
        for image in self.images:
            self._visit(image, done, [])
        return list(done.values())

    def _visit(self, image: Image, done: dict, chain: list[str]) -> None:
        if image.name in done:
            return
        label = image.name if image.name is not None else "~"
        if label in chain:
            cycle = " -> ".join(chain[chain.index(label):] + [label])
            raise ConfigError(
                f"{image.label} is part of a reference cycle: {cycle}",
                file=self.path, line=image.line, document=f"document {image.document}",
            )
        for _, ref in image.references():
            self._visit(self.get(ref), done, chain + [label])
        done[image.name] = image

    def needed_closure(self, names: list[str]) -> list[Image]:
        """The named images plus everything they reference, in config order."""
        wanted: set = set()
        stack = [self.get(n) for n in names]
        while stack:
            image = stack.pop()
            if image.name in wanted:
                continue
            wanted.add(image.name)
            stack.extend(self.get(ref) for _, ref in image.references())
        return [i for i in self.images if i.name in wanted]

