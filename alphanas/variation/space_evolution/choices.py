"""The choices of a space grammar, the choices a derivation makes, and the
grammar written again with some of them left out or added.

A *choice* is what a derivation of the space picks at one place:

- an **alternative** of a rule (``edge_x: "zero(x)" | "identity(x)" | ...``
  has five), for a rule whose name does not start with ``_`` or ``?``
  (Lark inlines those, so a derivation does not show which alternative it
  took), has no template parameters and no alias of its own;
- a **value** of an integer slot (``CH: "8" | "16" | "32"`` has three).

Each is identified by its owner (the rule or terminal) and its text as the
grammar writes it, so that a choice keeps its identity when other choices
are dropped around it.

Which choices a program's derivation makes is read from a parse of its
body by the grammar with each alternative given an alias of its own
(``-> edge_x__choice_2``): Lark then names the alternative it took in the
tree. The grammar is otherwise the space's own (blanks ignored, as
:class:`~alphanas.variation.space.ProgramSpace` matches).

:meth:`GrammarChoices.write` writes the grammar with, per owner, only the
alternatives given (in the original order, then any added ones); every
other line of the file (comments, directives, rules without choices) is
kept as it was.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import lark

from alphanas import ops
from alphanas.lang.ir import Program
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program
from alphanas.variation.space import ProgramSpace, squeezed_grammar
from synth.grammar import SpaceError, split_comment

__all__ = ["Choice", "Definition", "GrammarChoices", "parse_definitions"]

Kind = Literal["alternative", "value"]

#: the head of a rule or terminal definition: a prefix (?, !), the name, template parameters, a priority, the colon
_HEAD = re.compile(r"^(\s*)([?!]?)([A-Za-z_][A-Za-z0-9_]*)\s*(\{[^}]*\})?\s*(?:\.-?\d+)?\s*:")
_INTEGER_LITERAL = re.compile(r'^"(\d+)"$')
_CALL_IN_STRING = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)\(")
ALIAS = "{owner}__choice_{k}"


@dataclass(frozen=True, order=True)
class Choice:
    """One choice of the grammar: an alternative of rule ``owner``, or a
    value of slot terminal ``owner``; ``text`` as the grammar writes it."""

    kind: Kind
    owner: str
    text: str

    @property
    def key(self) -> str:
        """How tables and headers name it: ``edge_x: "zero(x)"`` or ``CH = 16``."""
        if self.kind == "value":
            return f"{self.owner} = {self.text.strip(chr(34))}"
        return f"{self.owner}: {self.text}"


@dataclass(frozen=True)
class Definition:
    """A rule or terminal definition of the grammar text: lines
    ``first``..``last`` (0-based, inclusive), its head (up to the colon) and
    its top-level alternatives as written. ``evolvable``: its alternatives
    are choices (see the module doc)."""

    name: str
    head: str
    alternatives: tuple[str, ...]
    first: int
    last: int
    terminal: bool
    evolvable: bool


def _split_alternatives(body: str) -> list[str] | None:
    """The top-level alternatives of a definition's body (its text after the
    colon, comments removed), or None when it holds an alias (``->``)."""
    parts: list[str] = []
    depth = 0
    current: list[str] = []
    k = 0
    while k < len(body):
        ch = body[k]
        if ch in "\"/":  # a string or a regular expression: copied whole
            end = k + 1
            while end < len(body) and body[end] != ch:
                end += 2 if body[end] == "\\" else 1
            current.append(body[k : end + 1])
            k = end + 1
            continue
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif ch == "-" and body.startswith("->", k) and depth == 0:
            return None
        if ch == "|" and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
        k += 1
    parts.append("".join(current).strip())
    return parts


@dataclass(frozen=True)
class _GraphHeader:
    """What :meth:`ProgramSpace.body_span` needs of a graph: its kind and name."""

    kind: str
    name: str


def _model_header(text: str) -> _GraphHeader:
    m = re.search(r"(?m)^\s*model\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", text)
    return _GraphHeader("model", m[1] if m else "?")


def parse_definitions(text: str) -> list[Definition]:
    """The definitions of a grammar text, in order (see :class:`Definition`)."""
    lines = text.split("\n")
    found: list[Definition] = []
    k = 0
    while k < len(lines):
        code = split_comment(lines[k])[0]
        head = _HEAD.match(code)
        if head is None or code.lstrip().startswith("%"):
            k += 1
            continue
        body = [code[head.end() :]]
        last = k
        j = k + 1
        # continuation lines start with "|"; blank and comment-only lines may stand between them
        while j < len(lines):
            more = split_comment(lines[j])[0].strip()
            if more.startswith("|"):
                body.append(more)
                last = j
            elif more:
                break
            j += 1
        name, prefix, params = head.group(3), head.group(2), head.group(4)
        alternatives = _split_alternatives(" ".join(body))
        terminal = name.isupper()
        if terminal:
            evolvable = alternatives is not None and len(alternatives) > 1 and all(
                _INTEGER_LITERAL.match(a) for a in alternatives)
        else:
            evolvable = (alternatives is not None and len(alternatives) > 1 and not name.startswith("_")
                         and not prefix and not params)
        found.append(Definition(name, code[: head.end()], tuple(alternatives or ()), k, last, terminal, evolvable))
        k = last + 1
    return found


class GrammarChoices:
    """The choices of the space grammar ``text`` (rule ``rule``, the body
    of ``graph``), and the choices each program's derivation makes."""

    def __init__(self, text: str, rule: str, file: str = "<grammar>", graph: str | None = None) -> None:
        self.text = text
        self.rule = rule
        self.file = file
        self.graph = graph
        self.space = ProgramSpace(text, rule, file, graph)  # checks that the grammar loads
        self.definitions = {d.name: d for d in parse_definitions(text)}
        #: owner -> its choices, in the grammar's order
        self.groups: dict[str, tuple[Choice, ...]] = {
            d.name: tuple(Choice("value" if d.terminal else "alternative", d.name, a) for a in d.alternatives)
            for d in self.definitions.values() if d.evolvable and d.name in self._used_names()}
        self._matcher = lark.Lark(squeezed_grammar(self._aliased()), start=rule, parser="earley",
                                  keep_all_tokens=True)
        self._by_alias = {ALIAS.format(owner=o, k=k): c for o, cs in self.groups.items() if cs[0].kind == "alternative"
                          for k, c in enumerate(cs)}
        self._values = {(o, c.text.strip('"')): c for o, cs in self.groups.items() if cs[0].kind == "value"
                        for c in cs}
        self._derived: dict[str, Counter[Choice]] = {}

    def _used_names(self) -> set[str]:
        """The rules and terminals the grammar's rules use (Lark's own view)."""
        return set(self.space.grammar.rules) | set(self.space.grammar.domains)

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(c for cs in self.groups.values() for c in cs)

    def _aliased(self) -> str:
        """The grammar with an alias on each alternative of each rule that
        has choices, so that a parse tree names the alternative it took."""
        lines = self.text.split("\n")
        for d in sorted(self.definitions.values(), key=lambda d: -d.first):
            if d.terminal or d.name not in self.groups:
                continue
            alts = [f"{a} -> {ALIAS.format(owner=d.name, k=k)}" for k, a in enumerate(d.alternatives)]
            lines[d.first : d.last + 1] = [d.head + " " + " | ".join(alts)]
        return "\n".join(lines)

    # -- what a derivation chooses ------------------------------------------------------------------
    def choices_of(self, program: Program | str) -> Counter[Choice]:
        """How many times the derivation of ``program``'s body (a program or
        its canonical text) makes each choice; a :class:`SpaceError` when the
        grammar does not derive it. Memoised by the text."""
        text = program if isinstance(program, str) else print_program(program)
        if text not in self._derived:
            self._derived[text] = self._choices_of_text(text)
        return self._derived[text]

    def _choices_of_text(self, text: str) -> Counter[Choice]:
        # the texts a run stores are canonical: the body is found by its
        # header without parsing the program (the space's own check parses)
        graph = _GraphHeader("block", self.graph) if self.graph is not None else _model_header(text)
        try:
            start, end = ProgramSpace.body_span(text, graph)  # type: ignore[arg-type]
        except (SpaceError, ValueError):
            graph = self.space.graph_of(parse(text, "<space program>"))
            start, end = ProgramSpace.body_span(text, graph)
        squeezed = "".join(ch for ch in text[start:end] if not ch.isspace())
        try:
            tree = self._matcher.parse(squeezed, start=self.rule)
        except lark.exceptions.LarkError:
            raise SpaceError(f"the body of {graph.kind} {graph.name} is not a sentence of {self.space.name}") from None
        made: Counter[Choice] = Counter()
        for sub in tree.iter_subtrees():
            choice = self._by_alias.get(str(sub.data))
            if choice is not None:
                made[choice] += 1
            for child in sub.children:
                if isinstance(child, lark.Token) and (value := self._values.get((child.type, str(child)))):
                    made[value] += 1
        return made

    # -- the grammar written again ------------------------------------------------------------------
    def write(self, kept: Mapping[str, Sequence[str]], added: Mapping[str, Sequence[str]] | None = None,
              header: Iterable[str] = ()) -> str:
        """The grammar with owner ``o``'s alternatives reduced to ``kept[o]``
        (owners not named keep all of theirs) and ``added[o]`` appended;
        ``header`` lines come first, as ``//`` comments."""
        added = added or {}
        lines = self.text.split("\n")
        for d in sorted(self.definitions.values(), key=lambda d: -d.first):
            if d.name not in kept and d.name not in added:
                continue
            keep = [a for a in d.alternatives if a in set(kept.get(d.name, d.alternatives))]
            alternatives = keep + [a for a in added.get(d.name, ()) if a not in keep]
            if not alternatives:
                raise ValueError(f"{d.name} would have no alternative left")
            if alternatives == list(d.alternatives):
                continue
            comments = [line for line in lines[d.first : d.last + 1] if not split_comment(line)[0].strip()]
            indent = " " * (len(d.head) - 1)
            written = [f"{d.head} {alternatives[0]}"] + [f"{indent}| {a}" for a in alternatives[1:]]
            lines[d.first : d.last + 1] = comments + written
        top = [f"// {line}" if line else "//" for line in header]
        return "\n".join(top + lines)

    # -- new alternatives: ops the grammar lacks --------------------------------------------------------
    def substitutions(self, op_names: Sequence[str]) -> dict[str, tuple[str, ...]]:
        """New alternatives for ops the grammar does not call: each
        alternative of a rule with choices that calls an op ``f`` is written
        again with ``g`` in its place, for each ``g`` of ``op_names`` with
        ``f``'s arity that takes ``f``'s arguments (``avgpool`` ->
        ``maxpool``, ``relu`` -> ``gelu``; see :func:`_stands_in`). Owner ->
        its new alternatives."""
        called = {m[1] for d in self.definitions.values() for a in d.alternatives
                  for m in _CALL_IN_STRING.finditer(a)}
        new: dict[str, list[str]] = {}
        for g in op_names:
            op_g = ops.lookup(g)
            if op_g is None or g in called:
                continue
            for owner, choices in self.groups.items():
                if choices[0].kind != "alternative":
                    continue
                for c in choices:
                    for m in _CALL_IN_STRING.finditer(c.text):
                        op_f = ops.lookup(m[1])
                        if op_f is None or not _stands_in(op_g, op_f):
                            continue
                        text = c.text[: m.start(1)] + g + c.text[m.end(1) :]
                        if text not in new.setdefault(owner, []) and text not in self.definitions[owner].alternatives:
                            new[owner].append(text)
        return {owner: tuple(texts) for owner, texts in new.items() if texts}


def _stands_in(g: ops.spec.Op, f: ops.spec.Op) -> bool:
    """Whether a call of ``f`` can be written as a call of ``g``: the same
    arity, every parameter of ``f`` is one of ``g``'s and every parameter
    ``g`` requires is one of ``f``'s. Structural ops (``identity``,
    ``zero``: depth kind neutral) stand for no computation and are not
    replaced."""
    f_params = {p.name for p in f.params}
    required = {p.name for p in g.params if p.default is ops.spec.REQUIRED}
    return (f.depth_kind != "neutral" and f.arity == g.arity and f_params <= {p.name for p in g.params}
            and required <= f_params)
