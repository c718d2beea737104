"""Search spaces written as grammars, over whole programs.

A user narrows the language with a Lark grammar: the sentences of one of
its rules are the **body** of one graph of the program — the model's body
(statements over the model's input ``x`` ending in ``return``) or the body
of a block, say NAS-Bench-201's ``block cell(x, c: int)``. Numeric slots
are terminals with domains (:mod:`synth.grammar`); the body may use the
graph's int parameters (``c``) by name.

A program is *in the space* when its graph's body, as the canonical printer
writes it, is derived by the rule. Whitespace does not count: the grammar
is matched against the body with every blank removed, so a grammar may
write its literals as it likes (:func:`squeezed_grammar`).

Mutation stays inside the space (:class:`SpaceMutation`), as DESIGN.md
asks: the body's derivation tree is computed, one subtree (a *fragment*:
a derivation of some rule R) is chosen, and it is replaced by another
derivation of R, found by :func:`synth.synthesize` in the grammar seen from
R (:meth:`synth.grammar.GrammarSpace.at`). Three modes share those steps:

- ``guided`` (αNAS): the fragment's ops form a region of the graph; its
  properties are inferred and mutated, and the new derivation must reach
  them (smallest derivations first, or, where the rule's derivations are
  listed, the one meeting them most tightly);
- ``edit``: a random derivation of R that fits the shapes, no properties
  (the random-edit baseline inside a space);
- ``sample``: the whole body re-derived at random (random sampling from
  the space).

Every child is re-parsed, shape-checked in every instance of the graph and
derived by the grammar again before it is returned.

Two things keep guided mutation going in a small space, where a parent's
neighbourhood is soon all evaluated (NAS-Bench-201's cell has 15,625):

- *reachable targets*: a rule with few derivations and no slots has them
  listed once, with their properties, and a target is mutated again until
  some other derivation meets it (properties are lower bounds, and an edge
  of a cell reaches five property values, so most raw targets are met by
  nothing); from that listing the child takes the derivation meeting the
  target most tightly (:func:`_tightest_novel`), so that its properties
  follow the mutation rather than drift to the richest derivation, which
  meets nearly every lower bound. A parent drawn for the first objective
  alone may take another tightness (``p_tight_first_objective``): the
  drift towards rich derivations is a climb in accuracy where accuracy
  grows with size, as on NAS-Bench-201;
- *walks*: the synthesis is told which programs the search has, and passes
  over derivations that make one of them (``synthesize(accept=...)``); when
  only such derivations meet the target, the mutation walks on from one of
  those programs, and the child records it as its parent
  (``Child.made_from``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Container, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import lark

from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.canonical import program_hash
from alphanas.lang.errors import AlphanasError
from alphanas.lang.files import read_text
from alphanas.lang.ir import Graph, Loc, Program
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program
from alphanas.lang.regions import Region, instances_of, make_region
from alphanas.properties import api as props_api
from alphanas.variation.base import NO_CONTEXT, Child, VariationContext, VariationFailed
from synth.grammar import GrammarSpace, SpaceError, grammar_load_error, split_comment

if TYPE_CHECKING:
    from alphanas.variation.property_mutation import MutationSettings

__all__ = ["Fragment", "ProgramSpace", "SpaceMutation", "squeezed_grammar"]

Mode = Literal["guided", "edit", "sample"]

#: derivations a space remembers (by program text)
DERIVATIONS_KEPT = 256
#: spliced children a mutation remembers the hash of (by text)
SPLICES_KEPT = 16384
#: a rule with at most this many derivations has them listed, so that
#: guided mutation only asks for properties some derivation has
REACHABLE_LISTED = 512
#: seconds the listing of one rule's derivations may take
LISTING_SECONDS = 30.0
#: the work budget of that listing (it is bounded by REACHABLE_LISTED sentences first)
LISTING_STEPS = 10**7
#: mutated targets drawn before a guided mutation gives up on a fragment
TARGET_DRAWS = 16
#: a walk through programs the search has may take this many steps per attempt
WALK_STEPS = 4
#: why a derivation that meets the target is refused when the search has its program
ALREADY_SEEN = "the child is a program the search already has"

_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"(i?)')
_BLANKS = re.compile(r"\\[nrt]|\s")


# -- whitespace-insensitive membership -----------------------------------------------------------


def squeezed_grammar(text: str) -> str:
    """The grammar with the blanks taken out of its string literals (a
    literal of blanks only disappears), for matching blank-free text."""
    lines = []
    for line in text.split("\n"):
        code, comment = split_comment(line)
        lines.append(_LITERAL.sub(_squeeze, code) + comment)
    return "\n".join(lines)


def _squeeze(match: re.Match[str]) -> str:
    inner = _BLANKS.sub("", match.group(0)[1 : -1 - len(match.group(1))])
    return f'"{inner}"{match.group(1)}' if inner else ""


# -- derivations of a program's body ---------------------------------------------------------------


@dataclass(frozen=True)
class Fragment:
    """A subtree of a body's derivation: a derivation of ``rule`` written at
    ``[start, end)`` of the program's text, and the graph's nodes there."""

    rule: str
    start: int
    end: int
    text: str
    nodes: tuple[str, ...]
    region: Region | None


@dataclass(frozen=True)
class Derivation:
    """A program in its canonical text, and how the space derives its graph's body."""

    program: Program
    text: str
    graph: Graph
    tree: lark.Tree
    fragments: tuple[Fragment, ...]
    digest: str  # the program's canonical hash


