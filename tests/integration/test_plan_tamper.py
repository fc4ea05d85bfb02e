"""Plans that keep a valid shape but were edited: `apply` checks their content.

A plan reviewed on one host is applied on another; in between it is a file anyone
with access can edit. Signatures are recomputed from the checkout, tags are read from
the registry before anything is copied, and the registry's TLS is never lowered by
the plan alone. The project and its published stages are conftest.py's `published`.
(Every tag is read ahead when the copies start, and checked before its own copy: a
stage whose tag moved fails, the others land.)
"""

from __future__ import annotations

import json
import os
import subprocess

from tests.support.pulls import oci
from tests.support.stages import landed, werfpull


def apply(published, path, *args):
    return werfpull("apply", path, "--dir", published.dir, "--insecure-registry", *args)


def test_an_invented_signature_is_refused(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)
    plan = json.loads(path.read_text())
    invented = "f" * 64
    plan["pulls"][0].update(signature=invented, tag=f"image-stage-{invented}")
    path.write_text(json.dumps(plan))

    proc = apply(published, path)

    assert proc.returncode == 5, proc.stderr
    assert "pulls[0]: signature ffffffffffff of stage" in proc.stderr
    assert "not one this checkout produces" in proc.stderr
    assert not os.path.exists(dest[4:])


def test_another_real_digest_is_refused_before_its_copy(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)
    plan = json.loads(path.read_text())
    first, second = plan["pulls"]
    first["digest"] = second["digest"]  # a real manifest, of another stage
    path.write_text(json.dumps(plan))

    proc = apply(published, path)

    assert proc.returncode == 1, proc.stderr
    assert (f"{published.repo}:{first['tag']} points to {published.digests[first['signature']]},"
            f" the plan says {second['digest']}: retagged since the plan") in proc.stderr
    # Checked before its copy: the other stage's image never lands under this name.
    assert landed(dest) == {f"{published.repo}:{second['tag']}": second["digest"]}


def test_a_tag_moved_since_the_plan_is_refused_unless_forced(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)
    first, second = json.loads(path.read_text())["pulls"]
    # Someone pushes another stage's image under the first stage's tag.
    subprocess.run(["skopeo", "copy", "-q", "--src-tls-verify=false", "--dest-tls-verify=false",
                    f"docker://{published.repo}@{second['digest']}",
                    f"docker://{published.repo}:{first['tag']}"], check=True,
                   capture_output=True)

    proc = apply(published, path)

    assert proc.returncode == 1, proc.stderr
    assert "retagged since the plan" in proc.stderr
    assert landed(dest) == {f"{published.repo}:{second['tag']}": second["digest"]}
    forced = apply(published, path, "--force")  # copies go by the planned digests
    assert forced.returncode == 0, forced.stderr
    assert landed(dest) == {f"{published.repo}:{p['tag']}": p["digest"]
                            for p in (first, second)}


def test_a_plan_never_lowers_tls_the_command_line_did_not(published, tmp_path):
    dest = oci(tmp_path)
    path = published.save_plan(dest)  # made with --insecure-registry
    assert json.loads(path.read_text())["registry"] == {"insecure": True,
                                                        "skip_tls_verify": False}

    for extra in ((), ("--force",)):
        proc = werfpull("apply", path, "--dir", published.dir, *extra)
        assert proc.returncode == 5, proc.stderr
        assert "the plan was made with --insecure-registry" in proc.stderr
        assert "pass --insecure-registry to apply it" in proc.stderr
        assert not os.path.exists(dest[4:])
    assert apply(published, path).returncode == 0
