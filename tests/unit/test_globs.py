"""Globs and the files of a git mapping (spec section 5), checked against cases written
from the spec and against a small reference matcher that follows its wording."""

from __future__ import annotations

import functools
import hashlib
import random

import pytest

from werfpull.config.load import parse_config
from werfpull.signatures.gitfiles import MappingFiles, checksum
from werfpull.signatures.globs import GlobSet
from werfpull.tools.git import Entry

CASES = [
    # `*`: any run of characters other than "/"
    ("*.go", "main.go", True),
    ("*.go", ".go", True),
    ("*.go", "src/main.go", False),
    ("src/*.go", "src/a.go", True),
    ("src/*.go", "src/sub/a.go", False),
    ("*", ".hidden", True),
    ("*", "a/b/c", True),  # "*" matches the directory "a" that holds the file
    ("a*b*c", "abxbyc", True),
    ("a*b*c", "abxbyd", False),
    ("*a*a*a*a*a*a*b", "a" * 40, False),
    ("*a*a*a*a*a*a*b", "a" * 40 + "b", True),
    # `?`: exactly one character other than "/"
    ("?.txt", "a.txt", True),
    ("?.txt", "ab.txt", False),
    ("?.txt", ".txt", False),
    ("a?b", "a/b", False),
    ("a?", "a", False),
    # `**` as a whole segment: zero or more whole segments
    ("**/*.go", "a.go", True),
    ("**/*.go", "x/y/a.go", True),
    ("**/*.go", "x/y/a.txt", False),
    ("a/**/b", "a/b", True),
    ("a/**/b", "a/x/y/b", True),
    ("a/**/b", "a/xb", False),
    ("a/**/b", "ax/b", False),
    ("**", "anything/at/all", True),
    ("**/**/**/x", "a/b/x", True),
    ("**/**/**/x", "a/b/y", False),
    ("**/a/**/b", "a/b", True),
    ("**/a/**/b", "b/a/b", True),
    ("**/a/**/b", "b/a", False),
    ("**/a*b", "abx/ab", True),  # the first candidate segment does not match as a whole
    ("src/**", "src", True),  # `**` may match zero segments
    # `**` next to other characters acts as `*`
    ("a**", "abc", True),
    ("a**/c", "ab/c", True),
    ("a**/c", "ab/x/c", False),
    ("x**y", "x/y", False),
    ("**x", "a/x", False),
    ("**x", "ax", True),
    # every other character is literal
    ("[ab].txt", "a.txt", False),
    ("[ab].txt", "[ab].txt", True),
    ("[!a]", "b", False),
    ("a\\*", "a\\x", True),  # backslash is literal; the star is still a star
    ("a\\*", "a*", False),
    ("a\\?", "a\\b", True),
    ("a.b", "axb", False),
    ("a+b(c)|d$^", "a+b(c)|d$^", True),
    ("{a,b}", "a", False),
    ("{a,b}", "{a,b}", True),
    ("é*", "éa", True),
    # case-sensitive
    ("README", "readme", False),
    ("*.GO", "main.go", False),
    # leading and trailing "/" are ignored
    ("/src/", "src/a", True),
    ("//src//", "src/a", True),
    ("/*.go", "main.go", True),
    # the empty pattern (also after stripping "/") matches nothing
    ("", "a", False),
    ("/", "a", False),
    ("//", "a/b", False),
    # a pattern that matches a directory takes everything under it
    ("src", "src", True),
    ("src", "src/a/b", True),
    ("src/**", "src/a/b", True),
    ("src", "srcx/a", False),
    ("src", "x/src/a", False),
    ("*.txt", "a.txt/b", True),
    ("a/*", "a/b/c/d", True),
    # unusual names
    ("*", "a\nb", True),
    ("a?b", "a\nb", True),
    ("a b/*", "a b/c d", True),
    ("a//b", "a/b", False),  # an empty segment never matches a real segment
]


@pytest.mark.parametrize("pattern, rel, expected", CASES)
def test_glob_cases(pattern, rel, expected):
    assert GlobSet([pattern]).match(rel) is expected


def test_glob_set_matches_any_pattern():
    g = GlobSet(["*.go", "docs"])
    assert g
    assert g.match("a.go") and g.match("docs/x.md")
    assert not g.match("x.md")


@pytest.mark.parametrize("patterns", [[], [""], ["/", "//"]])
def test_glob_set_without_real_patterns_matches_nothing(patterns):
    g = GlobSet(patterns)
    assert not g
    assert not g.match("a") and not g.match("a/b")


# -- a reference matcher that follows the spec's wording, compared on random input ------


