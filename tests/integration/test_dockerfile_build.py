"""Dockerfile images end to end (spec section 8) with real buildah, skopeo and registry.

A multi-stage Dockerfile (ARG before FROM, COPY --from, RUN --mount=type=cache) that
depends on a Stapel artifact through a build argument, used by a Stapel image through
fromImage and an import. Host A builds and pushes; a commit to a file .dockerignore
excludes changes nothing, host B pulls and reuses everything; a commit to a file the
Dockerfile copies rebuilds the Dockerfile image and what is built from it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.support.builds import (
    BASE,
    BUILDAH,
    Host,
    actions,
    base_host,
    committed,
    signatures,
    werfpull,
)

pytestmark = BUILDAH

CONFIG = f"""\
project: dockerfiletest
configVersion: 1
---
artifact: tools
from: {BASE}
shell:
  install:
  - mkdir -p /out && echo "tool v1" > /out/tool.txt
---
image: web
dockerfile: Dockerfile
context: web
target: prod
args: {{GREETING: hello}}
contextAddFiles: [generated.txt]
dependencies:
- image: tools
  imports:
  - {{type: ImageName, targetBuildArg: TOOLS}}
  - {{type: ImageTag, targetBuildArg: TOOLS_TAG}}
---
image: app
fromImage: web
import:
- image: web
  add: /srv/site
  to: /opt/site
  after: install
shell:
  install:
  - cat /srv/site/index.html > /opt/installed.txt
"""
DOCKERFILE = f"""\
ARG TOOLS=none
ARG BASE={BASE}
FROM $TOOLS AS tools
FROM $BASE AS build
ARG GREETING
ARG TOOLS_TAG
RUN --mount=type=cache,target=/cache echo "$GREETING" > /cache/g && cp /cache/g /greeting \\
 && echo "$TOOLS_TAG" > /tools-tag
