"""werf's cleanup policy: reading the section, selecting references, scanning history.

Expected values come from werf's documented semantics worked out by hand for each small
case, not from the code under test."""

from __future__ import annotations

import pytest

from werfpull.cleanup.history import parse_meta_tolerant
from werfpull.cleanup.policy import Reference, parse_duration, read_policy, references_to_scan
from werfpull.cleanup.scan import Node, scan_reference
from werfpull.errors import ConfigError

NOW = 1_000_000_000.0
H, D = 3600, 86400
IMAGE = "---\nimage: a\nfrom: x\n"


def policy_of(cleanup: str):
    text = f"project: p\nconfigVersion: 1\ncleanup:\n{cleanup}" + IMAGE
    _, docs = parse_meta_tolerant(text, "werf.yaml")
    return read_policy(docs[0], "werf.yaml")


def refs(*specs):
    return [Reference(name, kind, f"c-{name}", int(NOW - age)) for kind, name, age in specs]


def test_durations_are_go_durations():
    assert parse_duration("168h") == 168 * H
    assert parse_duration("1h30m") == 5400
    assert parse_duration("1.5h") == 5400
    assert parse_duration("0") == 0
    for bad in ("7d", "", "h", "1 h", "1hh2"):
        assert parse_duration(bad) is None, bad


def test_default_policy_when_the_section_is_absent():
    p = policy_of("  keepImagesBuiltWithinLastNHours: 5\n")
    assert p.is_default and p.keep_hours == 5
    chosen = references_to_scan(refs(("branch", "main", 30 * D), ("branch", "old", 8 * D),
                                     ("branch", "new", 1 * D), ("tag", "v1", 90 * D)), p, NOW)
    by = {r.name: r for r in chosen}
    assert set(by) == {"main", "new", "v1"}  # old: not within 7 days and not main
    assert by["main"].images.count == 10 and by["main"].images.within is None
    assert by["new"].images.count == 2 and by["new"].images.within == 7 * D
    assert by["v1"].images.count == 1
    assert [r.name for r in chosen] == ["new", "main", "v1"]  # branches newest first


def test_the_last_policy_to_select_a_reference_sets_its_images_per_reference():
    p = policy_of("  keepPolicies:\n"
                  "  - references: {branch: /.*/}\n    imagesPerReference: {last: 5}\n"
                  "  - references: {branch: main}\n")
    by = {r.name: r for r in references_to_scan(refs(("branch", "main", D),
                                                     ("branch", "dev", D)), p, NOW)}
    assert by["main"].images.count == 1  # the second policy's default
    assert by["dev"].images.count == 5


def test_reference_limits_and_or():
    specs = [("tag", f"v{i}", i * D) for i in range(1, 6)]
    and_ = policy_of("  keepPolicies:\n  - references:\n      tag: /v.*/\n"
                     "      limit: {last: 2, in: 72h}\n")
    or_ = policy_of("  keepPolicies:\n  - references:\n      tag: /v.*/\n"
                    "      limit: {last: 1, in: 72h, operator: Or}\n")
    assert {r.name for r in references_to_scan(refs(*specs), and_, NOW)} == {"v1", "v2"}
    assert {r.name for r in references_to_scan(refs(*specs), or_, NOW)} == {"v1", "v2"}
    lit = policy_of("  keepPolicies:\n  - references: {tag: v1.0}\n")
    names = {r.name for r in references_to_scan(refs(("tag", "v1.0", D), ("tag", "v1x0", D)),
                                                lit, NOW)}
    assert names == {"v1.0"}  # a plain string is literal, the dot included


