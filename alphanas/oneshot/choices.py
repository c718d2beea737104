"""Where a space grammar chooses: its body as fixed text and choice points.

One-shot search needs a space whose sentences share one skeleton: the same
text everywhere except at a few places where one of several expressions is
written (NAS-Bench-201's cell: six edges, five ops each). This module reads
that skeleton off the grammar:

- a rule with a single expansion is fixed text, inlined;
- a rule with several expansions is a **choice point**; its alternatives
  are all the sentences the rule derives (nested choices inside it are
  multiplied out), in the grammar's order, each of which must be one
  expression of the language (so that it can be mixed with the others).

What one-shot search cannot mix is refused with the location of the rule
(:class:`OneShotError`): a recursive rule (the skeleton would be unbounded),
a size slot (a slot's values change shapes; the supernet mixes fixed
alternatives), a choice whose alternatives are statements rather than
expressions, too many alternatives. Shapes are checked later, per instance
of the graph, by the engine's analysis (:mod:`alphanas.oneshot.supernet`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from itertools import product

from alphanas.lang.ir import Graph, Loc, Program
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program
from alphanas.variation.space import ProgramSpace
from synth.grammar import SpaceError

__all__ = ["Choice", "OneShotError", "Skeleton", "derive_program", "picks_of", "read_skeleton", "rule_loc"]

#: alternatives one choice point may have (beyond it, mixing them all is no longer one-shot)
MOST_ALTERNATIVES = 64

_NAME = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)(?![\w(])(?!\s*=(?!=))")
_WORDS = {"true", "false", "return"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\s*=(?!=)")


class OneShotError(SpaceError):
    """A space grammar (or a part of it) one-shot search cannot use."""

    kind = "one-shot error"


@dataclass(frozen=True)
class Choice:
    """One choice point: the rule that chooses, where it is defined, and its
    alternatives (expressions, in the grammar's order)."""

    rule: str
    alternatives: tuple[str, ...]
    loc: Loc


@dataclass(frozen=True)
class Skeleton:
    """A space's body as parts: fixed text (``str``) and choice points
    (:class:`Choice`, one per place in the text where a choice is made)."""

    parts: tuple[str | Choice, ...]

    @property
    def choices(self) -> tuple[Choice, ...]:
        return tuple(p for p in self.parts if isinstance(p, Choice))

    def sentence(self, picks: tuple[int, ...]) -> str:
        """The body with alternative ``picks[k]`` at choice point ``k``."""
        if len(picks) != len(self.choices):
            raise ValueError(f"{len(picks)} picks for {len(self.choices)} choice points")
        out, k = [], 0
        for part in self.parts:
            if isinstance(part, Choice):
                out.append(part.alternatives[picks[k]])
                k += 1
            else:
                out.append(part)
        return "".join(out)

    @property
    def size(self) -> int:
        """How many sentences the skeleton writes."""
        total = 1
        for choice in self.choices:
            total *= len(choice.alternatives)
        return total


def rule_loc(space: ProgramSpace, rule: str) -> Loc:
    """Where ``rule`` is defined in the space's grammar (line 1 if not found)."""
    head = re.compile(rf"^\s*[?!]?{re.escape(rule)}\s*(\{{[^}}]*\}})?\s*(\.-?\d+)?\s*:")
    for number, line in enumerate(space.grammar.text.split("\n"), start=1):
        if head.match(line):
            return Loc(space.file, number, line.index(rule) + 1, number, line.index(rule) + 1 + len(rule))
    return Loc(space.file, 1, 1)


def read_skeleton(space: ProgramSpace) -> Skeleton:
    """The skeleton of the space's rule; an :class:`OneShotError` at the
    rule that makes one-shot search impossible."""
    grammar = space.grammar
    reader = _Reader(space)
    if len(grammar.rules[space.rule]) != 1:
        raise reader.error(space.rule, f"rule {space.rule!r}, the whole body, is itself a choice",
                           "one-shot search mixes expressions inside a fixed body: write the body as one "
                           "sequence and put the choices in rules of their own")
    parts = reader.fixed(space.rule, ())
    merged: list[str | Choice] = []
    for part in parts:
        if isinstance(part, str) and merged and isinstance(merged[-1], str):
            merged[-1] += part
        else:
            merged.append(part)
    skeleton = Skeleton(tuple(merged))
    if not skeleton.choices:
        raise OneShotError(f"rule {space.rule!r} makes no choice: its space holds one program",
                           rule_loc(space, space.rule), text=grammar.text,
                           hint="a one-shot search needs a rule with two or more alternatives")
    return skeleton


class _Reader:
    """Walks the grammar from the space's rule (a helper of :func:`read_skeleton`)."""

    def __init__(self, space: ProgramSpace) -> None:
        self.space = space
        self.grammar = space.grammar

    def error(self, rule: str, message: str, hint: str) -> OneShotError:
        return OneShotError(f"{message}: not supported for one-shot search", rule_loc(self.space, rule),
                            text=self.grammar.text, hint=hint)

    def fixed(self, rule: str, path: tuple[str, ...]) -> list[str | Choice]:
        """The parts a single-expansion rule writes."""
        self._check_not_recursive(rule, path)
        parts: list[str | Choice] = []
        for symbol in self.grammar.rules[rule][0]:
            if symbol.is_term:
                parts.append(self._literal(symbol.name, rule))
            elif len(self.grammar.rules[symbol.name]) == 1:
                parts.extend(self.fixed(symbol.name, (*path, rule)))
            else:
                parts.append(self.choice(symbol.name, (*path, rule)))
        return parts

    def choice(self, rule: str, path: tuple[str, ...]) -> Choice:
        alternatives = tuple(dict.fromkeys(self.sentences(rule, path)))
        if len(alternatives) > MOST_ALTERNATIVES:
            raise self.error(rule, f"rule {rule!r} has {len(alternatives)} alternatives",
                             f"a choice point may have at most {MOST_ALTERNATIVES}")
        for alternative in alternatives:
            if not _is_expression(alternative):
                raise self.error(rule, f"an alternative of rule {rule!r}, {alternative.strip()!r}, is not an "
                                 "expression", "a mixed operation mixes expressions; put the choice inside "
                                 "the statement (h = relu(CHOICE)) rather than between statements")
        return Choice(rule, alternatives, rule_loc(self.space, rule))

    def sentences(self, rule: str, path: tuple[str, ...]) -> list[str]:
        """Every sentence of ``rule``, expansions in the grammar's order."""
        self._check_not_recursive(rule, path)
        out: list[str] = []
        for expansion in self.grammar.rules[rule]:
            pieces: list[list[str]] = []
            for symbol in expansion:
                if symbol.is_term:
                    pieces.append([self._literal(symbol.name, rule)])
                else:
                    pieces.append(self.sentences(symbol.name, (*path, rule)))
            out.extend("".join(p) for p in product(*pieces))
            if len(out) > MOST_ALTERNATIVES:
                break
        return out

    def _literal(self, terminal: str, rule: str) -> str:
        if terminal in self.grammar.domains:
            raise self.error(rule, f"rule {rule!r} writes the size slot {terminal}",
                             "a supernet mixes fixed alternatives; write the sizes out as alternatives of a "
                             'rule (k3: "k=3, p=1" | ...) that keep the output shape, instead of the slot')
        return self.grammar.literals.get(terminal, "")

    def _check_not_recursive(self, rule: str, path: tuple[str, ...]) -> None:
        if rule in path or self._reaches_itself(rule):
            raise self.error(rule, f"rule {rule!r} is recursive", "a supernet holds every alternative at "
                             "once, so its sentences must be finitely many: unroll the recursion (x ~ 0..3)")

    def _reaches_itself(self, rule: str) -> bool:
        """Whether a derivation of ``rule`` can contain ``rule`` again."""
        stack, seen = [rule], set()
        while stack:
            for expansion in self.grammar.rules[stack.pop()]:
                for symbol in expansion:
                    if symbol.is_term:
                        continue
                    if symbol.name == rule:
                        return True
                    if symbol.name not in seen:
                        seen.add(symbol.name)
                        stack.append(symbol.name)
        return False


def _is_expression(text: str) -> bool:
    """Whether ``text`` reads as one expression rather than statements: one
    line, no assignment, no return. (That it parses and shape-checks is
    checked when the supernet is built, where its names are known.)"""
    body = text.strip()
    return bool(body) and "\n" not in body and not _ASSIGNMENT.match(body) and not body.startswith("return")


def free_names(text: str) -> set[str]:
    """The names an expression reads (not ops, not keyword arguments, not literals)."""
    found = set()
    for m in _NAME.finditer(text):
        name = m.group(1)
        if name not in _WORDS and not name[0].isdigit():
            found.add(name)
    return found



def derive_program(space: ProgramSpace, skeleton: Skeleton, template: str, picks: tuple[int, ...]) -> Program:
    """The program whose graph body is the skeleton's sentence for ``picks``
    and whose rest is the program ``template`` (canonical text) of the
    space; parsed, printed canonically and checked to be in the space."""
    header = re.search(r"(?m)^\s*(block|model)\s+", template)
    graph = space.graph_of(parse(template, "<template>")) if header is None else _graph_named(space, template)
    start, end = ProgramSpace.body_span(template, graph)
    lines = [line.strip() for line in skeleton.sentence(picks).split("\n") if line.strip()]
    text = template[:start] + "\n" + "".join(f"  {line}\n" for line in lines) + template[end:]
    program = parse(text, "<derived>")
    canonical = print_program(program)
    if canonical != text:  # the grammar writes its sentences otherwise than the printer: read the canonical text
        program = parse(canonical, "<derived>")
    space.derive(program)  # a SpaceError if the skeleton wrote something the grammar does not derive
    return program


def _graph_named(space: ProgramSpace, template: str) -> Graph:
    """The space's graph as the template's header names it (kind and name
    are all :meth:`ProgramSpace.body_span` reads), without parsing it all."""
    if space.graph is not None:
        kind = "block" if re.search(rf"(?m)^\s*block\s+{re.escape(space.graph)}\s*\(", template) else "model"
        return Graph(kind, space.graph, (), (), (), "")
    model = re.search(r"(?m)^\s*model\s+([A-Za-z_][A-Za-z0-9_]*)\s*\(", template)
    if model is None:
        raise ValueError("the template has no model")
    return Graph("model", model.group(1), (), (), (), "")


def picks_of(skeleton: Skeleton, text: str, graph: Graph) -> tuple[int, ...]:
    """The picks whose sentence is the body of ``graph`` in the program
    ``text`` (canonical); a ValueError if the skeleton does not write it."""
    start, end = ProgramSpace.body_span(text, graph)
    target = re.sub(r"\s+", "", text[start:end])
    picks: list[int] = []
    at = 0
    for part in skeleton.parts:
        if isinstance(part, str):
            squeezed = re.sub(r"\s+", "", part)
            if not target.startswith(squeezed, at):
                raise ValueError("the program is not written by the space's skeleton")
            at += len(squeezed)
            continue
        squeezed_alternatives = [re.sub(r"\s+", "", alt) for alt in part.alternatives]
        matches = [j for j, alt in enumerate(squeezed_alternatives) if target.startswith(alt, at)]
        if not matches:
            raise ValueError(f"no alternative of rule {part.rule!r} is written where the program has "
                             f"{target[at:at + 40]!r}")
        j = max(matches, key=lambda m: len(squeezed_alternatives[m]))
        picks.append(j)
        at += len(squeezed_alternatives[j])
    if at != len(target):
        raise ValueError("the program's body goes on after the skeleton ends")
    return tuple(picks)
