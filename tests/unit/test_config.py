"""werf.yaml parsing (spec section 1): every mistake is one located line, and the
normal forms the signatures rely on."""

from __future__ import annotations

import dataclasses

import pytest

from werfpull.config import yamldoc
from werfpull.config.load import load_config, parse_config
from werfpull.errors import EXIT_CONFIG, ConfigError

PATH = "conf/werf.yaml"
META = "project: demo\nconfigVersion: 1\n"  # lines 1-2; a following "---" is line 3


def parse(text: str):
    return parse_config(text, PATH)


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text)
    return info.value


def image(text: str, name="a"):
    return parse(text).get(name)


def body_fields(img) -> dict:
    """An image's fields that come from its body (not its name or place in the file)."""
    skip = {"name", "document", "line", "from_line"}
    return {f.name: getattr(img, f.name) for f in dataclasses.fields(img) if f.name not in skip}


# -- errors: (id, config text, line, key or None, fragment of the message) --------------

ERRORS = [
    ("yaml-syntax", META + "---\nimage: a\nfrom: x\n  bad: y\n", 6, None,
     "YAML syntax error"),
    ("yaml-syntax-later-document", META + "---\nimage: a\nfrom: x\n---\nimage: b\nfrom: [y\n",
     9, None, "document 3"),
    ("duplicate-key", META + "---\nimage: a\nfrom: x\nshell: {}\nfrom: y\n", 7, "from",
     "duplicate key (first on line 5)"),
    ("duplicate-nested-key", META + "---\nimage: a\nfrom: x\nshell:\n  install: a\n"
     "  install: b\n", 8, "install", "first on line 7"),
    ("unknown-top", META + "---\nimage: a\nfrom: x\nshel: {}\n", 6, "shel",
     "did you mean 'shell'?"),
    ("unknown-meta", "project: demo\nconfigVersion: 1\nprojet: x\n", 3, "projet",
     "did you mean 'project'?"),
    ("unknown-shell", META + "---\nimage: a\nfrom: x\nshell:\n  instal: make\n", 7,
     "shell.instal", "did you mean 'install'?"),
    ("unknown-ansible", META + "---\nimage: a\nfrom: x\nansible:\n  setu: []\n", 7,
     "ansible.setu", "did you mean 'setup'?"),
    ("unknown-git", META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n  includePath: a\n", 8,
     "git[0].includePath", "did you mean 'includePaths'?"),
    ("unknown-stage-dependencies", META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n"
     "  stageDependencies:\n    instal: '*'\n", 9, "git[0].stageDependencies.instal",
     "did you mean 'install'?"),
    ("stage-dependencies-before-install", META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n"
     "  stageDependencies:\n    beforeInstall: '*'\n", 9,
     "git[0].stageDependencies.beforeInstall", "unknown key"),
    ("unknown-import", META + "---\nimage: a\nfrom: x\nimport:\n- artifact: b\n  add: /o\n"
     "  after: install\n  too: /t\n---\nartifact: b\nfrom: y\n", 10, "import[0].too",
     "did you mean 'to'?"),
    ("unknown-mount", META + "---\nimage: a\nfrom: x\nmount:\n- fromPth: /c\n  to: /c\n", 7,
     "mount[0].fromPth", "did you mean 'fromPath'?"),
    ("unknown-docker", META + "---\nimage: a\nfrom: x\ndocker:\n  EXPOSED: 80\n", 7,
     "docker.EXPOSED", "did you mean 'EXPOSE'?"),
    ("docker-in-artifact", META + "---\nartifact: a\nfrom: x\ndocker:\n  EXPOSE: 80\n", 6,
     "docker", "unknown key"),
    ("install-integer", META + "---\nimage: a\nfrom: x\nshell:\n  install: 1\n", 7,
     "shell.install", "expected a string or a list of strings, got an integer"),
    ("install-item-integer", META + "---\nimage: a\nfrom: x\nshell:\n  install:\n  - ok\n"
     "  - 2\n", 9, "shell.install[1]", "expected a string, got an integer"),
    ("includePaths-mapping", META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n"
     "  includePaths: {a: 1}\n", 8, "git[0].includePaths", "got a mapping"),
    ("fromLatest-string", META + "---\nimage: a\nfrom: x\nfromLatest: 'true'\n", 6,
     "fromLatest", "expected true or false, got a string"),
    ("cacheVersion-boolean", META + "---\nimage: a\nfrom: x\nshell:\n  cacheVersion: true\n",
     7, "shell.cacheVersion", "expected a string or an integer, got a boolean"),
    ("fromCacheVersion-float", META + "---\nimage: a\nfrom: x\nfromCacheVersion: 1.5\n", 6,
     "fromCacheVersion", "got a float"),
    ("owner-list", META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n  owner: [1]\n", 8,
     "git[0].owner", "got a list"),
    ("from-integer", META + "---\nimage: a\nfrom: 3\n", 5, "from", "expected a string"),
    ("shell-list", META + "---\nimage: a\nfrom: x\nshell: [make]\n", 6, "shell",
     "expected a mapping, got a list"),
    ("ansible-task-string", META + "---\nimage: a\nfrom: x\nansible:\n  install:\n"
     "  - just a string\n", 8, "ansible.install[0]", "an ansible task must be a mapping"),
    ("from-and-fromImage", META + "---\nimage: b\nfrom: y\n---\nimage: a\nfrom: x\n"
     "fromImage: b\n", 9, "fromImage", "only one of 'from', 'fromImage', 'fromArtifact'"),
    ("fromImage-and-fromArtifact", META + "---\nimage: a\nfromImage: b\nfromArtifact: c\n",
     6, "fromArtifact", "got fromImage, fromArtifact"),
    ("no-base", META + "---\nimage: a\nshell:\n  install: make\n", 4, None,
     "one of 'from', 'fromImage', 'fromArtifact' is required"),
    ("shell-and-ansible", META + "---\nimage: a\nfrom: x\nshell: {}\nansible: {}\n", 7,
     "ansible", "at most one of 'shell' and 'ansible'"),
    ("fromImage-names-artifact", META + "---\nartifact: b\nfrom: y\n---\nimage: a\n"
     "shell: {}\nfromImage: b\n", 9, "fromImage", "'b' is an artifact"),
    ("fromArtifact-names-image", META + "---\nimage: b\nfrom: y\n---\nimage: a\n"
     "fromArtifact: b\n", 8, "fromArtifact", "references unknown artifact 'b'"),
    ("unknown-import-source", META + "---\nartifact: builder\nfrom: y\n---\nimage: a\nfrom: x\n"
     "import:\n- artifact: buidler\n  add: /o\n  after: install\n", 10, "import[0].artifact",
     "did you mean 'builder'?"),
    ("import-before-and-after", META + "---\nimage: a\nfrom: x\nimport:\n- artifact: b\n"
     "  add: /o\n  before: install\n  after: setup\n", 7, "import[0]",
     "exactly one of 'before' and 'after'"),
    ("import-neither", META + "---\nimage: a\nfrom: x\nimport:\n- artifact: b\n  add: /o\n",
     7, "import[0]", "exactly one of 'before' and 'after'"),
    ("import-bad-stage", META + "---\nimage: a\nfrom: x\nimport:\n- artifact: b\n  add: /o\n"
     "  before: beforeSetup\n", 9, "import[0].before", "must be install or setup"),
    ("import-image-and-artifact", META + "---\nimage: a\nfrom: x\nimport:\n- artifact: b\n"
     "  image: c\n  add: /o\n  after: setup\n", 7, "import[0]",
     "exactly one of 'image', 'artifact'"),
    ("import-without-add", META + "---\nimage: a\nfrom: x\nimport:\n- artifact: b\n"
     "  after: setup\n", 7, "import[0].add", "'add' is required"),
    ("git-without-to", META + "---\nimage: a\nfrom: x\ngit:\n- add: /src\n", 7, "git[0].to",
     "'to' is required"),
    ("branch-without-url", META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n  branch: main\n",
     8, "git[0].branch", "only for a remote repository"),
    ("commit-without-url", META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n"
     "  commit: abc\n", 8, "git[0].commit", "only for a remote repository"),
    ("mount-bad-from", META + "---\nimage: a\nfrom: x\nmount:\n- from: /host\n  to: /c\n", 7,
     "mount[0].from", "tmp_dir or build_dir"),
    ("mount-from-and-fromPath", META + "---\nimage: a\nfrom: x\nmount:\n- from: tmp_dir\n"
     "  fromPath: /c\n  to: /c\n", 7, "mount[0]", "exactly one of 'from' and 'fromPath'"),
    ("mount-same-to", META + "---\nimage: a\nfrom: x\nmount:\n- {from: tmp_dir, to: /c}\n"
     "- {fromPath: /h, to: /c}\n", 6, "mount", "same 'to'"),
    ("fromLatest-without-from", META + "---\nimage: b\nfrom: y\n---\nimage: a\nfromImage: b\n"
     "fromLatest: true\n", 9, "fromLatest", "fromLatest needs 'from'"),
    ("duplicate-image", META + "---\nimage: a\nfrom: x\n---\nimage: a\nfrom: y\n", 7, None,
     "image 'a' is declared twice (first in document 2)"),
    ("duplicate-across-kinds", META + "---\nimage: a\nfrom: x\n---\nartifact: a\nfrom: y\n", 7,
     None, "artifact 'a' is declared twice"),
    ("image-list-duplicate", META + "---\nimage: [a, a]\nfrom: x\n", 4, None,
     "declared twice"),
    ("two-unnamed", META + "---\nimage: ~\nfrom: x\n---\nimage:\nfrom: y\n", 7, None,
     "the unnamed image is declared twice"),
    ("artifact-null", META + "---\nartifact: ~\nfrom: x\n", 4, "artifact",
     "an artifact needs a name"),
    ("image-empty-list", META + "---\nimage: []\nfrom: x\n", 4, "image",
     "non-empty list of names"),
    ("image-name-empty", META + "---\nimage: ''\nfrom: x\n", 4, "image", "must not be empty"),
    ("image-and-artifact", META + "---\nimage: a\nartifact: b\nfrom: x\n", 4, None,
     "'image' and 'artifact' together"),
    ("neither-image-nor-artifact", META + "---\nfrom: x\n", 4, None,
     "exactly one of 'image' or 'artifact'"),
    ("document-not-mapping", META + "---\n- image: a\n", 4, None, "expected a mapping"),
    ("meta-no-project", "configVersion: 1\n", 1, "project", "'project' is required"),
    ("meta-empty-project", "project: ''\nconfigVersion: 1\n", 1, "project",
     "must not be empty"),
    ("meta-configVersion-2", "project: demo\nconfigVersion: 2\n", 2, "configVersion",
     "configVersion must be 1, not 2"),
    ("meta-configVersion-string", "project: demo\nconfigVersion: '1'\n", 2, "configVersion",
     "not '1'"),
    ("meta-configVersion-true", "project: demo\nconfigVersion: true\n", 2, "configVersion",
     "not True"),
    ("meta-configVersion-missing", "project: demo\n", 1, "configVersion",
     "'configVersion' is required"),
    ("first-document-image", "image: a\nfrom: x\n---\n" + META, 1, "image",
     "the first document must be the meta document"),
    ("template", META + "---\nimage: a\nfrom: x\nshell:\n  install: echo {{ .Values.x }}\n", 7,
     None, "Go template"),
    ("timestamp", META + "---\nimage: a\nfrom: x\ndocker:\n  LABEL:\n    built: 2020-01-01\n",
     8, "docker.LABEL.built", "JSON cannot hold"),
    ("binary", META + "---\nimage: a\nfrom: x\nfromCacheVersion: !!binary aGVsbG8=\n", 6,
     "fromCacheVersion", "JSON cannot hold"),
    ("integer-key", META + "---\nimage: a\nfrom: x\ndocker:\n  ENV:\n    1: x\n", 8, "1",
     "mapping key 1 is a int, not a string"),
    ("boolean-key", META + "---\nimage: a\nfrom: x\nyes: x\n", 6, "yes",
     "mapping key True is a bool"),
    ("null-key", META + "---\nimage: a\nfrom: x\n~: x\n", 6, "~", "not a string"),
    ("collection-key", META + "---\nimage: a\nfrom: x\n? [a]\n: x\n", 6, None,
     "a mapping key must be a string"),
    ("nan", META + "---\nimage: a\nfrom: x\ndocker:\n  LABEL: {v: .nan}\n", 7,
     "docker.LABEL.v",
     "NaN or infinity"),
    ("infinity", META + "---\nimage: a\nfrom: x\nfromCacheVersion: -.inf\n", 6,
     "fromCacheVersion", "NaN or infinity"),
    ("omap", META + "---\nimage: a\nfrom: x\nmount: !!omap [{a: 1}]\n", 6, None,
     "cannot be held by JSON"),
    ("set", META + "---\nimage: a\nfrom: x\ndocker: !!set {a}\n", 6, None,
     "cannot be held by JSON"),
    ("python-tag", META + "---\nimage: a\nfrom: !!python/name:os.system x\n", 5, None,
     "could not determine a constructor"),
    ("self-alias", META + "---\nimage: a\nfrom: x\nmount: &m [*m]\n", 6, None,
     "alias refers to itself"),
    ("cycle", META + "---\nimage: a\nfromImage: b\n---\nimage: b\nfromImage: a\n", 4, None,
     "reference cycle: a -> b -> a"),
    ("self-reference", META + "---\nimage: a\nfromImage: a\n", 4, None,
     "reference cycle: a -> a"),
    ("cycle-through-import", META + "---\nimage: a\nfrom: x\nimport:\n- artifact: c\n"
     "  add: /o\n  after: setup\n---\nartifact: c\nfromImage: a\n", 4, None,
     "a -> c -> a"),
]


