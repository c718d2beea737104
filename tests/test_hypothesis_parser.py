"""Property tests of the front end.

1. A Hypothesis strategy builds random *valid* programs: chains and DAGs of
   ops from a safe subset with shape-consistent sizes, optional blocks (with
   int parameters, defaults, arithmetic and calls of other blocks), nested
   calls, comments and trailing commas. Every such program parses, prints to
   a fixed point, round-trips, keeps its canonical hash, and analyses to the
   shapes the generator computed on its own.
2. Random text, token soup, mutated valid programs and well-formed calls of
   random ops with odd arguments never crash the front end: ``parse``
   returns a program or raises an :class:`~alphanas.AlphanasError` whose
   rendering starts with ``file:line:col`` inside the text; what parses
   round-trips, and ``analyze`` succeeds or raises an AlphanasError.
3. The crashes these fuzzers found, reduced to minimal inputs, as
   regression tests.

The generated programs are kept as :class:`ProgramSpec` values (statements
in single-assignment form) so that ``test_canonical.py`` can render the same
program with renamed values and blocks, reordered statements and rebinding.
"""

from __future__ import annotations

import random
import re
import string
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alphanas import (
    AlphanasError,
    ParseError,
    Program,
    ShapeError,
    analyze,
    ops,
    parse,
    print_program,
)
from alphanas.lang.canonical import program_hash

# -- a description of a valid program -------------------------------------------------


@dataclass(frozen=True)
class Ref:
    """A value of the graph: an input or the target of a statement."""

    name: str


@dataclass(frozen=True)
class Call:
    """``op(inputs..., args...)``; ``args`` are argument texts in which the
    graph's int parameters appear as ``{name}`` placeholders."""

    op: str
    inputs: tuple[Ref | Call, ...]
    args: tuple[str, ...] = ()


Expr = Ref | Call


@dataclass(frozen=True)
class Stmt:
    target: str
    call: Call


@dataclass
class GraphSpec:
    """A block or the model, in single-assignment form."""

    kind: str
    name: str
    inputs: list[tuple[str, str]]  # (name, type text: "" or ": [3, 8, 8]")
    params: list[tuple[str, str]]  # (name, ": int" or ": int = 1")
    stmts: list[Stmt]
    result: Expr
    #: the shape the generator expects for each statement's value (the model only)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def refs(self, expr: Expr) -> list[str]:
        if isinstance(expr, Ref):
            return [expr.name]
        return [name for e in expr.inputs for name in self.refs(e)]

    def dependencies(self) -> list[set[int]]:
        """For each statement, the statements whose values it reads."""
        index = {s.target: k for k, s in enumerate(self.stmts)}
        return [{index[r] for r in self.refs(s.call) if r in index} for s in self.stmts]


@dataclass
class ProgramSpec:
    blocks: list[GraphSpec]
    model: GraphSpec

    def graphs(self) -> list[GraphSpec]:
        return [*self.blocks, self.model]


@dataclass
class Rendering:
    """How to write a :class:`ProgramSpec` as text. The defaults write it as
    generated; every other choice must give the same computation."""

    #: graph name -> original value or int parameter name -> new name
    names: dict[str, dict[str, str]] = field(default_factory=dict)
    #: original block name -> new name
    blocks: dict[str, str] = field(default_factory=dict)
    #: graph name -> statement indices in the order to write them
    orders: dict[str, list[int]] = field(default_factory=dict)
    #: block indices in the order to define them
    block_order: list[int] | None = None
    #: random comments, blank lines and trailing commas
    noise: random.Random | None = None


def render(spec: ProgramSpec, how: Rendering | None = None) -> str:
    how = how or Rendering()
    order = how.block_order if how.block_order is not None else range(len(spec.blocks))
    graphs = [spec.blocks[k] for k in order] + [spec.model]
    block_names = {b.name for b in spec.blocks}
    return "\n".join(_render_graph(g, how, block_names) for g in graphs)