class ProgramSpace:
    """The programs whose ``graph`` body (None: the model's) is a sentence
    of ``rule`` in the grammar ``text``."""

    def __init__(self, text: str, rule: str, file: str = "<grammar>", graph: str | None = None) -> None:
        self.grammar = GrammarSpace(text, rule, file)
        self.rule = rule
        self.file = file
        self.graph = graph
        self._derived: dict[str, Derivation] = {}
        rules = sorted(self.grammar.rules)
        try:
            self._matcher = lark.Lark(squeezed_grammar(text), start=rules, parser="earley",
                                      keep_all_tokens=True, propagate_positions=True)
        except lark.exceptions.LarkError as err:
            raise grammar_load_error(err, "the grammar does not load once blanks are ignored", file, text,
                                     "a literal made of blanks only cannot stand alone in a rule") from err

    @staticmethod
    def load(path: str | Path, rule: str, graph: str | None = None) -> ProgramSpace:
        path = Path(path)
        if not path.exists():
            raise SpaceError(f"no such grammar file: {path}", hint="give the path of a .lark space grammar")
        return ProgramSpace(read_text(path, "space grammar", error=SpaceError), rule, str(path), graph)

    @property
    def name(self) -> str:
        return f"{Path(self.file).name}:{self.rule}"

    # -- which graph, where its body is ---------------------------------------------------------
    def graph_of(self, program: Program) -> Graph:
        if self.graph is None or self.graph == program.model.name:
            return program.model
        try:
            return program.block(self.graph)
        except KeyError:
            raise SpaceError(f"the program has no block {self.graph!r}, whose body the space describes",
                             hint=f"its blocks are {', '.join(b.name for b in program.blocks) or 'none'}") from None

    @staticmethod
    def body_span(text: str, graph: Graph) -> tuple[int, int]:
        """Where the graph's body (between its braces) is in the text."""
        header = re.search(rf"(?m)^\s*{graph.kind}\s+{re.escape(graph.name)}\s*\(", text)
        if header is None:
            raise SpaceError(f"no definition of {graph.kind} {graph.name} in the program's text")
        open_brace = text.index("{", header.end())
        return open_brace + 1, text.index("}", open_brace)

    # -- membership -----------------------------------------------------------------------------------
    def derive(self, program: Program) -> Derivation:
        """The derivation of the graph's body, with its fragments; a
        :class:`SpaceError` saying where the body leaves the space if it does.
        Memoised by the program's text: a search derives each program as a
        child and again each time it is a parent."""
        text = print_program(program)
        if text not in self._derived:
            self._remember(text, self._derive(text))
        return self._derived[text]

    def _remember(self, text: str, derivation: Derivation) -> None:
        if len(self._derived) >= DERIVATIONS_KEPT:
            self._derived.pop(next(iter(self._derived)))
        self._derived[text] = derivation

    def _derive(self, text: str, program: Program | None = None) -> Derivation:
        program = program if program is not None else parse(text, "<space program>")
        graph = self.graph_of(program)
        start, end = self.body_span(text, graph)
        kept = [k for k in range(start, end) if not text[k].isspace()]
        squeezed = "".join(text[k] for k in kept)
        try:
            tree = self._matcher.parse(squeezed, start=self.rule)
        except lark.exceptions.UnexpectedInput as err:
            at = kept[min(err.pos_in_stream or 0, len(kept) - 1)] if kept else start
            line = text.count("\n", 0, at) + 1
            column = at - (text.rfind("\n", 0, at) + 1) + 1
            raise SpaceError(f"the body of {graph.kind} {graph.name} is not a sentence of {self.name}",
                             Loc("<program>", line, column), text=text,
                             hint=f"the grammar's rule {self.rule!r} does not derive it from here on") from None
        return Derivation(program, text, graph, tree, tuple(self._fragments(text, graph, tree, kept)),
                          program_hash(program))

    def contains(self, program: Program) -> bool:
        try:
            self.derive(program)
        except (SpaceError, AlphanasError):
            return False
        return True

    def _fragments(self, text: str, graph: Graph, tree: lark.Tree, kept: list[int]) -> Iterator[Fragment]:
        line_starts = [0] + [k + 1 for k, ch in enumerate(text) if ch == "\n"]

        def offset(loc: Loc) -> int:
            return line_starts[loc.line - 1] + loc.column - 1

        placed = [(offset(n.loc), n.id) for n in graph.nodes if n.loc is not None]
        for sub in tree.iter_subtrees_topdown():
            if sub.meta.empty or not isinstance(sub.data, str) or sub.data not in self.grammar.rules:
                continue
            a, b = kept[sub.meta.start_pos], kept[sub.meta.end_pos - 1] + 1
            nodes = tuple(node for at, node in placed if a <= at < b)
            yield Fragment(str(sub.data), a, b, text[a:b], nodes, _single_output_region(graph, nodes))

    # -- seen from one rule -----------------------------------------------------------------------
    def fragment_space(self, fragment: Fragment, graph: Graph, instance: Instance, order: str) -> GrammarSpace:
        """The grammar seen from the fragment's rule, its sentences over the
        names of the fragment's inputs, the graph's int parameters fixed
        to their values in ``instance``."""
        assert fragment.region is not None
        return self.grammar.at(fragment.rule, inputs=_input_names(graph, fragment.region),
                               constants=dict(instance.bindings), order=order)  # type: ignore[arg-type]


