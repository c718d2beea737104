"""``alphanas report``: one self-contained HTML file about a run.

The file needs nothing but a browser — no network, no files next to it:
plots are inline SVG drawn here, styles are one ``<style>`` element and the
only script (hovering a candidate anywhere highlights it everywhere) is
inline too. It holds:

- the run's summary (as ``alphanas show``) and its failures;
- a Pareto plot for each pair of objectives (every scored candidate, the
  front highlighted and linked to its section, the seed marked);
- the hypervolume against the number of evaluations;
- the lineage tree of the front: every front member's ancestors back to
  the seed, by generation;
- per front member: its metrics, its lineage, its architecture graph
  (:mod:`alphanas.runs.render`) with the synthesized region highlighted, its
  diff against its parent (:mod:`alphanas.runs.diff`) and its program.
"""

from __future__ import annotations

import html
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from alphanas.evaluation.pareto import Objective
from alphanas.lang import files
from alphanas.lang.errors import AlphanasError
from alphanas.runs.diff import CandidateDiff, DiffLine, diff_candidates, render_region
from alphanas.runs.inspection import RunView, format_metric
from alphanas.runs.render import layout, to_svg
from alphanas.runs.show import front_order
from alphanas.search.store import Candidate

__all__ = ["Scale", "check_output", "nice_ticks", "report_html", "write_report"]

_E = html.escape

#: colours of the plots: every candidate, the front, the seed, lines
OTHER = "#9aa5b1"
FRONT = "#d6246e"
SEED = "#1f6feb"
INK = "#2b2b2b"


# -- axes -----------------------------------------------------------------------------------------------


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2 or 5 times a power of ten apart) in [lo, hi]."""
    if not hi > lo:
        return [lo]
    raw = (hi - lo) / max(1, count)
    step = 10 ** math.floor(math.log10(raw))
    for m in (1, 2, 5, 10):
        if raw <= step * m:
            step *= m
            break
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    k = 0
    while first + k * step <= hi + step * 1e-9:
        ticks.append(round(first + k * step, 12))
        k += 1
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten in [lo, hi], and 2 and 5 times them across few decades."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    steps = (1, 2, 5) if len(decades) <= 3 else (1,)
    return [m * 10.0**d for d in decades for m in steps if lo <= m * 10.0**d <= hi]


@dataclass(frozen=True)
class Scale:
    """Maps values in [lo, hi] to pixels in [start, end], linearly or
    logarithmically."""

    lo: float
    hi: float
    start: float
    end: float
    log: bool = False

    @classmethod
    def fit(cls, values: Sequence[float], start: float, end: float) -> Scale:
        """A scale around the values with 6% room at each end; logarithmic
        when they are all positive and span more than a factor of 30."""
        lo, hi = min(values), max(values)
        if lo > 0 and hi / lo > 30:
            pad = (math.log10(hi) - math.log10(lo)) * 0.06
            return cls(10 ** (math.log10(lo) - pad), 10 ** (math.log10(hi) + pad), start, end, True)
        pad = (hi - lo) * 0.06 if hi > lo else abs(lo) * 0.1 or 1.0
        return cls(lo - pad, hi + pad, start, end)

    def __call__(self, v: float) -> float:
        if self.log:
            t = (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))
        else:
            t = (v - self.lo) / (self.hi - self.lo)
        return self.start + t * (self.end - self.start)

    def ticks(self) -> list[float]:
        return _log_ticks(self.lo, self.hi) if self.log else nice_ticks(self.lo, self.hi)


def _tick_label(v: float) -> str:
    """Short tick text: 600k, 1.5M, 0.25, 1e-05."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e4)):
        if abs(v) >= scale:
            shown = scale if unit != "k" else 1e3
            return f"{v / shown:.4g}{unit}"
    return f"{v:.3g}" if v != 0 and abs(v) < 1e-3 else f"{v:.6g}"


# -- plots --------------------------------------------------------------------------------------------------


_W, _H = 460.0, 330.0
_LEFT, _RIGHT, _TOP, _BOTTOM = 70.0, 18.0, 16.0, 46.0


