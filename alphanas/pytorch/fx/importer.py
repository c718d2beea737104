"""From PyTorch to programs: import a model by tracing it with torch.fx.

:func:`import_model` turns an ``nn.Module`` (a torchvision model by name, a
factory ``package.module:callable``, or an instance) into a
:class:`~alphanas.lang.ir.Program` in five steps:

1. **trace** the module (in eval mode) with ``torch.fx``; torch's own layers
   and the module types of
   :data:`~alphanas.pytorch.fx.converters.MODULE_CONVERTERS` stay whole
   ("leaves");
2. **run** the traced graph under ``ShapeProp`` on a random input of batch 2,
   and again on one of batch 3 (with meta tensors: shapes without
   arithmetic). Every node gets its tensor shape, and every non-tensor node
   (``x.size(0)``, ``h // p``) its concrete value. Comparing the two runs
   tells which tensors carry the batch on their first axis and which values
   depend on the batch size, so that a model that mixes the batch axis with
   others is rejected rather than imported wrongly;
3. **convert** each fx node with the small functions of the tables
   :data:`~alphanas.pytorch.fx.converters.MODULE_CONVERTERS`,
   :data:`~alphanas.pytorch.fx.converters.FUNCTION_CONVERTERS` and
   :data:`~alphanas.pytorch.fx.converters.METHOD_CONVERTERS` into op
   applications of the library. Every node nothing maps is collected, and the
   import fails listing all of them;
4. **assemble** the program: each submodule with its own ``forward`` that is
   called once and computes one value from its inputs becomes a block call
   (torchvision's Bottleneck, InvertedResidual, EncoderBlock...), and
   instances with identical bodies share one block definition;
5. **check** the program: its analysed shapes must be the traced ones.

Each step lives in its own module of :mod:`alphanas.pytorch.fx`: loading
and tracing (1, 2) in :mod:`~alphanas.pytorch.fx.tracing`, the converters and
their tables in :mod:`~alphanas.pytorch.fx.converters`, the conversion of the
whole graph (3) in :mod:`~alphanas.pytorch.fx.conversion`, blocks, names and
the check (4, 5) in :mod:`~alphanas.pytorch.fx.assembly`, and the weight
mapping of the result in :mod:`~alphanas.pytorch.fx.weights`.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from alphanas.lang.errors import AlphanasError, ImportFailure
from alphanas.pytorch.fx.assembly import _Assembler, _model_name, _verify
from alphanas.pytorch.fx.classes import find_head, name_classes, resize_head
from alphanas.pytorch.fx.conversion import _convert
from alphanas.pytorch.fx.tracing import _load, _trace
from alphanas.pytorch.fx.weights import ImportResult, _walk_params


def import_model(spec: str | nn.Module, input_shape: Sequence[int] = (3, 224, 224), name: str | None = None,
                 classes: int | None = None) -> ImportResult:
    """Import a PyTorch model as a program.

    ``spec`` is ``"torchvision:NAME"`` (built with ``weights=None``),
    ``"package.module:callable"`` (called without arguments) or an
    ``nn.Module``; ``input_shape`` is the per-sample input shape. Raises
    :class:`~alphanas.lang.errors.ImportFailure` listing everything that does not
    map to the op library.

    The classifier head (the ``nn.Linear`` the output comes from) becomes the
    program's ``classes`` parameter; ``classes``: re-size it first (a fresh
    layer, in the module too, so that the weights carry it; an instance given
    as ``spec`` is changed in place).
    """
    shape = tuple(int(d) for d in input_shape)
    if not shape or any(d < 1 for d in shape):
        raise ImportFailure(f"input shape {list(input_shape)} must list positive sizes (per sample, no batch axis)")
    module, default = _load(spec)
    what = spec if isinstance(spec, str) else f"{type(spec).__name__} instance"
    head = resize_head(module, classes) if classes is not None else find_head(module)
    module.eval()
    gm, tracer, runs = _trace(module, shape, what)
    c, output = _convert(gm, module, tracer, runs, what)
    assembler = _Assembler(c, output, module, tracer, shape, _model_name(name or default))
    notes: list[str] = []
    try:
        program, weights, expected = assembler.program(with_blocks=True)
        count = _verify(program, expected)
    except (AlphanasError, AssertionError) as err:
        # a block structure that does not analyse back is a bug here; the flat
        # body is still a faithful import
        program, weights, expected = assembler.program(with_blocks=False)
        count = _verify(program, expected)
        notes.append(f"flat body: block extraction failed ({str(err).splitlines()[0]})")
    if head is not None:
        program = name_classes(program, weights, head)
    from alphanas.lang.analysis import analyze

    params = int(analyze(program).total.params)
    used = set(_walk_params(module, weights))
    total = {n: p.numel() for n, p in module.named_parameters()}
    if params != sum(total[n] for n in used):
        raise ImportFailure(
            f"the program has {params:,} parameters but maps {sum(total[n] for n in used):,} of the model's "
            "(a parameter used in two shapes?)"
        )
    unused = sorted(set(total) - used)
    if unused:
        owners = sorted({n.split(".")[0] for n in unused})
        notes.append(
            f"{sum(total[n] for n in unused):,} parameters of {', '.join(owners)} are not used by the "
            "eval-mode forward and are left out"
        )
    return ImportResult(program, module, weights, ops=count, params=params, notes=tuple(notes))
