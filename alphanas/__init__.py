"""alphanas: neural architecture search where architectures are programs.

The data flow, one module per stage:

- :mod:`alphanas.lang.parse` — text to IR (:mod:`alphanas.lang.ir`), with
  :mod:`alphanas.lang.printer` the way back;
- :mod:`alphanas.ops` — the op library: shapes, costs, PyTorch form;
- :mod:`alphanas.lang.analysis` — shape inference and costs of a program;
- :mod:`alphanas.pytorch.codegen` — PyTorch source and ``nn.Module`` from a program;
- :mod:`alphanas.pytorch.fx` — torchvision/PyTorch models to programs;
- :mod:`alphanas.lang.canonical` — canonical hashing of programs;
- :mod:`alphanas.zoo` — seed architectures written in the language.
"""

from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.errors import AlphanasError, ParseError, ProgramError, ShapeError
from alphanas.lang.ir import Graph, Node, Program
from alphanas.lang.parse import parse, parse_file
from alphanas.lang.printer import print_program

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
