"""Templated werf.yaml (issue 7): the Go text/template renderer, werf's functions and
data, and the config, signatures and CLI that read the rendered YAML.

The corpus in tests/templates/ pairs each templated config (NAME.werf.yaml) with its
expected render (NAME.rendered.yaml), written by hand from Go's semantics; the partials
and files they read are under tests/templates/project/.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.git import GitRepo, new_repo
from werfpull.cli import main as cli
from werfpull.config.load import load_config, parse_config, render_config
from werfpull.errors import EXIT_CONFIG, ConfigError
from werfpull.gotemplate import StaticFiles, TemplateError, render_werf_config
from werfpull.project import load_project
from werfpull.tools import git as gitfiles

HERE = Path(__file__).resolve().parents[1] / "templates"
PROJECT = HERE / "project"
CASES = sorted(p.name[: -len(".werf.yaml")] for p in HERE.glob("*.werf.yaml"))
ENV = {"BASE_IMAGE": "debian:12", "EMPTY_VAR": "", "WERF_ENV": "staging"}
COMMIT = ("4b825dc642cb6eb9a060e54bf8d69288fbee4904", "1700000000")
META = "project: p\nconfigVersion: 1\n"


def project_files() -> dict[str, str]:
    return {str(p.relative_to(PROJECT)): p.read_text() for p in PROJECT.rglob("*")
            if p.is_file()}


def render(text: str, files: dict | None = None, environ: dict | None = None,
           path: str = "werf.yaml") -> str:
    return render_werf_config(text, path, str(PROJECT), files=StaticFiles(files or {}, COMMIT),
                              environ=ENV if environ is None else environ)


def make_repo(tmp_path: Path, name: str) -> GitRepo:
    return new_repo(tmp_path / name, tmp_path / f"home-{name}")


@pytest.fixture
def environ(monkeypatch):
    """The process environment of the corpus, for renders through load_config and the CLI."""
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("UNSET_VAR", raising=False)


# -- the corpus -------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES)
def test_corpus_renders_as_go_does(case):
    text = (HERE / f"{case}.werf.yaml").read_text()
    expected = (HERE / f"{case}.rendered.yaml").read_text()
    assert render(text, project_files()) == expected
    # Every render is a valid config, and reading it is what the signatures use.
    config = parse_config(expected, f"{case}.werf.yaml", rendered=True)
    assert config.images


def test_the_corpus_covers_every_case():
    assert len(CASES) == 9
    for case in CASES:
        assert (HERE / f"{case}.rendered.yaml").is_file(), case


def test_corpus_renders_the_same_through_git(tmp_path, environ):
    """Partials, .Files and .Commit read from a real commit give the hand-written renders."""
    repo = make_repo(tmp_path, "corpus")
    shutil.copytree(PROJECT, repo.path, dirs_exist_ok=True)
    for case in ("05-templates", "08-werf"):
        shutil.copy(HERE / f"{case}.werf.yaml", repo.path / f"{case}.werf.yaml")
    repo.env["GIT_AUTHOR_DATE"] = "@1700000000 +0300"
    head = repo.commit()
    for case in ("05-templates", "08-werf"):
        path, text = render_config(str(repo.path), f"{case}.werf.yaml")
        expected = (HERE / f"{case}.rendered.yaml").read_text().replace(COMMIT[0], head)
        assert (path, text) == (str(repo.path / f"{case}.werf.yaml"), expected)


# -- Go semantics where a render depends on them ----------------------------------------


@pytest.mark.parametrize("template,expected", [
    ("{{ .Values.x }}|{{ .Nope.Deeper }}", "<no value>|<no value>"),
    ('{{ $d := dict "a" nil }}{{ $d.a }}|{{ print $d.a }}', "<no value>|<nil>"),
    ('{{ eq .Nope "" }} {{ eq .Nope .Other }}', "false true"),
    ('{{ and 0 (fail "never evaluated") }} {{ or 1 (fail "never evaluated") }}', "0 1"),
    ('{{ if $x := "v" }}{{ $x }}{{ end }}', "v"),
    ("{{ $x := list 1 }}{{ range $x }}{{ $x := 2 }}{{ $x }}{{ end }}{{ $x }}", "2[1]"),
    ("{{ $x := 1 }}{{ range list 5 }}{{ $x = . }}{{ end }}{{ $x }}", "5"),
    ('{{ range $k, $v := dict "b" 2 "a" 1 "c" 3 }}{{ $k }}{{ $v }}{{ end }}', "a1b2c3"),
    ('{{ range $i, $e := list "a" "b" }}{{ if $i }},{{ end }}{{ $e }}{{ end }}', "a,b"),
    ("{{ range $i, $e := list }}x{{ else }}{{ $e }}{{ end }}", "[]"),
    ("{{ 0x1F }} {{ 017 }} {{ 0o17 }} {{ 0b101 }} {{ 1_000 }} {{ 'a' }} {{ 1.0 }} {{ 1e3 }}",
     "31 15 15 5 1000 97 1 1000"),
    ('{{ `raw\\n{{ x }}` }}|{{ "\\u00e9\\x41\\101\\t." }}', "raw\\n{{ x }}|\u00e9AA\t."),
    ('{{ printf "%v %v %v %v" 123456.0 1234567.0 0.0001 0.00001 }}',
     "123456 1.234567e+06 0.0001 1e-05"),
    ('{{ template "t" }}{{ define "t" }}{{ . }}{{ .x }}{{ end }}', "<no value><no value>"),
    ('{{ include "t" nil }}{{ define "t" }}{{ .x }}{{ end }}', "<no value>"),
    ('{{ define "t" }}x{{ end }}{{ define "t" }} {{ end }}{{ template "t" }}', "x"),
    ('{{ "a" | printf "%s|%s" "b" }}', "b|a"),
    ('{{ index (dict) "x" }}|{{ index (split "," "a") "_5" | quote }}', '<no value>|""'),
    ("{{ has 1 (list (add 0 1)) }} {{ eq 1 (add 0 1) }}", "false true"),
    ('{{ len "\u00e9" }} {{ len (list 1 2) }}', "2 2"),
    ("{{ toJson (rest (list)) }} {{ toJson (list) }} {{ rest (list) }}", "null [] []"),
    ('{{ with dict }}set{{ else }}empty{{ end }} {{ with "x" }}{{ . }}{{ end }}', "empty x"),
    ('{{ keys (dict "b" 1 "a" 2) }}', "[a b]"),
    ('{{ $_ := set . "Branch" "main" }}{{ .Branch }}', "main"),
    ('{{ "a" | }}', "a"),
])
def test_go_semantics(template, expected):
    assert render(template) == expected


def test_tpl_defines_join_the_template_set():
    assert render('{{ tpl "{{ define \\"z\\" }}Z{{ end }}" . }}{{ include "z" . }}') == "Z"


def test_env_reads_the_process_environment(monkeypatch):
    monkeypatch.setenv("WERFPULL_TEST_VAR", "from-env")
    monkeypatch.delenv("WERFPULL_TEST_UNSET", raising=False)
    text = '{{ env "WERFPULL_TEST_VAR" }} [{{ env "WERFPULL_TEST_UNSET" }}]'
    assert render_werf_config(text, "werf.yaml", ".", files=StaticFiles()) == "from-env []"


# -- errors: file, line, column and construct, never a silent render -------------------


@pytest.mark.parametrize("template,line,column,message", [
    ("project: x\n{{ nosuch }}\n", 2, 4, 'function "nosuch" not defined'),
    ("{{ now }}", 1, 4, 'function "now" is not supported by werfpull'),
    ('{{ uuidv4 }}', 1, 4, 'function "uuidv4" is not supported'),
    ('{{ regexFind "a(" "b" }}', 1, 4,
     "error calling regexFind: error parsing regexp: missing closing ): `a(`"),
    ('{{ semverCompare "^1.x" "one" }}', 1, 4,
     "error calling semverCompare: Invalid Semantic Version"),
    ('{{ semverCompare "=>>1" "1.0.0" }}', 1, 4,
     "error calling semverCompare: improper constraint: =>>1"),
    ('{{ expandenv "$HOME" }}', 1, 4, 'function "expandenv" not defined'),
    ("a\n  {{ if true }}\nb\n", 2, 3, "unclosed {{if}}: no matching {{end}}"),
    ('x: {{ "abc }}', 1, 7, "unterminated quoted string"),
    ("x: {{ .a\n", 1, 4, "unclosed action"),
    ("{{/* open", 1, 1, "unclosed comment"),
    ("{{/* c */ }}", 1, 1, "comment ends before closing delimiter"),
    ("{{ /* c */ }}", 1, 4, 'unexpected "/" in command'),
    ("{{ else }}", 1, 1, "unexpected {{else}}"),
    ("x\n{{ end }}", 2, 1, "unexpected {{end}}"),
    ("{{ $x }}", 1, 4, 'undefined variable "$x"'),
    ("{{ 1 2 }}", 1, 4, "can't give argument to non-function 1"),
    ('{{ "x" | 1 }}', 1, 10, "non executable command in pipeline stage 2"),
    ("{{ break }}", 1, 4, "{{break}} outside {{range}}"),
    ('{{ define "a" }}1{{ end }}{{ define "a" }}2{{ end }}', 1, 27,
     'multiple definition of template "a"'),
    ("{{ range list 1 }}{{ else if 1 }}{{ end }}", 1, 19,
     "{{else if}} is not supported in {{range}}"),
    ("{{ if 1 }}{{ else with 1 }}{{ end }}", 1, 11, "{{else with}} is not supported"),
    ("{{ range $x = list }}{{ end }}", 1, 10, "range with '=' is not supported"),
    ("{{ 1+2i }}", 1, 4, "complex numbers are not supported"),
    ('{{ template "nope" }}', 1, 1, 'template "nope" not defined'),
    ('{{ include "nope" . }}', 1, 4, 'error calling include: template "nope" not defined'),
    ("{{ range 3 }}{{ end }}", 1, 10, "range can't iterate over 3"),
    ("{{ upper 5 }}", 1, 10, "expected string; found 5"),
    ("{{ upper .Nope }}", 1, 10, "invalid value; expected string"),
    ('{{ indent (add 1 1) "x" }}', 1, 11, "wrong type for value; expected int; got int64"),
    ('{{ $d := dict "a" nil }}{{ $d.a.b }}', 1, 28, "nil pointer evaluating interface {}.b"),
    ('{{ "s" | len | printf "%d" | .x }}', 1, 30, "x is not a method but has arguments"),
    ("{{ (list 1).x }}", 1, 4, "can't evaluate field x in type []interface {}"),
    ("{{ .Commit.Date.Human }}", 1, 4, ".Commit.Date.Human is not supported"),
    ('{{ .Files.Get "nope.txt" }}', 1, 4, "no such file in the commit HEAD"),
    ('{{ .Files.Get "../x" }}', 1, 4, "the path leaves the git repository"),
    ('{{ .Files.Get "/etc/passwd" }}', 1, 4, "no such file in the commit HEAD"),
    ('{{ .Files.Get "" }}', 1, 4, "the path must name a file of the project directory"),
    ('{{ .Files.Glob "images/[ab" }}', 1, 4,
     '{{ .Files.Glob "images/[ab" }}: bad glob: a class [ is not closed'),
    ('{{ .Files.Glob "images/{a,b" }}', 1, 4, "bad glob: a { is not closed"),
    ("{{ . }}", 1, 1, "cannot print map[string]interface {}: it holds .Commit"),
    ('{{ printf "%*d" 1 2 }}', 1, 4, "printf: %* in a format is not supported"),
    ('{{ substr 0 2 "h\u00e9llo" }}', 1, 4, "cutting a multi-byte character is not supported"),
    ('{{ env "A" "b" "c" }}', 1, 4, "more than 1 optional argument prohibited"),
    ('{{ tpl "{{ nope }}" . }}', 1, 4,
     'error calling tpl: the tpl text:1:4: function "nope" not defined'),
    ('x\n\n  {{ required "set BASE" (env "UNSET_VAR") }}', 3, 6,
     'error calling required: set BASE (the empty value comes from {{ env "UNSET_VAR" }}:'
     " UNSET_VAR is unset)"),
    ('{{ $v := env "UNSET_VAR" }}{{ $v | required "need it" }}', 1, 36,
     'need it (the empty value comes from {{ env "UNSET_VAR" }}: UNSET_VAR is unset)'),
    ('{{ fail "stop here" }}', 1, 4, "error calling fail: stop here"),
    ('{{ define "r" }}{{ template "r" . }}{{ end }}{{ template "r" }}', 1, 17,
     "templates nest deeper than 50 calls"),
])
def test_errors_name_file_line_column_and_construct(template, line, column, message):
    with pytest.raises(TemplateError) as info:
        render(template, environ={})
    err = info.value
    assert (err.file, err.line, err.column) == ("werf.yaml", line, column), str(err)
    assert message in str(err)
    assert str(err).startswith(f"werf.yaml:{line}:{column}: ")
    assert isinstance(err, ConfigError) and err.exit_code == EXIT_CONFIG


def test_errors_in_a_partial_name_the_partial():
    files = {".werf/bad.tmpl": '{{ define "bad" }}\nline 2 {{ fail "from the partial" }}'
                               "{{ end }}\n",
             ".werf/deep/req.tmpl": '{{ define "req" }}{{ required "need .x" .x }}{{ end }}'}
    with pytest.raises(TemplateError) as info:
        render('project: x\n{{ include "bad" . }}', files)
    assert (info.value.file, info.value.line, info.value.column) == (
        str(PROJECT / ".werf" / "bad.tmpl"), 2, 11)
    assert "error calling fail: from the partial" in str(info.value)
    with pytest.raises(TemplateError) as info:
        render('{{ include "req" (dict) }}', files)
    assert info.value.file == str(PROJECT / ".werf" / "deep" / "req.tmpl")
    assert (info.value.line, info.value.column) == (1, 22)
    assert "error calling required: need .x" in str(info.value)


def test_deep_nesting_is_a_config_error_not_a_crash():
    with pytest.raises(ConfigError, match="werf.yaml: the template nests too deeply"):
        render("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}")


def test_a_syntax_error_in_a_partial_fails_even_when_unused():
    files = {".werf/broken.tmpl": "ok\n{{ if }}\n"}
    with pytest.raises(TemplateError) as info:
        render("plain {{ 1 }}", files)
    assert (info.value.file, info.value.line) == (str(PROJECT / ".werf" / "broken.tmpl"), 2)
    assert "missing value for if" in str(info.value)


# -- integration: config, digest, signatures ----------------------------------------------


ASSETS = {"assets/backend/app.css": "body{}\n", "assets/frontend/app.js": "go()\n"}


def write_project(repo: GitRepo, werf_yaml: str, extra: dict | None = None) -> str:
    repo.write("werf.yaml", werf_yaml)
    for path, text in {**ASSETS, **(extra or {})}.items():
        repo.write(path, text)
    repo.commit()
    return str(repo.path)


def signatures(directory: str) -> list:
    return [s.to_json() for s in load_project(directory).signed]


def test_configs_that_render_alike_have_the_same_signatures(tmp_path, environ):
    template = (HERE / "09-realistic.werf.yaml").read_text()
    rendered = (HERE / "09-realistic.rendered.yaml").read_text()
    # The same YAML, written another way: comments, a partial, a range over a map.
    other = (
        '{{- /* written differently */ -}}\n'
        '{{ include "meta" . }}\n'
        "---\n"
        "artifact: assets\n"
        '{{ include "from" . }}\n'
        "git:\n"
        "- add: /\n  to: /src\n  includePaths: [\"assets\"]\n"
        "  stageDependencies:\n    install: [\"assets/**/*\"]\n"
        "shell:\n  install:\n  - cd /src && make assets\n"
        '{{- range $name, $_ := dict "frontend" 2 "backend" 1 }}\n'
        "---\n"
        "image: {{ $name }}\n"
        '{{ include "from" $ }}\n'
        "import:\n- artifact: assets\n  add: /src/assets/{{ $name }}\n  to: /app/public\n"
        "  after: install\n"
        "ansible:\n  install:\n  - name: install packages\n    apt:\n"
        '      name: "{{ $name }}-deps"\n'
        '    with_items: ["curl","{{ $name }}"]\n'
        "docker:\n  WORKDIR: /app\n  ENV:\n    SERVICE: {{ upper $name }}\n"
        "{{- end }}\n")
    partials = {".werf/meta.tmpl": '{{ define "meta" }}project: shop\nconfigVersion: 1'
                                   "{{ end }}",
                ".werf/from.tmpl": '{{ define "from" }}from: {{ env "BASE_IMAGE" }}{{ end }}'}
    dirs = [write_project(make_repo(tmp_path, "templated"), template),
            write_project(make_repo(tmp_path, "plain"), rendered),
            write_project(make_repo(tmp_path, "other"), other, partials)]
    configs = [load_config(d) for d in dirs]
    assert [c.text for c in configs] == [rendered] * 3
    assert {c.digest for c in configs} == {
        "sha256:" + hashlib.sha256(rendered.encode()).hexdigest()}
    sigs = [signatures(d) for d in dirs]
    assert sigs[0] == sigs[1] == sigs[2]
    assert [s["name"] for s in sigs[0]] == ["assets", "backend", "frontend"]


def test_what_files_contain_changes_the_render_and_the_signatures(tmp_path, environ):
    repo = make_repo(tmp_path, "p")
    text = (META + "---\nimage: a\nfrom: alpine\nshell:\n"
            '  install: {{ .Files.Get "install.sh" | quote }}\n')
    directory = write_project(repo, text, {"install.sh": "make v1\n"})
    before = signatures(directory)
    assert load_config(directory).text.endswith('install: "make v1\\n"\n')
    repo.write("install.sh", "make v2\n")
    assert signatures(directory) == before  # uncommitted: HEAD still says v1
    repo.commit()
    after = signatures(directory)
    assert after != before
    assert load_config(directory).text.endswith('install: "make v2\\n"\n')


def test_rendered_text_with_braces_is_not_refused_but_plain_parse_config_still_is():
    text = META + '---\nimage: a\nfrom: alpine\nshell:\n  install: echo "{{ "{{" }} x }}"\n'
    rendered = render(text)
    assert rendered.endswith('install: echo "{{ x }}"\n')
    assert parse_config(rendered, rendered=True).get("a").instructions["install"] == [
        'echo "{{ x }}"']
    with pytest.raises(ConfigError, match="Go template"):
        parse_config(rendered)


def test_plain_configs_are_not_rendered(tmp_path, monkeypatch):
    (tmp_path / "werf.yaml").write_text(META + "---\nimage: a\nfrom: x\n")
    monkeypatch.setattr(gitfiles.CommitFiles, "__init__", lambda *a: pytest.fail("rendered"))
    assert render_config(str(tmp_path)) == (str(tmp_path / "werf.yaml"),
                                            META + "---\nimage: a\nfrom: x\n")


# -- .Files and partials read HEAD ------------------------------------------------------


def test_files_read_head_not_the_working_tree(git_repo):
    git_repo.write("setup.sh", "v1\n")
    git_repo.write(".werf/p.tmpl", '{{ define "p" }}committed{{ end }}')
    git_repo.commit()
    git_repo.write("setup.sh", "v2 uncommitted\n")
    git_repo.write("untracked.txt", "new\n")
    git_repo.write(".werf/p.tmpl", '{{ define "p" }}edited{{ end }}')
    git_repo.write(".werf/new.tmpl", '{{ define "new" }}new{{ end }}')
    directory = str(git_repo.path)
    text = ('{{ .Files.Get "setup.sh" }}|{{ .Files.Exists "untracked.txt" }}|'
            '{{ include "p" . }}|{{ keys (.Files.Glob "*") }}')
    assert render_werf_config(text, "werf.yaml", directory) == \
        "v1\n|false|committed|[.werf/p.tmpl setup.sh]"
    with pytest.raises(TemplateError, match="no such file in the commit HEAD"):
        render_werf_config('{{ .Files.Get "untracked.txt" }}', "werf.yaml", directory)
    with pytest.raises(TemplateError, match='template "new" not defined'):
        render_werf_config('{{ include "new" . }}', "werf.yaml", directory)


def test_partials_are_every_tmpl_under_dot_werf(git_repo):
    git_repo.write(".werf/a.tmpl", '{{ define "a" }}A{{ end }}top of a')
    git_repo.write(".werf/deep/er/b.tmpl", '{{ define "b" }}B{{ end }}')
    git_repo.write(".werf/notes.txt", "{{ not a template }}")
    git_repo.write("other/c.tmpl", '{{ define "c" }}C{{ end }}')
    git_repo.commit()
    directory = str(git_repo.path)
    assert render_werf_config('{{ include "a" . }}{{ include "b" . }}{{ include "a.tmpl" . }}',
                              "werf.yaml", directory) == "ABtop of a"
    with pytest.raises(TemplateError, match='template "c" not defined'):
        render_werf_config('{{ include "c" . }}', "werf.yaml", directory)


def test_the_config_overrides_a_partials_define(git_repo):
    git_repo.write(".werf/a.tmpl", '{{ define "x" }}partial{{ end }}')
    git_repo.commit()
    text = '{{ define "x" }}config{{ end }}{{ include "x" . }}'
    assert render_werf_config(text, "werf.yaml", str(git_repo.path)) == "config"


def test_project_in_a_subdirectory_reads_paths_relative_to_it(git_repo):
    git_repo.write("svc/files/f.txt", "inside\n")
    git_repo.write("svc/.werf/p.tmpl", '{{ define "p" }}sub partial{{ end }}')
    git_repo.write("top.txt", "outside\n")
    git_repo.commit()
    directory = str(git_repo.path / "svc")
    text = ('{{ .Files.Get "files/f.txt" | trim }}|{{ keys (.Files.Glob "files") }}|'
            '{{ .Files.Exists "top.txt" }}|{{ .Files.IsDir "files" }}|{{ include "p" . }}')
    assert render_werf_config(text, "werf.yaml", directory) == \
        "inside|[files/f.txt]|false|true|sub partial"
    # Above the project directory but inside the repository is readable, as in werf.
    text = '{{ .Files.Get "../top.txt" | trim }}|{{ .Files.Exists "../svc/files/f.txt" }}'
    assert render_werf_config(text, "werf.yaml", directory) == "outside|true"
    with pytest.raises(TemplateError, match="the path leaves the git repository"):
        render_werf_config('{{ .Files.Get "../../top.txt" }}', "werf.yaml", directory)


def test_files_take_a_leading_slash_as_the_project_directory(git_repo):
    """werf joins the path to the project directory (deckhouse modules write
    `.Files.Get "/build/versions.yml"`); it never reaches the host's root."""
    git_repo.write("svc/build/v.txt", "1.2\n")
    git_repo.write("svc/oss.yaml", "x: 1\n")
    git_repo.commit()
    directory = str(git_repo.path / "svc")
    text = ('{{ .Files.Get "/build/v.txt" | trim }}|{{ .Files.Exists "/oss.yaml" }}|'
            '{{ .Files.IsDir "/build" }}|{{ keys (.Files.Glob "/oss.yaml") }}|'
            '{{ .Files.Exists "/etc/hostname" }}')
    assert render_werf_config(text, "werf.yaml", directory) == "1.2|true|true|[oss.yaml]|false"


