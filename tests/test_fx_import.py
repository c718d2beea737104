"""Importing PyTorch models with torch.fx: faithful programs, readable
structure, the original weights, and clear failures."""

from __future__ import annotations

import functools
import keyword
import re
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

from alphanas import analyze, parse, print_program
from alphanas.cli import main
from alphanas.lang.errors import ImportFailure
from alphanas.pytorch.codegen import build
from alphanas.pytorch.fx import ImportResult, import_model, importer


@functools.cache
def imported(spec: str, shape: tuple[int, ...]) -> ImportResult:
    """One import per model and shape for the whole test session."""
    return import_model(spec, shape)


def assert_faithful(result: ImportResult, shape: tuple[int, ...], tolerance: float = 1e-4) -> None:
    """The program prints and parses back to itself, counts the model's
    parameters exactly, and computes the model's outputs from its weights."""
    program = result.program
    assert parse(print_program(program)) == program
    assert program.model.inputs[0].shape == shape
    expected = sum(p.numel() for p in result.module.parameters())
    assert analyze(program).total.params == expected == result.params
    built = build(program)
    built.load_state_dict(result.state_dict(), strict=True)
    built.eval()
    result.module.eval()
    x = torch.randn(2, *shape)
    with torch.no_grad():
        ours, theirs = built(x), result.module(x)
    assert ours.shape == theirs.shape
    assert (ours - theirs).abs().max().item() <= tolerance


FAST = ["resnet18", "mobilenet_v3_small", "shufflenet_v2_x0_5", "regnet_x_400mf", "squeezenet1_0"]
SLOW = [
    "resnet50", "mobilenet_v2", "efficientnet_b0", "densenet121", "convnext_tiny",
    "mnasnet0_5", "resnext50_32x4d", "wide_resnet50_2",
]


@pytest.mark.parametrize("name", FAST)
def test_torchvision_model_is_imported_faithfully(name: str) -> None:
    shape = (3, 64, 64)
    assert_faithful(imported(f"torchvision:{name}", shape), shape)


@pytest.mark.slow
@pytest.mark.parametrize("name", SLOW)
def test_torchvision_model_is_imported_faithfully_slow(name: str) -> None:
    shape = (3, 64, 64)
    assert_faithful(imported(f"torchvision:{name}", shape), shape)


@pytest.mark.slow
def test_vit_b_16_at_its_image_size() -> None:
    shape = (3, 224, 224)
    result = imported("torchvision:vit_b_16", shape)
    assert_faithful(result, shape)
    # the twelve encoder layers are one block, called twelve times
    assert [b.name for b in result.program.blocks] == ["encoderblock"]
    assert len(result.program.instances("encoderblock")) == 12


def small_vit() -> nn.Module:
    return torchvision.models.VisionTransformer(
        image_size=32, patch_size=8, num_layers=3, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10
    )


def test_a_vision_transformer_maps_attention_tokens_and_learned_tensors() -> None:
    torch.manual_seed(0)
    result = import_model(small_vit(), (3, 32, 32), name="vit_small")
    assert_faithful(result, (3, 32, 32))
    text = print_program(result.program)
    assert "class_token = param([1, 32]" in text  # expand over the batch: a learned tensor
    assert "encoder_pos_embedding = param([17, 32]" in text
    assert "self_attention = attention(ln_1, 2)" in text
    assert len(result.program.instances("encoderblock")) == 3


def test_vit_needs_its_image_size() -> None:
    with pytest.raises(ImportFailure, match="Wrong image height"):
        import_model(small_vit(), (3, 64, 64))


# -- structure and names ------------------------------------------------------------------


