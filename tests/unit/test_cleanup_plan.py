"""Cleanup plan files: read back exactly, refused when edited or of the wrong kind."""

from __future__ import annotations

import json

import pytest

from tests.support.stages import werfpull
from werfpull.cleanup.model import (
    CleanupPlan,
    KeptImage,
    RefPlan,
    TagState,
    load_cleanup_plan,
)
from werfpull.errors import PlanError

SIG = "ab" * 32


def _plan() -> CleanupPlan:
    return CleanupPlan(
        repo="127.0.0.1:5000/p/stages", registry={"insecure": True}, project="p",
        config_digest="sha256:" + "0" * 64, made_at=1.5, policy={"default": True},
        branches_from="local", git_refs={"branch:main": "c" * 40},
        references=[RefPlan("main", "branch", "c" * 40, "branch=/.*/",
                            [KeptImage("app", SIG, "c" * 40)])],
        keep=[TagState("latest", "sha256:" + "1" * 64, "not a stage tag", 10)],
        delete=[TagState(f"image-stage-{SIG}", "sha256:" + "2" * 64, "old", 20, 3.0)],
        freed=20, notes=["n"])


def test_a_plan_reads_back_as_written(tmp_path):
    path = tmp_path / "c.json"
    path.write_text(_plan().dumps())
    assert load_cleanup_plan(str(path)).to_json() == _plan().to_json()


@pytest.mark.parametrize("edit,field", [
    (lambda d: d["delete"][0].update(tag="latest"), "delete[0].tag"),
    (lambda d: d["delete"][0].update(digest="sha256:xyz"), "delete[0].digest"),
    (lambda d: d["delete"][0].update(size=-1), "delete[0].size"),
    (lambda d: d.update(git_refs={"branch:main": 3}), "git_refs"),
    (lambda d: d["references"][0]["kept"][0].update(extra=1), "references[0]"),
    (lambda d: d.pop("keep"), "keep"),
])
def test_an_edited_plan_is_refused_with_the_field_named(tmp_path, edit, field):
    data = _plan().to_json()
    edit(data)
    path = tmp_path / "c.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PlanError) as exc:
        load_cleanup_plan(str(path))
    assert repr(field) in exc.value.message


def test_pull_and_cleanup_plans_are_not_mistaken_for_each_other(tmp_path):
    cleanup = tmp_path / "c.json"
    cleanup.write_text(_plan().dumps())
    r = werfpull("apply", cleanup, "--force")
    assert r.returncode == 5 and "cleanup plan, not a pull plan" in r.stderr, r.stderr
    pull = tmp_path / "p.json"
    pull.write_text(json.dumps({"format": 1, "repo": "x/y"}))
    r = werfpull("cleanup", "apply", pull, "--force")
    assert r.returncode == 5 and "not a cleanup plan" in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
