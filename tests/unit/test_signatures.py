"""Stage signatures (spec sections 2-5), recomputed here from the spec's formula, and the
properties that make a shared cache work: what changes a stage, and what must not."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from werfpull.config.load import load_config, parse_config
from werfpull.errors import ConfigError, GitError
from werfpull.project import load_project
from werfpull.signatures.gitfiles import GitState
from werfpull.signatures.signer import Signer, canon, stage_signature
from werfpull.signatures.stages import ARTIFACT_STAGES, IMAGE_STAGES
from werfpull.tools.git import Entry

ROOT = Path(__file__).resolve().parents[2]
META = "project: demo\nconfigVersion: 1\n"


# -- the spec's formula, written out here rather than imported -------------------------


def spec_canon(value) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def spec_sig(stage: str, prev: str, deps: dict) -> str:
    return hashlib.sha256(spec_canon(["werfpull-stage/1", stage, prev, deps])).hexdigest()


def spec_chain(stages: list[tuple[str, dict]]) -> dict[str, str]:
    out, prev = {}, ""
    for name, deps in stages:
        prev = out[name] = spec_sig(name, prev, deps)
    return out


def spec_checksum(lines: list[bytes]) -> str:
    """Section 5: ls-tree lines ("mode type object\\tpath\\n"), sorted by path bytes."""
    return hashlib.sha256(b"".join(sorted(lines, key=lambda b: b.split(b"\t", 1)[1]))) \
        .hexdigest()


# -- git, isolated from the host's configuration -------------------------------------------


def git_env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    home.mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"),
               GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    return env


class Repo:
    """A throw-away git repository with a local identity and unsigned commits."""

    def __init__(self, path: Path, home: Path, init: bool = True):
        self.path, self.env = path, git_env(home)
        path.mkdir(parents=True, exist_ok=True)
        if init:
            self.git("init", "-q", "-b", "main")
            self.configure()

    def configure(self):
        self.git("config", "user.name", "werfpull tests")
        self.git("config", "user.email", "tests@werfpull.invalid")
        self.git("config", "commit.gpgsign", "false")

    def git(self, *args, cwd=None) -> bytes:
        proc = subprocess.run(["git", *args], cwd=cwd or self.path, env=self.env,
                              capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()
        return proc.stdout

    def write(self, rel: str | bytes, data: str | bytes = "x\n") -> None:
        base = os.fsencode(self.path)
        target = os.path.join(base, rel if isinstance(rel, bytes) else os.fsencode(rel))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as fh:
            fh.write(data.encode() if isinstance(data, str) else data)

    def commit(self, message: str = "c") -> str:
        self.git("add", "-A")
        self.git("commit", "-q", "--allow-empty", "-m", message)
        return self.git("rev-parse", "HEAD").decode().strip()

    def ls_tree_lines(self, ref: str = "HEAD", git_dir: str | None = None) -> list[bytes]:
        """`git ls-tree -r --full-tree` as raw lines, paths unquoted (via -z)."""
        pre = ["--git-dir", git_dir] if git_dir else []
        out = self.git(*pre, "ls-tree", "-r", "-z", "--full-tree", ref)
        return [rec + b"\n" for rec in out.split(b"\0") if rec]


@pytest.fixture(autouse=True)
def isolated_git(tmp_path, monkeypatch):
    """werfpull runs git with the process environment: keep the host's config out."""
    home = tmp_path / "home"
    for key in [k for k in os.environ if k.startswith("GIT_")]:
        monkeypatch.delenv(key)
    for key, value in git_env(home).items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return home


@pytest.fixture
def repo(tmp_path, isolated_git) -> Repo:
    return Repo(tmp_path / "repo", isolated_git)


# -- signing helpers ---------------------------------------------------------------------


def by_name(signed) -> dict:
    return {s.image.name: {st.name: st.signature for st in s.stages} for s in signed}


def sign_dir(directory, config=None, from_digest=None, cache_dir=None) -> dict:
    cfg = load_config(str(directory), config)
    state = GitState(str(directory), cfg.path, cache_dir=cache_dir)
    return by_name(Signer(cfg, state.tree_for, from_digest).sign_all())


def fake_entry(path: str, content: str = "") -> Entry:
    obj = hashlib.sha1(f"{path}:{content}".encode()).hexdigest()
    return Entry(path, f"100644 blob {obj}\t{path}\n")


def sign_text(text: str, tree=(), from_digest=None) -> dict:
    cfg = parse_config(text, "werf.yaml")
    entries = sorted(tree, key=lambda e: e.raw_path)
    return by_name(Signer(cfg, lambda m: entries, from_digest).sign_all())


# -- canon and the formula -----------------------------------------------------------------


