"""Signatures of configs that loaded before the werf 2 keys existed, pinned byte for byte.

Spec section 7 adds keys to DEPS objects only when they are set, so a config that uses
none of them must keep every signature it had; the hex values below were computed
before those keys were implemented and must never change.
"""

from __future__ import annotations

import hashlib

import pytest

from werfpull.config.load import parse_config
from werfpull.signatures.signer import Signer
from werfpull.tools.git import Entry


def _entry(path: str) -> Entry:
    obj = hashlib.sha1(path.encode()).hexdigest()
    return Entry(path, f"100644 blob {obj}\t{path}\n")


TREE = sorted([_entry("src/main.c"), _entry("src/util/x.h"), _entry("docs/README"),
               _entry("package.json")], key=lambda e: e.raw_path)
FROM_DIGEST = "sha256:" + "ab" * 32

CONFIGS = {
    "shell-git-docker": """\
project: pin
configVersion: 1
---
image: app
from: debian:12
fromCacheVersion: 3
mount:
- from: tmp_dir
  to: /tmp
- fromPath: cache
  to: /cache
git:
- add: /src
  to: /app
  includePaths: [main.c, util]
  owner: 1000
  stageDependencies:
    install: ["**/*.h"]
    setup: main.c
- add: /package.json
  to: /app/package.json
shell:
  beforeInstall: apt-get update
  install: [make, make check]
  setup: [echo done]
  cacheVersion: v1
  setupCacheVersion: 2
docker:
  EXPOSE: 80
  ENV: {A: "1"}
  CMD: [run, --fast]
  WORKDIR: /app
""",
    "artifacts-imports-ansible": """\
project: pin
configVersion: 1
---
artifact: tools
from: alpine:3
shell:
  install: [make tools]
---
image: base
from: busybox
fromLatest: true
ansible:
  install:
  - name: git
    apt: {name: git, state: present}
  beforeSetupCacheVersion: 7
---
image: [api, worker]
fromImage: base
import:
- artifact: tools
  add: /out
  to: /usr/bin
  after: install
  excludePaths: [b, a]
  group: wheel
- image: base
  add: /etc
  before: setup
docker:
  USER: app
---
artifact: derived
fromArtifact: tools
shell:
  setup: ""
""",
    "minimal": """\
project: pin
configVersion: 1
---
image: ~
from: scratch
""",
}

PINNED = {
    "shell-git-docker": {
        "app": {
            "from":
                "431d717fd70451d8f083fb78beba1571ba1756f871b6ff5fdb6e78bc05eefe5f",
            "beforeInstall":
                "2ff45a46c92a9de3926d6e76ac7603988cf858e6749933b317e31f9a6cda34c5",
            "gitArchive":
                "f83add6e180e19ce4f1fab543580dd2c5fbd6716c09c804403ac7c5b3a542298",
            "install":
                "866256dcb17a85fa04c26a69a1f91a12be0de49cd2a495712082815091b2e660",
            "setup":
                "32bebe6e1fb04d095b0b6d3b0e2da05c26e36e31b785368ee6e3bd21bf381614",
            "gitLatestPatch":
                "bd7d79860a28fd6eed503f356daaf74694d8d8da8750f9aec2fc0bf598b40a6f",
            "dockerInstructions":
                "2dedd0b8ec8989471d19d67190d19f70697f5a957b4cecf842effd454e12196b",
        },
    },
    "artifacts-imports-ansible": {
        "tools": {
            "from":
                "d8ad43fcd0d1ef58aa06eddebcc5c8a88e69c153267f8eb71918af0818b18c33",
            "install":
                "a70c4fcf2ed17be15f667bdf7a538ee882c612a6f24998a1d4e1c585f143e492",
        },
        "base": {
            "from":
                "8515b5c47cd99ab8f62fd03090b0ed99ef9fde7e0d1143bc3ef2ae56fe5916d6",
            "install":
                "fbf7ed21955523061354d4841b6556116a8396cbd0d4e772d7cc176fecc777af",
            "beforeSetup":
                "7160f3ea54d39591d06a6f52319db454bb58f477a42eab09cc985bc18b7291ec",
        },
        "api": {
            "from":
                "e745528b45bc5d62c8e3340e2c6e44b54d71878f33f6203eb0c0ac48af7f80a6",
            "importsAfterInstall":
                "0e504c702d13ef6deac3d4ecac5cb68c0df8647cc5710bc15f381000206a9ac5",
            "importsBeforeSetup":
                "e466f778170ca993565619075f56a2b69bd0ee64d90c95805f7bc7abc9cc9678",
            "dockerInstructions":
                "f8004602ff9e4b4ec5adf04712d15d1b1223de06d68934ea2329366b0182d561",
        },
        "worker": {
            "from":
                "e745528b45bc5d62c8e3340e2c6e44b54d71878f33f6203eb0c0ac48af7f80a6",
            "importsAfterInstall":
                "0e504c702d13ef6deac3d4ecac5cb68c0df8647cc5710bc15f381000206a9ac5",
            "importsBeforeSetup":
                "e466f778170ca993565619075f56a2b69bd0ee64d90c95805f7bc7abc9cc9678",
            "dockerInstructions":
                "f8004602ff9e4b4ec5adf04712d15d1b1223de06d68934ea2329366b0182d561",
        },
        "derived": {
            "from":
                "90562c2bdf8a06e77bfbd3fff7fe053cbb827289d0bae6881a4b29dbb98f0f64",
            "setup":
                "299c93764ad9bddbbb3727a1be6dac5dcfa46ca56cd5a07f34879acde569bfe5",
        },
    },
    "minimal": {
        "None": {
            "from":
                "db80860aaa8a25b6b776f323b8ee830aca2835f2860088905ce569065d7d6567",
        },
    },
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_configs_without_werf2_keys_keep_their_signatures(name):
    cfg = parse_config(CONFIGS[name], "werf.yaml")
    signed = Signer(cfg, lambda mapping: TREE, lambda ref: FROM_DIGEST).sign_all()
    got = {str(s.image.name): {st.name: st.signature for st in s.stages} for s in signed}
    assert got == PINNED[name]
