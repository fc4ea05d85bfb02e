"""The planner on plain data for the section 7 amendments of section 6: `final: false`
images, imports of a given stage, dependencies and platforms. No registry, no git."""

from __future__ import annotations

import pytest

from werfpull.config.load import parse_config
from werfpull.errors import UsageError
from werfpull.inventory.model import Inventory
from werfpull.plan.model import Plan
from werfpull.plan.planfile import plan_from_json
from werfpull.plan.planner import select, wanted_pulls
from werfpull.project import Project
from werfpull.signatures.signer import Signer

META = "project: p\nconfigVersion: 1\n"


def project(text: str) -> Project:
    config = parse_config(text)
    return Project(config, Signer(config, lambda mapping: []).sign_all())


def stages(proj: Project, name, platform=None) -> dict[str, str]:
    chain = next(s for s in proj.signed if s.key == (name, platform))
    return {s.name: s.signature for s in chain.stages}


def plan(proj: Project, remote=(), names=(), platforms=(), all_stages=False) -> list:
    inventory = Inventory(set(remote), {})
    return select(proj.select(list(names), list(platforms)), proj.order, inventory,
                  all_stages, list(names))


def one(images: list, name, platform=None, upto=None):
    [found] = [i for i in images if (i.name, i.platform, i.upto) == (name, platform, upto)]
    return found


FINAL = META + """---
image: base
from: x
final: false
shell:
  install: make
---
image: app
fromImage: base
shell:
  setup: configure
---
image: runner
from: x
final: false
dependencies:
- image: app
  after: setup
  imports: [{type: ImageName, targetEnv: APP}]
"""


def test_a_non_final_image_is_needed_only_when_a_consumer_rebuilds_what_uses_it():
    proj = project(FINAL)
    base, app = stages(proj, "base"), stages(proj, "app")
    cached = plan(proj, remote=[base["install"], app["setup"]])
    assert one(cached, "base").needed is False and one(cached, "base").selected is None
    assert one(cached, "app").selected == app["setup"]
    # runner is final: false and nothing consumes it: never needed
    assert one(cached, "runner").needed is False
    rebuild = plan(proj, remote=[base["install"]])
    assert one(rebuild, "base").needed is True
    assert one(rebuild, "base").selected == base["install"]


def test_a_named_non_final_image_is_needed():
    proj = project(FINAL)
    r = stages(proj, "runner")
    images = plan(proj, remote=[r["from"]], names=["runner"])
    assert one(images, "runner").needed is True
    assert one(images, "runner").selected == r["from"]
    assert {i.name for i in images} == {"runner", "app", "base"}


def test_a_dependency_makes_its_source_needed_when_the_stage_rebuilds():
    proj = project(META + """---
artifact: tool
from: x
shell:
  install: make
---
image: app
from: x
shell:
  install: build
dependencies:
- image: tool
  before: setup
  imports: [{type: ImageID, targetEnv: TOOL_ID}]
""")
    tool, app = stages(proj, "tool"), stages(proj, "app")
    assert "setup" in app  # the dependency made setup a stage
    rebuild = plan(proj, remote=[tool["install"], app["install"]])
    assert one(rebuild, "tool").selected == tool["install"]
    cached = plan(proj, remote=[tool["install"], app["setup"]])
    assert one(cached, "tool").needed is False


STAGE_IMPORT = META + """---
artifact: tool
from: x
shell:
  install: make
  setup: pack
---
artifact: helper
from: x
shell:
  install: helper
---
image: app
from: y
import:
- artifact: tool
  stage: install
  add: /out
  after: install
---
image: site
fromArtifact: tool
"""


def test_an_import_of_a_stage_needs_the_source_only_up_to_it():
    proj = project(STAGE_IMPORT)
    tool, app, site = stages(proj, "tool"), stages(proj, "app"), stages(proj, "site")
    # app rebuilds its import; site is cached: only tool up to install is needed
    images = plan(proj, remote=list(tool.values()) + [site["from"]])
    assert one(images, "tool").needed is False
    partial = one(images, "tool", upto="install")
    assert partial.needed is True and partial.selected == tool["install"]
    assert [s.name for s in partial.stages] == ["from", "install"]
    pulls = wanted_pulls(images, False)
    assert set(pulls) == {tool["install"], site["from"]}
    # both needs at once: the whole tool for site, tool's install for app (a second pull)
    both = plan(proj, remote=list(tool.values()))
    assert one(both, "tool").selected == tool["setup"]
    assert one(both, "tool", upto="install").selected == tool["install"]
    assert set(wanted_pulls(both, False)) == {tool["setup"], tool["install"]}
    # app cached past its import: no partial need
    cached = plan(proj, remote=list(tool.values()) + [app["importsAfterInstall"],
                                                      site["from"]])
    assert one(cached, "tool", upto="install").needed is False


