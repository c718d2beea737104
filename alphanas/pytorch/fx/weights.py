"""The weights: an :class:`ImportResult` carries the original module and,
for each op of the program, where its state comes from; its
:meth:`~ImportResult.state_dict` gives the original parameters and buffers
under the names of the module ``alphanas.pytorch.codegen.build`` makes of the
program. :func:`_walk_params` lists the original parameters a program uses.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from alphanas import ops
from alphanas.lang.ir import Program
from alphanas.pytorch.fx.context import _Weights


@dataclass
class ImportResult:
    """An imported program, with what it takes to load the original weights."""

    program: Program
    #: the original module (in eval mode)
    module: nn.Module
    #: dotted path of an op (node ids through block calls) -> its weights' origin
    weights: dict[str, _Weights]
    ops: int = 0
    params: int = 0
    notes: tuple[str, ...] = ()

    def summary(self) -> str:
        """One line: ops, blocks, calls, parameters, and any note."""
        calls = sum(1 for n in self.program.model.nodes if ops.lookup(n.op) is None)
        blocks = len(self.program.blocks)
        shape = f"in {blocks} block{'s' if blocks != 1 else ''} ({calls} call{'s' if calls != 1 else ''})"
        line = f"{self.ops} op{'s' if self.ops != 1 else ''} {shape}, {self.params:,} parameters"
        return "; ".join([line, *self.notes])

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The original model's parameters and buffers under the names of
        ``alphanas.pytorch.codegen.build(self.program)``, for ``load_state_dict(strict=True)``."""
        from alphanas.pytorch.codegen import attribute_name, build

        ours = build(self.program).state_dict()
        theirs = self.module.state_dict()
        result: dict[str, torch.Tensor] = {}
        reshapeable: set[str] = set()
        for path, w in self.weights.items():
            # codegen names a block call's submodule and an op's module after the
            # node id, through attribute_name (which dodges nn.Module's own names)
            prefix = ".".join(attribute_name(part) for part in path.split(".")) + "."
            keys = [k for k in ours if k.startswith(prefix)]
            if w.module is not None:
                for k in keys:
                    result[k] = theirs[f"{w.module}.{k[len(prefix):]}"]
            for suffix, name in w.tensors:
                result[prefix + suffix] = theirs[name]
            if w.single is not None:
                assert len(keys) == 1, f"{path}: expected one tensor, the module has {keys}"
                result[keys[0]] = theirs[w.single]
                # a learned tensor may carry a batch axis of 1 on one side only
                reshapeable.add(keys[0])
        missing = sorted(set(ours) - set(result))
        assert not missing, f"no original tensor for {missing[:5]}"
        for k, t in result.items():
            want = ours[k].shape
            if t.shape != want:
                assert k in reshapeable and t.numel() == ours[k].numel(), (
                    f"{k}: the original tensor has shape {list(t.shape)}, the program's {list(want)}"
                )
                result[k] = t.reshape(want)
        return {k: result[k] for k in ours}


def _walk_params(module: nn.Module, weights: dict[str, _Weights]) -> Iterator[str]:
    """The original parameter names the program's weights come from."""
    for w in weights.values():
        if w.module is not None:
            yield from (f"{w.module}.{n}" for n, _ in module.get_submodule(w.module).named_parameters())
        yield from (name for _, name in w.tensors)
        if w.single is not None:
            yield w.single
