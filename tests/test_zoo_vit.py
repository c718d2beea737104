"""The Vision Transformers of the zoo against torchvision's VisionTransformer.

vit_base is torchvision's vit_b_16; vit_tiny and vit_small are torchvision's
VisionTransformer class with the ViT-Ti and ViT-S sizes (torchvision ships no
constructor for them). Same parameter counts, the same matmul FLOPs as torch's
flop counter measures, and the same outputs once torchvision's weights are
copied in, in registration order.
"""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.vision_transformer import VisionTransformer

from alphanas import analyze, zoo
from alphanas.lang.analysis import Instance
from alphanas.pytorch.codegen import build

#: zoo name -> (hidden_dim, num_heads, mlp_dim); every one has 12 layers
SIZES = {"vit_tiny": (192, 3, 768), "vit_small": (384, 6, 1536), "vit_base": (768, 12, 3072)}


@functools.cache
def _analysis(name: str, **params: int) -> Instance:
    return analyze(zoo.load(name, **params))


def _torchvision(name: str, classes: int = 1000, patch: int = 16) -> nn.Module:
    dim, heads, mlp = SIZES[name]
    return VisionTransformer(
        image_size=224, patch_size=patch, num_layers=12, num_heads=heads,
        hidden_dim=dim, mlp_dim=mlp, num_classes=classes,
    ).eval()


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _counted_matmul_flops(module: nn.Module, x: torch.Tensor) -> int:
    """torch's flop counter on one forward pass, set up so that it sees all of
    attention: with autograd on, nn.MultiheadAttention does not take its fused
    fast path (an op the counter has no formula for), and the "math" SDPA
    kernel runs the score and value products as bmm, which it counts (CPU's
    fused SDPA kernel is not counted either)."""
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        module.eval()(x)
    return counter.get_total_flops()


def _copy_in_order(source: nn.Module, target: nn.Module) -> None:
    """Copy parameters in registration order; the zoo programs list their
    layers, and shape their learned tensors, as torchvision does."""
    src, dst = list(source.parameters()), list(target.parameters())
    assert [tuple(t.shape) for t in src] == [tuple(t.shape) for t in dst]
    with torch.no_grad():
        for s, d in zip(src, dst):
            d.copy_(s)


def _randomise(module: nn.Module) -> None:
    """torchvision initialises the class token to zeros and the layer norms to
    the identity: random values make the comparison exercise them."""
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in module.parameters():
            if p.dim() <= 1 or p.shape[0] == 1:  # norms, biases, class token, positional embedding
                p.copy_(0.5 * torch.randn(p.shape, generator=g))


def test_vit_base_has_exactly_the_parameters_of_torchvision_vit_b_16() -> None:
    expected = _param_count(torchvision.models.vit_b_16(weights=None))
    assert expected == 86_567_656
    assert _analysis("vit_base").total.params == expected
    assert _param_count(build(zoo.load("vit_base"), _analysis("vit_base"))) == expected


def test_patch_32_is_torchvision_vit_b_32() -> None:
    expected = _param_count(torchvision.models.vit_b_32(weights=None))
    assert _analysis("vit_base", patch=32).total.params == expected
    assert _analysis("vit_base", patch=32).shapes["token"] == (1, 768)


@pytest.mark.parametrize("name", ["vit_tiny", "vit_small"])
def test_smaller_vits_have_the_parameters_of_torchvision_vision_transformer(name: str) -> None:
    assert _analysis(name).total.params == _param_count(_torchvision(name))


@pytest.mark.parametrize("name", ["vit_tiny", "vit_base"])
def test_matmul_flops_match_the_flop_counter(name: str) -> None:
    x = torch.randn(1, 3, 224, 224)
    reference = torchvision.models.vit_b_16(weights=None) if name == "vit_base" else _torchvision(name)
    assert _analysis(name).total.matmul_flops == _counted_matmul_flops(reference, x)


def test_vit_base_matmul_flops_by_hand() -> None:
    """Per sample: patch embedding, then per layer 8·L·D² (projections) +
    4·L²·D (attention scores and weighted sum) + 4·L·D·M (MLP), and the head."""
    length, dim, mlp, classes = 197, 768, 3072, 1000
    patches = 2 * 196 * dim * 3 * 16 * 16
    layer = 2 * (4 * length * dim * dim + 2 * length * length * dim + 2 * length * dim * mlp)
    assert _analysis("vit_base").total.matmul_flops == patches + 12 * layer + 2 * dim * classes


def test_vit_tiny_runs_a_forward_pass() -> None:
    program = zoo.load("vit_tiny", classes=10)
    inst = analyze(program)
    assert inst.output_shape == (10,)
    assert len(program.instances("encoder")) == 12
    model = build(program, inst).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 10)
    assert torch.isfinite(out).all()


def _assert_same_outputs(name: str, reference: nn.Module, classes: int) -> None:
    torch.manual_seed(0)
    ours = build(zoo.load(name, classes=classes)).eval()
    _randomise(reference)
    _copy_in_order(reference, ours)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected, got = reference.eval()(x), ours(x)
    assert got.shape == expected.shape == (2, classes)
    assert expected.abs().max() > 1e-2  # far from zero, so the tolerance means something
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)


def test_vit_tiny_computes_what_torchvision_computes() -> None:
    _assert_same_outputs("vit_tiny", _torchvision("vit_tiny", classes=10), classes=10)


@pytest.mark.slow
def test_vit_base_computes_what_torchvision_vit_b_16_computes() -> None:
    _assert_same_outputs("vit_base", torchvision.models.vit_b_16(weights=None), classes=1000)