def test_canon_is_json_dumps_with_the_spec_arguments():
    value = {"b": [1, "é", None, True], "a": {"z": 1.5, "A": "\n\"\u2028"}, "é": "x"}
    assert canon(value) == spec_canon(value)
    assert canon(value) == '{"a":{"A":"\\n\\"\u2028","z":1.5},"b":[1,"é",null,true],"é":"x"}' \
        .encode()
    assert stage_signature("from", "", value) == spec_sig("from", "", value)
    assert re.fullmatch(r"[0-9a-f]{64}", stage_signature("x", "y", {}))


def test_stage_orders():
    assert IMAGE_STAGES == ("from", "beforeInstall", "importsBeforeInstall", "gitArchive",
                            "install", "importsAfterInstall", "beforeSetup",
                            "importsBeforeSetup", "setup", "importsAfterSetup",
                            "gitLatestPatch", "dockerInstructions", "imageSpec")
    assert ARTIFACT_STAGES == IMAGE_STAGES[:10]


# -- signatures computed by hand from the spec ----------------------------------------------


HAND_CONFIG = META + """---
artifact: builder
from: golang:1.22
shell:
  install: go build -o /out/app
---
image: app
from: alpine:3.19
fromCacheVersion: 3
mount:
- {from: tmp_dir, to: /tmp/x}
- {fromPath: /cache, to: /a}
git:
- add: /src
  to: /app
  excludePaths: lib/skip*
  owner: 1000
  stageDependencies:
    install: ['**/*.go']
    beforeSetup: '*.md'
    setup: lib
shell:
  beforeInstall: apk add git
  install: [make deps, make build]
  setup: echo setup
  cacheVersion: 7
  setupCacheVersion: s1
import:
- artifact: builder
  add: /out
  to: /usr/bin
  after: install
- artifact: builder
  add: /lib
  before: setup
  includePaths: [b, a]
  group: 0755
docker:
  EXPOSE: 80
  ENV: {A: "1"}
"""


def hand_repo(repo: Repo) -> None:
    repo.write("src/main.go", "package main\n")
    repo.write("src/lib/util.go", "package lib\n")
    repo.write("src/lib/skip_me.go", "package lib\n")
    repo.write("src/README.md", "readme\n")
    repo.write("docs/guide.md", "guide\n")
    repo.write("werf.yaml", HAND_CONFIG)
    repo.commit()


def ls_tree_text_lines(repo: Repo) -> dict[str, bytes]:
    """path -> line, parsed from plain `git ls-tree -r --full-tree HEAD` output."""
    out = repo.git("ls-tree", "-r", "--full-tree", "HEAD").decode()
    lines = {}
    for line in out.splitlines():
        meta, path = line.split("\t", 1)
        mode, kind, obj = meta.split(" ")
        assert (mode, kind) == ("100644", "blob") and len(obj) == 40
        lines[path] = (line + "\n").encode()
    return lines


def test_hand_computed_signatures(repo):
    hand_repo(repo)
    ls = ls_tree_text_lines(repo)

    def files(*paths):
        return spec_checksum([ls[p] for p in paths])

    builder = spec_chain([
        ("from", {"project": "demo", "from": "golang:1.22", "fromImage": None,
                  "fromArtifact": None, "fromCacheVersion": None, "fromDigest": None,
                  "mounts": []}),
        ("install", {"builder": "shell", "instructions": ["go build -o /out/app"],
                     "cacheVersion": None, "stageCacheVersion": None, "git": []}),
    ])
    builder_final = builder["install"]
    shell = {"builder": "shell", "cacheVersion": "7"}
    imported = {"image": None, "artifact": "builder", "signature": builder_final,
                "includePaths": [], "excludePaths": [], "owner": None, "group": None}
    app = spec_chain([
        ("from", {"project": "demo", "from": "alpine:3.19", "fromImage": None,
                  "fromArtifact": None, "fromCacheVersion": "3", "fromDigest": None,
                  "mounts": [{"from": None, "fromPath": "/cache", "to": "/a"},
                             {"from": "tmp_dir", "fromPath": None, "to": "/tmp/x"}]}),
        ("beforeInstall", {**shell, "instructions": ["apk add git"],
                           "stageCacheVersion": None, "git": []}),
        ("gitArchive", {"git": [{"url": None, "branch": None, "tag": None, "commit": None,
                                 "add": "/src", "to": "/app", "includePaths": [],
                                 "excludePaths": ["lib/skip*"], "owner": "1000",
                                 "group": None}]}),
        ("install", {**shell, "instructions": ["make deps", "make build"],
                     "stageCacheVersion": None,
                     "git": [{"mapping": 0,
                              "checksum": files("src/lib/util.go", "src/main.go")}]}),
        ("importsAfterInstall", {"imports": [{**imported, "add": "/out", "to": "/usr/bin"}]}),
        # beforeSetup: git dependencies and the section's cacheVersion alone: empty
        ("importsBeforeSetup", {"imports": [{**imported, "add": "/lib", "to": "/lib",
                                             "includePaths": ["a", "b"], "group": "493"}]}),
        ("setup", {**shell, "instructions": ["echo setup"], "stageCacheVersion": "s1",
                   "git": [{"mapping": 0, "checksum": files("src/lib/util.go")}]}),
        ("gitLatestPatch", {"git": [{"mapping": 0, "checksum": files(
            "src/README.md", "src/lib/util.go", "src/main.go")}]}),
        ("dockerInstructions", {"docker": {"EXPOSE": 80, "ENV": {"A": "1"}}}),
    ])
    signed = sign_dir(repo.path)
    assert list(signed) == ["builder", "app"]
    assert signed["builder"] == builder
    assert signed["app"] == app
    assert list(signed["app"]) == list(app)  # stage order, empty stages left out


