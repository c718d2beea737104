"""``alphanas export``: a program, or a candidate of a run, as one
standalone PyTorch source file (:func:`alphanas.pytorch.codegen.module_source`:
it imports only torch), and a run candidate's trained weights with it.

The weights a training evaluation kept (``candidates/NNNNNN/weights.pt``)
are the ``state_dict`` of the module :func:`alphanas.pytorch.codegen.build` made
from the same generated source, so they load into the exported class as
they are. They are loaded into it (strictly) before anything is written,
so a file that does not fit is never produced.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from alphanas.lang import files
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.runs.inspection import RunView, format_metric
from alphanas.search.store import Candidate

__all__ = ["ExportResult", "check_source_path", "export_candidate", "export_program"]


@dataclass(frozen=True)
class ExportResult:
    """What was written: the source file, its model class, and the weights."""

    source: Path
    class_name: str
    weights: Path | None = None


def check_source_path(path: str | Path) -> Path:
    """The path of the source to write, if it is a .py file in an existing folder."""
    p = Path(path)
    if p.suffix != ".py":
        raise AlphanasError(f"cannot write {p}: the export is Python source, a .py file", hint="give -o model.py")
    return files.check_output(p, "export", error=AlphanasError)


def _check_weights_path(path: str | Path) -> Path:
    p = Path(path)
    if p.suffix not in (".pt", ".pth"):
        raise AlphanasError(f"cannot write {p}: weights are saved with torch.save, as a .pt or .pth file",
                            hint="give --weights model.pt")
    return files.check_output(p, "weights file", error=AlphanasError)


def export_program(program: Program, output: str | Path, header: str = "") -> ExportResult:
    """Write ``program`` as standalone PyTorch source; ``header``: comment
    lines put before the module's docstring."""
    from alphanas import analyze
    from alphanas.pytorch.codegen import module_source

    path = check_source_path(output)
    source, top = module_source(program, analyze(program))
    files.write_text(path, header + source, "export", error=AlphanasError)
    return ExportResult(path, top)


def _header(run: RunView, candidate_id: int, class_name: str, weights: Path | None) -> str:
    """Comments saying where the model came from, what it scored and how to
    feed it (the data pipeline it was trained with)."""
    c = run.candidate(candidate_id)
    made = "the seed program" if c.parent_id is None else f"made by {c.operator} from #{c.parent_id}"
    metrics = ", ".join(f"{k}={format_metric(v)}" for k, v in sorted(c.metrics.items())
                        if isinstance(v, int | float) and not isinstance(v, bool))
    lines = [
        f"Exported by `alphanas export` from the run in {run.run_dir}:",
        f"candidate #{c.id}, generation {c.generation}, {made}.",
        f"Its metrics when evaluated: {metrics or 'none'}.",
    ]
    if weights is not None:
        lines.append(f"Trained weights: {weights.name} -- model = {class_name}(); "
                     f"model.load_state_dict(torch.load({weights.name!r})); model.eval()")
    data = run.setting("evaluator", "options", "data")
    if data is not None:
        lines.append("It was trained on inputs prepared as alphanas.evaluation.data.prepare_batch does for the data "
                     f"{json.dumps(data, sort_keys=True)}: pixels scaled to [0, 1], then normalised with "
                     "the training split's per-channel mean and standard deviation.")
    return "".join(f"# {line}\n" for line in lines)


def _no_weights(c: Candidate) -> str:
    """Why a candidate has no weights file."""
    if c.status == "running":
        return "its evaluation has not finished"
    if c.status == "failed":
        return "its evaluation failed"
    if not c.checkpoint:
        return "the run did not keep checkpoints (set keep_checkpoints = true under [evaluator])"
    return f"its checkpoint {c.checkpoint} is gone"


def export_candidate(run: RunView, candidate_id: int, output: str | Path,
                     weights: str | Path | None = None) -> ExportResult:
    """Write candidate ``candidate_id`` of ``run`` as standalone PyTorch
    source, and with ``weights`` its trained weights (an error if the run
    did not keep them)."""
    import torch

    from alphanas import analyze
    from alphanas.pytorch.codegen import load_source, module_source

    source_path = check_source_path(output)
    weights_path = _check_weights_path(weights) if weights is not None else None
    c = run.candidate(candidate_id)
    program = run.program(candidate_id)
    state = None
    if weights_path is not None:
        stored = run.weights(c)
        if stored is None:
            raise AlphanasError(f"candidate {candidate_id} of {run.run_dir} has no trained weights: {_no_weights(c)}",
                                hint="export the source alone (leave out --weights), or pick a candidate with weights")
        try:
            state = torch.load(stored, map_location="cpu", weights_only=True)
        except Exception as err:  # a damaged or foreign file: pickle, zip and torch errors alike
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise AlphanasError(f"cannot read the weights of candidate {candidate_id}: {stored} is damaged ({reason})",
                                hint="export the source alone (leave out --weights)") from None
    source, top = module_source(program, analyze(program))
    if state is not None:
        try:
            load_source(source, top, label=f"export-{candidate_id}").load_state_dict(state, strict=True)
        except RuntimeError as err:
            raise AlphanasError(f"the weights of candidate {candidate_id} do not fit its program: {err}") from None
    files.write_text(source_path, _header(run, candidate_id, top, weights_path) + source, "export",
                     error=AlphanasError)
    if state is not None and weights_path is not None:
        with files.writing(weights_path, "weights file", error=AlphanasError):
            torch.save(state, weights_path)
    return ExportResult(source_path, top, weights_path)
