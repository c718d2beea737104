"""From text to IR: the architecture language's front end.

Two steps, each easy to find:

1. :class:`_ToSyntax`, a Lark ``Transformer``, turns the parse tree into a small
   syntax tree (calls, references, literals, each with its location);
2. :class:`_Lowering` resolves names against the op library and the file's
   blocks, binds arguments to parameters, flattens nested calls into nodes
   and builds the frozen IR of :mod:`alphanas.ir`.

Every mistake becomes an :class:`~alphanas.errors.AlphanasError` with the
file, line and column, and a hint where one helps.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lark
from lark import Token, Transformer, v_args

import grammars
from alphanas import ops
from alphanas.errors import AlphanasError, ParseError, ProgramError
from alphanas.ir import Arith, Expr, Graph, Input, IntParam, Loc, Node, Program, Sym
from alphanas.ops.spec import Param

# -- the syntax tree ---------------------------------------------------------------


@dataclass
class Lit:
    value: Any
    loc: Loc


@dataclass
class Ref:
    name: str
    loc: Loc


@dataclass
class ListLit:
    items: list[Any]
    loc: Loc


@dataclass
class BinOp:
    op: str
    left: Any
    right: Any
    loc: Loc


@dataclass
class Arg:
    key: str | None
    value: Any
    loc: Loc


@dataclass
class Call:
    op: str
    args: list[Arg]
    loc: Loc
    name_loc: Loc


@dataclass
class Statement:
    target: str
    call: Call
    loc: Loc


@dataclass
class ParamDecl:
    name: str
    type: Any  # None, a type name (str) or a ListLit shape
    default: Any
    loc: Loc


@dataclass
class Definition:
    kind: str
    name: str
    params: list[ParamDecl]
    statements: list[Statement]
    result: Any
    loc: Loc
    result_loc: Loc = field(default=None)  # type: ignore[assignment]


# -- step 1: Lark tree to syntax tree ------------------------------------------------

#: longer integer literals are certainly mistakes (and Python refuses > 4300 digits)
_MAX_DIGITS = 30
#: nesting deeper than this is reported instead of exhausting Python's stack
_MAX_NESTING = 200


def _loc(file: str, meta: Any) -> Loc:
    return Loc(file, meta.line, meta.column, meta.end_line, meta.end_column)


def _tok_loc(file: str, tok: Token) -> Loc:
    return Loc(file, tok.line or 0, tok.column or 0, tok.end_line or 0, tok.end_column or 0)


@v_args(meta=True, inline=True)
class _ToSyntax(Transformer):
    def __init__(self, file: str) -> None:
        super().__init__()
        self.file = file

    def start(self, meta: Any, *defs: Definition) -> list[Definition]:
        return list(defs)

    def _definition(self, kind: str, meta: Any, name: Token, params: Any, body: Any) -> Definition:
        statements, (result, result_loc) = body
        return Definition(
            kind, str(name), params or [], statements, result, _loc(self.file, meta), result_loc
        )

    def block(self, meta: Any, name: Token, params: Any, body: Any) -> Definition:
        return self._definition("block", meta, name, params, body)

    def model(self, meta: Any, name: Token, params: Any, body: Any) -> Definition:
        return self._definition("model", meta, name, params, body)

    def parameters(self, meta: Any, *params: ParamDecl) -> list[ParamDecl]:
        return list(params)

    def parameter(self, meta: Any, name: Token, type_: Any, default: Any) -> ParamDecl:
        return ParamDecl(str(name), type_, default, _loc(self.file, meta))

    def type_name(self, meta: Any, name: Token) -> str:
        return str(name)

    def type_shape(self, meta: Any, shape: ListLit) -> ListLit:
        return shape

    def body(self, meta: Any, *items: Any) -> tuple[list[Statement], tuple[Any, Loc]]:
        *statements, result = items
        return list(statements), (result, result.loc)

    def statement(self, meta: Any, target: Token, call: Call) -> Statement:
        return Statement(str(target), call, _loc(self.file, meta))

    def call(self, meta: Any, name: Token, arguments: Any) -> Call:
        return Call(str(name), arguments or [], _loc(self.file, meta), _tok_loc(self.file, name))

    def arguments(self, meta: Any, *args: Any) -> list[Arg]:
        return [a if isinstance(a, Arg) else Arg(None, a, a.loc) for a in args]

    def keyword(self, meta: Any, key: Token, value: Any) -> Arg:
        return Arg(str(key), value, _loc(self.file, meta))

    def _binop(self, op: str, meta: Any, left: Any, right: Any) -> BinOp:
        return BinOp(op, left, right, _loc(self.file, meta))

    def add(self, meta: Any, left: Any, right: Any) -> BinOp:
        return self._binop("+", meta, left, right)

    def sub(self, meta: Any, left: Any, right: Any) -> BinOp:
        return self._binop("-", meta, left, right)

    def mul(self, meta: Any, left: Any, right: Any) -> BinOp:
        return self._binop("*", meta, left, right)

    def floordiv(self, meta: Any, left: Any, right: Any) -> BinOp:
        return self._binop("//", meta, left, right)

    def neg(self, meta: Any, value: Any) -> Any:
        if isinstance(value, Lit) and isinstance(value.value, (int, float)) and not isinstance(value.value, bool):
            return Lit(-value.value, _loc(self.file, meta))
        return BinOp("*", Lit(-1, _loc(self.file, meta)), value, _loc(self.file, meta))

    def ref(self, meta: Any, name: Token) -> Ref:
        return Ref(str(name), _loc(self.file, meta))

    def int(self, meta: Any, tok: Token) -> Lit:
        loc = _loc(self.file, meta)
        if len(tok) > _MAX_DIGITS:
            raise ProgramError(f"integer literal with {len(tok)} digits is too large", loc)
        return Lit(int(tok), loc)

    def float(self, meta: Any, tok: Token) -> Lit:
        loc = _loc(self.file, meta)
        value = float(tok)
        if not math.isfinite(value):
            raise ProgramError(f"number {tok} is too large", loc, hint="numbers must be finite")
        return Lit(value, loc)

    def true(self, meta: Any) -> Lit:
        return Lit(True, _loc(self.file, meta))

    def false(self, meta: Any) -> Lit:
        return Lit(False, _loc(self.file, meta))

    def string(self, meta: Any, tok: Token) -> Lit:
        return Lit(str(tok)[1:-1], _loc(self.file, meta))

    def list(self, meta: Any, *items: Any) -> ListLit:
        return ListLit([i for i in items if i is not None], _loc(self.file, meta))


# -- the Lark parser ----------------------------------------------------------------------


@functools.cache
def _lark() -> lark.Lark:
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
        message = "unexpected end of file" if token.type == "$END" else f"unexpected {str(token)!r}"
        expected = set(err.accepts or err.expected)
        if token.type == "$END":
            line, column = _end_of_text(text)
    hint = f"expected {_describe_expected(expected)}" if expected else None
    return ParseError(message, Loc(file, line, column), hint=hint, text=text)


def parse_syntax(text: str, file: str = "<string>") -> list[Definition]:
    """Text to syntax tree (step 1 only)."""
    try:
        tree = _lark().parse(text)
    except lark.exceptions.UnexpectedInput as err:
        raise _syntax_error(err, text, file) from None
    _check_nesting(tree, text, file)
    try:
        return _ToSyntax(file).transform(tree)
    except lark.exceptions.VisitError as err:
        if isinstance(err.orig_exc, AlphanasError):
            raise err.orig_exc.with_text(text) from None
        raise


def _check_nesting(tree: lark.Tree, text: str, file: str) -> None:
    """Refuse trees deeper than the recursive transformer and lowering can
    take (a thousand nested calls, or a sum of a thousand terms), where the
    nesting gets too deep."""
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
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, lark.Tree))


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
        self.nodes.append(Node(node_id, call.op, tuple(inputs), attrs, name, call.loc))
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
    """Parse a program; raise :class:`~alphanas.errors.AlphanasError` on mistakes."""
    defs = parse_syntax(text, file)
    return _Lowering(defs, text, file).program()


def parse_file(path: str | Path) -> Program:
    p = Path(path)
    try:
        text = p.read_text()
    except OSError as err:
        raise ProgramError(f"cannot read {p}: {err.strerror}", hint="check the path") from None
    return parse(text, str(path))
