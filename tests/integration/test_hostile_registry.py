"""A registry that answers with malformed manifests: a registry error naming the tag.

docker-registry 2.8 stores some malformed manifests itself (`"layers": null`, a
negative size): those are pushed to it raw. The ones it refuses to store (a size that
is a string, a JSON list, a config that is a string) are served by the fault proxy in
its place. The project and proxy are conftest.py's.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.support.pulls import oci
from tests.support.stages import werfpull

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def upstream_url(project, tag: str) -> str:
    host = f"{project.proxy.upstream[0]}:{project.proxy.upstream[1]}"
    return f"http://{host}/v2/{project.repo.split('/', 1)[1]}/manifests/{tag}"


def stage_tags(project) -> list[str]:
    out = json.loads(werfpull("signatures", "--dir", project.dir, "--format", "json").stdout)
    return [f"image-stage-{s['signature']}" for i in out["images"] for s in i["stages"]]


def last_stage_tag(project) -> str:
    """The first image's last stage: the one a plan reads first (from the end)."""
    out = json.loads(werfpull("signatures", "--dir", project.dir, "--format", "json").stdout)
    return f"image-stage-{out['images'][0]['stages'][-1]['signature']}"


def store_raw(project, tag: str, manifest) -> None:
    req = urllib.request.Request(upstream_url(project, tag), method="PUT",
                                 data=json.dumps(manifest).encode(),
                                 headers={"Content-Type": OCI_MANIFEST})
    with _OPENER.open(req, timeout=10) as resp:
        assert resp.status == 201  # the registry keeps it


def good_manifest(project, tag: str) -> dict:
    req = urllib.request.Request(upstream_url(project, tag), headers={"Accept": OCI_MANIFEST})
    with _OPENER.open(req, timeout=10) as resp:
        return json.loads(resp.read())


def first_layer(size):
    return lambda m: m["layers"][0].update(size=size)


@pytest.mark.parametrize("damage, named", [
    (lambda m: m.update(layers=None), "'layers' is not a list"),
    (first_layer(-5), "'layers[0].size' is not a byte count: -5"),
], ids=["layers-null", "negative-size"])
def test_malformed_manifest_stored_in_the_registry(project, tmp_path, damage, named):
    project.publish()
    tag = last_stage_tag(project)
    manifest = good_manifest(project, tag)
    damage(manifest)
    store_raw(project, tag, manifest)

    for command in ("plan", "pull"):
        proc = werfpull(command, *project.args("--dest", oci(tmp_path)))
        assert proc.returncode == 4, proc.stderr
        assert "Traceback" not in proc.stderr
        assert f"{project.repo}:{tag}: the registry served a malformed manifest" in proc.stderr
        assert named in proc.stderr
    assert not (tmp_path / "layout").exists()


def test_a_malformed_manifest_below_the_chosen_stage_is_never_read(project,
                                                                    tmp_path):
    """Planning reads each image from its last stage backwards and stops at the first
    present one: a stage below it is neither read nor pulled, whatever its manifest."""
    project.publish()
    below = stage_tags(project)[0]
    assert below != last_stage_tag(project)
    manifest = good_manifest(project, below)
    manifest["layers"] = None
    store_raw(project, below, manifest)

    proc = werfpull("plan", *project.args("--dest", oci(tmp_path), "--format", "json"))

    assert proc.returncode == 0, proc.stderr
    pulled = {p["signature"] for p in json.loads(proc.stdout)["pulls"]}
    assert below.removeprefix("image-stage-") not in pulled and pulled


@pytest.mark.parametrize("damage, named", [
    (first_layer("abc"), "'layers[0].size' is not a byte count: \"abc\""),
    (lambda m: [m], "a JSON list, not an object"),
    (lambda m: m.update(config="x"), "'config' is not an object"),
    (lambda m: m["layers"][0].update(digest="sha256:../../x"), "'layers[0].digest' is not"),
    (first_layer(True), "'layers[0].size' is not a byte count: true"),
], ids=["size-string", "json-list", "config-string", "bad-digest", "size-bool"])
def test_malformed_manifest_served_by_a_hostile_registry(project, proxy, tmp_path,
                                                         damage, named):
    project.publish()
    manifest = good_manifest(project, stage_tags(project)[0])
    body = damage(manifest)
    proxy.serve_manifest(json.dumps(manifest if body is None else body).encode())

    proc = werfpull("plan", *project.args("--dest", oci(tmp_path)))

    assert proc.returncode == 4, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "the registry served a malformed manifest" in proc.stderr
    assert f"{project.repo}:image-stage-" in proc.stderr
    assert named in proc.stderr
