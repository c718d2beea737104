"""Seed architectures written in the alphanas language.

Each model is one ``NAME.arch`` file in this package folder (package data, so
it ships with the wheel); the file name is the zoo name. The ImageNet models
mirror torchvision's exactly (same parameters, same FLOPs, same layer order,
so torchvision weights load into them), which makes them trustworthy seeds
for the search and reference points for the cost model.

>>> from alphanas import zoo
>>> program = zoo.load("resnet18", classes=10)
"""

from __future__ import annotations

import difflib
from pathlib import Path

from alphanas.lang.errors import ProgramError
from alphanas.lang.files import read_text
from alphanas.lang.ir import Program
from alphanas.lang.parse import parse, parse_file

#: The folder holding the ``*.arch`` files.
FOLDER = Path(__file__).resolve().parent

__all__ = ["FOLDER", "load", "load_program", "names", "path", "text"]


def names() -> list[str]:
    """Every zoo model's name, sorted."""
    return sorted(p.stem for p in FOLDER.glob("*.arch"))


def path(name: str) -> Path:
    """The ``.arch`` file of a zoo model; :class:`ProgramError` if there is none."""
    file = FOLDER / f"{name}.arch"
    # A name with a path separator or a dot could reach outside the folder.
    if not file.is_file() or file.parent != FOLDER or file.stem != name:
        raise ProgramError(f"the zoo has no model {name!r}", hint=_unknown_hint(name))
    return file


def text(name: str) -> str:
    """The source text of a zoo model."""
    return read_text(path(name), "program", error=ProgramError)


def load(name: str, **params: int) -> Program:
    """Parse a zoo model, with new defaults for its int parameters.

    ``load("resnet18", classes=10, width=16)`` is the program whose model
    header reads ``classes: int = 10, width: int = 16``; the text printed
    back from it shows those values, so the override survives a round trip.
    """
    program = parse(text(name), file=f"zoo:{name}")
    known = [p.name for p in program.model.params]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise ProgramError(
            f"zoo model {name!r} has no parameter {', '.join(map(repr, unknown))}",
            hint=f"its parameters are {', '.join(known) or '(none)'}",
        )
    for key, value in params.items():
        # bool is an int subclass but `true` is no channel count.
        if type(value) is not int or value < 1:
            raise ProgramError(
                f"parameter {key}={value!r} of zoo model {name!r} must be a positive integer"
            )
    return program.with_model_params(**params)


def load_program(spec: str) -> Program:
    """A program from a file path, or a zoo model as ``zoo:NAME``: what every
    command that takes a program accepts."""
    if spec.startswith("zoo:"):
        return load(spec[4:])
    if not Path(spec).exists():
        hint = "give a path to a .arch file, or zoo:NAME for a seed model (see `alphanas zoo`)"
        raise ProgramError(f"no such file: {spec}", hint=hint)
    return parse_file(spec)


def _unknown_hint(name: str) -> str:
    available = names()
    close = difflib.get_close_matches(name, available, n=1, cutoff=0.5)
    guess = f"did you mean {close[0]!r}? " if close else ""
    return f"{guess}the zoo has: {', '.join(available)}"