def test_hand_computed_references_and_ansible():
    text = META + """---
image: base
from: debian:12
ansible:
  install:
  - name: git
    apt: {name: git, state: present}
  beforeSetupCacheVersion: 2
---
image: child
fromImage: base
---
artifact: art
fromArtifact: tool
---
artifact: tool
from: busybox
fromLatest: true
"""
    digests = []

    def digest(ref):
        digests.append(ref)
        return "sha256:" + "ab" * 32

    signed = sign_text(text, from_digest=digest)
    assert digests == ["busybox"]
    base_from = {"project": "demo", "from": "debian:12", "fromImage": None,
                 "fromArtifact": None, "fromCacheVersion": None, "fromDigest": None,
                 "mounts": []}
    base = spec_chain([
        ("from", base_from),
        ("install", {"builder": "ansible", "cacheVersion": None, "stageCacheVersion": None,
                     "git": [], "instructions": [
                         {"name": "git", "apt": {"name": "git", "state": "present"}}]}),
        ("beforeSetup", {"builder": "ansible", "cacheVersion": None, "stageCacheVersion": "2",
                         "git": [], "instructions": []}),
    ])
    assert signed["base"] == base
    child = spec_chain([("from", {**base_from, "from": None,
                                  "fromImage": base["beforeSetup"]})])
    assert signed["child"] == child
    tool = spec_chain([("from", {**base_from, "from": "busybox",
                                 "fromDigest": "sha256:" + "ab" * 32})])
    assert signed["tool"] == tool
    art = spec_chain([("from", {**base_from, "from": None, "fromArtifact": tool["from"]})])
    assert signed["art"] == art


# -- what a change changes ---------------------------------------------------------------------


CHAIN_CONFIG = META + """---
artifact: tool
from: busybox
shell:
  install: build tool
---
image: app
from: alpine
fromCacheVersion: 1
git:
- add: /src
  to: /app
  stageDependencies:
    install: '*.go'
shell:
  beforeInstall: bi
  install: i
  beforeSetup: bs
  setup: s
  cacheVersion: c1
  installCacheVersion: ic1
import:
- {artifact: tool, add: /bi, before: install}
- {artifact: tool, add: /ai, after: install}
- {artifact: tool, add: /bs, before: setup}
- {artifact: tool, add: /as, after: setup}
docker:
  CMD: run
imageSpec:
  author: me
"""
TREE = [fake_entry("src/main.go"), fake_entry("src/README.md")]

EDITS = [
    ("fromCacheVersion: 1", "fromCacheVersion: 2", "from"),
    ("from: alpine", "from: alpine:3", "from"),
    ("project: demo", "project: other", "from"),
    ("beforeInstall: bi", "beforeInstall: bi2", "beforeInstall"),
    ("cacheVersion: c1", "cacheVersion: c2", "beforeInstall"),
    ("add: /bi,", "add: /bi2,", "importsBeforeInstall"),
    ("  to: /app", "  to: /app2", "gitArchive"),
    ("install: i\n", "install: [i, j]\n", "install"),
    ("installCacheVersion: ic1", "installCacheVersion: ic2", "install"),
    ("add: /ai,", "add: /ai, to: /x,", "importsAfterInstall"),
    ("beforeSetup: bs", "beforeSetup: bs2", "beforeSetup"),
    ("add: /bs,", "add: /bs, owner: 1,", "importsBeforeSetup"),
    ("setup: s\n", "setup: s2\n", "setup"),
    ("add: /as,", "add: /as, includePaths: x,", "importsAfterSetup"),
    ("CMD: run", "CMD: [run]", "dockerInstructions"),
    ("author: me", "author: you", "imageSpec"),
]


@pytest.mark.parametrize("old, new, first", EDITS, ids=[e[2] + ":" + e[1] for e in EDITS])
def test_a_change_changes_its_stage_and_every_later_one(old, new, first):
    assert CHAIN_CONFIG.count(old) == 1
    before = sign_text(CHAIN_CONFIG, TREE)["app"]
    after = sign_text(CHAIN_CONFIG.replace(old, new), TREE)["app"]
    assert list(before) == list(after) == list(IMAGE_STAGES)
    cut = IMAGE_STAGES.index(first)
    for stage in IMAGE_STAGES[:cut]:
        assert before[stage] == after[stage], stage
    for stage in IMAGE_STAGES[cut:]:
        assert before[stage] != after[stage], stage


