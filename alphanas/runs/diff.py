"""What changed between two programs of a run: a readable text diff with
the replaced and the synthesized region marked, and the region's
properties before and after the mutation.

Two steps, usable on their own:

1. :func:`compare_programs` pairs the graphs of two programs and, inside
   each pair, the nodes that compute the same thing, so that what is left is
   what changed (a :class:`ProgramChange`). A mutated block is copied under
   a new name (:mod:`alphanas.variation.property_mutation`) and statements are re-named when the
   child is printed and parsed again, so neither graph names nor node ids
   can be compared directly. Instead each node gets two structural
   signatures: *forward* (its op, arguments and the signatures of its
   inputs) and *backward* (its op, arguments and how its value is used down
   to the output). A region replacement changes the forward signature of
   the nodes after the region and the backward signature of the nodes
   before it, never both, so a node outside the region keeps one of them.
2. :func:`diff_candidates` diffs a candidate's stored text against its
   parent's (or another candidate's) line by line, and marks under each
   line, with ``?`` lines of carets as ``difflib.ndiff`` does, the
   characters of the replaced region (from the mutation record, in the
   parent) and of the synthesized one (the nodes the child added).
"""

from __future__ import annotations

import difflib
import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from alphanas import ops
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Graph, Program
from alphanas.runs.inspection import RunView, format_metric
from alphanas.search.store import Candidate

__all__ = [
    "CandidateDiff",
    "DiffLine",
    "ProgramChange",
    "RegionChange",
    "compare_programs",
    "diff_candidates",
    "diff_json",
    "marked_columns",
    "render_diff",
]

#: unchanged lines shown around a change, as ``diff -u`` does
CONTEXT = 3

#: a node of a program: (graph name, node id)
NodeRef = tuple[str, str]


# -- 1. graphs and nodes that correspond ------------------------------------------------------


@dataclass(frozen=True)
class ProgramChange:
    """How ``new`` differs from ``old``: for each graph of ``new`` the graph
    of ``old`` it continues (None: a new graph), the nodes of ``old`` that
    no longer exist and the nodes of ``new`` that did not exist."""

    pairs: Mapping[str, str | None]
    removed: frozenset[NodeRef]
    added: frozenset[NodeRef]


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


def _commutative(op_name: str) -> bool:
    op = ops.lookup(op_name)
    return op is not None and op.commutative


def _head(graph: Graph, node_id: str, op_name: Callable[[str], str]) -> str:
    n = graph.node(node_id)
    return f"{op_name(n.op)}|{n.attrs!r}"


def forward_signatures(graph: Graph, op_name: Callable[[str], str] = str) -> dict[str, str]:
    """Per node, a hash of its op, arguments and (recursively) its inputs."""
    sig = {i.id: f"input{k}" for k, i in enumerate(graph.inputs)}
    for n in graph.nodes:
        ins = [sig[i] for i in n.inputs]
        if _commutative(n.op):
            ins.sort()
        sig[n.id] = _digest(_head(graph, n.id, op_name), *ins)
    return sig


def backward_signatures(graph: Graph, op_name: Callable[[str], str] = str) -> dict[str, str]:
    """Per node, a hash of its op, arguments and (recursively) its readers
    with the port it is read at."""
    readers: dict[str, list[tuple[str, str]]] = {n.id: [] for n in graph.nodes}
    for n in graph.nodes:
        for port, i in enumerate(n.inputs):
            if i in readers:
                readers[i].append((n.id, "c" if _commutative(n.op) else str(port)))
    sig: dict[str, str] = {}
    for n in reversed(graph.nodes):
        uses = sorted(f"{sig[r]}@{port}" for r, port in readers[n.id])
        if n.id == graph.output:
            uses.append("output")
        sig[n.id] = _digest(_head(graph, n.id, op_name), *uses)
    return sig


