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

import random
import re
import time
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lark

from alphanas.errors import AlphanasError, ParseError
from alphanas.ir import Loc, Sym
from alphanas.parse import parse
from synth.domains import Domain
from synth.problem import Problem
from synth.structure import Slot, Template

__all__ = ["GrammarSpace", "SpaceError"]

_CHOICE = re.compile(r"^\(\?:(\d+(?:\|\d+)*)\)$")
_DOMAIN = re.compile(r"//\s*domain\s+([A-Z_][A-Z0-9_]*)\s*:\s*(\d+)\s*\.\.\s*(\d+)(?:\s+step\s+(\d+))?")
_HOLE = "\x00{}\x00"


class SpaceError(AlphanasError):
    """A space grammar that cannot be used, with where and why."""

    kind = "space error"


@dataclass(frozen=True)
class GrammarTemplate(Template):
    """A template from a grammar: the sentence it came from (holes marked)."""

    sentence: str = ""
    label: str = ""


class GrammarSpace:
    """A user's space: sentences of ``rule`` in the grammar at ``path`` (or
    in ``text``)."""

    def __init__(self, text: str, rule: str, file: str = "<grammar>", max_expansions: int = 40) -> None:
        self.file = file
        self.rule = rule
        self.text = text
        self.max_expansions = max_expansions
        defined = re.findall(r"^\s*[?!]?([a-z_][a-z0-9_]*)\s*(?:\{[^}]*\})?\s*:", text, re.MULTILINE)
        if rule not in defined:
            import difflib

            close = difflib.get_close_matches(rule, defined, n=1)
            guess = f"did you mean {close[0]!r}? " if close else ""
            raise SpaceError(f"the grammar has no rule {rule!r}", Loc(file, 1, 1), text=text,
                             hint=f"{guess}its rules are {', '.join(sorted(set(defined)))}")
        try:
            self.parser = lark.Lark(text, start=rule, parser="earley", keep_all_tokens=True)
        except lark.exceptions.GrammarError as err:
            raise SpaceError(f"the grammar does not load: {err}", Loc(file, 1, 1), text=text,
                             hint="check the rule names and the Lark syntax") from err
        except lark.exceptions.LarkError as err:
            raise SpaceError(f"the grammar does not load: {err}", Loc(file, 1, 1), text=text) from err
        self.name = f"{Path(file).name}:{rule}"
        #: after an enumeration: whether every sentence within the limits was listed
        self.complete = True
        self.domains = self._slot_domains()
        self.rules: dict[str, list[tuple[Any, ...]]] = {}
        for r in self.parser.rules:
            self.rules.setdefault(r.origin.name, []).append(tuple(r.expansion))
        if rule not in self.rules:
            raise SpaceError(f"the grammar has no rule {rule!r}", Loc(file, 1, 1), text=text,
                             hint=f"its rules are {', '.join(sorted(n for n in self.rules if not n.startswith('_')))}")

    @staticmethod
    def load(path: str | Path, rule: str) -> GrammarSpace:
        path = Path(path)
        if not path.exists():
            raise SpaceError(f"no such grammar file: {path}", hint="give the path of a .lark space grammar")
        return GrammarSpace(path.read_text(), rule, str(path))

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
            else:
                raise SpaceError(
                    f"terminal {t.name} is a regular expression ({pattern.value}) that the synthesizer cannot write",
                    Loc(self.file, self._line_of(t.name), 1), text=self.text,
                    hint=f'make it a choice of literals (e.g. {t.name}: "16" | "32") or declare its range: '
                    f"// domain {t.name}: 16..512 step 16",
                )
        return domains

    # -- enumeration -------------------------------------------------------------------------------
    def _calls(self, form: tuple[Any, ...]) -> int:
        """Op calls already written in a sentential form: every call opens a
        parenthesis, so any sentence derived from it has at least this many ops."""
        return sum(self.literals.get(s.name, "").count("(") for s in form if s.is_term)

    def sentences(self, rng: random.Random, deadline: float, max_ops: int | None = None) -> Iterator[tuple[str, int]]:
        """Sentences of the rule with slot holes, fewest expansions first;
        (text with holes, expansions). Forms that already hold more than
        ``max_ops`` calls are dropped (their sentences would be too)."""
        self.complete = True
        queue: deque[tuple[tuple[Any, ...], int]] = deque([((lark.grammar.NonTerminal(self.rule),), 0)])
        while queue:
            if time.perf_counter() > deadline:
                self.complete = False
                return
            form, used = queue.popleft()
            if max_ops is not None and self._calls(form) > max_ops:
                continue
            k = next((i for i, s in enumerate(form) if not s.is_term), None)
            if k is None:
                yield self._write(form), used
                continue
            if used >= self.max_expansions:
                self.complete = False
                continue
            options = list(self.rules.get(form[k].name, []))
            rng.shuffle(options)
            for expansion in options:
                queue.append(((*form[:k], *expansion, *form[k + 1 :]), used + 1))

    def _write(self, form: tuple[Any, ...]) -> str:
        parts = []
        for s in form:
            parts.append(_HOLE.format(s.name) if s.name in self.domains else self.literals.get(s.name, ""))
        return "".join(parts)

    def templates(self, problem: Problem, max_ops: int, rng: random.Random, time_limit: float = 2.0
                  ) -> Iterator[GrammarTemplate]:
        """A template per sentence with at most ``max_ops`` ops."""
        deadline = time.perf_counter() + time_limit
        seen: set[str] = set()
        for sentence, _ in self.sentences(rng, deadline, max_ops):
            if sentence in seen:
                continue
            seen.add(sentence)
            tmpl = self._template(sentence, len(problem.inputs))
            if tmpl is not None and 1 <= len(tmpl.graph.nodes) <= max_ops:
                yield tmpl

    def _template(self, sentence: str, n_inputs: int) -> GrammarTemplate | None:
        holes: list[str] = []

        def fill(match: re.Match[str]) -> str:
            holes.append(match.group(1))
            return f"s{len(holes) - 1}"

        body = re.sub("\x00([A-Z_][A-Z0-9_]*)\x00", fill, sentence)
        params = "".join(f", s{i}: int" for i in range(len(holes)))
        inputs = ", ".join(f"x{i}" for i in range(n_inputs))
        # the model only makes the block part of a program (parsing does not check shapes)
        args = "".join(", 1" for _ in holes)
        header = ", ".join(f"x{i}: [1]" for i in range(n_inputs))
        text = (f"block region({inputs}{params}) {{\n  return {body}\n}}\n"
                f"model _space({header}) {{\n  return region({inputs}{args})\n}}\n")
        try:
            program = parse(text, "<space sentence>")
        except (AlphanasError, ParseError):
            return None  # a sentence that is not an expression over the inputs: not a region
        graph = program.block("region")
        slots = []
        for n in graph.nodes:
            for k, v in n.attrs:
                if isinstance(v, Sym):
                    kind = self.domains[holes[int(v.name[1:])]]
                    slots.append(Slot(v.name, n.id, k, tuple(kind.candidates())))
        return GrammarTemplate(graph, tuple(slots), None, sentence=sentence, label=body)

    # -- membership ------------------------------------------------------------------------------
    def written(self, tmpl: Template, values: Mapping[str, int]) -> str:
        """The sentence with the solved sizes written in."""
        assert isinstance(tmpl, GrammarTemplate)
        return re.sub(r"\bs(\d+)\b", lambda m: str(values[f"s{m.group(1)}"]), tmpl.label)

    def accepts(self, tmpl: Template, values: Mapping[str, int]) -> bool:
        """The space's own grammar parses the sentence with its sizes."""
        try:
            self.parser.parse(self.written(tmpl, values))
        except lark.exceptions.LarkError:
            return False
        return True