def test_files_glob_reads_werfs_glob_syntax(git_repo):
    """Alternatives and classes, as werf's `.Files.Glob` (doublestar) reads them: the
    deckhouse module layout `images/*/{Dockerfile,werf.inc.yaml}` finds every image."""
    for path in ("images/a/Dockerfile", "images/b/werf.inc.yaml", "images/c/README",
                 "images/d/Dockerfile", "lit/x*y", "lit/xzy"):
        git_repo.write(path, path)
    git_repo.commit()
    directory = str(git_repo.path)

    def keys(pattern):
        return render_werf_config(f'{{{{ keys (.Files.Glob "{pattern}") | sortAlpha }}}}',
                                  "werf.yaml", directory)
    assert keys("images/*/{Dockerfile,werf.inc.yaml}") == \
        "[images/a/Dockerfile images/b/werf.inc.yaml images/d/Dockerfile]"
    assert keys("images/[a-c]/*") == \
        "[images/a/Dockerfile images/b/werf.inc.yaml images/c/README]"
    assert keys("images/[!a-c]/*") == "[images/d/Dockerfile]"
    assert keys("lit/x\\\\*y") == "[lit/x*y]"  # a backslash escapes the star
    assert keys("images/{a,{c,d}}/*") == \
        "[images/a/Dockerfile images/c/README images/d/Dockerfile]"