def _render_graph(g: GraphSpec, how: Rendering, block_names: set[str]) -> str:
    names = how.names.get(g.name, {})
    rnd = how.noise

    def name(v: str) -> str:
        return names.get(v, v)

    params = {p: name(p) for p, _ in g.params}

    def argument(a: str, callee: str) -> str:
        text = a.format(**params)
        key, eq, value = text.partition("=")
        if callee in block_names and eq and key.isidentifier():
            # a keyword of a block call is the callee's (renamed) parameter
            return how.names.get(callee, {}).get(key, key) + "=" + value
        return text

    def comma() -> str:
        return "," if rnd is not None and rnd.random() < 0.2 else ""

    def expr(e: Expr) -> str:
        if isinstance(e, Ref):
            return name(e.name)
        op = how.blocks.get(e.op, e.op)
        args = [expr(i) for i in e.inputs] + [argument(a, e.op) for a in e.args]
        return f"{op}({', '.join(args)}{comma()})"

    def comment() -> str:
        return "  # note: (x) = 1" if rnd is not None and rnd.random() < 0.15 else ""

    header = [f"{name(n)}{t}" for n, t in g.inputs] + [f"{name(n)}{t}" for n, t in g.params]
    block_name = how.blocks.get(g.name, g.name)
    lines = [f"{g.kind} {block_name}({', '.join(header)}{comma()}) {{{comment()}"]
    for k in how.orders.get(g.name, range(len(g.stmts))):
        s = g.stmts[k]
        if rnd is not None and rnd.random() < 0.1:
            lines.append("")
        lines.append(f"  {name(s.target)} = {expr(s.call)}{comment()}")
    lines.append(f"  return {expr(g.result)}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def rebinding_names(g: GraphSpec, rnd: random.Random) -> dict[str, str]:
    """Names for the values of ``g`` that reuse a name once its value is
    dead (``h = relu(h)``), so that the text rebinds names."""
    last_use: dict[str, int] = {}
    for k, s in enumerate(g.stmts):
        for r in g.refs(s.call):
            last_use[r] = k
    for r in g.refs(g.result):
        last_use[r] = len(g.stmts)
    pool = ["h", "z", "t"]
    holder: dict[str, str] = {}  # pool name -> value it holds
    result: dict[str, str] = {}
    values = [(n, -1) for n, _ in g.inputs] + [(s.target, k) for k, s in enumerate(g.stmts)]
    for value, defined in values:
        # inputs are all declared at once; a statement may rebind the name of
        # a value that no later statement reads (even one it reads itself)
        dead = [p for p in pool if p in holder and defined >= 0 and last_use.get(holder[p], -1) <= defined]
        unused = [p for p in pool if p not in holder]
        if dead and rnd.random() < 0.8:
            choice = rnd.choice(dead)
        elif unused:
            choice = rnd.choice(unused)
        else:
            choice = f"{rnd.choice(pool)}{len(result)}"
        holder[choice] = value
        result[value] = choice
    return result


# -- the strategy ---------------------------------------------------------------------------

UNARY = ("relu", "sigmoid", "tanh", "silu", "hardswish", "identity", "batchnorm")
#: how one unary op may be written: op name and extra arguments
UNARY_FORMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    *((op, ()) for op in UNARY),
    ("batchnorm", ("eps=1e-06",)),
    ("batchnorm", ("momentum=0.2", "affine=false")),
    ("dropout", ("p=0.25",)),
    ("gelu", ('approximate="tanh"',)),
    ("gelu", ()),
    ("softmax", ("dim=0",)),
    ("layernorm", ("dims=2",)),
)


def int_text(draw: st.DrawFn, n: int) -> str:
    """An integer written plainly or as constant arithmetic that folds to it."""
    forms = [
        str(n),
        f"{n - 1} + 1",
        f"2 * {n // 2} + {n % 2}",
        f"({n} + 3) - 3",
        f"{2 * n} // 2",
        f"-(-{n})",
        f"{n + 2} - 1 - 1",
    ]
    return draw(st.sampled_from(forms))


#: block-channel expressions: multiplier m -> ways to write m * c
CHANNELS = {
    1: ("{c}", "{c} * 1", "({c} + {c}) // 2"),
    2: ("{c} * 2", "2 * {c}", "{c} + {c}"),
    4: ("{c} * 4", "({c} + {c}) * 2"),
}

Kind = tuple[int, int]  # a block value with a * (input channels) + m * c channels