def test_program_names_follow_the_module_paths() -> None:
    result = imported("torchvision:resnet18", (3, 64, 64))
    model = result.program.model
    ids = [n.id for n in model.nodes]
    assert ids[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert ids[4:12] == ["layer1_0", "layer1_1", "layer2_0", "layer2_1", "layer3_0", "layer3_1", "layer4_0", "layer4_1"]
    assert ids[-3:] == ["avgpool", "flatten", "fc"]
    block = result.program.block("basicblock")
    assert [n.id for n in block.nodes] == ["conv1", "bn1", "relu", "conv2", "bn2", "add", "relu_1"]
    for g in result.program.graphs():
        for n in g.nodes:
            assert n.name == n.id and n.id.isidentifier() and not keyword.iskeyword(n.id)
        assert len({n.id for n in g.nodes}) == len(g.nodes)
    # one statement per op: nothing is nested
    text = print_program(result.program)
    assert "conv2d(x, 64, k=7, s=2, p=3, bias=false)" in text
    assert "relu(batchnorm" not in text


def test_identical_blocks_share_one_definition() -> None:
    result = imported("torchvision:resnet18", (3, 64, 64))
    program = result.program
    # layer1's two blocks are alike; every later stage starts with a downsampling one
    assert program.model.node("layer1_0").op == program.model.node("layer1_1").op == "basicblock"
    assert len(program.blocks) == 7
    assert re.fullmatch(r"69 ops in 7 blocks \(8 calls\), 11,689,512 parameters", result.summary())


@pytest.mark.slow
def test_resnet50_bottlenecks_share_blocks() -> None:
    result = imported("torchvision:resnet50", (3, 64, 64))
    program = result.program
    calls = [n for n in program.model.nodes if n.op.startswith("bottleneck")]
    assert len(calls) == 16
    # a downsampling block and a repeated one per stage
    assert len(program.blocks) == 8
    assert len({n.op for n in calls[1:3]}) == 1 and len({n.op for n in calls[4:7]}) == 1


def test_shared_block_weights_go_to_each_call() -> None:
    result = imported("torchvision:resnet18", (3, 64, 64))
    weights = result.state_dict()
    original = result.module.state_dict()
    for ours, theirs in [
        ("layer1_1.conv1.weight", "layer1.1.conv1.weight"),
        ("layer1_0.bn1.running_var", "layer1.0.bn1.running_var"),
        ("layer4_0.downsample_0.weight", "layer4.0.downsample.0.weight"),
    ]:
        assert weights[ours].data_ptr() == original[theirs].data_ptr()  # the same storage, not a copy
    assert "layer1_0.bn1.num_batches_tracked" in weights


def test_a_model_from_a_factory_callable() -> None:
    result = import_model("torchvision.models:resnet18", (3, 32, 32), name="r18")
    assert result.program.model.name == "r18"
    assert_faithful(result, (3, 32, 32))


class WithUnusedHead(nn.Module):
    """An auxiliary classifier that only training uses (as GoogLeNet's)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.aux = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


def test_parameters_the_forward_does_not_use_are_left_out_and_said_so() -> None:
    result = import_model(WithUnusedHead(), (3, 8, 8))
    assert result.params == 3 * 4 * 9 + 4
    assert result.summary() == (
        "1 op in 0 blocks (0 calls), 112 parameters; "
        "10 parameters of aux are not used by the eval-mode forward and are left out"
    )


def test_a_block_structure_that_does_not_check_falls_back_to_a_flat_body(monkeypatch: pytest.MonkeyPatch) -> None:
    verify = importer._verify

    def refuse_blocks(program, expected):  # as if block extraction had gone wrong
        assert not program.blocks, "a bad block"
        return verify(program, expected)

    monkeypatch.setattr(importer, "_verify", refuse_blocks)
    result = import_model("torchvision:resnet18", (3, 32, 32))
    assert not result.program.blocks
    assert result.summary().startswith("69 ops in 0 blocks (0 calls), 11,689,512 parameters; flat body")
    assert_faithful(result, (3, 32, 32))


# -- a model that uses the functional and tensor-method mappings ---------------------------


class KitchenSink(nn.Module):
    """Parameters read with get_attr, chunk, indexing, axis moves, scalar
    arithmetic and functional calls."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding="same")
        self.scale = nn.Parameter(torch.rand(8, 1, 1))
        self.shift = nn.Parameter(torch.randn(1, 8, 6, 6))
        self.token = nn.Parameter(torch.randn(1, 1, 4))
        self.ln_weight = nn.Parameter(torch.rand(4))
        self.ln_bias = nn.Parameter(torch.rand(4))
        self.head = nn.Linear(4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[0]
        h = self.conv(x) * self.scale + self.shift
        a, b = h.chunk(2, dim=1)
        h = torch.cat([F.relu(a) - b / 2.0, -b], 1)
        h = F.max_pool2d(h, 2, ceil_mode=True)
        h = h.flatten(2).transpose(1, 2).contiguous()  # [n, 9, 8]
        h = h[:, :, 2:6]  # [n, 9, 4]
        h = torch.cat([self.token.expand(n, -1, -1), h], dim=1)
        h = F.layer_norm(h, (4,), self.ln_weight, self.ln_bias, 1e-6)
        h = h.permute(0, 2, 1).mean(-1) * 3
        return self.head(h.view(n, 4))


def test_functional_calls_methods_and_parameters_map() -> None:
    torch.manual_seed(0)
    result = import_model(KitchenSink(), (3, 6, 6))
    assert_faithful(result, (3, 6, 6))
    ops = {n.op for n in result.program.model.nodes}
    assert {"param", "slice", "scale", "concat", "transpose", "layernorm", "permute", "mean"} <= ops


class Assorted(nn.Module):
    """Norms, dilated grouped convolutions, pools with padding, split and
    unbind, and a few activations."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.gn = nn.GroupNorm(2, 8)
        self.dw = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=8)
        self.pool = nn.AvgPool2d(3, stride=1, padding=1)
        self.amax = nn.AdaptiveMaxPool2d(2)
        self.bn = nn.BatchNorm1d(8)
        self.act = nn.Hardswish()
        self.flat = nn.Flatten()
        self.fc = nn.Linear(32, 6)
        self.drop = nn.Dropout(0.1)
        self.softmax = nn.Softmax(dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.gn(self.conv(x))
        h = torch.sigmoid(self.dw(h)) * h
        h = self.amax(self.pool(h)).flatten(2)  # [8, 4]
        h = self.bn(h)
        a, b = torch.split(h, [1, 3], dim=2)
        rows = h.unbind(1)
        h = torch.add(torch.cat([a, b.tanh()], dim=2), rows[0].unsqueeze(1), alpha=0.5)
        h = F.gelu(self.act(h), approximate="tanh")
        return self.softmax(self.drop(self.fc(self.flat(h))))


def test_norms_pools_and_splits_map() -> None:
    torch.manual_seed(0)
    module = Assorted()
    with torch.no_grad():  # running statistics other than the defaults
        module.bn.running_mean.uniform_(-1, 1)
        module.bn.running_var.uniform_(0.5, 2)
    result = import_model(module, (3, 8, 8))
    assert_faithful(result, (3, 8, 8), tolerance=1e-5)
    ops = [n.op for n in result.program.model.nodes]
    for op in ("groupnorm", "avgpool", "adaptive_maxpool", "batchnorm", "slice", "reshape", "softmax", "gelu"):
        assert op in ops


# -- failures ---------------------------------------------------------------------------------


class Recurrent(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(8, 8, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class Unmappable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Recurrent()
        self.head = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(self.encoder(x))
        return torch.fft.fft(h).real + torch.fft.fft(x).real


def test_everything_unmapped_is_listed_with_counts_and_where() -> None:
    with pytest.raises(ImportFailure) as info:
        import_model(Unmappable(), (5, 8))
    message = info.value.render()
    assert "module torch.nn.modules.rnn.LSTM ×1: encoder.rnn" in message
    assert "function torch._C._fft.fft_fft ×2" in message or "fft ×2" in message
    assert "alphanas/pytorch/fx/converters.py" in message


def test_unknown_torchvision_name_suggests_classifiers() -> None:
    with pytest.raises(ImportFailure, match="no model 'resnet81'") as info:
        import_model("torchvision:resnet81", (3, 64, 64))
    assert "resnet18" in (info.value.hint or "")


class MixesBatch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x.reshape(-1, 4))


class BatchSizedPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(x, x.shape[0])


class SharedConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.conv(x))


class InPlace(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return F.relu(h, inplace=True) + h


@pytest.mark.parametrize(
    ("module", "shape", "message"),
    [
        (MixesBatch(), (2, 4), "does not keep the batch on its first axis"),
        (BatchSizedPool(), (3, 8, 8), "depends on the batch size"),
        (SharedConv(), (3, 8, 8), "called 2 times with the same weights"),
        (InPlace(), (3, 8, 8), "in place"),
    ],
)
def test_models_a_program_cannot_express_are_refused(module: nn.Module, shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ImportFailure, match=message):
        import_model(module, shape)


def test_an_input_shape_the_model_rejects() -> None:
    with pytest.raises(ImportFailure, match=r"fails on an input of shape \[2, 3, 8\]"):
        import_model(torchvision.models.resnet18(), (3, 8))


# -- the command line -----------------------------------------------------------------------


def test_cli_import_writes_a_program_that_checks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "resnet18.arch"
    assert main(["import", "torchvision:resnet18", "--input-shape", "3,64,64", "-o", str(out)]) == 0
    assert "ops in 7 blocks" in capsys.readouterr().out
    assert out.read_text().rstrip().endswith("}")
    assert main(["check", str(out)]) == 0
    assert "11,689,512" in capsys.readouterr().out


def test_cli_import_of_an_unknown_model_fails_with_status_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["import", "torchvision:no_such_net", "--input-shape", "3,64,64"]) == 2
    assert "no model 'no_such_net'" in capsys.readouterr().err