def test_symlinks_inside_the_repository_are_followed(git_repo):
    git_repo.write("real/f.txt", "target\n")
    os.symlink("real/f.txt", git_repo.path / "link")
    os.symlink("real", git_repo.path / "dirlink")
    os.symlink("/etc/hostname", git_repo.path / "outside")
    git_repo.commit()
    directory = str(git_repo.path)
    assert render_werf_config('{{ .Files.Get "link" }}{{ .Files.Get "dirlink/f.txt" }}',
                              "werf.yaml", directory) == "target\ntarget\n"
    with pytest.raises(TemplateError, match="symlink that leaves the repository"):
        render_werf_config('{{ .Files.Get "outside" }}', "werf.yaml", directory)


def test_binary_files_survive_b64enc_but_not_a_raw_render(git_repo):
    (git_repo.path / "blob.bin").write_bytes(b"\x00\xff\xfe")
    git_repo.commit()
    directory = str(git_repo.path)
    assert render_werf_config('{{ .Files.Get "blob.bin" | b64enc }} {{ .Files.Get "blob.bin"'
                              " | len }}", "werf.yaml", directory) == "AP/+ 3"
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        render_werf_config('{{ .Files.Get "blob.bin" }}', "werf.yaml", directory)


def test_commit_is_head(git_repo):
    git_repo.env["GIT_AUTHOR_DATE"] = "@1234567890 +0100"
    head = git_repo.commit()
    assert render_werf_config("{{ .Commit.Hash }} {{ .Commit.Date.Unix }}", "werf.yaml",
                              str(git_repo.path)) == f"{head} 1234567890"