@dataclass
class BlockInfo:
    spec: GraphSpec
    inputs: int
    out: Kind
    has_r: bool


def unary(draw: st.DrawFn, e: Expr) -> Call:
    op, args = draw(st.sampled_from(UNARY_FORMS))
    return Call(op, (e,), args)


def maybe_nested(draw: st.DrawFn, e: Expr) -> Expr:
    """A reference, or sometimes a shape-preserving op applied to it."""
    return unary(draw, e) if draw(st.integers(0, 3)) == 0 else e


def draw_block(draw: st.DrawFn, name: str, earlier: list[BlockInfo]) -> BlockInfo:
    n_inputs = draw(st.integers(1, 2))
    has_r = draw(st.booleans())
    inputs = [("x", ""), ("y", "")][:n_inputs]
    params = [("c", ": int")] + ([("r", ": int = 1")] if has_r else [])
    values: list[tuple[str, Kind]] = [(n, (1, 0)) for n, _ in inputs]
    stmts: list[Stmt] = []
    for k in range(draw(st.integers(1, 4))):
        v, kind = draw(st.sampled_from(values))
        choice = draw(st.sampled_from(["unary", "conv", "add", "concat", "call"]))
        if choice == "conv":
            m = draw(st.sampled_from(sorted(CHANNELS)))
            window = [["k=3", "p=1"], ["3", "p=1"], [], ["p=0"]]
            if has_r:
                window.append(["k=2 * {r} + 1", "p={r}"])
            args = (draw(st.sampled_from(CHANNELS[m])), *draw(st.sampled_from(window)))
            call, kind = Call("conv2d", (maybe_nested(draw, Ref(v)),), args), (0, m)
        elif choice == "add":
            same = [w for w, kw in values if kw == kind]
            other = draw(st.sampled_from(same))
            call = Call("add", (maybe_nested(draw, Ref(v)), maybe_nested(draw, Ref(other))))
        elif choice == "concat":
            w, kw = draw(st.sampled_from(values))
            call, kind = Call("concat", (Ref(v), Ref(w))), (kind[0] + kw[0], kind[1] + kw[1])
        elif choice == "call" and earlier:
            callee = draw(st.sampled_from(earlier))
            same = [w for w, kw in values if kw == kind]
            ins = tuple(Ref(draw(st.sampled_from(same))) for _ in range(callee.inputs - 1))
            factor = draw(st.sampled_from([1, 2]))
            args: tuple[str, ...] = ("{c}" if factor == 1 else "{c} * 2",)
            if callee.has_r:
                args += draw(st.sampled_from([(), ("r=1",), ("2",), ("r={r}",) if has_r else ()]))
            a, m = callee.out
            call = Call(callee.spec.name, (Ref(v), *ins), args)
            kind = (a * kind[0], a * kind[1] + m * factor)
        else:
            call = unary(draw, maybe_nested(draw, Ref(v)))
        stmts.append(Stmt(f"v{k}", call))
        values.append((f"v{k}", kind))
    last, kind = values[-1]
    result: Expr = Ref(last) if draw(st.booleans()) else Call("relu", (Ref(last),))
    spec = GraphSpec("block", name, inputs, params, stmts, result)
    return BlockInfo(spec, n_inputs, kind, has_r)


Shape = tuple[int, int, int]


