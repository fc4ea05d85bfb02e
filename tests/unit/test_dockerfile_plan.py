"""Pull selection for Dockerfile images (spec sections 6 and 8): one stage, the reasons
a reviewer reads, and an artifact that only a Dockerfile image's build needs."""

from __future__ import annotations

from werfpull.config.load import parse_config
from werfpull.inventory.model import Inventory
from werfpull.plan.planner import select
from werfpull.project import Project
from werfpull.signatures.dockercontext import DockerfileInputs
from werfpull.signatures.signer import Signer
from werfpull.tools.git import Entry

CONFIG = """project: demo
configVersion: 1
---
artifact: tools
from: base:1
shell:
  install: [make tools]
---
image: web
dockerfile: Dockerfile
dependencies:
- image: tools
  imports: [{type: ImageName, targetBuildArg: TOOLS}]
---
image: app
fromImage: web
shell:
  setup: [echo app]
"""

ENTRY = Entry("Dockerfile", "100644 blob " + "a" * 40 + "\tDockerfile\n")


def project() -> Project:
    config = parse_config(CONFIG)
    inputs = DockerfileInputs("/repo", ENTRY, b"FROM scratch\n", "", [ENTRY], None)
    return Project(config, Signer(config, lambda m: [], None, lambda image: inputs).sign_all())


def plan(proj: Project, remote=(), local=None):
    return {p.name: p for p in select(proj.signed, proj.order,
                                      Inventory(set(remote), dict(local or {})), False)}


def sig(proj: Project, name: str) -> str:
    return next(s for s in proj.signed if s.image.name == name).final


def test_a_dockerfile_image_is_one_stage_with_its_own_reasons():
    proj = project()
    web = next(s for s in proj.signed if s.image.name == "web")
    assert [s.name for s in web.stages] == ["dockerfile"]
    cold = plan(proj)
    assert cold["web"].reason == ("the Dockerfile's inputs changed since the last push:"
                                  " nothing to pull, building from scratch")
    warm = plan(proj, remote=[sig(proj, "web"), sig(proj, "tools")])
    assert warm["web"].selected == sig(proj, "web")
    assert warm["web"].reason == "up to date in the registry: pulling dockerfile"
    local = plan(proj, local={sig(proj, "web"): None})
    assert local["web"].selected == sig(proj, "web") and "already local" in local["web"].reason


def test_an_artifact_is_needed_only_when_the_dockerfile_stage_rebuilds():
    proj = project()
    built = plan(proj, remote=[sig(proj, "web"), sig(proj, "tools")])
    assert built["tools"].needed is False and built["tools"].selected is None
    rebuild = plan(proj, remote=[sig(proj, "tools")])
    assert rebuild["tools"].needed is True and rebuild["tools"].selected == sig(proj, "tools")
