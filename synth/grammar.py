"""Search spaces written as grammars: structures are derivations of a rule.

A space is a Lark grammar whose sentences, from a chosen rule, are
expressions of the architecture language over the region's inputs, written
``x0``, ``x1``, ...::

    region: conv | "relu(" region ")" | "add(" region ", x0)"
    conv: "batchnorm(conv2d(" input ", " CH ", k=" K ", p=" P ", bias=false))"
    input: "x0" | region
    CH: "16" | "32" | "64" | "128"
    K: "1" | "3"
    P: "0" | "1"

**Size slots.** A terminal defined as a choice of integer literals (``CH``
above) is a *slot*: each occurrence becomes a Z3 variable whose domain is
those literals. A terminal defined by a regular expression can be a slot
with a range, declared in a comment:
``// domain CH: 16..512 step 16``. Any other regular-expression terminal is
an error: the enumerator could not write it.

**Enumeration.** Sentences are derived breadth-first, leftmost rule first,
smallest (fewest expansions) first, alternatives in a seeded order; each
sentence is parsed as the body of a block whose int parameters are the
slots (:class:`~synth.structure.Template`), so sizes, budgets and
verification work exactly as for the core language. Every synthesized
sentence, with its sizes written in, is parsed again by the space's own
grammar (:meth:`GrammarSpace.accepts`) before it is returned.
"""

from __future__ import annotations

import copy
import difflib
import heapq
import random
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import lark

from alphanas import ops
from alphanas.lang.errors import AlphanasError, ParseError
from alphanas.lang.files import read_text
from alphanas.lang.ir import Loc, symbols
from alphanas.lang.limits import LARGEST_INT
from alphanas.lang.parse import parse
from synth.domains import Domain
from synth.problem import Problem
from synth.structure import Slot, Template
from synth.work import Work

__all__ = ["GrammarSpace", "SpaceError", "defined_rules", "grammar_load_error", "split_comment"]

