"""Weight inheritance: a child starts from its parent's trained weights for
every op that did not change, and a seed starts from the weights it came with.

**Matching a child to its parent.** A child is its parent with one region
re-synthesized (or a block call duplicated or deleted); the child is
printed and parsed again, so its value ids are not the parent's (``h_3`` may
now be what was ``h_4``), and a mutated block is a renamed copy. Ops are
therefore matched by the canonical structure, not by name: the two programs'
block instances are walked together from the model down, and in each pair of
graphs the statement sequences are aligned (a longest common subsequence)
where two ops may pair only if they are the same op with the same concrete
attributes and the same output shape (block calls: the same output shape;
their bodies are then aligned in turn, whatever the block is called now).
Among equally long alignments, one that keeps more ids wins, so that
unchanged statements pair with themselves. Every parameter and buffer of a
paired op whose shape agrees is copied, tensor for tensor; everything else
starts fresh. The region the mutation record names (``graph``, ``region``,
``bindings``: the parent's ids) is excluded outright when the record is
given, so that a synthesized op is fresh even where it happens to look like
the op it replaced.

**Seed weights.** ``seed_weights`` (:class:`SeedWeights`) is a ``state_dict``
either under the program's own parameter names (an alphanas checkpoint, or
the ``--weights`` of ``alphanas import``) or of the original PyTorch module
of a ``torchvision:NAME`` or ``package.module:callable`` seed, which is then
imported again and mapped (:meth:`alphanas.pytorch.fx.ImportResult.state_dict`).
They apply to the seed program only (by its fingerprint), never to a child.

**Fine-tuning.** :class:`FineTune` says how a child that inherited weights
trains: its own budget in epochs, and learning-rate factors for inherited and
fresh parameters.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from alphanas.lang.analysis import Instance, analyze
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Node, Program
from alphanas.lang.printer import print_program
from alphanas.pytorch.codegen import attribute_name

__all__ = [
    "FineTune",
    "Inheritance",
    "SeedWeights",
    "inherit_from_parent",
    "load_seed_weights",
    "match_ops",
    "program_fingerprint",
]

#: the parent's program, saved beside its weights so that a child can align to it
PROGRAM_FILE = "program.arch"


def program_fingerprint(program: Program) -> str:
    """A hash of the canonical text: two programs that print alike build
    modules with the same parameter names, so a state of one loads into the
    other."""
    return hashlib.blake2b(print_program(program).encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class FineTune:
    """How a child that inherited weights trains. ``epochs``: its budget
    (None: the search's fidelity); ``lr_inherited`` and ``lr_new``: factors
    on the learning rate of the inherited and of the fresh parameters."""

    epochs: float | None = None
    lr_inherited: float = 1.0
    lr_new: float = 1.0

    def __post_init__(self) -> None:
        if self.epochs is not None and not self.epochs >= 0:
            raise AlphanasError(f"finetune epochs={self.epochs} must be >= 0")
        for name in ("lr_inherited", "lr_new"):
            if not getattr(self, name) >= 0:
                raise AlphanasError(f"finetune {name}={getattr(self, name)} must be >= 0")


@dataclass(frozen=True)
class Inheritance:
    """What a child took from its parent: the tensors copied (child name ->
    parent name), and the share of its parameter elements they hold."""

    copied: Mapping[str, str]
    inherited_params: int
    total_params: int
    #: parameter names of the child that start fresh
    fresh: tuple[str, ...] = ()

    @property
    def fraction(self) -> float:
        return self.inherited_params / self.total_params if self.total_params else 0.0


# -- matching ops by structure --------------------------------------------------------------------


def _label(inst: Instance, node: Node) -> tuple:
    """What must agree for two statements to pair: the op with its concrete
    attributes (a block call: just ``call``) and its output shape. Input
    shapes may differ (a changed op upstream); each tensor is then copied
    only where its shape agrees."""
    out = tuple(inst.shapes[node.id])
    if node.id in inst.calls:
        return ("call", out)
    return (node.op, repr(sorted(dict(inst.attrs.get(node.id) or {}).items())), out)


def _align(parent: Sequence[tuple], child: Sequence[tuple], parent_ids: Sequence[str],
           child_ids: Sequence[str], banned: set[int]) -> list[tuple[int, int]]:
    """Index pairs (parent, child) of a longest alignment of equal labels;
    among the longest, the one that pairs the most equal ids. ``banned``:
    parent positions that may not pair."""
    n, m = len(parent), len(child)
    # score 2 per pair, +1 when the ids agree too: length first, ids second
    best = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n - 1, -1, -1):
        for j in range(m - 1, -1, -1):
            score = max(best[i + 1][j], best[i][j + 1])
            if i not in banned and parent[i] == child[j]:
                score = max(score, best[i + 1][j + 1] + 2 + (parent_ids[i] == child_ids[j]))
            best[i][j] = score
    pairs: list[tuple[int, int]] = []
    i = j = 0
    while i < n and j < m:
        if i not in banned and parent[i] == child[j] and \
                best[i][j] == best[i + 1][j + 1] + 2 + (parent_ids[i] == child_ids[j]):
            pairs.append((i, j))
            i, j = i + 1, j + 1
        elif best[i][j] == best[i + 1][j]:
            i += 1
        else:
            j += 1
    return pairs


def _region_of(inst: Instance, region: Mapping[str, Any] | None) -> set[str]:
    """The parent ids the mutation record names, if this instance is the
    one it mutated."""
    if not region or "region" not in region or inst.graph.name != region.get("graph"):
        return set()
    bindings = region.get("bindings") or {}
    if dict(inst.bindings) != {k: int(v) for k, v in bindings.items()}:
        return set()
    return set(region["region"])


def _walk_pair(parent: Instance, child: Instance, prefix: tuple[str, str], region: Mapping[str, Any] | None,
               out: dict[str, str]) -> None:
    pnodes, cnodes = parent.graph.nodes, child.graph.nodes
    excluded = _region_of(parent, region)
    banned = {k for k, n in enumerate(pnodes) if n.id in excluded}
    pairs = _align([_label(parent, n) for n in pnodes], [_label(child, n) for n in cnodes],
                   [n.id for n in pnodes], [n.id for n in cnodes], banned)
    for i, j in pairs:
        p, c = pnodes[i], cnodes[j]
        paths = (prefix[0] + p.id, prefix[1] + c.id)
        if c.id in child.calls:
            _walk_pair(parent.calls[p.id], child.calls[c.id], (paths[0] + ".", paths[1] + "."), region, out)
        else:
            out[paths[1]] = paths[0]


def match_ops(parent: Program, child: Program, region: Mapping[str, Any] | None = None) -> dict[str, str]:
    """Op paths of ``child`` (node ids through block calls, joined by dots)
    -> the op path of ``parent`` they take their weights from. ``region``: a
    mutation record (``graph``, ``region``, ``bindings``) whose ops start
    fresh."""
    pairs: dict[str, str] = {}
    _walk_pair(analyze(parent), analyze(child), ("", ""), region, pairs)
    return pairs


def _module_prefix(path: str) -> str:
    """The state_dict prefix of an op's module, as codegen names it."""
    return ".".join(attribute_name(part) for part in path.split(".")) + "."


def inherit_from_parent(model: nn.Module, child: Program, parent: Program, parent_state: Mapping[str, torch.Tensor],
                        region: Mapping[str, Any] | None = None) -> Inheritance:
    """Copy into ``model`` (built from ``child``) every tensor of the ops
    :func:`match_ops` pairs with ``parent``'s, from ``parent_state``."""
    own = model.state_dict()
    copied: dict[str, str] = {}
    for cpath, ppath in match_ops(parent, child, region).items():
        cprefix, pprefix = _module_prefix(cpath), _module_prefix(ppath)
        for key in own:
            if key.startswith(cprefix):
                source = pprefix + key[len(cprefix):]
                if source in parent_state and parent_state[source].shape == own[key].shape:
                    copied[key] = source
    model.load_state_dict({k: parent_state[v] for k, v in copied.items()}, strict=False)
    params = dict(model.named_parameters())
    total = sum(p.numel() for p in params.values())
    inherited = sum(params[k].numel() for k in copied if k in params)
    fresh = tuple(k for k in params if k not in copied)
    return Inheritance(copied, inherited, total, fresh)


def read_parent(checkpoint: str | Path) -> tuple[Program, dict[str, torch.Tensor]]:
    """The parent's program (saved beside its weights) and weights."""
    from alphanas.lang.parse import parse_file

    folder = Path(checkpoint).parent
    program_file = folder / PROGRAM_FILE
    if not program_file.is_file():
        raise AlphanasError(f"the parent's checkpoint {checkpoint} has no {PROGRAM_FILE} beside it",
                            hint="weights can be inherited only from parents evaluated by this version")
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)
    return parse_file(str(program_file)), state


