"""werf's side of the render: its template data, its functions and the render itself.

`.Files` (`Files` over a files reader: the git-backed `CommitFiles` of HEAD, or
`StaticFiles` for rendering without git), `.Commit`, `.Env`; the functions include, tpl,
env, required and fromYaml; and `render_werf_config`, which parses the partials of
`.werf/**/*.tmpl`, then werf.yaml as template "werfConfig", and renders it.
"""

from __future__ import annotations

import os
import posixpath

from werfpull.gotemplate.builtins import _builtins
from werfpull.gotemplate.encoding import from_yaml, to_yaml
from werfpull.gotemplate.errors import ConfigError, TemplateError, _CallError
from werfpull.gotemplate.exec import Fn, _Exec
from werfpull.gotemplate.fmt import _gq
from werfpull.gotemplate.lex import Source
from werfpull.gotemplate.parse import Tree, _Parser
from werfpull.gotemplate.sprig import _sprig, strval
from werfpull.gotemplate.values import EnvEmpty, GoStruct, _b, _s
from werfpull.signatures.globs import GlobError, GlobSet

MAIN = "werfConfig"  # the name werf gives the template of werf.yaml itself
PARTIALS_DIR = ".werf"


class Files(GoStruct):
    """werf's `.Files`: committed files of HEAD, by path relative to the project."""

    go_type = "config.files"
    label = ".Files"

    def __init__(self, reader):
        self.reader = reader
        self.origins: dict[str, str] = {}  # text read by Get -> its path, for tpl's errors

    def methods(self) -> dict:
        return {"Get": Fn(("string",), None, self.get),
                "Glob": Fn(("string",), None, self.glob),
                "Exists": Fn(("string",), None, self.exists),
                "IsDir": Fn(("string",), None, self.is_dir)}

    def _path(self, call: str, rel: str) -> str:
        if not rel:
            raise _CallError(f"{{{{ .Files.{call} {_gq(rel)} }}}}: the path must name a file"
                             " of the project directory")
        # werf joins the path to the project directory: a leading "/" is that directory.
        norm = posixpath.normpath(rel.lstrip("/") or ".")
        # Above the project directory is fine (werf reads it), outside the repository not.
        above = posixpath.normpath(getattr(self.reader, "prefix", "") + norm)
        if above == ".." or above.startswith("../"):
            raise _CallError(f"{{{{ .Files.{call} {_gq(rel)} }}}}: the path leaves the git"
                             " repository")
        return "" if norm == "." else norm

    def _call(self, call: str, rel: str, fn):
        try:
            return fn(self._path(call, rel))
        except ConfigError as exc:
            raise _CallError(f"{{{{ .Files.{call} {_gq(rel)} }}}}: {exc.message}") from None

    def get(self, rel: str) -> str:
        def read(path):
            kind, data = self.reader.read(path)
            if kind != "blob":
                why = {"tree": "it is a directory",
                       "outside": "it is a symlink that leaves the repository"}.get(
                    kind, f"no such file in the commit {self.reader.commit_label()}")
                raise _CallError(f"{{{{ .Files.Get {_gq(rel)} }}}}: {why}")
            text = _s(data)
            self.origins[text] = path
            return text
        return self._call("Get", rel, read)

    def exists(self, rel: str) -> bool:
        return self._call("Exists", rel, lambda path: self.reader.read(path)[0] == "blob")

    def is_dir(self, rel: str) -> bool:
        return self._call("IsDir", rel, lambda path: self.reader.read(path)[0] == "tree")

    def glob(self, pattern: str) -> dict:
        def find(_):
            try:  # werf's glob syntax (doublestar's), not the git mappings' of section 5
                matcher = GlobSet([pattern], extended=True)
            except GlobError as exc:
                raise _CallError(f"{{{{ .Files.Glob {_gq(pattern)} }}}}: bad glob: {exc}"
                                 ) from None
            out = {}
            for path in self.reader.files():
                if matcher.match(path):
                    kind, data = self.reader.read(path)
                    if kind == "blob":
                        out[path] = _s(data)
            return out  # werf gives an empty map when nothing matches
        return self._call("Glob", pattern or ".", find)


class _Commit(GoStruct):
    """werf's `.Commit`: Hash and Date.Unix of HEAD (author date, as werf uses)."""

    go_type = "map[string]interface {}"
    label = ".Commit"

    def __init__(self, reader):
        self.reader = reader

    def fields(self) -> dict:
        return {"Hash": lambda: self._info()[0], "Date": lambda: _CommitDate(self)}

    def _info(self) -> tuple[str, str]:
        try:
            return self.reader.commit_info()
        except ConfigError as exc:
            raise _CallError(f".Commit: {exc.message}") from None


class _CommitDate(GoStruct):
    go_type = "map[string]string"
    label = ".Commit.Date"

    def __init__(self, commit: _Commit):
        self.commit = commit

    def fields(self) -> dict:
        return {"Unix": lambda: self.commit._info()[1], "Human": self._human}

    def _human(self):
        raise _CallError(".Commit.Date.Human is not supported: werf prints it in the time"
                         " zone of the host, so it differs between hosts; use"
                         " .Commit.Date.Unix")


