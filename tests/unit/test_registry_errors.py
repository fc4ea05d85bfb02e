"""skopeo's stderr read into error kinds: which failures are transient (pure)."""

from __future__ import annotations

from werfpull.errors import Unreachable
from werfpull.tools import process
from werfpull.tools.registry_errors import classify, is_transient

IDLE = ('time="2026-12-01T11:40:02Z" level=fatal msg="copying system image from manifest '
        'list: reading blob sha256:ab: Get \\"http://127.0.0.1:5000/v2/t/x/blobs/sha256:ab'
        '\\": http: server closed idle connection"\n')


def test_a_kept_alive_connection_closed_by_the_server_is_transient():
    """A fault proxy dropping connections makes skopeo say this, and a retry succeeds."""
    error = classify(process.Result(["skopeo"], 1, b"", IDLE.encode()), "127.0.0.1:5000",
                     "REPO:TAG")
    assert isinstance(error, Unreachable) and is_transient(error)
    assert error.message == ("127.0.0.1:5000: registry unreachable (server closed idle"
                             " connection) reading REPO:TAG")