def test_a_change_to_an_artifact_changes_its_consumers_from_the_import_on():
    before = sign_text(CHAIN_CONFIG, TREE)
    after = sign_text(CHAIN_CONFIG.replace("install: build tool", "install: build tool2"),
                      TREE)
    assert before["tool"]["from"] == after["tool"]["from"]
    assert before["tool"]["install"] != after["tool"]["install"]
    cut = IMAGE_STAGES.index("importsBeforeInstall")
    for stage in IMAGE_STAGES:
        assert (before["app"][stage] == after["app"][stage]) == \
            (IMAGE_STAGES.index(stage) < cut), stage


@pytest.mark.parametrize("changed, first", [
    ("src/main.go", "install"),  # in the install globs
    ("src/README.md", "gitLatestPatch"),  # in the mapping, in no stage's globs
])
def test_file_changes_reach_the_stages_that_depend_on_them(changed, first):
    before = sign_text(CHAIN_CONFIG, TREE)["app"]
    tree = [fake_entry(e.path, "v2" if e.path == changed else "") for e in TREE]
    after = sign_text(CHAIN_CONFIG, tree)["app"]
    cut = IMAGE_STAGES.index(first)
    for stage in IMAGE_STAGES:
        assert (before[stage] == after[stage]) == (IMAGE_STAGES.index(stage) < cut), stage
    # A file outside the mapping changes nothing.
    other = sign_text(CHAIN_CONFIG, TREE + [fake_entry("docs/x.md")])["app"]
    assert other == before


def test_expose_scalar_and_list_differ():
    text = META + "---\nimage: a\nfrom: x\ndocker:\n  EXPOSE: 80\n"
    scalar = sign_text(text)["a"]
    listed = sign_text(text.replace("EXPOSE: 80", "EXPOSE: [80]"))["a"]
    quoted = sign_text(text.replace("EXPOSE: 80", "EXPOSE: '80'"))["a"]
    assert scalar["from"] == listed["from"] == quoted["from"]
    assert len({scalar["dockerInstructions"], listed["dockerInstructions"],
                quoted["dockerInstructions"]}) == 3


def test_docker_key_order_does_not_matter():
    a = sign_text(META + "---\nimage: a\nfrom: x\ndocker:\n  CMD: x\n  USER: u\n")
    b = sign_text(META + "---\nimage: a\nfrom: x\ndocker:\n  USER: u\n  CMD: x\n")
    assert a == b


def test_image_names_are_not_hashed():
    body = "from: alpine\nshell:\n  install: make\n"
    pair = sign_text(META + "---\nimage: [a, b]\n" + body)
    assert pair["a"] == pair["b"]
    assert sign_text(META + "---\nimage: zzz\n" + body)["zzz"] == pair["a"]
    assert sign_text(META + "---\nimage: ~\n" + body)[None] == pair["a"]
    # An artifact with the same body signs the same stages too.
    assert sign_text(META + "---\nartifact: c\n" + body)["c"] == pair["a"]


def test_empty_stages_are_skipped_and_the_chain_passes_over_them():
    signed = sign_text(META + "---\nimage: a\nfrom: x\nshell:\n  setup: s\n")["a"]
    from_deps = {"project": "demo", "from": "x", "fromImage": None, "fromArtifact": None,
                 "fromCacheVersion": None, "fromDigest": None, "mounts": []}
    setup = {"builder": "shell", "instructions": ["s"], "cacheVersion": None,
             "stageCacheVersion": None, "git": []}
    assert signed == spec_chain([("from", from_deps), ("setup", setup)])
    assert sign_text(META + "---\nimage: a\nfrom: x\n")["a"] == \
        spec_chain([("from", from_deps)])


def test_final_signature_is_the_last_non_empty_stage():
    cfg = parse_config(META + "---\nimage: a\nfrom: x\nshell:\n  install: i\n", "werf.yaml")
    [stages] = Signer(cfg, lambda m: []).sign_all()
    assert stages.final == stages.stages[-1].signature
    assert [s.name for s in stages.stages] == ["from", "install"]
    assert stages.to_json() == {"name": "a", "kind": "image", "final": stages.final,
                                "platform": None,
                                "stages": [{"name": s.name, "signature": s.signature}
                                           for s in stages.stages]}


def test_artifacts_have_no_git_latest_patch_or_docker_stage():
    body = "from: x\ngit:\n- to: /app\nshell:\n  install: i\n"
    art = sign_text(META + "---\nartifact: a\n" + body, [fake_entry("f")])["a"]
    img = sign_text(META + "---\nimage: a\n" + body, [fake_entry("f")])["a"]
    assert list(art) == ["from", "gitArchive", "install"]
    assert list(img) == ["from", "gitArchive", "install", "gitLatestPatch"]
    assert {k: img[k] for k in art} == art
    # A new file changes the image's patch stage, never the artifact.
    art2 = sign_text(META + "---\nartifact: a\n" + body, [fake_entry("f"), fake_entry("g")])
    assert art2["a"] == art


