"""The werf 1.2/2 keys of spec section 7 (and the readings of section 9): how they load,
how they sign (recomputed here from the spec's formula), and the errors they give."""

from __future__ import annotations

import hashlib
import json

import pytest

from werfpull.config.load import parse_config
from werfpull.errors import ConfigError
from werfpull.signatures.signer import Signer
from werfpull.tools.git import Entry

META = "project: demo\nconfigVersion: 1\n"


def spec_sig(stage: str, prev: str, deps: dict) -> str:
    canon = json.dumps(["werfpull-stage/1", stage, prev, deps], sort_keys=True,
                       separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(canon).hexdigest()


def chain(stages: list[tuple[str, dict]]) -> dict[str, str]:
    out, prev = {}, ""
    for name, deps in stages:
        prev = out[name] = spec_sig(name, prev, deps)
    return out


def from_deps(ref="x", **extra) -> dict:
    deps = {"project": "demo", "from": ref, "fromImage": None, "fromArtifact": None,
            "fromCacheVersion": None, "fromDigest": None, "mounts": []}
    deps.update(extra)
    return deps


def signed(text: str, tree=()) -> list:
    cfg = parse_config(text, "werf.yaml")
    return Signer(cfg, lambda m: list(tree)).sign_all()


def sigs(text: str, tree=()) -> dict:
    """{(name, platform): {stage: signature}}"""
    return {(s.image.name, s.platform): {st.name: st.signature for st in s.stages}
            for s in signed(text, tree)}


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_config(text, "werf.yaml")
    return info.value


def test_meta_keys_load_and_are_never_hashed():
    plain = sigs(META + "---\nimage: a\nfrom: x\n")
    text = ("project: demo\nconfigVersion: 1.0\nbuild:\n  staged: true\n"
            "deploy: {helmRelease: x}\ncleanup: {keepPolicies: []}\n"
            "gitWorktree: {forceShallowClone: true}\n---\nimage: a\nfrom: x\n")
    assert sigs(text) == plain


def test_cache_versions_enter_the_from_stage():
    text = ("project: demo\nconfigVersion: 1\nbuild:\n  cacheVersion: 2\n---\n"
            "image: a\nfrom: x\n---\nimage: b\nfrom: x\ncacheVersion: v\n---\n"
            "artifact: t\nfrom: x\n")
    got = sigs(text)
    both = {"build": "2", "image": None}
    assert got[("a", None)] == chain([("from", from_deps(cacheVersion=both))])
    assert got[("t", None)] == got[("a", None)]  # artifacts inherit build.cacheVersion
    assert got[("b", None)] == chain([("from", from_deps(
        cacheVersion={"build": "2", "image": "v"}))])
    only_image = sigs(META + "---\nimage: b\nfrom: x\ncacheVersion: 3\n")
    assert only_image[("b", None)] == chain([("from", from_deps(
        cacheVersion={"build": None, "image": "3"}))])


def test_platforms_sign_one_chain_each_in_list_order():
    text = ("project: demo\nconfigVersion: 1\nbuild:\n  platform: [linux/amd64]\n---\n"
            "image: a\nfrom: x\nplatform: [linux/arm64, linux/amd64, linux/arm64]\n---\n"
            "image: b\nfrom: x\nplatform: []\n---\nartifact: t\nfrom: x\n")
    chains = signed(text)
    assert [(s.image.name, s.platform) for s in chains] == [
        ("a", "linux/arm64"), ("a", "linux/amd64"), ("b", "linux/amd64"),
        ("t", "linux/amd64")]
    for s in chains:
        assert {st.name: st.signature for st in s.stages} == chain(
            [("from", from_deps(platform=s.platform))])
        assert s.to_json()["platform"] == s.platform
    none = sigs("project: demo\nconfigVersion: 1\nbuild:\n  platform: []\n---\n"
                "image: a\nfrom: x\n")
    assert none == {("a", None): chain([("from", from_deps())])}


def test_a_reference_uses_the_source_chain_of_the_same_platform():
    text = (META + "---\nimage: base\nfrom: x\nplatform: [p1, p2]\n---\n"
            "image: app\nfromImage: base\nplatform: [p2]\n---\nimage: any\nfrom: y\n---\n"
            "image: user\nfromImage: any\nplatform: [p1]\n")
    got = sigs(text)
    base_p2 = got[("base", "p2")]["from"]
    assert got[("app", "p2")]["from"] == spec_sig("from", "", from_deps(
        None, fromImage=base_p2, platform="p2"))
    assert got[("user", "p1")]["from"] == spec_sig("from", "", from_deps(
        None, fromImage=got[("any", None)]["from"], platform="p1"))


@pytest.mark.parametrize("consumer, fragment", [
    ("platform: [p3]", "is built for p3, which image 'base' it uses is not"),
    ("", "has no platforms but uses image 'base'"),
])
def test_platform_mismatches_are_config_errors(consumer, fragment):
    err = error_of(META + "---\nimage: base\nfrom: x\nplatform: [p1, p2]\n---\n"
                   f"image: app\nfromImage: base\n{consumer}\n")
    assert fragment in str(err) and err.line == 9


def test_disable_git_after_patch_empties_git_latest_patch():
    tree = [Entry("f", "100644 blob " + "1" * 40 + "\tf\n")]
    body = "---\nimage: a\nfrom: x\ngit:\n- to: /app\n"
    on = sigs(META + body + "disableGitAfterPatch: true\n", tree)[("a", None)]
    off = sigs(META + body + "disableGitAfterPatch: false\n", tree)[("a", None)]
    assert list(on) == ["from", "gitArchive"]
    assert list(off) == ["from", "gitArchive", "gitLatestPatch"]
    assert on["gitArchive"] == off["gitArchive"]


def test_image_spec_is_the_last_stage_and_nulls_inside_are_dropped():
    text = ("project: demo\nconfigVersion: 1\nbuild:\n  imageSpec: {author: me}\n---\n"
            "image: a\nfrom: x\nimageSpec:\n  config: {labels: {a: '1', b: ~}, user: ~}\n"
            "---\nimage: b\nfrom: x\n---\nartifact: t\nfrom: x\n")
    got = sigs(text)
    base = spec_sig("from", "", from_deps())
    assert got[("a", None)]["imageSpec"] == spec_sig("imageSpec", base, {"imageSpec": {
        "build": {"author": "me"}, "image": {"config": {"labels": {"a": "1"}}}}})
    assert got[("b", None)]["imageSpec"] == spec_sig("imageSpec", base, {"imageSpec": {
        "build": {"author": "me"}, "image": None}})
    assert list(got[("t", None)]) == ["from"]
    empty = sigs(META + "---\nimage: a\nfrom: x\nimageSpec: {}\n")[("a", None)]
    assert empty["imageSpec"] == spec_sig("imageSpec", base, {"imageSpec": {
        "build": None, "image": {}}})


def test_docker_with_only_exact_values_is_a_stage():
    got = sigs(META + "---\nimage: a\nfrom: x\ndocker:\n  exactValues: true\n  CMD: ~\n")
    base = spec_sig("from", "", from_deps())
    assert got[("a", None)]["dockerInstructions"] == spec_sig(
        "dockerInstructions", base, {"docker": {"exactValues": True}})


DEPS_CONFIG = META + """---
image: db
from: postgres
---
artifact: tool
from: x
shell:
  install: make
---
image: app
from: x
shell:
  setup: configure
dependencies:
- image: db
  before: install
  imports:
  - {type: ImageName, targetEnv: DB_IMAGE}
  - {type: ImageDigest, targetEnv: DB_DIGEST}
- image: tool
  before: setup
  imports: [{type: ImageTag, targetEnv: TOOL_TAG}]
- image: db
  after: setup
  imports: [{type: ImageID, targetEnv: DB_ID}]
- image: tool
  after: install
"""


def test_dependencies_enter_the_stage_they_attach_to():
    got = sigs(DEPS_CONFIG)
    db, tool, app = got[("db", None)]["from"], got[("tool", None)]["install"], got[("app", None)]
    assert list(app) == ["from", "install", "beforeSetup", "setup", "dockerInstructions"]
    user = {"builder": "shell", "cacheVersion": None, "stageCacheVersion": None, "git": []}
    expected = chain([
        ("from", from_deps()),
        ("install", {**user, "instructions": [], "dependencies": [
            {"image": "db", "signature": db, "imports": [
                {"type": "ImageName", "targetEnv": "DB_IMAGE"},
                {"type": "ImageDigest", "targetEnv": "DB_DIGEST"}]}]}),
        ("beforeSetup", {**user, "instructions": [], "dependencies": [
            {"image": "tool", "signature": tool, "imports": []}]}),
        ("setup", {**user, "instructions": ["configure"], "dependencies": [
            {"image": "tool", "signature": tool, "imports": [
                {"type": "ImageTag", "targetEnv": "TOOL_TAG"}]}]}),
        ("dockerInstructions", {"docker": {}, "dependencies": [
            {"image": "db", "signature": db, "imports": [
                {"type": "ImageID", "targetEnv": "DB_ID"}]}]}),
    ])
    assert app == expected


def test_imports_from_an_external_image_and_from_a_stage():
    text = META + """---
artifact: tool
from: x
shell:
  install: make
  setup: pack
---
image: app
from: x
import:
- from: registry.example/tools:1
  add: /bin/t
  before: install
- artifact: tool
  stage: install
  add: /out
  after: install
- artifact: tool
  stage: beforeSetup
  add: /out2
  before: setup
"""
    got = sigs(text)
    tool, app = got[("tool", None)], got[("app", None)]
    common = {"includePaths": [], "excludePaths": [], "owner": None, "group": None}
    assert app == chain([
        ("from", from_deps()),
        ("importsBeforeInstall", {"imports": [{
            "image": None, "artifact": None, "from": "registry.example/tools:1",
            "signature": None, "add": "/bin/t", "to": "/bin/t", **common}]}),
        ("importsAfterInstall", {"imports": [{
            "image": None, "artifact": "tool", "stage": "install",
            "signature": tool["install"], "add": "/out", "to": "/out", **common}]}),
        # beforeSetup is empty in tool: the last non-empty stage before it counts
        ("importsBeforeSetup", {"imports": [{
            "image": None, "artifact": "tool", "stage": "beforeSetup",
            "signature": tool["install"], "add": "/out2", "to": "/out2", **common}]}),
    ])


def test_secrets_and_basic_auth_are_never_hashed():
    plain = sigs(META + "---\nimage: a\nfrom: x\ngit:\n- url: https://example/r.git\n"
                 "  to: /src\nshell:\n  install: make\n")
    text = (META + "---\nimage: a\nfrom: x\ngit:\n- url: https://example/r.git\n"
            "  to: /src\n  basicAuth: {username: u, password: {value: hunter2}}\n"
            "shell:\n  install: make\nsecrets:\n- {id: tok, value: s3cr3t}\n"
            "- {id: npmrc, src: ~/.npmrc}\n- {id: home, env: HOME}\n")
    assert sigs(text) == plain
    [image] = parse_config(text, "werf.yaml").images
    assert "s3cr3t" not in repr(image) and "hunter2" not in repr(image)


def test_a_secret_written_as_a_boolean_or_number_is_its_text_as_werf_reads_it():
    """deckhouse writes `value: {{ .CargoProxy }}`, which renders to `value: false`."""
    text = (META + "---\nimage: a\nfrom: x\nsecrets:\n- {id: proxy, value: false}\n"
            "- {id: port, value: 0808}\n- {id: ratio, value: 1.10}\n- {id: on, env: no}\n")
    [image] = parse_config(text, "werf.yaml").images
    assert [(s.id, s.value, s.env) for s in image.secrets] == [
        ("proxy", "false", None), ("port", "0808", None), ("ratio", "1.10", None),
        ("on", None, "no")]
    assert sigs(text) == sigs(META + "---\nimage: a\nfrom: x\n")


def test_final_false_changes_no_signature():
    assert sigs(META + "---\nimage: a\nfrom: x\nfinal: false\n") == \
        sigs(META + "---\nimage: a\nfrom: x\n")


@pytest.mark.parametrize("body, line, fragment", [
    ("secrets:\n- {value: x}\n", 7, "a secret needs an 'id'"),
    ("secrets:\n- {id: a, value: x, env: Y}\n", 7, "exactly one of 'env', 'src', 'value'"),
    ("secrets:\n- {id: a}\n", 7, "exactly one of 'env', 'src', 'value'"),
    ("dependencies:\n- {image: a, after: setup, before: install}\n", 7,
     "exactly one of 'before' and 'after'"),
    ("dependencies:\n- {image: nope, after: setup}\n", 7, "unknown"),
    ("dependencies:\n- {image: a, after: setup, imports: [{type: Foo, targetEnv: X}]}\n", 7,
     "unknown dependency type 'Foo'"),
    ("dependencies:\n- {image: a, after: setup, imports: [{type: ImageID}]}\n", 7,
     "'targetEnv' is required"),
    ("import:\n- {image: a, from: y, add: /x, after: install}\n", 7,
     "exactly one of 'image', 'artifact' and 'from'"),
    ("import:\n- {from: y, stage: install, add: /x, after: install}\n", 7, "'stage' names"),
    ("import:\n- {image: a, stage: nonsense, add: /x, after: install}\n", 7,
     "has no such stage"),
    ("import:\n- {image: t, add: /x, after: install}\n", 7, "unknown image 't'"),
    ("import:\n- {artifact: a, add: /x, after: install}\n", 7, "unknown artifact 'a'"),
    ("platform: linux/amd64\n", 6, "expected a list of platforms"),
    ("platform: [1]\n", 6, "expected a string"),
    ("final: 'no'\n", 6, "expected true or false"),
    ("disableGitAfterPatch: 1\n", 6, "expected true or false"),
    ("cacheVersion: 1.5\n", 6, "expected a string or an integer"),
    ("imageSpec: [x]\n", 6, "expected a mapping"),
    ("docker:\n  exactValues: 'yes'\n", 7, "expected true or false"),
    ("git:\n- to: /app\n  basicAuth: {username: u}\n", 8, "only for a remote repository"),
])
def test_werf2_key_errors_are_located(body, line, fragment):
    text = META + "---\nimage: b\nfrom: x\n" + body + "---\nimage: a\nfrom: x\n---\n" \
        "artifact: t\nfrom: x\n"
    err = error_of(text)
    assert fragment in str(err), str(err)
    assert err.line == line, str(err)


@pytest.mark.parametrize("text, fragment", [
    ("project: demo\nconfigVersion: 1\nbuild:\n  platform: linux/amd64\n",
     "expected a list of platforms"),
    ("project: demo\nconfigVersion: 1\nbuild:\n  staged: 1\n", "expected true or false"),
    ("project: demo\nconfigVersion: 1\nbuild:\n  nope: 1\n", "unknown key"),
    ("project: demo\nconfigVersion: 1\ndeploy: [x]\n", "expected a mapping"),
    ("project: demo\nconfigVersion: 1.5\n", "configVersion must be 1"),
    ("project: demo\nconfigVersion: 1\n---\nartifact: t\nfrom: x\nfinal: false\n",
     "unknown key"),
    ("project: demo\nconfigVersion: 1\n---\nartifact: t\nfrom: x\ndependencies:\n"
     "- {image: t2, after: setup}\n---\nartifact: t2\nfrom: x\n", "no stage after setup"),
    ("project: demo\nconfigVersion: 1\n---\nimage: a\nfrom: x\nimport:\n"
     "- {artifact: t, stage: imageSpec, add: /x, after: install}\n---\nartifact: t\nfrom: x\n",
     "has no such stage"),
])
def test_meta_and_artifact_errors(text, fragment):
    assert fragment in str(error_of(text))


def test_numbers_where_strings_belong_and_yaml_types_json_cannot_hold():
    for body in ("from: 12\n", "from: x\nshell:\n  install: [true]\n",
                 "from: x\nimport:\n- {image: a, add: 1, after: install}\n",
                 "from: x\nlabel: 2001-01-01\n", "from: x\nfinal: .nan\n"):
        with pytest.raises(ConfigError):
            parse_config(META + "---\nimage: b\n" + body + "---\nimage: a\nfrom: x\n")
    with pytest.raises(ConfigError, match="duplicate key"):
        parse_config(META + "---\nimage: a\nfrom: x\ndocker:\n  ENV: {A: '1', A: '2'}\n")


def test_signatures_output_has_one_entry_per_image_and_platform():
    from werfpull.cli import views

    chains = signed(META + "---\nimage: a\nfrom: x\nplatform: [linux/amd64, linux/arm64]\n"
                    "---\nimage: b\nfrom: x\n")
    out = json.loads(views.signatures_json("demo", chains))
    assert [(i["name"], i["platform"]) for i in out["images"]] == [
        ("a", "linux/amd64"), ("a", "linux/arm64"), ("b", None)]
    assert out["images"][0]["final"] != out["images"][1]["final"]
    text = views.signatures_text("demo", chains)
    assert "image a [linux/amd64]\n" in text and "image a [linux/arm64]\n" in text
    assert "image b\n" in text