def test_a_partial_source_counts_its_own_consumers_only_up_to_the_stage():
    proj = project(META + """---
artifact: deep
from: x
shell:
  install: d
---
artifact: tool
from: x
shell:
  install: make
import:
- artifact: deep
  add: /d
  before: setup
---
image: app
from: x
import:
- artifact: tool
  stage: install
  add: /out
  after: install
""")
    deep = stages(proj, "deep")
    images = plan(proj, remote=[deep["install"]])
    # tool is built up to install only; its import of deep comes after: deep not needed
    assert one(images, "tool", upto="install").needed is True
    assert one(images, "deep").needed is False


PLATFORMS = """project: p
configVersion: 1
build:
  platform: [linux/amd64, linux/arm64]
---
artifact: tool
from: x
shell:
  install: make
---
image: app
from: x
import:
- {artifact: tool, add: /t, after: install}
---
image: any
from: y
platform: [linux/amd64]
"""


def test_every_image_and_platform_is_planned_on_its_own():
    proj = project(PLATFORMS)
    amd, arm = stages(proj, "app", "linux/amd64"), stages(proj, "app", "linux/arm64")
    assert amd["from"] != arm["from"]
    images = plan(proj, remote=[amd["importsAfterInstall"], arm["from"],
                                stages(proj, "tool", "linux/arm64")["install"]])
    assert one(images, "app", "linux/amd64").selected == amd["importsAfterInstall"]
    assert one(images, "app", "linux/arm64").selected == arm["from"]
    assert one(images, "tool", "linux/amd64").needed is False
    assert one(images, "tool", "linux/arm64").needed is True
    users = wanted_pulls(images, False)[arm["from"]][1:]
    assert users == ["app [linux/arm64]"]


def test_platform_narrows_the_plan():
    proj = project(PLATFORMS)
    images = plan(proj, platforms=["linux/arm64"])
    assert {(i.name, i.platform) for i in images} == {
        ("tool", "linux/arm64"), ("app", "linux/arm64")}
    named = plan(proj, names=["app"])
    assert {(i.name, i.platform) for i in named} == {
        (n, p) for n in ("tool", "app") for p in ("linux/amd64", "linux/arm64")}
    with pytest.raises(UsageError, match="--platform linux/s390x"):
        plan(proj, platforms=["linux/s390x"])


def test_platform_and_upto_round_trip_through_the_plan_file_and_are_optional():
    proj = project(STAGE_IMPORT.replace("project: p\nconfigVersion: 1\n",
                                        "project: p\nconfigVersion: 1\nbuild:\n"
                                        "  platform: [linux/amd64]\n"))
    images = plan(proj, remote=list(stages(proj, "tool", "linux/amd64").values()))
    made = Plan(repo="127.0.0.1:5000/r", dest="oci:/tmp/x", dest_reason="given",
                registry={}, project="p", config_digest="sha256:" + "0" * 64,
                all_stages=False, images=images, pulls=[], download=0)
    data = made.to_json()
    assert {i.get("upto") for i in data["images"]} == {None, "install"}
    assert {i["platform"] for i in data["images"]} == {"linux/amd64"}
    loaded = plan_from_json(data)
    assert [(i.name, i.platform, i.upto) for i in loaded.images] == \
        [(i.name, i.platform, i.upto) for i in images]
    for bad in ({"platform": 5}, {"platform": ""}, {"upto": "nope"}):
        broken = made.to_json()
        broken["images"][0].update(bad)
        with pytest.raises(Exception, match="images\\[0\\]"):
            plan_from_json(broken)
    plain = Plan(repo="127.0.0.1:5000/r", dest="oci:/tmp/x", dest_reason="given", registry={},
                 project="p", config_digest="sha256:" + "0" * 64, all_stages=False,
                 images=plan(project(FINAL)), pulls=[], download=0).to_json()
    assert all("platform" not in i and "upto" not in i for i in plain["images"])
    assert plan_from_json(plain).images[0].platform is None
