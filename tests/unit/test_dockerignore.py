""".dockerignore (spec section 8): cases from Docker's documented semantics (moby's
patternmatcher tests and Go's path.Match tests, read segment by segment as the spec
says), and a comparison with a direct port of Go's path.Match on random patterns."""

from __future__ import annotations

import random

import pytest

from werfpull.signatures.dockerignore import BadPattern, DockerIgnore, go_clean, parse


def excluded(patterns: list[str], rel: str) -> bool:
    return DockerIgnore.from_text("\n".join(patterns)).excluded(rel)


# (pattern, path, excluded) -- one pattern at a time.
SINGLE = [
    ("*", "fileutils.go", True),
    ("*.go", "fileutils.go", True),
    ("**", "file", True),
    ("**", "dir/file", True),
    ("**/", "dir/file", True),
    ("**/**", "dir/file", True),
    ("dir/**", "dir/file", True),
    ("dir/**", "dir/dir2/file", True),
    ("**/dir", "dir", True),
    ("**/dir", "dir/file", True),  # the directory dir holds the file
    ("**/dir2/*", "dir/dir2/file", True),
    ("**/dir2/**", "dir/dir2/dir3/file", True),
    ("**/file", "dir/file", True),
    ("**/file", "dir/dir/file", True),
    ("**/file*", "dir/dir/file.txt", True),
    ("**/file*txt", "dir/dir/file.txt", True),
    ("**/file*.txt*", "dir/dir/file.txt", True),
    ("**/**/*.txt", "dir/dir/file.txt", True),
    ("**/**/*.txt2", "dir/dir/file.txt", False),
    ("**/*.txt", "file.txt", True),
    ("**/**/*.txt", "file.txt", True),
    ("a/*.txt", "a/dir/file.txt", False),
    ("a/*.txt", "a/file.txt", True),
    ("a[b-d]e", "ae", False),
    ("a[b-d]e", "ace", True),
    ("a[b-d]e", "aae", False),
    ("a[^b-d]e", "aze", True),
    ("a[^b-d]e", "ace", False),
    (".*", ".foo", True),
    (".*", "foo", False),
    ("abc.def", "abcdef", False),
    ("abc.def", "abc.def", True),
    ("abc?def", "abcZdef", True),
    ("abc?def", "abcdef", False),
    ("**/foo/bar", "foo/bar", True),
    ("**/foo/bar", "dir/dir2/foo/bar", True),
    ("abc/**", "abc/def/ghi", True),
    ("**/.foo", ".foo", True),
    ("**/.foo", "bar.foo", False),
    ("a(b)c/def", "a(b)c/def", True),
    ("a(b)c/def", "a(b)c/xyz", False),
    ("a.|)$(}+{bc", "a.|)$(}+{bc", True),
    ("dist/*.whl", "dist/proxy.py-2.4.0rc3.dev36+g08acad9-py3-none-any.whl", True),
    ("a\\\\", "a\\", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    # Go's path.Match cases
    ("*c", "abc", True),
    ("a*", "a", True),
    ("a*", "ab/c", True),  # "ab" is a directory of the path
    ("a*/b", "abc/b", True),
    ("a*/b", "a/c/b", False),
    ("a*b*c*d*e*/f", "axbxcxdxe/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/f", True),
    ("a*b*c*d*e*/f", "axbxcxdxe/xxx/f", False),
    ("a*b*c*d*e*/f", "axbxcxdxexxx/fff", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[c]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a?b", "a☺b", True),
    ("a[^a]b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("[a-ζ]*", "α", True),
    ("*[a-ζ]", "A", False),
    ("a?b", "a/b", False),
    ("a*b", "a/b", False),
    ("[\\]a]", "]", True),
    ("[\\-]", "-", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("[\\-x]", "x", True),
    ("*x", "xxx", True),
    ("[z-a]", "m", False),  # an inverted range matches nothing, and is no error
    ("[^z-a]", "m", True),
    ("[!-0]", "a/b", False),  # a class never matches the "/" between segments
    # the spec's own reading: "**" only as a whole segment, else it is "*"
    ("**file", "dir/file", False),
    ("**file", "file", True),
    ("abc/**", "abc", True),
    # cleaning
    ("/abc", "abc", True),
    ("./abc", "abc", True),
    ("abc/", "abc/x", True),
    ("a//b", "a/b", True),
    ("x/../abc", "abc", True),
    ("../abc", "abc", False),
    (".", "abc", False),
    ("/", "abc", False),
    # a pattern matches the path or a directory that holds it, never a prefix of a name
    ("src", "src/a/b.c", True),
    ("src", "srcx/a", False),
    ("src/a", "src/ab", False),
]


@pytest.mark.parametrize("pattern,rel,want", SINGLE)
def test_single_pattern(pattern, rel, want):
    assert excluded([pattern], rel) is want


MULTI = [
    (["!fileutils.go", "*.go"], "fileutils.go", True),
    (["*.go", "!fileutils.go"], "fileutils.go", False),
    (["docs", "!docs/README.md"], "docs/README.md", False),
    (["docs", "!docs/README.md"], "docs/other.md", True),
    (["docs/", "!docs/README.md"], "docs/README.md", False),
    (["docs/*", "!docs/README.md"], "docs/README.md", False),
    (["**", "!util/docker/web"], "util/docker/web/foo", False),
    (["**", "!util/docker/web", "util/docker/web/foo"], "util/docker/web/foo", True),
    (["**", "!dist/*.whl"], "dist/x-1.0-py3-none-any.whl", False),
    (["*.md", "!README*.md", "README-secret.md"], "README-secret.md", True),
    (["*.md", "!README*.md", "README-secret.md"], "README.md", False),
    (["*.md", "!README*.md", "README-secret.md"], "CHANGES.md", True),
    (["!keep", "*"], "keep", True),  # the last match decides, whatever its kind
    (["nothing"], "file", False),
]


@pytest.mark.parametrize("patterns,rel,want", MULTI)
def test_last_match_decides(patterns, rel, want):
    assert excluded(patterns, rel) is want


@pytest.mark.parametrize("pattern", [
    "[", "[^", "[^bc", "a[", "\\", "a\\", "[]a]", "[-]", "[x-]", "[-x]", "[a-b-c]",
    "[a/b]", "x/[/]", "!", "! ", "ok\n[",
])
def test_malformed_patterns_are_refused(pattern):
    with pytest.raises(BadPattern) as err:
        DockerIgnore.from_text(pattern)
    assert err.value.line == pattern.count("\n") + 1


def test_reading_the_file():
    text = "\ufeff# comment\n  # not a comment: a pattern\n\n  spaced  \r\n!  kept \n/abs//x/\n"
    assert [(p.text, p.exception, p.line) for p in parse(text)] == [
        ("# not a comment: a pattern", False, 2), ("spaced", False, 4), ("kept", True, 5),
        ("abs/x", False, 6)]
    # A BOM only counts at the very start; Go's TrimSpace keeps \x1c.
    assert [p.text for p in parse("a\n\ufeffb\n\x1cc")] == ["a", "\ufeffb", "\x1cc"]
    assert excluded(["\ufeff#x"], "#x") is False  # the BOM goes, then "#x" is a comment


@pytest.mark.parametrize("path,want", [
    ("", "."), (".", "."), ("a/./b", "a/b"), ("a//b/", "a/b"), ("a/../../b", "../b"),
    ("/../a", "/a"), ("/", "/"), ("//a", "/a"), ("a/..", "."), ("../..", "../.."),
])
def test_go_clean(path, want):
    assert go_clean(path) == want


# -- a port of Go's path.Match, segment by segment, as the reference -------------------


def go_match(pattern: str, name: str) -> bool:
    """Go's path.Match (src/path/match.go), for names without "/"."""
    while pattern:
        star = False
        while pattern.startswith("*"):
            pattern, star = pattern[1:], True
        chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name
        rest = _match_chunk(chunk, name)
        if rest is not None and (not rest or pattern):
            name = rest
            continue
        if star:
            for i in range(len(name)):
                rest = _match_chunk(chunk, name[i + 1:])
                if rest is not None and not (not pattern and rest):
                    name = rest
                    break
            else:
                return False
            continue
        return False
    return not name


def _scan_chunk(pattern: str) -> tuple[str, str]:
    in_range, i = False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            i += 1
        elif ch == "[":
            in_range = True
        elif ch == "]":
            in_range = False
        elif ch == "*" and not in_range:
            break
        i += 1
    return pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> str | None:
    while chunk:
        if not s:
            return None
        ch = chunk[0]
        if ch == "[":
            r, s, chunk = s[0], s[1:], chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            match, n = False, 0
            while not (chunk.startswith("]") and n):
                lo, chunk = _get_esc(chunk)
                hi = lo
                if chunk[0] == "-":
                    hi, chunk = _get_esc(chunk[1:])
                match = match or lo <= r <= hi
                n += 1
            chunk = chunk[1:]
            if match == negated:
                return None
        elif ch == "?":
            s, chunk = s[1:], chunk[1:]
        elif ch == "\\":
            if chunk[1] != s[0]:
                return None
            s, chunk = s[1:], chunk[2:]
        else:
            if ch != s[0]:
                return None
            s, chunk = s[1:], chunk[1:]
    return s


def _get_esc(chunk: str) -> tuple[str, str]:
    if chunk[0] == "\\":
        chunk = chunk[1:]
    return chunk[0], chunk[1:]


def ref_matches(pattern: str, rel: str) -> bool:
    """The spec's wording: segment by segment, `**` spans segments, a parent counts."""
    pattern = go_clean(pattern).lstrip("/")
    if pattern in ("", "."):
        return False
    pat = pattern.split("/")
    parts = rel.split("/")

    def seg(i: int, j: int) -> bool:
        if i == len(pat):
            return True  # what is left of rel lies under a matching directory
        if pat[i] == "**":
            return any(seg(i + 1, k) for k in range(j, len(parts) + 1))
        return j < len(parts) and go_match(pat[i], parts[j]) and seg(i + 1, j + 1)

    return seg(0, 0)


ATOMS = ["a", "b", "ab", "*", "?", "[ab]", "[^a]", "[a-c]", "\\*", "."]


def _random_pattern(rng: random.Random) -> str:
    segs = []
    for _ in range(rng.randint(1, 3)):
        segs.append("**" if rng.random() < 0.25 else
                    "".join(rng.choice(ATOMS) for _ in range(rng.randint(1, 3))))
    return "/".join(segs)


def _random_path(rng: random.Random) -> str:
    return "/".join("".join(rng.choice("ab.c*") for _ in range(rng.randint(1, 4)))
                    for _ in range(rng.randint(1, 4)))


def test_compiled_patterns_agree_with_go_path_match():
    rng = random.Random(8)
    for _ in range(3000):
        pattern, rel = _random_pattern(rng), _random_path(rng)
        assert excluded([pattern], rel) is ref_matches(pattern, rel), (pattern, rel)


def test_many_patterns_agree_with_last_match_by_hand():
    rng = random.Random(14)
    for _ in range(300):
        lines = [("!" if rng.random() < 0.3 else "") + _random_pattern(rng)
                 for _ in range(rng.randint(1, 6))]
        ignore = DockerIgnore.from_text("\n".join(lines))
        for _ in range(10):
            rel = _random_path(rng)
            want = False
            for line in lines:
                if ref_matches(line.lstrip("!"), rel):
                    want = not line.startswith("!")
            assert ignore.excluded(rel) is want, (lines, rel)