def match_nodes(old: Graph, new: Graph, new_op_name: Callable[[str], str] = str,
                exclude: frozenset[str] = frozenset()) -> dict[str, str]:
    """Nodes of ``new`` paired with the nodes of ``old`` that compute the
    same (new id -> old id), by forward signature first, then backward.
    ``new_op_name`` maps the block names ``new`` calls to ``old``'s; nodes of
    ``old`` in ``exclude`` are known to be gone and are never paired."""
    matched: dict[str, str] = {}
    for signatures in (forward_signatures, backward_signatures):
        old_sig, new_sig = signatures(old), signatures(new, new_op_name)
        pool: dict[str, list[str]] = {}
        taken = set(matched.values()) | exclude
        for n in old.nodes:
            if n.id not in taken:
                pool.setdefault(old_sig[n.id], []).append(n.id)
        for n in new.nodes:
            if n.id not in matched and pool.get(new_sig[n.id]):
                matched[n.id] = pool[new_sig[n.id]].pop(0)
    return matched


def _pair_graphs(old: Program, new: Program, hint: str | None) -> dict[str, str | None]:
    """For each graph of ``new``, the graph of ``old`` it continues: the
    model, blocks of the same name, and for a block with a new name the
    block ``hint`` (the graph a mutation record names) when it is the only
    new one, else the old block it shares most nodes with."""
    pairs: dict[str, str | None] = {new.model.name: old.model.name}
    old_names = set(old.block_names)
    for b in new.blocks:
        if b.name in old_names:
            pairs[b.name] = b.name
    unpaired = [b for b in new.blocks if b.name not in pairs]
    if hint in old_names and len(unpaired) == 1:
        # one new block and a mutation of block ``hint``: the copy splicing made
        return {**pairs, unpaired[0].name: hint}
    for b in unpaired:
        scores = [(len(match_nodes(ob, b)), ob.name) for ob in old.blocks
                  if len(ob.inputs) == len(b.inputs)]
        best = max(scores, default=None)
        pairs[b.name] = best[1] if best is not None and best[0] > 0 else None
    return pairs


def compare_programs(old: Program, new: Program, hint: str | None = None,
                     replaced: Iterable[NodeRef] = ()) -> ProgramChange:
    """What ``new`` removed from and added to ``old`` (see the module doc).
    ``hint``: the graph of ``old`` a mutation changed; ``replaced``: nodes of
    ``old`` a mutation is known to have replaced (from its record), so that
    a synthesized op equal to one it replaced counts as new, not as kept."""
    gone = set(replaced)
    pairs = _pair_graphs(old, new, hint)
    new_op_name = lambda name: pairs.get(name) or name  # noqa: E731 - block calls name the paired block
    removed: set[NodeRef] = set()
    added: set[NodeRef] = set()
    continued: set[str] = set()
    for g in new.graphs():
        old_name = pairs.get(g.name)
        if old_name is None:
            added |= {(g.name, n.id) for n in g.nodes}
            continue
        og = old.model if old_name == old.model.name else old.block(old_name)
        # splicing copies a mutated block under a new name, so a block that
        # kept its name is the unchanged original (the model has no copy)
        copy = g.kind == "model" or g.name != og.name
        excluded = frozenset(n for gname, n in gone if gname == og.name and copy)
        matched = match_nodes(og, g, new_op_name, excluded)
        added |= {(g.name, n.id) for n in g.nodes if n.id not in matched}
        # a block the child keeps and also copies for one of its instances
        # is continued twice: what either copy lost counts as removed
        kept = set(matched.values())
        removed |= {(og.name, n.id) for n in og.nodes if n.id not in kept}
        continued.add(og.name)
    for og in old.graphs():
        if og.name not in continued:  # a block no graph of the new program continues: gone
            removed |= {(og.name, n.id) for n in og.nodes}
    return ProgramChange(pairs, frozenset(removed), frozenset(added))


# -- 2. marking text --------------------------------------------------------------------------


def marked_columns(program: Program, nodes: Iterable[NodeRef]) -> dict[int, set[int]]:
    """Per line of the program's text, the (1-based) columns written by the
    given nodes: the span of each node's call, less the spans of the calls
    nested in it that are not among the nodes."""
    chosen = set(nodes)
    spans: list[tuple[bool, int, int, int]] = []  # (chosen, line, start, end exclusive)
    for g in program.graphs():
        for n in g.nodes:
            loc = n.loc
            if loc is None or loc.line < 1 or loc.end_line != loc.line:
                continue
            spans.append(((g.name, n.id) in chosen, loc.line, loc.column, loc.end_column))
    out: dict[int, set[int]] = {}
    for is_chosen, line, start, end in spans:
        if is_chosen:
            out.setdefault(line, set()).update(range(start, end))
    for is_chosen, line, start, end in spans:
        inside = any(c and ln == line and s <= start and end <= e and (s, e) != (start, end)
                     for c, ln, s, e in spans)
        if not is_chosen and inside and line in out:
            out[line] -= set(range(start, end))
    return {line: cols for line, cols in out.items() if cols}