FROM $BASE AS prod
COPY --from=build /greeting /greeting
COPY --from=build /tools-tag /tools-tag
COPY --from=tools /out/tool.txt /opt/tool.txt
COPY . /srv/site
"""
FILES = {
    "web/Dockerfile": DOCKERFILE,
    "web/.dockerignore": "# never in the image\n*.log\n.dockerignore\n",
    "web/index.html": "<h1>v1</h1>\n",
    "web/debug.log": "noise v1\n",
}


@dataclass
class Scenario:
    repo: str
    host_a: Host
    host_b: Host
    report_a: dict
    sigs_v1: dict
    sigs_ignored: dict  # after a commit to web/debug.log
    plan_b: dict
    report_b: dict
    sigs_v2: dict  # after a commit to web/index.html
    pulled_b2: list[str]
    report_b2: dict


@pytest.fixture(scope="module")
def scenario(registry, tmp_path_factory) -> Iterator[Scenario]:
    tmp = tmp_path_factory.mktemp("dockerfile")
    project = committed(tmp / "project", tmp / "home", {"werf.yaml": CONFIG, **FILES}, "v1")
    project.write("web/generated.txt", "from the working tree\n")  # never committed
    repo = registry.repo("t/dockerfile")
    where = ["--dir", str(project.path)]
    with base_host(tmp / "host-a") as host_a, base_host(tmp / "host-b") as host_b:
        sigs_v1 = signatures(project.path)
        report_a = host_a.build(project.path, repo)
        werfpull("push", repo, *where, "--storage", host_a.store, "--insecure-registry")

        project.write("web/debug.log", "noise v2\n")
        # -a: tracked files only; web/generated.txt stays a working-tree file.
        project.git("commit", "-q", "-a", "-m", "an ignored file")
        sigs_ignored = signatures(project.path)
        plan_b = json.loads(werfpull("plan", repo, *where, "--dest", host_b.store,
                                     "--insecure-registry", "--format", "json").stdout)
        werfpull("pull", repo, *where, "--dest", host_b.store, "--insecure-registry")
        report_b = host_b.build(project.path, repo)

        project.write("web/index.html", "<h1>v2</h1>\n")
        project.git("commit", "-q", "-a", "-m", "a copied file")
        sigs_v2 = signatures(project.path)
        # web must rebuild now, so the pull takes the artifact its build needs.
        pulled_b2 = json.loads(werfpull("pull", repo, *where, "--dest", host_b.store,
                                        "--insecure-registry", "--format", "json").stdout)
        report_b2 = host_b.build(project.path, repo)
        yield Scenario(repo, host_a, host_b, report_a, sigs_v1, sigs_ignored, plan_b,
                       report_b, sigs_v2, pulled_b2["pulled"], report_b2)


def test_host_a_builds_the_dockerfile_image_once_as_one_stage(scenario):
    assert list(scenario.sigs_v1["web"]) == ["dockerfile"]
    built = actions(scenario.report_a, "built")
    assert built["web"] == ["dockerfile"] and built["tools"] == ["from", "install"]
    assert built["app"] == list(scenario.sigs_v1["app"])


def test_the_image_holds_exactly_the_signed_inputs(scenario):
    sig = scenario.sigs_v1["web"]["dockerfile"]
    name = f"{scenario.repo}:image-stage-{sig}"
    with scenario.host_a.mounted(name) as root:
        site = sorted(p.name for p in (root / "srv/site").iterdir())
        assert site == ["Dockerfile", "generated.txt", "index.html"]  # no log, no ignore
        assert (root / "srv/site/generated.txt").read_text() == "from the working tree\n"
        assert (root / "greeting").read_text() == "hello\n"
        assert (root / "opt/tool.txt").read_text() == "tool v1\n"
        tools = scenario.sigs_v1["tools"]["install"]
        assert (root / "tools-tag").read_text() == f"image-stage-{tools}\n"
    labels = scenario.host_a.inspect(name)["Labels"]
    assert labels["werfpull.signature"] == sig and labels["werfpull.stage"] == "dockerfile"
    assert labels["werfpull.project"] == "dockerfiletest"


def test_the_stapel_image_is_built_from_and_imports_the_dockerfile_image(scenario):
    app = scenario.sigs_v1["app"]
    with scenario.host_a.mounted(f"{scenario.repo}:image-stage-{list(app.values())[-1]}") \
            as root:
        assert (root / "opt/installed.txt").read_text() == "<h1>v1</h1>\n"
        assert (root / "opt/site/index.html").read_text() == "<h1>v1</h1>\n"
        assert (root / "opt/tool.txt").read_text() == "tool v1\n"  # fromImage: web


def test_an_ignored_file_changes_nothing_and_host_b_reuses_the_cache(scenario):
    assert scenario.sigs_ignored == scenario.sigs_v1
    web = next(i for i in scenario.plan_b["images"] if i["name"] == "web")
    assert web["reason"] == "up to date in the registry: pulling dockerfile"
    assert actions(scenario.report_b, "built") == {}
    assert actions(scenario.report_b, "reused")["web"] == ["dockerfile"]


def test_a_copied_file_rebuilds_the_dockerfile_image_and_its_users(scenario):
    assert scenario.sigs_v2["web"] != scenario.sigs_v1["web"]
    assert scenario.sigs_v2["tools"] == scenario.sigs_v1["tools"]
    # The artifact was not needed while web was cached; now its build needs it.
    assert scenario.sigs_v2["tools"]["install"] in scenario.pulled_b2
    assert actions(scenario.report_b2, "reused")["tools"] == ["install"]
    built = actions(scenario.report_b2, "built")
    assert built == {"web": ["dockerfile"], "app": list(scenario.sigs_v2["app"])}
    app = list(scenario.sigs_v2["app"].values())[-1]
    with scenario.host_b.mounted(f"{scenario.repo}:image-stage-{app}") as root:
        assert (root / "opt/site/index.html").read_text() == "<h1>v2</h1>\n"


def test_a_heredoc_is_refused_by_name_while_signatures_still_work(tmp_path, host):
    project = committed(tmp_path / "project", tmp_path / "home", {
        "werf.yaml": "project: heredoc\nconfigVersion: 1\n---\nimage: h\n"
                     "dockerfile: Dockerfile\n",
        "Dockerfile": f"FROM {BASE}\nRUN <<EOF\necho hi\nEOF\n"})
    assert list(signatures(project.path)["h"]) == ["dockerfile"]
    proc = werfpull("build", "--dir", str(project.path), "--storage", host.store, check=False)
    assert proc.returncode == 3
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "heredocs (RUN <<EOF)" in lines[0] and "line 2" in lines[0]


def test_secrets_hosts_and_a_base_image_from_the_registry(registry, tmp_path, host):
    base = f"{registry.repo('t/dockerfile-base')}:1"
    subprocess.run(["skopeo", "copy", "--quiet", "--dest-tls-verify=false",
                    f"{host.store}{BASE}", f"docker://{base}"], check=True)
    project = committed(tmp_path / "project", tmp_path / "home", {
        "werf.yaml": """project: secrets
configVersion: 1
---
image: s
dockerfile: Dockerfile
addHost: ["db.internal:10.1.2.3"]
secrets:
- {id: token, value: s3cret-value}
- {id: fromenv, env: WERFPULL_TEST_SECRET}
""",
        ".dockerignore": "werf.yaml\n",  # the context is the project itself
        "Dockerfile": f"""FROM {base}
RUN --mount=type=secret,id=token --mount=type=secret,id=fromenv \\
    cat /run/secrets/token /run/secrets/fromenv > /secrets && grep db.internal /etc/hosts > /hosts
"""})
    fresh = Host(tmp_path / "fresh")  # no base image: buildah pulls it, plain HTTP
    try:
        os.environ["WERFPULL_TEST_SECRET"] = "from-the-env"
        try:
            report = fresh.build(project.path, "localhost/secrets/stages", "--insecure-registry")
        finally:
            del os.environ["WERFPULL_TEST_SECRET"]
        assert actions(report, "built") == {"s": ["dockerfile"]}
        name = f"localhost/secrets/stages:image-stage-{report['stages'][0]['signature']}"
        with fresh.mounted(name) as root:
            assert (root / "secrets").read_text() == "s3cret-valuefrom-the-env"
            assert (root / "hosts").read_text().split() == ["10.1.2.3", "db.internal"]
        # Secrets are never hashed: another value signs the same.
        before = signatures(project.path)
        project.write("werf.yaml", (project.path / "werf.yaml").read_text()
                      .replace("s3cret-value", "rotated"))
        project.commit()
        assert signatures(project.path) == before
    finally:
        fresh.remove()
