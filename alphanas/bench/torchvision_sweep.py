"""Benchmark ``torchvision``: which torchvision classifiers import, exactly.

Each model runs in its own process (a crash or a 600M-parameter model cannot
take the sweep down) with a time limit. For each: import through torch.fx,
check that the printed program parses back to the same program, that the
parameter counts are equal, and that the built module with the transferred
weights gives the original's outputs (max abs difference, eval mode, random
input of batch 2). Convolutional models run at 64×64 to keep the sweep short;
transformers at the 224×224 they require.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

from alphanas.bench import print_table, write_json

_LARGE_INPUT = ("vit_", "swin_", "maxvit_")


def default_shape(name: str) -> tuple[int, int, int]:
    if name.startswith(_LARGE_INPUT):
        return (3, 224, 224)
    if name == "inception_v3":
        return (3, 96, 96)  # its stem needs at least 75×75
    return (3, 64, 64)


def check_one(name: str, shape: tuple[int, ...]) -> dict[str, Any]:
    """Import one torchvision model and compare it with the original."""
    import torch

    from alphanas import parse, print_program
    from alphanas.lang.errors import AlphanasError
    from alphanas.pytorch.codegen import build
    from alphanas.pytorch.fx import import_model

    torch.manual_seed(0)
    result: dict[str, Any] = {"model": name, "input": list(shape)}
    start = time.perf_counter()
    try:
        imported = import_model(f"torchvision:{name}", shape)
    except AlphanasError as err:
        result["status"] = "unmapped"
        result["reason"] = err.message.splitlines()[0]
        return result
    result["import_s"] = round(time.perf_counter() - start, 2)
    result["summary"] = imported.summary()
    result["round_trip"] = parse(print_program(imported.program)) == imported.program
    original = sum(p.numel() for p in imported.module.parameters())
    result["params"] = imported.params
    result["torchvision_params"] = original
    model = build(imported.program)
    model.load_state_dict(imported.state_dict(), strict=True)
    model.eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        result["max_abs_diff"] = (model(x) - imported.module(x)).abs().max().item()
    exact = result["round_trip"] and imported.params == original and result["max_abs_diff"] <= 1e-4
    result["status"] = "exact" if exact else "differs"
    return result


def _run_isolated(name: str, shape: tuple[int, ...], timeout: float) -> dict[str, Any]:
    command = [sys.executable, "-m", "alphanas.bench.torchvision_sweep", "--one", name,
               "--input-shape", ",".join(map(str, shape))]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"model": name, "input": list(shape), "status": "timeout", "reason": f"over {timeout:.0f} s"}
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return {"model": name, "input": list(shape), "status": "error", "reason": last}
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_torchvision(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="alphanas bench torchvision", description=__doc__)
    ap.add_argument("--models", nargs="*", help="torchvision model names (default: every classifier)")
    ap.add_argument("--timeout", type=float, default=600.0, help="seconds per model")
    ap.add_argument("--json", help="write the results here")
    args = ap.parse_args(argv)

    import torchvision

    names = args.models or torchvision.models.list_models(module=torchvision.models)
    results = []
    for name in names:
        r = _run_isolated(name, default_shape(name), args.timeout)
        results.append(r)
        print(f"{name}: {r['status']}", file=sys.stderr, flush=True)
    rows = [
        (r["model"], "x".join(map(str, r["input"])), r["status"], r.get("params", ""),
         r.get("torchvision_params", ""), _diff(r), r.get("import_s", ""), r.get("reason", r.get("summary", "")))
        for r in results
    ]
    print_table(("model", "input", "status", "params", "torchvision", "max |diff|", "import s", "notes"), rows)
    exact = sum(r["status"] == "exact" for r in results)
    print(f"\n{exact} of {len(results)} import exactly (equal parameter counts, outputs within 1e-4)")
    if args.json:
        write_json(args.json, {"benchmark": "torchvision", "results": results})
    return 0


def _diff(r: dict[str, Any]) -> str:
    return f"{r['max_abs_diff']:.1e}" if "max_abs_diff" in r else ""


def _main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--one", required=True)
    ap.add_argument("--input-shape", required=True)
    args = ap.parse_args()
    shape = tuple(int(v) for v in args.input_shape.split(","))
    print(json.dumps(check_one(args.one, shape)))
    return 0


if __name__ == "__main__":
    sys.exit(_main())