@dataclass(frozen=True)
class DiffLine:
    """One line of a diff: ``tag`` is ``" "``, ``"-"``, ``"+"``, ``"@"``
    (a hunk header) or ``"?"`` (carets under the line before it)."""

    tag: str
    text: str
    #: for "?" lines: what the carets mark ("replaced", "synthesized", ...)
    label: str = ""

    def render(self) -> str:
        if self.tag == "@":
            return self.text
        if self.tag == "?":
            return f"?{self.text}  {self.label}".rstrip()
        return f"{self.tag}{self.text}"


def _carets(text: str, columns: set[int]) -> str:
    return "".join("^" if k in columns else " " for k in range(1, len(text) + 1)).rstrip()


def text_diff(
    old: str,
    new: str,
    old_marks: Mapping[int, set[int]] | None = None,
    new_marks: Mapping[int, set[int]] | None = None,
    labels: tuple[str, str] = ("removed", "added"),
    context: int = CONTEXT,
) -> list[DiffLine]:
    """A unified diff of two texts in hunks. Marked lines count as changes
    (their hunks are shown even when the line itself is unchanged), and each
    is followed by a ``?`` line of carets under its marked columns."""
    a, b = old.splitlines(), new.splitlines()
    old_marks, new_marks = old_marks or {}, new_marks or {}
    rows: list[tuple[str, int | None, int | None]] = []  # (tag, old line, new line), 1-based
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            rows += [(" ", i + 1, j + 1) for i, j in zip(range(i1, i2), range(j1, j2))]
        else:
            rows += [("-", i + 1, None) for i in range(i1, i2)]
            rows += [("+", None, j + 1) for j in range(j1, j2)]

    def interesting(row: tuple[str, int | None, int | None]) -> bool:
        tag, i, j = row
        return tag != " " or (i in old_marks) or (j in new_marks)

    keep = [False] * len(rows)
    for k, row in enumerate(rows):
        if interesting(row):
            for m in range(max(0, k - context), min(len(rows), k + context + 1)):
                keep[m] = True
    out: list[DiffLine] = []
    k = 0
    while k < len(rows):
        if not keep[k]:
            k += 1
            continue
        end = k
        while end < len(rows) and keep[end]:
            end += 1
        hunk = rows[k:end]
        out.append(DiffLine("@", _hunk_header(hunk)))
        for tag, i, j in hunk:
            text = a[i - 1] if i is not None else b[j - 1]  # type: ignore[index]
            out.append(DiffLine(tag, text))
            if i is not None and i in old_marks:
                out.append(DiffLine("?", _carets(text, old_marks[i]), labels[0]))
            if j is not None and j in new_marks:
                out.append(DiffLine("?", _carets(text, new_marks[j]), labels[1]))
        k = end
    return out


def _hunk_header(hunk: Sequence[tuple[str, int | None, int | None]]) -> str:
    """``@@ -start,count +start,count @@`` (start 0 for a side with no lines)."""
    olds = [i for _, i, _ in hunk if i is not None]
    news = [j for _, _, j in hunk if j is not None]
    return f"@@ -{olds[0] if olds else 0},{len(olds)} +{news[0] if news else 0},{len(news)} @@"


# -- 3. the region a mutation replaced ---------------------------------------------------------


@dataclass(frozen=True)
class RegionChange:
    """A property-guided mutation as its record tells it: the region of
    ``graph`` (in the parent) that was replaced, its properties before, the
    mutated target, and the properties of the synthesized replacement."""

    graph: str
    nodes: tuple[str, ...]
    bindings: Mapping[str, int]
    before: Mapping[str, Any]
    target: Mapping[str, Any]
    after: Mapping[str, Any]
    replacement: str
    structure: str
    synthesis: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> RegionChange | None:
        """The change a record describes, or None for a record of another
        kind of variation (block duplication, a random edit, ...)."""
        needed = ("graph", "region", "before", "after", "replacement")
        if not all(k in record for k in needed):
            return None
        return cls(
            graph=str(record["graph"]),
            nodes=tuple(record["region"]),
            bindings=dict(record.get("bindings") or {}),
            before=record["before"],
            target=record.get("target") or {},
            after=record["after"],
            replacement=str(record["replacement"]),
            structure=str(record.get("structure", "")),
            synthesis=dict(record.get("synthesis") or {}),
        )


