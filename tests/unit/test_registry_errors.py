"""skopeo's stderr classified: what is retried, what is final, what is absent."""

from __future__ import annotations

import pytest

from werfpull.errors import ServerError, TLSError, Unauthorized, Unreachable
from werfpull.tools.process import Result
from werfpull.tools.registry_errors import classify, is_absent, is_transient

REF = "127.0.0.1:5000/stages:image-stage-abc"


def failed(stderr: str) -> Result:
    return Result(["skopeo", "inspect"], 1, b"", stderr.encode())


@pytest.mark.parametrize("stderr, kind, transient", [
    # skopeo 1.9 reusing a kept-alive connection that a proxy dropped right after accept
    (f'time="x" level=fatal msg="Error parsing image name \\"docker://{REF}\\": reading '
     'manifest image-stage-abc in 127.0.0.1:5000/stages: Get '
     '\\"http://127.0.0.1:5000/v2/stages/manifests/image-stage-abc\\": http: server '
     'closed idle connection"', Unreachable, True),
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
