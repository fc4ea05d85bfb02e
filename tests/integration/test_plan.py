"""The plan against a real registry: the seed scenario of spec section 6."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.stages import publish_stages
from werfpull.errors import RegistryError, UsageError
from werfpull.plan.make import PlanRequest, make_plan
from werfpull.plan.planfile import plan_from_json
from werfpull.project import load_project
from werfpull.tools import skopeo

SEED = """\
project: seed
configVersion: 1
---
image: [api, worker]
from: base:1
shell:
  beforeInstall: apk add curl
  install: make deps
  beforeSetup: {before_setup}
  setup: make app
---
image: web
from: base:1
shell:
  beforeInstall: apk add curl
  install: {web_install}
  setup: make web
import:
- artifact: assets
  add: /out
  to: /srv
  after: setup
---
artifact: assets
from: node:20
shell:
  install: npm ci
  setup: npm run build
"""


def write_seed(git_repo, before_setup="echo one", web_install="make deps"):
    git_repo.write("werf.yaml", SEED.format(before_setup=before_setup, web_install=web_install))
    git_repo.commit()
    return str(git_repo.path)


def plan(repo, project, **kw):
    kw.setdefault("dest", f"oci:{project}/../dest")
    return make_plan(PlanRequest(repo=repo, directory=project,
                                 registry=skopeo.RegistryOptions(insecure=True), **kw))


def stage_sig(project, name, stage):
    signed = {s.image.name: s for s in load_project(project).signed}
    return next(s.signature for s in signed[name].stages if s.name == stage)


def by_name(p):
    return {i.name: i for i in p.images}


@pytest.fixture
def published(git_repo, repo):
    """The seed project with every stage pushed; then beforeSetup of api/worker changes."""
    project = write_seed(git_repo)
    publish_stages(repo, project)
    old_final = {s.image.name: s.final for s in load_project(project).signed}
    write_seed(git_repo, before_setup="echo two")
    return project, old_final


def test_changed_before_setup_pulls_install_once_for_both_images(published, repo):
    project, _ = published
    p = plan(repo, project)
    images = by_name(p)
    install = stage_sig(project, "api", "install")
    assert images["api"].selected == images["worker"].selected == install
    assert "beforeSetup changed since the last push: pulling install" in images["api"].reason
    shared = [pull for pull in p.pulls if pull.signature == install]
    assert len(shared) == 1 and shared[0].images == ["api", "worker"]
    assert shared[0].stage == "install"
    # untouched web takes its final stage; nothing earlier than the last valid stage
    assert images["web"].selected == load_project(project).signed[2].final
    assert stage_sig(project, "api", "beforeInstall") not in {x.signature for x in p.pulls}


def test_artifact_cached_past_its_import_is_not_needed(published, repo):
    project, _ = published
    p = plan(repo, project)
    assets = by_name(p)["assets"]
    assert assets.kind == "artifact" and assets.needed is False and assets.selected is None
    assert "not needed" in assets.reason
    finals = {s.image.name: s.final for s in load_project(project).signed}
    assert finals["assets"] not in {x.signature for x in p.pulls}


def test_artifact_is_needed_when_its_import_is_rebuilt(git_repo, repo):
    project = write_seed(git_repo)
    publish_stages(repo, project)
    write_seed(git_repo, web_install="make deps2")  # web's install is before its import
    p = plan(repo, project)
    images = by_name(p)
    assert images["assets"].needed is True
    assert images["assets"].selected == load_project(project).signed[3].final
    assert images["web"].selected == stage_sig(project, "web", "beforeInstall")


def test_nothing_for_images_already_local(published, repo, tmp_path):
    """After a full pull into the destination, untouched images pull nothing."""
    project, _ = published
    dest = tmp_path / "oci"
    # put everything the old config had into the destination, as a previous pull would
    full = plan(repo, project, dest=f"oci:{dest}", all_stages=True)
    from werfpull.apply.pull import apply_plan

    apply_plan(full, registry=skopeo.RegistryOptions(insecure=True))
    p = plan(repo, project, dest=f"oci:{dest}")
    images = by_name(p)
    assert p.pulls == []
    assert "already local" in images["web"].reason
    assert "install is already local" in images["api"].reason
    assert all(s.local for s in images["web"].stages)


def test_all_stages_takes_every_remote_stage(published, repo):
    project, _ = published
    p = plan(repo, project, all_stages=True)
    signed = load_project(project).signed
    remote = {s.signature for i in p.images for s in i.stages if s.remote}
    assert {x.signature for x in p.pulls} == remote
    # the changed beforeSetup and what follows it are not in the registry
    for name in ("api", "worker"):
        after = [s.signature for s in signed[0].stages if s.name in ("beforeSetup", "setup")]
        assert not set(after) & remote, name
    assert len(p.pulls) == len(remote)  # each shared signature once


def test_probe_and_list_inventories_give_the_same_plan(published, repo):
    project, _ = published
    a = plan(repo, project, inventory="probe").to_json()
    b = plan(repo, project, inventory="list").to_json()
    assert a.pop("inventory") == "probe" and b.pop("inventory") == "list"
    # Probing walks each image back from its last stage and stops at the first present
    # one: the stages below it are not asked (None), and only those.
    unasked = 0
    for image_a, image_b in zip(a["images"], b["images"], strict=True):
        chosen = max((k for k, s in enumerate(image_a["stages"]) if s["remote"] or s["local"]),
                     default=-1)
        for k, (sa, sb) in enumerate(zip(image_a["stages"], image_b["stages"], strict=True)):
            if sa["remote"] is None:
                assert k < chosen, (image_a["name"], sa["name"])
                sa["remote"], unasked = sb["remote"], unasked + 1
    assert unasked > 0
    assert a == b


def test_named_images_plan_only_them_and_what_they_need(published, repo):
    project, _ = published
    p = plan(repo, project, images=["web"])
    assert [i.name for i in p.images] == ["web", "assets"]
    with pytest.raises(UsageError, match="did you mean 'web'"):
        plan(repo, project, images=["wbe"])


def test_nothing_in_the_registry_builds_from_base(git_repo, repo):
    project = write_seed(git_repo)
    p = plan(repo, project)
    assert p.pulls == []
    assert all(i.selected is None for i in p.images)
    assert "building from the base image" in by_name(p)["api"].reason


def test_unrelated_and_almost_stage_tags_are_ignored(git_repo, repo, tmp_path):
    project = write_seed(git_repo)
    from tests.support.registry import publish_image

    sig = stage_sig(project, "api", "install")
    for tag in (f"image-stage-{sig[:-1]}", f"image-stage-{sig.upper()}", "latest",
                f"image-stage-{sig}x"[:128]):
        publish_image(repo, tag, {"f": tag.encode()}, workdir=tmp_path / "img")
    assert plan(repo, project, inventory="list").pulls == []
    assert plan(repo, project, inventory="probe").pulls == []


def test_plan_json_is_versioned_and_round_trips(published, repo, tmp_path):
    project, _ = published
    out = tmp_path / "plan.json"
    proc = subprocess.run(
        [sys.executable, "-m", "werfpull", "plan", repo, "--dir", project, "--insecure-registry",
         "--dest", f"oci:{tmp_path}/d", "--format", "json", "--out", str(out)],
        capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert json.loads(out.read_text()) == data
    assert data["format"] == 1 and data["repo"] == repo and data["project"] == "seed"
    assert data["registry"] == {"insecure": True, "skip_tls_verify": False}
    assert data["config_digest"].startswith("sha256:")
    for pull in data["pulls"]:
        assert pull["tag"] == "image-stage-" + pull["signature"]
        assert pull["digest"].startswith("sha256:") and pull["size"] > 0
    assert set(data["images"][0]) >= {"name", "kind", "needed", "stages", "selected", "reason"}
    assert plan_from_json(data).to_json() == data


def test_download_counts_shared_layers_once_and_local_blobs_not_at_all(published, repo, tmp_path):
    project, _ = published
    p = plan(repo, project, dest=f"oci:{tmp_path}/d")
    layers = {d: s for pull in p.pulls for d, s in pull.layers}
    manifests = sum(pull.size - sum(s for _, s in pull.layers) for pull in p.pulls)
    assert p.download == sum(layers.values()) + manifests
    assert p.download < p.total_size  # the stages share their base layers


def test_text_view_explains_the_plan(published, repo, tmp_path):
    project, _ = published
    proc = subprocess.run(
        [sys.executable, "-m", "werfpull", "plan", repo, "--dir", project, "--insecure-registry",
         "--dest", f"oci:{tmp_path}/d"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    assert "image api: beforeSetup changed since the last push: pulling install" in text
    assert "artifact assets: not needed" in text
    assert "Shared stages, pulled once:" in text and "for api, worker" in text
    assert "to download" in text


def test_unreachable_registry_is_an_error_not_absent(git_repo):
    project = write_seed(git_repo)
    with pytest.raises(RegistryError, match="127.0.0.1:1: registry unreachable"):
        plan("127.0.0.1:1/stages", project)
    proc = subprocess.run(
        [sys.executable, "-m", "werfpull", "plan", "127.0.0.1:1/stages", "--dir", project,
         "--insecure-registry", "--dest", "oci:/tmp/never"], capture_output=True, text=True)
    assert proc.returncode == 4
    assert len(proc.stderr.strip().splitlines()) == 1


def test_invalid_repo_is_a_usage_error(git_repo):
    project = write_seed(git_repo)
    proc = subprocess.run([sys.executable, "-m", "werfpull", "plan", "Bad Repo;rm", "--dir",
                           project], capture_output=True, text=True)
    assert proc.returncode == 2 and "not a valid repository reference" in proc.stderr
