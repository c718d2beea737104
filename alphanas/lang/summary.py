"""What `alphanas check` shows: every statement with its shape and costs."""

from __future__ import annotations

from typing import Any

from alphanas.lang.analysis import Instance
from alphanas.lang.ir import Program
from alphanas.ops import Cost


def cost_dict(c: Cost) -> dict[str, int]:
    return {
        "params": int(c.params),
        "flops": int(c.flops),
        "matmul_flops": int(c.matmul_flops),
        "other_flops": int(c.other_flops),
        "activations": int(c.activations),
    }


def check_report(program: Program, inst: Instance) -> dict[str, Any]:
    """A JSON-ready table of the program: one row per statement, block calls
    followed by the statements of their instance, indented one level deeper."""
    rows: list[dict[str, Any]] = []

    def visit(i: Instance, depth: int, prefix: str) -> None:
        for n in i.graph.nodes:
            c = i.costs[n.id]
            rows.append({
                "value": prefix + n.id,
                "op": n.op,
                "depth": depth,
                "shape": list(i.shapes[n.id]),
                "params": int(c.params),
                "flops": int(c.flops),
                "matmul_flops": int(c.matmul_flops),
                "other_flops": int(c.other_flops),
                "line": n.loc.line if n.loc else None,
            })
            if n.id in i.calls:
                visit(i.calls[n.id], depth + 1, prefix + n.id + ".")

    visit(inst, 0, "")
    return {
        "model": program.model.name,
        "inputs": {x.id: list(inst.shapes[x.id]) for x in program.model.inputs},
        "output_shape": list(inst.output_shape),
        "statements": rows,
        "total": cost_dict(inst.total),
        "convention": "per sample; one multiply-add = 2 FLOPs; matmul_flops = convolutions and matrix multiplies",
    }
