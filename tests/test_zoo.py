"""The zoo: its API, and its models against the torchvision models they mirror.

The ImageNet models must match torchvision exactly — parameter counts, the
FLOPs that torch's own flop counter measures, and outputs once torchvision's
weights are copied in — because the search starts from them and reports
costs relative to them. Every zoo model, including ones added later, must
parse, analyse and survive a print/parse round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
import torch
import torchvision
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from alphanas import ProgramError, analyze, parse, print_program, zoo
from alphanas.cli import main as cli_main
from alphanas.lang.analysis import Instance
from alphanas.lang.ir import Program
from alphanas.pytorch.codegen import build

#: Zoo models that are torchvision models exactly, under the same name.
TORCHVISION = ["resnet18", "resnet34", "resnet50", "mobilenet_v2"]

IMAGENET_INPUT = (1, 3, 224, 224)


# -- helpers -------------------------------------------------------------------------


@functools.cache
def _analysis(name: str) -> Instance:
    # analysing is cheap, but several tests want the same ImageNet models
    return analyze(zoo.load(name))


def _torchvision(name: str, **kwargs: int) -> nn.Module:
    constructor: Callable[..., nn.Module] = getattr(torchvision.models, name)
    return constructor(weights=None, **kwargs).eval()


def _cifar_torchvision(name: str, classes: int = 10) -> nn.Module:
    """torchvision's ResNet with the CIFAR stem the *_cifar zoo models use:
    a 3×3 stride-1 conv in place of the 7×7 one, and no max pool. Assigning
    an existing attribute keeps its place in the registration order."""
    model = _torchvision(name, num_classes=classes)
    model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    model.maxpool = nn.Identity()
    return model.eval()


def _param_count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _counted_flops(module: nn.Module, shape: tuple[int, ...]) -> int:
    """What torch.utils.flop_counter measures for one forward pass."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        module.eval()(torch.randn(shape))
    return counter.get_total_flops()


def _randomise_batchnorm(module: nn.Module, seed: int = 0) -> None:
    """Fresh batchnorms are the identity in eval mode (mean 0, var 1, weight 1,
    bias 0); random statistics make the comparison test them too."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(0.1 * torch.randn(n, generator=g))
                m.running_var.copy_(0.5 + torch.rand(n, generator=g))
                m.weight.copy_(0.5 + torch.rand(n, generator=g))
                m.bias.copy_(0.1 * torch.randn(n, generator=g))


def _copy_state(source: nn.Module, target: nn.Module) -> None:
    """Copy parameters and buffers in registration order: the zoo programs
    list their layers in torchvision's order, so the shapes line up one by one."""
    pairs = [
        (list(source.parameters()), list(target.parameters())),
        (list(source.buffers()), list(target.buffers())),
    ]
    for src, dst in pairs:
        assert [tuple(t.shape) for t in src] == [tuple(t.shape) for t in dst]
    with torch.no_grad():
        for src, dst in pairs:
            for s, d in zip(src, dst):
                d.copy_(s)


def _assert_same_outputs(reference: nn.Module, ours: nn.Module, shape: tuple[int, ...]) -> None:
    _randomise_batchnorm(reference)
    _copy_state(reference, ours)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference.eval()(x)
        got = ours.eval()(x)
    assert got.shape == expected.shape
    # the outputs must be far from zero for the tolerance to mean anything
    assert expected.abs().max() > 1e-2
    assert (got - expected).abs().max().item() <= 1e-4


def _default_classes(program: Program) -> int:
    default = next(p.default for p in program.model.params if p.name == "classes")
    assert default is not None  # model parameters always have defaults
    return default


# -- the API -------------------------------------------------------------------------


def test_names_are_the_arch_files_sorted() -> None:
    names = zoo.names()
    assert names == sorted(names)
    expected = {
        "mobilenet_v2",
        "resnet18",
        "resnet18_cifar",
        "resnet34",
        "resnet34_cifar",
        "resnet50",
        "resnet50_cifar",
        "small_cnn",
    }
    assert expected <= set(names)
    assert all(zoo.path(n).suffix == ".arch" and zoo.path(n).stem == n for n in names)


def test_text_is_the_file() -> None:
    assert zoo.text("small_cnn") == zoo.path("small_cnn").read_text()
    assert zoo.load("small_cnn").source == "zoo:small_cnn"


def test_unknown_name_suggests_the_closest() -> None:
    with pytest.raises(ProgramError) as err:
        zoo.load("resnet81")
    assert "resnet81" in err.value.message
    assert err.value.hint is not None
    assert "did you mean 'resnet18'" in err.value.hint
    assert "mobilenet_v2" in err.value.hint  # the hint lists the zoo


@pytest.mark.parametrize("name", ["", "../zoo/resnet18", "resnet18.arch", "__init__"])
def test_names_that_are_not_zoo_files(name: str) -> None:
    with pytest.raises(ProgramError):
        zoo.path(name)


