"""Architecture graphs as pictures: every op of a program in a column,
block instances boxed around their ops, a region highlighted.

Three steps:

1. :func:`flatten` expands the program's block calls (recursively, as
   :func:`alphanas.lang.analysis.analyze` instantiates them) into one list of
   op applications in statement order. A block's ops are consecutive in
   that order, so each block instance becomes a box around a run of rows.
2. :func:`layout` places the rows top to bottom and turns everything into a
   :class:`Scene` of plain shapes: one box per op (coloured by what the op
   library says it is — it learns weights, is nonlinear, merges inputs, ...
   — never by its name), a labelled frame per block instance, and the data
   flow as arrows: straight down to the next row, or around the right side
   in a lane of its own when it skips rows (residual connections).
3. :func:`to_svg` writes a scene as SVG text; :func:`write_png` draws the
   same scene with matplotlib (which has no SVG reader, hence the scene in
   between: both outputs come from one layout).
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from alphanas import ops
from alphanas.lang import files
from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.lang.printer import format_value

__all__ = [
    "FORMATS",
    "KINDS",
    "FlatNode",
    "Group",
    "Scene",
    "check_output",
    "flatten",
    "layout",
    "node_kind",
    "to_svg",
    "write_image",
    "write_png",
]

#: the file suffixes :func:`write_image` writes
FORMATS = (".svg", ".png")

#: a node of a program: (graph name, node id)
NodeRef = tuple[str, str]


@dataclass(frozen=True)
class Style:
    """How the ops of one kind are drawn, and what the legend calls them."""

    fill: str
    stroke: str
    legend: str
    dashed: bool = False


#: node kinds (see :func:`node_kind`) and their styles
KINDS: Mapping[str, Style] = {
    "io": Style("#ffffff", "#333333", "input / output"),
    "weights": Style("#dbe8fb", "#3b6fb6", "learns weights"),
    "nonlinear": Style("#fde3c8", "#c46a12", "nonlinear"),
    "merge": Style("#d9f2dd", "#2f8f46", "merges inputs"),
    "linear": Style("#eceff3", "#6b7785", "linear, no weights"),
    "neutral": Style("#f7f7f7", "#9a9a9a", "neutral (no effect on depth)", dashed=True),
}
HIGHLIGHT = Style("#ffd6e7", "#d6246e", "synthesized region")


def node_kind(op: ops.Op, params: int) -> str:
    """The drawing kind of an op application, from the op library's own
    description of the op (its arity and depth kind) and its parameter count."""
    if op.arity is None:
        return "merge"
    if op.depth_kind == "neutral":
        return "neutral"
    if params > 0:
        return "weights"
    if op.depth_kind == "nonlinear":
        return "nonlinear"
    return "linear"


# -- 1. flattening ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class FlatNode:
    """One row of the drawing: an op application (or a model input or the
    output) with the keys of the rows it reads."""

    key: str
    #: the graph the op is written in and its node id there (None for io rows)
    ref: NodeRef | None
    title: str
    detail: str
    tooltip: str
    kind: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class Group:
    """A block instance: a frame around rows ``first..last``."""

    label: str
    first: int
    last: int
    depth: int
    #: the call: the graph it is written in and its node id there, and its path
    ref: NodeRef | None = None
    path: str = ""


def _arguments(op: ops.Op, attrs: Mapping[str, Any]) -> str:
    """The op's arguments that differ from their defaults, as the printer
    writes them (concrete values: the instance's, not the block's symbols)."""
    parts = []
    for p in op.params:
        v = attrs.get(p.name, p.default)
        if not p.required and type(v) is type(p.default) and v == p.default:
            continue
        try:
            text = format_value(v)
        except TypeError:  # a value the language has no literal for (None)
            text = str(v)
        parts.append(text if p.required else f"{p.name}={text}")
    return ", ".join(parts)


def _shape(s: Sequence[int]) -> str:
    return "[" + ", ".join(map(str, s)) + "]"


def _count(n: int) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g}{unit}"
    return str(n)


def _clip(text: str, width: int = 44) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def flatten(program: Program, instance: Instance | None = None) -> tuple[list[FlatNode], list[Group]]:
    """The rows of the drawing and the block frames (see the module doc)."""
    root = instance or analyze(program)
    rows: list[FlatNode] = []
    groups: list[Group] = []
    for i in program.model.inputs:
        rows.append(FlatNode(i.id, None, f"input {i.id}", _shape(root.shapes[i.id]), f"input {i.id}", "io", ()))

    def visit(inst: Instance, env: dict[str, str], prefix: str, depth: int) -> str:
        for n in inst.graph.nodes:
            ins = tuple(env[i] for i in n.inputs)
            if n.id in inst.calls:
                sub = inst.calls[n.id]
                first = len(rows)
                env[n.id] = visit(sub, dict(zip(sub.graph.input_ids, ins)), f"{prefix}{n.id}.", depth + 1)
                if len(rows) > first:
                    bound = ", ".join(f"{k}={v}" for k, v in sub.bindings.items())
                    groups.append(Group(f"{prefix}{n.id} = {n.op}({bound})", first, len(rows) - 1, depth + 1,
                                        (inst.graph.name, n.id), f"{prefix}{n.id}"))
                continue
            op = ops.lookup(n.op)
            assert op is not None, f"{n.op} is neither an op nor a called block"
            key = prefix + n.id
            params = int(inst.costs[n.id].params)
            args = _arguments(op, inst.attrs[n.id])
            shape = _shape(inst.shapes[n.id])
            detail = shape + (f"  {_count(params)} params" if params else "")
            tooltip = f"{key} = {n.op}({args})\nshape {shape}, {params:,} parameters, {int(inst.costs[n.id].flops):,} FLOPs"
            rows.append(FlatNode(key, (inst.graph.name, n.id), _clip(f"{n.op} {args}".rstrip()), detail, tooltip,
                                 node_kind(op, params), ins))
            env[n.id] = key
        return env[inst.graph.output]

    out = visit(root, {i.id: i.id for i in program.model.inputs}, "", 0)
    rows.append(FlatNode("<output>", None, "output", _shape(root.output_shape), "the model's output", "io", (out,)))
    return rows, groups


# -- 2. the scene ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str
    stroke: str
    stroke_width: float = 1.0
    radius: float = 0.0
    dashed: bool = False
    tooltip: str = ""
    css_class: str = ""


@dataclass(frozen=True)
class Line:
    """A polyline."""

    points: tuple[tuple[float, float], ...]
    stroke: str
    width: float = 1.2


@dataclass(frozen=True)
class Polygon:
    points: tuple[tuple[float, float], ...]
    fill: str


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = 12.0
    fill: str = "#222222"
    anchor: str = "start"
    bold: bool = False


Drawable = Rect | Line | Polygon | Text


@dataclass(frozen=True)
class Scene:
    """What to draw, in pixels, y pointing down."""

    width: float
    height: float
    shapes: tuple[Drawable, ...]
    title: str = ""
    #: the keys of the highlighted rows (for callers and tests)
    highlighted: tuple[str, ...] = field(default=())


#: monospace advance per pixel of font size (DejaVu Sans Mono and most others)
_ADVANCE = 0.61
_MARGIN = 16.0
_BOX_H = 38.0
_GAP = 16.0
_PAD = 10.0  # a frame's inset per nesting level
_LABEL_H = 28.0  # the frame's label, then room for an arrow head
_LANE = 12.0
_EDGE = "#555555"


def _text_width(text: str, size: float) -> float:
    return len(text) * size * _ADVANCE


def _arrow_head(tip: tuple[float, float], direction: str) -> Polygon:
    x, y = tip
    if direction == "down":
        pts = ((x, y), (x - 4.5, y - 8), (x + 4.5, y - 8))
    else:  # pointing left, into a box's right side
        pts = ((x, y), (x + 8, y - 4.5), (x + 8, y + 4.5))
    return Polygon(pts, _EDGE)


def _lanes(spans: Sequence[tuple[int, int]]) -> list[int]:
    """A lane for each (first row, last row) span such that overlapping
    spans never share one (greedy interval colouring, fewest lanes)."""
    order = sorted(range(len(spans)), key=lambda k: spans[k])
    ends: list[int] = []  # per lane, the last row it is busy to
    lane = [0] * len(spans)
    for k in order:
        start, end = spans[k]
        free = next((i for i, e in enumerate(ends) if e < start), None)
        if free is None:
            ends.append(end)
            free = len(ends) - 1
        ends[free] = end
        lane[k] = free
    return lane


def layout(program: Program, highlight: Iterable[NodeRef] = (), title: str = "",
           instance: Instance | None = None, highlight_label: str = HIGHLIGHT.legend) -> Scene:
    """The program's drawing (see the module doc). The ops of ``highlight``
    — (graph, node id) pairs, so every instance of a block shows them — are
    highlighted, and so are the frames of block calls among them (a
    duplicated block); the legend calls them ``highlight_label``."""
    rows, groups = flatten(program, instance)
    marked = set(highlight)
    depth = max((g.depth for g in groups), default=0)
    longest_label = max((_text_width(g.label, 11) + 2 * _PAD for g in groups), default=0.0)
    box_w = max(170.0, *(max(_text_width(r.title, 12), _text_width(r.detail, 11)) + 20 for r in rows),
                longest_label - 2 * _PAD)
    x0 = _MARGIN + depth * _PAD
    right = x0 + box_w + depth * _PAD
    index = {row.key: k for k, row in enumerate(rows)}
    # skip edges, one lane per source row, from it to its farthest reader
    skips: dict[int, list[int]] = {}
    for k, row in enumerate(rows):
        for i in row.inputs:
            if index[i] != k - 1:
                skips.setdefault(index[i], []).append(k)
    sources = sorted(skips)
    lanes = _lanes([(s, max(skips[s])) for s in sources])
    width = right + 14.0 + (max(lanes) + 1) * _LANE if lanes else right
    width = max(width + _MARGIN, 360.0, _text_width(title, 14) * 1.05 + 2 * _MARGIN)
    shapes: list[Drawable] = []
    y = _MARGIN
    if title:
        shapes.append(Text(_MARGIN, y + 12, title, 14, bold=True))
        y += 24.0
    legend, y = _legend(_MARGIN, y + 10, width - _MARGIN, highlight_label if marked else None)
    shapes += legend
    y += 8.0
    starts: dict[int, list[Group]] = {}
    ends: dict[int, list[Group]] = {}
    for g in sorted(groups, key=lambda g: g.depth):
        starts.setdefault(g.first, []).append(g)
        ends.setdefault(g.last, []).append(g)
    row_y: list[float] = []
    frame_top: dict[int, float] = {}
    frame_bottom: dict[int, float] = {}
    for r in range(len(rows)):
        for g in starts.get(r, []):
            frame_top[id(g)] = y
            y += _LABEL_H
        row_y.append(y)
        y += _BOX_H
        for g in sorted(ends.get(r, []), key=lambda g: -g.depth):
            y += 6.0
            frame_bottom[id(g)] = y
        y += _GAP
    labels: list[Drawable] = []
    highlighted = []
    for g in sorted(groups, key=lambda g: g.depth):
        inset = (depth - g.depth + 1) * _PAD
        y_top, y_bottom = frame_top[id(g)], frame_bottom[id(g)]
        hot = g.ref in marked  # a block call the change added (a duplicated block)
        if hot:
            highlighted.append(g.path)
        shapes.append(Rect(x0 - inset, y_top, box_w + 2 * inset, y_bottom - y_top, "none",
                           HIGHLIGHT.stroke if hot else "#8c8c8c", 2.5 if hot else 1.0, 6.0,
                           css_class="block highlighted" if hot else "block"))
        # on a white ground, drawn over the arrow that enters the frame
        labels.append(Rect(x0 - inset + 3, y_top + 2, _text_width(g.label, 11) + 6, 14, "#ffffff", "none", 0))
        labels.append(Text(x0 - inset + 6, y_top + 13, g.label, 11, "#555555"))
    cx = x0 + box_w / 2
    for k, row in enumerate(rows):
        for i in row.inputs:
            if index[i] == k - 1:
                start = (cx, row_y[k - 1] + _BOX_H)
                end = (cx, row_y[k])
                shapes.append(Line((start, end), _EDGE))
                shapes.append(_arrow_head(end, "down"))
    for s, lane in zip(sources, lanes):
        lane_x = right + 14.0 + lane * _LANE
        ys = row_y[s] + _BOX_H / 2
        last = max(skips[s])
        shapes.append(Line(((x0 + box_w, ys), (lane_x, ys), (lane_x, row_y[last] + _BOX_H / 2 + 6)), _EDGE))
        for k in skips[s]:
            yk = row_y[k] + _BOX_H / 2 + 6  # below the middle, clear of a straight arrow's head
            shapes.append(Line(((lane_x, yk), (x0 + box_w + 1, yk)), _EDGE))
            shapes.append(_arrow_head((x0 + box_w + 1, yk), "left"))
    shapes += labels
    for k, row in enumerate(rows):
        style = KINDS[row.kind]
        hot = row.ref is not None and row.ref in marked
        if hot:
            highlighted.append(row.key)
            shapes.append(Rect(x0 - 4, row_y[k] - 4, box_w + 8, _BOX_H + 8, HIGHLIGHT.fill, "none", 0, 8.0))
        shapes.append(Rect(x0, row_y[k], box_w, _BOX_H, style.fill, HIGHLIGHT.stroke if hot else style.stroke,
                           2.5 if hot else 1.0, 5.0, style.dashed, row.tooltip,
                           "node highlighted" if hot else "node"))
        shapes.append(Text(x0 + 8, row_y[k] + 15, row.title, 12, bold=True))
        shapes.append(Text(x0 + 8, row_y[k] + 30, row.detail, 11, "#555555"))
    return Scene(width, y - _GAP + _MARGIN, tuple(shapes), title, tuple(highlighted))


def _legend(x: float, y: float, right: float, highlight: str | None) -> tuple[list[Drawable], float]:
    """Swatches of the node kinds (and of the highlight when there is one),
    wrapped to lines that end before ``right``; the shapes and the y below them."""
    shapes: list[Drawable] = []
    entries = [*KINDS.values(), *([replace(HIGHLIGHT, legend=highlight)] if highlight else [])]
    left = x
    for style in entries:
        w = 16 + _text_width(style.legend, 10.5) + 14
        if x > left and x + w > right:
            x, y = left, y + 18
        stroke_w = 2.5 if style.stroke == HIGHLIGHT.stroke else 1.0
        shapes.append(Rect(x, y - 9, 12, 12, style.fill, style.stroke, stroke_w, 2.0, style.dashed))
        shapes.append(Text(x + 16, y + 1, style.legend, 10.5, "#444444"))
        x += w
    return shapes, y + 12


# -- 3. output ------------------------------------------------------------------------------------------------


_FONT = "ui-monospace, 'DejaVu Sans Mono', Menlo, Consolas, monospace"


def _points(points: Iterable[tuple[float, float]]) -> str:
    return " ".join(f"{x:.1f},{y:.1f}" for x, y in points)


def to_svg(scene: Scene, css_class: str = "arch") -> str:
    """The scene as a standalone ``<svg>`` element (also valid inline in HTML)."""
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="{e(css_class)}" width="{scene.width:.0f}" '
           f'height="{scene.height:.0f}" viewBox="0 0 {scene.width:.0f} {scene.height:.0f}" '
           f'font-family="{e(_FONT)}">']
    if scene.title:
        out.append(f"<title>{e(scene.title)}</title>")
    out.append(f'<rect width="{scene.width:.0f}" height="{scene.height:.0f}" fill="#ffffff"/>')
    for s in scene.shapes:
        if isinstance(s, Rect):
            attrs = (f'x="{s.x:.1f}" y="{s.y:.1f}" width="{s.w:.1f}" height="{s.h:.1f}" rx="{s.radius:.1f}" '
                     f'fill="{s.fill}" stroke="{s.stroke}" stroke-width="{s.stroke_width}"')
            if s.dashed:
                attrs += ' stroke-dasharray="4 3"'
            if s.css_class:
                attrs += f' class="{e(s.css_class)}"'
            tip = f"<title>{e(s.tooltip)}</title>" if s.tooltip else ""
            out.append(f"<rect {attrs}>{tip}</rect>" if tip else f"<rect {attrs}/>")
        elif isinstance(s, Line):
            out.append(f'<polyline points="{_points(s.points)}" fill="none" stroke="{s.stroke}" '
                       f'stroke-width="{s.width}"/>')
        elif isinstance(s, Polygon):
            out.append(f'<polygon points="{_points(s.points)}" fill="{s.fill}"/>')
        else:
            weight = ' font-weight="bold"' if s.bold else ""
            out.append(f'<text x="{s.x:.1f}" y="{s.y:.1f}" font-size="{s.size}" fill="{s.fill}" '
                       f'text-anchor="{s.anchor}" pointer-events="none"{weight}>{e(s.text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_png(scene: Scene, path: str | Path, scale: float = 2.0) -> None:
    """Draw the scene with matplotlib's Agg canvas (no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyBboxPatch
    from matplotlib.patches import Polygon as MplPolygon

    # keep huge graphs within what an image viewer opens comfortably
    scale = min(scale, 30000 / max(scene.height, 1.0))
    dpi = 100.0 * scale
    fig = Figure(figsize=(scene.width / 100.0, scene.height / 100.0), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, scene.width)
    ax.set_ylim(scene.height, 0)
    ax.axis("off")
    pt = 72.0 / 100.0  # one scene pixel in points at 100 dpi
    # matplotlib draws by kind (patches, then lines, then text) unless told
    # otherwise: z-order by position keeps the scene's painter's order
    for z, s in enumerate(scene.shapes):
        if isinstance(s, Rect):
            ax.add_patch(FancyBboxPatch(
                (s.x, s.y), s.w, s.h, boxstyle=f"round,pad=0,rounding_size={s.radius}",
                facecolor="none" if s.fill == "none" else s.fill,
                edgecolor="none" if s.stroke == "none" or s.stroke_width == 0 else s.stroke,
                linewidth=s.stroke_width * pt, linestyle=(0, (4, 3)) if s.dashed else "solid", zorder=z))
        elif isinstance(s, Line):
            xs, ys = zip(*s.points)
            ax.plot(xs, ys, color=s.stroke, linewidth=s.width * pt, solid_capstyle="butt", zorder=z)
        elif isinstance(s, Polygon):
            ax.add_patch(MplPolygon(s.points, closed=True, facecolor=s.fill, edgecolor="none", zorder=z))
        else:
            ha = {"start": "left", "middle": "center", "end": "right"}[s.anchor]
            ax.text(s.x, s.y, s.text, fontsize=s.size * pt, color=s.fill, ha=ha, va="baseline",
                    family="monospace", fontweight="bold" if s.bold else "normal", zorder=z)
    fig.savefig(str(path), dpi=dpi, facecolor="white")


def check_output(path: str | Path) -> Path:
    """The output path if its suffix is one :func:`write_image` writes;
    checked before any work is done."""
    p = Path(path)
    if p.suffix.lower() not in FORMATS:
        raise AlphanasError(f"cannot write {p}: the picture must be a .svg or .png file",
                            hint="give -o FILE.svg or -o FILE.png")
    return files.check_output(p, "picture", error=AlphanasError)


def write_image(scene: Scene, path: str | Path) -> Path:
    """Write the scene as SVG or PNG, by the path's suffix."""
    p = check_output(path)
    if p.suffix.lower() == ".svg":
        files.write_text(p, to_svg(scene), "picture", error=AlphanasError)
    else:
        with files.writing(p, "picture", error=AlphanasError):
            write_png(scene, p)
    return p
