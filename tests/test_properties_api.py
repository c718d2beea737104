"""The properties entry point (alphanas.properties.api), the shape property,
the `alphanas properties` command and the properties benchmark."""

from __future__ import annotations

import json
import random

import pytest

from alphanas import analyze, parse, zoo
from alphanas.cli import main
from alphanas.lang.errors import ProgramError
from alphanas.lang.regions import block_instances, instances_of, make_region, region_by_range
from alphanas.properties import Level, api
from alphanas.properties import shape as shape_mod
from alphanas.properties.shape import Shapes, infer_shapes

# a region whose two outputs read different inputs: output n2 needs only b,
# the second region input, so its pair must land on input position 1
TWO_OUTPUTS = """\
model net(x: [4, 8, 8]) {
  a = conv2d(x, 4, k=1)
  b = conv2d(x, 4, k=3, p=1)
  n1 = relu(a)
  n2 = relu(b)
  n3 = add(n1, n2)
  return add(n3, n2)
}
"""


@pytest.fixture(scope="module")
def resnet18():
    program = zoo.load("resnet18")
    return program, analyze(program)


@pytest.fixture(scope="module")
def basic_props(resnet18):
    """The whole residual body of the first `basic` instance, as a region."""
    program, root = resnet18
    inst = instances_of(program, "basic", root)[0]
    region = region_by_range(program.block("basic"), "y_conv2d", "out")
    return api.region_properties(program, "basic", region, inst)


# -- region_properties ---------------------------------------------------------------------


def test_residual_block_region(basic_props) -> None:
    p = basic_props
    assert p.region.inputs == ("x",) and p.region.outputs == ("out",)
    assert p.shapes == Shapes(((64, 56, 56),), ((64, 56, 56),))
    # conv, bn (L) relu (N) conv, bn (L) add (L) relu (N): runs L N L N on the
    # main path; the shortcut (add, relu) gives L N
    assert dict(p.depth.items()) == {(0, 0): 4}
    assert p.depth.label((0, 0)) == ("x", "out")
    m = p.mixing[(0, 0)]
    assert len(m) == 4 and len(m[0]) == 4  # batch, channels, height, width
    assert m[2][2] == Level.MANY and m[3][3] == Level.MANY  # 3x3 windows
    assert m[2][3] == Level.NONE and m[3][2] == Level.NONE
    assert m[1][1] == Level.ALL  # a conv reads every channel
    # two 3x3 convs of 64 -> 64 channels, two batchnorms
    assert p.resources.params == 2 * 64 * 64 * 9 + 2 * 2 * 64
    assert p.resources.matmul_flops == 2 * 2 * 64 * 64 * 9 * 56 * 56


def test_region_equals_whole_graph(resnet18, basic_props) -> None:
    program, root = resnet18
    inst = instances_of(program, "basic", root)[0]
    whole = api.whole_graph_properties(program, inst)
    assert whole.shapes == basic_props.shapes
    assert whole.depth == basic_props.depth
    assert whole.mixing == basic_props.mixing
    assert whole.resources == basic_props.resources


def test_outputs_reading_different_inputs() -> None:
    program = parse(TWO_OUTPUTS)
    region = region_by_range(program.model, "n1", "n3")
    assert region.inputs == ("a", "b") and region.outputs == ("n2", "n3")
    p = api.region_properties(program, "net", region, analyze(program))
    assert dict(p.depth.items()) == {(1, 0): 1, (0, 1): 2, (1, 1): 2}
    assert p.depth.label((1, 0)) == ("b", "n2")
    assert set(p.mixing) == {(1, 0), (0, 1), (1, 1)}
    assert p.shapes.outputs == ((4, 8, 8), (4, 8, 8))
    data = api.to_json(p)
    assert [(d["input"], d["output"], d["depth"]) for d in data["depth"]] == [
        ("a", "n3", 2), ("b", "n2", 1), ("b", "n3", 2)
    ]


def test_every_instance(resnet18) -> None:
    program, _ = resnet18
    region = region_by_range(program.block("basic"), "y_conv2d", "y")
    props = api.properties_in_every_instance(program, "basic", region)
    assert [p.shapes.inputs[0][0] for p in props] == [64, 128, 256, 512]
    assert all(dict(p.depth.items()) == {(0, 0): 2} for p in props)
    with pytest.raises(ProgramError, match="no block 'basik'"):
        api.properties_in_every_instance(program, "basik", region)