def _frame(x: Scale, y: Scale, x_label: str, y_label: str) -> list[str]:
    """Axes, grid lines, ticks and labels of a plot."""
    out = [f'<rect x="{_LEFT}" y="{_TOP}" width="{_W - _LEFT - _RIGHT}" height="{_H - _TOP - _BOTTOM}" '
           f'fill="#fbfbfc" stroke="#c9ced6"/>']
    for t in x.ticks():
        px = x(t)
        out.append(f'<line x1="{px:.1f}" y1="{_TOP}" x2="{px:.1f}" y2="{_H - _BOTTOM}" stroke="#eceef1"/>')
        out.append(f'<text x="{px:.1f}" y="{_H - _BOTTOM + 16}" text-anchor="middle" class="tick">{_tick_label(t)}</text>')
    for t in y.ticks():
        py = y(t)
        out.append(f'<line x1="{_LEFT}" y1="{py:.1f}" x2="{_W - _RIGHT}" y2="{py:.1f}" stroke="#eceef1"/>')
        out.append(f'<text x="{_LEFT - 6}" y="{py + 4:.1f}" text-anchor="end" class="tick">{_tick_label(t)}</text>')
    out.append(f'<text x="{(_LEFT + _W - _RIGHT) / 2:.1f}" y="{_H - 8}" text-anchor="middle" class="axis">{_E(x_label)}</text>')
    out.append(f'<text transform="translate(16 {(_TOP + _H - _BOTTOM) / 2:.1f}) rotate(-90)" text-anchor="middle" '
               f'class="axis">{_E(y_label)}</text>')
    return out


def _axis_label(o: Objective) -> str:
    better = "higher" if o.direction == "max" else "lower"
    return f"{o.name} ({better} is better)"


def _tooltip(run: RunView, c: Candidate) -> str:
    values = run.values(c) or ()
    metrics = ", ".join(f"{o.name} {format_metric(v)}" for o, v in zip(run.objectives, values))
    parent = "" if c.parent_id is None else f", parent #{c.parent_id}"
    return f"#{c.id} ({c.operator}, generation {c.generation}{parent}): {metrics}"


def _worse(o: Objective, a: float, b: float) -> float:
    return min(a, b) if o.direction == "max" else max(a, b)