def _shape(s: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, s)) + "]"


def _by_pair(props: Mapping[str, Any], key: str) -> dict[tuple[int, int], Any]:
    return {(e["input_index"], e["output_index"]): e for e in props.get(key, [])}


def render_region(change: RegionChange) -> list[str]:
    """The replaced region, the replacement and a table of the properties
    before the mutation, the mutated target and after synthesis."""
    before, target, after = change.before, change.target, change.after
    bound = ", ".join(f"{k}={v}" for k, v in change.bindings.items())
    where = f"{change.graph}" + (f" (the instance with {bound})" if bound else "")
    shapes = before.get("shapes", {})
    region = before.get("region", {})
    ins = ", ".join(f"{v} {_shape(s)}" for v, s in zip(region.get("inputs", []), shapes.get("inputs", [])))
    outs = ", ".join(f"{v} {_shape(s)}" for v, s in zip(region.get("outputs", []), shapes.get("outputs", [])))
    lines = [f"replaced region of {where}: {', '.join(change.nodes)}", f"  inputs {ins} -> output {outs}"]
    synth = change.synthesis
    how = f"structure {change.structure!r}" if change.structure else "synthesized"
    if synth.get("seconds") is not None:
        how += f", {synth.get('solver_calls', '?')} solver calls, {1e3 * float(synth['seconds']):.0f} ms"
    lines.append(f"synthesized replacement ({how}):")
    lines += ["  " + t for t in change.replacement.rstrip("\n").splitlines()]
    rows: list[tuple[str, str, str, str]] = [("property", "before", "target", "after")]
    bd, td, ad = _by_pair(before, "depth"), _by_pair(target, "depth"), _by_pair(after, "depth")
    for pair, e in bd.items():
        t = td.get(pair)
        a = ad.get(pair)
        rows.append((f"depth {e['input']} -> {e['output']}", str(e["depth"]),
                     f">= {t['depth']}" if t else "-", str(a["depth"]) if a else "-"))
    res_b, res_a = before.get("resources", {}), after.get("resources", {})
    for key in ("params", "flops", "peak_memory"):
        if key in res_b or key in res_a:
            rows.append((key.replace("_", " "), _num(res_b.get(key)), "-", _num(res_a.get(key))))
    widths = [max(len(r[k]) for r in rows) for k in range(4)]
    lines.append("properties (target: the mutated lower bounds synthesis had to meet)")
    lines += ["  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines += _mixing_tables(before, target, after)
    return lines


def _num(v: Any) -> str:
    return "-" if v is None else f"{int(v):,}"


def _mixing_tables(before: Mapping[str, Any], target: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """Each (input, output) pair's mixing matrix before, as the target and
    after, side by side; entries that changed from before are starred."""
    lines: list[str] = []
    bm, tm, am = _by_pair(before, "mixing"), _by_pair(target, "mixing"), _by_pair(after, "mixing")
    for pair, e in bm.items():
        mats = [("before", e), ("target", tm.get(pair)), ("after", am.get(pair))]
        lines.append(f"mixing {e['input']} -> {e['output']} (rows: input axes, columns: output axes; * differs from before)")
        cols = e["columns"]
        width = max(len(c) for c in [*cols, "many*"]) + 1
        label_w = max(len(r) for r in e["rows"])
        names = [name.center(width * len(cols)) for name, m in mats if m is not None]
        lines.append((" " * (label_w + 2) + "   ".join(names)).rstrip())
        lines.append((" " * (label_w + 2) + "   ".join("".join(c.rjust(width) for c in cols)
                                                        for _, m in mats if m is not None)).rstrip())
        for r, row_name in enumerate(e["rows"]):
            cells = []
            for _, m in mats:
                if m is None:
                    continue
                cells.append("".join(
                    (v + ("*" if v != e["matrix"][r][c] else "")).rjust(width) for c, v in enumerate(m["matrix"][r])))
            lines.append(("  " + row_name.ljust(label_w) + "   ".join(cells)).rstrip())
    return lines


# -- 4. a candidate against its parent -------------------------------------------------------------


@dataclass(frozen=True)
class CandidateDiff:
    """A candidate compared with its parent (or another candidate)."""

    candidate: Candidate
    against: Candidate
    #: ``against`` is the candidate's parent: the record describes the change
    is_parent: bool
    change: ProgramChange
    #: the mutation's region, when a property-guided mutation made the candidate
    region: RegionChange | None
    lines: tuple[DiffLine, ...]
    #: nodes of ``against`` marked as replaced / removed
    old_marked: frozenset[NodeRef]
    #: nodes of ``candidate`` marked as synthesized / added
    new_marked: frozenset[NodeRef]
    labels: tuple[str, str]


def diff_candidates(run: RunView, candidate_id: int, against_id: int | None = None) -> CandidateDiff:
    """Candidate ``candidate_id`` against ``against_id`` (default: its parent)."""
    c = run.candidate(candidate_id)
    if against_id is None:
        if c.parent_id is None:
            raise AlphanasError(f"candidate {candidate_id} is the seed: it has no parent",
                                hint="give --against ID to compare it with another candidate")
        against_id = c.parent_id
    other = run.candidate(against_id)
    new, old = run.program(c.id), run.program(other.id)
    is_parent = other.id == c.parent_id
    region = RegionChange.from_record(c.record) if is_parent else None
    hint = str(c.record.get("graph")) if is_parent and c.record.get("graph") else None
    replaced = frozenset((region.graph, n) for n in region.nodes) if region is not None else frozenset()
    change = compare_programs(old, new, hint, replaced)
    if region is not None:
        old_marked = replaced
        labels = ("replaced region", "synthesized region")
    else:  # another kind of variation, or not the parent: what matching found
        old_marked = change.removed
        labels = ("removed", "added") if is_parent else (f"not in #{c.id}", f"not in #{other.id}")
    assert c.program is not None and other.program is not None
    lines = text_diff(other.program, c.program, marked_columns(old, old_marked),
                      marked_columns(new, change.added), labels)
    return CandidateDiff(c, other, is_parent, change, region, tuple(lines), old_marked, change.added, labels)


def _describe(run: RunView, c: Candidate) -> str:
    values = run.values(c)
    metrics = ""
    if values is not None:
        metrics = ", " + ", ".join(f"{o.name} {format_metric(v)}" for o, v in zip(run.objectives, values))
    return f"#{c.id}: generation {c.generation}, {c.operator}{metrics}"


def render_diff(run: RunView, d: CandidateDiff) -> str:
    """The diff as text: the two candidates, the line diff with its marks,
    and what the mutation record says."""
    relation = "its parent" if d.is_parent else "candidate"
    out = [f"candidate #{d.candidate.id} against {relation} #{d.against.id}",
           "  " + _describe(run, d.candidate), "  " + _describe(run, d.against),
           f"--- #{d.against.id}", f"+++ #{d.candidate.id}"]
    out += [line.render() for line in d.lines]
    if not d.lines:
        out.append("(the programs print alike)")
    if d.region is not None:
        out.append("")
        out += render_region(d.region)
    elif d.is_parent and d.candidate.record:
        out.append("")
        out.append(f"{d.candidate.operator}: " + ", ".join(
            f"{k}={v}" for k, v in sorted(d.candidate.record.items()) if not isinstance(v, dict | list)))
    return "\n".join(out) + "\n"


def diff_json(run: RunView, d: CandidateDiff) -> dict[str, Any]:
    """The diff as JSON-able data."""
    def refs(nodes: Iterable[NodeRef]) -> list[dict[str, str]]:
        return [{"graph": g, "node": n} for g, n in sorted(nodes)]

    return {
        "candidate": d.candidate.id,
        "against": d.against.id,
        "against_is_parent": d.is_parent,
        "operator": d.candidate.operator,
        "diff": [line.render() for line in d.lines],
        "marked": {d.labels[0]: refs(d.old_marked), d.labels[1]: refs(d.new_marked)},
        "graph_pairs": dict(d.change.pairs),
        "record": dict(d.candidate.record) if d.is_parent else None,
    }