def test_many_files_are_read_by_one_git_process(git_repo, monkeypatch):
    for i in range(20):
        git_repo.write(f"f/{i}.txt", f"{i}\n")
    git_repo.commit()
    started = []
    real = subprocess.Popen

    def counting(*args, **kw):
        started.append(args[0])
        return real(*args, **kw)

    monkeypatch.setattr(gitfiles.process.subprocess, "Popen", counting)
    text = "{{ range until 20 }}{{ $.Files.Get (printf \"f/%d.txt\" .) | trim }}{{ end }}"
    assert render_werf_config(text, "werf.yaml", str(git_repo.path)) == "".join(
        map(str, range(20)))
    assert [a for a in started if "cat-file" in a] == [
        ["git", "cat-file", "--batch", "--follow-symlinks"]]
    assert len(started) <= 4  # rev-parse twice, ls-tree for the partials, cat-file


def test_outside_git_plain_templates_render_and_files_fail(tmp_path):
    assert render_werf_config('{{ "plain" | upper }}', "werf.yaml", str(tmp_path)) == "PLAIN"
    with pytest.raises(TemplateError, match="not inside a git repository"):
        render_werf_config('{{ .Files.Get "x" }}', "werf.yaml", str(tmp_path))


# -- the command line -------------------------------------------------------------------