def test_from_image_and_imports_use_the_final_signature_of_the_source():
    text = META + """---
image: base
from: alpine
shell: {install: i, setup: s}
---
image: child
fromImage: base
import:
- {image: base, add: /etc, after: setup}
"""
    signed = sign_text(text)
    child_from = spec_sig("from", "", {
        "project": "demo", "from": None, "fromImage": signed["base"]["setup"],
        "fromArtifact": None, "fromCacheVersion": None, "fromDigest": None, "mounts": []})
    assert signed["child"]["from"] == child_from
    assert signed["child"]["importsAfterSetup"] == spec_sig("importsAfterSetup", child_from, {
        "imports": [{"image": "base", "artifact": None, "signature": signed["base"]["setup"],
                     "add": "/etc", "to": "/etc", "includePaths": [], "excludePaths": [],
                     "owner": None, "group": None}]})
    changed = sign_text(text.replace("setup: s", "setup: s2"))
    assert changed["base"]["install"] == signed["base"]["install"]
    assert changed["child"]["from"] != signed["child"]["from"]


def test_images_are_signed_in_dependency_order_and_listed_in_config_order():
    text = META + "---\nimage: app\nfromImage: mid\n---\nimage: mid\nfromArtifact: low\n" \
        "---\nartifact: low\nfrom: x\n"
    cfg = parse_config(text, "werf.yaml")
    signed = Signer(cfg, lambda m: []).sign_all()
    assert [(s.image.name, s.image.kind) for s in signed] == \
        [("app", "image"), ("mid", "image"), ("low", "artifact")]
    low = spec_sig("from", "", {"project": "demo", "from": "x", "fromImage": None,
                                "fromArtifact": None, "fromCacheVersion": None,
                                "fromDigest": None, "mounts": []})
    assert signed[2].final == low
    assert signed[1].final == spec_sig("from", "", {
        "project": "demo", "from": None, "fromImage": None, "fromArtifact": low,
        "fromCacheVersion": None, "fromDigest": None, "mounts": []})


def test_section_cache_version_alone_does_not_make_a_stage_but_stage_version_does():
    base = META + "---\nimage: a\nfrom: x\nshell:\n  cacheVersion: 5\n"
    assert list(sign_text(base)["a"]) == ["from"]
    with_stage = sign_text(base + "  beforeSetupCacheVersion: 1\n")["a"]
    assert list(with_stage) == ["from", "beforeSetup"]
    assert with_stage["beforeSetup"] == spec_sig("beforeSetup", with_stage["from"], {
        "builder": "shell", "instructions": [], "cacheVersion": "5", "stageCacheVersion": "1",
        "git": []})
    # git dependencies alone do not make a stage either
    deps = META + "---\nimage: a\nfrom: x\ngit:\n- to: /\n  stageDependencies:\n" \
        "    install: '*'\n    setup: '*'\n"
    assert list(sign_text(deps, [fake_entry("f")])["a"]) == ["from", "gitArchive",
                                                            "gitLatestPatch"]


def test_before_install_never_has_git_entries():
    text = META + "---\nimage: a\nfrom: x\ngit:\n- to: /\n  stageDependencies:\n" \
        "    install: '*'\nshell:\n  beforeInstall: b\n"
    signed = sign_text(text, [fake_entry("f")])["a"]
    assert signed["beforeInstall"] == spec_sig("beforeInstall", signed["from"], {
        "builder": "shell", "instructions": ["b"], "cacheVersion": None,
        "stageCacheVersion": None, "git": []})


def test_git_entries_follow_mapping_order_and_only_naming_mappings():
    text = META + """---
image: a
from: x
git:
- {add: /one, to: /1, stageDependencies: {setup: '*'}}
- {add: /two, to: /2}
- {add: /three, to: /3, stageDependencies: {setup: [], install: x}}
- {add: /four, to: /4, stageDependencies: {setup: ['']}}
- {add: /one, to: /5, stageDependencies: {setup: 'nothing'}}
shell:
  setup: s
"""
    tree = [fake_entry(p) for p in ("one/a", "two/b", "three/x", "four/c")]
    signed = sign_text(text, tree)["a"]
    empty = hashlib.sha256(b"").hexdigest()
    one = spec_checksum([tree[0].line.encode()])
    assert list(signed) == ["from", "gitArchive", "setup", "gitLatestPatch"]
    assert signed["setup"] == spec_sig("setup", signed["gitArchive"], {
        "builder": "shell", "instructions": ["s"], "cacheVersion": None,
        "stageCacheVersion": None,
        # mapping 2 names setup with an empty list: the same as not naming it; mapping 3
        # names it with a pattern that matches nothing: an entry with the empty checksum.
        "git": [{"mapping": 0, "checksum": one}, {"mapping": 3, "checksum": empty},
                {"mapping": 4, "checksum": empty}]})


