"""The headline experiment: property-guided search from ResNet-18 on CIFAR-10.

    python examples/cifar10_headline.py --config examples/cifar10_quarter.toml
    python examples/cifar10_headline.py --report runs/cifar10_quarter     # report an existing run

1. Unpacks CIFAR-10 (JPEG, ``../shared/data/cifar10-jpg.tar.gz`` by default)
   into ``data/cifar10`` unless it is there already.
2. Runs ``alphanas search CONFIG`` (resumable: run it again after a stop).
3. Reports, whatever the search found: the test accuracy of the seed and the
   best test accuracy on the front; the smallest front member whose test
   accuracy is at least the seed's, and its parameters as a fraction of the
   seed's (αNAS's CIFAR-10 result: 96% fewer parameters, no accuracy lost).
   The front is chosen on validation accuracy; test accuracy is only reported.
"""

from __future__ import annotations

import argparse
import json
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def unpack(tarball: Path, target: Path) -> None:
    if (target / "train").is_dir() and (target / "test").is_dir():
        return
    if not tarball.exists():
        sys.exit(f"no CIFAR-10 at {target} and no archive at {tarball}; pass --data")
    print(f"unpacking {tarball} into {target} ...", flush=True)
    target.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tarball) as tar:
        tar.extractall(target, filter="data")


def report(run_dir: Path) -> dict:
    from alphanas.evaluation.evaluator import METRICS
    from alphanas.search.store import Store

    with Store.open(run_dir) as store:
        done = [c for c in store.candidates("ok")]
        config = store.run_info().config
        names = [o if isinstance(o, str) else o["name"] for o in config.get("objectives", ["accuracy", "params"])]
        front = store.front({n: METRICS.get(n, "min") for n in names})
        counts = store.counts()
    seed = next(c for c in done if c.parent_id is None)
    best = max(front, key=lambda c: c.metrics.get("test_accuracy", 0.0))
    keeps = [c for c in front if c.metrics.get("test_accuracy", 0.0) >= seed.metrics["test_accuracy"]]
    smallest = min(keeps, key=lambda c: c.metrics["params"]) if keeps else None
    out = {
        "run_dir": str(run_dir),
        "evaluated": len(done),
        "counts": counts,
        "seed": {"id": seed.id, "test_accuracy": seed.metrics["test_accuracy"],
                 "val_accuracy": seed.metrics["accuracy"], "params": seed.metrics["params"]},
        "front_size": len(front),
        "best_front_test_accuracy": {"id": best.id, "test_accuracy": best.metrics["test_accuracy"],
                                     "params": best.metrics["params"]},
        "smallest_at_least_seed_accuracy": None if smallest is None else {
            "id": smallest.id, "test_accuracy": smallest.metrics["test_accuracy"],
            "val_accuracy": smallest.metrics["accuracy"], "params": smallest.metrics["params"],
            "params_ratio": smallest.metrics["params"] / seed.metrics["params"],
        },
    }
    print(json.dumps(out, indent=2))
    s = out["seed"]
    print(f"\nseed #{s['id']}: test accuracy {s['test_accuracy']:.4f}, {s['params']:,.0f} parameters")
    b = out["best_front_test_accuracy"]
    print(f"best on the front: #{b['id']}, test accuracy {b['test_accuracy']:.4f}, {b['params']:,.0f} parameters")
    k = out["smallest_at_least_seed_accuracy"]
    if k is None:
        print("no front member reaches the seed's test accuracy")
    else:
        print(f"smallest front member with at least the seed's test accuracy: #{k['id']}, "
              f"{k['test_accuracy']:.4f}, {k['params']:,.0f} parameters = {100 * k['params_ratio']:.1f}% "
              f"of the seed's ({100 * (1 - k['params_ratio']):.1f}% fewer)")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default=str(HERE / "cifar10_quarter.toml"))
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cifar10-jpg.tar.gz"),
                        help="the CIFAR-10 JPEG archive")
    parser.add_argument("--report", metavar="RUN_DIR", help="only report an existing run")
    parser.add_argument("--json", metavar="FILE", help="also write the report here")
    args = parser.parse_args()
    if args.report:
        out = report(Path(args.report))
    else:
        from alphanas.search.config import load_config
        from alphanas.search.loop import resume, run_search

        unpack(Path(args.data), ROOT / "data" / "cifar10")
        config = load_config(args.config)
        run_dir = Path(config.run_dir)
        if (run_dir / "run.sqlite").exists():
            resume(run_dir, progress=True)
        else:
            run_search(config, progress=True)
        out = report(run_dir)
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