def test_model_body(resnet18) -> None:
    program, root = resnet18
    p = api.whole_graph_properties(program, root)
    assert p.shapes == infer_shapes(program, root) == Shapes(((3, 224, 224),), ((1000,),))
    assert p.resources.params == 11_689_512
    assert len(p.mixing[(0, 0)][0]) == 2  # batch, features


# -- the shape property --------------------------------------------------------------------


def test_shape_property() -> None:
    t = Shapes(((64, 56, 56),), ((64, 56, 56),))
    half = Shapes(((64, 56, 56),), ((64, 28, 28),))
    uneven = Shapes(((64, 56, 56),), ((64, 28, 56),))
    assert shape_mod.satisfies(t, t) and shape_mod.distance(t, t) == 0
    assert not shape_mod.satisfies(half, t) and shape_mod.distance(half, t) == 1
    assert shape_mod.satisfies(half, t, allow_downsampling=True)
    assert shape_mod.distance(half, t, allow_downsampling=True) == 0
    assert not shape_mod.satisfies(uneven, t, allow_downsampling=True)
    assert not shape_mod.satisfies(Shapes(((3, 56, 56),), ((64, 56, 56),)), t, allow_downsampling=True)
    assert not shape_mod.satisfies(Shapes(((64, 56, 56),), ((32, 28, 28),)), t, allow_downsampling=True)
    assert shape_mod.mutate(t, random.Random(0)) is t


# -- satisfies, distance, mutate ---------------------------------------------------------------


def test_order_distance_mutate(basic_props) -> None:
    p = basic_props
    assert api.satisfies(p, p) and api.distance(p, p) == 0
    rng = random.Random(1)
    for _ in range(30):
        t = api.mutate(p, rng, p_depth=0.7, p_mixing=0.3)
        assert t.shapes == p.shapes and t.region == p.region and t.resources == p.resources
        assert api.satisfies(p, t) == (api.distance(p, t) == 0)
    # a deeper target is not met; the shortfall is in the distance
    moved = {api.mutate(p, random.Random(seed), depth_delta=1, p_depth=1.0, p_mixing=0.0).depth[(0, 0)]: seed
             for seed in range(10)}
    assert set(moved) == {3, 5}
    deeper = api.mutate(p, random.Random(moved[5]), depth_delta=1, p_depth=1.0, p_mixing=0.0)
    assert not api.satisfies(p, deeper) and api.distance(p, deeper) == pytest.approx(1 / 5)
    shallower = api.mutate(p, random.Random(moved[3]), depth_delta=1, p_depth=1.0, p_mixing=0.0)
    assert api.satisfies(p, shallower) and api.distance(p, shallower) == 0
    # a relaxed mixing is always met
    relaxed = api.mutate(p, random.Random(2), p_depth=0.0, p_mixing=1.0)
    assert api.satisfies(p, relaxed) and api.distance(p, relaxed) == 0
    # a shape mismatch outweighs depth and mixing together
    other = api.RegionProperties(p.region, Shapes(p.shapes.inputs, ((64, 28, 28),)), p.depth, p.mixing, p.resources)
    assert not api.satisfies(other, p) and api.distance(other, p) == 3.0
    assert api.distance(other, p, weights={"shape": 1.0}) == 1.0


def test_mutate_is_reproducible(basic_props) -> None:
    a = api.mutate(basic_props, random.Random(7), p_depth=1.0, p_mixing=0.5, p_drop=0.2)
    b = api.mutate(basic_props, random.Random(7), p_depth=1.0, p_mixing=0.5, p_drop=0.2)
    assert a == b and a.shapes == basic_props.shapes


# -- regions from text -----------------------------------------------------------------------


