"""The rest of sprig 3 and werf's template functions (issue 13): regular expressions with
Go's semantics, semantic versions, word functions, merge and reflection, float math.

Expected values come from the upstream sources and tests, not from werfpull: sprig
v3.2.3's *_test.go and docs, Go's regexp tests and documentation, Masterminds/semver
v3.3.1's constraints_test.go, huandu/xstrings v1.4.0's convert_test.go and
Masterminds/goutils v1.1.1's documentation.
"""

from __future__ import annotations

import pytest

from werfpull.gotemplate import StaticFiles, TemplateError, render_werf_config


def render(text: str, environ: dict | None = None) -> str:
    return render_werf_config(text, "werf.yaml", ".", files=StaticFiles(),
                              environ=environ or {})


@pytest.mark.parametrize("template,expected", [
    # sprig's regex_test.go
    ('{{ regexMatch "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}" "Test@Acme.Com" }}',
     "true"),
    ('{{ regexMatch "[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}" "test@acme" }}',
     "false"),
    ('{{ regexMatch "a(" "a" }}', "false"),  # sprig's regexMatch drops the error
    ('{{ len (regexFindAll "a{2}" "aaaaaaaa" 1) }} {{ regexFindAll "a{2}" "aaaa" -1 }}',
     "1 [aa aa]"),
    ('{{ regexFind "fo.?" "foo foe fome" }}|{{ regexFind "fo.?" "none" }}|', "foo||"),
    ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "T" }}', "-T-T-"),
    ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1" }}', "--xx-"),
    ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W" }}', "---"),  # $1W names group "1W"
    ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}', "-W-xxW-"),
    ('{{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}', "-${1}-${1}-"),
    ('{{ regexReplaceAll "(?P<k>\\\\w+)=(?P<v>\\\\w+)" "a=1 b=2" "$v:$k $$" }}', "1:a $ 2:b $"),
    # Go's regexp replaceTests: empty matches
    ('{{ regexReplaceAll "" "abc" "x" }}', "xaxbxcx"),
    ('{{ regexReplaceAll "[a-c]*" "\u65e5" "x" }}', "x\u65e5x"),
    ('{{ regexReplaceAll "[a-c]*$" "abcdabc" "x" }}', "abcdx"),
    ('{{ regexReplaceAll "^[a-c]*" "dabce" "x" }}', "xdabce"),
    # Go's Regexp.Split documentation
    ('{{ regexSplit "a*" "abaabaccadaaae" 5 }}', "[ b b c cadaaae]"),
    ('{{ regexSplit "a" "banana" -1 }} {{ regexSplit "z+" "pizza" -1 }}', "[b n n ] [pi a]"),
    ('{{ regexSplit "a" "banana" 0 }} {{ len (regexSplit "x" "" -1) }}', "[] 1"),
    ('{{ regexQuoteMeta "1.5-2.0?" }}', "1\\.5-2\\.0\\?"),
    # RE2 syntax, which Python's re reads otherwise
    ('{{ regexFind "\\\\pL+" "1 h\u00e9llo" }} {{ regexMatch "(?i)ABC" "xabc" }}',
     "h\u00e9llo true"),
    ('{{ mustRegexFind "b+" "abbbc" }}', "bbb"),
])
def test_regex_functions_follow_go(template, expected):
    assert render(template) == expected


@pytest.mark.parametrize("template", [
    '{{ mustRegexMatch "(?=x)" "x" }}',  # lookahead: RE2 and Go refuse it
    '{{ regexReplaceAll "(a)\\\\1" "aa" "" }}',  # backreferences too
    '{{ regexSplit "[" "x" -1 }}',
])
def test_patterns_go_refuses_are_errors(template):
    with pytest.raises(TemplateError, match="error parsing regexp"):
        render(template)


