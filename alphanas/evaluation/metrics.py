"""Measured costs of a built model: forward latency and training-step memory.

The analytic costs (parameters, FLOPs) come from the IR without running
anything (:func:`alphanas.evaluation.evaluator.analytic_metrics`); these are measured on
the device, because latency and memory depend on kernels, layouts and the
allocator, which no formula over the program sees.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

import torch
from torch import Tensor, nn

__all__ = ["latency_ms", "peak_memory_mb"]

_MB = 1024.0 * 1024.0


def _device_of(model: nn.Module) -> torch.device:
    first = next(model.parameters(), None)
    return first.device if first is not None else torch.device("cpu")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def latency_ms(
    model: nn.Module,
    input_shape: Sequence[int],
    batch: int = 1,
    repeats: int = 30,
    warmup: int = 5,
    channels_last: bool = False,
) -> float:
    """Median wall time in milliseconds of one forward pass at ``batch``
    (eval mode, ``torch.inference_mode``), on the model's device, after
    ``warmup`` untimed passes (first calls allocate and pick kernels). The
    median, not the mean: one descheduled run should not move the number.
    The model's training mode is restored afterwards."""
    if repeats < 1:
        raise ValueError("repeats must be at least 1")
    device = _device_of(model)
    x = _example(input_shape, batch, device)
    if channels_last and x.ndim == 4:
        x = x.contiguous(memory_format=torch.channels_last)
    was_training = model.training
    model.eval()
    samples = []
    with torch.inference_mode():
        for _ in range(warmup):
            model(x)
        _sync(device)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            _sync(device)
            samples.append(time.perf_counter() - start)
    model.train(was_training)
    return statistics.median(samples) * 1e3


def peak_memory_mb(model: nn.Module, input_shape: Sequence[int], batch: int) -> float:
    """Peak memory in MiB of one training step (forward, loss, backward) at
    ``batch``; the model's weights, gradients, buffers and mode are as they
    were afterwards. Without the optimizer's state (momentum adds one copy of the
    parameters for SGD, two for Adam, the same for every architecture of a
    given size).

    On CUDA it is the allocator's peak (``torch.cuda.max_memory_allocated``)
    during the step, which includes the parameters, the input, gradients,
    activations and the kernels' workspace.

    On CPU there is no allocator peak to read, so it is *counted*: the
    parameters and their gradients, the input batch, plus every distinct
    tensor storage that autograd saves for the backward pass (recorded with
    ``torch.autograd.graph.saved_tensors_hooks``; parameters saved by an op
    are not counted twice, and views of one storage count once). That is the
    memory held at the end of the forward pass, the peak of a plain step up
    to the transient buffers of single kernels, which it leaves out.
    """
    device = _device_of(model)
    was_training = model.training
    model.train()
    # the step's forward moves batch-norm statistics; measuring must not
    buffers = [(b, b.detach().clone()) for b in model.buffers()]
    grads = [p.grad for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    x = _example(input_shape, batch, device)
    try:
        if device.type == "cuda":
            return _cuda_peak(model, x) / _MB
        return _counted_peak(model, x) / _MB
    finally:
        with torch.no_grad():
            for buffer, saved in buffers:
                buffer.copy_(saved)
        for p, g in zip(model.parameters(), grads):
            p.grad = g
        model.train(was_training)


def _example(input_shape: Sequence[int], batch: int, device: torch.device) -> Tensor:
    """A random input batch from a generator of its own: measuring must not
    move the global RNG that training draws from."""
    generator = torch.Generator(device=device).manual_seed(0)
    return torch.randn(batch, *input_shape, device=device, generator=generator)


def _loss(out: Tensor) -> Tensor:
    """A loss that needs the whole output's gradient, as cross-entropy does,
    without needing labels of a matching shape."""
    return out.float().square().mean()


def _cuda_peak(model: nn.Module, x: Tensor) -> int:
    torch.cuda.synchronize(x.device)
    torch.cuda.reset_peak_memory_stats(x.device)
    _loss(model(x)).backward()
    torch.cuda.synchronize(x.device)
    peak = torch.cuda.max_memory_allocated(x.device)
    model.zero_grad(set_to_none=True)
    return peak


def _counted_peak(model: nn.Module, x: Tensor) -> int:
    # counted on their own below, so not again when an op saves them
    counted = {p.untyped_storage().data_ptr() for p in model.parameters()} | {x.untyped_storage().data_ptr()}
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    grad_bytes = sum(p.numel() * p.element_size() for p in model.parameters() if p.requires_grad)
    saved: dict[int, int] = {}

    def pack(t: Tensor) -> Tensor:
        storage = t.untyped_storage()
        ptr = storage.data_ptr()
        if ptr not in counted and ptr != 0:
            saved[ptr] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = model(x)
        loss = _loss(out)
    loss.backward()
    model.zero_grad(set_to_none=True)
    input_bytes = x.numel() * x.element_size()
    return param_bytes + grad_bytes + input_bytes + sum(saved.values())