def window(size: int, k: int, s: int, p: int, d: int = 1, ceil: bool = False) -> int:
    span = d * (k - 1) + 1
    if not ceil:
        return (size + 2 * p - span) // s + 1
    out = -(-(size + 2 * p - span) // s) + 1
    return out - 1 if (out - 1) * s >= size + p else out


def draw_model_op(
    draw: st.DrawFn, values: list[tuple[str, Shape]], blocks: list[BlockInfo], width: int | None
) -> tuple[Call, Shape]:
    v, (c, h, w) = draw(st.sampled_from(values))
    x = maybe_nested(draw, Ref(v))
    kinds = ["unary", "conv", "pool", "add", "mul", "concat", "groupnorm", "adaptive"]
    choice = draw(st.sampled_from(kinds + ["call"] * (2 if blocks else 0)))
    if choice == "conv":
        k, d, s = draw(st.integers(1, 3)), draw(st.integers(1, 2)), draw(st.integers(1, 2))
        p = draw(st.integers(0, 2))
        groups = draw(st.sampled_from([g for g in (1, 2, 3) if c % g == 0]))
        out = groups * draw(st.integers(1, 4))
        out_text = int_text(draw, out)
        if width is not None and draw(st.booleans()):
            out, out_text = width, "{width}"
        if groups > 1 and out % groups:
            groups = 1
        kwargs = [f"k={k}", f"s={s}", f"p={p}", f"d={d}", f"groups={groups}", f"bias={draw(st.sampled_from(['true', 'false']))}"]
        kwargs = draw(st.permutations(kwargs))[: draw(st.integers(0, 6))]
        given = dict(a.split("=") for a in kwargs)
        k, s, p, d = (int(given.get(n, dflt)) for n, dflt in (("k", 1), ("s", 1), ("p", 0), ("d", 1)))
        if h + 2 * p < d * (k - 1) + 1 or w + 2 * p < d * (k - 1) + 1:
            kwargs = [a for a in kwargs if a.split("=")[0] not in ("k", "d")]
            k, d = 1, 1
        shape = (out, window(h, k, s, p, d), window(w, k, s, p, d))
        return Call("conv2d", (x,), (out_text, *kwargs)), shape
    if choice == "pool":
        op = draw(st.sampled_from(["maxpool", "avgpool"]))
        k = draw(st.integers(1, min(3, h, w)))
        s = draw(st.integers(1, 2))
        p = draw(st.integers(0, k // 2))
        ceil = draw(st.booleans())
        args = (str(k), f"s={s}", f"p={p}", f"ceil={'true' if ceil else 'false'}")
        shape = (c, window(h, k, s, p, ceil=ceil), window(w, k, s, p, ceil=ceil))
        return Call(op, (x,), args), shape
    if choice == "add":
        same = [n for n, sh in values if sh == (c, h, w)]
        extra = tuple(Ref(draw(st.sampled_from(same))) for _ in range(draw(st.integers(1, 2))))
        return Call("add", (x, *extra)), (c, h, w)
    if choice == "mul":
        gate = Call("sigmoid", (Call("mean", (Ref(v),), ("[1, 2]", "keep=true")),))
        operands = draw(st.permutations([x, gate]))
        return Call("mul", tuple(operands)), (c, h, w)
    if choice == "concat":
        fits = [(n, sh) for n, sh in values if sh[1:] == (h, w)]
        other, (c2, _, _) = draw(st.sampled_from(fits))
        dim = draw(st.sampled_from([(), ("dim=0",), ("dim=-3",)]))
        return Call("concat", (x, Ref(other)), dim), (c + c2, h, w)
    if choice == "groupnorm":
        g = draw(st.sampled_from([g for g in (1, 2, 3, 4) if c % g == 0]))
        return Call("groupnorm", (x,), (str(g),)), (c, h, w)
    if choice == "adaptive":
        size = draw(st.integers(1, 3))
        args = (str(size),)
        return Call(draw(st.sampled_from(["adaptive_avgpool", "adaptive_maxpool"])), (x,), args), (c, size, size)
    if choice == "call":
        callee = draw(st.sampled_from(blocks))
        same = [n for n, sh in values if sh == (c, h, w)]
        ins = tuple(Ref(draw(st.sampled_from(same))) for _ in range(callee.inputs - 1))
        channels = draw(st.integers(1, 6))
        args: tuple[str, ...] = (int_text(draw, channels),)
        if width is not None and draw(st.booleans()):
            channels, args = width, ("{width}",)
        r_args: list[tuple[str, ...]] = [(), ("r=1",), ("r=2",), ("2",)]
        if callee.has_r:
            args += draw(st.sampled_from(r_args))
        if draw(st.booleans()):
            args = (f"c={args[0]}", *(a if "=" in a else f"r={a}" for a in args[1:]))
        a, m = callee.out
        return Call(callee.spec.name, (x, *ins), args), (a * c + m * channels, h, w)
    return unary(draw, x), (c, h, w)


@st.composite
def program_specs(draw: st.DrawFn) -> ProgramSpec:
    blocks: list[BlockInfo] = []
    for k in range(draw(st.integers(0, 2))):
        blocks.append(draw_block(draw, f"b{k}", blocks))
    c, h, w = draw(st.integers(1, 6)), draw(st.integers(3, 9)), draw(st.integers(3, 9))
    inputs = [("x", f": [{c}, {h}, {w}]")]
    values: list[tuple[str, Shape]] = [("x", (c, h, w))]
    if draw(st.booleans()):
        inputs.append(("x2", f": [{c}, {h}, {w}]"))
        values.append(("x2", (c, h, w)))
    n_inputs = len(values)
    width = draw(st.sampled_from([None, 4, 8]))
    params = [("classes", f": int = {draw(st.integers(1, 12))}")]
    if width is not None:
        params.append(("width", f": int = {width}"))
    stmts = []
    for k in range(draw(st.integers(1, 7))):
        call, shape = draw_model_op(draw, values, blocks, width)
        stmts.append(Stmt(f"v{k}", call))
        values.append((f"v{k}", shape))
    last = Ref(draw(st.sampled_from(values[n_inputs:]))[0]) if draw(st.booleans()) else Ref(values[-1][0])
    head = draw(st.sampled_from(["ref", "relu", "dense_pool", "dense_mean"]))
    result: Expr = {
        "ref": last,
        "relu": Call("relu", (last,)),
        "dense_pool": Call("dense", (Call("flatten", (Call("adaptive_avgpool", (last,), ("1",)),)),), ("{classes}",)),
        "dense_mean": Call("dense", (Call("mean", (last,), ("[1, 2]",)),), ("10", "bias=false")),
    }[head]
    model = GraphSpec("model", "net", inputs, params, stmts, result, shapes=dict(values[n_inputs:]))
    return ProgramSpec([b.spec for b in blocks], model)


# -- properties of valid programs ---------------------------------------------------------


def assert_round_trip(program: Program) -> str:
    """The printed text is a fixed point and parses back to the same program."""
    printed = print_program(program)
    again = parse(printed)
    assert again == program
    assert print_program(again) == printed
    return printed


@settings(max_examples=200, deadline=None)
@given(spec=program_specs(), seed=st.integers(0, 2**16))
def test_random_valid_program_parses_prints_round_trips_and_analyses(spec: ProgramSpec, seed: int) -> None:
    text = render(spec, Rendering(noise=random.Random(seed)))
    program = parse(text)
    printed = assert_round_trip(program)
    inst = analyze(program)
    # shape inference agrees with the generator's own arithmetic
    assert {v: inst.shapes[v] for v in spec.model.shapes} == spec.model.shapes
    assert program_hash(parse(printed)) == program_hash(program)
    # the noise (comments, blank lines, trailing commas) means nothing
    assert parse(render(spec)) == program


@settings(max_examples=100, deadline=None)
@given(spec=program_specs(), seed=st.integers(0, 2**16))
def test_rebinding_names_prints_a_fixed_point_with_the_same_hash(spec: ProgramSpec, seed: int) -> None:
    rnd = random.Random(seed)
    names = {g.name: rebinding_names(g, rnd) for g in spec.graphs()}
    program = parse(render(spec, Rendering(names=names)))
    assert_round_trip(program)
    assert program_hash(program) == program_hash(parse(render(spec)))
    analyze(program)


def test_rebinding_names_really_rebind() -> None:
    """The helper above must produce rebinding, or the test proves nothing."""
    g = GraphSpec("model", "m", [("x", ": [1, 4, 4]")], [], [
        Stmt("v0", Call("relu", (Ref("x"),))),
        Stmt("v1", Call("relu", (Ref("v0"),))),
        Stmt("v2", Call("relu", (Ref("v1"),))),
    ], Ref("v2"))
    renamings = [rebinding_names(g, random.Random(seed)) for seed in range(10)]
    assert any(len(set(names.values())) < len(names) for names in renamings)


# -- the front end never crashes ------------------------------------------------------------

#: Includes line breaks other than "\n" ("\r", "\x0b", "\x0c"), which the lexer
#: does not count as lines, and so neither must error locations.
PRINTABLE = string.printable

TOKENS = (
    "(", ")", "{", "}", "[", "]", ",", "=", ":", "+", "-", "*", "//", "#", "return", "block",
    "model", "int", "tensor", "true", "false", "x", "c", "h", "relu", "conv2d", "add",
    "concat", "mean", "dense", "maxpool", "0", "1", "-1", "3", "1e-06", ".5", '"tanh"', "k",
    "s", "p", "99999", "\n", " ",
)


def assert_located(err: AlphanasError, text: str) -> None:
    """The error renders as ``fuzz.arch:LINE:COL: ...`` inside the text."""
    rendered = err.render()
    assert err.loc is not None, rendered
    match = re.match(r"fuzz\.arch:(\d+):(\d+): ", rendered)
    assert match, rendered
    line, column = int(match[1]), int(match[2])
    lines = text.split("\n")
    assert 1 <= line <= len(lines), rendered
    assert 1 <= column <= len(lines[line - 1]) + 1, rendered


def front_end_contract(text: str) -> None:
    """parse returns a Program or raises AlphanasError, never anything else;
    what parses analyses or raises AlphanasError, and round-trips."""
    try:
        program = parse(text, "fuzz.arch")
    except AlphanasError as err:
        assert_located(err, text)
        return
    assert isinstance(program, Program)
    assert_round_trip(program)
    try:
        analyze(program)
    except AlphanasError as err:
        assert_located(err, text)


@settings(max_examples=1000, deadline=None)
@given(text=st.text(alphabet=PRINTABLE, max_size=200))
def test_random_printable_text_never_crashes(text: str) -> None:
    front_end_contract(text)


@settings(max_examples=300, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=["Cs"]), max_size=100))
def test_random_unicode_text_never_crashes(text: str) -> None:
    front_end_contract(text)


@settings(max_examples=1000, deadline=None)
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=60))
def test_token_soup_never_crashes(tokens: list[str]) -> None:
    front_end_contract(" ".join(tokens))