@pytest.mark.parametrize("text, line, key, fragment", [e[1:] for e in ERRORS],
                         ids=[e[0] for e in ERRORS])
def test_config_error_is_located(text, line, key, fragment):
    err = error_of(text)
    msg = str(err)
    assert msg.startswith(f"{PATH}:{line}: "), msg
    assert err.line == line
    assert fragment in msg
    if key is not None:
        assert f"key {key!r}" in msg, msg
    assert "\n" not in msg
    assert err.exit_code == EXIT_CONFIG


def test_error_names_the_document_and_its_images():
    msg = str(error_of(META + "---\nimage: [a, b]\nfrom: x\nshel: {}\n"))
    assert "document 2 (image a, b), key 'shel'" in msg
    msg = str(error_of(META + "---\nimage: ~\nfrom: x\nshel: {}\n"))
    assert "document 2 (image ~), key 'shel'" in msg
    msg = str(error_of("project: demo\nconfigVersion: 3\n"))
    assert "document 1 (meta), key 'configVersion'" in msg


def test_document_numbers_count_empty_documents():
    msg = str(error_of(META + "---\n---\n---\nimage: a\nfrom: x\nshel: {}\n"))
    assert msg.startswith(f"{PATH}:8: document 4 (image a)"), msg


def test_unknown_key_without_near_match_lists_the_keys():
    msg = str(error_of(META + "---\nimage: a\nfrom: x\nqqqqq: 1\n"))
    assert "expected one of: image, from, fromImage" in msg


