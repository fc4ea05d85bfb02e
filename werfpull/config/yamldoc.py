"""YAML text to plain JSON-able data, with the line of every key and item.

Owns the YAML rules of spec section 1: PyYAML SafeLoader types (YAML 1.1), duplicate
keys are errors, empty documents are skipped, and values JSON cannot hold (timestamps,
binary, non-string keys, NaN and infinities, sets) are errors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import yaml
from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from werfpull.errors import ConfigError

_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_MERGE = "tag:yaml.org,2002:merge"
# Aliases can expand a small text into a huge value ("billion laughs"); the spec's
# configs are far smaller than this, so a bound costs nobody anything.
MAX_NODES = 2_000_000

Path = tuple


@dataclass
class Document:
    """One non-empty YAML document: its data and where each part of it starts."""

    index: int  # 1-based position in the stream, counting empty documents too
    line: int
    data: object
    lines: dict = field(default_factory=dict)
    # Source text of each boolean or number, where werf keeps a value as it was written
    # (a secret's value; a hint's suggestion to quote it).
    texts: dict = field(default_factory=dict)

    def line_of(self, path: Path) -> int:
        while path not in self.lines and path:
            path = path[:-1]
        return self.lines.get(path, self.line)


class _Converter:
    def __init__(self, loader: yaml.SafeLoader, file: str, doc: Document):
        self.loader, self.file, self.doc = loader, file, doc
        self.count = 0
        self.stack: set[int] = set()

    def fail(self, node, message: str, key=None) -> ConfigError:
        return ConfigError(
            message, file=self.file, line=node.start_mark.line + 1,
            document=f"document {self.doc.index}", key=key,
        )

    def convert(self, node, path: Path):
        self.count += 1
        if self.count > MAX_NODES:
            raise self.fail(node, f"the document expands to more than {MAX_NODES} values")
        self.doc.lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in self.stack:
            raise self.fail(node, "a YAML alias refers to itself")
        if isinstance(node, ScalarNode):
            return self.scalar(node, path)
        self.stack.add(id(node))
        try:
            if isinstance(node, SequenceNode):
                if node.tag != _SEQ:
                    raise self.fail(node, f"YAML type {node.tag} cannot be held by JSON")
                return [self.convert(child, path + (i,)) for i, child in enumerate(node.value)]
            return self.mapping(node, path)
        finally:
            self.stack.discard(id(node))

    def mapping(self, node: MappingNode, path: Path) -> dict:
        if node.tag != _MAP:
            raise self.fail(node, f"YAML type {node.tag} cannot be held by JSON")
        seen: dict = {}
        for knode, _ in node.value:
            if knode.tag == _MERGE:
                continue
            key = self.key(knode)
            if key in seen:
                raise self.fail(
                    knode, f"duplicate key (first on line {seen[key]})", key=key
                )
            seen[key] = knode.start_mark.line + 1
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            raise self.fail(node, _problem(exc)) from None
        result: dict = {}
        for knode, vnode in node.value:
            key = self.key(knode)
            self.doc.lines[path + (key,)] = knode.start_mark.line + 1
            result[key] = self.convert(vnode, path + (key,))
        return result

    def key(self, knode) -> str:
        if not isinstance(knode, ScalarNode):
            raise self.fail(knode, "a mapping key must be a string, not a collection")
        key = self.construct(knode)
        if not isinstance(key, str):
            raise self.fail(
                knode, f"mapping key {key!r} is a {type(key).__name__}, not a string (quote it)",
                key=knode.value,
            )
        return key

    def scalar(self, node: ScalarNode, path: Path):
        value = self.construct(node)
        if isinstance(value, (bool, int, float)):
            self.doc.texts[path] = node.value
        if value is None or isinstance(value, (bool, int, str)):
            return value
        key = dotted(path) or None
        if isinstance(value, float):
            if math.isnan(value) or math.isinf(value):
                raise self.fail(node, f"{node.value!r} (NaN or infinity) cannot be held by JSON",
                                key=key)
            return value
        raise self.fail(
            node,
            f"{node.value!r} is a YAML {type(value).__name__}, which JSON cannot hold"
            " (quote it to make it a string)",
            key=key,
        )

    def construct(self, node):
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.fail(node, _problem(exc)) from None


def dotted(path: Path) -> str:
    """A key path as messages name it: `secrets[1].src`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def describe(value) -> str:
    """What kind of YAML value `value` is, for an error message ("a string", "null")."""
    if value is None:
        return "null"
    return {bool: "a boolean", int: "an integer", float: "a float", str: "a string",
            list: "a list", dict: "a mapping"}.get(type(value), type(value).__name__)


def _problem(exc: yaml.YAMLError) -> str:
    parts = [getattr(exc, "context", None), getattr(exc, "problem", None)]
    text = "; ".join(p for p in parts if p) or str(exc).splitlines()[0]
    return " ".join(text.split())


# libyaml's parser, when PyYAML has it, loads with the same SafeLoader semantics in a
# tenth of the time (docs/benchmarks.md, plan-200-images).
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_documents(text: str, file: str) -> list[Document]:
    """Parse a YAML stream; empty documents are skipped but keep their index."""
    loader = _Loader(text)
    docs: list[Document] = []
    index = 0
    current = 1  # the document being read, which an error is reported in
    try:
        while loader.check_node():
            node = loader.get_node()
            index += 1
            if node is not None:
                doc = Document(index=index, line=node.start_mark.line + 1, data=None)
                doc.data = _Converter(loader, file, doc).convert(node, ())
                if doc.data is not None:
                    docs.append(doc)
            current = index + 1
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise ConfigError(
            f"YAML syntax error: {_problem(exc)}",
            file=file, line=mark.line + 1 if mark else None,
            document=f"document {current}",
        ) from None
    except RecursionError:
        # Deep nesting exhausts the parser's Python stack before any size bound is hit.
        raise ConfigError("the YAML nests too deeply", file=file,
                          document=f"document {current}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"YAML error: {_problem(exc)}", file=file) from None
    finally:
        loader.dispose()
    return docs