#: every op name, so that a substituted name often reaches lowering and analysis
OP_NAMES = tuple(sorted(ops.all_ops()))


def _mutate(text: str, rnd: random.Random) -> str:
    kinds = ["delete", "insert", "swap", "token", "truncate", "duplicate_line", "name", "number"]
    kind = rnd.choice(kinds)
    if not text:
        return rnd.choice(TOKENS)
    if kind in ("name", "number"):
        # like for like: the text stays well-formed more often than not
        pattern = r"[A-Za-z_]\w*" if kind == "name" else r"(?<![\w.])\d+(?![\w.])"
        spans = [m.span() for m in re.finditer(pattern, text)]
        if spans:
            start, end = rnd.choice(spans)
            if kind == "name":
                new = rnd.choice([*OP_NAMES, *re.findall(r"[A-Za-z_]\w*", text)])
            else:
                new = str(rnd.choice([0, 1, 2, 3, 5, 8, 16, 1000]))
            return text[:start] + new + text[end:]
    i = rnd.randrange(len(text))
    if kind == "delete":
        return text[:i] + text[i + rnd.randint(1, 3):]
    if kind == "insert":
        return text[:i] + rnd.choice([*TOKENS, rnd.choice(PRINTABLE)]) + text[i:]
    if kind == "swap":
        j = min(len(text) - 1, i + 1)
        chars = list(text)
        chars[i], chars[j] = chars[j], chars[i]
        return "".join(chars)
    if kind == "token":
        spans = [m.span() for m in re.finditer(r"[A-Za-z_]\w*|\d+(?:\.\d*)?(?:e[+-]?\d+)?|//|\S", text)]
        start, end = rnd.choice(spans)
        return text[:start] + rnd.choice([*TOKENS, ""]) + text[end:]
    if kind == "duplicate_line":
        lines = text.split("\n")
        k = rnd.randrange(len(lines))
        return "\n".join([*lines[: k + 1], lines[k], *lines[k + 1:]])
    return text[:i]