class StaticFiles:
    """A files reader over a dict of {path: text}, for rendering without git."""

    prefix = ""  # the project directory is the repository's root

    def __init__(self, files: dict[str, str] | None = None, commit=("", "0")):
        self.data = {k: _b(v) for k, v in (files or {}).items()}
        self.commit = commit

    def read(self, path: str) -> tuple[str, bytes | None]:
        if path in self.data:
            return "blob", self.data[path]
        prefix = path + "/" if path else ""
        return ("tree", None) if any(p.startswith(prefix) for p in self.data) else \
            ("missing", None)

    def files(self) -> list[str]:
        return sorted(self.data)

    def partials(self) -> list[tuple[str, str]]:
        prefix = PARTIALS_DIR + "/"
        return [(p[len(prefix):], _s(b)) for p, b in sorted(self.data.items())
                if p.startswith(prefix) and p.endswith(".tmpl")]

    def commit_info(self) -> tuple[str, str]:
        return self.commit

    def commit_label(self) -> str:
        return "HEAD"

    def close(self) -> None:
        pass


class Renderer:
    """One render: the template set (partials, then the config), functions and data."""

    def __init__(self, files_reader, environ: dict | None = None, env_name: str = "",
                 project_dir: str = ""):
        self.reader = files_reader
        self.environ = os.environ if environ is None else environ
        self.project_dir = project_dir
        self.trees: dict[str, Tree] = {}
        self.funcs = {**_builtins(), **_sprig(), **self._werf_funcs()}
        self.exec = _Exec(self.trees, self.funcs)
        self.files = Files(files_reader)
        self.data = {"Files": self.files, "Env": env_name, "Commit": _Commit(files_reader)}
        self.tpl_count = 0

    def add(self, name: str, file: str, text: str) -> None:
        try:
            _Parser(Source(name, file, text), self.funcs, self.trees).parse()
        except RecursionError:
            raise ConfigError("the template nests too deeply", file=file) from None

    def render(self, name: str = MAIN) -> str:
        try:
            return self.exec.execute(name, self.data)
        except RecursionError:
            raise ConfigError(f"templates nest too deeply while rendering {name}",
                              file=self.trees[name].src.file) from None

    def _werf_funcs(self) -> dict[str, Fn]:
        return {
            "include": Fn(("string", "any"), None, self._include),
            "tpl": Fn(("string", "any"), None, self._tpl),
            "env": Fn(("any",), "string", self._env),
            "required": Fn(("string", "any"), None, self._required),
            "fromYaml": Fn(("string",), None, from_yaml),
            "toYaml": Fn(("any",), None, to_yaml),
            # werf's debug functions: without --debug-templates they render as these do
            "tpl_debug": Fn(("string", "any"), None, self._tpl),
            "include_debug": Fn(("string", "any"), None, self._include),
            "printf_debug": Fn(("string",), "any", lambda *_: ""),
            "dump_debug": Fn(("any",), None, lambda _: ""),
        }

    def _include(self, name: str, data) -> str:
        return self.exec.execute(name, data)

    def _tpl(self, text: str, data) -> str:
        self.tpl_count += 1
        origin = self.files.origins.get(text)
        where = os.path.join(self.project_dir, origin) if origin else "the tpl text"
        src = Source(f"tpl-{self.tpl_count}", where, text)
        try:
            _Parser(src, self.funcs, self.trees).parse()
            return self.exec.execute(src.name, data)
        except TemplateError as exc:
            if exc.src is src:
                raise _CallError(exc.message) from None
            raise

    def _env(self, name, *default: str) -> str:
        if len(default) > 1:
            raise _CallError("more than 1 optional argument prohibited")
        value = self.environ.get(strval(name))
        if not value and default:
            return default[0]
        return value or EnvEmpty(strval(name), value is None)

    @staticmethod
    def _required(msg: str, value):
        if value is None or value == "" and isinstance(value, str):
            raise _CallError(msg)  # the executor names the env call behind an EnvEmpty
        return value


def render_werf_config(text: str, path: str, project_dir: str, *, files=None,
                       environ: dict | None = None) -> str:
    """werf.yaml text, rendered as werf renders it: partials from `.werf/**/*.tmpl` of
    HEAD first, then the config as template "werfConfig"; `.Files` reads HEAD."""
    if files is None:
        from werfpull.tools.git import CommitFiles

        files = CommitFiles(project_dir)
    environ = os.environ if environ is None else environ
    try:
        renderer = Renderer(files, environ, env_name=environ.get("WERF_ENV", ""),
                            project_dir=project_dir)
        for name, partial in files.partials():
            renderer.add(name, os.path.join(project_dir, PARTIALS_DIR, name), partial)
        renderer.add(MAIN, path, text)
        out = renderer.render()
    except ConfigError:
        raise
    except (Exception, MemoryError) as exc:  # a bug in the renderer: still no traceback
        raise ConfigError(f"the template cannot be rendered: {type(exc).__name__}: {exc}",
                          file=path) from None
    finally:
        files.close()
    try:
        out.encode("utf-8")
    except UnicodeEncodeError as exc:
        line = out.count("\n", 0, exc.start) + 1
        raise ConfigError(f"the rendered config is not valid UTF-8 at its line {line}",
                          file=path, hint="a file read with .Files is binary; b64enc it"
                          ) from None
    return out
