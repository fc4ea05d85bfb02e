"""The Dockerfile image document (spec section 8): its keys, normal forms and errors."""

from __future__ import annotations

import pytest

from werfpull.config.load import parse_config
from werfpull.errors import ConfigError

PATH = "conf/werf.yaml"
META = "project: demo\nconfigVersion: 1\n---\n"  # an image document starts on line 4


def parse(body: str):
    return parse_config(META + body, PATH)


def test_keys_and_normal_forms():
    config = parse("""image: [a, b]
dockerfile: docker/Dockerfile
context: /src
target: prod
args: {NAME: x, COUNT: 3, DROPPED: ~}
contextAddFiles: []
addHost: ["db:10.0.0.1"]
network: host
ssh: default
secrets: [{id: token, env: TOKEN}, {id: f, src: a.txt}, {id: v, value: s3cret}]
dependencies:
- image: base
  imports: [{type: ImageTag, targetBuildArg: BASE_TAG}]
staged: true
final: false
cacheVersion: 2
platform: [linux/amd64]
imageSpec: {author: me, config: {user: ~}}
---
image: base
from: alpine
""")
    a = config.get("a").dockerfile
    assert config.get("b").dockerfile == a and config.get("a").kind == "image"
    assert (a.dockerfile, a.context, a.target) == ("docker/Dockerfile", "src", "prod")
    assert a.args == {"NAME": "x", "COUNT": "3"}
    assert a.context_add_files == () and a.add_host == ("db:10.0.0.1",)
    assert [s.id for s in a.secrets] == ["token", "f", "v"]
    assert a.dependencies[0].image == "base"
    assert a.dependencies[0].imports[0].target_build_arg == "BASE_TAG"
    assert (a.staged, a.final, a.cache_version, a.platform) == (True, False, "2",
                                                                ("linux/amd64",))
    assert a.image_spec == {"author": "me", "config": {}}
    assert [i.name for i in config.order()] == ["base", "a", "b"]
    assert parse("image: c\ndockerfile: D\n").get("c").dockerfile.context_add_files is None


@pytest.mark.parametrize("body,line,key,fragment", [
    ("image: a\ndockerfile: D\nfrom: alpine\n", 6, "from", "Stapel key"),
    ("image: a\ndockerfile: D\nshell: {install: [x]}\n", 6, "shell", "Stapel key"),
    ("image: a\ndockerfile: D\ndisableGitAfterPatch: true\n", 6, "disableGitAfterPatch",
     "Stapel key"),
    ("artifact: a\ndockerfile: D\n", 5, "dockerfile", "an artifact cannot"),
    ("image: a\ndockerfile: D\nbogus: 1\n", 6, "bogus", "unknown key"),
    ("image: a\ndockerfile: 3\n", 5, "dockerfile", "expected a string"),
    ("image: a\ndockerfile: D\nargs: {A: [1]}\n", 6, "args.A", "string or an integer"),
    ("image: a\ndockerfile: D\nargs: {A: true}\n", 6, "args.A", "string or an integer"),
    # Spec section 9 refuses them; werf's templates write `{{ .Version }}` unquoted, so the
    # message says what YAML made of it and how to keep it a string.
    ("image: a\ndockerfile: D\nargs: {A: 1.10}\n", 6, "args.A",
     'got a float (spec section 9) (quote it: A: "1.10")'),
    ("image: a\ndockerfile: D\nargs: {A: yes}\n", 6, "args.A",
     'got a boolean (spec section 9) (quote it: A: "yes")'),
    ("image: a\ndockerfile: D\ncontextAddFiles: {x: 1}\n", 6, "contextAddFiles",
     "expected a string or a list of strings, got a mapping"),
    ("image: a\ndockerfile: D\ncontextAddFiles: [1]\n", 6, "contextAddFiles[0]",
     "expected a string"),
    ("image: a\ndockerfile: D\ndependencies: [{image: a, after: setup}]\n", 6,
     "dependencies[0].after", "Stapel images"),
    ("image: a\ndockerfile: D\ndependencies:\n- image: a\n  imports: [{type: ImageName,"
     " targetEnv: X}]\n", 8, "dependencies[0].imports[0].targetEnv", "Stapel images"),
    ("image: a\ndockerfile: D\ndependencies:\n- image: a\n  imports: [{type: ImageName}]\n",
     8, "dependencies[0].imports[0].targetBuildArg", "required"),
    ("image: a\ndockerfile: D\ndependencies:\n- image: a\n  imports: [{type: Nope,"
     " targetBuildArg: X}]\n", 8, "dependencies[0].imports[0].type", "unknown import type"),
    ("image: a\ndockerfile: D\ndependencies: [{image: missing}]\n", 6,
     "dependencies[0].image", "unknown image or artifact 'missing'"),
    ("image: a\ndockerfile: D\nsecrets: [{id: x}]\n", 6, "secrets[0]", "exactly one"),
    ("image: a\ndockerfile: D\nsecrets: [{env: X}]\n", 6, "secrets[0].id", "needs an 'id'"),
    # The id reaches `buildah build --secret id=ID,src=...`: a comma would add options.
    ("image: a\ndockerfile: D\nsecrets: [{id: 'a,src=/etc/shadow', env: X}]\n", 6,
     "secrets[0].id", "must be letters"),
    ("image: a\ndockerfile: D\nsecrets: [{id: a, env: X}, {id: a, env: Y}]\n", 6, "secrets",
     "two secrets have the id"),
    ("image: a\ndockerfile: D\nstaged: 1\n", 6, "staged", "true or false"),
])
def test_errors_are_one_located_line(body, line, key, fragment):
    with pytest.raises(ConfigError) as err:
        parse(body)
    message = str(err.value)
    assert message.startswith(f"{PATH}:{line}: ") and "\n" not in message
    assert err.value.key == key and fragment in message


def test_one_string_is_a_list_of_it_as_werf_reads_it():
    """werf's own fixtures write `contextAddFiles: test/dir`; the image signs as with
    the one-element list."""
    one = parse("image: a\ndockerfile: D\ncontextAddFiles: test/dir\naddHost: db:10.0.0.1\n")
    listed = parse("image: a\ndockerfile: D\ncontextAddFiles: [test/dir]\n"
                   "addHost: [db:10.0.0.1]\n")
    assert one.get("a").dockerfile == listed.get("a").dockerfile
    assert one.get("a").dockerfile.context_add_files == ("test/dir",)
    assert one.get("a").dockerfile.add_host == ("db:10.0.0.1",)


def test_stapel_images_reference_dockerfile_images_and_back():
    config = parse("""image: df
dockerfile: Dockerfile
dependencies: [{image: tools}]
---
artifact: tools
from: alpine
---
image: app
fromImage: df
import: [{image: df, add: /out, after: setup}]
""")
    assert [i.name for i in config.order()] == ["tools", "df", "app"]
    with pytest.raises(ConfigError, match="reference cycle: df -> app -> df"):
        parse("image: df\ndockerfile: D\ndependencies: [{image: app}]\n---\n"
              "image: app\nfromImage: df\n")