@settings(max_examples=500, deadline=None)
@given(spec=program_specs(), seed=st.integers(0, 2**32), n=st.integers(1, 4))
def test_mutated_valid_programs_never_crash(spec: ProgramSpec, seed: int, n: int) -> None:
    rnd = random.Random(seed)
    text = render(spec, Rendering(noise=rnd))
    for _ in range(n):
        text = _mutate(text, rnd)
    front_end_contract(text)


@settings(max_examples=150, deadline=None)
@given(spec=program_specs(), seed=st.integers(0, 2**32))
def test_mutated_sizes_give_a_program_or_a_shape_error(spec: ProgramSpec, seed: int) -> None:
    """Replace one integer by another (possibly 0 or negative): the program
    still parses, and analysis succeeds or explains the shape problem."""
    rnd = random.Random(seed)
    text = render(spec)
    numbers = [m.span() for m in re.finditer(r"(?<![\w.])\d+(?![\w.])", text)]
    start, end = rnd.choice(numbers)
    text = text[:start] + rnd.choice(["0", "1", "2", "7", "64", "(0 - 3)"]) + text[end:]
    front_end_contract(text)


# Well-formed programs that call random ops with arguments of mostly the
# right kinds and odd values: they reach every op's shape rule with inputs it
# may reject, which it must do with an AlphanasError.