def _segment_matches(pattern: str, segment: str) -> bool:
    @functools.cache
    def m(i: int, j: int) -> bool:
        if i == len(pattern):
            return j == len(segment)
        if pattern[i] == "*":
            return m(i + 1, j) or (j < len(segment) and m(i, j + 1))
        if j == len(segment):
            return False
        return (pattern[i] == "?" or pattern[i] == segment[j]) and m(i + 1, j + 1)

    return m(0, 0)


def reference_match(pattern: str, rel: str) -> bool:
    """Does `pattern` match `rel` or one of the directories that contain it?"""
    pattern = pattern.strip("/")
    if not pattern:
        return False
    ps, rs = pattern.split("/"), rel.split("/")

    @functools.cache
    def m(i: int, j: int) -> bool:
        if i == len(ps):
            return j > 0  # rel itself (j == len(rs)) or a directory holding it
        if ps[i] == "**":
            return m(i + 1, j) or (j < len(rs) and m(i, j + 1))
        return j < len(rs) and _segment_matches(ps[i], rs[j]) and m(i + 1, j + 1)

    return m(0, 0)


def test_reference_matcher_agrees_with_the_cases():
    for pattern, rel, expected in CASES:
        assert reference_match(pattern, rel) is expected, (pattern, rel)


def test_random_globs_agree_with_the_reference():
    rnd = random.Random(20240501)
    tokens = ["a", "b", "*", "?", "**", "/", "[", "\\", "ab", "/**/", "."]
    for _ in range(15000):
        pattern = "".join(rnd.choice(tokens) for _ in range(rnd.randint(0, 7)))
        rel = "/".join("".join(rnd.choice("ab[\\.") for _ in range(rnd.randint(1, 4)))
                       for _ in range(rnd.randint(1, 4)))
        assert GlobSet([pattern]).match(rel) is reference_match(pattern, rel), (pattern, rel)


# -- the files of a mapping ----------------------------------------------------------------


def entry(path: str, obj: str | None = None, mode: str = "100644", kind: str = "blob"):
    obj = obj or hashlib.sha1(path.encode("utf-8", "surrogateescape")).hexdigest()
    return Entry(path, f"{mode} {kind} {obj}\t{path}\n")


TREE = sorted([entry(p) for p in (
    "README.md", "src/main.go", "src/lib/util.go", "src/lib/util_test.go", "src/docs/a.md",
    "srcx/other.go", "tools/tool.sh", "sub", "Makefile")], key=lambda e: e.raw_path)


def mapping(text: str):
    cfg = parse_config("project: p\nconfigVersion: 1\n---\nimage: a\nfrom: x\ngit:\n"
                       + text, "werf.yaml")
    return cfg.images[0].git[0]


def rels(m) -> list[str]:
    return [rel for rel, _ in MappingFiles(m, TREE).items]


def test_add_root_takes_everything():
    assert rels(mapping("- to: /app\n")) == [e.path for e in TREE]


@pytest.mark.parametrize("add", ["src", "/src", "/src/", "src/"])
def test_add_directory(add):
    assert rels(mapping(f"- add: {add}\n  to: /app\n")) == \
        ["docs/a.md", "lib/util.go", "lib/util_test.go", "main.go"]


def test_add_naming_a_file_uses_its_base_name():
    m = mapping("- add: /src/main.go\n  to: /app/main.go\n")
    assert rels(m) == ["main.go"]
    m = mapping("- add: /src/main.go\n  to: /app\n  includePaths: main.go\n")
    assert rels(m) == ["main.go"]
    m = mapping("- add: /src/main.go\n  to: /app\n  excludePaths: '*.go'\n")
    assert rels(m) == []


def test_add_naming_nothing_takes_nothing():
    assert rels(mapping("- add: /nowhere\n  to: /app\n")) == []


def test_include_and_exclude_paths():
    m = mapping("- add: /src\n  to: /app\n  includePaths: ['**/*.go', docs]\n"
                "  excludePaths: '*_test.go'\n")
    # `*` stays in the first segment, so lib/util_test.go is not excluded.
    assert rels(m) == ["docs/a.md", "lib/util.go", "lib/util_test.go", "main.go"]
    m = mapping("- add: /src\n  to: /app\n  excludePaths: ['**/*_test.go', docs]\n")
    assert rels(m) == ["lib/util.go", "main.go"]


def test_include_paths_of_empty_patterns_take_nothing():
    # includePaths is not empty, and its only pattern matches nothing (spec 5).
    assert rels(mapping("- to: /app\n  includePaths: ['']\n")) == []
    assert rels(mapping("- to: /app\n  includePaths: /\n")) == []
    # An exclude that matches nothing drops nothing.
    assert len(rels(mapping("- to: /app\n  excludePaths: ['']\n"))) == len(TREE)


