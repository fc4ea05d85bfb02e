"""imageSpec to `buildah config` flags (the builder's side of spec section 7)."""

from __future__ import annotations

import pytest

from werfpull.builder.imagespec import spec_flags
from werfpull.builder.werf2 import dependency_env
from werfpull.errors import ConfigError


def test_every_config_key_becomes_its_flag():
    spec = {"author": "me", "clearHistory": True, "config": {
        "labels": {"a": "1"}, "env": {"E": "x"}, "user": "app", "workingDir": "/w",
        "entrypoint": ["/bin/sh", "-c"], "cmd": "run", "expose": ["80/tcp"],
        "volumes": ["/data"], "stopSignal": "SIGINT", "removeEnv": ["OLD"],
        "removeVolumes": ["/old"], "removeLabels": ["plain", "/^tmp\\./"],
        "clearCmd": True, "keepEssentialWerfLabels": True,
        "healthcheck": {"test": ["CMD", "true"], "interval": 5, "retries": 2}}}
    flags, omit = spec_flags(spec, {"tmp.a": "1", "tmp.b": "2", "keep": "3"}, "imageSpec")
    assert omit is True
    assert flags == [
        "--author=me", "--label=plain-", "--label=tmp.a-", "--label=tmp.b-", "--volume=/old-",
        "--env=OLD-", "--cmd=", "--label=a=1", "--env=E=x", "--user=app",
        "--workingdir=/w", '--entrypoint=["/bin/sh", "-c"]', "--cmd=run", "--port=80/tcp",
        "--volume=/data", "--healthcheck=CMD true", "--healthcheck-interval=5s",
        "--healthcheck-retries=2", "--stop-signal=SIGINT"]


def test_removals_come_before_additions_so_a_spec_can_replace_a_value():
    flags, _ = spec_flags({"config": {"removeEnv": ["A"], "env": {"A": "new"}}}, {}, "x")
    assert flags.index("--env=A-") < flags.index("--env=A=new")


@pytest.mark.parametrize("spec, fragment", [
    ({"nope": 1}, "imageSpec.nope"),
    ({"config": {"ports": [1]}}, "imageSpec.config.ports"),
    ({"config": {"healthcheck": {"test": ["WHAT"]}}}, "must start with CMD"),
    ({"config": {"healthcheck": {}}}, "needs 'test'"),
])
def test_unknown_or_bad_keys_are_config_errors(spec, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        spec_flags(spec, {}, "imageSpec")


def test_dependency_values():
    sig = "a" * 64
    tagged = f"reg/x/stages:image-stage-{sig}"
    info = {"FromImageID": "b" * 64, "FromImageDigest": "sha256:" + "c" * 64}
    assert dependency_env("ImageName", tagged, "reg/x/stages", info) == tagged
    assert dependency_env("ImageRepo", tagged, "reg/x/stages", info) == "reg/x/stages"
    assert dependency_env("ImageTag", tagged, "reg/x/stages", info) == f"image-stage-{sig}"
    assert dependency_env("ImageID", tagged, "reg/x/stages", info) == "sha256:" + "b" * 64
    assert dependency_env("ImageDigest", tagged, "reg/x/stages", info) == "sha256:" + "c" * 64
