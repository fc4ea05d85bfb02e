"""The planner on plain data: signatures from a config, inventory as sets and dicts.

No registry, no destination, no git: every answer the planner reads is given here.
"""

from __future__ import annotations

from werfpull.config.load import parse_config
from werfpull.inventory.local import differing
from werfpull.inventory.model import Inventory, Manifest
from werfpull.plan.planner import download_bytes, make_pulls, select, to_check, wanted_pulls
from werfpull.project import Project
from werfpull.signatures.signer import Signer

CONFIG = """\
project: p
configVersion: 1
---
artifact: tools
from: base:1
shell:
  install: [make tools]
---
image: backend
from: base:1
shell:
  beforeInstall: [apt-get install x]
  install: [make]
  setup: [configure]
import:
- artifact: tools
  add: /out
  after: install
---
image: frontend
from: base:1
shell:
  beforeInstall: [apt-get install x]
  install: [npm ci]
---
image: [api, worker]
fromImage: backend
docker:
  CMD: [run]
"""


def project(text: str = CONFIG) -> Project:
    config = parse_config(text)
    return Project(config, Signer(config, lambda mapping: []).sign_all())


def stages(proj: Project, name) -> dict[str, str]:
    """{stage name: signature} of one image."""
    return {s.name: s.signature for s in next(i for i in proj.signed
                                               if i.image.name == name).stages}


def plan(proj: Project, remote=(), local=None, all_stages=False, names=(), differs=()):
    inventory = Inventory(set(remote), dict(local or {}), set(differs))
    return {p.name: p for p in select(proj.select(list(names)), proj.order, inventory,
                                      all_stages)}


def test_takes_the_last_remote_stage_of_each_image():
    proj = project()
    b = stages(proj, "backend")
    images = plan(proj, remote=[b["from"], b["beforeInstall"], b["install"]])
    assert images["backend"].selected == b["install"]
    assert "importsAfterInstall changed since the last push: pulling install" == \
        images["backend"].reason


def test_an_image_with_nothing_present_builds_from_its_base():
    images = plan(project())
    assert images["frontend"].selected is None
    assert "building from the base image" in images["frontend"].reason


def test_a_local_stage_counts_and_is_not_pulled():
    proj = project()
    f = stages(proj, "frontend")
    images = plan(proj, remote=[f["install"]], local={f["install"]: "sha256:" + "1" * 64})
    assert images["frontend"].selected == f["install"]
    assert "already local" in images["frontend"].reason
    assert f["install"] not in wanted_pulls(list(images.values()), False)


def test_a_later_local_stage_beats_an_earlier_remote_one():
    proj = project()
    f = stages(proj, "frontend")
    images = plan(proj, remote=[f["beforeInstall"]], local={f["install"]: None})
    assert images["frontend"].selected == f["install"]


def test_an_artifact_is_needed_only_when_its_consumer_rebuilds_the_stage_using_it():
    proj = project()
    b, t = stages(proj, "backend"), stages(proj, "tools")
    # backend is cached past importsAfterInstall: tools is not needed.
    cached = plan(proj, remote=[b["setup"], t["install"]])
    assert cached["tools"].needed is False and cached["tools"].selected is None
    # backend must rebuild importsAfterInstall: tools' last present stage is pulled.
    rebuild = plan(proj, remote=[b["install"], t["install"]])
    assert rebuild["tools"].needed is True and rebuild["tools"].selected == t["install"]


def test_all_stages_takes_every_remote_stage_not_local():
    proj = project()
    f = stages(proj, "frontend")
    images = plan(proj, remote=list(f.values()), local={f["from"]: None}, all_stages=True)
    pulls = wanted_pulls(list(images.values()), True)
    assert set(f.values()) - {f["from"]} <= set(pulls)
    assert f["from"] not in pulls
    assert "already local" in images["frontend"].reason


def test_a_stage_shared_by_several_images_is_pulled_once_for_all_of_them():
    proj = project()
    api = stages(proj, "api")
    assert api == stages(proj, "worker")  # image names are not hashed
    images = plan(proj, remote=[api["dockerInstructions"]])
    pulls = wanted_pulls(list(images.values()), False)
    assert pulls[api["dockerInstructions"]] == ["dockerInstructions", "api", "worker"]
    # backend and frontend share their first two stages, pulled once as well.
    b, f = stages(proj, "backend"), stages(proj, "frontend")
    assert b["beforeInstall"] == f["beforeInstall"]
    shared = wanted_pulls(list(plan(proj, remote=[b["beforeInstall"]]).values()), False)
    assert shared[b["beforeInstall"]][1:] == ["backend", "frontend"]