# -- seed weights ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedWeights:
    """Trained weights for the seed program. ``path``: a ``state_dict``
    file; ``program``: the seed's fingerprint (:func:`program_fingerprint`);
    ``source``: the ``torchvision:NAME`` or ``module:callable`` the seed was
    imported from, with its ``input_shape`` and ``classes``, so that a
    state_dict of the original module can be mapped (None: the file must use
    the program's own names)."""

    path: str
    program: str
    source: str | None = None
    input_shape: tuple[int, ...] | None = None
    classes: int | None = None


def load_seed_weights(seed: SeedWeights, model: nn.Module) -> int:
    """Load ``seed``'s weights into ``model`` (built from the seed program),
    every tensor of it; the number of tensors. The file is read under the
    program's names first, then (for an imported seed) as the original
    module's; a clear error when it fits neither."""
    own = model.state_dict()
    state = _raw_state(seed.path)
    problem = _misfit(state, own)
    if problem is not None and seed.source is not None:
        state = _mapped_from_original(seed)
        problem = _misfit(state, own)
    if problem is not None:
        raise AlphanasError(f"seed_weights {seed.path} do not fit the seed program: {problem}",
                            hint="give the state_dict of the seed's own module (with the same classes), an "
                            "alphanas checkpoint of it, or the --weights written by `alphanas import`")
    model.load_state_dict({k: state[k] for k in own}, strict=True)
    return len(own)


