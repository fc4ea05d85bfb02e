"""The generated script's own logic, rendered from the Python definitions, run in sh."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from werfpull.destinations import parse_dest
from werfpull.plan.model import Plan
from werfpull.refs import Repo
from werfpull.script.render import render

SIG = "0123456789abcdef" * 4


def script_for(repo: str) -> str:
    return render(Plan(repo=repo, dest="containers-storage", dest_reason="test", registry={},
                       project="p", config_digest="sha256:" + "0" * 64, all_stages=False,
                       images=[], pulls=[], download=0))


def function(script: str, name: str) -> str:
    return re.search(rf"^{name}\(\) \{{\n.*?^\}}\n", script, re.M | re.S).group(0)


def sh(script: str, code: str, **env) -> str:
    proc = subprocess.run([shutil.which("dash"), "-euc", code], env=env, capture_output=True,
                          text=True, check=True, input=script)
    return proc.stdout


@pytest.mark.parametrize("dest", [
    "containers-storage", "containers-storage:[vfs@/var/s+/run/s]", "docker-daemon",
    "oci:/srv/layout", "docker://mirror.example:5000/cache/stages"])
def test_the_scripts_stage_reference_is_pythons_for_every_transport(dest):
    repo = "registry.example:5000/app/stages"
    script = script_for(repo)
    code = function(script, "dest_ref") + 'dest_ref "$SIG"'
    assert sh(script, code, REPO=repo, DEST=dest, SIG=SIG) == \
        parse_dest(dest).ref(Repo(repo), SIG)


@pytest.mark.parametrize("dest, keeps", [("docker-daemon", "false"), ("oci:/x", "true"),
                                         ("containers-storage", "true")])
def test_the_script_knows_which_destinations_keep_digests(dest, keeps):
    script = script_for("registry.example/app/stages")
    assert sh(script, function(script, "preserves_digests") + "preserves_digests",
              DEST=dest).strip() == keeps == str(parse_dest(dest).preserves_digests).lower()


@pytest.mark.parametrize("repo, path", [("registry.example:5000/app/stages", "app/stages"),
                                        ("app/stages", "app/stages"),
                                        ("docker.io/team/stages", "team/stages")])
def test_the_mirror_keeps_the_whole_repository_path(repo, path):
    script = script_for(repo)
    lines = "\n".join(ln for ln in script.splitlines()
                      if ln.startswith(("REPO=", "REPO_PATH=")))
    mirror = re.search(r'^if \[ -n "\$\{WERFPULL_MIRROR:-\}" \]; then\n.*?^fi\n', script,
                       re.M | re.S).group(0)
    out = sh(script, f"{lines}\nSRC_REPO=$REPO\n{mirror}printf %s \"$SRC_REPO\"",
             WERFPULL_MIRROR="near:5000")
    assert out == f"near:5000/{path}" == f"near:5000/{Repo(repo).path}"
