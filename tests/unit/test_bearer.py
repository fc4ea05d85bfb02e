"""Reading a Bearer challenge, the realms a pull token may be asked from, and an
unreachable token server named as such (pure)."""

from __future__ import annotations

import ssl

import pytest

from werfpull.inventory.bearer import Fallback, Tokens, challenge


def test_a_bearer_challenge_is_read_with_quoted_and_bare_values():
    assert challenge('Bearer realm="https://auth.example/token",service="registry.example",'
                     'scope="repository:team/app:pull,push"') == {
        "realm": "https://auth.example/token", "service": "registry.example",
        "scope": "repository:team/app:pull,push"}
    assert challenge('bearer realm="https://a/t", error="invalid_token"')["error"] == \
        "invalid_token"
    assert challenge("Bearer realm=https://a/t,service=s") == {"realm": "https://a/t",
                                                              "service": "s"}


@pytest.mark.parametrize("header", ['Basic realm="x"', "", "Negotiate"])
def test_other_schemes_are_no_bearer_challenge(header):
    assert challenge(header) is None


def test_an_unterminated_quote_falls_back():
    with pytest.raises(Fallback):
        challenge('Bearer realm="https://a/t')


def tokens(realm: str, registry_scheme: str) -> Tokens:
    return Tokens({"realm": realm, "service": "s"}, ("u", "p"),
                  registry_scheme=registry_scheme, context=ssl.create_default_context(),
                  timeout=1)


def test_credentials_go_to_a_plain_http_realm_only_for_a_plain_http_registry():
    with pytest.raises(Fallback, match="plain HTTP"):
        tokens("http://auth.example/token", "https")
    assert tokens("http://127.0.0.1:5001/token", "http").realm.port == 5001
    assert tokens("https://auth.example/token", "https").realm.hostname == "auth.example"


@pytest.mark.parametrize("realm", ["", "ftp://auth.example/t", "/token", "https://"])
def test_a_realm_that_is_no_url_falls_back(realm):
    with pytest.raises(Fallback, match="realm"):
        tokens(realm, "https")


DOWN = ('time="2026-12-01T11:17:14Z" level=fatal msg="Error parsing image name '
        '\\"docker://127.0.0.1:5000/team/s:t1\\": Get \\"https://auth.example:5001/token?'
        'account=u&scope=repository%3Ateam%2Fs%3Apull&service=reg\\": dial tcp '
        '10.0.0.9:5001: connect: connection refused"\n')


def _classify(stderr: str):
    from werfpull.tools import process
    from werfpull.tools.registry_errors import classify
    return classify(process.Result(["skopeo"], 1, b"", stderr.encode()), "127.0.0.1:5000",
                    "REPO:TAG")


def test_an_unreachable_token_server_is_named_not_the_registry():
    error = _classify(DOWN)
    assert error.message == ("127.0.0.1:5000: its token server auth.example:5001 is"
                             " unreachable (connection refused) reading REPO:TAG")
    assert error.exit_code == 4


def test_an_unreachable_storage_redirect_or_registry_is_the_registry_unreachable():
    blob = DOWN.replace("/token?account=u&scope=repository%3Ateam%2Fs%3Apull&service=reg",
                        "/blobs/sha256-ab?X-Amz-Signature=1")
    assert "registry unreachable" in _classify(blob).message
    own = DOWN.replace("auth.example:5001", "127.0.0.1:5000")
    assert "registry unreachable" in _classify(own).message