# -- real git repositories ---------------------------------------------------------------------


GIT_CONFIG = META + """---
image: app
from: alpine
git:
- add: /src
  to: /app
  stageDependencies:
    install: '*.go'
shell:
  install: make
"""


def git_project(repo: Repo) -> None:
    repo.write("werf.yaml", GIT_CONFIG)
    repo.write("src/main.go", "package main\n")
    repo.write("src/notes.txt", "notes\n")
    repo.write("docs/x.md", "doc\n")
    repo.commit()


def test_uncommitted_edits_change_nothing(repo):
    git_project(repo)
    before = sign_dir(repo.path)
    repo.write("src/main.go", "package main // edited\n")
    repo.write("src/new.go", "package main\n")
    repo.git("add", "src/new.go")
    repo.write("src/untracked.go", "x\n")
    (repo.path / "src/notes.txt").unlink()
    assert sign_dir(repo.path) == before


def test_a_clone_at_another_path_signs_the_same(repo, tmp_path):
    git_project(repo)
    clone = tmp_path / "elsewhere" / "a clone "
    clone.parent.mkdir()
    repo.git("clone", "-q", str(repo.path), str(clone))
    os.utime(clone / "src" / "main.go", (0, 0))
    assert sign_dir(clone) == sign_dir(repo.path)


def test_commits_change_only_the_stages_whose_files_changed(repo):
    git_project(repo)
    first = sign_dir(repo.path)["app"]
    repo.write("src/notes.txt", "more notes\n")
    repo.commit()
    second = sign_dir(repo.path)["app"]
    assert [s for s in first if first[s] != second[s]] == ["gitLatestPatch"]
    repo.write("docs/x.md", "outside the mapping\n")
    repo.commit()
    assert sign_dir(repo.path)["app"] == second
    repo.write("src/main.go", "package main // v2\n")
    repo.commit()
    third = sign_dir(repo.path)["app"]
    assert [s for s in first if second[s] != third[s]] == ["install", "gitLatestPatch"]


def test_file_mode_changes_the_checksum(repo):
    git_project(repo)
    before = sign_dir(repo.path)["app"]
    os.chmod(repo.path / "src/main.go", 0o755)
    repo.commit()
    after = sign_dir(repo.path)["app"]
    assert before["install"] != after["install"]
    assert b"100755 blob" in repo.git("ls-tree", "HEAD", "src/main.go")


def test_config_in_a_subdirectory_uses_paths_from_the_repository_root(repo):
    config = META + "---\nimage: app\nfrom: x\ngit:\n- add: /proj/src\n  to: /app\n" \
        "  stageDependencies:\n    install: '*.go'\nshell:\n  install: make\n"
    repo.write("proj/werf.yaml", config)
    repo.write("proj/src/main.go", "package main\n")
    repo.write("proj/src/x.txt", "x\n")
    repo.write("src/main.go", "not this one\n")
    repo.commit()
    signed = sign_dir(repo.path / "proj")["app"]
    lines = {line.split(b"\t")[1][:-1]: line for line in repo.ls_tree_lines()}
    install_sum = spec_checksum([lines[b"proj/src/main.go"]])
    all_sum = spec_checksum([lines[b"proj/src/main.go"], lines[b"proj/src/x.txt"]])
    assert signed["install"] == spec_sig("install", signed["gitArchive"], {
        "builder": "shell", "instructions": ["make"], "cacheVersion": None,
        "stageCacheVersion": None, "git": [{"mapping": 0, "checksum": install_sum}]})
    assert signed["gitLatestPatch"] == spec_sig("gitLatestPatch", signed["install"], {
        "git": [{"mapping": 0, "checksum": all_sum}]})


def test_explicit_config_uses_the_repository_that_holds_it(tmp_path, isolated_git):
    project = Repo(tmp_path / "project", isolated_git)
    project.write("src/main.go", "project's\n")
    project.commit()
    other = Repo(tmp_path / "other", isolated_git)
    other.write("werf.yaml", GIT_CONFIG)
    other.write("src/main.go", "other's\n")
    other.commit()
    via_dir = sign_dir(project.path, str(other.path / "werf.yaml"))
    assert via_dir == sign_dir(other.path)