def pareto_plot(run: RunView, i: int, j: int) -> str:
    """Objective ``i`` across, ``j`` up: every scored candidate, the front
    (with its attainment staircase when these are the only two objectives)
    and the seed."""
    ox, oy = run.objectives[i], run.objectives[j]
    scored = run.scored
    values = {c.id: run.values(c) for c in scored}
    x = Scale.fit([values[c.id][i] for c in scored], _LEFT, _W - _RIGHT)  # type: ignore[index]
    y = Scale.fit([values[c.id][j] for c in scored], _H - _BOTTOM, _TOP)  # type: ignore[index]
    front = {c.id for c in run.front}
    out = [f'<svg class="plot pareto" viewBox="0 0 {_W:.0f} {_H:.0f}" role="img" '
           f'aria-label="{_E(ox.name)} against {_E(oy.name)}">', *_frame(x, y, _axis_label(ox), _axis_label(oy))]
    members = sorted((c for c in scored if c.id in front), key=lambda c: values[c.id][i])  # type: ignore[index]
    if len(run.objectives) == 2 and len(members) > 1:
        pts = []
        for a, b in itertools.pairwise(members):
            va, vb = values[a.id], values[b.id]
            corner = (_worse(ox, va[i], vb[i]), _worse(oy, va[j], vb[j]))  # type: ignore[index]
            pts += [(va[i], va[j]), corner]  # type: ignore[index]
        pts.append((values[members[-1].id][i], values[members[-1].id][j]))  # type: ignore[index]
        path = " ".join(f"{x(px):.1f},{y(py):.1f}" for px, py in pts)
        out.append(f'<polyline points="{path}" fill="none" stroke="{FRONT}" stroke-width="1.2" '
                   f'stroke-dasharray="4 3" opacity="0.7"/>')
    # others first, so front members and the seed are drawn on top
    labels: dict[tuple[int, int], list[int]] = {}  # front members drawn at one spot share a label
    for c in sorted(scored, key=lambda c: (c.id in front, c.id == 0)):
        vx, vy = values[c.id][i], values[c.id][j]  # type: ignore[index]
        px, py = x(vx), y(vy)
        tip = f"<title>{_E(_tooltip(run, c))}</title>"
        if c.id in front:
            out.append(f'<a href="#c{c.id}"><circle class="pt front" data-id="{c.id}" cx="{px:.1f}" cy="{py:.1f}" '
                       f'r="5.5" fill="{FRONT}" stroke="#fff" stroke-width="1.2">{tip}</circle></a>')
            labels.setdefault((round(px / 6), round(py / 6)), []).append(c.id)
        else:
            out.append(f'<circle class="pt other" data-id="{c.id}" cx="{px:.1f}" cy="{py:.1f}" r="3.8" '
                       f'fill="{OTHER}" fill-opacity="0.75">{tip}</circle>')
        if c.parent_id is None:
            out.append(f'<rect class="pt seed" data-id="{c.id}" x="{px - 7:.1f}" y="{py - 7:.1f}" width="14" '
                       f'height="14" fill="none" stroke="{SEED}" stroke-width="2">{tip}</rect>')
    for (gx, gy), ids in labels.items():
        text = " ".join(f"#{k}" for k in sorted(ids))
        px, py = gx * 6, gy * 6
        anchor = "end" if px > (_LEFT + _W - _RIGHT) / 2 else "start"
        dx = -8 if anchor == "end" else 8
        out.append(f'<text x="{px + dx:.1f}" y="{py - 7:.1f}" text-anchor="{anchor}" class="ptlabel">{text}</text>')
    out.append("</svg>")
    return "\n".join(out)


def hypervolume_plot(run: RunView) -> str:
    """The front's hypervolume after each evaluation, as a step line."""
    history = run.hypervolume_history()
    out = [f'<svg class="plot hypervolume" viewBox="0 0 {_W:.0f} {_H:.0f}" role="img" '
           'aria-label="hypervolume against evaluations">']
    if not history:
        out.append(f'<text x="{_W / 2}" y="{_H / 2}" text-anchor="middle">nothing evaluated yet</text></svg>')
        return "\n".join(out)
    x = Scale(0.5, len(history) + 0.5, _LEFT, _W - _RIGHT)
    hv = [p.hypervolume for p in history]
    lo, hi = min(hv), max(hv)
    y = Scale.fit([lo, hi], _H - _BOTTOM, _TOP) if hi > lo else Scale(lo - 0.05, hi + 0.05, _H - _BOTTOM, _TOP)
    out += _frame(x, y, "evaluations", "hypervolume of the front")
    pts: list[tuple[float, float]] = []
    for k, p in enumerate(history):
        if k:
            pts.append((x(p.evaluations), y(history[k - 1].hypervolume)))
        pts.append((x(p.evaluations), y(p.hypervolume)))
    path = " ".join(f"{px:.1f},{py:.1f}" for px, py in pts)
    out.append(f'<polyline points="{path}" fill="none" stroke="{SEED}" stroke-width="2"/>')
    for k, p in enumerate(history):
        if k == 0 or p.hypervolume != history[k - 1].hypervolume:
            tip = f"<title>evaluation {p.evaluations}: #{p.candidate_id}, hypervolume {p.hypervolume:.4f}</title>"
            out.append(f'<circle class="pt hv" data-id="{p.candidate_id}" cx="{x(p.evaluations):.1f}" '
                       f'cy="{y(p.hypervolume):.1f}" r="4" fill="{SEED}">{tip}</circle>')
    out.append("</svg>")
    return "\n".join(out)