def _single_output_region(graph: Graph, nodes: tuple[str, ...]) -> Region | None:
    """The nodes as a region the synthesizer can replace (one output, tensor
    inputs, no block calls), or None."""
    if not nodes:
        return None
    try:
        region = make_region(graph, nodes)
    except (ValueError, KeyError, AlphanasError):
        return None
    if len(region.outputs) != 1 or not region.inputs:
        return None
    named = {n.id: n.name for n in graph.nodes}
    if any(named.get(v, v) is None for v in region.inputs):
        return None  # part of a call (a rule for an op's name, say): its input has no name to write
    return region


def _input_names(graph: Graph, region: Region) -> tuple[str, ...]:
    """How the body's text names each input of the region: a graph input by
    its name, a node's value by the name it was assigned to."""
    named = {n.id: n.name for n in graph.nodes}
    names = []
    for value in region.inputs:
        name = named.get(value, value)
        if name is None:
            raise VariationFailed(f"the region's input {value} has no name in the text")
        names.append(name)
    return tuple(names)


# -- the variation -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SpaceMutation:
    """A :class:`~alphanas.variation.base.Variation` that stays inside a
    :class:`ProgramSpace` (see the module docstring for the three modes)."""

    space: ProgramSpace
    mode: Mode = "guided"
    settings: MutationSettings | None = None  # None: its defaults
    name: str = "alphanas"
    #: spliced text -> (the child's canonical hash, or None and why it does not check)
    _spliced: dict[str, tuple[str | None, str | None]] = field(default_factory=dict, compare=False, repr=False)
    #: (rule, shapes and budgets, constants, inputs) -> what its derivations reach (see _reachable)
    _reachable_by: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def vary(self, parent: Program, rng: random.Random, context: VariationContext = NO_CONTEXT) -> Child:
        """A child of ``parent``; ``context.seen`` holds the canonical hashes
        of the programs the search already has, which count as failed attempts
        (in a small space a property target is often met by a cell already
        evaluated, and the search would reject it). ``context.aim`` is what
        the parent was drawn for; it picks the tightness of guided children."""
        from alphanas.variation.property_mutation import MutationSettings

        seen, aim = context.seen, context.aim
        settings = self.settings or MutationSettings()
        if aim == "first_objective" and settings.p_tight_first_objective is not None:
            settings = replace(settings, p_tight=settings.p_tight_first_objective)
        start = d = self.space.derive(parent)
        reasons: list[str] = []
        failed = steps = 0
        while failed < settings.attempts:
            fragment = rng.choice(self._choices(d))
            instance = instances_of(d.program, d.graph.name)[0]
            try:
                child = self._rederive(d, fragment, instance, rng, settings, seen)
            except _AllSeen as err:
                # the target is met, but only by programs the search has:
                # walk on from one of them rather than fail (in a small space
                # the neighbourhood of a good parent is soon all evaluated)
                reasons.append(f"{fragment.rule}: {err}")
                steps += 1
                failed += steps > WALK_STEPS * settings.attempts  # a walk is not endless
                d = self.space.derive(parse(rng.choice(err.texts), "<child>"))
                continue
            except VariationFailed as err:
                reasons.append(f"{fragment.rule}: {err}")
                failed += 1
                continue
            if d is start:
                return child
            return replace(child, made_from=d.digest, record={**child.record, "walk": steps})
        raise VariationFailed(f"no child in {settings.attempts} attempts and {steps} steps through programs "
                              "the search has: " + "; ".join(reasons[-3:]))

    def _choices(self, d: Derivation) -> list[Fragment]:
        """The fragments a variation may re-derive: the whole body when
        sampling, else every one-output region but the whole body."""
        choices = [f for f in d.fragments if f.region is not None]
        if self.mode == "sample":
            choices = choices[:1]  # the root: the whole body
        elif len(choices) > 1 and choices[0].start == d.fragments[0].start \
                and choices[0].end == d.fragments[0].end:
            choices = choices[1:]  # a mutation changes part of the body; all of it is sampling
        if not choices:
            raise VariationFailed(f"no fragment of the body of {d.graph.name} is a one-output region")
        return choices

    def _rederive(self, d: Derivation, fragment: Fragment, instance: Instance, rng: random.Random,
                  settings: Any, seen: Container[str]) -> Child:
        from alphanas.variation.property_mutation import Pick, region_budgets, size_limit
        from synth import Problem, synthesize

        assert fragment.region is not None
        pick = Pick(d.graph.name, fragment.region, instance)
        props = props_api.region_properties(d.program, d.graph.name, fragment.region, instance)
        guided = self.mode == "guided"
        budgets = region_budgets(d.program, pick, props, settings)
        shapes_only = Problem(tuple(tuple(s) for s in props.shapes.inputs), tuple(props.shapes.outputs[0]),
                              budgets=budgets)
        rule_space = self.space.fragment_space(fragment, d.graph, instance, "smallest" if guided else "random")
        avoid = _fragment_hashes(rule_space, fragment, shapes_only, instance)
        listed = self._reachable(rule_space, shapes_only) if guided else None
        target = self._reachable_target(props, rule_space.rule, listed, avoid, rng, settings) if guided else None
        if target is not None:
            problem = Problem.from_properties(target, budgets)
            max_ops = size_limit(d.program, pick, target, self._growth(fragment, settings))
        else:
            problem = shapes_only
            max_ops = len(fragment.nodes) + self._growth(fragment, settings) if self.mode == "edit" else 10**6
        children: dict[str, Program] = {}
        evaluated: list[str] = []  # texts of programs that meet the target but the search has

        def novel(result: Any) -> str | None:
            """None when the sentence makes a new program (kept in ``children``), else why not."""
            child, why = self._splice(d, fragment, result.sentence, seen)
            if child is not None:
                children[result.sentence] = child
            elif why == ALREADY_SEEN:
                evaluated.append(d.text[: fragment.start] + result.sentence + d.text[fragment.end :])
            return why

        layered = False
        if listed is not None:
            # no draw when the choice is certain, so that p_tight=1 spends no randomness on it
            layered = settings.p_tight >= 1 or (settings.p_tight > 0 and rng.random() < settings.p_tight)
            result = _tightest_novel(listed, target, avoid, novel, problem, rng, layered)
        else:
            result = synthesize(problem, rule_space, seed=rng.randrange(2**31),
                                time_limit=settings.synth_time_limit, steps=settings.synth_steps, max_ops=max_ops,
                                avoid=avoid, accept=novel)
        if not result.ok:
            why = "; ".join(result.reasons) or "no derivation"
            raise _AllSeen(why, tuple(evaluated)) if evaluated else VariationFailed(why)
        child = children[result.sentence]
        operator = {"guided": "property_mutation", "edit": "random_derivation", "sample": "random_sample"}
        record: dict[str, Any] = {
            "graph": d.graph.name,
            "space": self.space.name,
            "rule": fragment.rule,
            "fragment": fragment.text,
            "region": list(fragment.region.order),
            "inputs": list(fragment.region.inputs),
            "output": fragment.region.outputs[0],
            "bindings": dict(instance.bindings),
            "before": props_api.to_json(props),
            "after": props_api.to_json(result.properties),
            "replacement": result.sentence,
            "synthesis": {"listed": len(listed), "tightest": layered} if listed is not None
            else result.stats.as_dict(),
        }
        if target is not None:
            record["target"] = props_api.to_json(target)
        return Child(child, operator[self.mode], record)

    @staticmethod
    def _reachable_target(props: Any, rule: str, reachable: tuple[tuple[str, Any], ...] | None, avoid: set[str],
                          rng: random.Random, settings: Any) -> Any:
        """A mutation of the fragment's properties that some other derivation
        of its rule meets. Properties are lower bounds, and a rule derives
        few property values (an edge of a cell: five), so most mutated
        targets would ask for more depth or mixing than any derivation has,
        and the synthesis would fail after enumerating the rule. When the
        rule's derivations are few enough to list, the target is mutated
        again (mixing relaxes further, depth moves on) until another
        derivation reaches it; otherwise the first mutation is kept."""
        from alphanas.variation.property_mutation import mutate_target

        target = props
        for _ in range(TARGET_DRAWS):
            target = mutate_target(target, rng, settings)
            if reachable is None or any(h not in avoid and props_api.satisfies(r.properties, target)
                                        for h, r in reachable):
                return target
        raise VariationFailed(f"no target of {TARGET_DRAWS} mutations in a row is met by another derivation "
                              f"of {rule}")

    def _reachable(self, rule_space: GrammarSpace, shapes_only: Any) -> tuple[tuple[str, Any], ...] | None:
        """(canonical hash, synthesis result) of every derivation of the rule that
        fits the shapes and budgets, when the rule derives at most
        :data:`REACHABLE_LISTED` sentences and none has a slot; None otherwise.
        Listed once per rule, shapes, budgets and constants, by a synthesis
        that collects every region it verifies and takes none."""
        from synth import synthesize

        key = (rule_space.rule, shapes_only.inputs, shapes_only.output, shapes_only.budgets,
               tuple(sorted(rule_space.constants.items())), rule_space.inputs)
        if key not in self._reachable_by:
            derivations, sized, complete = rule_space.count()
            listed: list[tuple[str, Any]] = []

            def collect(result: Any) -> str:
                listed.append((program_hash(result.program), result))
                return "listed"

            reachable = None
            # a derivation with slots is one template whose sizes the solver
            # picks once: listing it would not list what its sizes reach
            if complete and sized == derivations <= REACHABLE_LISTED:
                report = synthesize(shapes_only, rule_space.at(rule_space.rule, order="smallest"),
                                    time_limit=LISTING_SECONDS, steps=LISTING_STEPS, max_ops=10**6, accept=collect)
                reachable = tuple(listed) if getattr(report, "proven", False) else None
            self._reachable_by[key] = reachable
        return self._reachable_by[key]

    @staticmethod
    def _growth(fragment: Fragment, settings: Any) -> int:
        """How many ops a re-derivation may add: the settings' slack, or
        as many as the fragment has (a grammar's unit, a block of 7–10 ops,
        could otherwise never be repeated)."""
        return max(settings.slack, len(fragment.nodes), 2)

    def _splice(self, d: Derivation, fragment: Fragment, sentence: str, seen: Container[str]
                ) -> tuple[Program | None, str | None]:
        """The child with the fragment's text replaced by ``sentence``
        (re-parsed, shape-checked in every instance, derived by the grammar),
        or None and why it is not a new program. What each spliced text
        makes is remembered by its hash, so a sentence proposed again (the
        same parent is often chosen again) costs no parse."""
        text = d.text[: fragment.start] + sentence + d.text[fragment.end :]
        known = self._spliced.get(text)
        if known is None:
            try:
                child = parse(text, "<child>")
                analyze(child)
                known = (program_hash(child), None)
            except AlphanasError as err:
                known = (None, f"the child does not check: {err.message}")
            if len(self._spliced) >= SPLICES_KEPT:
                self._spliced.pop(next(iter(self._spliced)))
            self._spliced[text] = known
        else:
            child = None
        digest, why = known
        if digest is None:
            return None, why
        if digest == d.digest:
            return None, "the child equals its parent up to canonical form"
        if digest in seen:
            return None, ALREADY_SEEN
        # derived from its canonical text (parsed once more when the splice
        # was not already canonical), so that the search can keep the parsed
        # program as the stored text's; a SpaceError here would be a bug
        return self.space.derive(child if child is not None else parse(text, "<child>")).program, None