def test_unknown_parameter_names_the_parameters() -> None:
    with pytest.raises(ProgramError) as err:
        zoo.load("resnet18", clases=10)
    assert "clases" in err.value.message
    assert err.value.hint is not None
    assert "classes" in err.value.hint and "width" in err.value.hint


@pytest.mark.parametrize("value", [0, -3, True, 2.5])
def test_parameter_values_are_positive_ints(value: object) -> None:
    with pytest.raises(ProgramError):
        zoo.load("resnet18", classes=value)  # type: ignore[arg-type]


def test_cli_reports_an_unknown_zoo_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["check", "zoo:mobilenetv2"]) == 2
    assert "did you mean 'mobilenet_v2'" in capsys.readouterr().err


# -- every model ---------------------------------------------------------------------


@pytest.mark.parametrize("name", zoo.names())
def test_model_round_trips_through_the_printer(name: str) -> None:
    program = zoo.load(name)
    assert program.model.name == name
    analyze(program)
    assert parse(print_program(program), file="<printed>") == program


@pytest.mark.parametrize("name", zoo.names())
def test_file_is_canonical_apart_from_comments(name: str) -> None:
    """The files are written as `alphanas format` prints them; the printer
    drops comments, so compare without the comment lines."""
    lines = [line for line in zoo.text(name).splitlines() if not line.lstrip().startswith("#")]
    while lines and not lines[0].strip():
        lines.pop(0)
    assert "\n".join(lines) + "\n" == print_program(zoo.load(name))
    assert zoo.text(name).startswith("# "), "each file starts with a header comment"


@pytest.mark.parametrize("name", zoo.names())
def test_classes_parameter_sets_the_output(name: str) -> None:
    program = zoo.load(name)
    default = _default_classes(program)
    other = 10 if default != 10 else 100
    before = analyze(program).output_shape
    after = analyze(zoo.load(name, classes=other)).output_shape
    assert before[-1] == default
    assert after == (*before[:-1], other)
    # the override is a new default, so it survives printing
    assert f"classes: int = {other}" in print_program(zoo.load(name, classes=other))


# -- structure -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "calls"),
    [
        ("resnet18", {"basic": 5, "basic_down": 3}),
        ("resnet34", {"basic": 13, "basic_down": 3}),
        ("resnet50", {"bottleneck": 12, "bottleneck_down": 4}),
        ("resnet18_cifar", {"basic": 5, "basic_down": 3}),
        ("mobilenet_v2", {"inverted_t1": 1, "inverted": 6, "inverted_residual": 10}),
    ],
)
def test_stages_reuse_shared_blocks(name: str, calls: dict[str, int]) -> None:
    program = zoo.load(name)
    assert set(program.block_names) == set(calls)
    assert {b: len(program.instances(b)) for b in calls} == calls


def test_quarter_width_cifar_resnet() -> None:
    inst = analyze(zoo.load("resnet18_cifar", width=16))
    channels = sorted({shape[0] for shape in inst.shapes.values() if len(shape) == 3})
    assert channels == [3, 16, 32, 64, 128]
    assert inst.output_shape == (10,)


def test_small_cnn_is_small() -> None:
    inst = analyze(zoo.load("small_cnn"))
    assert 50_000 <= inst.total.params <= 150_000
    assert inst.output_shape == (10,)
    module = build(zoo.load("small_cnn"))
    with torch.no_grad():
        assert module.eval()(torch.randn(4, 3, 32, 32)).shape == (4, 10)


# -- against torchvision ---------------------------------------------------------------


@pytest.mark.parametrize("name", TORCHVISION)
def test_parameters_match_torchvision(name: str) -> None:
    expected = _param_count(_torchvision(name))
    assert _analysis(name).total.params == expected
    assert _param_count(build(zoo.load(name), _analysis(name))) == expected


@pytest.mark.parametrize("name", TORCHVISION)
def test_matmul_flops_match_the_flop_counter(name: str) -> None:
    expected = _counted_flops(_torchvision(name), IMAGENET_INPUT)
    assert _analysis(name).total.matmul_flops == expected


@pytest.mark.parametrize("name", TORCHVISION)
def test_outputs_match_torchvision_with_its_weights(name: str) -> None:
    torch.manual_seed(0)
    _assert_same_outputs(_torchvision(name), build(zoo.load(name)), (2, 3, 224, 224))


@pytest.mark.parametrize("name", ["resnet18_cifar", "resnet34_cifar", "resnet50_cifar"])
def test_cifar_resnets_match_torchvision_with_a_cifar_stem(name: str) -> None:
    torch.manual_seed(0)
    reference = _cifar_torchvision(name.removesuffix("_cifar"))
    program = zoo.load(name)
    inst = analyze(program)
    assert inst.total.params == _param_count(reference)
    assert inst.total.matmul_flops == _counted_flops(reference, (1, 3, 32, 32))
    _assert_same_outputs(reference, build(program, inst), (2, 3, 32, 32))
