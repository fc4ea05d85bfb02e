"""Real werf.yaml projects from public repositories (issue 13): each loads as werf loads
it, with the images its config declares.

tests/realworld/NAME/ holds what decides loading (werf.yaml, .werf/ partials, files the
templates read, Dockerfiles) and a SOURCE note (repository, path, commit). Each project
becomes a git repository of one commit, then `load_config` renders and reads it. The
expected image names below were written by reading each config, not from werfpull's
output. Projects that need what werfpull does not read yet are expected failures with
the precise reason, strict, so that they flip when the feature lands.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.git import GitRepo, git_env
from werfpull.config.load import load_config
from werfpull.errors import ConfigError

CORPUS = Path(__file__).resolve().parents[1] / "realworld"

# Reasons a project does not load yet (spec sections 7 and 8, issue 13): the reason, and
# what the error must say, so that a project failing for another reason fails the test.
SECRET_ID = ("a secret without 'id' (werf derives it from env or src): spec section 9 asks"
             " for an id", ("a secret needs an 'id'",))
NETWORK = ("image key 'network': not in the spec's key reference yet", ("key 'network'",))
FROM_IMAGE_EXTERNAL = ("fromImage naming a registry reference (werf 2 reads it as from): spec"
                       " section 1 says fromImage names an image of the config",
                       ("fromImage names an image of this config",))

# name: (expected image names in document order, environment, reason it fails or None)
PROJECTS = {
    "deckhouse-csi-nfs": ([
        "base/vex", "choose-edition",
        "controller-src-artifact", "controller-golang-artifact", "controller",
        "csi-nfs-scheduler-extender-src-artifact", "csi-nfs-scheduler-extender-golang-artifact",
        "csi-nfs-scheduler-extender",
        "csi-nfs-src-artifact", "csi-nfs-golang-artifact", "csi-nfs", "csi-nfs-vex-artifact",
        "go-hooks-src-artifact", "go-hooks-artifact", "kmod",
        "tlshd-src-artifact", "tlshd-golang-artifact", "tlshd",
        "wait-rpcbind-src-artifact", "wait-rpcbind-golang-artifact", "wait-rpcbind",
        "webhooks-src-artifact", "webhooks-golang-artifact", "webhooks",
        "wrap-mount-src-artifact", "wrap-mount-golang-artifact", "wrap-mount",
        "images-digests", "docs-generator", "bundle", "bundle-vex-artifact",
        "release-channel-version-artifact", "release-channel-version"], {}, None),
    "deckhouse-pod-reloader": ([
        "choose-edition", "pod-reloader-src-artifact", "pod-reloader-artifact", "pod-reloader",
        "images-digests-and-version", "bundle", "release-channel-version"], {},
        FROM_IMAGE_EXTERNAL),
    # images/ in Glob order (controller, garage, go-hooks, seaweedfs, webhooks); without
    # CARGO_PROXY the garage-artifact secret renders as `value: false`, the secret "false".
    "deckhouse-sds-object": ([
        "base/vex", "choose-edition",
        "controller-src-artifact", "controller-golang-artifact", "controller",
        "garage-src-artifact", "garage-artifact", "garage",
        "go-hooks-src-artifact", "go-hooks-artifact",
        "seaweedfs-src-artifact", "seaweedfs-golang-artifact", "seaweedfs",
        "webhooks-src-artifact", "webhooks-golang-artifact", "webhooks",
        "images-digests", "docs-generator", "bundle",
        "release-channel-version-artifact", "release-channel-version"], {}, None),
    "e2e-cmd-entrypoint": ([
        "dockerfile_shell_entrypoint", "dockerfile_exec_entrypoint", "dockerfile_shell_cmd",
        "dockerfile_exec_cmd", "dockerfile_no_cmd_no_entrypoint",
        "dockerfile_entrypoint_reset_cmd", "dockerfile_entrypoint_cmd",
        "dockerfile_base_image_cmd", "dockerfile_custom_shell_exec_cmd_and_entrypoint"],
        {}, None),
    "e2e-complex": (["dockerfile", "base-stapel-shell", "stapel-shell"], {}, None),
    "e2e-custom-tag": (["base-dockerfile", "dockerfile", "stapel"], {}, None),
    "e2e-export-complex": (["backend", "frombackend", "frombackend2"], {}, None),
    "e2e-heredoc": (["dockerfile"], {}, None),
    "e2e-images-dependencies": (["base-dockerfile", "base-stapel", "stapel", "dockerfile"],
                                {}, None),
    "e2e-import-no-system-dirs": (["source", "destination"], {}, None),
    "e2e-import-symlink-dest": (["source", "target"], {}, None),
    "e2e-kube-run": (["main"], {}, None),
    "e2e-multiarch": (["orange", "apple", "potato"],
                      {"ENABLE_STAPEL_IMAGE": "1", "ENABLE_STAGED_DOCKERFILE_IMAGE": "1",
                       "ENABLE_DOCKERFILE_IMAGE": "1"}, None),
    "e2e-network-stapel": (["stapel"], {}, NETWORK),
    "e2e-scratch": (["source", "stapel-scratch"], {}, None),
    "e2e-simple": (["dockerfile", "stapel-shell"], {}, None),
    "e2e-stages-copy": (["backend", "artifact"],
                        {"ARTIFACT_CACHE_VERSION": "1", "ARTIFACT_DATA": "one"}, None),
    # One image for build.platform's two platforms: config.images holds it once.
    "flant-shell-operator": (["main"], {}, None),
    "go-template": (["app", "template-sv"], {"OS": "Linux", "RELEASE": "1.0"}, None),
    "hello-k8s": (["hello-k8s"], {}, None),
    "legacy-ansible-general": (["alpine-test", "ubuntu-test"], {}, None),
    "legacy-ansible-python-encoding": (["ubuntu-python3", "alpine-python3"], {}, None),
    "legacy-become-user": ([None], {}, None),
    "legacy-build-secrets": (["dockerfile", "stapel-shell"], {}, SECRET_ID),
    "legacy-cleanup-after-converge": (["backend", "artifact"],
                                      {"ARTIFACT_CACHE_VERSION": "1", "ARTIFACT_DATA": "x"},
                                      None),
    "legacy-cleanup-git-history": (["image", "artifact"],
                                   {"CLEANUP_POLICY_SET_NUMBER": "1", "FROM_CACHE_VERSION": "1"},
                                   None),
    "legacy-config-render": (["image_a", "image_b"], {}, None),
    "legacy-from-artifact": (["app", "fromArtifact"], {"FROM_CACHE_VERSION": "1"}, None),
    "legacy-from-latest": ([None], {"FROM_IMAGE": "alpine", "FROM_LATEST": "false"}, None),
    "legacy-git-add-renames": (["image"], {}, None),
    "legacy-import-from-external": (
        ["test-import-0", "test-import-1", "test-import-2", "test-import-3"], {}, None),
    "legacy-imports-app": (["myartifact", None], {}, None),
    "legacy-mount-build-dir": ([None], {"FROM_CACHE_VERSION": "1"}, None),
    "legacy-spec-mutation": (["base", "basic-test", "clean-test", "cmd-test"], {}, None),
    "legacy-user-stages": (["image", "artifact"], {}, None),
    "registry-operator-module": (
        ["ALPINE", "GOLANG", "controller", "images-digests", "bundle",
         "release-channel-version-artifact", "release-channel-version"], {}, None),
    "tenis": (["backend", "frontend-build", "frontend", "mongodb"], {}, None),
    "werf-context-add-dir": ([None], {}, None),
    "werf-docs": (["jekyll_base", "assets", "web"], {}, None),
    "wfs": (["wfs-api", "wfs-discord", "wfs-front-builder", "wfs-front", "wfs-worker"],
            {"ENVNAME": "prod", "NAMESPACE": "wfs"}, None),
}

# Configs werf itself loads only with the network: refused in one line, by design.
REFUSED = {
    "werf-includes-example": "werf-includes.yaml fetches configuration from other git"
                             " repositories over the network",
}


def _source(name: str) -> dict:
    note = (CORPUS / name / "SOURCE").read_text()
    return dict(line.split(": ", 1) for line in note.splitlines() if ": " in line)


def _checkout(tmp_path: Path, name: str) -> Path:
    repo = GitRepo(path=tmp_path / name, env=git_env(tmp_path / "home"))
    shutil.copytree(CORPUS / name, repo.path, ignore=shutil.ignore_patterns("SOURCE"))
    repo.git("init", "-q", "-b", "main")
    repo.git("config", "user.name", "werfpull tests")
    repo.git("config", "user.email", "tests@werfpull.invalid")
    repo.git("config", "commit.gpgsign", "false")
    repo.commit()
    return repo.path / _source(name).get("project-dir", ".")


def test_the_corpus_is_complete_and_noted():
    names = {p.name for p in CORPUS.iterdir() if p.is_dir()}
    assert names == set(PROJECTS) | set(REFUSED)
    assert len(names) >= 30
    for name in names:
        source = _source(name)
        assert source["repository"].startswith("https://github.com/"), name
        assert len(source["commit"]) == 40 and source["path"], name
        assert (CORPUS / name / source.get("project-dir", ".") / "werf.yaml").is_file(), name


def _param(name: str):
    images, env, why = PROJECTS[name]
    marks = [pytest.mark.xfail(reason=why[0], strict=True, raises=ConfigError)] if why else []
    return pytest.param(name, images, env, why[1] if why else (), id=name, marks=marks)


@pytest.mark.parametrize("name,images,env,says", [_param(n) for n in sorted(PROJECTS)])
def test_real_project_loads_with_its_images(name, images, env, says, tmp_path, monkeypatch):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    try:
        config = load_config(str(_checkout(tmp_path, name)))
    except ConfigError as exc:
        # An expected failure must fail for its reason: anything else is a real failure.
        # The reason may be in the hint, so the whole line the user sees is searched.
        assert not says or any(s in str(exc) for s in says), str(exc)
        raise
    assert [image.name for image in config.images] == images


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_network_configs_are_refused_in_one_line(name, tmp_path):
    with pytest.raises(ConfigError) as info:
        load_config(str(_checkout(tmp_path, name)))
    assert REFUSED[name] in str(info.value) and "\n" not in str(info.value)
