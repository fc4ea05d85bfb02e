"""The parser (Go's text/template/parse: node.go and parse.go): tokens to trees of nodes.

The node classes each keep their span and `Source`, so that an error names the
construct's text and position; `Tree` is one named template. `_Parser` parses one
`Source` into the shared template set (`{{define}}` and `{{block}}` add templates to it,
replacing an empty definition as Go does), checks variables and function names as Go
does at parse time, and decodes number literals. Function names werf knows but werfpull
leaves out are named as such in the error.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from werfpull.gotemplate.errors import TemplateError
from werfpull.gotemplate.fmt import _gq
from werfpull.gotemplate.lex import _KEYWORDS, Source, Tok, _lex
from werfpull.gotemplate.strconv import _parse_go_int, go_unquote
from werfpull.gotemplate.values import _GO_SPACES


@dataclass(eq=False)
class Node:
    pos: int
    end: int
    src: Source = field(repr=False)

    def text(self) -> str:
        return self.src.text[self.pos:self.end]


@dataclass(eq=False)
class ListNode(Node):
    nodes: list = field(default_factory=list)


@dataclass(eq=False)
class TextNode(Node):
    value: str = ""


@dataclass(eq=False)
class PipeNode(Node):
    decl: list = field(default_factory=list)
    is_assign: bool = False
    cmds: list = field(default_factory=list)


@dataclass(eq=False)
class ActionNode(Node):
    pipe: PipeNode = None


@dataclass(eq=False)
class CommandNode(Node):
    args: list = field(default_factory=list)


@dataclass(eq=False)
class ControlNode(Node):
    kind: str = ""  # if, range, with
    pipe: PipeNode = None
    body: ListNode = None
    orelse: ListNode | None = None


@dataclass(eq=False)
class TemplateNode(Node):
    name: str = ""
    pipe: PipeNode | None = None


@dataclass(eq=False)
class BreakNode(Node):
    kind: str = "break"


@dataclass(eq=False)
class FieldNode(Node):
    idents: list = field(default_factory=list)


@dataclass(eq=False)
class VariableNode(Node):
    idents: list = field(default_factory=list)


@dataclass(eq=False)
class ChainNode(Node):
    node: Node = None
    fields: list = field(default_factory=list)


@dataclass(eq=False)
class IdentifierNode(Node):
    name: str = ""


@dataclass(eq=False)
class DotNode(Node):
    pass


@dataclass(eq=False)
class NilNode(Node):
    pass


@dataclass(eq=False)
class BoolNode(Node):
    value: bool = False


@dataclass(eq=False)
class StringNode(Node):
    value: str = ""


@dataclass(eq=False)
class NumberNode(Node):
    is_int: bool = False
    int_value: int = 0
    is_float: bool = False
    float_value: float = 0.0
    is_char: bool = False


@dataclass(eq=False)
class _End(Node):
    kind: str = "end"  # end | else | else-if


_LITERALS = (BoolNode, DotNode, NilNode, NumberNode, StringNode)


@dataclass
class Tree:
    name: str
    root: ListNode
    src: Source


def _is_empty(node) -> bool:
    if isinstance(node, ListNode):
        return all(_is_empty(n) for n in node.nodes)
    return isinstance(node, TextNode) and not node.value.strip(_GO_SPACES)


def _number(tok: Tok, src: Source) -> NumberNode:
    node = NumberNode(tok.pos, tok.end, src)
    text = tok.val
    if tok.kind == "charconst":
        try:
            ch = go_unquote(text)
        except ValueError:
            raise src.error(tok.pos, f"malformed character constant: {text}") from None
        if len(ch) != 1:
            raise src.error(tok.pos, f"malformed character constant: {text}")
        node.is_int = node.is_float = node.is_char = True
        node.int_value = ord(ch)
        node.float_value = float(node.int_value)
        return node
    if text.endswith("i"):
        raise src.error(tok.pos, "complex numbers are not supported")
    i = _parse_go_int(text)
    if i is not None:
        if not -(1 << 63) <= i < (1 << 63):
            raise src.error(tok.pos, f"{text} overflows int")
        node.is_int, node.int_value = True, i
        node.is_float, node.float_value = True, float(i)
        return node
    try:
        plain = text.replace("_", "")
        f = float.fromhex(plain) if re.match(r"[+-]?0[xX]", text) else float(plain)
    except ValueError:
        raise src.error(tok.pos, f"illegal number syntax: {_gq(text)}") from None
    if math.isinf(f):  # strconv.ParseFloat's range error: Go has no such constant
        raise src.error(tok.pos, f"illegal number syntax: {_gq(text)}")
    if not any(c in text for c in ".eEpP"):
        raise src.error(tok.pos, f"integer overflow: {_gq(text)}")
    node.is_float, node.float_value = True, f
    if math.isfinite(f) and f == int(f) and -(1 << 63) <= int(f) < (1 << 63):
        node.is_int, node.int_value = True, int(f)
    return node


def _tok_str(tok: Tok) -> str:
    if tok.kind == "eof":
        return "EOF"
    if tok.kind in _KEYWORDS:
        return f"<{tok.val}>"
    return _gq(tok.val) if len(tok.val) <= 10 else _gq(tok.val[:10]) + "..."


class _Parser:
    def __init__(self, src: Source, funcs: dict, trees: dict):
        self.src, self.funcs, self.trees = src, funcs, trees
        self.toks = _lex(src.text)
        self.i = 0
        self.vars = ["$"]
        self.range_depth = 0
        self.defined: dict[str, Tree] = {}  # by this text, for duplicate checks

    # -- tokens

    def error(self, pos: int, detail: str) -> TemplateError:
        return self.src.error(pos, detail)

    def next(self) -> Tok:
        tok = self.toks[self.i]
        if tok.kind == "error":
            raise self.error(tok.pos, tok.val)
        self.i += 1
        return tok

    def peek(self) -> Tok:
        tok = self.toks[self.i]
        if tok.kind == "error":
            raise self.error(tok.pos, tok.val)
        return tok

    def next_non_space(self) -> Tok:
        while True:
            tok = self.next()
            if tok.kind != "space":
                return tok

    def peek_non_space(self) -> Tok:
        tok = self.next_non_space()
        self.i -= 1
        return tok

    def expect(self, kind: str, context: str) -> Tok:
        tok = self.next_non_space()
        if tok.kind != kind:
            self.unexpected(tok, context)
        return tok

    def unexpected(self, tok: Tok, context: str):
        raise self.error(tok.pos, f"unexpected {_tok_str(tok)} in {context}")

    # -- structure

    def parse(self) -> ListNode:
        root = ListNode(0, len(self.src.text), self.src)
        while self.peek().kind != "eof":
            if self.peek().kind == "ldelim":
                mark = self.i
                delim = self.next()
                if self.next_non_space().kind == "define":
                    self.definition(delim)
                    continue
                self.i = mark
            node = self.text_or_action()
            if isinstance(node, _End):
                raise self.error(node.pos, f"unexpected {{{{{node.kind.split('-')[0]}}}}}")
            root.nodes.append(node)
        self.add(self.src.name, root, 0)
        return root

    def add(self, name: str, root: ListNode, pos: int) -> None:
        prev = self.defined.get(name)
        if prev is not None and not _is_empty(prev.root):
            if not _is_empty(root):
                raise self.error(pos, f"multiple definition of template {_gq(name)}")
            return
        tree = Tree(name, root, self.src)
        self.defined[name] = tree
        old = self.trees.get(name)
        if old is None or not _is_empty(root) or _is_empty(old.root):
            self.trees[name] = tree

    def new_tree(self, parse_body: Callable[[], ListNode]) -> ListNode:
        saved = self.vars, self.range_depth
        self.vars, self.range_depth = ["$"], 0
        try:
            return parse_body()
        finally:
            self.vars, self.range_depth = saved

    def definition(self, delim: Tok) -> None:
        tok = self.next_non_space()
        if tok.kind not in ("string", "rawstring"):
            self.unexpected(tok, "define clause")
        name = self.unquote(tok)
        self.expect("rdelim", "define clause")
        body, end = self.new_tree(lambda: self.item_list(delim, "define"))
        if end.kind != "end":
            raise self.error(end.pos, "unexpected {{else}} in define clause")
        self.add(name, body, delim.pos)

    def item_list(self, opener: Tok, what: str) -> tuple[ListNode, _End]:
        body = ListNode(self.peek_non_space().pos, 0, self.src)
        while self.peek_non_space().kind != "eof":
            node = self.text_or_action()
            if isinstance(node, _End):
                body.end = node.pos
                return body, node
            body.nodes.append(node)
        raise self.error(opener.pos, f"unclosed {{{{{what}}}}}: no matching {{{{end}}}}")

    def text_or_action(self):
        tok = self.next_non_space()
        if tok.kind == "text":
            return TextNode(tok.pos, tok.end, self.src, tok.val)
        if tok.kind == "ldelim":
            return self.action(tok)
        self.unexpected(tok, "input")

    def action(self, delim: Tok):
        tok = self.next_non_space()
        kind = tok.kind
        if kind in ("if", "range", "with"):
            return self.control(delim, kind)
        if kind == "end":
            self.expect("rdelim", "end")
            return _End(delim.pos, tok.end, self.src, "end")
        if kind == "else":
            nxt = self.peek_non_space()
            if nxt.kind in ("if", "with"):
                return _End(delim.pos, tok.end, self.src, f"else-{nxt.kind}")
            self.expect("rdelim", "else")
            return _End(delim.pos, tok.end, self.src, "else")
        if kind in ("break", "continue"):
            nxt = self.next_non_space()
            if nxt.kind != "rdelim":
                self.unexpected(nxt, f"{{{{{kind}}}}}")
            if not self.range_depth:
                raise self.error(tok.pos, f"{{{{{kind}}}}} outside {{{{range}}}}")
            return BreakNode(delim.pos, nxt.end, self.src, kind)
        if kind == "template":
            return self.template(delim)
        if kind == "block":
            return self.block(delim)
        if kind == "define":
            raise self.error(tok.pos, "{{define}} is allowed only at the top level, outside"
                             " other actions")
        self.i -= 1
        pipe = self.pipeline("command", "rdelim")
        return ActionNode(delim.pos, self.toks[self.i - 1].end, self.src, pipe)

    def control(self, delim: Tok, kind: str) -> ControlNode:
        mark = len(self.vars)
        try:
            pipe = self.pipeline(kind, "rdelim")
            if kind == "range":
                if pipe.is_assign:
                    raise self.error(pipe.pos, "range with '=' is not supported; use ':='")
                self.range_depth += 1
            body, end = self.item_list(delim, kind)
            if kind == "range":
                self.range_depth -= 1
            node = ControlNode(delim.pos, 0, self.src, kind, pipe, body)
            if end.kind == "else-if" and kind == "if":
                self.next_non_space()  # the "if" of "else if"
                inner = self.control(end, "if")
                node.orelse = ListNode(end.pos, inner.end, self.src, [inner])
            elif end.kind.startswith("else-"):
                raise self.error(end.pos, f"{{{{else {end.kind[5:]}}}}} is not supported in"
                                 f" {{{{{kind}}}}}")
            elif end.kind == "else":
                node.orelse, end = self.item_list(delim, kind)
                if end.kind != "end":
                    raise self.error(end.pos, "expected {{end}}; found {{else}}")
            node.end = self.toks[self.i - 1].end
            return node
        finally:
            del self.vars[mark:]

    def template(self, delim: Tok) -> TemplateNode:
        tok = self.next_non_space()
        name = self.template_name(tok, "template clause")
        pipe = None
        if self.next_non_space().kind != "rdelim":
            self.i -= 1
            pipe = self.pipeline("template clause", "rdelim")
        return TemplateNode(delim.pos, self.toks[self.i - 1].end, self.src, name, pipe)

    def block(self, delim: Tok) -> TemplateNode:
        tok = self.next_non_space()
        name = self.template_name(tok, "block clause")
        pipe = self.pipeline("block clause", "rdelim")
        end_of_action = self.toks[self.i - 1].end
        body, end = self.new_tree(lambda: self.item_list(delim, "block"))
        if end.kind != "end":
            raise self.error(end.pos, "unexpected {{else}} in block clause")
        self.add(name, body, delim.pos)
        return TemplateNode(delim.pos, end_of_action, self.src, name, pipe)

    def template_name(self, tok: Tok, context: str) -> str:
        if tok.kind not in ("string", "rawstring"):
            self.unexpected(tok, context)
        return self.unquote(tok)

    def unquote(self, tok: Tok) -> str:
        try:
            return go_unquote(tok.val)
        except ValueError:
            raise self.error(tok.pos, f"invalid string literal {tok.val}") from None

    # -- pipelines

    def pipeline(self, context: str, end: str) -> PipeNode:
        start = self.peek_non_space()
        pipe = PipeNode(start.pos, start.pos, self.src)
        while self.peek_non_space().kind == "variable":
            mark = self.i
            var = self.next_non_space()
            nxt = self.peek_non_space()
            if nxt.kind in ("assign", "declare"):
                pipe.is_assign = nxt.kind == "assign"
                self.next_non_space()
                pipe.decl.append(var.val)
                self.vars.append(var.val)
                break
            if nxt.kind == "char" and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(var.val)
                self.vars.append(var.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().kind in ("variable", "rdelim", "rparen"):
                        continue
                    raise self.error(nxt.pos, "range can only initialize variables")
                raise self.error(nxt.pos, f"too many declarations in {context}")
            self.i = mark
            break
        while True:
            tok = self.next_non_space()
            if tok.kind == end:
                self.check_pipeline(pipe, context, tok)
                pipe.end = tok.pos
                return pipe
            if tok.kind in ("bool", "charconst", "dot", "field", "ident", "number", "nil",
                            "rawstring", "string", "variable", "lparen"):
                self.i -= 1
                pipe.cmds.append(self.command())
            else:
                self.unexpected(tok, context)

    def check_pipeline(self, pipe: PipeNode, context: str, tok: Tok) -> None:
        if not pipe.cmds:
            raise self.error(tok.pos, f"missing value for {context}")
        for i, cmd in enumerate(pipe.cmds[1:]):
            if isinstance(cmd.args[0], _LITERALS):
                raise self.error(cmd.pos, f"non executable command in pipeline stage {i + 2}")

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos, 0, self.src)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.kind == "space":
                continue
            if tok.kind in ("rdelim", "rparen"):
                self.i -= 1
            elif tok.kind != "pipe":
                self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.error(cmd.pos, "empty command")
        cmd.end = cmd.args[-1].end
        return cmd

    def operand(self):
        node = self.term()
        if node is None or self.peek().kind != "field":
            return node
        fields = []
        while self.peek().kind == "field":
            tok = self.next()
            fields.append(tok.val[1:])
            end = tok.end
        if isinstance(node, FieldNode):
            return FieldNode(node.pos, end, self.src, node.idents + fields)
        if isinstance(node, VariableNode):
            return VariableNode(node.pos, end, self.src, node.idents + fields)
        if isinstance(node, _LITERALS):
            raise self.error(node.pos, f"unexpected . after term {_gq(node.text())}")
        return ChainNode(node.pos, end, self.src, node, fields)

    def term(self):
        tok = self.next_non_space()
        k, src = tok.kind, self.src
        if k == "ident":
            if tok.val not in self.funcs:
                raise self.error(tok.pos, _unknown_function(tok.val))
            return IdentifierNode(tok.pos, tok.end, src, tok.val)
        if k == "dot":
            return DotNode(tok.pos, tok.end, src)
        if k == "nil":
            return NilNode(tok.pos, tok.end, src)
        if k == "variable":
            if tok.val not in self.vars:
                raise self.error(tok.pos, f"undefined variable {_gq(tok.val)}")
            return VariableNode(tok.pos, tok.end, src, [tok.val])
        if k == "field":
            return FieldNode(tok.pos, tok.end, src, [tok.val[1:]])
        if k == "bool":
            return BoolNode(tok.pos, tok.end, src, tok.val == "true")
        if k in ("number", "charconst"):
            return _number(tok, src)
        if k == "lparen":
            pipe = self.pipeline("parenthesized pipeline", "rparen")
            pipe.pos, pipe.end = tok.pos, self.toks[self.i - 1].end
            return pipe
        if k in ("string", "rawstring"):
            return StringNode(tok.pos, tok.end, src, self.unquote(tok))
        self.i -= 1
        return None


# Functions of werf's map that werfpull leaves out: named in the error, so that a config
# using one fails plainly instead of rendering differently. The parser looks here only for
# names no function table has, so implementing one (in sprig.py, say) works unchanged.
_LEFT_OUT = {
    "call",  # a Go builtin: template data holds no functions to call
    "ago", "date", "date_in_zone", "date_modify", "dateInZone", "dateModify", "duration",
    "durationRound", "htmlDate", "htmlDateInZone", "must_date_modify", "mustDateModify",
    "mustToDate", "now", "toDate", "unixEpoch", "randAlphaNum", "randAlpha", "randAscii",
    "randNumeric", "randBytes", "randInt", "uuidv4", "shuffle", "bcrypt", "htpasswd",
    "genPrivateKey", "buildCustomCert", "genCA", "genCAWithKey", "genSelfSignedCert",
    "genSelfSignedCertWithKey", "genSignedCert", "genSignedCertWithKey", "encryptAES",
    "getHostByName",  # the clock, randomness, the network: not reproducible from the commit
    "derivePassword", "decryptAES", "urlParse", "urlJoin",  # deterministic, not reproduced
}


def _unknown_function(name: str) -> str:
    if name in _LEFT_OUT:
        return (f"function {_gq(name)} is not supported by werfpull's renderer"
                " (see \"Templated werf.yaml\" in the README)")
    if name == "expandenv":
        return f"function {_gq(name)} not defined (werf removes it; use env)"
    return f"function {_gq(name)} not defined"
