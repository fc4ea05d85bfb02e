"""Templated werf.yaml: Go text/template, rendered the way werf renders it, to plain YAML.

Owns the template language (lexer, parser and evaluator of the subset of Go's
text/template that werf configs use, faithful to Go where a render depends on it:
trim markers, variable scoping, pipelines, truth, printing of values), the sprig and
werf functions werfpull implements, and werf's template data: `.Files` and partials
(`.werf/**/*.tmpl`) read from the commit HEAD, `.Env`, `.Commit`. Anything outside the
subset is a `TemplateError` naming file, line, column and construct, never a silently
different render. Go values are modelled by Python ones; the few Go types a render can
tell apart get their own classes (`Int64`, `StrList`, `StrMap`, ...).

One module a phase, each importing only modules listed before it:

- `errors`: `TemplateError` and the errors functions raise inside a render;
- `limits`: the resource bounds of a render (string, output, list sizes, steps, time);
- `values`: the Go value model; `fmt`: Go's printing; `encoding`: JSON and YAML;
- `lex`, `strconv`, `parse`: template text to trees (`strconv`: Go's literal syntax);
- `exec`: the executor and `Fn`, the description of a template function;
- `regex` (Go's regexp over RE2), `semver`, `strings`, `dicts`, `mathf`, `paths`: the
  libraries sprig calls, ported;
- `builtins`, `sprig`: the function tables of Go and sprig;
- `werf`: werf's data and functions, and `render_werf_config`.
"""

from werfpull.gotemplate.errors import TemplateError
from werfpull.gotemplate.werf import StaticFiles, render_werf_config

__all__ = ["StaticFiles", "TemplateError", "render_werf_config"]
