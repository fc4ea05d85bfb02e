"""The executor (Go's text/template/exec.go): walks a template's tree over its data.

`_Exec` runs the statements (text, actions, if/with/range, template), evaluates
pipelines, fields, variables and calls with Go's argument checks, and turns the errors
functions raise (`_CallError`, `_Unsupported`) into `TemplateError`s at the node of the
call. `Fn` is how every function of the template set is described to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import werfpull.gotemplate.limits as limits
from werfpull.gotemplate.errors import TemplateError, _CallError, _Unsupported
from werfpull.gotemplate.fmt import _gq, fmt_v
from werfpull.gotemplate.parse import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ControlNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    StringNode,
    TemplateNode,
    TextNode,
    VariableNode,
)
from werfpull.gotemplate.strconv import _is_hex_int
from werfpull.gotemplate.values import (
    MISSING,
    EnvEmpty,
    GoStruct,
    Int64,
    _is_int,
    _truth,
    go_type,
    sorted_keys,
)

MAX_DEPTH = 50  # nested template/include/tpl calls; Go allows more, configs need far less
_NOFINAL = object()  # no value piped into a command (Go's missingVal)


class _Break(Exception):
    """{{break}}: unwinds to the innermost range."""


class _Continue(Exception):
    """{{continue}}: unwinds to the next element of the innermost range."""


@dataclass
class Fn:
    """A template function: Go parameter types, the variadic element type, the body.

    Types: "any" (interface{}), "value" (reflect.Value of the builtins), "string", "int",
    "bool", "map" (map[string]interface {})."""

    params: tuple
    variadic: str | None
    impl: Callable
    lazy: bool = False  # and/or: arguments evaluated one by one


_TYPE_NAMES = {"string": "string", "int": "int", "bool": "bool", "float64": "float64",
               "map": "map[string]interface {}", "value": "reflect.Value",
               "any": "interface {}"}


def _show(v) -> str:
    """A value in an error message."""
    return v.label if isinstance(v, GoStruct) else fmt_v(v)


def _env_origin(argv: list) -> str:
    """Where an empty argument came from, when an env call gave it."""
    empty = next((a for a in argv if isinstance(a, EnvEmpty)), None)
    return f" ({empty.origin()})" if empty is not None else ""


class _Exec:
    def __init__(self, trees: dict, funcs: dict):
        self.trees, self.funcs = trees, funcs
        self.out: list[str] = []
        self.vars: list[list] = []
        self.depth = 0
        self.written = 0  # bytes emitted by actions and text, across includes
        self.steps = 0
        self.deadline = time.monotonic() + limits.MAX_SECONDS

    def fail(self, node: Node, detail: str) -> TemplateError:
        text = " ".join(node.text().split())
        if len(text) > 60:
            text = text[:57] + "..."
        return node.src.error(node.pos, f"at <{text}>: {detail}")

    def execute(self, name: str, data, node: Node | None = None) -> str:
        """Run template `name` with `data` into a string, as include does."""
        tree = self.trees.get(name)
        if tree is None:
            raise _CallError(f"template {_gq(name)} not defined")
        if data is None:
            data = MISSING
        saved = self.out, self.vars
        self.out, self.vars = [], [["$", data]]
        try:
            self.enter(node or tree.root)
            self.walk(data, tree.root)
            return "".join(self.out)
        finally:
            self.depth -= 1
            self.out, self.vars = saved

    def enter(self, node: Node) -> None:
        if self.depth >= MAX_DEPTH:
            raise self.fail(node, f"templates nest deeper than {MAX_DEPTH} calls")
        self.depth += 1

    # -- statements

    def emit(self, node: Node, text: str) -> None:
        self.written += len(text)
        if self.written > limits.MAX_OUTPUT:
            raise self.fail(node, f"the render writes more than {limits.MAX_OUTPUT} bytes,"
                            " werfpull's limit")
        self.out.append(text)

    def step(self, node: Node) -> None:
        """Count executed nodes; a loop or recursion that never ends stops here."""
        self.steps += 1
        if self.steps > limits.MAX_STEPS:
            raise self.fail(node, f"the render executes more than {limits.MAX_STEPS}"
                            " template steps (loops, template calls), werfpull's limit")
        if self.steps % 4096 == 0 and time.monotonic() > self.deadline:
            raise self.fail(node, f"the render takes longer than {limits.MAX_SECONDS:g}"
                            " seconds, werfpull's limit")

    def walk(self, dot, node) -> None:
        if not isinstance(node, (TextNode, ListNode)):
            self.step(node)
        if isinstance(node, TextNode):
            self.emit(node, node.value)
        elif isinstance(node, ListNode):
            for n in node.nodes:
                self.walk(dot, n)
        elif isinstance(node, ActionNode):
            value = self.pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.emit(node, self.printable(node, value))
        elif isinstance(node, ControlNode):
            if node.kind == "range":
                self.walk_range(dot, node)
            else:
                self.walk_if_with(dot, node)
        elif isinstance(node, TemplateNode):
            self.walk_template(dot, node)
        elif isinstance(node, BreakNode):
            raise _Break() if node.kind == "break" else _Continue()
        else:  # pragma: no cover - the parser makes no other nodes
            raise self.fail(node, "unknown node")

    def printable(self, node: Node, value) -> str:
        if isinstance(value, GoStruct) and not hasattr(value, "go_string"):
            raise self.fail(node, f"cannot print {value.label} whole; print its fields")
        try:
            return fmt_v(value, top=True)
        except _CallError as exc:
            raise self.fail(node, f"cannot print {go_type(value)}: {exc}") from None

    def walk_if_with(self, dot, node: ControlNode) -> None:
        mark = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            truth, ok = _truth(value)
            if not ok:
                raise self.fail(node.pipe, f"{node.kind} can't use {_show(value)}")
            if truth:
                self.walk(value if node.kind == "with" else dot, node.body)
            elif node.orelse is not None:
                self.walk(dot, node.orelse)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot, node: ControlNode) -> None:
        mark0 = len(self.vars)
        try:
            value = self.pipeline(dot, node.pipe)
            if isinstance(value, list):
                items = list(enumerate(value))
            elif isinstance(value, dict) and not isinstance(value, GoStruct):
                items = [(k, value[k]) for k in sorted_keys(value)]
            elif value is None or value is MISSING:
                items = []
            else:
                raise self.fail(node.pipe, f"range can't iterate over {_show(value)}")
            mark = len(self.vars)
            ndecl = len(node.pipe.decl)
            try:
                for index, elem in items:
                    self.step(node)
                    if ndecl:
                        self.vars[-1][1] = elem
                    if ndecl > 1:
                        self.vars[-2][1] = index
                    try:
                        self.walk(elem, node.body)
                    except _Continue:
                        pass
                    finally:
                        del self.vars[mark:]
            except _Break:
                return
            if not items and node.orelse is not None:
                self.walk(dot, node.orelse)
        finally:
            del self.vars[mark0:]

    def walk_template(self, dot, node: TemplateNode) -> None:
        tree = self.trees.get(node.name)
        if tree is None:
            raise self.fail(node, f"template {_gq(node.name)} not defined")
        value = self.pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        saved = self.vars
        self.vars = [["$", value]]
        self.enter(node)
        try:
            self.walk(value, tree.root)
        finally:
            self.depth -= 1
            self.vars = saved

    # -- expressions

    def pipeline(self, dot, pipe: PipeNode):
        value = _NOFINAL
        for cmd in pipe.cmds:
            value = self.command(dot, cmd, value)
            if value is None:
                value = MISSING  # a nil interface leaves a pipeline as no value
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(pipe, name, value)
            else:
                self.vars.append([name, value])
        return value

    def set_var(self, node: Node, name: str, value) -> None:
        for var in reversed(self.vars):
            if var[0] == name:
                var[1] = value
                return
        raise self.fail(node, f"undefined variable: {name}")

    def var_value(self, node: Node, name: str):
        for var in reversed(self.vars):
            if var[0] == name:
                return var[1]
        raise self.fail(node, f"undefined variable: {name}")

    def not_a_function(self, args: list, final) -> None:
        if len(args) > 1 or final is not _NOFINAL:
            raise self.fail(args[0], f"can't give argument to non-function {args[0].text()}")

    def command(self, dot, cmd: CommandNode, final):
        first = cmd.args[0]
        if isinstance(first, FieldNode):
            return self.field_chain(dot, dot, first, first.idents, cmd.args, final)
        if isinstance(first, ChainNode):
            receiver = self.arg(dot, "raw", first.node)
            return self.field_chain(dot, receiver, first, first.fields, cmd.args, final)
        if isinstance(first, IdentifierNode):
            return self.call(dot, first, first.name, self.funcs[first.name], cmd.args, final)
        if isinstance(first, PipeNode):
            self.not_a_function(cmd.args, final)
            return self.pipeline(dot, first)
        if isinstance(first, VariableNode):
            return self.variable(dot, first, cmd.args, final)
        self.not_a_function(cmd.args, final)
        if isinstance(first, BoolNode):
            return first.value
        if isinstance(first, DotNode):
            return dot
        if isinstance(first, NilNode):
            raise self.fail(first, "nil is not a command")
        if isinstance(first, NumberNode):
            return self.constant(first)
        if isinstance(first, StringNode):
            return first.value
        raise self.fail(first, "can't evaluate command")  # pragma: no cover

    def constant(self, node: NumberNode):
        if node.is_float and not node.is_char and not _is_hex_int(node.text()) \
                and any(c in node.text() for c in ".eEpP"):
            return node.float_value
        if node.is_int:
            return node.int_value
        raise self.fail(node, f"{node.text()} overflows int")

    def variable(self, dot, node: VariableNode, args: list | None, final):
        value = self.var_value(node, node.idents[0])
        if len(node.idents) == 1:
            if args is not None:
                self.not_a_function(args, final)
            return value
        return self.field_chain(dot, value, node, node.idents[1:], args, final)

    def field_chain(self, dot, receiver, node: Node, idents: list, args, final):
        for name in idents[:-1]:
            receiver = self.field(dot, name, node, None, _NOFINAL, receiver)
        return self.field(dot, idents[-1], node, args, final, receiver)

    def field(self, dot, name: str, node: Node, args, final, receiver):
        if receiver is MISSING:
            return MISSING
        if receiver is None:
            raise self.fail(node, f"nil pointer evaluating interface {{}}.{name}")
        has_args = (args is not None and len(args) > 1) or final is not _NOFINAL
        if isinstance(receiver, GoStruct):
            method = receiver.methods().get(name)
            if method is not None:
                return self.call(dot, node, name, method, args, final)
            fields = receiver.fields()
            if name in fields:
                if has_args:
                    raise self.fail(node, f"{name} has arguments but cannot be invoked as"
                                    " function")
                value = fields[name]
                try:
                    return value() if callable(value) else value
                except _CallError as exc:
                    raise self.fail(node, str(exc)) from None
        elif isinstance(receiver, dict):
            if has_args:
                raise self.fail(node, f"{name} is not a method but has arguments")
            return receiver.get(name, MISSING)
        raise self.fail(node, f"can't evaluate field {name} in type {go_type(receiver)}")

    def call(self, dot, node: Node, name: str, fn: Fn, args, final):
        args = list(args[1:]) if args else []
        n_in = len(args) + (final is not _NOFINAL)
        fixed = len(fn.params)
        if fn.variadic is not None:
            if n_in < fixed:
                raise self.fail(node, f"wrong number of args for {name}: want at least"
                                f" {fixed} got {len(args)}")
        elif n_in != fixed:
            raise self.fail(node, f"wrong number of args for {name}: want {fixed} got {n_in}")
        if fn.lazy:  # and/or: the first deciding argument wins, the rest is not evaluated
            value = None
            for a in args:
                value = self.arg(dot, "value", a)
                if _truth(value)[0] == (name == "or"):
                    return value
            if final is not _NOFINAL:
                value = self.check_type(node, final, "value")
            return value
        argv = []
        for i, a in enumerate(args):
            argv.append(self.arg(dot, fn.params[i] if i < fixed else fn.variadic, a))
        if final is not _NOFINAL:
            last = len(argv)
            typ = fn.params[last] if last < fixed else fn.variadic
            argv.append(self.check_type(node, final, typ))
        try:
            result = fn.impl(*argv)
        except _CallError as exc:
            raise self.fail(node, f"error calling {name}: {exc}{_env_origin(argv)}") from None
        except _Unsupported as exc:
            raise self.fail(node, f"{name}: {exc} is not supported") from None
        except (TemplateError, RecursionError):
            raise
        except MemoryError:
            raise self.fail(node, f"error calling {name}: out of memory") from None
        except Exception as exc:  # a bug must not surface as a traceback
            raise self.fail(node, f"error calling {name}: {type(exc).__name__}:"
                            f" {exc}") from None
        if isinstance(result, str) and len(result) > limits.MAX_STRING:
            raise self.fail(node, f"error calling {name}: the result is {len(result)}"
                            f" bytes, over werfpull's limit of {limits.MAX_STRING}")
        if isinstance(result, list) and len(result) > limits.MAX_ITEMS:
            raise self.fail(node, f"error calling {name}: the result has {len(result)}"
                            f" elements, over werfpull's limit of {limits.MAX_ITEMS}")
        return result

    def arg(self, dot, typ: str, node: Node):
        if isinstance(node, DotNode):
            return self.check_type(node, dot, typ)
        if isinstance(node, NilNode):
            if typ in ("any", "value", "map"):
                return None
            raise self.fail(node, f"cannot assign nil to {_TYPE_NAMES[typ]}")
        if isinstance(node, FieldNode):
            value = self.field_chain(dot, dot, node, node.idents, [node], _NOFINAL)
            return self.check_type(node, value, typ)
        if isinstance(node, VariableNode):
            return self.check_type(node, self.variable(dot, node, None, _NOFINAL), typ)
        if isinstance(node, PipeNode):
            return self.check_type(node, self.pipeline(dot, node), typ)
        if isinstance(node, IdentifierNode):
            value = self.call(dot, node, node.name, self.funcs[node.name], None, _NOFINAL)
            return self.check_type(node, MISSING if value is None else value, typ)
        if isinstance(node, ChainNode):
            return self.check_type(node, self.command(dot, CommandNode(
                node.pos, node.end, node.src, [node]), _NOFINAL), typ)
        if typ in ("any", "value", "raw"):
            if isinstance(node, BoolNode):
                return node.value
            if isinstance(node, StringNode):
                return node.value
            if isinstance(node, NumberNode):
                return self.constant(node)
        if typ == "string" and isinstance(node, StringNode):
            return node.value
        if typ == "int" and isinstance(node, NumberNode) and node.is_int:
            return node.int_value
        if typ == "bool" and isinstance(node, BoolNode):
            return node.value
        if typ == "float64" and isinstance(node, NumberNode) and node.is_float:
            return float(node.float_value)
        expected = {"int": "integer"}.get(typ, _TYPE_NAMES[typ])
        raise self.fail(node, f"expected {expected}; found {node.text()}")

    def check_type(self, node: Node, value, typ: str):
        """Go's validateType: a value for a parameter of type `typ`."""
        if typ == "raw":
            return value
        if value is MISSING:
            if typ in ("any", "value", "map"):
                return None
            raise self.fail(node, f"invalid value; expected {_TYPE_NAMES[typ]}")
        if typ in ("any", "value"):
            return value
        ok = {"string": lambda v: isinstance(v, str),
              "int": lambda v: _is_int(v) and not isinstance(v, Int64),
              "bool": lambda v: isinstance(v, bool),
              "float64": lambda v: isinstance(v, float),
              "map": lambda v: type(v) is dict}[typ](value)
        if not ok:
            got = "interface {}" if value is None else go_type(value)
            raise self.fail(node, f"wrong type for value; expected {_TYPE_NAMES[typ]};"
                            f" got {got}")
        return value