@pytest.mark.parametrize("body,key", [
    ("  keepPolicies:\n  - imagesPerReference: {last: 1}\n", "cleanup.keepPolicies[0]"),
    ("  keepPolicies:\n  - references: {tag: a, branch: b}\n",
     "cleanup.keepPolicies[0].references"),
    ("  keepPolicies:\n  - references: {branch: '/(/'}\n",
     "cleanup.keepPolicies[0].references.branch"),
    ("  keepPolicies:\n  - references: {branch: a, limit: {operator: Xor}}\n",
     "cleanup.keepPolicies[0].references.limit.operator"),
    ("  keepPolicies:\n  - references: {branch: a}\n    imagesPerReference: {in: 7d}\n",
     "cleanup.keepPolicies[0].imagesPerReference.in"),
    ("  keepImagesBuiltWithinLastNHours: -1\n", "cleanup.keepImagesBuiltWithinLastNHours"),
    ("  keepPolicys: []\n", "cleanup.keepPolicys"),
])
def test_mistakes_name_file_line_and_key(body, key):
    with pytest.raises(ConfigError) as exc:
        policy_of(body)
    assert exc.value.file == "werf.yaml" and exc.value.line and exc.value.line >= 3
    assert exc.value.key == key


def _linear(n: int, step: int = H):
    """c0 <- c1 <- ... <- c{n-1}, c{n-1} newest."""
    return {f"c{i}": Node(int(NOW - (n - i) * step), (f"c{i - 1}",) if i else ())
            for i in range(n)}


def _ref(limit_text: str, kind: str = "branch", head: str = "c9"):
    p = policy_of("  keepPolicies:\n  - references: {" + kind + ": x}\n"
                  + (f"    imagesPerReference: {limit_text}\n" if limit_text else ""))
    ref = Reference("x", kind, head, int(NOW))
    references_to_scan([ref], p, NOW)
    return ref


def test_images_per_reference_counts_images_not_commits():
    graph = _linear(10)
    # Image A at c0..c4, B at c5..c7, C at c8, D at c9.
    expected = {"A": [f"c{i}" for i in range(5)], "B": ["c5", "c6", "c7"], "C": ["c8"],
                "D": ["c9"]}
    assert scan_reference(_ref("{last: 2}"), graph, expected, NOW) == {"D": "c9", "C": "c8"}
    assert scan_reference(_ref("{last: 3}"), graph, expected, NOW) == {
        "D": "c9", "C": "c8", "B": "c7"}
    assert scan_reference(_ref("{last: -1}"), graph, expected, NOW) == {
        "D": "c9", "C": "c8", "B": "c7", "A": "c4"}
    assert scan_reference(_ref("{last: 0}"), graph, expected, NOW) == {}
    # Only commits within `in` count (And: before the scan); c8 is 2 h old, c9 1 h.
    assert scan_reference(_ref("{last: 5, in: 150m}"), graph, expected, NOW) == {
        "D": "c9", "C": "c8"}
    # Or: the last 1, plus everything within 4 h (c6..c9: B, C, D).
    assert scan_reference(_ref("{last: 1, in: 4h30m, operator: Or}"), graph, expected,
                          NOW) == {"D": "c9", "C": "c8", "B": "c7"}


def test_a_tag_keeps_only_the_image_of_its_own_commit():
    graph = _linear(10)
    expected = {"A": ["c3"], "B": ["c5"]}
    assert scan_reference(_ref("{last: 5}", "tag", "c5"), graph, expected, NOW) == {"B": "c5"}
    assert scan_reference(_ref("{last: 5}", "tag", "c6"), graph, expected, NOW) == {}
    assert scan_reference(_ref("{last: 5}", "branch", "c6"), graph, expected, NOW) == {
        "B": "c5", "A": "c3"}


def test_a_merge_reaches_both_parents():
    graph = {"r": Node(1, ()), "a": Node(2, ("r",)), "b": Node(3, ("r",)),
             "m": Node(4, ("a", "b"))}
    expected = {"A": ["a"], "B": ["b"], "R": ["r"]}
    assert scan_reference(_ref("{last: -1}", head="m"), graph, expected, NOW) == {
        "A": "a", "B": "b", "R": "r"}


def test_creation_times_are_read_as_go_writes_them():
    from werfpull.cleanup.registry import parse_time

    assert parse_time("1970-01-02T00:00:00Z") == 86400
    assert parse_time("1970-01-02T00:00:00.123456789Z") == pytest.approx(86400.123456)
    assert parse_time("1970-01-02T02:00:00+02:00") == 86400
    assert parse_time("0001-01-01T00:00:00Z") < 0  # Go's zero time: very old
    for bad in (None, "yesterday", "2026-13-01T00:00:00Z", "xTy", 5):
        assert parse_time(bad) is None, bad
