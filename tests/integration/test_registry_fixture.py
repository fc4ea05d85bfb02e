"""The real-component test infrastructure itself: registry process, OCI images, git repos."""

import hashlib
import json
import subprocess
import urllib.request

import pytest

from tests.support.registry import Registry, inspect_raw, make_oci_image, publish_image


def _manifest(image: str) -> dict:
    return json.loads(inspect_raw(image))


def test_registry_answers_v2(registry):
    no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with no_proxy.open(f"http://{registry.host}/v2/", timeout=5) as resp:
        assert resp.status == 200
        assert resp.headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.host == f"127.0.0.1:{registry.port}"
    assert registry.repo("a/b") == f"127.0.0.1:{registry.port}/a/b"


def test_publish_lists_tag_and_digest_matches_registry(registry, repo, tmp_path):
    assert registry.tags(repo) == []
    digest = publish_image(repo, "v1", {"hello.txt": b"hello\n"}, workdir=tmp_path / "oci")
    assert registry.tags(repo) == ["v1"]
    raw = subprocess.run(
        ["skopeo", "inspect", "--tls-verify=false", "--raw", f"docker://{repo}:v1"],
        check=True,
        capture_output=True,
    ).stdout
    assert digest == "sha256:" + hashlib.sha256(raw).hexdigest()
    # Pulling by digest must work too: werfpull pins stages by manifest digest.
    assert inspect_raw(f"{repo}@{digest}") == raw


def test_images_share_base_layers(repo, tmp_path):
    layout = tmp_path / "oci"
    base = make_oci_image(layout, "base", {"etc/os-release": b"ID=test\n"})
    publish_image(repo, "a", {"a": b"a"}, base["layers"], workdir=layout)
    publish_image(repo, "b", {"b": b"b"}, base["layers"], workdir=layout)
    a, b = _manifest(f"{repo}:a"), _manifest(f"{repo}:b")
    assert len(a["layers"]) == len(b["layers"]) == 2
    assert a["layers"][0]["digest"] == b["layers"][0]["digest"] == base["layers"][0]["digest"]
    assert a["layers"][1]["digest"] != b["layers"][1]["digest"]


def test_base_layers_from_another_layout(repo, tmp_path):
    base = make_oci_image(tmp_path / "one", "base", {"base": b"base"})
    digest = publish_image(repo, "v1", {"x": b"x"}, base["layers"], workdir=tmp_path / "two")
    assert _manifest(f"{repo}@{digest}")["layers"][0]["digest"] == base["layers"][0]["digest"]


def test_make_oci_image_is_deterministic(tmp_path):
    files = {"b/c.txt": b"c", "a.txt": b"a", "b/d.bin": bytes(range(256))}
    one = make_oci_image(tmp_path / "one", "x", files)
    two = make_oci_image(tmp_path / "two", "x", dict(reversed(files.items())))
    assert one == two
    other = make_oci_image(tmp_path / "three", "x", {**files, "a.txt": b"A"})
    assert other["manifest_digest"] != one["manifest_digest"]

    config = json.loads(
        (tmp_path / "one/blobs" / one["config_digest"].replace(":", "/")).read_bytes()
    )
    assert config["architecture"] == "amd64" and config["os"] == "linux"
    assert config["rootfs"]["diff_ids"] == [layer["diff_id"] for layer in one["layers"]]
    index = json.loads((tmp_path / "one/index.json").read_text())
    [entry] = index["manifests"]
    assert entry["annotations"]["org.opencontainers.image.ref.name"] == "x"
    assert entry["digest"] == one["manifest_digest"]


def test_layout_keeps_other_refs(tmp_path):
    layout = tmp_path / "oci"
    a = make_oci_image(layout, "a", {"f": b"1"})
    make_oci_image(layout, "b", {"f": b"2"})
    a2 = make_oci_image(layout, "a", {"f": b"3"})
    refs = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in json.loads((layout / "index.json").read_text())["manifests"]
    }
    assert set(refs) == {"a", "b"}
    assert refs["a"] == a2["manifest_digest"] != a["manifest_digest"]


@pytest.mark.registry
def test_restart_keeps_data(tmp_path):
    # A private registry: stopping the session one would break concurrent tests.
    reg = Registry(workdir=tmp_path / "reg")
    try:
        reg.start()
        port = reg.port
        digest = publish_image(reg.repo("r/keep"), "v1", {"f": b"f"}, workdir=tmp_path / "oci")
        reg.stop()
        assert not reg.running
        reg.start()
        assert reg.port == port
        assert reg.tags("r/keep") == ["v1"]
        assert inspect_raw(reg.repo("r/keep@" + digest))
    finally:
        reg.close()
    assert not reg.running
    assert (tmp_path / "reg").exists(), "a caller-provided workdir must not be deleted"


def test_unknown_repository_has_no_tags(registry):
    assert registry.tags("t/never-pushed") == []


def test_git_repo_helper(git_repo):
    git_repo.write("werf.yaml", "project: demo\n")
    first = git_repo.commit()
    git_repo.write("src/app.txt", "v1\n")
    second = git_repo.commit("second")
    assert len(first) == 40 and first != second
    assert git_repo.git("rev-parse", "--abbrev-ref", "HEAD").strip() == "main"
    assert git_repo.git("log", "--format=%an <%ae>", "-1").strip() == (
        "werfpull tests <tests@werfpull.invalid>"
    )
    assert git_repo.git("show", "--name-only", "--format=", second).split() == ["src/app.txt"]