def _tightest_novel(listed: tuple[tuple[str, Any], ...], target: Any, avoid: set[str],
                    novel: Any, problem: Any, rng: random.Random, layered: bool = True) -> Any:
    """The listed derivation that meets the target most tightly and makes
    a new program (``novel`` returns None for it), or why there is none.

    Properties are lower bounds, so a rich derivation (a 3×3 convolution
    edge) meets nearly every target, and taking any derivation that meets
    it would make guided children drift to the rich, costly end of the
    space whatever the mutation asked for. The synthesizer's "smallest
    first" cannot tell derivations apart when each is one expansion (a
    cell's edges); a listed rule can do better and take the derivations in
    layers of the property order: first those no other derivation meeting
    the target lies strictly below, in a seeded random order, then the
    next layer, and so on. The child's properties then follow the mutated
    target: a relaxed mixing or a lowered depth reaches a cheaper edge."""
    from synth.explain import Infeasible

    meeting = [r for h, r in listed if h not in avoid and props_api.satisfies(r.properties, target)]
    refused: dict[str, int] = {}
    for layer in _property_layers(meeting) if layered else [meeting]:
        rng.shuffle(layer)
        for result in layer:
            why = novel(result)
            if why is None:
                return result
            refused[why] = refused.get(why, 0) + 1
    reasons = [f"met the target but refused: {why} ({n})" for why, n in refused.items()]
    return Infeasible(problem, tuple(reasons or [f"no other derivation of {len(listed)} meets the target"]),
                      proven=not refused)