def test_naming_an_image_plans_it_and_what_it_needs_only():
    proj = project()
    images = plan(proj, names=["api"])
    assert sorted(images) == ["api", "backend", "tools"]


def test_download_bytes_count_each_blob_once_and_skip_local_blobs():
    proj = project()
    f, b = stages(proj, "frontend"), stages(proj, "backend")
    base, mid = ("sha256:" + "a" * 64, 100), ("sha256:" + "b" * 64, 30)
    manifests = {
        f["install"]: Manifest("sha256:" + "1" * 64, None, 10 + 5 + 100 + 30,
                               (("sha256:" + "c" * 64, 5), base, mid)),
        b["setup"]: Manifest("sha256:" + "2" * 64, None, 20 + 6 + 100 + 7,
                             (("sha256:" + "d" * 64, 6), base, ("sha256:" + "e" * 64, 7))),
    }
    images = plan(proj, remote=[f["install"], b["setup"]])
    pulls = make_pulls(wanted_pulls(list(images.values()), False), manifests)
    assert download_bytes(pulls, None) == 10 + 5 + 100 + 30 + 20 + 6 + 7
    assert download_bytes(pulls, {base[0]}) == 10 + 5 + 30 + 20 + 6 + 7
    # docker load reuses nothing: each stage's copy fetches all of its blobs.
    assert download_bytes(pulls, {base[0]}, shared=False) == 145 + 133
    unknown = make_pulls({f["install"]: ["install", "frontend"]},
                         {f["install"]: Manifest("sha256:" + "3" * 64, None, None, ())})
    assert download_bytes(unknown, None) is None


def digest(c: str) -> str:
    return "sha256:" + c * 64


def test_only_local_stages_the_plan_could_take_are_checked_against_the_registry():
    proj = project()
    f, b = stages(proj, "frontend"), stages(proj, "backend")
    local = {f["from"]: digest("1"), f["install"]: digest("2"), b["setup"]: digest("3")}
    # b's setup is local but not in the registry: nothing to compare it with.
    inventory = Inventory({f["from"], f["install"]}, local)
    assert to_check(proj.select(["frontend"]), inventory, False) == [f["install"]]
    assert to_check(proj.select(["frontend"]), inventory, True) == [f["from"], f["install"]]
    assert to_check(proj.select([]), Inventory(set(), local), False) == []
    # Present, content unknown (None): not checked.
    assert to_check(proj.select(["frontend"]), Inventory({f["install"]}, {f["install"]: None}),
                    False) == []


def test_a_local_copy_that_differs_is_pulled_again_with_the_reason_said():
    proj = project()
    f = stages(proj, "frontend")
    images = plan(proj, remote=[f["install"]], local={f["install"]: digest("1")},
                  differs=[f["install"]])
    assert images["frontend"].selected == f["install"]
    assert images["frontend"].reason == \
        "install: local copy differs from the registry: pulling again"
    assert [s.local for s in images["frontend"].stages if s.name == "install"] == [False]
    assert f["install"] in wanted_pulls(list(images.values()), False)
    everything = plan(proj, remote=list(f.values()), local={f["install"]: digest("1")},
                      differs=[f["install"]], all_stages=True)
    assert "1 whose local copy differs from the registry" in everything["frontend"].reason
    assert f["install"] in wanted_pulls(list(everything.values()), True)


class _Dest:
    """A destination that knows stages by manifest digest, or (docker) by config digest."""

    def __init__(self, by_config: bool):
        self.by_config = by_config

    def local_id(self, digest, config):
        return config if self.by_config else digest


def test_differing_compares_what_the_destination_reports_with_the_manifest():
    manifest = Manifest(digest("a"), None, 1, ((digest("c"), 1), (digest("l"), 1)))
    index = Manifest(digest("i"), None, None, ())  # no config: cannot compare
    local = {"s1": digest("a"), "s2": digest("c"), "s3": None, "s4": digest("x")}
    manifests = {"s1": manifest, "s2": manifest, "s3": manifest, "s4": index}
    assert differing(_Dest(False), local, manifests) == {"s2", "s4"}
    assert differing(_Dest(True), local, manifests) == {"s1"}
