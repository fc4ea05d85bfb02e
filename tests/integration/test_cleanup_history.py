"""Signing past commits from the history equals signing each commit checked out.

Every commit of a history with file additions, changes, deletions, renames, a config
change, a templated config and a merge is signed twice: by `cleanup.history` (one
`git log`, file sets carried from commit to commit) and by `load_project` on a
checkout of that commit (one `git ls-tree`, the path every other command takes)."""

from __future__ import annotations

from werfpull.cleanup.history import History
from werfpull.project import load_project

CONFIG = """\
project: hist
configVersion: 1
---
image: backend
from: alpine:3
git:
- add: /
  to: /app
  excludePaths: [docs, "**/*.md"]
  stageDependencies:
    install: ["**/*.json"]
    setup: ["src/**/*.c"]
shell:
  install: [make deps]
  setup: [make]
---
artifact: tools
from: alpine:3
git:
- add: /tools
  to: /tools
  includePaths: ["*.sh"]
  stageDependencies:
    install: ["**/*"]
shell:
  install: [make tools]
---
image: web
fromImage: backend
git:
- add: /web
  to: /srv
import:
- artifact: tools
  add: /tools
  to: /opt
  after: install
---
image: docker
dockerfile: Dockerfile
context: web
"""


def _history(git_repo) -> list[str]:
    r = git_repo
    r.write("werf.yaml", CONFIG)
    r.write("src/a.c", "a")
    r.write("deps.json", "{}")
    r.write("tools/t.sh", "t")
    r.write("web/Dockerfile", "FROM alpine:3\nCOPY . /srv\n")
    commits = [r.commit("base")]
    r.write("src/b.c", "b")
    commits.append(r.commit("add"))
    r.write("docs/x.md", "doc")
    commits.append(r.commit("docs only"))
    r.git("mv", "src/b.c", "src/c.c")
    commits.append(r.commit("rename"))
    r.git("checkout", "-q", "-b", "side")
    r.write("tools/u.sh", "u")
    r.write("web/index.html", "w")
    r.write("web/.dockerignore", "*.md\n")
    commits.append(r.commit("side"))
    r.git("checkout", "-q", "main")
    (r.path / "src" / "a.c").unlink()
    r.write("deps.json", '{"x": 1}')
    commits.append(r.commit("delete and change"))
    r.git("merge", "-q", "--no-edit", "side")
    commits.append(r.git("rev-parse", "HEAD").strip())
    r.write("werf.yaml", CONFIG.replace("make deps", "make deps2"))
    commits.append(r.commit("config"))
    templated = '{{ "make deps" }}{{ .Files.Get "tools/t.sh" }}'
    r.write("werf.yaml", CONFIG.replace("make deps", templated))
    commits.append(r.commit("templated"))
    r.write("tools/t.sh", "t2")
    commits.append(r.commit("template input"))
    return commits


def test_history_signs_every_commit_as_a_checkout_does(git_repo):
    commits = _history(git_repo)
    history = History(str(git_repo.path), None, None)
    refs, origin = history.references()
    assert origin == "local" and {r.name for r in refs} == {"main", "side"}
    log = history.commits([r.commit for r in refs])
    assert {c.sha for c in log} == set(commits)
    signed = history.sign_all(log, set(commits))
    seen = set()
    for commit in commits:
        git_repo.git("checkout", "-q", "--detach", commit)
        expected = {s.image.name: [st.signature for st in s.stages]
                    for s in load_project(str(git_repo.path)).signed}
        got = {name: [st.signature for st in s.stages]
               for name, s in signed[commit].images.items()}
        assert got == expected, commit
        seen.add(tuple(sorted((k, tuple(v)) for k, v in got.items())))
    assert len(seen) >= 7  # the history really changes the signatures
    assert signed[commits[0]].needs["web"] == ["backend", "tools", "web"]


def test_a_commit_without_the_config_has_no_stages(git_repo):
    git_repo.write("README", "x")
    first = git_repo.commit("before the project")
    git_repo.write("werf.yaml", CONFIG)
    git_repo.commit("project")
    history = History(str(git_repo.path), None, None)
    log = history.commits([git_repo.git("rev-parse", "HEAD").strip()])
    signed = history.sign_all(log, {c.sha for c in log})
    assert signed[first].problem == "no werf.yaml in this commit"
    assert not signed[first].images


def test_every_platform_chain_of_an_image_counts(git_repo):
    git_repo.write("werf.yaml", "project: plat\nconfigVersion: 1\nbuild:\n"
                   "  platform: [linux/amd64, linux/arm64]\n---\nimage: app\nfrom: alpine:3\n"
                   "shell:\n  install: make\n")
    commit = git_repo.commit("platforms")
    history = History(str(git_repo.path), None, None)
    log = history.commits([r.commit for r in history.references()[0]])
    signed = history.sign_all(log, {commit})
    chains = load_project(str(git_repo.path)).signed
    assert len(chains) == 2
    assert [st.signature for st in signed[commit].images["app"].stages] == \
        [st.signature for chain in chains for st in chain.stages]
