"""From text to IR: the architecture language's front end.

Two steps, each easy to find:

1. :class:`_ToSyntax`, a Lark ``Transformer`` that runs inside the LALR
   parser (no parse tree is built), turns the text into a small syntax tree
   (calls, references, literals, each with its location, computed from the
   tokens);
2. :class:`_Lowering` resolves names against the op library and the file's
   blocks, binds arguments to parameters, flattens nested calls into nodes
   and builds the frozen IR of :mod:`alphanas.lang.ir`.

Every mistake becomes an :class:`~alphanas.lang.errors.AlphanasError` with the
file, line and column, and a hint where one helps.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lark
from lark import Token, Transformer, v_args

import grammars
from alphanas import ops
from alphanas.lang.errors import AlphanasError, ParseError, ProgramError
from alphanas.lang.files import read_text
from alphanas.lang.ir import Arith, Expr, Graph, Input, IntParam, Loc, Node, Program, Sym
from alphanas.lang.limits import LARGEST_INT
from alphanas.ops.spec import Param

# -- the syntax tree ---------------------------------------------------------------


class _Node:
    """What step 1 keeps on each syntax node besides its fields. Not a
    dataclass, so these are no fields: they stay out of ``==`` and ``repr``."""

    #: the height of the node in the parse tree (as Lark would build it; a
    #: leaf is 0), for the nesting limit
    height = 0
    #: the location of the node with the parentheses around it, if it has
    #: some: that is what its parent's location spans
    outer: Loc | None = None


@dataclass
class Lit(_Node):
    value: Any
    loc: Loc


@dataclass
class Ref(_Node):
    name: str
    loc: Loc


@dataclass
class ListLit(_Node):
    items: list[Any]
    loc: Loc


@dataclass
class BinOp(_Node):
    op: str
    left: Any
    right: Any
    loc: Loc


@dataclass
class Arg(_Node):
    key: str | None
    value: Any
    loc: Loc


@dataclass
class Call(_Node):
    op: str
    args: list[Arg]
    loc: Loc
    name_loc: Loc


@dataclass
class Statement(_Node):
    target: str
    call: Call
    loc: Loc


@dataclass
class ParamDecl(_Node):
    name: str
    type: Any  # None, a type name (str) or a ListLit shape
    default: Any
    loc: Loc


@dataclass
class Definition(_Node):
    kind: str
    name: str
    params: list[ParamDecl]
    statements: list[Statement]
    result: Any
    loc: Loc
    result_loc: Loc = field(default=None)  # type: ignore[assignment]


# -- step 1: text to syntax tree, while Lark parses ------------------------------------

#: longer integer literals are certainly mistakes (and Python refuses > 4300 digits)
_MAX_DIGITS = 30
#: nesting deeper than this is reported instead of exhausting Python's stack
_MAX_NESTING = 200


class _ParseState(threading.local):
    """What the one :class:`_ToSyntax` inside the cached parser knows of the
    text being parsed, per thread (threads may parse at the same time)."""

    file = "<string>"
    #: whether the parse tree is deeper than ``_MAX_NESTING``
    too_deep = False
    #: the first literal that cannot be taken
    literal_error: AlphanasError | None = None


_state = _ParseState()


def _span(first: Any, last: Any) -> Loc:
    """From the start of ``first`` to the end of ``last`` (tokens or locations)."""
    return Loc(_state.file, first.line, first.column, last.end_line, last.end_column)


def _outer(node: Any) -> Loc:
    """The location of ``node`` with its parentheses, if it has some."""
    return node.outer or node.loc  # type: ignore[no-any-return]


@v_args(inline=True)
class _ToSyntax(Transformer):
    """Builds the syntax tree while Lark parses: each time the LALR parser
    reduces a rule it calls the rule's method with the rule's children (its
    tokens, and what the methods returned for the rules inside it), so that
    no parse tree is built.

    Lark passes no positions to such methods, so the locations are computed
    as its ``propagate_positions`` computed them: a node spans from the start
    of its first child to the end of its last, tokens included (the grammar
    names the tokens that rules start or end with, so that they are among
    the children), and a child in parentheses spans its parentheses
    (:attr:`_Node.outer`).

    Errors are not raised here but kept in ``_state`` until the whole text
    has parsed: a syntax error anywhere is reported first, as before.
    """

    def start(self, *defs: Definition) -> list[Definition]:
        return list(defs)

    def _definition(self, kind: str, keyword: Token, name: Token, params: Any, body: Any) -> Definition:
        statements, result, rbrace = body
        d = Definition(kind, str(name), params or [], statements, result, _span(keyword, rbrace), result.loc)
        body_height = 1 + max([result.height] + [s.height for s in statements])
        params_height = 1 + max(p.height for p in params) if params else 0
        d.height = 1 + max(body_height, params_height)
        if 1 + d.height > _MAX_NESTING:  # `start`, holding the definitions, is the root
            _state.too_deep = True
        return d

    def block(self, keyword: Token, name: Token, params: Any, body: Any) -> Definition:
        return self._definition("block", keyword, name, params, body)

    def model(self, keyword: Token, name: Token, params: Any, body: Any) -> Definition:
        return self._definition("model", keyword, name, params, body)

    def parameters(self, *params: ParamDecl) -> list[ParamDecl]:
        return list(params)

    def parameter(self, name: Token, type_: Any, default: Any) -> ParamDecl:
        last: Any = name
        heights = []
        if isinstance(type_, Token):  # a type name
            last, type_ = type_, str(type_)
            heights.append(0)
        elif type_ is not None:  # a shape, below a `type_shape` node
            last = type_.loc
            heights.append(1 + type_.height)
        if default is not None:
            last = _outer(default)
            heights.append(default.height)
        p = ParamDecl(str(name), type_, default, _span(name, last))
        p.height = 1 + max(heights) if heights else 0
        return p

    def type_name(self, name: Token) -> Token:
        return name  # the parameter's location may end with it

    def type_shape(self, shape: ListLit) -> ListLit:
        return shape

    def body(self, *items: Any) -> tuple[list[Statement], Any, Token]:
        *statements, result, rbrace = items
        return statements, result, rbrace

    def statement(self, target: Token, call: Call) -> Statement:
        s = Statement(str(target), call, _span(target, call.loc))
        s.height = 1 + call.height
        return s

    def call(self, name: Token, arguments: Any, rpar: Token) -> Call:
        c = Call(str(name), arguments or [], _span(name, rpar), _span(name, name))
        if arguments:  # the call holds an `arguments` node, which holds the arguments
            c.height = 2 + max(a.height for a in arguments)
        return c

    def arguments(self, *args: Any) -> list[Arg]:
        out = []
        for a in args:
            if not isinstance(a, Arg):
                a = Arg(None, a, a.loc)
                a.height = a.value.height  # no node of its own in the parse tree
            out.append(a)
        return out

    def keyword(self, key: Token, value: Any) -> Arg:
        a = Arg(str(key), value, _span(key, _outer(value)))
        a.height = 1 + value.height
        return a

    def _binop(self, op: str, left: Any, right: Any) -> BinOp:
        b = BinOp(op, left, right, _span(_outer(left), _outer(right)))
        b.height = 1 + max(left.height, right.height)
        return b

    def add(self, left: Any, right: Any) -> BinOp:
        return self._binop("+", left, right)

    def sub(self, left: Any, right: Any) -> BinOp:
        return self._binop("-", left, right)

    def mul(self, left: Any, right: Any) -> BinOp:
        return self._binop("*", left, right)

    def floordiv(self, left: Any, right: Any) -> BinOp:
        return self._binop("//", left, right)

    def neg(self, minus: Token, value: Any) -> Any:
        loc = _span(minus, _outer(value))
        node: Lit | BinOp
        if isinstance(value, Lit) and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            node = Lit(-value.value, loc)
        else:
            node = BinOp("*", Lit(-1, loc), value, loc)
        node.height = 1 + value.height
        return node

    def paren(self, lpar: Token, value: Any, rpar: Token) -> Any:
        # the value keeps its own location; its parent's spans the parentheses
        value.outer = _span(lpar, rpar)
        return value

    def ref(self, name: Token) -> Ref:
        return Ref(str(name), _span(name, name))

    def int(self, tok: Token) -> Lit:
        loc = _span(tok, tok)
        if len(tok) > _MAX_DIGITS or int(tok) > LARGEST_INT:
            if _state.literal_error is None:
                shown = str(tok) if len(tok) <= _MAX_DIGITS else f"with {len(tok)} digits"
                _state.literal_error = ProgramError(
                    f"integer literal {shown} is too large for any op", loc,
                    hint=f"the largest integer a program may write is {LARGEST_INT:,} (2^63 - 1, PyTorch's int64)")
            return Lit(0, loc)
        return Lit(int(tok), loc)

    def float(self, tok: Token) -> Lit:
        loc = _span(tok, tok)
        value = float(tok)
        if not math.isfinite(value) and _state.literal_error is None:
            _state.literal_error = ProgramError(f"number {tok} is too large", loc, hint="numbers must be finite")
        return Lit(value, loc)

    def true(self, tok: Token) -> Lit:
        return Lit(True, _span(tok, tok))

    def false(self, tok: Token) -> Lit:
        return Lit(False, _span(tok, tok))

    def string(self, tok: Token) -> Lit:
        return Lit(str(tok)[1:-1], _span(tok, tok))

    def list(self, lsqb: Token, *rest: Any) -> ListLit:
        *items, rsqb = rest
        items = [i for i in items if i is not None]
        lst = ListLit(items, _span(lsqb, rsqb))
        if items:
            lst.height = 1 + max(i.height for i in items)
        return lst


# -- the Lark parser ----------------------------------------------------------------------


@functools.cache
def _lark() -> lark.Lark:
    # the transformer runs inside the parser, which returns what `start` returns
    return lark.Lark(
        grammars.LANGUAGE.read_text(),
        parser="lalr",
        maybe_placeholders=True,
        transformer=_ToSyntax(),
    )


@functools.cache
def _tree_lark() -> lark.Lark:
    """The same parser, building the parse tree with positions: only to
    locate a nesting that is too deep."""
    return lark.Lark(
        grammars.LANGUAGE.read_text(),
        parser="lalr",
        propagate_positions=True,
        maybe_placeholders=True,
    )


_TOKEN_WORDS = {
    "LPAR": '"("', "RPAR": '")"', "LBRACE": '"{"', "RBRACE": '"}"', "LSQB": '"["',
    "RSQB": '"]"', "COMMA": '","', "EQUAL": '"="', "COLON": '":"', "NAME": "a name",
    "INT": "an integer", "FLOAT": "a number", "STRING": "a string", "PLUS": '"+"',
    "MINUS": '"-"', "STAR": '"*"', "SLASH": '"/"', "RETURN": '"return"', "BLOCK": '"block"',
    "MODEL": '"model"', "TRUE": '"true"', "FALSE": '"false"', "$END": "the end of the file",
    "__ANON_0": '"//"',
}


def _describe_expected(expected: set[str]) -> str:
    words = sorted({_TOKEN_WORDS.get(t, t.lower()) for t in expected})
    if len(words) > 6:
        words = [*words[:6], "..."]
    return ", ".join(words)


def _end_of_text(text: str) -> tuple[int, int]:
    """Line and column just after the last character that is not whitespace
    (lines counted at "\n", as the lexer counts them)."""
    lines = text.rstrip().split("\n")
    return len(lines), len(lines[-1]) + 1


def _token_text(token: str, most: int = 40) -> str:
    """A token as an error message quotes it: a long one cut (the excerpt shows where it is)."""
    return repr(token) if len(token) <= most else repr(token[: most - 3]) + "..."


def _syntax_error(err: lark.exceptions.UnexpectedInput, text: str, file: str) -> ParseError:
    line, column = max(err.line, 1), max(err.column, 1)
    if isinstance(err, lark.exceptions.UnexpectedCharacters):
        message = f"unexpected character {text[err.pos_in_stream]!r}"
        expected = err.allowed or set()
    elif isinstance(err, lark.exceptions.UnexpectedEOF):
        message = "the file ends in the middle of a definition"
        expected = set(err.expected)
        line, column = _end_of_text(text)
    else:
        assert isinstance(err, lark.exceptions.UnexpectedToken)
        token = err.token
        message = "unexpected end of file" if token.type == "$END" else f"unexpected {_token_text(str(token))}"
        expected = set(err.accepts or err.expected)
        if token.type == "$END":
            line, column = _end_of_text(text)
    hint = f"expected {_describe_expected(expected)}" if expected else None
    return ParseError(message, Loc(file, line, column), hint=hint, text=text)


def parse_syntax(text: str, file: str = "<string>") -> list[Definition]:
    """Text to syntax tree (step 1 only)."""
    _state.file, _state.too_deep, _state.literal_error = file, False, None
    try:
        defs: list[Definition] = _lark().parse(text)  # type: ignore[assignment]
    except lark.exceptions.UnexpectedInput as err:
        raise _syntax_error(err, text, file) from None
    too_deep, literal_error = _state.too_deep, _state.literal_error
    _state.literal_error = None
    if too_deep:  # rare: build the parse tree after all, to say where, as before
        _check_nesting(_tree_lark().parse(text), text, file)
    if literal_error is not None:
        raise literal_error.with_text(text)
    return defs


def _check_nesting(tree: lark.Tree, text: str, file: str) -> None:
    """Refuse trees deeper than the recursive lowering can take (the limit
    allows about a hundred nested calls, or a sum of two hundred terms),
    where the nesting gets too deep."""
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > _MAX_NESTING:
            meta = node.meta
            loc = Loc(file, getattr(meta, "line", 1), getattr(meta, "column", 1))
            raise ParseError(
                f"expression nested more than {_MAX_NESTING} levels deep", loc, text=text,
                hint="split it into several statements",
            )
        for child in node.children:
            # a value in parentheses is no level deeper (nor in the heights of `_ToSyntax`)
            while isinstance(child, lark.Tree) and child.data == "paren":
                child = child.children[1]
            if isinstance(child, lark.Tree):
                stack.append((child, depth + 1))


# -- step 2: syntax tree to IR -----------------------------------------------------------


@dataclass(frozen=True)
class _BlockSig:
    """What a call of a block needs to know about it."""

    name: str
    inputs: tuple[str, ...]
    params: tuple[Param, ...]


class _Lowering:
    def __init__(self, defs: list[Definition], text: str, file: str) -> None:
        self.text = text
        self.file = file
        self.defs = defs
        self.blocks: dict[str, Definition] = {}
        self.sigs: dict[str, _BlockSig] = {}

    def error(self, message: str, loc: Loc | None, hint: str | None = None) -> ProgramError:
        return ProgramError(message, loc, hint=hint, text=self.text)

    def program(self) -> Program:
        models = [d for d in self.defs if d.kind == "model"]
        if not models:
            raise self.error(
                "the file defines no model",
                Loc(self.file, 1, 1),
                hint="add `model NAME(x: [C, H, W]) { ... return ... }`",
            )
        if len(models) > 1:
            raise self.error(
                f"a second model {models[1].name!r}; a file holds one model", models[1].loc,
                hint=f"keep {models[0].name!r} or move the other one to its own file",
            )
        for d in self.defs:
            if d.kind != "block":
                continue
            if d.name in self.blocks:
                raise self.error(f"block {d.name!r} is defined twice", d.loc)
            if ops.lookup(d.name) is not None:
                raise self.error(f"block {d.name!r} has the name of an op", d.loc, hint="rename the block")
            self.blocks[d.name] = d
            self.sigs[d.name] = self.signature(d)
        graphs = {name: self.graph(d) for name, d in self.blocks.items()}
        model = self.graph(models[0])
        self.check_recursion(graphs)
        used = self.reachable(model, graphs)
        blocks = tuple(graphs[d.name] for d in self.defs if d.kind == "block" and d.name in used)
        return Program(model=model, blocks=blocks, source=self.file, text=self.text)

    # -- signatures -----------------------------------------------------------
    def signature(self, d: Definition) -> _BlockSig:
        inputs, params = self.parameters(d)
        shell = Graph("block", d.name, inputs, params, (), "")
        return _BlockSig(d.name, tuple(i.id for i in inputs), shell.call_params())

    def parameters(self, d: Definition) -> tuple[tuple[Input, ...], tuple[IntParam, ...]]:
        inputs: list[Input] = []
        params: list[IntParam] = []
        seen: set[str] = set()
        for p in d.params:
            if p.name in seen:
                raise self.error(f"parameter {p.name!r} is declared twice", p.loc)
            seen.add(p.name)
            if p.type == "int":
                if d.kind == "model" and p.default is None:
                    raise self.error(
                        f"model parameter {p.name!r} needs a default value", p.loc,
                        hint=f"write `{p.name}: int = 10`; callers may override it",
                    )
                default = None
                if p.default is not None:
                    if not (isinstance(p.default, Lit) and type(p.default.value) is int):
                        raise self.error(f"the default of {p.name!r} must be an integer", p.default.loc)
                    default = p.default.value
                params.append(IntParam(p.name, default, p.loc))
                continue
            if params:
                raise self.error(
                    f"tensor input {p.name!r} comes after an int parameter", p.loc,
                    hint="list the tensor inputs first, then the int parameters",
                )
            if p.default is not None:
                raise self.error(f"tensor input {p.name!r} cannot have a default", p.default.loc)
            shape = None
            if isinstance(p.type, ListLit):
                shape = tuple(self.shape_literal(p.type))
            elif p.type not in (None, "tensor"):
                raise self.error(
                    f"unknown type {p.type!r} for {p.name!r}", p.loc,
                    hint="use a shape like [3, 32, 32] (a tensor), `tensor`, or `int`",
                )
            if d.kind == "model" and shape is None:
                raise self.error(
                    f"model input {p.name!r} needs a shape", p.loc,
                    hint=f"write `{p.name}: [C, H, W]` (per sample, without the batch axis)",
                )
            if d.kind == "block" and shape is not None:
                raise self.error(
                    f"block input {p.name!r} has a shape; a block takes its shapes from each call",
                    p.loc, hint=f"write just `{p.name}`",
                )
            inputs.append(Input(p.name, shape, p.loc))
        if not inputs:
            raise self.error(f"{d.kind} {d.name!r} takes no tensor input", d.loc)
        return tuple(inputs), tuple(params)

    def shape_literal(self, lst: ListLit) -> Iterator[int]:
        if not lst.items:
            raise self.error("a shape needs at least one axis", lst.loc)
        for item in lst.items:
            if not (isinstance(item, Lit) and type(item.value) is int and item.value >= 1):
                raise self.error("a shape lists positive integers", item.loc)
            yield item.value

    # -- bodies ---------------------------------------------------------------------
    def graph(self, d: Definition) -> Graph:
        inputs, params = self.parameters(d)
        body = _Body(self, d, inputs, params)
        for st in d.statements:
            body.statement(st)
        output = body.result(d.result)
        return Graph(d.kind, d.name, inputs, params, tuple(body.nodes), output, d.loc)  # type: ignore[arg-type]

    def check_recursion(self, graphs: dict[str, Graph]) -> None:
        state: dict[str, int] = {}

        def visit(name: str, path: list[str]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                cycle = " -> ".join([*path[path.index(name):], name])
                raise self.error(f"blocks call each other in a cycle: {cycle}", self.blocks[name].loc)
            state[name] = 1
            for n in graphs[name].nodes:
                if n.op in graphs:
                    visit(n.op, [*path, name])
            state[name] = 2

        for name in graphs:
            visit(name, [])

    def reachable(self, model: Graph, graphs: dict[str, Graph]) -> set[str]:
        used: set[str] = set()
        todo = [model]
        while todo:
            g = todo.pop()
            for n in g.nodes:
                if n.op in graphs and n.op not in used:
                    used.add(n.op)
                    todo.append(graphs[n.op])
        return used


class _Body:
    """Lowers the statements of one definition into nodes."""

    def __init__(self, low: _Lowering, d: Definition, inputs: tuple[Input, ...], params: tuple[IntParam, ...]) -> None:
        self.low = low
        self.d = d
        self.nodes: list[Node] = []
        self.env: dict[str, str] = {i.id: i.id for i in inputs}  # visible name -> value id
        self.ints = {p.name for p in params}
        # ids are the user's names where possible; generated ids avoid every name used
        self.taken: set[str] = {i.id for i in inputs} | self.ints | {s.target for s in d.statements}
        self.bound: set[str] = set(self.env)

    def fresh(self, base: str) -> str:
        if base not in self.taken:
            self.taken.add(base)
            return base
        i = 1
        while f"{base}_{i}" in self.taken:
            i += 1
        self.taken.add(f"{base}_{i}")
        return f"{base}_{i}"

    def statement(self, st: Statement) -> None:
        if st.target in self.ints:
            raise self.low.error(f"{st.target!r} is an int parameter and cannot be assigned", st.loc)
        node_id = st.target if st.target not in self.bound else self.fresh(st.target)
        self.bound.add(st.target)
        self.call(st.call, node_id, st.target, prefix=st.target)
        self.env[st.target] = node_id

    def result(self, value: Any) -> str:
        if isinstance(value, Call):
            return self.call(value, self.fresh("out"), None, prefix="out")
        if isinstance(value, Ref):
            return self.tensor_ref(value)
        raise self.low.error("a body returns a tensor: a name or an op call", value.loc)

    def tensor_ref(self, ref: Ref) -> str:
        if ref.name in self.env:
            return self.env[ref.name]
        if ref.name in self.ints:
            raise self.low.error(f"{ref.name!r} is an int parameter, not a tensor", ref.loc)
        close = _closest(ref.name, list(self.env))
        raise self.low.error(
            f"{ref.name!r} is not defined here", ref.loc,
            hint=f"did you mean {close!r}?" if close else "define it in an earlier statement",
        )

    def is_tensor(self, value: Any) -> bool:
        return isinstance(value, Call) or (isinstance(value, Ref) and value.name not in self.ints)

    def call(self, call: Call, node_id: str, name: str | None, prefix: str) -> str:
        op = ops.lookup(call.op)
        if op is not None:
            arity = op.arity
            params: tuple[Param, ...] = op.params
        elif call.op in self.low.sigs:
            sig = self.low.sigs[call.op]
            arity = len(sig.inputs)
            params = sig.params
        else:
            close = ops.suggest(call.op, list(self.low.sigs))
            raise self.low.error(
                f"unknown op {call.op!r}", call.name_loc,
                hint=f"did you mean {close!r}?" if close else "see `alphanas ops` for the op library",
            )
        positional = [a for a in call.args if a.key is None]
        keywords = [a for a in call.args if a.key is not None]
        first_kw = next((i for i, a in enumerate(call.args) if a.key is not None), len(call.args))
        if any(a.key is None for a in call.args[first_kw:]):
            bad = next(a for a in call.args[first_kw:] if a.key is None)
            raise self.low.error("a positional argument follows a keyword argument", bad.loc)
        if arity is None:
            n_tensors = 0
            while n_tensors < len(positional) and self.is_tensor(positional[n_tensors].value):
                n_tensors += 1
            if n_tensors < 2:
                for a in positional[n_tensors : n_tensors + 1]:
                    if isinstance(a.value, Ref) and a.value.name in self.ints:
                        self.tensor_ref(a.value)
                raise self.low.error(f"{call.op} takes two or more tensors, got {n_tensors}", call.loc)
        else:
            n_tensors = arity
            if len(positional) < arity or not all(self.is_tensor(a.value) for a in positional[:arity]):
                for a in positional[:arity]:
                    if isinstance(a.value, Ref) and a.value.name in self.ints:
                        self.tensor_ref(a.value)  # says that it is an int parameter
                got = sum(1 for a in positional[:arity] if self.is_tensor(a.value))
                raise self.low.error(
                    f"{call.op} takes {arity} tensor input{'s' if arity > 1 else ''} first, got {got}",
                    call.loc, hint=f"signature: {_signature(call.op, arity, params)}",
                )
        # nested calls become nodes first, so that statement order is execution order
        inputs = []
        for k, a in enumerate(positional[:n_tensors]):
            if isinstance(a.value, Call):
                sub = a.value
                inputs.append(self.call(sub, self.fresh(f"{prefix}_{sub.op}"), None, prefix))
            else:
                inputs.append(self.tensor_ref(a.value))
            del k
        attrs = self.bind(call, params, positional[n_tensors:], keywords, arity)
        written = frozenset([p.name for p in params[: len(positional) - n_tensors]] + [str(a.key) for a in keywords])
        self.nodes.append(Node(node_id, call.op, tuple(inputs), attrs, name, call.loc, written))
        return node_id

    def bind(self, call: Call, params: tuple[Param, ...], positional: list[Arg], keywords: list[Arg], arity: int | None) -> tuple[tuple[str, Expr], ...]:
        if len(positional) > len(params):
            extra = positional[len(params)]
            what = "tensor" if self.is_tensor(extra.value) else "argument"
            raise self.low.error(
                f"{call.op} takes at most {len(params)} argument{'s' if len(params) != 1 else ''} after its tensor inputs; this {what} is one too many",
                extra.loc, hint=f"signature: {_signature(call.op, arity, params)}",
            )
        given: dict[str, Arg] = {}
        for p, a in zip(params, positional):
            given[p.name] = a
        names = [p.name for p in params]
        for a in keywords:
            assert a.key is not None
            if a.key not in names:
                close = _closest(a.key, names)
                raise self.low.error(
                    f"{call.op} has no argument {a.key!r}", a.loc,
                    hint=(f"did you mean {close}=...? " if close else "") + f"signature: {_signature(call.op, arity, params)}",
                )
            if a.key in given:
                raise self.low.error(f"argument {a.key!r} of {call.op} is given twice", a.loc)
            given[a.key] = a
        attrs = []
        for p in params:
            if p.name in given:
                attrs.append((p.name, self.value(call.op, p, given[p.name])))
            elif p.required:
                raise self.low.error(
                    f"{call.op} needs its argument {p.name!r}", call.loc,
                    hint=f"signature: {_signature(call.op, arity, params)}",
                )
            else:
                attrs.append((p.name, p.default))
        return tuple(attrs)

    def value(self, op: str, p: Param, arg: Arg) -> Expr:
        v = arg.value
        where = f"argument {p.name!r} of {op}"
        if p.kind == "int":
            return self.int_expr(v, where)
        if p.kind == "ints":
            if not isinstance(v, ListLit):
                raise self.low.error(f"{where} is a list of integers, like [1, 2]", v.loc)
            return tuple(self.int_expr(item, where) for item in v.items)
        if p.kind == "float":
            if isinstance(v, Lit) and type(v.value) in (int, float):
                return float(v.value)
            raise self.low.error(f"{where} is a number", v.loc)
        if p.kind == "bool":
            if isinstance(v, Lit) and type(v.value) is bool:
                return v.value
            raise self.low.error(f"{where} is true or false", v.loc)
        if p.kind == "str":
            if isinstance(v, Lit) and type(v.value) is str:
                return v.value
            raise self.low.error(f'{where} is a string, like "tanh"', v.loc)
        raise AssertionError(p.kind)

    def int_expr(self, v: Any, where: str) -> Expr:
        if isinstance(v, Lit) and type(v.value) is int:
            return v.value
        if isinstance(v, Ref) and v.name in self.ints:
            return Sym(v.name)
        if isinstance(v, BinOp):
            left, right = self.int_expr(v.left, where), self.int_expr(v.right, where)
            if isinstance(left, int) and isinstance(right, int):
                return _fold(v, left, right, self.low)
            return Arith(v.op, left, right)  # type: ignore[arg-type]
        if isinstance(v, Ref):
            hint = "in a block, declare it as `NAME: int`" if self.d.kind == "block" else None
            raise self.low.error(f"{where} is an integer; {v.name!r} is not an int parameter", v.loc, hint=hint)
        raise self.low.error(f"{where} is an integer", v.loc)


def _fold(v: BinOp, left: int, right: int, low: _Lowering) -> int:
    if v.op == "+":
        return left + right
    if v.op == "-":
        return left - right
    if v.op == "*":
        return left * right
    if right == 0:
        raise low.error("division by zero", v.loc)
    return left // right


def _closest(name: str, candidates: list[str]) -> str | None:
    import difflib

    m = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    return m[0] if m else None


def _signature(op: str, arity: int | None, params: tuple[Param, ...]) -> str:
    parts = [f"x{i}" for i in range(arity)] if arity is not None else ["x0", "x1", "..."]
    parts += [p.name if p.required else f"{p.name}={_show_default(p.default)}" for p in params]
    return f"{op}({', '.join(parts)})"


def _show_default(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if v is None:
        return "auto"
    return repr(v)


# -- the entry points ----------------------------------------------------------------------


def parse(text: str, file: str = "<string>") -> Program:
    """Parse a program; raise :class:`~alphanas.lang.errors.AlphanasError` on mistakes."""
    defs = parse_syntax(text, file)
    return _Lowering(defs, text, file).program()


def parse_file(path: str | Path) -> Program:
    """Parse the program in file ``path`` (UTF-8 text, read by :func:`alphanas.lang.files.read_text`)."""
    return parse(read_text(path, "program", error=ProgramError), str(path))
