"""The resource bounds of a render: werf.yaml is input from a repository, and a template
is a program, so `repeat`, `until`, wide `printf`s, loops and recursion could otherwise
take all memory or run forever. Each bound is far above what real configs use; passing
one is a `TemplateError` naming the construct, like any other template error.
"""

from __future__ import annotations

from werfpull.gotemplate.errors import _CallError

MAX_STRING = 16 << 20  # bytes of one string value, and of the rendered text
MAX_OUTPUT = 64 << 20  # bytes written by all actions of a render, includes counted
MAX_ITEMS = 1_000_000  # elements of one list (until, seq, untilStep, chunk, ...)
MAX_STEPS = 2_000_000  # template nodes executed (range bodies, template calls)
MAX_SECONDS = 30.0  # wall time of a render
MAX_YAML_NODES = 1_000_000  # values fromYaml builds (aliases expand: "billion laughs")


def check_string(length: int, what: str = "the result") -> None:
    if length > MAX_STRING:
        raise _CallError(f"{what} would be {length} bytes, over werfpull's limit of"
                         f" {MAX_STRING} bytes for one string")


def check_items(count: int, what: str = "the list") -> None:
    if count > MAX_ITEMS:
        raise _CallError(f"{what} would have {count} elements, over werfpull's limit of"
                         f" {MAX_ITEMS}")


def range_len(start: int, stop: int, step: int) -> int:
    return len(range(start, stop, step)) if step else 0
