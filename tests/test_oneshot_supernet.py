"""The supernet of a grammar space: one-hot weights give exactly the derived
program's module (built by codegen, holding the supernet's weights), and
what one-shot search cannot mix is refused at the grammar's rule."""

from __future__ import annotations

import itertools

import pytest
import torch

from alphanas import parse
from alphanas.oneshot.choices import OneShotError, read_skeleton
from alphanas.oneshot.supernet import build_supernet, one_hot
from alphanas.variation.space import ProgramSpace

TINY = '''\
body: "h = relu(conv2d(x, 4, k=3, p=1))\\n" "h = " op "\\n" "return dense(flatten(" pool "), 3)"
op: "relu(batchnorm(conv2d(h, 4, k=3, p=1, bias=false)))"
  | "identity(h)"
  | "add(h, avgpool(h, 3, s=1, p=1))"
pool: "adaptive_avgpool(h, 1)" | "adaptive_maxpool(h, 1)"
'''

SEED = '''\
model tiny(x: [2, 6, 6]) {
  h = relu(conv2d(x, 4, k=3, p=1))
  h = identity(h)
  return dense(flatten(adaptive_avgpool(h, 1)), 3)
}
'''


def _supernet(grammar: str = TINY, seed: str = SEED):
    return build_supernet(ProgramSpace(grammar, "body", "tiny.lark"), parse(seed, "tiny.arch"))


def _randomise_batchnorm(module: torch.nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_()
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)


def test_one_hot_weights_give_the_derived_programs_module_output() -> None:
    torch.manual_seed(0)
    supernet = _supernet()
    assert supernet.arity == (3, 2)
    _randomise_batchnorm(supernet)
    supernet.eval()
    x = torch.randn(5, 2, 6, 6)
    outputs = set()
    for picks in itertools.product(range(3), range(2)):
        supernet.use_weights(one_hot(supernet.arity, picks))
        mixed = supernet(x)
        program, module = supernet.program_module(picks)
        module.eval()
        assert supernet.picks_of(program) == picks
        assert torch.equal(mixed, module(x)), picks
        outputs.add(tuple(round(v, 5) for v in mixed.flatten().tolist()))
    assert len(outputs) == 6  # the six paths compute six different functions


def test_soft_weights_mix_the_alternatives() -> None:
    torch.manual_seed(1)
    supernet = _supernet()
    supernet.eval()
    x = torch.randn(3, 2, 6, 6)
    # the pooling choice is last and linear: half of each head is the mean of the two heads
    weights = one_hot(supernet.arity, (1, 0))
    weights[1] = torch.tensor([0.5, 0.5])
    supernet.use_weights(weights)
    halves = supernet(x)
    ends = []
    for pool in range(2):
        supernet.use_path((1, pool))
        ends.append(supernet(x))
    assert torch.allclose(halves, (ends[0] + ends[1]) / 2, atol=1e-6)


def test_the_nb201_cell_space_has_six_choices_of_five() -> None:
    space = ProgramSpace.load("grammars/spaces/nb201_cell.lark", "cell", graph="cell")
    skeleton = read_skeleton(space)
    assert [len(c.alternatives) for c in skeleton.choices] == [5] * 6
    assert skeleton.size == 15625


def test_a_choice_whose_alternatives_differ_in_shape_is_refused_at_its_rule() -> None:
    grammar = TINY.replace('"identity(h)"', '"conv2d(h, 8, k=3, p=1)"')
    with pytest.raises(OneShotError) as caught:
        _supernet(grammar, SEED.replace("identity(h)", "relu(batchnorm(conv2d(h, 4, k=3, p=1, bias=false)))"))
    message = str(caught.value)
    assert caught.value.loc is not None and (caught.value.loc.file, caught.value.loc.line) == ("tiny.lark", 2)
    assert "differ in shape" in message and "[8, 6, 6]" in message and "[4, 6, 6]" in message


def test_a_recursive_rule_is_refused_at_its_rule() -> None:
    grammar = TINY.replace('  | "identity(h)"', '  | "relu(" op ")"')
    with pytest.raises(OneShotError) as caught:
        _supernet(grammar, SEED.replace("identity(h)", "relu(relu(batchnorm(conv2d(h, 4, k=3, p=1, bias=false))))"))
    assert "recursive" in str(caught.value)
    assert caught.value.loc is not None and caught.value.loc.line == 2


def test_a_size_slot_is_refused_at_the_rule_writing_it() -> None:
    grammar = TINY.replace('"h = relu(conv2d(x, 4, k=3, p=1))\\n"', '"h = relu(conv2d(x, " CH ", k=3, p=1))\\n"')
    grammar += 'CH: "4" | "8"\n'
    with pytest.raises(OneShotError) as caught:
        _supernet(grammar)
    assert "size slot CH" in str(caught.value) and caught.value.loc.line == 1
