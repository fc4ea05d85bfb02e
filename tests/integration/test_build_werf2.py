"""The reference builder on the werf 2 keys, with real buildah: dependencies as
environment variables, imageSpec, secrets, imports from an external image and from a
stage, and the host's platform only. Secrets never reach a report, a plan, a script or
a log."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import textwrap

import pytest

from tests.support.builds import BASE, BUILDAH, Host, base_host, committed, werfpull
from werfpull.builder.werf2 import host_platform

pytestmark = BUILDAH

SECRET_VALUE = "s3cr3t-value-8f2a"
ENV_SECRET = "env-secret-41c7"
FILE_SECRET = "file-secret-9d03"
REPO = "localhost/keystest/stages"
PLATFORM = host_platform()

CONFIG = textwrap.dedent(f"""\
    project: keystest
    configVersion: 1
    build:
      imageSpec:
        config:
          labels: {{from-build: "yes"}}
    ---
    artifact: tool
    from: {BASE}
    shell:
      install:
      - mkdir -p /out && echo v1 > /out/tool
      setup:
      - echo later > /out/later
    ---
    image: db
    from: {BASE}
    final: false
    shell:
      install:
      - echo db > /db.txt
    ---
    image: app
    from: {BASE}
    platform: [{PLATFORM}]
    secrets:
    - {{id: tok, value: {SECRET_VALUE}}}
    - {{id: fromenv, env: KEYSTEST_SECRET}}
    - {{id: fromfile, src: secret.txt}}
    dependencies:
    - image: db
      before: install
      imports:
      - {{type: ImageName, targetEnv: DB_NAME}}
      - {{type: ImageRepo, targetEnv: DB_REPO}}
      - {{type: ImageTag, targetEnv: DB_TAG}}
      - {{type: ImageID, targetEnv: DB_ID}}
      - {{type: ImageDigest, targetEnv: DB_DIGEST}}
    import:
    - from: {BASE}
      add: /etc/group
      to: /ext/group
      before: install
    - artifact: tool
      stage: install
      add: /out
      to: /tool
      after: install
    shell:
      install:
      - env | grep '^DB_' | sort > /deps-install.txt
      - sha256sum /run/secrets/tok /run/secrets/fromenv /run/secrets/fromfile > /secrets.sum
      setup:
      - env | grep '^DB_' | sort > /deps-setup.txt
    docker:
      LABEL: {{drop-me: "1", keep: "1"}}
    imageSpec:
      author: keys tests
      config:
        env: {{MODE: prod}}
        user: app
        workingDir: /tool
        cmd: ["/bin/sh", "-c", "cat /tool/tool"]
        expose: ["8080/tcp"]
        removeLabels: ["/^drop-/"]
    """)


def inspect_full(host: Host, name: str) -> dict:
    return json.loads(host.buildah("inspect", "--type=image", name))


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("keys")
    project = committed(tmp / "project", tmp / "home",
                        {"werf.yaml": CONFIG, "secret.txt": FILE_SECRET}, "v1")
    with base_host(tmp / "host") as host:
        os.environ["KEYSTEST_SECRET"] = ENV_SECRET
        try:
            proc = werfpull("-vv", "build", "--dir", str(project.path), "--storage",
                            host.store, "--repo", REPO, "--report", str(tmp / "report.json"))
            report = json.loads((tmp / "report.json").read_text())
            sigs = json.loads(werfpull("signatures", "--dir", str(project.path),
                                       "--format", "json").stdout)
            yield project, host, report, sigs, proc
        finally:
            os.environ.pop("KEYSTEST_SECRET", None)


def final_of(sigs: dict, name: str) -> str:
    [entry] = [i for i in sigs["images"] if i["name"] == name]
    return entry["final"]


def test_dependencies_are_environment_variables_for_their_stage_and_later(built):
    project, host, report, sigs, _ = built
    db = f"{REPO}:image-stage-{final_of(sigs, 'db')}"
    info = inspect_full(host, db)
    expected = sorted([f"DB_DIGEST={info['FromImageDigest']}",
                       f"DB_ID=sha256:{info['FromImageID']}", f"DB_NAME={db}",
                       f"DB_REPO={REPO}", f"DB_TAG=image-stage-{final_of(sigs, 'db')}"])
    # the config digest and manifest digest, as the store itself reports them
    store = host.store
    config = subprocess.run(["skopeo", "inspect", "--config", "--raw", f"{store}{db}"],
                            check=True, capture_output=True).stdout
    assert info["FromImageID"] == hashlib.sha256(config).hexdigest()
    assert info["FromImageDigest"] == host.digest(db)
    app = f"{REPO}:image-stage-{final_of(sigs, 'app')}"
    with host.mounted(app) as root:
        assert (root / "deps-install.txt").read_text().split() == expected
        assert (root / "deps-setup.txt").read_text().split() == expected
        assert (root / "db.txt").exists() is False


def test_secrets_reach_the_build_and_nothing_else(built, repo):
    project, host, report, sigs, proc = built
    assert "buildah" in proc.stderr and "/run/secrets/tok" in proc.stderr  # -vv: every argv
    app = f"{REPO}:image-stage-{final_of(sigs, 'app')}"
    with host.mounted(app) as root:
        sums = (root / "secrets.sum").read_text().split()
        assert sums[0::2] == [hashlib.sha256(v.encode()).hexdigest()
                              for v in (SECRET_VALUE, ENV_SECRET, FILE_SECRET)]
        assert not (root / "run" / "secrets").exists()  # no trace in the image
    werfpull("push", repo, "--dir", str(project.path), "--storage", host.store,
             "--insecure-registry")
    plan = werfpull("-vv", "plan", repo, "--dir", str(project.path), "--insecure-registry",
                    "--dest", f"oci:{project.path}/layout", "--format", "json")
    assert json.loads(plan.stdout)["pulls"]
    script = werfpull("script", repo, "--dir", str(project.path), "--insecure-registry",
                      "--dest", f"oci:{project.path}/layout")
    outputs = [proc.stdout, proc.stderr, json.dumps(report), json.dumps(sigs),
               plan.stdout, plan.stderr, script.stdout, script.stderr]
    for text in outputs:
        for value in (SECRET_VALUE, ENV_SECRET, FILE_SECRET):
            assert value not in text


def test_image_spec_is_applied_as_the_last_stage(built):
    _, host, report, sigs, _ = built
    [app] = [i for i in sigs["images"] if i["name"] == "app"]
    assert app["platform"] == PLATFORM
    assert app["stages"][-1]["name"] == "imageSpec"
    full = inspect_full(host, f"{REPO}:image-stage-{app['final']}")
    config = full["OCIv1"]["config"]
    assert config["Labels"]["from-build"] == "yes" and config["Labels"]["keep"] == "1"
    assert "drop-me" not in config["Labels"]
    assert config["Labels"]["werfpull.stage"] == "imageSpec"
    assert "MODE=prod" in config["Env"]
    assert config["User"] == "app" and config["WorkingDir"] == "/tool"
    assert config["Cmd"] == ["/bin/sh", "-c", "cat /tool/tool"]
    assert "8080/tcp" in config["ExposedPorts"]
    assert full["OCIv1"]["author"] == "keys tests"


def test_imports_from_an_external_image_and_from_a_stage(built):
    _, host, report, sigs, _ = built
    app = f"{REPO}:image-stage-{final_of(sigs, 'app')}"
    with host.mounted(app) as root:
        assert "app:x:1000:" in (root / "ext" / "group").read_text()
        assert (root / "tool" / "tool").read_text() == "v1\n"
        assert not (root / "tool" / "later").exists()  # tool's setup is after the stage
    built_stages = {(s["image"], s["stage"]) for s in report["stages"] if s["action"] == "built"}
    assert ("tool", "install") in built_stages
    assert ("tool", "setup") not in built_stages  # nobody needs the whole tool


def test_a_missing_secret_source_is_a_config_error_naming_it(tmp_path, host):
    project = committed(tmp_path / "p", tmp_path / "home", {"werf.yaml": textwrap.dedent(f"""\
        project: keysmissing
        configVersion: 1
        ---
        image: app
        from: {BASE}
        secrets:
        - {{id: npmrc, src: no/such/file}}
        shell:
          install: [cat /run/secrets/npmrc]
        """)}, "v1")
    proc = werfpull("build", "--dir", str(project.path), "--storage", host.store, check=False)
    assert proc.returncode == 3, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert "secret 'npmrc'" in line and "no/such/file" in line and "werf.yaml:7" in line


def test_another_platform_is_refused_without_emulation(git_repo, tmp_path):
    other = "linux/s390x" if PLATFORM != "linux/s390x" else "linux/amd64"
    git_repo.write("werf.yaml", f"project: plat\nconfigVersion: 1\n---\nimage: app\n"
                   f"from: {BASE}\nplatform: [{other}]\n")
    git_repo.commit()
    proc = werfpull("build", "--dir", str(git_repo.path), "--storage",
                    f"containers-storage:[vfs@{tmp_path}/r+{tmp_path}/rr]", check=False)
    assert proc.returncode == 2, proc.stderr
    [line] = [ln for ln in proc.stderr.splitlines() if "error:" in ln]
    assert other in line and PLATFORM in line and "emulate" in line
