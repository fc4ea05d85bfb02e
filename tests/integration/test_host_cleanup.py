"""host-cleanup on a real containers-storage store (buildah) and a real oci: layout:
unused stages go oldest first, used ones and ones a container uses stay."""

from __future__ import annotations

import json
import os
import subprocess
import time
from datetime import UTC, datetime

import pytest

from tests.support.registry import make_oci_image
from tests.support.stages import landed, store_flags, werfpull
from werfpull.project import load_project

CONFIG = "project: shop\nconfigVersion: 1\n---\nimage: app\nfrom: alpine:3\nshell:\n" \
         "  install: make app\n"
REPO = "localhost/shop/stages"
DAY = 86400


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
def project(git_repo):
    git_repo.write("werf.yaml", CONFIG)
    git_repo.commit()
    used = [st.signature for s in load_project(str(git_repo.path)).signed for st in s.stages]
    return str(git_repo.path), used


def _fill(dest: str, tmp_path, used: list[str]) -> dict[str, str]:
    """The used stages (new) and four unused ones, 40, 30, 20 and 10 days old, each
    with ~100 kB of its own; a stage of another repository too. {label: name}."""
    names = {}
    ages = {"used0": 0, "old40": 40, "old30": 30, "old20": 20, "old10": 10}
    sigs = {"used0": used[0], "old40": "4" * 64, "old30": "3" * 64, "old20": "2" * 64,
            "old10": "1" * 64}
    for label, age in ages.items():
        layout = tmp_path / "src" / label
        made = make_oci_image(layout, "s", {label: os.urandom(100_000)},
                              created=_iso(time.time() - age * DAY))
        names[label] = f"{REPO}:image-stage-{sigs[label]}"
        _copy(f"oci:{layout}:s", dest, names[label])
        assert made
    other = f"localhost/other/stages:image-stage-{'9' * 64}"
    _copy(f"oci:{tmp_path / 'src' / 'old40'}:s", dest, other)
    return names


def _copy(src: str, dest: str, name: str) -> None:
    target = f"{dest}:{name}" if dest.startswith("oci:") else f"{dest}{name}"
    subprocess.run(["skopeo", "copy", "-q", src, target], check=True, capture_output=True)


@pytest.mark.parametrize("kind", ["containers-storage", "oci"])
def test_host_cleanup_removes_unused_stages_oldest_first(project, tmp_path, kind):
    directory, used = project
    dest = (f"containers-storage:[vfs@{tmp_path}/root+{tmp_path}/run]" if kind != "oci"
            else f"oci:{tmp_path}/layout")
    names = _fill(dest, tmp_path, used)
    if kind != "oci":
        # A running build's container on the oldest unused stage: never removed.
        subprocess.run(["buildah", *store_flags(dest), "from", "--quiet", names["old40"]],
                       check=True, capture_output=True)
    flag = ["--dest", dest]
    before = landed(dest)

    # Down to ~250 kB: the oldest removable ones go first, until the rest fits.
    r = werfpull("host-cleanup", *flag, "--dir", directory, "--keep-bytes", "250000",
                 "--dry-run", "--format", "json")
    assert r.returncode == 0, r.stderr
    planned = [s["name"] for s in json.loads(r.stdout)]
    if kind == "oci":
        assert planned == [names["old40"], names["old30"], names["old20"]]
    else:
        assert planned == [names["old30"], names["old20"], names["old10"]]
    assert landed(dest) == before  # a dry run removes nothing

    r = werfpull("host-cleanup", *flag, "--dir", directory, "--keep-days", "15")
    assert r.returncode == 0, r.stderr
    after = landed(dest)
    gone = {names["old30"], names["old20"]} | ({names["old40"]} if kind == "oci" else set())
    assert gone.isdisjoint(after)
    assert {names["used0"], names["old10"], f"localhost/other/stages:image-stage-{'9' * 64}"} \
        <= set(after)
    if kind != "oci":
        assert names["old40"] in after and "a container uses it" in r.stdout
    else:
        # Blobs only removed stages used are gone; every remaining manifest is whole.
        for ref in after:
            subprocess.run(["skopeo", "inspect", f"{dest}:{ref}"], check=True,
                           capture_output=True)
        blobs = os.listdir(tmp_path / "layout" / "blobs" / "sha256")
        assert len(blobs) == 3 * 3  # three manifests left, each with a config and a layer

    r = werfpull("host-cleanup", *flag, "--dir", directory)
    assert r.returncode == 0, r.stderr
    assert names["used0"] in landed(dest) and names["old10"] not in landed(dest)


@pytest.mark.parametrize("dest", ["docker://127.0.0.1:1/mirror", "docker-daemon"])
def test_host_cleanup_refuses_a_destination_it_cannot_list(project, dest):
    directory, _ = project

    r = werfpull("host-cleanup", "--dest", dest, "--dir", directory, "--dry-run")

    assert r.returncode == 2, r.stderr
    assert f"host-cleanup works on containers-storage and oci:DIR, not {dest}" in r.stderr
    assert "Traceback" not in r.stderr


def test_host_cleanup_repairs_a_torn_index_and_refuses_one_that_is_no_index(project,
                                                                            tmp_path):
    """The index is read as planning reads it (destinations/oci.py `read_index`)."""
    directory, used = project
    dest = f"oci:{tmp_path}/layout"
    names = _fill(dest, tmp_path, used)
    index = tmp_path / "layout" / "index.json"
    whole = index.read_bytes()
    index.write_bytes(whole[:-40])  # a write cut off inside the last descriptor

    r = werfpull("host-cleanup", "--dest", dest, "--dir", directory, "--dry-run",
                 "--format", "json")

    assert r.returncode == 0, r.stderr
    planned = {s["name"] for s in json.loads(r.stdout)}
    assert names["old40"] in planned and names["used0"] not in planned
    assert (tmp_path / "layout" / "index.json.torn").read_bytes() == whole[:-40]

    index.write_text("garbage")
    r = werfpull("host-cleanup", "--dest", dest, "--dir", directory, "--dry-run")
    assert r.returncode == 2, r.stderr
    assert f"{index} is not an OCI index" in r.stderr
    assert "Traceback" not in r.stderr