NAMES = ("x", "y", "h", "c", "s")


def _op_value(draw: st.DrawFn, kind: str, ints: list[str]) -> str:
    small = st.integers(-3, 9)
    if draw(st.integers(0, 9)) == 0:  # sometimes the wrong kind altogether
        kind = draw(st.sampled_from(["int", "float", "bool", "ints", "str", "ref"]))
    if kind == "int":
        n = str(draw(small))
        return draw(st.sampled_from([n, *ints, f"{n} * 2", f"({n} + 1) // 2", f"{n} - -1"])) if ints else n
    if kind == "float":
        return draw(st.sampled_from(["0.0", "0.5", "1e-06", "-0.1", "1.0", "2", "1e+30"]))
    if kind == "bool":
        return draw(st.sampled_from(["true", "false"]))
    if kind == "ints":
        return "[" + ", ".join(str(draw(small)) for _ in range(draw(st.integers(0, 4)))) + "]"
    if kind == "str":
        return draw(st.sampled_from(['"none"', '"tanh"', '"zeros"', '"row"', '"batch"', '""', '"normal"']))
    return draw(st.sampled_from(NAMES))


def _op_call(
    draw: st.DrawFn, blocks: list[tuple[str, int, list[str]]], ints: list[str], defined: list[str], depth: int = 0
) -> str:
    use_block = blocks and draw(st.integers(0, 3)) == 0
    if use_block:
        name, arity, params = draw(st.sampled_from(blocks))
        kinds = [(p, "int", True) for p in params]
    else:
        name = draw(st.sampled_from(OP_NAMES))
        op = ops.lookup(name)
        assert op is not None
        arity = op.arity if op.arity is not None else draw(st.integers(2, 3))
        kinds = [(p.name, p.kind, p.required) for p in op.params]
    args = []
    for _ in range(arity):
        nested = depth < 2 and draw(st.integers(0, 4)) == 0
        args.append(_op_call(draw, blocks, ints, defined, depth + 1) if nested else draw(st.sampled_from(defined)))
    keyword = False
    for pname, kind, required in kinds:
        if not required and draw(st.booleans()):
            keyword = True
            continue
        value = _op_value(draw, kind, ints)
        keyword = keyword or draw(st.booleans())
        args.append(f"{pname}={value}" if keyword else value)
    return f"{name}({', '.join(args)})"


@st.composite
def op_soup_programs(draw: st.DrawFn) -> str:
    blocks: list[tuple[str, int, list[str]]] = []
    parts = []
    for k in range(draw(st.integers(0, 2))):
        inputs = ["x", "y"][: draw(st.integers(1, 2))]
        params = ["c", "s"][: draw(st.integers(0, 2))]
        header = inputs + [f"{p}: int" + (" = 2" if p == "s" else "") for p in params]
        body = []
        for _ in range(draw(st.integers(0, 3))):
            body.append(f"  h = {_op_call(draw, blocks, params, [*inputs, *(['h'] if body else [])])}")
        parts.append(f"block b{k}({', '.join(header)}) {{\n" + "\n".join([*body, "  return h" if body else "  return x"]) + "\n}")
        blocks.append((f"b{k}", len(inputs), params))
    rank = draw(st.integers(1, 4))
    shape = ", ".join(str(draw(st.integers(1, 12))) for _ in range(rank))
    body, defined = [], ["x"]
    for _ in range(draw(st.integers(1, 4))):
        target = draw(st.sampled_from(NAMES))
        body.append(f"  {target} = {_op_call(draw, blocks, ['w'], defined)}")
        defined = sorted({*defined, target})
    result = draw(st.sampled_from([*defined, _op_call(draw, blocks, ["w"], defined)]))
    parts.append(f"model m(x: [{shape}], w: int = {draw(st.integers(0, 8))}) {{\n" + "\n".join(body) + f"\n  return {result}\n}}")
    return "\n".join(parts) + "\n"