def lineage_tree(run: RunView) -> str:
    """The ancestors of every front member back to the seed, one column per
    generation; front members are filled and link to their sections."""
    front = {c.id for c in run.front}
    members = {c.id: c for f in run.front for c in run.lineage(f.id)}
    if not members:
        return "<p>No front yet.</p>"
    children: dict[int | None, list[int]] = {}
    for c in sorted(members.values(), key=lambda c: c.id):
        children.setdefault(c.parent_id, []).append(c.id)
    rows: dict[int, float] = {}
    next_row = itertools.count()

    def place(cid: int) -> float:
        """Leaves take the next row; a parent sits at its first child's."""
        kids = children.get(cid, [])
        if not kids:
            rows[cid] = float(next(next_row))
        else:
            rows[cid] = min(place(k) for k in kids)
        return rows[cid]

    for root in children.get(None, []):
        place(root)
    col_w, row_h, left, top = 140.0, 40.0, 40.0, 40.0
    generations = max(c.generation for c in members.values())
    width = left + col_w * generations + 160
    height = top + row_h * (max(rows.values()) + 1) + 10

    def at(cid: int) -> tuple[float, float]:
        return left + col_w * members[cid].generation, top + row_h * rows[cid]

    out = [f'<svg class="lineage" viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
           'role="img" aria-label="lineage of the front">']
    for g in range(generations + 1):
        out.append(f'<text x="{left + col_w * g:.0f}" y="16" text-anchor="middle" class="tick">generation {g}</text>')
    for c in members.values():
        if c.parent_id is not None:
            (x1, y1), (x2, y2) = at(c.parent_id), at(c.id)
            mid = (x1 + x2) / 2
            out.append(f'<polyline points="{x1:.1f},{y1:.1f} {mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2:.1f},{y2:.1f}" '
                       f'fill="none" stroke="#b8bec7" stroke-width="1.5"/>')
    for c in members.values():
        px, py = at(c.id)
        tip = f"<title>{_E(_tooltip(run, c))}</title>"
        if c.id in front:
            out.append(f'<a href="#c{c.id}"><circle class="pt front" data-id="{c.id}" cx="{px:.1f}" cy="{py:.1f}" '
                       f'r="7" fill="{FRONT}">{tip}</circle></a>')
        else:
            color = SEED if c.parent_id is None else "#ffffff"
            out.append(f'<circle class="pt" data-id="{c.id}" cx="{px:.1f}" cy="{py:.1f}" r="6" fill="{color}" '
                       f'stroke="{SEED if c.parent_id is None else "#6b7785"}" stroke-width="1.5">{tip}</circle>')
        label = f"#{c.id}" + (" seed" if c.parent_id is None else "")
        values = " · ".join(format_metric(v) for v in run.values(c) or ())
        out.append(f'<text x="{px + 10:.1f}" y="{py - 4:.1f}" class="ptlabel">{_E(label)}</text>')
        out.append(f'<text x="{px + 10:.1f}" y="{py + 11:.1f}" class="tick">{_E(values)}</text>')
    out.append("</svg>")
    return "\n".join(out)


# -- per front member ---------------------------------------------------------------------------------------


def _diff_html(d: CandidateDiff) -> str:
    """The line diff with the marked characters wrapped in ``<mark>``: the
    ``?`` lines of the text form become highlights of the line above."""
    classes = {"-": "del", "+": "ins", " ": "ctx", "@": "hunk"}
    lines = list(d.lines)
    out = []
    for k, line in enumerate(lines):
        if line.tag == "?":
            continue
        marks = [m for m in itertools.takewhile(lambda m: m.tag == "?", lines[k + 1:])]
        text = _marked(line, marks, d.labels) if marks else _E(line.text)
        prefix = "" if line.tag == "@" else _E(line.tag)
        out.append(f'<span class="{classes[line.tag]}">{prefix}{text}</span>')
    return "\n".join(out)


def _marked(line: DiffLine, marks: Sequence[DiffLine], labels: tuple[str, str]) -> str:
    """``line.text`` with the columns under the carets of ``marks`` wrapped
    in ``<mark>`` (class ``old`` for the first label, ``new`` for the second)."""
    kind = [""] * len(line.text)
    for m in marks:
        cls = "old" if m.label == labels[0] else "new"
        for col, ch in enumerate(m.text):
            if ch == "^" and col < len(kind):
                kind[col] = cls
    out = []
    for cls, group in itertools.groupby(zip(kind, line.text), key=lambda t: t[0]):
        chunk = _E("".join(ch for _, ch in group))
        out.append(f'<mark class="{cls}">{chunk}</mark>' if cls else chunk)
    return "".join(out)


