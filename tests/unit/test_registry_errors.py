"""skopeo's stderr read into error kinds: which failures are transient (pure)."""

from __future__ import annotations

import pytest

from werfpull.errors import ServerError, TLSError, Unauthorized, Unreachable
from werfpull.tools import process
from werfpull.tools.registry_errors import classify, is_absent, is_transient

IDLE = ('time="2026-12-01T11:40:02Z" level=fatal msg="copying system image from manifest '
        'list: reading blob sha256:ab: Get \\"http://127.0.0.1:5000/v2/t/x/blobs/sha256:ab'
        '\\": http: server closed idle connection"\n')
REF = "127.0.0.1:5000/stages:image-stage-abc"


def failed(stderr: str) -> process.Result:
    return process.Result(["skopeo", "inspect"], 1, b"", stderr.encode())


def test_a_kept_alive_connection_closed_by_the_server_is_transient():
    """A fault proxy dropping connections makes skopeo say this, and a retry succeeds."""
    error = classify(failed(IDLE), "127.0.0.1:5000", "REPO:TAG")
    assert isinstance(error, Unreachable) and is_transient(error)
    assert error.message == ("127.0.0.1:5000: registry unreachable (server closed idle"
                             " connection) reading REPO:TAG")


@pytest.mark.parametrize("stderr, kind, transient", [
    ('msg="... dial tcp 127.0.0.1:5000: connect: connection refused"', Unreachable, True),
    ('msg="... received unexpected HTTP status: 503 Service Unavailable"', ServerError, True),
    ('msg="... unauthorized: authentication required"', Unauthorized, False),
    ('msg="... x509: certificate signed by unknown authority"', TLSError, False),
])
def test_classify(stderr, kind, transient):
    error = classify(failed(stderr), "127.0.0.1:5000", REF)

    assert type(error) is kind
    assert is_transient(error) is transient
    assert "127.0.0.1:5000" in str(error) and REF in str(error)
    assert not is_absent(stderr)


def test_manifest_unknown_is_absent():
    assert is_absent('msg="... manifest unknown: manifest unknown"')