def test_checksum_formula():
    items = [entry("b"), entry("a/z", mode="100755"), entry("link", mode="120000"),
             entry("mod", mode="160000", kind="commit")]
    items.sort(key=lambda e: e.raw_path)
    expected = hashlib.sha256("".join(e.line for e in items).encode()).hexdigest()
    assert checksum(items) == expected
    assert items[0].line.startswith("100755 blob ") and items[0].line.endswith("\ta/z\n")
    assert checksum([]) == hashlib.sha256(b"").hexdigest()


def test_mapping_checksum_of_stage_globs():
    files = MappingFiles(mapping("- add: /src\n  to: /app\n"), TREE)
    by_path = {e.path: e for e in TREE}

    def expected(*paths):
        return hashlib.sha256("".join(by_path[p].line for p in sorted(paths)).encode()) \
            .hexdigest()

    assert files.checksum() == expected("src/docs/a.md", "src/lib/util.go",
                                        "src/lib/util_test.go", "src/main.go")
    assert files.checksum(("lib",)) == expected("src/lib/util.go", "src/lib/util_test.go")
    assert files.checksum(("*.go",)) == expected("src/main.go")
    assert files.checksum(("nothing",)) == hashlib.sha256(b"").hexdigest()
    assert files.checksum(("",)) == hashlib.sha256(b"").hexdigest()


# werf's `.Files.Glob` syntax (doublestar v4, as werf's path matcher applies it), read
# from doublestar's documentation and werf's pkg/path_matcher, never from this code.
EXTENDED = [
    ("images/*/{Dockerfile,werf.inc.yaml}", "images/a/Dockerfile", True),
    ("images/*/{Dockerfile,werf.inc.yaml}", "images/b/werf.inc.yaml", True),
    ("images/*/{Dockerfile,werf.inc.yaml}", "images/a/README", False),
    ("{a,{b,c}}/x", "c/x", True),
    ("{a,{b,c}}/x", "d/x", False),
    ("x{}y", "xy", True),  # an empty alternative
    ("{a,b/c}", "b/c", True),
    ("a,b", "a,b", True),  # a comma outside braces is itself
    ("\\{a,b\\}", "{a,b}", True),  # escaped braces are literal
    ("\\{a,b\\}", "a", False),
    ("{a\\,b,c}", "a,b", True),
    ("[{]x", "{x", True),  # a class holds no brace
    ("[abc]", "b", True),
    ("[abc]", "d", False),
    ("[a-c]x", "bx", True),
    ("[!a-c]x", "dx", True),
    ("[!a-c]x", "bx", False),
    ("[^a]", "b", True),
    ("[a\\-z]", "-", True),  # an escaped "-" is no range
    ("[a\\-z]", "b", False),
    ("[a-]", "-", True),  # a "-" before "]" is itself
    ("[\\]]", "]", True),
    ("[z-a]", "a", False),  # a reversed range matches nothing
    ("[z-ab]", "b", True),
    ("[!z-a]", "q", True),
    ("[a-c]", "/", False),  # a class never matches "/"
    ("x/[!a]", "x/y/z", True),  # the directory y matches: what it holds is taken
    ("lit\\*", "lit*", True),
    ("lit\\*", "litx", False),
    ("lit\\?", "lit?", True),
    ("src/*", "src", True),  # trailing star segments trimmed, as werf's matcher does
    ("src/**", "src", True),
    ("a/{b,*}", "a", False),  # trimmed before the braces are expanded, as werf does
    ("a/{b,*}", "a/c", True),
    ("**/*.yaml", "deep/er/x.yaml", True),
    ("/oss.yaml", "oss.yaml", True),  # a leading "/" is the project directory
]


@pytest.mark.parametrize("pattern,path,expected", EXTENDED)
def test_files_glob_syntax(pattern, path, expected):
    assert GlobSet([pattern], extended=True).match(path) is expected


@pytest.mark.parametrize("pattern,path", [("[abc]", "[abc]"), ("a\\b", "a\\b"),
                                          ("{a,b}", "{a,b}"), ("src/*", "src/x")])
def test_section_5_globs_keep_brackets_braces_and_backslashes_literal(pattern, path):
    assert GlobSet([pattern]).match(path)


@pytest.mark.parametrize("pattern,message", [
    ("images/[ab", "a class [ is not closed"),
    ("x[]", "a class [] is empty"),
    ("images/{a,b", "a { is not closed"),
    ("{a,b}" * 11, "expand to over 1024 globs"),
    ("{a}" * 300, "more than 256 {"),
])
def test_files_glob_errors_say_what_is_wrong(pattern, message):
    from werfpull.signatures.globs import GlobError

    with pytest.raises(GlobError, match=message.replace("[", "\\[").replace("{", "\\{")):
        GlobSet([pattern], extended=True)