def _property_layers(results: list[Any]) -> Iterator[list[Any]]:
    """The results in layers: the minimal ones of the property order
    (no other result's properties lie strictly below theirs), then the
    minimal ones of the rest, and so on; each layer is computed only when
    asked for (the first usually gives the child)."""

    def below(a: Any, b: Any) -> bool:  # a's properties strictly below b's
        return props_api.satisfies(b.properties, a.properties) and not props_api.satisfies(a.properties, b.properties)

    rest = list(results)
    while rest:
        low = [r for r in rest if not any(below(o, r) for o in rest if o is not r)]
        rest = [r for r in rest if all(r is not m for m in low)]
        yield low


class _AllSeen(VariationFailed):
    """Derivations met the target, but each made a program the search
    already has; ``texts`` are those programs' texts."""

    def __init__(self, message: str, texts: tuple[str, ...]) -> None:
        super().__init__(message)
        self.texts = texts


def _fragment_hashes(space: GrammarSpace, fragment: Fragment, problem: Any, instance: Instance) -> set[str]:
    """The canonical hash of the fragment as a region, so that synthesis
    passes over the derivation the parent already has."""
    from synth.verify import concrete_program

    tmpl = space.template(fragment.text, len(problem.inputs))
    if tmpl is None:
        return set()
    return {program_hash(concrete_program(tmpl, problem, dict(instance.bindings)))}
