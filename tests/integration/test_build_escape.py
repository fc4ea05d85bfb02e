"""The reference builder never writes, deletes or reads outside the container's root.

werfpull places git mappings, imports and its state files as root on the host through
`buildah mount`; a stage is hostile here: it leaves symlinks pointing at host
directories (`ln -s /host/dir /app`), a state file naming `../../..` paths, a
`.werfpull` that is a symlink, a project or image name with `../` for its build_dir
mount. Each build is real (buildah, a vfs store of its own); the assertions read the
host directories the attack aimed at, and the image itself.
"""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

from tests.support.builds import BASE, BUILDAH, final_name, werfpull

pytestmark = BUILDAH


def victim(tmp_path: Path, name: str) -> Path:
    """A host directory an image aims at, holding one file the attack would replace."""
    d = tmp_path / name
    d.mkdir()
    (d / "victim.txt").write_text("host file\n")
    return d


def test_symlinks_a_stage_leaves_never_lead_writes_out(git_repo, host, tmp_path):
    app, opt, state, deleted = (victim(tmp_path, n) for n in ("app", "opt", "state", "del"))
    up = "/.." * 40  # far above any container root
    git_repo.write("src/app.txt", "committed\n")
    git_repo.write("werf.yaml", textwrap.dedent(f"""\
        project: escape
        configVersion: 1
        ---
        artifact: tools
        from: {BASE}
        shell:
          install: [mkdir -p /out, echo tool > /out/tool.txt]
        ---
        image: links
        from: {BASE}
        git:
        - add: /src
          to: /app/x
        shell:
          beforeInstall: [ln -s {app} /app, ln -s {opt} /opt]
        import:
        - artifact: tools
          add: /out
          to: /opt/tools
          after: install
        ---
        image: statefile
        from: {BASE}
        git:
        - add: /src
          to: /srv
        shell:
          beforeInstall:
          - mkdir -p /.werfpull/git
          - echo "{up}{deleted}/victim.txt" > /.werfpull/git/0
        ---
        image: statedir
        from: {BASE}
        git:
        - add: /src
          to: /srv
        shell:
          beforeInstall: [ln -s {state} /.werfpull]
        """))
    git_repo.commit()
    report = host.build(git_repo.path, "127.0.0.1:1/escape/stages")
    for d in (app, opt, state, deleted):  # nothing written, nothing deleted on the host
        assert sorted(p.name for p in d.iterdir()) == ["victim.txt"], d
    with host.mounted(final_name(report, "links")) as root:
        # Resolved the way the container sees it: the symlinks lead into its own root.
        assert (root / str(app).lstrip("/") / "x/app.txt").read_text() == "committed\n"
        assert (root / str(opt).lstrip("/") / "tools/tool.txt").read_text() == "tool\n"
        assert os.readlink(root / "app") == str(app)
    with host.mounted(final_name(report, "statedir")) as root:
        assert (root / str(state).lstrip("/") / "git/0").read_text() == "/srv/app.txt\n"


def test_an_import_through_a_symlink_reads_the_artifact_not_the_host(git_repo, host, tmp_path):
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "data").write_text("host secret\n")
    git_repo.write("werf.yaml", textwrap.dedent(f"""\
        project: leak
        configVersion: 1
        ---
        artifact: tools
        from: {BASE}
        shell:
          install: [ln -s {secret} /out]
        ---
        image: app
        from: {BASE}
        import:
        - artifact: tools
          add: /out/data
          to: /opt/leak
          after: install
        """))
    git_repo.commit()
    proc = werfpull("build", "--dir", str(git_repo.path), "--storage", host.store, check=False)
    # /out/data inside the artifact is {secret}/data inside the artifact: not there.
    assert proc.returncode == 3, proc.stderr
    assert "import of /out/data from tools: no such path in it" in proc.stderr


def test_a_build_dir_name_never_chooses_the_host_directory(git_repo, host, tmp_path,
                                                          monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    git_repo.write("werf.yaml", textwrap.dedent(f"""\
        project: "../../../../chosen"
        configVersion: 1
        ---
        image: "../../../../../../chosen2"
        from: {BASE}
        mount:
        - from: build_dir
          to: /mnt
        shell:
          install: [touch /mnt/written]
        """))
    git_repo.commit()
    werfpull("build", "--dir", str(git_repo.path), "--storage", host.store,
             "--repo", "127.0.0.1:1/chosen/stages")
    written = sorted(str(p.relative_to(home)) for p in home.rglob("written"))
    assert len(written) == 1 and written[0].startswith(".cache/werfpull/build_dir/"), written
    parts = Path(written[0]).parts
    assert parts[3:5] == ("..%2F..%2F..%2F..%2Fchosen", "..%2F" * 6 + "chosen2"), parts
