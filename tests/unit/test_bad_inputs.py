"""Careless and hostile command-line input: one line naming the problem, the documented
exit code, never a traceback (run as a user runs werfpull, in a subprocess)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.test_names import plan

ROOT = Path(__file__).resolve().parents[2]


def werfpull(*args, cwd=None):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "werfpull", *map(str, args)], cwd=cwd,
                          env=env, capture_output=True, text=True, timeout=60)


def one_line_error(proc, code: int, *words: str) -> None:
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if "error" in ln]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], proc.stderr


@pytest.mark.parametrize("flags, named", [
    (["--retries", "-1"], "--retries must be from 0 to 100"),
    (["--retries", "999999999999"], "--retries must be from 0 to 100"),
    (["--timeout", "nan"], "--timeout must be a positive number"),
    (["--timeout=-inf"], "--timeout must be a positive number"),
], ids=["retries-negative", "retries-huge", "timeout-nan", "timeout-inf"])
def test_bad_registry_numbers_are_usage_errors(tmp_path, flags, named):
    # A registry that refuses at once: nothing may be asked of it before the check.
    proc = werfpull("pull", "127.0.0.1:1/x/stages", *flags, "--dir", tmp_path)
    one_line_error(proc, 2, named)


@pytest.fixture
def plan_file(tmp_path) -> Path:
    path = tmp_path / "plan.json"
    path.write_text(plan().dumps())
    return path


@pytest.mark.parametrize("out", ["/nonexistent-dir/pull.sh", "/proc/pull.sh", "DIR"],
                         ids=["no-directory", "read-only", "a-directory"])
def test_an_unwritable_output_is_named(plan_file, tmp_path, out):
    out = tmp_path if out == "DIR" else out
    proc = werfpull("script", "--plan", plan_file, "-o", out)
    one_line_error(proc, 2, f"{out}: cannot write")


@pytest.mark.parametrize("content, named", [
    (b"\xff\xfe{\x00}", "not UTF-8"),
    (b"[" * 200_000 + b"]" * 200_000, "nested too deep"),
], ids=["not-utf8", "deep"])
def test_a_plan_that_is_no_plan_is_refused(tmp_path, content, named):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    for command in (["apply", path, "--force"], ["script", "--plan", path]):
        one_line_error(werfpull(*command), 5, named)


def test_a_config_that_is_a_symlink_out_of_the_repository_is_refused(tmp_path):
    outside = tmp_path / "outside.yaml"
    outside.write_text("project: elsewhere\nconfigVersion: 1\n---\nimage: a\nfrom: x:1\n")
    repo = tmp_path / "repo"
    (repo / "sub").mkdir(parents=True)
    (repo / "sub" / "real.yaml").write_text(outside.read_text())
    (repo / "werf.yaml").symlink_to(outside)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    one_line_error(werfpull("signatures", "--dir", repo), 3,
                   f"werf.yaml: a symlink to {outside}, outside {repo}: refused")
    (repo / "werf.yaml").unlink()
    (repo / "werf.yaml").symlink_to("sub/real.yaml")  # inside the repository: fine
    assert werfpull("signatures", "--dir", repo).returncode == 0
