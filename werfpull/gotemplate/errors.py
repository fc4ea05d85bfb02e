"""The errors of the template package: the one its callers see and the two that travel
inside a render.

A `TemplateError` names file, line, column and construct. Functions do not know where
they were called from, so they raise `_CallError` (a failure, Go's "error calling NAME")
or `_Unsupported` (a Go or sprig feature werfpull does not reproduce), and the executor
turns either into a `TemplateError` at the node of the call.
"""

from __future__ import annotations

# The package's one import of werfpull.errors: werf.py takes ConfigError from here.
from werfpull.errors import ConfigError


class TemplateError(ConfigError):
    """A template that cannot be rendered, located by file, line and column."""

    def __init__(self, detail: str, *, file: str, line: int, column: int, src=None):
        super().__init__(detail, file=file, line=line)
        self.column, self.detail, self.src = column, detail, src
        self.message = f"{file}:{line}:{column}: {detail}"
        self.args = (self.message,)


class _CallError(Exception):
    """A function failed; the evaluator says where (Go: "error calling NAME: ...")."""


class _Unsupported(Exception):
    """A Go or sprig feature werfpull does not reproduce: an error, not a guess."""