def _metrics_table(run: RunView, c: Candidate) -> str:
    names = [o.name for o in run.objectives] + sorted(k for k in c.metrics if k not in {o.name for o in run.objectives})
    cells = []
    for name in names:
        v = c.metrics.get(name)
        shown = format_metric(v) if isinstance(v, int | float) and not isinstance(v, bool) else _E(str(v))
        cls = ' class="objective"' if name in {o.name for o in run.objectives} else ""
        cells.append(f"<tr{cls}><th>{_E(name)}</th><td>{shown}</td></tr>")
    return '<table class="metrics">' + "".join(cells) + "</table>"


def _lineage_chain(run: RunView, c: Candidate, front: set[int]) -> str:
    steps = []
    for a in run.lineage(c.id):
        values = run.values(a) or ()
        metrics = ", ".join(f"{o.name} {format_metric(v)}" for o, v in zip(run.objectives, values))
        name = f"#{a.id}"
        link = f'<a href="#c{a.id}">{name}</a>' if a.id in front and a.id != c.id else f"<b>{name}</b>"
        steps.append(f'<li data-id="{a.id}">{link} <span class="op">{_E(a.operator)}</span> '
                     f'<span class="vals">{_E(metrics)}</span></li>')
    return '<ol class="chain">' + "".join(steps) + "</ol>"


def member_section(run: RunView, c: Candidate, front: set[int]) -> str:
    """A front member: metrics, lineage, graph, diff and program."""
    values = run.values(c) or ()
    heading = ", ".join(f"{o.name} {format_metric(v)}" for o, v in zip(run.objectives, values))
    diff = diff_candidates(run, c.id) if c.parent_id is not None else None
    highlight = diff.new_marked if diff is not None else frozenset()
    scene = layout(run.program(c.id), highlight, highlight_label=diff.labels[1] if diff is not None else "")
    if c.parent_id is None:
        parent = "the seed program"
    elif c.parent_id in front:
        parent = f'a child of <a href="#c{c.parent_id}">#{c.parent_id}</a>'
    else:
        parent = f"a child of #{c.parent_id}"
    parts = [
        f'<section class="member" id="c{c.id}" data-id="{c.id}">',
        f"<h3>#{c.id} <small>{_E(heading)}</small></h3>",
        f"<p>{parent}, generation {c.generation}, made by <code>{_E(c.operator)}</code></p>",
        '<div class="cols">', _metrics_table(run, c),
        f'<div><h4>lineage</h4>{_lineage_chain(run, c, front)}</div></div>',
        f'<details open><summary>architecture graph</summary><div class="graph">{to_svg(scene)}</div></details>',
    ]
    if diff is not None:
        region = "\n".join(render_region(diff.region)) if diff.region is not None else ""
        legend = (f'<p class="legend"><mark class="old">{_E(diff.labels[0])}</mark> '
                  f'<mark class="new">{_E(diff.labels[1])}</mark></p>')
        parts.append(f"<details open><summary>diff against its parent #{c.parent_id}</summary>{legend}"
                     f'<pre class="diff">{_diff_html(diff)}</pre>'
                     + (f'<pre class="region">{_E(region)}</pre>' if region else "") + "</details>")
    parts.append(f'<details><summary>program</summary><pre class="program">{_E(c.program or "")}</pre></details>')
    parts.append("</section>")
    return "\n".join(parts)


# -- the page -----------------------------------------------------------------------------------------------------