_CHOICE = re.compile(r"^\(\?:(\d+(?:\|\d+)*)\)$")
_DOMAIN = re.compile(r"//\s*domain\s+([A-Z_][A-Z0-9_]*)\s*:\s*(\d+)\s*\.\.\s*(\d+)(?:\s+step\s+(\d+))?")
_HOLE = "\x00{}\x00"
_ASSIGNED = re.compile(r"(?:^|\n)\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
_RETURNS = re.compile(r"(?:^|\n|\})\s*return\b")

Order = Literal["smallest", "random"]


class SpaceError(AlphanasError):
    """A space grammar that cannot be used, with where and why."""

    kind = "space error"


def grammar_load_error(err: lark.exceptions.LarkError, what: str, file: str, text: str, hint: str) -> SpaceError:
    """``err``, raised by Lark on loading the grammar ``text``, as a located
    error. Lark gives the position of a syntax error in its message (or as
    attributes) and none for a rule used but not defined or defined twice;
    those are found in the text, at the first use or the second definition."""
    message = str(err).split("\n\n")[0].split("\n")[0].strip()
    line, column = getattr(err, "line", None), getattr(err, "column", None)
    if at := _LARK_POSITION.search(message):
        line, column = int(at[1]), int(at[2])
        message = (message[: at.start()] + message[at.end():]).rstrip(" .:")
    elif m := _UNDEFINED_RULE.search(message):
        line, column = _first_use(text, m[1])
        if m[1].isupper():  # Lark calls every symbol a rule: a name in capitals is a terminal
            message = message.replace(f"Rule '{m[1]}' used", f"terminal {m[1]} is used", 1)
    elif m := _DEFINED_TWICE.search(message):
        line, column = _second_definition(text, m[1])
    if not isinstance(line, int) or not isinstance(column, int) or line < 1:
        line, column = 1, 1
    return SpaceError(f"{what}: {message}", Loc(file, line, max(column, 1)), text=text, hint=hint)


_LARK_POSITION = re.compile(r",? at line (\d+),? column (\d+)(?: in [^:]*)?")
_UNDEFINED_RULE = re.compile(r"Rule '(\w+)' used but not defined")
_DEFINED_TWICE = re.compile(r"Rule '(\w+)' defined more than once")
#: the head of a rule's definition: name, template parameters, priority, colon
_RULE_HEAD = re.compile(r"^\s*[?!]?([a-z_][a-z0-9_]*)\s*(\{[^}]*\})?\s*(?:\.-?\d+)?\s*:", re.MULTILINE)


def split_comment(line: str) -> tuple[str, str]:
    """A grammar line split at its ``//`` comment (not one inside a string)."""
    quoted = False
    k = 0
    while k < len(line):
        ch = line[k]
        if ch == "\\" and quoted:
            k += 2
            continue
        if ch == '"':
            quoted = not quoted
        elif not quoted and line.startswith("//", k):
            return line[:k], line[k:]
        k += 1
    return line, ""


def _first_use(text: str, name: str) -> tuple[int, int]:
    """(line, column) where rule ``name`` is first used in a definition's
    body, outside strings and comments; (1, 1) if nowhere."""
    word = re.compile(rf"(?<![\w\"]){re.escape(name)}(?![\w\"])")
    for number, line in enumerate(text.split("\n"), start=1):
        code = split_comment(line)[0]
        head = _RULE_HEAD.match(code)
        body = head.end() if head else 0
        if m := word.search(code, body):
            return number, m.start() + 1
    return 1, 1


#: a call in a literal: a name and its opening parenthesis
_CALLED = re.compile(r"(?<![\w.])([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _first_call(text: str, name: str) -> tuple[int, int]:
    """(line, column) of the first call of ``name`` in a string of the
    grammar, outside comments; (1, 1) if none is found."""
    call = re.compile(rf"(?<![\w.]){re.escape(name)}\s*\(")
    for number, line in enumerate(text.split("\n"), start=1):
        code = split_comment(line)[0]
        for literal in re.finditer(r'"(?:[^"\\\n]|\\.)*"', code):
            if m := call.search(literal[0]):
                return number, literal.start() + m.start() + 1
    return 1, 1


def _deepest(text: str, most: int = 100) -> tuple[int, int]:
    """(line, column) where parentheses outside strings and comments first
    nest ``most`` deep; (1, 1) if they never do."""
    for number, line in enumerate(text.split("\n"), start=1):
        depth = 0
        code = re.sub(r'"(?:[^"\\\n]|\\.)*"', lambda m: " " * len(m[0]), split_comment(line)[0])
        for column, ch in enumerate(code, start=1):
            depth += {"(": 1, ")": -1}.get(ch, 0)
            if depth >= most:
                return number, column
    return 1, 1


def _second_definition(text: str, name: str) -> tuple[int, int]:
    """(line, column) of the second definition of rule ``name``; (1, 1) if none."""
    heads = [(number, head.start(1) + 1) for number, line in enumerate(text.split("\n"), start=1)
             if (head := _RULE_HEAD.match(split_comment(line)[0])) and head[1] == name]
    return heads[1] if len(heads) > 1 else (1, 1)


@dataclass(frozen=True)
class GrammarTemplate(Template):
    """A template from a grammar: the sentence it came from (holes marked)."""

    sentence: str = ""
    label: str = ""


class GrammarSpace:
    """A user's space: sentences of ``rule`` in the grammar at ``path`` (or
    in ``text``)."""

    def __init__(self, text: str, rule: str, file: str = "<grammar>", max_expansions: int = 40,
                 inputs: Sequence[str] | None = None, constants: Mapping[str, int] | None = None,
                 order: Order = "smallest") -> None:
        self.file = file
        self.rule = rule
        self.text = text
        self.max_expansions = max_expansions
        #: the names the sentences use for the region's tensor inputs (None: x0, x1, ...)
        self.inputs = tuple(inputs) if inputs is not None else None
        #: int names the sentences may use with a fixed value (a block's parameters)
        self.constants = dict(constants or {})
        #: "smallest": fewest expansions first; "random": random derivations
        self.order = order
        defined = defined_rules(text)
        if rule not in defined:
            import difflib

            close = difflib.get_close_matches(rule, defined, n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            rules = f"its rules are {', '.join(sorted(set(defined)))}" if defined else "it defines no rule at all"
            raise SpaceError(f"the grammar has no rule {rule!r}", Loc(file, 1, 1), text=text, hint=f"{guess}{rules}")
        try:
            # one parser serves every rule of the grammar (see :meth:`at`)
            self.parser = lark.Lark(text, start=sorted(set(defined)), parser="earley", keep_all_tokens=True)
        except lark.exceptions.LarkError as err:
            raise grammar_load_error(err, "the grammar does not load", file, text,
                                     "check the rule names and the Lark syntax") from err
        except RecursionError:
            raise SpaceError("the grammar is nested too deeply for Lark to load", Loc(file, *_deepest(text)),
                             text=text, hint="split the nested groups into rules of their own") from None
        self.name = f"{Path(file).name}:{rule}"
        #: after an enumeration: whether every sentence within the limits was listed
        self.complete = True
        self.domains = self._slot_domains()
        self._check_calls()
        self.rules: dict[str, list[tuple[Any, ...]]] = {}
        for r in self.parser.rules:
            self.rules.setdefault(r.origin.name, []).append(tuple(r.expansion))
        if rule not in self.rules:
            raise SpaceError(f"the grammar has no rule {rule!r}", Loc(file, 1, 1), text=text,
                             hint=f"its rules are {', '.join(sorted(n for n in self.rules if not n.startswith('_')))}")
        self._least = self._least_expansions()
        #: templates by sentence and names, shared by the views :meth:`at` makes
        self._templates: dict[tuple[Any, ...], GrammarTemplate | None] = {}

    def at(self, rule: str, inputs: Sequence[str] | None = None, constants: Mapping[str, int] | None = None,
           order: Order | None = None) -> GrammarSpace:
        """The same grammar seen from another rule, with the names its
        sentences use for inputs and fixed sizes (no new parser is built)."""
        if rule not in self.rules:
            raise SpaceError(f"the grammar has no rule {rule!r}", Loc(self.file, 1, 1), text=self.text)
        other = copy.copy(self)
        other.rule = rule
        other.name = f"{Path(self.file).name}:{rule}"
        other.inputs = tuple(inputs) if inputs is not None else self.inputs
        other.constants = dict(constants) if constants is not None else dict(self.constants)
        other.order = order or self.order
        return other

    @staticmethod
    def load(path: str | Path, rule: str) -> GrammarSpace:
        path = Path(path)
        if not path.exists():
            raise SpaceError(f"no such grammar file: {path}", hint="give the path of a .lark space grammar")
        return GrammarSpace(read_text(path, "space grammar", error=SpaceError), rule, str(path))

    # -- terminals -------------------------------------------------------------------------------
    def _line_of(self, name: str) -> int:
        for k, line in enumerate(self.text.split("\n"), 1):
            if re.match(rf"\s*{re.escape(name)}\s*[:.]", line):
                return k
        return 1

    def _slot_domains(self) -> dict[str, Domain]:
        declared = {m.group(1): Domain(low=int(m.group(2)), high=int(m.group(3)), step=int(m.group(4) or 1))
                    for m in _DOMAIN.finditer(self.text)}
        domains: dict[str, Domain] = {}
        self.literals: dict[str, str] = {}
        for t in self.parser.terminals:
            if t.name.startswith("__IGNORE"):
                continue
            pattern = t.pattern
            if isinstance(pattern, lark.lexer.PatternStr):
                self.literals[t.name] = pattern.value
                continue
            choice = _CHOICE.match(pattern.value)
            if choice:
                domains[t.name] = Domain.of(int(x) for x in choice.group(1).split("|"))
            elif t.name in declared:
                domains[t.name] = declared[t.name]
            if t.name in domains:
                domain = domains[t.name]
                largest = max(domain.values or ()) if domain.values else max(domain.low, domain.high, *domain.extra)
                if largest > LARGEST_INT:
                    raise SpaceError(f"terminal {t.name} holds {largest}, an integer too large for any op",
                                     Loc(self.file, self._line_of(t.name), 1), text=self.text,
                                     hint=f"the largest integer a program may write is {LARGEST_INT:,}")
            else:
                raise SpaceError(
                    f"terminal {t.name} is a regular expression ({pattern.value}) that the synthesizer cannot write",
                    Loc(self.file, self._line_of(t.name), 1), text=self.text,
                    hint=f'make it a choice of literals (e.g. {t.name}: "16" | "32") or declare its range: '
                    f"// domain {t.name}: 16..512 step 16",
                )
        return domains

    def _check_calls(self) -> None:
        """Every name a literal calls (``conv2d(``) is an op of the library:
        a sentence calling anything else could never be a region."""
        for literal in self.literals.values():
            for m in _CALLED.finditer(literal):
                if ops.lookup(m[1]) is None:
                    close = difflib.get_close_matches(m[1], list(ops.all_ops()), n=1)
                    line, column = _first_call(self.text, m[1])
                    raise SpaceError(
                        f"the grammar calls {m[1]!r}, which is not an op", Loc(self.file, line, column, line,
                                                                                 column + len(m[1])),
                        text=self.text, hint=(f"did you mean {close[0]!r}? " if close else "")
                        + "`alphanas ops` lists the ops a sentence may call")

    # -- enumeration -------------------------------------------------------------------------------
    def _calls(self, form: tuple[Any, ...]) -> int:
        """Op calls already written in a sentential form: every call opens a
        parenthesis, so any sentence derived from it has at least this many ops."""
        return sum(self.literals.get(s.name, "").count("(") for s in form if s.is_term)

    def sentences(self, rng: random.Random, work: Work | None = None, max_ops: int | None = None
                  ) -> Iterator[tuple[str, int]]:
        """Sentences of the rule with slot holes, fewest expansions first and
        in seeded random order among equally small ones; (text with holes,
        expansions). Forms are expanded best first by the fewest expansions
        any of their sentences can have, so sentences of one size do not come
        clustered by their first choices. Forms that already hold more than
        ``max_ops`` calls are dropped (their sentences would be too)."""
        self.complete = True
        start = (lark.grammar.NonTerminal(self.rule),)
        heap: list[tuple[int, float, int, tuple[Any, ...], int]] = [(self._least.get(self.rule, 0), 0.0, 0, start, 0)]
        pushed = 0
        work = work if work is not None else Work(steps=2**62)
        while heap:
            if not work.spend():
                self.complete = False
                return
            _, _, _, form, used = heapq.heappop(heap)
            if max_ops is not None and self._calls(form) > max_ops:
                continue
            k = next((i for i, s in enumerate(form) if not s.is_term), None)
            if k is None:
                yield self._write(form), used
                continue
            for expansion in self.rules.get(form[k].name, []):
                child = (*form[:k], *expansion, *form[k + 1 :])
                least = used + 1 + sum(self._least.get(x.name, 1 << 20) for x in child if not x.is_term)
                if least > self.max_expansions:
                    self.complete = False
                    continue
                pushed += 1
                heapq.heappush(heap, (least, rng.random(), pushed, child, used + 1))

    def _write(self, form: tuple[Any, ...]) -> str:
        parts = []
        for s in form:
            parts.append(_HOLE.format(s.name) if s.name in self.domains else self.literals.get(s.name, ""))
        return "".join(parts)

    def random_sentences(self, rng: random.Random, work: Work | None = None, max_ops: int | None = None,
                         tries: int = 2000) -> Iterator[tuple[str, int]]:
        """Random derivations of the rule, each nonterminal expanded by a
        seeded choice among the alternatives that can still finish within
        ``max_expansions``; (text with holes, expansions), repeats included.
        Never complete: a random walk cannot tell that it saw everything."""
        self.complete = False
        work = work if work is not None else Work(steps=2**62)
        for _ in range(tries):
            if not work.spend():
                return
            drawn = self._random_form(rng)
            if drawn is None:
                continue
            form, used = drawn
            if max_ops is None or self._calls(form) <= max_ops:
                yield self._write(form), used

    def _random_form(self, rng: random.Random) -> tuple[tuple[Any, ...], int] | None:
        out: list[Any] = []
        stack: list[Any] = [lark.grammar.NonTerminal(self.rule)]
        used = 0
        while stack:
            symbol = stack.pop()
            if symbol.is_term:
                out.append(symbol)
                continue
            left = self.max_expansions - used - sum(self._least.get(s.name, 0) for s in stack if not s.is_term)
            options = [e for e in self.rules.get(symbol.name, [])
                       if 1 + sum(self._least.get(x.name, 0) for x in e if not x.is_term) <= left]
            if not options:
                return None
            expansion = rng.choice(options)
            used += 1
            stack.extend(reversed(expansion))
        return tuple(out), used

    def _least_expansions(self) -> dict[str, int]:
        """The fewest expansions that finish each rule (a fixed point; rules
        that never finish are left out)."""
        least: dict[str, int] = {}
        changed = True
        while changed:
            changed = False
            for name, expansions in self.rules.items():
                for e in expansions:
                    if all(x.is_term or x.name in least for x in e):
                        cost = 1 + sum(least[x.name] for x in e if not x.is_term)
                        if cost < least.get(name, 1 << 30):
                            least[name] = cost
                            changed = True
        return least

    def count(self, max_expansions: int | None = None) -> tuple[int, int, bool]:
        """How many sentences the rule derives within ``max_expansions``:
        (derivations, derivations × the choices of their slots, whether that
        is every sentence of the rule: not recursive, and no derivation
        needs more expansions).
        Derivations are counted, so an ambiguous grammar counts a sentence
        once per derivation."""
        limit = max_expansions or self.max_expansions
        # table[name][e]: (derivations, sized) using exactly e expansions
        table: dict[str, list[tuple[int, int]]] = {n: [(0, 0)] * (limit + 2) for n in self.rules}
        for e in range(1, limit + 2):
            for name, expansions in self.rules.items():
                plain = sized = 0
                for expansion in expansions:
                    ways = self._sequence_ways(expansion, e - 1, table)
                    plain += ways[0]
                    sized += ways[1]
                table[name][e] = (plain, sized)
        within = table[self.rule][: limit + 1]
        complete = not self.is_recursive(self.rule) and self._most_expansions(self.rule) <= limit
        return sum(p for p, _ in within), sum(z for _, z in within), complete

    def _sequence_ways(self, symbols: tuple[Any, ...], budget: int,
                       table: Mapping[str, list[tuple[int, int]]]) -> tuple[int, int]:
        """Ways to derive a sequence of symbols with exactly ``budget``
        expansions in all (a convolution over the symbols)."""
        ways = [(1, 1)] + [(0, 0)] * budget
        for x in symbols:
            if x.is_term:
                choices = len(list(self.domains[x.name].candidates())) if x.name in self.domains else 1
                ways = [(p, z * choices) for p, z in ways]
                continue
            row = table[x.name]
            new = [(0, 0)] * (budget + 1)
            for used, (p, z) in enumerate(ways):
                if not p:
                    continue
                for e in range(1, budget - used + 1):
                    q, w = row[e]
                    if q:
                        a, b = new[used + e]
                        new[used + e] = (a + p * q, b + z * w)
            ways = new
        return ways[budget]

    def _most_expansions(self, rule: str) -> int:
        """The most expansions a derivation of a non-recursive rule takes."""
        most: dict[str, int] = {}

        def visit(name: str) -> int:
            if name not in most:
                most[name] = max(1 + sum(visit(x.name) for x in e if not x.is_term) for e in self.rules[name])
            return most[name]

        return visit(rule)

    def is_recursive(self, rule: str) -> bool:
        """Whether a rule reachable from ``rule`` can derive itself again."""
        reach: dict[str, set[str]] = {
            n: {x.name for e in es for x in e if not x.is_term} for n, es in self.rules.items()}
        seen: set[str] = set()
        todo = [rule]
        while todo:
            n = todo.pop()
            if n in seen:
                continue
            seen.add(n)
            todo.extend(reach.get(n, ()))
        for n in seen:
            stack, visited = list(reach.get(n, ())), set()
            while stack:
                m = stack.pop()
                if m == n:
                    return True
                if m not in visited:
                    visited.add(m)
                    stack.extend(reach.get(m, ()))
        return False

    def templates(self, problem: Problem, max_ops: int, rng: random.Random, work: Work | None = None
                  ) -> Iterator[GrammarTemplate]:
        """A template per sentence with at most ``max_ops`` ops, smallest
        first or in random order (``order``), until ``work`` is spent."""
        seen: set[str] = set()
        draw = self.random_sentences if self.order == "random" else self.sentences
        for sentence, _ in draw(rng, work, max_ops):
            if sentence in seen:
                continue
            seen.add(sentence)
            tmpl = self.template(sentence, len(problem.inputs))
            if tmpl is not None and 1 <= len(tmpl.graph.nodes) <= max_ops:
                yield tmpl

    def template(self, sentence: str, n_inputs: int) -> GrammarTemplate | None:
        """The sentence (slot holes marked, or none) as a block over the
        inputs whose int parameters are its slots; None when it is not a
        region over those inputs. A sentence is an expression, statements,
        or statements ending in ``return``. Memoised per grammar."""
        key = (sentence, n_inputs, self.inputs, tuple(sorted(self.constants.items())))
        if key not in self._templates:
            self._templates[key] = self._template(sentence, n_inputs)
        return self._templates[key]

    def _template(self, sentence: str, n_inputs: int) -> GrammarTemplate | None:
        holes: list[str] = []

        def fill(match: re.Match[str]) -> str:
            holes.append(match.group(1))
            return f"s{len(holes) - 1}"

        body = re.sub("\x00([A-Z_][A-Z0-9_]*)\x00", fill, sentence)
        names = self.inputs if self.inputs is not None else tuple(f"x{i}" for i in range(n_inputs))
        if len(names) != n_inputs:
            return None
        ints = [*self.constants, *(f"s{i}" for i in range(len(holes)))]
        params = "".join(f", {name}: int" for name in ints)
        args = "".join(", 1" for _ in ints)
        header = ", ".join(f"x{i}: [1]" for i in range(n_inputs))
        calls = ", ".join(f"x{i}" for i in range(n_inputs))
        # the model only makes the block part of a program (parsing does not check shapes)
        text = (f"block region({', '.join(names)}{params}) {{\n{_as_body(body)}\n}}\n"
                f"model _space({header}) {{\n  return region({calls}{args})\n}}\n")
        try:
            program = parse(text, "<space sentence>")
        except (AlphanasError, ParseError):
            return None  # not a region over these inputs
        graph = program.block("region")
        slots = []
        for n in graph.nodes:
            for k, v in n.attrs:
                for name in symbols(v):
                    if name in self.constants:
                        slots.append(Slot(name, n.id, k, (self.constants[name],)))
                    else:
                        slots.append(Slot(name, n.id, k, tuple(self.domains[holes[int(name[1:])]].candidates())))
        return GrammarTemplate(graph, tuple(slots), None, sentence=sentence, label=body)

    # -- membership ------------------------------------------------------------------------------
    def parse(self, sentence: str) -> lark.Tree:
        """The sentence's derivation from the rule (raises Lark's error if
        the grammar does not derive it)."""
        return self.parser.parse(sentence, start=self.rule)

    def written(self, tmpl: Template, values: Mapping[str, int]) -> str:
        """The sentence with the solved sizes written in."""
        assert isinstance(tmpl, GrammarTemplate)
        return re.sub(r"\bs(\d+)\b", lambda m: str(values[f"s{m.group(1)}"]), tmpl.label)

    def accepts(self, tmpl: Template, values: Mapping[str, int]) -> bool:
        """The space's own grammar parses the sentence with its sizes."""
        try:
            self.parse(self.written(tmpl, values))
        except lark.exceptions.LarkError:
            return False
        return True


def defined_rules(text: str) -> list[str]:
    """The rules a grammar defines, in order. Templates (``rule{x}: ...``)
    are left out: Lark cannot start from one, and its instances carry
    other names."""
    return [m.group(1) for m in _RULE_HEAD.finditer(text) if not m.group(2)]


def _as_body(sentence: str) -> str:
    """A block body for a sentence: statements ending in ``return`` as they
    are; other statements return the last name they assign; an expression
    is returned."""
    if _RETURNS.search(sentence):
        return sentence
    assigned = _ASSIGNED.findall(sentence)
    if assigned:
        return f"{sentence}\n  return {assigned[-1]}"
    return f"  return {sentence}"
