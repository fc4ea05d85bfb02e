"""Dockerfile images (spec section 8): the `dockerfile` stage recomputed from the spec's
formula with git's own output, what changes it and what must not, and the errors."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess

import pytest

from tests.support.git import GitRepo, git_env
from werfpull.errors import ConfigError
from werfpull.project import load_project

META = "project: demo\nconfigVersion: 1\n"

DOCKERFILE = """\
ARG BASE=busybox
FROM $BASE AS build
RUN echo built > /out
FROM build AS prod
COPY . /app
"""


def spec_sig(stage: str, prev: str, deps: dict) -> str:
    canon = json.dumps(["werfpull-stage/1", stage, prev, deps], sort_keys=True,
                       separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(canon).hexdigest()


def ls_tree_lines(repo: GitRepo, prefix: str = "") -> dict[str, bytes]:
    out = subprocess.run(["git", "ls-tree", "-r", "-z", "--full-tree", "HEAD"], cwd=repo.path,
                         env=repo.env, capture_output=True, check=True).stdout
    lines = {}
    for record in filter(None, out.split(b"\0")):
        path = record.split(b"\t", 1)[1].decode()
        if path.startswith(prefix):
            lines[path] = record + b"\n"
    return lines


def file_set(lines: list[bytes]) -> str:
    return hashlib.sha256(b"".join(sorted(lines, key=lambda b: b.split(b"\t", 1)[1]))) \
        .hexdigest()


@pytest.fixture
def repo(tmp_path) -> GitRepo:
    r = GitRepo(tmp_path / "repo", git_env(tmp_path / "home"))
    r.path.mkdir()
    r.git("init", "-q")
    r.git("config", "user.email", "t@example.com")
    r.git("config", "user.name", "t")
    r.write("app/Dockerfile", DOCKERFILE)
    r.write("app/.dockerignore", "# build output\n*.log\n!keep.log\nsecret/\n.dockerignore\n")
    r.write("app/main.c", "int main;\n")
    r.write("app/debug.log", "noise\n")
    r.write("app/keep.log", "kept\n")
    r.write("app/secret/key", "k\n")
    r.write("outside.txt", "not in the context\n")
    return r


WERF = META + """---
image: web
dockerfile: Dockerfile
context: app
target: prod
args: {GREETING: hello, N: 2}
"""


def signed(repo: GitRepo, text: str = WERF, commit: bool = True) -> dict:
    repo.write("werf.yaml", text)
    if commit:
        repo.commit()
    return {s.image.name: s for s in load_project(str(repo.path)).signed}


def final(repo: GitRepo, text: str = WERF, commit: bool = True, name: str = "web") -> str:
    return signed(repo, text, commit)[name].final


def test_signature_is_the_spec_formula(repo):
    got = signed(repo)["web"]
    lines = ls_tree_lines(repo, "app/")
    kept = [v for k, v in lines.items()
            if k not in ("app/debug.log", "app/secret/key", "app/.dockerignore")]
    deps = {"project": "demo", "dockerfile": file_set([lines["app/Dockerfile"]]),
            "target": "prod", "args": {"GREETING": "hello", "N": "2"},
            "context": file_set(kept), "dependencies": []}
    assert [(s.name, s.signature) for s in got.stages] == [
        ("dockerfile", spec_sig("dockerfile", "", deps))]
    assert got.to_json()["kind"] == "image"


def test_context_add_files_hash_the_working_tree_as_git_hash_object(repo):
    text = WERF + "contextAddFiles: [gen, tool.sh]\n"
    repo.write("werf.yaml", text)
    repo.commit()
    repo.write("app/gen/a.txt", "generated\n")
    repo.write("app/gen/sub/b.txt", "more\n")
    os.symlink("a.txt", repo.path / "app/gen/link")
    tool = repo.write("app/tool.sh", "#!/bin/sh\n")
    tool.chmod(0o755)
    got = signed(repo, text, commit=False)["web"]

    def entry(path: str, mode: str) -> bytes:
        obj = subprocess.run(["git", "hash-object", "--no-filters", path] if mode != "120000"
                             else ["sh", "-c", f"printf %s \"$(readlink {path})\" |"
                                   " git hash-object --stdin"],
                             cwd=repo.path, env=repo.env, capture_output=True, text=True,
                             check=True).stdout.strip()
        return f"{mode} blob {obj}\t{path}\n".encode()

    added = [entry("app/gen/a.txt", "100644"), entry("app/gen/sub/b.txt", "100644"),
             entry("app/gen/link", "120000"), entry("app/tool.sh", "100755")]
    lines = ls_tree_lines(repo, "app/")
    kept = [v for k, v in lines.items()
            if k not in ("app/debug.log", "app/secret/key", "app/.dockerignore")]
    deps = {"project": "demo", "dockerfile": file_set([lines["app/Dockerfile"]]),
            "target": "prod", "args": {"GREETING": "hello", "N": "2"},
            "context": file_set(kept), "dependencies": [],
            "contextAddFiles": file_set(added)}
    assert got.final == spec_sig("dockerfile", "", deps)
    # An empty list is present: the checksum of the empty set.
    empty = final(repo, WERF + "contextAddFiles: []\n")
    deps = dict(deps, contextAddFiles=hashlib.sha256(b"").hexdigest())
    lines = ls_tree_lines(repo, "app/")
    deps["context"] = file_set([v for k, v in lines.items() if k not in (
        "app/debug.log", "app/secret/key", "app/.dockerignore")])
    assert empty == spec_sig("dockerfile", "", deps)


def test_what_must_not_change_the_stage(repo):
    base = final(repo)
    repo.write("app/debug.log", "other noise\n")  # ignored
    repo.write("app/secret/key", "rotated\n")  # ignored directory
    repo.write("app/.dockerignore", "# a new comment\n*.log\n!keep.log\nsecret/\n.dockerignore\n")
    repo.write("outside.txt", "outside the context\n")
    assert final(repo) == base
    repo.write("app/untracked.c", "not committed\n")  # the working tree never counts
    repo.write("app/main.c", "uncommitted edit\n")
    assert final(repo, commit=False) == base


@pytest.mark.parametrize("change", ["kept file", "exception file", "args", "target",
                                    "dockerfile", "unignored .dockerignore"])
def test_what_changes_the_stage(repo, change):
    base = final(repo)
    text = WERF
    if change == "kept file":
        repo.write("app/main.c", "int main(void);\n")
    elif change == "exception file":
        repo.write("app/keep.log", "kept, changed\n")
    elif change == "args":
        text = WERF.replace("hello", "bye")
    elif change == "target":
        text = WERF.replace("target: prod", "target: build")
    elif change == "dockerfile":
        repo.write("app/Dockerfile", DOCKERFILE + "RUN true\n")
    else:
        repo.write("app/.dockerignore", "# comment\n*.log\n!keep.log\nsecret/\n")
    assert final(repo, text) != base


def test_dependency_signature_flows_into_the_stage(repo):
    text = META + """---
