"""plan and pull against a real registry for a config with platforms, dependencies,
`final: false` and an import of a stage (spec sections 6 and 7)."""

from __future__ import annotations

import json

from tests.support.stages import publish_stages, werfpull
from werfpull.project import load_project

CONFIG = """\
project: multi
configVersion: 1
build:
  platform: [linux/amd64, linux/arm64]
---
artifact: tool
from: base:1
shell:
  install: make tool
  setup: pack tool
---
image: db
from: base:1
final: false
shell:
  install: make db
---
image: app
from: base:1
shell:
  install: make app
dependencies:
- image: db
  before: setup
  imports: [{type: ImageName, targetEnv: DB}]
import:
- artifact: tool
  stage: install
  add: /out
  after: install
"""


def chains(project: str) -> dict:
    return {s.key: {st.name: st.signature for st in s.stages}
            for s in load_project(project).signed}


def test_platforms_plan_and_pull_as_images_of_their_own(git_repo, repo, tmp_path):
    git_repo.write("werf.yaml", CONFIG)
    git_repo.commit()
    project = str(git_repo.path)
    sigs = chains(project)
    amd, arm = ("app", "linux/amd64"), ("app", "linux/arm64")
    assert sigs[amd]["from"] != sigs[arm]["from"]
    assert "setup" in sigs[amd]  # the dependency made setup a stage
    # Every chain is in the registry up to app's import (no setup, no tool setup).
    published = publish_stages(repo, project, stages={"from", "install",
                                                      "importsAfterInstall"})
    dest = tmp_path / "layout"
    out = werfpull("plan", repo, "--dir", project, "--dest", f"oci:{dest}",
                   "--insecure-registry", "--format", "json")
    assert out.returncode == 0, out.stderr
    plan = json.loads(out.stdout)
    images = {(i["name"], i.get("platform"), i.get("upto")): i for i in plan["images"]}
    app = images[("app", "linux/amd64", None)]
    assert app["selected"] == sigs[amd]["importsAfterInstall"]
    # app rebuilds setup, which uses db: the non-final db is needed
    assert images[("db", "linux/amd64", None)]["needed"] is True
    assert images[("db", "linux/amd64", None)]["selected"] == sigs[("db", "linux/amd64")]["install"]
    # app is cached past its import of tool's install: tool is needed by nobody
    assert images[("tool", "linux/amd64", None)]["needed"] is False
    assert images[("tool", "linux/amd64", "install")]["needed"] is False
    assert images[("app", "linux/arm64", None)]["selected"] == sigs[arm]["importsAfterInstall"]
    pulled = {p["signature"] for p in plan["pulls"]}
    on_amd = {sigs[amd]["importsAfterInstall"], sigs[("db", "linux/amd64")]["install"]}
    on_arm = {sigs[arm]["importsAfterInstall"], sigs[("db", "linux/arm64")]["install"]}
    assert pulled == on_amd | on_arm
    assert pulled <= set(published)

    text = werfpull("plan", repo, "--dir", project, "--dest", f"oci:{dest}",
                    "--insecure-registry").stdout
    assert "image app [linux/amd64]: setup changed since the last push" in text
    assert "image app [linux/arm64]: setup changed since the last push" in text

    narrowed = werfpull("plan", repo, "--dir", project, "--dest", f"oci:{dest}",
                        "--insecure-registry", "--format", "json", "--platform", "linux/arm64")
    assert {i.get("platform") for i in json.loads(narrowed.stdout)["images"]} == {"linux/arm64"}
    assert {p["signature"] for p in json.loads(narrowed.stdout)["pulls"]} == on_arm
    bad = werfpull("plan", repo, "--dir", project, "--dest", f"oci:{dest}",
                   "--insecure-registry", "--platform", "linux/s390x")
    assert bad.returncode == 2 and "--platform linux/s390x" in bad.stderr

    pull = werfpull("pull", repo, "--dir", project, "--dest", f"oci:{dest}",
                    "--insecure-registry", "--platform", "linux/amd64", "--format", "json")
    assert pull.returncode == 0, pull.stderr
    assert "app [linux/amd64]" in pull.stderr
    index = json.loads((dest / "index.json").read_text())
    tags = {m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]}
    assert tags == {f"{repo}:image-stage-{s}" for s in on_amd}

    script = werfpull("script", repo, "--dir", project, "--dest", f"oci:{tmp_path}/other",
                      "--insecure-registry", "--platform", "linux/amd64")
    assert script.returncode == 0, script.stderr
    assert "'app [linux/amd64]'" in script.stdout
    assert "linux/arm64" not in script.stdout


def test_an_import_of_a_stage_pulls_the_source_up_to_that_stage(git_repo, repo, tmp_path):
    git_repo.write("werf.yaml", CONFIG.replace(
        "build:\n  platform: [linux/amd64, linux/arm64]\n", ""))
    git_repo.commit()
    project = str(git_repo.path)
    sigs = chains(project)
    tool = sigs[("tool", None)]
    # tool is complete in the registry, app and db have only their base
    publish_stages(repo, project, names={"tool"})
    out = werfpull("plan", repo, "--dir", project, "--dest", f"oci:{tmp_path}/l",
                   "--insecure-registry", "--format", "json")
    assert out.returncode == 0, out.stderr
    images = {(i["name"], i.get("upto")): i for i in json.loads(out.stdout)["images"]}
    assert images[("tool", None)]["needed"] is False
    assert images[("tool", "install")]["selected"] == tool["install"]
    assert tool["setup"] not in {p["signature"] for p in json.loads(out.stdout)["pulls"]}