_CSS = """
body { font: 14px/1.45 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #2b2b2b;
       margin: 0 auto; max-width: 1280px; padding: 18px 28px 60px; background: #ffffff; }
h1 { font-size: 22px; margin: 4px 0 2px; } h2 { font-size: 18px; margin: 28px 0 8px;
  border-bottom: 1px solid #e3e6ea; padding-bottom: 4px; } h3 { font-size: 16px; margin: 0 0 4px; }
h3 small { font-weight: normal; color: #555; } h4 { margin: 0 0 4px; font-size: 13px; color: #555; }
code, pre, .tick, .ptlabel { font-family: ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace; }
pre { background: #f6f8fa; padding: 10px 12px; overflow: auto; font-size: 12.5px; border-radius: 6px; }
table { border-collapse: collapse; font-size: 13px; } th, td { padding: 3px 10px; text-align: left; }
table.grid th { background: #f1f3f5; } table.grid td, table.grid th { border-bottom: 1px solid #e6e8eb; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.plots { display: grid; grid-template-columns: repeat(auto-fill, minmax(430px, 1fr)); gap: 14px; }
.plots figure { margin: 0; border: 1px solid #e3e6ea; border-radius: 8px; padding: 8px; }
.plots figcaption { font-size: 13px; color: #555; margin: 0 0 4px 6px; }
svg.plot { width: 100%; height: auto; display: block; }
svg .tick { font-size: 10.5px; fill: #555; } svg .axis { font-size: 12px; fill: #333; }
svg .ptlabel { font-size: 10.5px; fill: #333; pointer-events: none; }
svg .pt { cursor: pointer; } svg .pt.hot { stroke: #111 !important; stroke-width: 2.5 !important; }
.scroll { overflow: auto; border: 1px solid #e3e6ea; border-radius: 8px; padding: 6px; }
.graph { overflow: auto; max-height: 760px; border: 1px solid #e3e6ea; border-radius: 6px; }
section.member { border: 1px solid #e3e6ea; border-radius: 10px; padding: 14px 18px; margin: 16px 0; }
section.member.hot { box-shadow: 0 0 0 3px #ffd6e7; }
.cols { display: flex; gap: 28px; flex-wrap: wrap; align-items: flex-start; margin: 8px 0; }
ol.chain { margin: 0; padding-left: 20px; font-size: 13px; } ol.chain .op { color: #555; }
ol.chain .vals { color: #777; } ol.chain li.hot { background: #ffd6e7; }
tr.objective th { color: #d6246e; } summary { cursor: pointer; font-weight: 600; margin: 8px 0 4px; }
pre.diff .del { color: #a40e26; background: #ffeef0; }
pre.diff .ins { color: #116329; background: #e6ffec; } pre.diff .hunk { color: #6f42c1; }
mark.old { background: #ffc9a8; } mark.new { background: #ffb3d1; outline: 1px solid #d6246e; }
p.legend { margin: 2px 0; font-size: 12px; } .muted { color: #666; }
"""

_SCRIPT = """
(function () {
  // hovering a candidate (a point, a lineage node, a section) lights it up everywhere
  function light(id, on) {
    document.querySelectorAll('[data-id="' + id + '"]').forEach(function (el) {
      el.classList.toggle('hot', on);
    });
  }
  document.querySelectorAll('[data-id]').forEach(function (el) {
    el.addEventListener('mouseenter', function () { light(el.dataset.id, true); });
    el.addEventListener('mouseleave', function () { light(el.dataset.id, false); });
  });
  // where each plot landed on the page, for headless checks of a screenshot
  document.querySelectorAll('svg.plot').forEach(function (el) {
    var r = el.getBoundingClientRect();
    el.dataset.box = [r.left + window.scrollX, r.top + window.scrollY, r.width, r.height]
      .map(Math.round).join(',');
  });
  document.body.dataset.ready = 'yes';
})();
"""


