"""Small nn.Modules (and functions) that some ops need and torch lacks.

This module imports nothing but torch: the code generator copies the source
of the classes and functions a program uses into the generated file, so that
an exported model stands alone. Keep every definition self-contained (no
references to other definitions of this file).
"""

import torch
from torch import nn


class LearnedTensor(nn.Module):
    """A learned tensor shared by every sample: the class token, a positional
    embedding, a layer scale.

    The parameter carries a leading batch axis of length 1 (as torchvision's
    ``class_token`` and ``pos_embedding``), so that ``x + t`` and ``x * t``
    broadcast over the batch without a copy.
    """

    def __init__(self, shape: list[int], init: str = "zeros") -> None:
        super().__init__()
        weight = torch.empty(1, *shape)
        if init == "zeros":
            nn.init.zeros_(weight)
        elif init == "ones":
            nn.init.ones_(weight)
        elif init == "normal":
            nn.init.normal_(weight, std=0.02)  # ViT's positional embedding
        else:
            raise ValueError(f"LearnedTensor: unknown init {init!r}")
        self.weight = nn.Parameter(weight)

    def forward(self) -> torch.Tensor:
        return self.weight


def cat_batch(tensors: list[torch.Tensor], dim: int) -> torch.Tensor:
    """``torch.cat`` where inputs with batch size 1 (learned tensors shared
    by every sample, such as a class token) are expanded to the batch size of
    the others first; expanding is a view, not a copy."""
    n = max(t.shape[0] for t in tensors)
    return torch.cat([t if t.shape[0] == n else t.expand(n, *t.shape[1:]) for t in tensors], dim)


class StochasticDepth(nn.Module):
    """Randomly drop a residual branch (torchvision's ``StochasticDepth``).

    The identity in evaluation. In training, each sample's input ("row") or
    the whole batch's ("batch") is zeroed with probability ``p``, and what
    survives is divided by ``1 - p`` so that the expectation is unchanged.
    """

    def __init__(self, p: float, mode: str = "row") -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"StochasticDepth: p={p} must be in [0, 1]")
        if mode not in ("row", "batch"):
            raise ValueError(f'StochasticDepth: mode must be "row" or "batch", got {mode!r}')
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival = 1.0 - self.p
        # one draw per sample ("row") or one for the whole batch
        size = [x.shape[0] if self.mode == "row" else 1] + [1] * (x.ndim - 1)
        noise = torch.empty(size, dtype=x.dtype, device=x.device).bernoulli_(survival)
        if survival > 0.0:
            noise.div_(survival)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode!r}"
