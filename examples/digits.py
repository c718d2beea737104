"""Train a program on scikit-learn's digits: parse, check, build, train, export.

The data set ships with scikit-learn (1,797 real 8×8 scans of handwritten
digits), so this runs offline in well under a minute on a laptop CPU:

    python examples/digits.py                      # examples/digits_cnn.arch
    python examples/digits.py --program my.arch --epochs 40 --export model.py

The program must take a [1, 8, 8] input and return [10] logits.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn

import alphanas
from alphanas.pytorch.codegen import build, module_source

HERE = Path(__file__).resolve().parent


def digits_splits(seed: int) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Deterministic 70/15/15 train/validation/test split of the digits."""
    from sklearn.datasets import load_digits

    data = load_digits()
    x = torch.tensor(data.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(data.target, dtype=torch.long)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_train, n_val = int(0.7 * len(y)), int(0.15 * len(y))
    parts = {"train": order[:n_train], "val": order[n_train : n_train + n_val], "test": order[n_train + n_val :]}
    return {k: (x[i], y[i]) for k, i in parts.items()}


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


def train(model: nn.Module, data: dict, epochs: int, seed: int, batch: int = 64) -> None:
    torch.manual_seed(seed)
    x, y = data["train"]
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    for epoch in range(epochs):
        model.train()
        for idx in torch.randperm(len(y)).split(batch):
            opt.zero_grad()
            loss = loss_fn(model(x[idx]), y[idx])
            loss.backward()
            opt.step()
        sched.step()
        if (epoch + 1) % max(1, epochs // 5) == 0:
            print(f"  epoch {epoch + 1:3d}/{epochs}: loss {loss.item():.3f}, "
                  f"validation accuracy {accuracy(model, *data['val']):.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--program", default=str(HERE / "digits_cnn.arch"))
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--export", help="write the trained model as standalone PyTorch source here")
    args = ap.parse_args(argv)
    torch.set_num_threads(max(1, torch.get_num_threads()))

    try:
        program = alphanas.parse_file(args.program)
        inst = alphanas.analyze(program)
    except alphanas.AlphanasError as err:
        print(err.render(), file=sys.stderr)
        return 2
    print(f"{program.model.name}: {inst.total.params:,} parameters, {inst.total.flops:,} FLOPs per sample")

    torch.manual_seed(args.seed)
    model = build(program, inst)
    data = digits_splits(args.seed)
    start = time.perf_counter()
    train(model, data, args.epochs, args.seed)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - start:.1f} s; "
          f"test accuracy {accuracy(model, *data['test']):.4f} on {len(data['test'][1])} digits")

    if args.export:
        source, top = module_source(program, inst)
        Path(args.export).write_text(source)
        weights = Path(args.export).with_suffix(".pt")
        torch.save(model.state_dict(), weights)
        print(f"exported {args.export} (class {top}) and its weights {weights}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