def _summary(run: RunView) -> str:
    counts = run.counts()
    objectives = ", ".join(f"{_E(o.name)} ({o.direction})" for o in run.objectives)
    rows = [
        ("seed program", _E(str(run.setting("seed_program", default="?")))),
        ("variation / selection", f"{_E(str(run.setting('strategy', 'variation', default='?')))} / "
                                  f"{_E(str(run.setting('strategy', 'selection', default='?')))}"),
        ("evaluator", _E(str(run.setting("evaluator", "kind", default="?")))),
        ("objectives", objectives),
        ("candidates", f"{counts['candidates']} ({max(0, counts['candidates'] - 1)} children and the seed)"),
        ("evaluated", f"{counts['evaluated']}: {counts['ok']} ok, {counts['failed']} failed"),
        ("could not be made", str(counts["variation_failed"])),
        ("still running", str(counts["running"])),
    ]
    table = '<table class="summary">' + "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in rows) + "</table>"
    failures = run.failures()
    if failures:
        body = "".join(
            f'<tr><td>{g.phase}</td><td class="num">{g.count}</td><td>{_E(g.example if g.count == 1 else g.pattern)}</td>'
            f"<td>{_E(', '.join(f'#{i}' for i in g.ids[:12]))}{' …' if g.count > 12 else ''}</td></tr>"
            for g in failures)
        table += ('<h4 style="margin-top:10px">failures</h4><table class="grid failures"><tr><th>phase</th>'
                  f"<th>count</th><th>reason</th><th>candidates</th></tr>{body}</table>")
    else:
        table += '<p class="muted">No candidate failed.</p>'
    return table


def _front_table(run: RunView, members: Sequence[Candidate]) -> str:
    head = "".join(f"<th>{_E(o.name)}</th>" for o in run.objectives)
    rows = []
    for c in members:
        values = "".join(f'<td class="num">{format_metric(v)}</td>' for v in run.values(c) or ())
        parent = "-" if c.parent_id is None else f"#{c.parent_id}"
        rows.append(f'<tr data-id="{c.id}"><td><a href="#c{c.id}">#{c.id}</a></td>{values}<td>{parent}</td>'
                    f'<td class="num">{c.generation}</td><td>{_E(c.operator)}</td></tr>')
    return (f'<table class="grid front"><tr><th>id</th>{head}<th>parent</th><th>generation</th>'
            f"<th>operator</th></tr>{''.join(rows)}</table>")


def report_html(run: RunView, progress: Callable[[str], None] | None = None) -> str:
    """The whole report page."""
    members = front_order(run)
    front = {c.id for c in members}
    pairs = list(itertools.combinations(range(len(run.objectives)), 2))
    figures = []
    for i, j in pairs:
        ox, oy = run.objectives[i], run.objectives[j]
        figures.append(f"<figure><figcaption>{_E(oy.name)} against {_E(ox.name)}</figcaption>"
                       f"{pareto_plot(run, i, j) if run.scored else '<p>nothing scored yet</p>'}</figure>")
    figures.append(f"<figure><figcaption>hypervolume against evaluations</figcaption>{hypervolume_plot(run)}</figure>")
    history = run.hypervolume_history()
    sections = []
    for c in members:
        if progress is not None:
            progress(f"#{c.id}")
        sections.append(member_section(run, c, front))
    title = f"alphanas run {run.run_dir.name}"
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_E(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_E(title)}</h1>",
        f'<p class="muted">{_E(str(run.run_dir))} — Pareto front of {len(members)} candidates, hypervolume '
        f"{history[-1].hypervolume if history else 0.0:.4f}</p>",
        _summary(run),
        "<h2>Pareto front</h2>",
        f'<div class="plots">{"".join(figures)}</div>',
        _front_table(run, members) if members else "<p>No front yet.</p>",
        "<h2>Lineage of the front</h2>",
        f'<div class="scroll">{lineage_tree(run)}</div>',
        "<h2>Front members</h2>",
        *sections,
        f"<script>{_SCRIPT}</script>",
        "</body></html>",
    ]) + "\n"


def check_output(path: str | Path) -> Path:
    """The report's path, if it is an HTML file in an existing folder."""
    p = Path(path)
    if p.suffix.lower() not in (".html", ".htm"):
        raise AlphanasError(f"cannot write {p}: the report is an .html file", hint="give -o FILE.html")
    return files.check_output(p, "report", error=AlphanasError)


def write_report(run: RunView, path: str | Path) -> Path:
    """Write the report of ``run`` to ``path`` (an .html file)."""
    p = check_output(path)
    return files.write_text(p, report_html(run), "report", error=AlphanasError)