def test_parse_region_errors(resnet18) -> None:
    program, _ = resnet18
    basic = program.block("basic")
    assert api.parse_region(basic, None).order == tuple(n.id for n in basic.nodes)
    assert api.parse_region(basic, "y_conv2d,y_batchnorm") == make_region(basic, ["y_conv2d", "y_batchnorm"])
    with pytest.raises(ProgramError) as err:
        api.parse_region(basic, "y_conv..out")
    assert "did you mean 'y_conv2d'" in err.value.render()
    with pytest.raises(ProgramError, match="not connected"):
        api.parse_region(basic, "y_conv2d,y_conv2d_1")
    encoder = zoo.load("vit_tiny").block("encoder")
    with pytest.raises(ProgramError, match="not convex"):
        api.parse_region(encoder, "h,out")


# -- the command line ------------------------------------------------------------------------


def test_cli_model(capsys) -> None:
    assert main(["properties", "zoo:resnet18"]) == 0
    out = capsys.readouterr().out
    assert "input  x: [3, 224, 224]" in out and "output out: [1000]" in out
    assert "x -> out:" in out and "channels" in out and "features" in out
    assert "11,689,512" in out and "peak memory" in out


def test_cli_block_every_instance(capsys) -> None:
    assert main(["properties", "zoo:resnet18", "--block", "basic"]) == 0
    out = capsys.readouterr().out
    assert out.count("== instance") == 4
    assert "basic(c=64), inputs [64, 56, 56]" in out and "basic(c=512), inputs [512, 7, 7]" in out
    assert "x -> out: 4" in out


def test_cli_region_json(capsys) -> None:
    assert main(["properties", "zoo:resnet18", "--block", "basic_down", "--region", "y_conv2d..y", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["graph"] == "basic_down" and data["kind"] == "block"
    assert len(data["instances"]) == 3
    first = data["instances"][0]
    assert first["bindings"] == {"c": 128, "s": 2} and first["input_shapes"] == [[64, 56, 56]]
    assert first["region"]["nodes"] == ["y_conv2d", "y_batchnorm", "y"]
    assert first["shapes"] == {"inputs": [[64, 56, 56]], "outputs": [[128, 28, 28]]}
    assert first["depth"] == [{"input": "x", "input_index": 0, "output": "y", "output_index": 0, "depth": 2}]
    mix = first["mixing"][0]
    assert mix["rows"] == mix["columns"] == ["batch", "channels", "height", "width"]
    assert mix["matrix"][2][2] == "many" and mix["matrix"][2][3] == "none"
    assert set(first["resources"]) == {"params", "flops", "matmul_flops", "other_flops", "activations",
                                       "peak_memory"}
    assert first["resources"]["params"] == 64 * 128 * 9 + 2 * 128


def test_cli_model_region(capsys) -> None:
    assert main(["properties", "zoo:resnet18", "--region", "h_conv2d..h_2"]) == 0
    out = capsys.readouterr().out
    assert "output h_2: [64, 56, 56]" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--block", "basik"], "did you mean 'basic'?"),
        (["--block", "basic", "--region", "y_conv..out"], "did you mean 'y_conv2d'?"),
        (["--block", "basic", "--region", "y_conv2d,y_conv2d_1"], "not connected"),
        (["--region", "x..h"], "is an input"),
        (["--block", "basic", "--region", "out..y_conv2d"], "comes after"),
    ],
)
def test_cli_errors(capsys, args, message) -> None:
    assert main(["properties", "zoo:resnet18", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and "hint:" in err and "Traceback" not in err


def test_cli_non_convex(capsys) -> None:
    assert main(["properties", "zoo:vit_tiny", "--block", "encoder", "--region", "h,out"]) == 2
    err = capsys.readouterr().err
    assert "not convex" in err and "hint: add" in err and "Traceback" not in err


# -- the benchmark -------------------------------------------------------------------------------


def test_benchmark_smoke(tmp_path, capsys) -> None:
    out = tmp_path / "props.json"
    assert main(["bench", "properties", "--repeats", "1", "--warmup", "0", "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert "resnet50" in text and "vit_small" in text and "total median" in text
    data = json.loads(out.read_text())
    assert [r["model"] for r in data["results"]] == ["resnet50", "vit_small"]
    assert data["results"][0]["graphs"] == len(block_instances(zoo.load("resnet50"))) + 1
    assert data["target"]["limit_ms"] == 50.0 and isinstance(data["target"]["met"], bool)