@settings(max_examples=600, deadline=None)
@given(text=op_soup_programs())
def test_random_op_calls_never_crash(text: str) -> None:
    front_end_contract(text)


# -- crashes found by the fuzzers, reduced to minimal inputs -----------------------------

MODEL = "model m(x: [3, 8, 8]) {{\n  return {}\n}}\n"


def located_error(text: str) -> AlphanasError:
    """The error the front end raises for ``text``, checked to be located."""
    front_end_contract(text)
    with pytest.raises(AlphanasError) as caught:
        analyze(parse(text, "fuzz.arch"))
    return caught.value


def test_huge_integer_literal_is_a_located_error() -> None:
    # was: ValueError (int() of more than 4300 digits) wrapped in lark's VisitError
    err = located_error(MODEL.format("conv2d(x, " + "9" * 5000 + ")"))
    assert (err.loc.line, err.loc.column) == (2, 20)  # type: ignore[union-attr]
    assert "too large" in err.message


def test_non_finite_float_literal_is_a_located_error() -> None:
    # was: parsed as inf, printed as `inf`, which does not parse back
    err = located_error(MODEL.format("batchnorm(x, eps=1e999)"))
    assert (err.loc.line, err.loc.column) == (2, 27)  # type: ignore[union-attr]
    assert "too large" in err.message


def test_division_by_zero_int_parameter_in_model_is_a_shape_error() -> None:
    # was: ZeroDivisionError from ir.evaluate during analysis
    err = located_error("model m(x: [3, 8, 8], a: int = 0) {\n  return conv2d(x, 4 // a)\n}\n")
    assert isinstance(err, ShapeError) and "zero" in err.message


def test_division_by_zero_in_block_arithmetic_is_a_shape_error_naming_the_call() -> None:
    err = located_error(
        "block b(x, c: int) {\n  return conv2d(x, 4 // (c - c))\n}\n"
        "model m(x: [3, 8, 8]) {\n  return b(x, 2)\n}\n"
    )
    assert isinstance(err, ShapeError) and "zero" in err.message
    assert err.loc.line == 2 and "fuzz.arch:5:10" in (err.hint or "")  # type: ignore[union-attr]


def test_deeply_nested_calls_are_a_located_error() -> None:
    # was: RecursionError in the recursive Lark Transformer and in lowering
    err = located_error(MODEL.format("relu(" * 300 + "x" + ")" * 300))
    assert isinstance(err, ParseError) and "nested" in err.message


def test_long_integer_sum_is_a_located_error() -> None:
    # `1 + 1 + ...` is a left-deep tree: RecursionError before
    err = located_error(MODEL.format("conv2d(x, " + " + ".join(["1"] * 1000) + ")"))
    assert isinstance(err, ParseError) and "nested" in err.message


def test_moderately_nested_calls_and_sums_parse() -> None:
    """The depth real programs use (and more) works."""
    assert parse(MODEL.format("relu(" * 50 + "x" + ")" * 50)).model.nodes[-1].op == "relu"
    assert parse(MODEL.format("conv2d(x, " + " + ".join(["1"] * 50) + ")")).model.nodes[-1].attr("out") == 50


def test_end_of_file_location_with_carriage_returns_is_inside_the_text() -> None:
    text = "model m(x: [3, 8, 8]) {\r\r\r"
    with pytest.raises(ParseError) as caught:
        parse(text, "fuzz.arch")
    assert_located(caught.value, text)