def _misfit(state: Mapping[str, torch.Tensor], own: Mapping[str, torch.Tensor]) -> str | None:
    """Why ``state`` cannot fill every tensor of ``own`` (None: it can)."""
    missing = [k for k in own if k not in state]
    if missing:
        return f"{len(missing)} of the program's {len(own)} tensors are not in it (first: {missing[0]})"
    for k, v in own.items():
        if tuple(state[k].shape) != tuple(v.shape):
            return f"{k} has shape {list(state[k].shape)}, the program's {list(v.shape)}"
    return None


@functools.lru_cache(maxsize=2)
def _raw_state(path_text: str) -> dict[str, torch.Tensor]:
    """The tensors of a weights file (read once per process): a state_dict,
    or the ``model`` entry of a training state (``state.pt``)."""
    path = Path(path_text)
    if not path.is_file():
        raise AlphanasError(f"seed_weights {path_text}: no such file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a file that is not a state_dict: say so at its name
        raise AlphanasError(f"seed_weights {path_text} cannot be read as a state_dict: {err}") from None
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise AlphanasError(f"seed_weights {path_text} is not a state_dict (a mapping of names to tensors)")
    return state


@functools.lru_cache(maxsize=2)
def _mapped_from_original(seed: SeedWeights) -> dict[str, torch.Tensor]:
    """A state_dict of the original module, under the program's names: the
    seed is imported again, the file loaded into its module, and mapped."""
    from alphanas.pytorch.fx import import_model

    assert seed.source is not None
    result = import_model(seed.source, seed.input_shape or (3, 224, 224), classes=seed.classes)
    try:
        result.module.load_state_dict(_raw_state(seed.path), strict=True)
    except RuntimeError as err:
        first = " ".join(line.strip() for line in str(err).splitlines()[:2])
        raise AlphanasError(f"seed_weights {seed.path} fit neither the program nor {seed.source}: {first}",
                            hint="give the state_dict of the model the seed names (with the same classes)") from None
    return result.state_dict()