def test_unknown_reference_without_near_match_has_no_hint():
    msg = str(error_of(META + "---\nimage: a\nfromImage: zzzzzz\n"))
    assert msg == f"{PATH}:5: document 2, key 'fromImage': image 'a' references unknown" \
        " image 'zzzzzz'"


def test_a_registry_reference_where_a_config_image_belongs_says_how_to_write_it():
    msg = str(error_of(META + "---\nimage: a\nfromImage: alpine@sha256:" + "0" * 64 + "\n"))
    assert msg.endswith("(fromImage names an image of this config; for a registry image"
                        " write from: alpine@sha256:" + "0" * 64 + ")"), msg
    msg = str(error_of(META + "---\nimage: a\nfrom: x\nimport:\n- image: ghcr.io/jq:1.7\n"
                       "  add: /jq\n  before: install\n"))
    assert "key 'import[0].image'" in msg and msg.endswith(
        "write import[0].from: ghcr.io/jq:1.7)"), msg


def test_from_naming_an_image_of_the_config_is_signed_as_the_spec_says_and_said(caplog):
    """werf 2 would build on the config's image; spec section 1 reads `from` as a registry
    reference. The signature follows the spec, and the user is told."""
    text = META + "---\nimage: base\nfrom: alpine\n---\nimage: app\nfrom: base\n"
    with caplog.at_level("WARNING", logger="werfpull.config"):
        config = parse(text)
    assert config.get("app").from_ == "base" and config.get("app").from_image is None
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 1 and warned[0].startswith(f"{PATH}:7: document 3, key 'from': ")
    assert "(write fromImage: base to build on the config's image)" in warned[0]
    caplog.clear()
    with caplog.at_level("WARNING", logger="werfpull.config"):
        parse(META + "---\nimage: base\nfrom: alpine\n---\nimage: app\nfrom: other\n")
    assert not caplog.records