def test_git_mapping_outside_a_repository_is_a_config_error(tmp_path):
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "werf.yaml").write_text(
        META + "---\nimage: a\nfrom: x\n---\nimage: b\nfrom: x\ngit:\n- add: /\n  to: /app\n")
    with pytest.raises(GitError) as info:
        sign_dir(tmp_path / "plain")
    err = info.value
    assert isinstance(err, ConfigError)
    assert str(err).startswith(f"{tmp_path / 'plain' / 'werf.yaml'}:10: ")
    assert "key 'git[0]'" in str(err) and "git repository" in str(err)
    # Without git mappings no repository is needed.
    (tmp_path / "plain" / "werf.yaml").write_text(META + "---\nimage: a\nfrom: x\n")
    assert list(sign_dir(tmp_path / "plain")["a"]) == ["from"]


def test_repository_without_a_commit_is_a_config_error(repo):
    repo.write("werf.yaml", GIT_CONFIG)
    with pytest.raises(GitError) as info:
        sign_dir(repo.path)
    assert str(info.value).startswith(f"{repo.path / 'werf.yaml'}:7: ")
    assert "need a commit" in str(info.value)


def test_unusual_file_names_checksum_raw_bytes(repo):
    names = [b"a b.txt", b"new\nline", b"latin1-\xe9", "utf8-é".encode(), b"Z", b"tab\tname",
             b'quote"d', b"back\\slash", b"-dash", b"\xc3\xa9-first"]
    for name in names:
        repo.write(b"d/" + name, b"content " + name)
    os.symlink("a b.txt", os.path.join(os.fsencode(repo.path), b"d/link"))
    repo.write("werf.yaml", META + "---\nimage: a\nfrom: x\ngit:\n- add: /d\n  to: /d\n"
                                   "  stageDependencies:\n    install: '*'\n"
                                   "shell:\n  install: i\n")
    repo.commit()
    # a submodule entry: mode 160000, type commit
    sub = repo.commit()
    repo.git("update-index", "--add", "--cacheinfo", f"160000,{sub},d/sub")
    repo.git("commit", "-q", "-m", "submodule")
    lines = [line for line in repo.ls_tree_lines() if b"\td/" in line]
    assert len(lines) == len(names) + 2
    assert any(line.startswith(b"120000 blob ") for line in lines)
    assert any(line.startswith(b"160000 commit ") for line in lines)
    signed = sign_dir(repo.path)["a"]
    expected = spec_checksum(lines)
    assert signed["install"] == spec_sig("install", signed["gitArchive"], {
        "builder": "shell", "instructions": ["i"], "cacheVersion": None,
        "stageCacheVersion": None, "git": [{"mapping": 0, "checksum": expected}]})
    assert signed["gitLatestPatch"] == spec_sig("gitLatestPatch", signed["install"], {
        "git": [{"mapping": 0, "checksum": expected}]})


def test_unusual_file_names_match_globs(repo):
    repo.write(b"d/latin1-\xe9.txt", b"x")
    repo.write("d/new\nline.txt", "y")
    repo.write("d/keep.md", "z")
    repo.write("werf.yaml", META + "---\nimage: a\nfrom: x\ngit:\n- add: /d\n  to: /d\n"
                                   "  stageDependencies:\n    install: '*.txt'\n"
                                   "shell:\n  install: i\n")
    repo.commit()
    lines = [line for line in repo.ls_tree_lines() if b".txt" in line]
    assert len(lines) == 2
    signed = sign_dir(repo.path)["a"]
    assert signed["install"] == spec_sig("install", signed["gitArchive"], {
        "builder": "shell", "instructions": ["i"], "cacheVersion": None,
        "stageCacheVersion": None, "git": [{"mapping": 0, "checksum": spec_checksum(lines)}]})


@pytest.fixture
def remote(tmp_path, isolated_git) -> tuple[Repo, str]:
    """A bare repository with a default branch, a branch `dev` and an annotated tag."""
    src = Repo(tmp_path / "remote-src", isolated_git)
    src.write("lib/a.txt", "v1\n")
    src.write("README", "r\n")
    src.commit()
    src.git("tag", "-a", "v1", "-m", "v1")
    src.git("checkout", "-q", "-b", "dev")
    src.write("lib/a.txt", "dev\n")
    src.commit()
    src.git("checkout", "-q", "main")
    src.write("lib/b.txt", "main\n")
    src.commit()
    bare = tmp_path / "remote.git"
    src.git("clone", "-q", "--bare", str(src.path), str(bare))
    return src, str(bare)


@pytest.mark.parametrize("selector, ref", [
    ("", "main"), ("branch: dev", "dev"), ("tag: v1", "v1"), ("commit", "main~1")])
