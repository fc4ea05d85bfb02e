"""process.Ahead: answers read ahead on daemon threads, each handed out once."""

from __future__ import annotations

import threading

import pytest

from werfpull.tools import process


def test_each_answer_comes_from_the_read_ahead_once_then_fresh():
    calls: list[str] = []
    lock = threading.Lock()

    def read(key):
        with lock:
            calls.append(key)
        return f"{key}:{calls.count(key)}"

    ahead = process.Ahead(read, ["a", "b", "c"], jobs=2)
    assert [ahead.take(k) for k in ("c", "a", "b")] == ["c:1", "a:1", "b:1"]
    assert sorted(calls) == ["a", "b", "c"]  # each read once, ahead
    assert ahead.take("a") == "a:2"  # a retry asks again
    assert ahead.take("z") == "z:1"  # never read ahead: asked by the taker
    assert sorted(calls) == ["a", "a", "b", "c", "z"]


def test_an_error_is_raised_to_the_taker_and_a_retry_reads_again():
    failures = iter([ValueError("503")])

    def read(key):
        error = next(failures, None)
        if error is not None:
            raise error
        return "ok"

    ahead = process.Ahead(read, ["k"], jobs=1)
    with pytest.raises(ValueError, match="503"):
        ahead.take("k")
    assert ahead.take("k") == "ok"


def test_a_taker_waits_for_its_own_answer_only():
    release = threading.Event()

    def read(key):
        if key == "slow":
            release.wait(10)
        return key

    ahead = process.Ahead(read, ["slow", "fast"], jobs=2)
    assert ahead.take("fast") == "fast"  # not held behind the slow read
    release.set()
    assert ahead.take("slow") == "slow"


def test_a_stopping_werfpull_ends_the_wait(monkeypatch):
    halted = threading.Event()
    monkeypatch.setattr(process, "_halted", halted)
    stall = threading.Event()
    ahead = process.Ahead(lambda key: stall.wait(30), ["k"], jobs=1)
    threading.Timer(0.2, halted.set).start()
    with pytest.raises(InterruptedError):
        ahead.take("k")
    stall.set()
