"""oci:DIR destinations that are broken or not what they seem: a file, a place nothing
can be written, an index.json that is another tool's, or torn by a killed werfpull,
and the partial blob files interrupted copies leave. The project and its published
stages are conftest.py's `published`."""

from __future__ import annotations

import json
import os
import time

from tests.support.stages import landed, werfpull


def pull(published, dest: str):
    return werfpull("pull", published.repo, "--dir", published.dir, "--insecure-registry",
                    "--dest", dest)


def test_a_destination_that_is_a_file_or_cannot_be_made(published, tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("not a layout\n")
    proc = pull(published, f"oci:{afile}")
    assert proc.returncode == 2, proc.stderr
    assert f"{afile} is a file, not a directory" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert afile.read_text() == "not a layout\n"

    proc = pull(published, "oci:/sys/werfpull-never")  # sysfs: mkdir is refused, even to root
    assert proc.returncode == 2, proc.stderr
    assert "oci:/sys/werfpull-never: cannot create the layout: Operation not permitted" \
        in proc.stderr
    assert "Traceback" not in proc.stderr


def test_an_index_that_is_not_an_oci_index_is_refused_untouched(published, tmp_path):
    for name, content in (("garbage", "{not json"), ("list", "[]"),
                          ("descriptors", '{"manifests": [1, 2]}')):
        layout = tmp_path / name
        layout.mkdir()
        (layout / "index.json").write_text(content)
        proc = pull(published, f"oci:{layout}")
        assert proc.returncode == 2, (name, proc.stderr)
        assert f"{layout}/index.json is not an OCI index" in proc.stderr
        assert "Traceback" not in proc.stderr
        assert (layout / "index.json").read_text() == content


def test_a_torn_index_is_repaired_and_the_rerun_completes(published, tmp_path):
    layout = tmp_path / "layout"
    dest = f"oci:{layout}"
    first = pull(published, dest)
    assert first.returncode == 0, first.stderr
    index = layout / "index.json"
    whole = index.read_bytes()
    assert len(json.loads(whole)["manifests"]) == 2
    torn = whole[: len(whole) - 40]  # as a werfpull killed mid-write leaves it
    index.write_bytes(torn)

    proc = pull(published, dest)

    assert proc.returncode == 0, proc.stderr
    assert "was torn" in proc.stderr and "kept its 1 whole entries" in proc.stderr
    assert (layout / "index.json.torn").read_bytes() == torn
    # The torn entry's stage was copied again: the layout holds what it held.
    names = "org.opencontainers.image.ref.name"
    assert landed(dest) == {m["annotations"][names]: m["digest"]
                            for m in json.loads(whole)["manifests"]}


def test_partial_blobs_of_interrupted_copies_are_removed(published, tmp_path):
    layout = tmp_path / "layout"
    (layout / "blobs" / "sha256").mkdir(parents=True)
    stale = [layout / "oci-put-blob123", layout / "blobs" / "sha256" / "oci-put-blob456"]
    for path in stale:
        path.write_bytes(os.urandom(1000))
        os.utime(path, (time.time() - 3600, time.time() - 3600))
    fresh = layout / "oci-put-blob789"  # as a copy writing now has it
    fresh.write_bytes(b"x")

    proc = pull(published, f"oci:{layout}")

    assert proc.returncode == 0, proc.stderr
    assert not any(p.exists() for p in stale)
    assert fresh.exists()