def test_config_render_prints_the_rendered_config(tmp_path, environ, capsys):
    repo = make_repo(tmp_path, "cli")
    directory = write_project(repo, (HERE / "09-realistic.werf.yaml").read_text())
    assert cli.main(["config", "render", "--dir", directory]) == 0
    assert capsys.readouterr().out == (HERE / "09-realistic.rendered.yaml").read_text()
    repo.write("custom.yaml", META + "{{ if }}\n")
    assert cli.main(["config", "render", "--dir", directory, "--config", "custom.yaml"]) == \
        EXIT_CONFIG
    err = capsys.readouterr().err
    assert f"{repo.path / 'custom.yaml'}:3:7: missing value for if" in err


def test_signatures_of_a_templated_config_end_to_end(tmp_path, environ, capsys):
    templated = write_project(make_repo(tmp_path, "t"),
                              (HERE / "09-realistic.werf.yaml").read_text())
    plain = write_project(make_repo(tmp_path, "p"),
                          (HERE / "09-realistic.rendered.yaml").read_text())
    outputs = []
    for directory in (templated, plain):
        assert cli.main(["signatures", "--dir", directory, "--format", "json"]) == 0
        outputs.append(json.loads(capsys.readouterr().out))
    assert outputs[0] == outputs[1]
    assert outputs[0]["project"] == "shop"
    assert [i["name"] for i in outputs[0]["images"]] == ["assets", "backend", "frontend"]


def test_signatures_report_a_template_error_with_exit_code_3(tmp_path, capsys):
    repo = make_repo(tmp_path, "bad")
    directory = write_project(repo, META + "---\nimage: a\nfrom: {{ nosuch }}\n")
    assert cli.main(["signatures", "--dir", directory]) == EXIT_CONFIG
    assert f"{repo.path / 'werf.yaml'}:5:10: function \"nosuch\" not defined" in \
        capsys.readouterr().err


def test_werf_includes_is_refused_in_one_line(tmp_path, capsys):
    """werf-includes.yaml fetches templates from other repositories: no network here."""
    repo = make_repo(tmp_path, "includes")
    directory = write_project(repo, META + "---\nimage: a\nfrom: alpine\n")
    (Path(directory) / "werf-includes.yaml").write_text("includes:\n- git: https://x/y\n")
    assert cli.main(["signatures", "--dir", directory]) == EXIT_CONFIG
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "werf-includes.yaml" in err and "network" in err
