"""The inventory survey's order of questions, with a registry of plain data.

`FakeRemote` answers probes and the bounded tag page from a set of present tags and
counts what was asked; its tag page can be held back, as a registry with a long
history (Distribution reads every tag to serve one page) holds it.
"""

from __future__ import annotations

import threading

from werfpull.inventory.registry import HTTP_PROBE_MAX, PROBE_MAX
from werfpull.inventory.survey import survey
from werfpull.refs import parse_repo, stage_tag


class FakeHTTP:
    def __init__(self, remote):
        self.remote, self.requests = remote, 0

    def usable(self) -> bool:
        return self.remote.http_ok

    def tags_page(self, path: str, n: int):
        self.remote.page_asked.set()
        self.remote.page_release.wait()
        return self.remote.page


class FakeRemote:
    def __init__(self, present: set[str], *, page="all", http_ok=True):
        self.present, self.http_ok = present, http_ok
        self.page = {stage_tag(s) for s in present} if page == "all" else page
        self.page_asked, self.page_release = threading.Event(), threading.Event()
        self.http = FakeHTTP(self)
        self.repo = parse_repo("127.0.0.1:5000/app/stages")
        self.probed: list[list[str]] = []
        self.listed = 0
        self.calls = self.processes = self.retried = 0
        self.wait_for_page = False

    def probe_all(self, signatures):
        if self.wait_for_page:  # a slow wave: the page comes back during it
            for thread in threading.enumerate():
                if thread.name == "werfpull-tag-page":
                    thread.join(5)
        self.probed.append(list(signatures))
        return {s for s in signatures if s in self.present}

    def tag_page(self):
        self.listed += 1
        return {stage_tag(s) for s in self.present}


def chains(images: int, stages: int) -> list[list[str]]:
    return [[f"{i:02d}{k}" + "0" * 61 for k in range(stages)] for i in range(images)]


def test_few_probes_ask_no_tag_page():
    remote = FakeRemote(set())
    got = survey(chains(2, 3), {}, remote, "auto", False)
    assert got.strategy == "probe" and got.remote == set()
    assert not remote.page_asked.is_set()
    # The last stages, then at once every stage below them, back to the first.
    assert [len(w) for w in remote.probed] == [2, 4]


MANY = HTTP_PROBE_MAX // 4 + 1  # images of 4 stages: more probes than a page pays for


def test_probes_of_a_few_round_trips_ask_no_page_over_http():
    cs = chains(5, 4)  # past PROBE_MAX, within HTTP_PROBE_MAX
    assert PROBE_MAX < 20 <= HTTP_PROBE_MAX
    remote = FakeRemote(set())
    got = survey(cs, {}, remote, "auto", False)
    assert not remote.page_asked.is_set() and got.strategy == "probe"
    assert [len(w) for w in remote.probed] == [5, 15]


def test_a_page_held_back_never_makes_the_plan_wait():
    cs = chains(MANY, 4)
    present = {c[1] for c in cs}  # each image's second stage
    remote = FakeRemote(present)  # page_release is never set: the page never comes
    got = survey(cs, {}, remote, "auto", False)
    assert remote.page_asked.wait(5)
    assert got.strategy == "probe" and got.remote == present
    # The last stages, then the rest.
    assert [len(w) for w in remote.probed] == [MANY, 3 * MANY]
    remote.page_release.set()


def test_a_page_that_comes_back_answers_the_rest_at_once():
    cs = chains(MANY, 4)
    present = {cs[0][0]}
    remote = FakeRemote(present)
    remote.page_release.set()
    remote.wait_for_page = True
    got = survey(cs, {}, remote, "auto", False)
    assert got.strategy == "list"
    assert len(remote.probed) <= 1  # at most one wave, then the page answered the rest
    assert got.remote == present and got.asked == {s for c in cs for s in c}


def test_a_page_that_cannot_hold_every_tag_leaves_the_probes_to_answer():
    cs = chains(MANY, 4)
    present = {c[2] for c in cs}
    remote = FakeRemote(present, page=None)  # more tags than one page: None
    remote.page_release.set()
    remote.wait_for_page = True
    got = survey(cs, {}, remote, "auto", False)
    assert got.strategy == "probe" and got.remote == present


def test_without_http_one_listing_comes_first():
    cs = chains(5, 4)
    present = {c[3] for c in cs[:2]}
    remote = FakeRemote(present, http_ok=False)
    got = survey(cs, {}, remote, "auto", False)
    assert remote.listed == 1 and remote.probed == [] and got.strategy == "list"
    assert got.remote == present


def test_local_final_stages_need_no_registry_at_all():
    cs = chains(3, 4)
    remote = FakeRemote(set())
    got = survey(cs, {c[-1]: "x" for c in cs}, remote, "auto", False)
    assert got.strategy == "local" and remote.probed == [] and remote.listed == 0


def test_an_image_whose_last_stage_is_present_asks_nothing_below_it():
    cs = chains(3, 4)
    present = {cs[0][-1], cs[1][1], cs[2][0]}
    remote = FakeRemote(present)
    remote.page_release.set()
    got = survey(cs, {cs[2][2]: "x"}, remote, "probe", False)
    assert remote.probed[0] == [c[-1] for c in cs]
    # Image 0 is decided; image 1 is asked down to its first stage; image 2's stage
    # below its last is held here, so nothing below that is asked.
    assert sorted(remote.probed[1]) == sorted([cs[1][2], cs[1][1], cs[1][0]])
    assert got.remote == {cs[0][-1], cs[1][1]} and not remote.page_asked.is_set()