def test_cycle_is_found_by_parse_and_reported_once():
    text = META + "---\nimage: a\nfromImage: b\n---\nimage: b\nfromImage: c\n---\n" \
        "image: c\nfromImage: a\n"
    assert "a -> b -> c -> a" in str(error_of(text))


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n", "---\n---\n", "--- ~\n"])
def test_empty_config(text):
    msg = str(error_of(text))
    assert msg.startswith(f"{PATH}: "), msg
    assert "empty" in msg


def test_template_reports_the_line_of_the_braces_even_in_a_comment():
    err = error_of(META + "# {{ a comment }}\n---\nimage: a\nfrom: x\n")
    assert err.line == 3
    assert "render the template to plain YAML first" in str(err)


def test_alias_bomb_is_refused():
    # Nine levels of nine aliases expand to 9**9 values; the bound stops it early.
    lines = [META + "---", "a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    err = error_of("\n".join(lines) + "\n")
    assert f"more than {yamldoc.MAX_NODES} values" in str(err)
    assert err.line == 4  # the document's line: the whole document is too big


def test_deep_nesting_is_a_config_error():
    err = error_of(META + "---\n" + "[" * 5000 + "]" * 5000 + "\n")
    assert "nests too deeply" in str(err)
    assert "document 2" in str(err)


def test_non_utf8_file(tmp_path):
    (tmp_path / "werf.yaml").write_bytes(
        (META + "---\nimage: a\nfrom: x\n").encode() + b"# caf\xe9\n")
    with pytest.raises(ConfigError) as info:
        load_config(str(tmp_path))
    assert str(info.value).startswith(f"{tmp_path / 'werf.yaml'}:6: ")
    assert "not valid UTF-8" in str(info.value)


def test_load_config_finds_werf_yml_and_explicit_config(tmp_path):
    (tmp_path / "werf.yml").write_text(META)
    assert load_config(str(tmp_path)).path == str(tmp_path / "werf.yml")
    (tmp_path / "other.yaml").write_text("project: other\nconfigVersion: 1\n")
    cfg = load_config(str(tmp_path), "other.yaml")
    assert (cfg.project, cfg.path) == ("other", str(tmp_path / "other.yaml"))
    with pytest.raises(ConfigError, match="no such config file"):
        load_config(str(tmp_path), "missing.yaml")
    with pytest.raises(ConfigError, match="no werf.yaml here"):
        load_config(str(tmp_path / "nowhere"))


# -- normal forms -----------------------------------------------------------------------


def test_minimal_config():
    cfg = parse(META + "---\nimage: a\nfrom: alpine\n")
    assert cfg.project == "demo"
    [img] = cfg.images
    assert (img.name, img.kind, img.from_, img.from_image, img.from_artifact) == \
        ("a", "image", "alpine", None, None)
    assert img.builder == "shell"
    assert img.instructions == {s: [] for s in ("beforeInstall", "install", "beforeSetup",
                                                "setup")}
    assert img.git == img.mounts == img.imports == ()
    assert img.docker is None and img.cache_version is None and not img.from_latest
    assert (img.document, img.line) == (2, 4)


def test_meta_only_config_has_no_images():
    assert parse(META).images == []


def test_image_list_declares_images_with_one_body():
    cfg = parse(META + "---\nimage: [a, b]\nfrom: alpine\nshell:\n  install: make\n")
    a, b = cfg.images
    assert (a.name, b.name) == ("a", "b")
    assert body_fields(a) == body_fields(b)
    assert a.instructions["install"] == ["make"]


def test_unnamed_image():
    cfg = parse(META + "---\nimage: ~\nfrom: alpine\n")
    [img] = cfg.images
    assert img.name is None and img.kind == "image"
    assert img.label == "the unnamed image"
    assert cfg.get(None) is img


def test_unnamed_image_next_to_named_ones_is_accepted():
    # The spec does not forbid it; the code accepts it and signs both.
    cfg = parse(META + "---\nimage:\nfrom: alpine\n---\nimage: b\nfrom: x\n")
    assert [i.name for i in cfg.images] == [None, "b"]


def test_explicit_null_equals_absent():
    with_nulls = image(META + "---\nimage: a\nfrom: alpine\nfromImage: ~\nfromArtifact:\n"
                       "fromLatest: ~\nfromCacheVersion: ~\ngit: ~\nshell: ~\nansible: ~\n"
                       "mount: ~\nimport: ~\ndocker: ~\n")
    plain = image(META + "---\nimage: a\nfrom: alpine\n")
    assert body_fields(with_nulls) == body_fields(plain)
    nested = image(META + "---\nimage: a\nfrom: x\nshell:\n  install: ~\n  cacheVersion: ~\n"
                   "git:\n- to: /app\n  add: ~\n  includePaths: ~\n  stageDependencies: ~\n"
                   "docker:\n  EXPOSE: ~\n")
    assert nested.instructions["install"] == [] and nested.cache_version is None
    assert nested.git[0].add == "/" and nested.git[0].include_paths == ()
    assert nested.git[0].stage_dependencies == {}
    assert nested.docker is None  # a docker mapping of nulls has no key


def test_null_shell_does_not_clash_with_ansible():
    img = image(META + "---\nimage: a\nfrom: x\nshell: ~\nansible:\n  install:\n"
                "  - apt: {name: git}\n")
    assert img.builder == "ansible"
    assert img.instructions["install"] == [{"apt": {"name": "git"}}]


def test_string_or_list_normal_form():
    img = image(META + "---\nimage: a\nfrom: x\nshell:\n  install: make\n  setup: [b, a]\n"
                "git:\n- to: /app\n  includePaths: src\n  excludePaths: [z, B, a]\n"
                "  stageDependencies:\n    install: '*.go'\n    setup: [z, b, a]\n")
    assert img.instructions["install"] == ["make"]
    assert img.instructions["setup"] == ["b", "a"]  # instructions keep their order
    m = img.git[0]
    assert m.include_paths == ("src",)
    assert m.exclude_paths == ("B", "a", "z")  # sorted by code point
    assert m.stage_dependencies == {"install": ("*.go",), "setup": ("a", "b", "z")}


def test_sorting_is_by_code_point():
    img = image(META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n"
                "  includePaths: ['é', 'z', 'Z', '_', 'a']\n")
    assert img.git[0].include_paths == ("Z", "_", "a", "z", "é")


def test_cache_versions_and_owner_become_strings():
    img = image(META + "---\nimage: a\nfrom: x\nfromCacheVersion: 2\nshell:\n"
                "  cacheVersion: 10\n  installCacheVersion: v1\n  setupCacheVersion: 0x1f\n"
                "git:\n- to: /app\n  owner: 0755\n  group: wheel\n"
                "import:\n- artifact: b\n  add: /o\n  after: install\n  owner: 0\n"
                "---\nartifact: b\nfrom: y\n")
    assert img.from_cache_version == "2"
    assert img.cache_version == "10"
    assert img.stage_cache_versions == {"beforeInstall": None, "install": "v1",
                                        "beforeSetup": None, "setup": "31"}
    assert (img.git[0].owner, img.git[0].group) == ("493", "wheel")  # 0755 is octal
    assert (img.imports[0].owner, img.imports[0].group) == ("0", None)


def test_yaml_11_booleans():
    img = image(META + "---\nimage: a\nfrom: x\nfromLatest: yes\n")
    assert img.from_latest is True
    img = image(META + "---\nimage: a\nfrom: x\nfromLatest: off\n")
    assert img.from_latest is False


def test_git_defaults_and_line():
    img = image(META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n- add: /src\n  to: /s\n"
                "  url: https://example.com/r.git\n  branch: main\n")
    first, second = img.git
    assert (first.index, first.add, first.to, first.url, first.line) == (0, "/", "/app", None, 7)
    assert (second.index, second.add, second.url, second.branch, second.line) == \
        (1, "/src", "https://example.com/r.git", "main", 8)
    assert first.owner is None and first.group is None and first.tag is None


def test_import_defaults():
    cfg = parse(META + "---\nimage: a\nfrom: x\nimport:\n- artifact: b\n  add: /out\n"
                "  after: install\n- image: c\n  add: /etc\n  to: /etc2\n  before: setup\n"
                "  includePaths: [y, x]\n---\nartifact: b\nfrom: y\n---\nimage: c\nfrom: z\n")
    one, two = cfg.get("a").imports
    assert (one.artifact, one.image, one.add, one.to, one.stage, one.source) == \
        ("b", None, "/out", "/out", "importsAfterInstall", "b")
    assert (two.image, two.to, two.stage, two.include_paths) == \
        ("c", "/etc2", "importsBeforeSetup", ("x", "y"))
    assert one.line == 7


@pytest.mark.parametrize("when, stage, expected", [
    ("before", "install", "importsBeforeInstall"), ("after", "install", "importsAfterInstall"),
    ("before", "setup", "importsBeforeSetup"), ("after", "setup", "importsAfterSetup")])
def test_import_stage_names(when, stage, expected):
    img = image(META + f"---\nimage: a\nfrom: x\nimport:\n- artifact: b\n  add: /o\n"
                f"  {when}: {stage}\n---\nartifact: b\nfrom: y\n")
    assert img.imports[0].stage == expected


def test_mounts_sorted_by_to():
    img = image(META + "---\nimage: a\nfrom: x\nmount:\n- {from: build_dir, to: /z}\n"
                "- {fromPath: /host, to: /a}\n")
    assert [(m.from_, m.from_path, m.to) for m in img.mounts] == \
        [(None, "/host", "/a"), ("build_dir", None, "/z")]


def test_docker_kept_as_loaded():
    img = image(META + "---\nimage: a\nfrom: x\ndocker:\n  EXPOSE: 80\n  ENV: {B: '1', A: ~}\n")
    assert img.docker == {"EXPOSE": 80, "ENV": {"B": "1"}}  # nulls dropped at any depth
    assert image(META + "---\nimage: a\nfrom: x\ndocker: {}\n").docker is None


def test_merge_keys():
    img = image(META + "---\nimage: a\nfrom: x\ngit:\n- &m {add: /src, to: /app, owner: 1}\n"
                "- <<: *m\n  to: /other\nshell:\n  <<: {install: make, setup: run}\n"
                "  setup: override\n")
    first, second = img.git
    assert (second.add, second.to, second.owner) == ("/src", "/other", "1")
    assert (first.add, first.to) == ("/src", "/app")
    assert img.instructions["install"] == ["make"]
    assert img.instructions["setup"] == ["override"]  # the mapping's own key wins


def test_merged_unknown_key_is_still_an_error():
    err = error_of(META + "---\nimage: a\nfrom: x\ngit:\n- &m {add: /src, to: /a, bad: 1}\n")
    assert "key 'git[0].bad'" in str(err)


def test_empty_documents_are_skipped():
    cfg = parse("---\n" + META + "---\n---\nimage: a\nfrom: x\n---\n# nothing\n---\n"
                "image: b\nfrom: y\n...\n")
    assert [(i.name, i.document) for i in cfg.images] == [("a", 3), ("b", 5)]


def test_empty_stage_dependencies_list_is_no_dependency():
    img = image(META + "---\nimage: a\nfrom: x\ngit:\n- to: /app\n  stageDependencies:\n"
                "    install: []\n    setup: '*'\n")
    assert img.git[0].stage_dependencies == {"setup": ("*",)}


def test_quoted_values_that_look_like_other_types():
    img = image(META + "---\nimage: a\nfrom: x\nfromCacheVersion: '2020-01-01'\n"
                "shell:\n  install: ['yes', '1', 'null']\n")
    assert img.from_cache_version == "2020-01-01"
    assert img.instructions["install"] == ["yes", "1", "null"]


def test_order_puts_references_first():
    cfg = parse(META + "---\nimage: app\nfromImage: base\nimport:\n- artifact: tool\n"
                "  add: /o\n  after: install\n---\nimage: base\nfrom: alpine\n---\n"
                "artifact: tool\nfromArtifact: deps\n---\nartifact: deps\nfrom: golang\n")
    assert [i.name for i in cfg.images] == ["app", "base", "tool", "deps"]
    order = [i.name for i in cfg.order()]
    assert order.index("base") < order.index("app")
    assert order.index("deps") < order.index("tool") < order.index("app")
    assert sorted(order) == sorted(["app", "base", "tool", "deps"])
    assert [i.name for i in cfg.needed_closure(["tool"])] == ["tool", "deps"]


def test_config_digest_is_of_the_text():
    import hashlib

    text = META + "---\nimage: a\nfrom: x\n"
    assert parse(text).digest == "sha256:" + hashlib.sha256(text.encode()).hexdigest()
