"""Template resource limits (issue 12) and renderer bugs found in review: a template is a
program read from a repository, so nothing it does may exhaust memory, run forever or
end in a traceback; each bound is a located configuration error (exit code 3) that
names the construct.

The cases that used to hang or eat all memory run in a subprocess with a timeout, so a
regression fails the test instead of the test run.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.git import GitRepo, git_env
from werfpull.errors import EXIT_CONFIG, ConfigError
from werfpull.gotemplate import StaticFiles, TemplateError, render_werf_config

ROOT = Path(__file__).resolve().parents[2]


def render(text: str) -> str:
    return render_werf_config(text, "werf.yaml", ".", files=StaticFiles(), environ={})


@pytest.mark.parametrize("template,construct,message", [
    ('{{ repeat 1000000000 "ab" }}', "repeat", "over werfpull's limit"),
    ('{{ indent 1000000000 "a" }}', "indent", "over werfpull's limit"),
    ('{{ nindent 100000000 "a\\nb" }}', "nindent", "over werfpull's limit"),
    ("{{ until 1000000000 }}", "until", "elements, over werfpull's limit"),
    ("{{ untilStep 0 1000000000000 1 }}", "untilStep", "elements, over werfpull's limit"),
    ("{{ seq 1000000000 }}", "seq", "elements, over werfpull's limit"),
    ('{{ replace "" (repeat 1000 "x") (repeat 100000 "y") }}', "replace", "over werfpull's"),
    ('{{ splitList "" (repeat 2000000 "y") }}', "splitList", "elements, over werfpull's"),
    ('{{ $s := repeat 10000000 "x" }}{{ range until 10 }}{{ $s }}{{ end }}', "{{ $s }}",
     "the render writes more than"),
    ('{{ range until 20 }}{{ printf "%9999999d" 1 }}{{ end }}', "{{ printf",
     "the render writes more than"),
])
def test_each_bound_names_its_construct(template, construct, message):
    with pytest.raises(TemplateError) as info:
        render(template)
    assert message in str(info.value)
    assert f"at <{construct}" in str(info.value)
    assert isinstance(info.value, ConfigError) and info.value.exit_code == EXIT_CONFIG


# Each of these ran for hours or until the kernel killed the process before the bounds.
HANGS = {
    "nested ranges": "{{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}"
                     "{{ end }}{{ end }}{{ end }}",
    "template fan-out": '{{ define "r" }}{{ if lt (len .) 40 }}{{ template "r" (append . 1) }}'
                        '{{ template "r" (append . 1) }}{{ end }}{{ end }}{{ template "r" list }}',
    "doubling string": '{{ $x := "ab" }}{{ range until 64 }}{{ $x = print $x $x }}{{ end }}',
    "shared list print": "{{ $l := list 1 2 3 4 5 6 7 8 9 10 }}{{ range until 12 }}"
                         "{{ $l = list $l $l $l $l $l $l $l $l $l $l }}{{ end }}{{ $l }}",
    "shared list toJson": "{{ $l := list 1 2 3 4 5 6 7 8 9 10 }}{{ range until 12 }}"
                          "{{ $l = list $l $l $l $l $l $l $l $l $l $l }}{{ end }}{{ toJson $l }}",
    "billion laughs": '{{ fromYaml "a: &a [x,x,x,x,x,x,x,x,x,x]\\nb: &b [*a,*a,*a,*a,*a,*a,*a,'
                      '*a,*a,*a]\\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\\nd: &d [*c,*c,*c,*c,'
                      '*c,*c,*c,*c,*c,*c]\\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\\nf: &f [*e,*e,'
                      '*e,*e,*e,*e,*e,*e,*e,*e]\\ng: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]" }}',
}


@pytest.mark.parametrize("name", sorted(HANGS))
def test_runaway_templates_stop_with_a_located_error(name):
    code = textwrap.dedent(f"""
        import sys
        from werfpull.gotemplate import StaticFiles, TemplateError, render_werf_config
        try:
            render_werf_config({HANGS[name]!r}, "werf.yaml", ".", files=StaticFiles(),
                               environ={{}})
        except TemplateError as exc:
            print(exc.message)
            sys.exit(3)
    """)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 3, proc.stderr[-2000:]
    assert proc.stdout.startswith("werf.yaml:1:"), proc.stdout
    assert "werfpull's limit" in proc.stdout


def test_the_cli_reports_a_runaway_template_with_exit_code_3(tmp_path):
    repo = GitRepo(path=tmp_path / "p", env=git_env(tmp_path / "home"))
    repo.path.mkdir()
    for args in (("init", "-q", "-b", "main"), ("config", "user.name", "t"),
                 ("config", "user.email", "t@t.invalid"), ("config", "commit.gpgsign", "false")):
        repo.git(*args)
    repo.write("werf.yaml", "project: p\nconfigVersion: 1\n---\nimage: a\nfrom: alpine\n"
               "# {{ range until 1000 }}{{ range until 1000 }}{{ range until 1000 }}"
               "{{ end }}{{ end }}{{ end }}\n")
    repo.commit()
    env = {**repo.env, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "werfpull", "config", "render", "--dir",
                           str(repo.path)], capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == EXIT_CONFIG, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"{repo.path / 'werf.yaml'}:6:" in proc.stderr and "template steps" in proc.stderr


@pytest.mark.parametrize("template,expected", [
    # fmt: rune(c) beyond utf8.MaxRune or a surrogate prints as U+FFFD; %U as uint64
    ('{{ printf "%c|%c|%c" -1 55296 1114112 }}', "\ufffd|\ufffd|\ufffd"),
    ('{{ printf "%q|%q" 1114112 -5 }}', "'\ufffd'|'\ufffd'"),
    ('{{ printf "%U" -1 }}', "U+FFFFFFFFFFFFFFFF"),
    # fmt's parsenum: a width over 1e6 before its last digit ends the format
    ('{{ printf "%99999999d|" 5 }}', "%!(NOVERB)%!(EXTRA int=5)"),
    ('{{ printf "%.99999999f|" 5.0 }}', "%!(NOVERB)%!(EXTRA float64=5)"),
    # yaml.v2 reads no base-60 numbers: "10:30" stays a string
    ('{{ $y := fromYaml "a: 10:30\\nb: 1:2:3.5\\nc: 012\\nd: 1_000" }}'
     "{{ typeOf $y.a }} {{ $y.a }} {{ $y.b }} {{ $y.c }} {{ $y.d }}",
     "string 10:30 1:2:3.5 10 1000"),
    # strconv.Atoi returns the clamped value with ErrRange; sprig drops the error
    ('{{ atoi "99999999999999999999" }} {{ atoi "-99999999999999999999" }} {{ atoi "1e3" }}',
     "9223372036854775807 -9223372036854775808 0"),
])
def test_printing_and_conversions_follow_go(template, expected):
    assert render(template) == expected


def test_an_out_of_range_float_constant_is_a_syntax_error():
    """strconv.ParseFloat("1e400") fails with ErrRange; Go's parser has no +Inf constant."""
    with pytest.raises(TemplateError, match='1:4: illegal number syntax: "1e400"'):
        render("{{ 1e400 }}")


