"""A local stage counts only when it holds what the registry's manifest says.

A wrong image under a stage's name (another stage's image, retagged) is not local: the
plan says so and the pull replaces it, in containers-storage and in an OCI layout.
A stage built here and pushed stays local (its image ID survives the push), and push
refuses a stage whose builder's label names another signature than its tag.
"""

from __future__ import annotations

import json
import subprocess

from tests.support.pulls import oci, report, store
from tests.support.stages import landed, store_flags, werfpull
from werfpull.destinations.oci import remove_oci_ref

DIFFERS = "local copy differs from the registry: pulling again"


def buildah(dest: str, *args: str) -> str:
    return subprocess.run(["buildah", *store_flags(dest), *args], check=True,
                          capture_output=True, text=True, timeout=120).stdout.strip()


def retag_wrong(dest: str, plan: dict) -> str:
    """Put the first pull's image under the second pull's name; return that signature."""
    first, second = (f"{plan['repo']}:{p['tag']}" for p in plan["pulls"])
    if dest.startswith("containers-storage:"):
        buildah(dest, "tag", first, second)
    else:
        layout = dest[4:]
        index_path = f"{layout}/index.json"
        index = json.loads(open(index_path).read())
        wrong = next(m for m in index["manifests"]
                     if m["annotations"]["org.opencontainers.image.ref.name"] == first)
        remove_oci_ref(layout, second)
        index = json.loads(open(index_path).read())
        index["manifests"].append(dict(wrong, annotations={
            "org.opencontainers.image.ref.name": second}))
        open(index_path, "w").write(json.dumps(index))
    return plan["pulls"][1]["signature"]


def check_replaced(published, dest: str) -> None:
    plan = published.plan("--dest", dest)
    first = published.run("pull", "--dest", dest)
    assert first.returncode == 0, first.stderr
    wrong = retag_wrong(dest, plan)
    assert landed(dest)[f"{plan['repo']}:image-stage-{wrong}"] != plan["pulls"][1]["digest"]

    again = published.plan("--dest", dest)

    assert [p["signature"] for p in again["pulls"]] == [wrong]
    assert any(i["reason"].endswith(DIFFERS) for i in again["images"] if i["selected"] == wrong)
    proc = published.run("pull", "--dest", dest, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    assert report(proc)["pulled"] == [wrong]
    assert landed(dest) == {f"{plan['repo']}:{p['tag']}": p["digest"] for p in plan["pulls"]}


def test_a_wrong_stage_in_containers_storage_is_replaced(published, tmp_path):
    check_replaced(published, store(tmp_path))


def test_a_wrong_stage_in_an_oci_layout_is_replaced(published, tmp_path):
    check_replaced(published, oci(tmp_path))


def signatures(directory) -> list[str]:
    out = werfpull("signatures", "--dir", directory, "--format", "json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    sigs = []
    for image in data["images"] if isinstance(data, dict) else data:
        for stage in image["stages"]:
            if stage["signature"] not in sigs:
                sigs.append(stage["signature"])
    return sigs


def commit_stage(dest: str, name: str, label: str, content: str) -> None:
    """A one-file image committed as `name`, labelled as the builder labels a stage."""
    ctr = buildah(dest, "from", "scratch")
    mount = buildah(dest, "mount", ctr)
    with open(f"{mount}/stage", "w") as fh:
        fh.write(content)
    buildah(dest, "config", f"--label=werfpull.signature={label}", ctr)
    buildah(dest, "commit", "-q", ctr, name)
    buildah(dest, "rm", ctr)


def test_push_refuses_a_stage_labelled_with_another_signature(published, tmp_path, registry):
    dest = store(tmp_path)
    repo = published.repo + "-built"
    sigs = signatures(published.dir)
    good, bad = sigs[0], sigs[1]
    commit_stage(dest, f"{repo}:image-stage-{good}", good, "good")
    commit_stage(dest, f"{repo}:image-stage-{bad}", sigs[2], "wrong")

    proc = werfpull("push", repo, "--dir", published.dir, "--storage", dest,
                    "--insecure-registry")

    assert proc.returncode == 1, proc.stderr
    assert f"{repo}:image-stage-{bad} holds the stage built as {sigs[2]}" in proc.stderr
    assert "not pushed" in proc.stderr and "Traceback" not in proc.stderr
    assert registry.tags(repo) == [f"image-stage-{good}"]
    # The pushed stage stays local for the host that built it: its image ID is the
    # registry's config digest, although the push wrote a new manifest.
    plan = json.loads(werfpull("plan", repo, "--dir", published.dir, "--dest", dest,
                               "--insecure-registry", "--all-stages", "--format", "json").stdout)
    states = [s for i in plan["images"] for s in i["stages"] if s["signature"] == good]
    assert states and all(s["local"] and s["remote"] for s in states)
    assert good not in [p["signature"] for p in plan["pulls"]]
