"""From PyTorch to programs: import a torchvision or PyTorch model (with its
weights) as a program, through torch.fx (:func:`import_model`).

The modules, in the order of the import (each imports only those above it):

- :mod:`~alphanas.pytorch.fx.context` — what a converter works with (the
  traced values, the flat op list being built) and the records passed between
  the stages (``_Op``, ``_Weights``, ``_Meta``...);
- :mod:`~alphanas.pytorch.fx.converters` — one converter per torch module,
  function or Tensor method, and the tables :data:`MODULE_CONVERTERS`,
  :data:`FUNCTION_CONVERTERS` and :data:`METHOD_CONVERTERS`;
- :mod:`~alphanas.pytorch.fx.tracing` — loading a model spec, the tracer (what
  stays a leaf) and the two runs that record shapes and values;
- :mod:`~alphanas.pytorch.fx.conversion` — every live fx node through the
  tables into the flat op list, and the report of everything that does not map;
- :mod:`~alphanas.pytorch.fx.assembly` — the flat op list as a program: blocks,
  shared bodies, names, and the check of its shapes against the traced ones;
- :mod:`~alphanas.pytorch.fx.weights` — :class:`ImportResult` and its
  ``state_dict``: the original weights under the program's parameter names;
- :mod:`~alphanas.pytorch.fx.importer` — :func:`import_model`, the five steps
  end to end.

This package is the only one that knows torch's names for layers and
functions; the op library (:mod:`alphanas.ops`) is the only one that knows
ours. To support a new layer, write a converter and register it in one of the
tables of :mod:`~alphanas.pytorch.fx.converters`.

May import: torch, torchvision, :mod:`alphanas.ops`, :mod:`alphanas.lang`,
:mod:`alphanas.pytorch.codegen`; nothing from a later stage (properties,
variation, evaluation, search, runs, cli).
"""

from alphanas.pytorch.fx.context import BATCH, BATCH_CHECK, Converter, Shape
from alphanas.pytorch.fx.converters import FUNCTION_CONVERTERS, METHOD_CONVERTERS, MODULE_CONVERTERS
from alphanas.pytorch.fx.importer import import_model
from alphanas.pytorch.fx.weights import ImportResult

__all__ = [
    "BATCH",
    "BATCH_CHECK",
    "FUNCTION_CONVERTERS",
    "METHOD_CONVERTERS",
    "MODULE_CONVERTERS",
    "Converter",
    "ImportResult",
    "Shape",
    "import_model",
]
