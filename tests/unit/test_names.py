"""Names that are data (images, stages, the project) never become code or terminal
commands: NUL would turn into a shell variable in a rendered script, ESC or CR into
terminal commands; a plan file holding them, or an unknown stage name, is refused."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from werfpull.errors import PlanError
from werfpull.plan.model import Plan, Pull
from werfpull.plan.planfile import plan_from_json
from werfpull.script.render import render

SIG = "0123456789abcdef" * 4
ROOT = Path(__file__).resolve().parents[2]


def plan(images=("api",), stage="install", project="p") -> Plan:
    pull = Pull(f"image-stage-{SIG}", SIG, stage, "sha256:" + "1" * 64, 10, [], list(images))
    return Plan(repo="registry.example/app/stages", dest="containers-storage",
                dest_reason="test", registry={}, project=project,
                config_digest="sha256:" + "0" * 64, all_stages=False, images=[],
                pulls=[pull], download=0)


@pytest.mark.parametrize("edit, named", [
    (dict(images=["a\0HOME\0b"]), "image name 'a\\x00HOME\\x00b' holds the control character"
                                  " U+0000"),
    (dict(images=["\x1b]0;owned\x07"]), "U+001B"),
    (dict(project="p\rq"), "project name 'p\\rq' holds the control character U+000D"),
    (dict(stage="install$(id)"), "'install$(id)' is not a stage name"),
], ids=["nul-image", "esc-image", "cr-project", "bad-stage"])
def test_render_refuses_names_that_are_no_names(edit, named):
    with pytest.raises(PlanError) as err:
        render(plan(**edit))
    assert named in str(err.value)


def test_a_nul_in_data_never_becomes_a_variable():
    from werfpull.script.render import shword
    with pytest.raises(ValueError, match="NUL"):
        shword("a\0HOME\0b")


@pytest.mark.parametrize("edit, field", [
    (lambda d: d["pulls"][0].update(images=["a\0HOME\0b"]), "'pulls[0].images[0]'"),
    (lambda d: d["pulls"][0].update(stage="setup\x1b[2J"), "'pulls[0].stage'"),
    (lambda d: d.update(project="\x1b[31mred"), "'project'"),
    (lambda d: d.update(dest_reason="x\x9b"), "'dest_reason'"),
    (lambda d: d.update(inventory="$(id)"), "'inventory'"),
], ids=["nul-image", "stage", "project", "c1-reason", "inventory"])
def test_a_plan_file_with_such_names_is_refused(edit, field):
    data = json.loads(plan().dumps())
    edit(data)
    with pytest.raises(PlanError) as err:
        plan_from_json(data, "plan.json")
    assert field in str(err.value)


def test_names_reach_a_terminal_escaped(tmp_path):
    (tmp_path / "werf.yaml").write_text(
        'project: "p\\e[31m"\nconfigVersion: 1\n---\nimage: "x\\e]0;owned\\a"\nfrom: a:1\n')
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    main, child = pty.openpty()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "werfpull", "signatures", "--dir",
                           str(tmp_path)], stdout=child, stderr=child, env=env, timeout=60)
    os.close(child)
    out = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
    os.close(main)
    assert proc.returncode == 0, out
    assert b"\x1b" not in out and b"\x07" not in out, out
    assert b"project p\\x1b[31m" in out and b"image x\\x1b]0;owned\\x07" in out, out
    piped = subprocess.run([sys.executable, "-m", "werfpull", "signatures", "--dir",
                            str(tmp_path)], capture_output=True, env=env, timeout=60)
    assert b"image x\x1b]0;owned\x07" in piped.stdout  # a pipe gets the bytes as they are


@pytest.mark.parametrize("edit, field, problem", [
    (lambda d: d["pulls"][0].update(size=10**400), "'pulls[0].size'", "is not a byte count"),
    (lambda d: d.update(download=2**63), "'download'", "is not a byte count"),
    (lambda d: d["pulls"].append(dict(d["pulls"][0])), "'pulls[1].signature'",
     "repeats pulls[0]"),
], ids=["huge-size", "huge-download", "duplicate-pull"])
def test_a_plan_file_with_impossible_numbers_or_repeats_is_refused(edit, field, problem):
    data = json.loads(plan().dumps())
    edit(data)
    with pytest.raises(PlanError) as err:
        plan_from_json(data, "plan.json")
    assert f"{field} {problem}" in str(err.value)


def test_a_manifest_declaring_an_impossible_size_is_malformed():
    from werfpull.inventory.model import MalformedManifest, Manifest
    doc = {"config": {"digest": "sha256:" + "1" * 64, "size": 2},
           "layers": [{"digest": "sha256:" + "2" * 64, "size": 2**63}]}
    with pytest.raises(MalformedManifest, match="layers"):
        Manifest.parse(json.dumps(doc).encode())
