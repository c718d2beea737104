"""Benchmark of the training loop: alphanas's loop against a hand-written one.

``alphanas bench training`` trains ResNet-18 with the CIFAR stem
(``zoo:resnet18_cifar`` at ``--width``) on random 32×32 uint8 images, once
through :func:`alphanas.evaluation.train.train` and once through the plainest PyTorch
loop that does the same work: the *same* built module reset to the same
initial weights, the same batches cut from the same uint8 tensor and
normalised the same way, the same SGD optimizer, batch size and number of
steps. Runs alternate (plain, alphanas, alphanas, plain, ...) so that drift
of the machine hits both alike. What differs is what the loop adds per step
(learning-rate schedule, per-step reseeding, NaN checks, loss bookkeeping)
and per call (optimizer set-up, final scoring, the state copy); the target
is alphanas's throughput within 5% of the plain loop's (ratio >= 0.95).
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import torch
from torch import nn

from alphanas.bench import Timing, print_table, write_json

TARGET_RATIO = 0.95
MEAN, STD = 0.5, 0.25


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive integer")
    return value


def random_splits(batch: int, steps: int, seed: int = 0) -> Any:
    """``batch * steps`` random uint8 images (one epoch is the run) with
    random labels, and two-image validation and test splits so that the
    final scoring costs next to nothing."""
    from alphanas.evaluation.data import Split, Splits

    g = torch.Generator().manual_seed(seed)
    n = batch * steps
    x = torch.randint(0, 256, (n, 3, 32, 32), dtype=torch.uint8, generator=g)
    y = torch.randint(0, 10, (n,), generator=g)
    tiny = Split(x[:2], y[:2], torch.arange(2))
    return Splits(
        train=Split(x, y, torch.arange(n)),
        val=tiny,
        test=tiny,
        input_shape=(3, 32, 32),
        classes=10,
        mean=torch.full((3,), MEAN),
        std=torch.full((3,), STD),
    )


def plain_loop(model: nn.Module, splits: Any, batch: int, steps: int, lr: float, device: torch.device,
               channels_last: bool) -> None:
    """The reference: what one writes by hand for the same training."""
    x_all, y_all = splits.train.x.to(device), splits.train.y.to(device)
    decay = [p for p in model.parameters() if p.ndim > 1]
    no_decay = [p for p in model.parameters() if p.ndim <= 1]
    optimizer = torch.optim.SGD(
        [{"params": decay, "weight_decay": 5e-4}, {"params": no_decay, "weight_decay": 0.0}],
        lr=lr, momentum=0.9,
    )
    loss_fn = nn.CrossEntropyLoss()
    order = torch.randperm(len(y_all), generator=torch.Generator().manual_seed(0)).to(device)
    model.train()
    for step in range(steps):
        rows = order[step * batch : (step + 1) * batch]
        x = (x_all[rows].float() / 255.0 - MEAN) / STD
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y_all[rows])
        loss.backward()
        optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def run_training(argv: list[str]) -> int:
    from alphanas import zoo
    from alphanas.evaluation.train import TrainConfig, resolve_device, set_threads, train
    from alphanas.pytorch.codegen import build

    parser = argparse.ArgumentParser(
        prog="alphanas bench training",
        description="Training throughput (images/s) of resnet18_cifar through alphanas.evaluation.train vs a plain PyTorch loop.",
    )
    parser.add_argument("--width", type=_positive, default=16, help="resnet18_cifar width (default 16)")
    parser.add_argument("--batch", type=_positive, default=128, help="batch size (default 128)")
    parser.add_argument("--steps", type=_positive, default=30, help="training steps per run (default 30)")
    parser.add_argument("--repeats", type=_positive, default=3, help="timed runs of each loop (default 3)")
    parser.add_argument("--device", default="auto", help='"auto" (CUDA if there is one), "cpu", "cuda", ...')
    parser.add_argument("--threads", type=_positive, default=None, help="intra-op threads (default: all usable CPUs)")
    parser.add_argument("--channels-last", choices=("auto", "on", "off"), default="auto",
                        help="memory format (auto: on for CUDA, off for CPU)")
    parser.add_argument("--json", metavar="FILE", help="also write the numbers as JSON")
    args = parser.parse_args(argv)

    device = resolve_device(args.device)
    threads = set_threads(args.threads)
    channels_last = device.type == "cuda" if args.channels_last == "auto" else args.channels_last == "on"
    torch.manual_seed(0)
    model = build(zoo.load("resnet18_cifar", width=args.width)).to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    splits = random_splits(args.batch, args.steps)
    lr = 0.01
    config = TrainConfig(optimizer="sgd", lr=lr, momentum=0.9, nesterov=False, weight_decay=5e-4,
                         batch_size=args.batch, steps=args.steps, cosine=False, device=str(device),
                         channels_last=channels_last, threads=threads)

    def run_plain() -> float:
        model.load_state_dict(initial)
        start = time.perf_counter()
        plain_loop(model, splits, args.batch, args.steps, lr, device, channels_last)
        return time.perf_counter() - start

    loop_seconds: list[float] = []

    def run_alphanas() -> float:
        model.load_state_dict(initial)
        start = time.perf_counter()
        result = train(model, splits, config, seed=0)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        loop_seconds.append(result.train_seconds)
        return time.perf_counter() - start

    run_plain(), run_alphanas()  # warm-up: first calls pick kernels and allocate
    loop_seconds.clear()
    plain, ours = [], []
    for r in range(args.repeats):  # interleaved, alternating which goes first
        pair = (run_plain, run_alphanas) if r % 2 == 0 else (run_alphanas, run_plain)
        for fn in pair:
            (plain if fn is run_plain else ours).append(fn())

    images = args.batch * args.steps
    t_plain, t_ours, t_loop = Timing(tuple(plain)), Timing(tuple(ours)), Timing(tuple(loop_seconds))
    rows = [
        ["plain PyTorch loop", images / t_plain.median, t_plain.median, t_plain.min],
        ["alphanas.evaluation.train.train (whole call)", images / t_ours.median, t_ours.median, t_ours.min],
        ["alphanas.evaluation.train.train (step loop only)", images / t_loop.median, t_loop.median, t_loop.min],
    ]
    ratio = t_plain.median / t_ours.median  # throughput ratio: images/s alphanas over images/s plain
    ratio_min = t_plain.min / t_ours.min
    print(f"resnet18_cifar width={args.width}, batch {args.batch}, {args.steps} steps, {args.repeats} repeats, "
          f"device {device}, {threads} threads, channels_last {'on' if channels_last else 'off'}")
    print_table(["loop", "images/s", "median s", "min s"], rows)
    verdict = "meets" if ratio >= TARGET_RATIO else "misses"
    print(f"ratio alphanas/plain (throughput, medians): {ratio:.3f} — {verdict} the target (>= {TARGET_RATIO}); "
          f"best runs: {ratio_min:.3f}")
    if args.json:
        write_json(args.json, {
            "benchmark": "training",
            "options": vars(args),
            "device": str(device),
            "threads": threads,
            "channels_last": channels_last,
            "torch": torch.__version__,
            "images_per_run": images,
            "plain": {"images_per_s": images / t_plain.median, "timing": t_plain},
            "alphanas": {"images_per_s": images / t_ours.median, "timing": t_ours},
            "alphanas_loop": {"images_per_s": images / t_loop.median, "timing": t_loop},
            "ratio": ratio,
            "ratio_best_runs": ratio_min,
            "target_ratio": TARGET_RATIO,
        })
    return 0