@pytest.mark.parametrize("template,expected", [
    # sprig's strings_test.go
    ('{{ abbrev 5 "hello world" }}', "he..."),
    ('{{ abbrevboth 5 10 "1234 5678 9123" }}', "...5678..."),
    ('{{ abbrev 3 "hello world" }}', "hello world"),
    ('{{ untitle "First Try" }}', "first try"),
    ('{{ initials "First Try" }}', "FT"),
    ('{{ wrap 5 "Hello World" }}', "Hello\nWorld"),
    ('{{ wrapWith 5 "\\t" "Hello World" }}', "Hello\tWorld"),
    ('{{ wrapWith 3 "|" "abcdefgh" }}', "abc|def|gh"),  # wrapWith cuts long words
    ('{{ wrap 3 "abcdefgh ij" }}', "abcdefgh\nij"),  # wrap does not
    ('{{ b32enc "coffee" }}|{{ b32dec "MNXWMZTFMU======" }}', "MNXWMZTFMU======|coffee"),
    # goutils' SwapCase documentation
    ('{{ swapcase "The dog has a BONE" }}', "tHE DOG HAS A bone"),
    # xstrings v1.4.0 convert_test.go (camelcase is upper camel case before v1.5)
    ('{{ camelcase "http_server" }} {{ camelcase "_complex__case_" }}',
     "HttpServer _Complex_Case_"),
    ('{{ snakecase "HTTPServer" }} {{ snakecase "Bld4Floor3rd" }} {{ snakecase "http2xx" }}',
     "http_server bld4_floor_3rd http_2xx"),
    ('{{ kebabcase "FROM CamelCase to snake/kebab-case" }}',
     "from-camel-case-to-snake/kebab-case"),
    # checksums with published values (Wikipedia's Adler-32 example, SHA-512 of "")
    ('{{ adler32sum "Wikipedia" }}', "300286872"),
    ('{{ sha512sum "" | trunc 16 }}', "cf83e1357eefb8bd"),
    ('{{ hello }}', "Hello!"),
])
def test_word_and_encoding_functions(template, expected):
    assert render(template) == expected


@pytest.mark.parametrize("template,expected", [
    # sprig's semver_test.go
    ('{{ semverCompare "1.2.3" "1.2.3" }}', "true"),
    ('{{ semverCompare "^1.2.0" "1.2.3" }} {{ semverCompare "^1.2.0" "2.2.3" }}', "true false"),
    ('{{ $s := semver "1.2.3-beta.1+c0ff33" }}{{ $s.Prerelease }} {{ $s.Major }} {{ $s }}',
     "beta.1 1 1.2.3-beta.1+c0ff33"),
    ('{{ semver "1.2.3" | (semver "1.3.3").Compare }}', "1"),
    ('{{ semver "1.4.3" | (semver "1.2.3").Compare }}', "-1"),
    ('{{ (semver "v2").Original }} {{ semver "v2" }} {{ typeOf (semver "1.0.0") }}',
     "v2 2.0.0 *semver.Version"),
    # constraints_test.go: ranges, ||, wildcards, pre-releases
    ('{{ semverCompare "1.1 - 2" "1.1.1" }}', "true"),
    ('{{ semverCompare ">=1.1, <2, !=1.2.3 || > 3" "4.1.2" }}', "true"),
    ('{{ semverCompare ">=1.1 <2 !=1.2.3" "1.2.3" }}', "false"),
    ('{{ semverCompare "~1.x" "1.3.5" }} {{ semverCompare "^1.x" "1.1.1-beta1" }}',
     "true false"),
    ('{{ semverCompare "^1.1.2-alpha" "1.2.1-beta1" }} {{ semverCompare "~1.2.3" "1.3.2" }}',
     "true false"),
    ('{{ semverCompare "!=4.1-alpha" "4.1.0" }} {{ semverCompare "<=1.1-a" "0.1.0-alpha" }}',
     "true true"),
    ('{{ semverCompare ">= 1.19-0" "1.21.3" }}', "true"),
])
def test_semver_with_masterminds_constraints(template, expected):
    assert render(template) == expected


def test_merge_follows_mergo():
    """sprig's dict_test.go TestMerge and TestMergeOverwrite, as templates."""
    setup = ('{{- $src2 := dict "h" 10 "i" "i" "j" "j" }}'
             '{{- $src1 := dict "a" 1 "b" 2 "d" (dict "e" "four") "g" (list 6 7) "i" "aye"'
             ' "j" "jay" "k" (dict "l" false) }}'
             '{{- $dst := dict "a" "one" "c" 3 "d" (dict "f" 5) "g" (list 8 9) "i" "eye"'
             ' "k" (dict "l" true) }}')
    assert render(setup + "{{ $_ := merge $dst $src1 $src2 }}{{ $dst }}") == \
        "map[a:one b:2 c:3 d:map[e:four f:5] g:[8 9] h:10 i:eye j:jay k:map[l:true]]"
    assert render(setup + "{{ mergeOverwrite $dst $src1 $src2 }}") == \
        "map[a:1 b:2 c:3 d:map[e:four f:5] g:[6 7] h:10 i:i j:j k:map[l:false]]"
    # An empty destination value is filled; a map never replaces a set scalar.
    assert render('{{ merge (dict "a" "" "b" "x") (dict "a" 1 "b" (dict "c" 1)) }}') == \
        "map[a:1 b:x]"