image: base
from: busybox
shell:
  install: [echo v1]
---
image: web
dockerfile: Dockerfile
context: app
dependencies:
- image: base
  imports:
  - {type: ImageName, targetBuildArg: BASE}
---
image: top
fromImage: web
"""
    first = signed(repo, text)
    assert first["top"].stages[0].name == "from"
    second = signed(repo, text.replace("echo v1", "echo v2"))
    assert second["web"].final != first["web"].final
    # A Stapel image built from the Dockerfile image follows it.
    assert second["top"].final != first["top"].final
    lines = ls_tree_lines(repo, "app/")
    kept = [v for k, v in lines.items()
            if k not in ("app/debug.log", "app/secret/key", "app/.dockerignore")]
    deps = {"project": "demo", "dockerfile": file_set([lines["app/Dockerfile"]]),
            "target": None, "args": {}, "context": file_set(kept),
            "dependencies": [{"image": "base", "signature": second["base"].final,
                              "imports": [{"type": "ImageName", "targetBuildArg": "BASE"}]}]}
    assert second["web"].final == spec_sig("dockerfile", "", deps)


def test_werf_yaml_in_a_subfolder_and_dockerfile_outside_the_context(repo):
    # context is relative to werf.yaml's directory (a leading "/" dropped); the Dockerfile
    # is context joined with dockerfile, and may lie outside the context.
    repo.write("proj/werf.yaml", META + "---\nimage: w\ndockerfile: ../../app/Dockerfile\n"
               "context: /ctx\n")
    repo.write("proj/ctx/f.txt", "f\n")
    repo.commit()
    got = load_project(str(repo.path / "proj")).signed[0]
    lines = ls_tree_lines(repo)
    deps = {"project": "demo", "dockerfile": file_set([lines["app/Dockerfile"]]),
            "target": None, "args": {}, "context": file_set([lines["proj/ctx/f.txt"]]),
            "dependencies": []}
    assert got.final == spec_sig("dockerfile", "", deps)


@pytest.mark.parametrize("body,fragment,key", [
    ("dockerfile: Nope\ncontext: app\n", "no Dockerfile 'app/Nope'", "dockerfile"),
    ("dockerfile: Dockerfile\ncontext: app\ntarget: test\n", "'test' is not a build stage",
     "target"),
    ("dockerfile: Dockerfile\ncontext: ../elsewhere\n", "outside the repository", "context"),
    ("dockerfile: ../../Dockerfile\ncontext: app\n", "outside the repository", "dockerfile"),
    ("dockerfile: Dockerfile\ncontext: app\ncontextAddFiles: [missing]\n", "does not exist",
     "contextAddFiles"),
    ("dockerfile: Dockerfile\ncontext: app\ncontextAddFiles: [../outside.txt]\n",
     "outside the context", "contextAddFiles"),
])
def test_config_errors_name_file_line_and_key(repo, body, fragment, key):
    repo.write("werf.yaml", META + "---\nimage: web\n" + body)
    repo.commit()
    with pytest.raises(ConfigError) as err:
        load_project(str(repo.path))
    assert fragment in str(err.value)
    assert err.value.key == key and err.value.line >= 4
    assert str(err.value).startswith(f"{repo.path}/werf.yaml:")


def test_malformed_dockerignore_is_a_config_error_naming_it(repo):
    repo.write("app/.dockerignore", "ok\nbad[\n")
    repo.write("werf.yaml", WERF)
    repo.commit()
    with pytest.raises(ConfigError) as err:
        load_project(str(repo.path))
    assert str(err.value).startswith("app/.dockerignore:2: ")
    assert "bad[" in str(err.value) and "web" in str(err.value)


def test_section_7_keys_of_a_dockerfile_image(repo):
    text = ("project: demo\nconfigVersion: 1\nbuild:\n  cacheVersion: 3\n"
            "  platform: [linux/amd64, linux/arm64]\n---\nimage: web\ndockerfile: Dockerfile\n"
            "context: app\ntarget: prod\nargs: {GREETING: hello, N: 2}\ncacheVersion: v\n"
            "imageSpec: {config: {user: app}}\n")
    repo.write("werf.yaml", text)
    repo.commit()
    chains = load_project(str(repo.path)).signed
    assert [c.platform for c in chains] == ["linux/amd64", "linux/arm64"]
    lines = ls_tree_lines(repo, "app/")
    kept = [v for k, v in lines.items()
            if k not in ("app/debug.log", "app/secret/key", "app/.dockerignore")]
    for chain in chains:
        deps = {"project": "demo", "dockerfile": file_set([lines["app/Dockerfile"]]),
                "target": "prod", "args": {"GREETING": "hello", "N": "2"},
                "context": file_set(kept), "dependencies": [],
                "cacheVersion": {"build": "3", "image": "v"}, "platform": chain.platform}
        first = spec_sig("dockerfile", "", deps)
        assert [(s.name, s.signature) for s in chain.stages] == [
            ("dockerfile", first),
            ("imageSpec", spec_sig("imageSpec", first, {"imageSpec": {
                "build": None, "image": {"config": {"user": "app"}}}}))]
