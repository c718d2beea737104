"""alphanas: neural architecture search where architectures are programs.

The data flow, one module per stage:

- :mod:`alphanas.parse` — text to IR (:mod:`alphanas.ir`), with
  :mod:`alphanas.printer` the way back;
- :mod:`alphanas.ops` — the op library: shapes, costs, PyTorch form;
- :mod:`alphanas.analysis` — shape inference and costs of a program;
- :mod:`alphanas.codegen` — PyTorch source and ``nn.Module`` from a program;
- :mod:`alphanas.fx_import` — torchvision/PyTorch models to programs;
- :mod:`alphanas.canonical` — canonical hashing of programs;
- :mod:`alphanas.zoo` — seed architectures written in the language.
"""

from alphanas.analysis import Instance, analyze
from alphanas.errors import AlphanasError, ParseError, ProgramError, ShapeError
from alphanas.ir import Graph, Node, Program
from alphanas.parse import parse, parse_file
from alphanas.printer import print_program

__version__ = "0.1.0"

__all__ = [
    "AlphanasError",
    "Graph",
    "Instance",
    "Node",
    "ParseError",
    "Program",
    "ProgramError",
    "ShapeError",
    "analyze",
    "parse",
    "parse_file",
    "print_program",
]