def test_remote_mapping(tmp_path, remote, selector, ref):
    src, bare = remote
    if selector == "commit":
        selector = "commit: " + src.git("rev-parse", ref).decode().strip()
    project = tmp_path / "project"  # not a git repository: remote mappings need none
    project.mkdir()
    (project / "werf.yaml").write_text(
        META + f"---\nimage: a\nfrom: x\ngit:\n- url: {bare}\n  add: /lib\n  to: /lib\n"
        + (f"  {selector}\n" if selector else ""))
    signed = sign_dir(project, cache_dir=str(tmp_path / "gitcache"))["a"]
    expected = spec_checksum([line for line in src.ls_tree_lines(ref, git_dir=bare)
                              if b"\tlib/" in line])
    key, _, value = selector.partition(": ")
    archive = {"url": bare, "branch": None, "tag": None, "commit": None, "add": "/lib",
               "to": "/lib", "includePaths": [], "excludePaths": [], "owner": None,
               "group": None}
    if key:
        archive[key] = value
    assert signed == spec_chain([
        ("from", {"project": "demo", "from": "x", "fromImage": None, "fromArtifact": None,
                  "fromCacheVersion": None, "fromDigest": None, "mounts": []}),
        ("gitArchive", {"git": [archive]}),
        ("gitLatestPatch", {"git": [{"mapping": 0, "checksum": expected}]}),
    ])


def test_remote_mapping_that_cannot_be_fetched(tmp_path):
    (tmp_path / "werf.yaml").write_text(
        META + f"---\nimage: a\nfrom: x\ngit:\n- url: {tmp_path / 'missing.git'}\n"
        "  to: /lib\n  branch: main\n")
    with pytest.raises(GitError) as info:
        sign_dir(tmp_path, cache_dir=str(tmp_path / "gitcache"))
    assert str(info.value).startswith(f"{tmp_path / 'werf.yaml'}:7: ")
    assert "key 'git[0].url'" in str(info.value)


def test_from_latest_uses_the_injected_digest():
    text = META + "---\nimage: a\nfrom: alpine:3\nfromLatest: true\n---\nimage: b\n" \
        "from: alpine:3\n"
    asked = []

    def resolver(digest):
        def from_digest(ref):
            asked.append(ref)
            return digest
        return from_digest

    one = sign_text(text, from_digest=resolver("sha256:" + "1" * 64))
    two = sign_text(text, from_digest=resolver("sha256:" + "2" * 64))
    assert asked == ["alpine:3", "alpine:3"]  # only for the image with fromLatest
    assert one["b"] == two["b"]
    assert one["a"]["from"] != two["a"]["from"]
    assert one["a"]["from"] == spec_sig("from", "", {
        "project": "demo", "from": "alpine:3", "fromImage": None, "fromArtifact": None,
        "fromCacheVersion": None, "fromDigest": "sha256:" + "1" * 64, "mounts": []})


def test_load_project(repo):
    git_project(repo)
    project = load_project(str(repo.path))
    assert by_name(project.signed) == sign_dir(repo.path)
    assert [s.image.name for s in project.select(["app"])] == ["app"]


# -- the command line ---------------------------------------------------------------------------


def run_cli(*args, env) -> subprocess.CompletedProcess:
    env = dict(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "werfpull", *args], env=env,
                          capture_output=True, text=True, cwd=str(ROOT))


def test_cli_signatures_json(repo):
    repo.write("werf.yaml", META + """---
image: app
fromImage: base
import:
- {artifact: tool, add: /o, after: install}
---
image: ~
from: x
---
artifact: tool
from: busybox
shell: {install: i}
---
image: base
from: alpine
git:
- {add: /, to: /src}
""")
    repo.commit()
    proc = run_cli("signatures", "--dir", str(repo.path), "--format", "json", env=repo.env)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert set(out) == {"project", "images"}
    assert out["project"] == "demo"
    assert [(i["name"], i["kind"]) for i in out["images"]] == \
        [("app", "image"), (None, "image"), ("tool", "artifact"), ("base", "image")]
    expected = sign_dir(repo.path)
    for item in out["images"]:
        assert set(item) == {"name", "kind", "platform", "stages", "final"}
        assert item["platform"] is None
        stages = expected[item["name"]]
        assert item["stages"] == [{"name": n, "signature": s} for n, s in stages.items()]
        assert item["final"] == item["stages"][-1]["signature"]
    base = next(i for i in out["images"] if i["name"] == "base")
    assert [s["name"] for s in base["stages"]] == ["from", "gitArchive", "gitLatestPatch"]


def test_cli_bad_config_exits_3_with_one_line(tmp_path, isolated_git):
    (tmp_path / "werf.yaml").write_text(META + "---\nimage: a\nfrom: x\nshel: {}\n")
    proc = run_cli("signatures", "--dir", str(tmp_path), "--format", "json",
                   env=git_env(isolated_git))
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"{tmp_path / 'werf.yaml'}:6: " in lines[0]
    assert "key 'shel'" in lines[0] and "did you mean 'shell'?" in lines[0]


def test_cli_git_error_exits_3(tmp_path, isolated_git):
    (tmp_path / "werf.yaml").write_text(GIT_CONFIG)
    proc = run_cli("signatures", "--dir", str(tmp_path), env=git_env(isolated_git))
    assert proc.returncode == 3
    assert len(proc.stderr.strip().splitlines()) == 1
    assert "key 'git[0]'" in proc.stderr