@pytest.mark.parametrize("template,expected", [
    ('{{ typeOf 1 }} {{ typeOf (add 1 1) }} {{ typeOf 1.5 }} {{ typeOf "s" }} {{ typeOf nil }}',
     "int int64 float64 string <nil>"),
    ('{{ typeOf (list) }} {{ typeOf (dict) }} {{ typeOf (splitList "," "a") }}',
     "[]interface {} map[string]interface {} []string"),
    ('{{ kindOf (list) }} {{ kindOf (dict) }} {{ kindOf 1 }} {{ kindOf nil }} {{ kindOf .Files }}',
     "slice map int invalid struct"),
    ('{{ kindOf (semver "1.0.0") }} {{ kindIs "map" (dict) }} {{ typeIs "int" 1 }}',
     "ptr true true"),
    ('{{ typeIsLike "semver.Version" (semver "1.0.0") }} {{ deepEqual (list 1) (list 1) }}',
     "true true"),
    ('{{ $a := dict "k" (list 1) }}{{ $b := deepCopy $a }}{{ $_ := set $b "k" 2 }}'
     '{{ $a }} {{ $b }}',
     "map[k:[1]] map[k:2]"),
    ('{{ values (dict "b" 2 "a" 1) }}', "[1 2]"),
    ('{{ chunk 2 (list 1 2 3 4 5) }} {{ slice (list 1 2 3 4 5) 1 3 }} {{ slice (list 1 2) 1 }}',
     "[[1 2] [3 4] [5]] [2 3] [2]"),
    ('{{ mustFirst (list 3 4) }} {{ mustLast (list 3 4) }} {{ mustRest (list 3 4) }}', "3 4 [4]"),
    ('{{ mustToJson (dict "a" "<") }} {{ mustToRawJson (dict "a" "<") }}',
     '{"a":"\\u003c"} {"a":"<"}'),
    ('{{ (mustFromJson "{\\"a\\": 1}").a }}', "1"),
])
def test_structures_and_reflection(template, expected):
    assert render(template) == expected


@pytest.mark.parametrize("template,expected", [
    # sprig's docs/mathf.md
    ("{{ addf 1.5 2 2 }} {{ add1f 1.5 }} {{ subf 7.5 2 3 }} {{ mulf 1.5 2 2 }}",
     "5.5 2.5 2.5 6"),
    ("{{ divf 10 2 4 }} {{ divf 1 3 }} {{ maxf 1 2.5 3 }} {{ minf 1.5 2 3 }}",
     "1.25 0.3333333333333333 3 1.5"),
    ("{{ ceil 123.001 }} {{ floor 123.9999 }} {{ round 123.555555 3 }} {{ round 123.5 0 0.6 }}",
     "124 123 123.556 123"),
    ('{{ toDecimal "0777" }} {{ toDecimal "8" }} {{ addf 0.1 0.2 }}', "511 0 0.3"),
])
def test_float_math_in_decimal(template, expected):
    assert render(template) == expected


@pytest.mark.parametrize("template,expected", [
    ('{{ html "<a href=\'x\'>&" }}', "&lt;a href=&#39;x&#39;&gt;&amp;"),
    ('{{ js "a\'b<c\\n" }}', "a\\'b\\u003Cc\\u000A"),
    ('{{ urlquery "a b&c=d/\u00e9" }}', "a+b%26c%3Dd%2F%C3%A9"),
    ('{{ printf_debug "%d" 1 }}{{ dump_debug (dict) }}|{{ include_debug "t" 2 }}'
     '{{ define "t" }}<{{ . }}>{{ end }}|{{ tpl_debug "{{ . }}" 3 }}', "|<2>|3"),
    ('{{ toYaml (dict "b" 1 "a" (list "x")) }}', "a:\n- x\nb: 1"),
])
def test_go_builtins_and_werf_debug_functions(template, expected):
    assert render(template) == expected


def test_tpl_errors_name_the_file_the_text_came_from():
    files = StaticFiles({"values.tmpl": "a: 1\nb: {{ nosuch }}\n"})
    with pytest.raises(TemplateError) as info:
        render_werf_config('x: {{ tpl (.Files.Get "values.tmpl") . }}', "werf.yaml", "/p",
                           files=files, environ={})
    assert "/p/values.tmpl:2:7: function \"nosuch\" not defined" in str(info.value)
    with pytest.raises(TemplateError, match="the tpl text:1:4"):
        render('{{ tpl "{{ nosuch }}" . }}')