# -- fuzz: odd templates end in a render or a TemplateError, never another exception ------

_FUNCS = ["repeat", "indent", "until", "seq", "untilStep", "printf", "regexFind", "semver",
          "semverCompare", "merge", "deepCopy", "kindOf", "abbrev", "wrap", "wrapWith",
          "snakecase", "camelcase", "b64dec", "b32dec", "fromYaml", "fromJson", "toJson",
          "toYaml", "index", "slice", "chunk", "dig", "substr", "trunc", "atoi", "int",
          "float64", "divf", "round", "mod", "div", "regexSplit", "regexReplaceAll", "tpl",
          "include", "len", "first", "initials", "swapcase", "toDecimal", "list", "dict",
          "get", "set", "keys", "values", "sortAlpha", "split", "join", "quote", "env",
          "required", "mustRegexMatch", "ceil", "typeOf", "urlquery", "js", "html"]
_ARGS = ['""', '"a"', '"%c"', '"%*d"', '"%-99d"', '"(("', '"\\xff"', '"a: [1"', '"{{"',
         '"{{ . }}"', '"1.2.3"', '"^1.x"', '"a: 1"', '"[1,2]"', '"\\u00e9"', "0", "-1", "1",
         "3", "1114112", "55296", "9223372036854775807", "-9223372036854775808", "1.5",
         "-0.0", "1e308", "nil", "true", ".", "$", "(list)", "(dict)", '(list 1 "a" nil)',
         '(dict "a" (list 1))', "(until 3)", ".Files", ".Commit", ".Nope", "(semver \"1.0.0\")"]


def _odd_templates(n: int) -> list[str]:
    rnd = random.Random(1213)
    out = []
    for _ in range(n):
        fn = rnd.choice(_FUNCS)
        args = " ".join(rnd.choice(_ARGS) for _ in range(rnd.randint(0, 3)))
        shape = rnd.randint(0, 3)
        if shape == 0:
            out.append(f"{{{{ {fn} {args} }}}}")
        elif shape == 1:
            out.append(f"{{{{ {args.split(' ')[0] or '1'} | {fn} {args} }}}}")
        elif shape == 2:
            out.append(f"{{{{ range {fn} {args} }}}}{{{{ . }}}}{{{{ end }}}}")
        else:
            out.append(f"{{{{ with $x := {fn} {args} }}}}{{{{ printf \"%v%d%s\" $x $x $x }}}}"
                       "{{ end }}")
    return out


def test_fuzz_odd_templates_never_escape_as_other_exceptions():
    outcomes = {"rendered": 0, "error": 0}
    for template in _odd_templates(3000):
        try:
            render(template)
            outcomes["rendered"] += 1
        except TemplateError as exc:
            assert exc.message.startswith("werf.yaml:1:"), (template, exc.message)
            outcomes["error"] += 1
        except ConfigError as exc:  # e.g. "\xff" printed: the render is not UTF-8
            assert "the template cannot be rendered" not in exc.message, (template, exc)
            assert exc.message.startswith("werf.yaml:"), (template, exc.message)
            outcomes["error"] += 1
    assert outcomes["rendered"] > 100 and outcomes["error"] > 100, outcomes
