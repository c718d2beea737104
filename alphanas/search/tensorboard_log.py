"""Optional TensorBoard logging of a search's progress (``tensorboard =
true`` in the search config; off by default).

After each finished evaluation the search appends a row to
``history.csv`` (:func:`alphanas.evaluation.pareto.write_history_row`); the same row
goes to ``RUN_DIR/tensorboard`` as scalars, with the number of finished
evaluations as the step: ``hypervolume``, ``best/<objective>`` for each
objective, and the failure counts under ``candidates/``.

Writing event files needs the ``tensorboard`` package (``pip install
'alphanas[tensorboard]'``); :func:`tensorboard_missing` lets the config
reader refuse ``tensorboard = true`` up front when it is not installed.

**Resume.** A resumed run rewrites ``history.csv`` from the store and goes
on from there. The log does the same: a new writer starts with
``purge_step=1``, which tells TensorBoard to drop every event an earlier
session wrote, and logs the whole replayed history again — so a run killed
between an evaluation and the flush of its events still shows each step
exactly once.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from alphanas.evaluation.pareto import Objective

__all__ = ["LOG_DIR", "TensorBoardLog", "tensorboard_missing"]

#: the log's folder inside the run folder
LOG_DIR = "tensorboard"


def tensorboard_missing() -> str | None:
    """Why TensorBoard event files cannot be written here, or None if they can."""
    try:
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401
    except ImportError as err:
        return str(err)
    return None


class TensorBoardLog:
    """Scalars of one run, one step per finished evaluation."""

    def __init__(self, run_dir: Path, objectives: Sequence[Objective], created: float) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.objectives = tuple(objectives)
        self.created = created
        self.writer = SummaryWriter(log_dir=str(Path(run_dir) / LOG_DIR), purge_step=1)

    @classmethod
    def start(cls, run_dir: Path, objectives: Sequence[Objective], created: float) -> TensorBoardLog:
        """A log for the run, with the history so far (``history.csv``,
        as the search has just replayed it) written again."""
        log = cls(run_dir, objectives, created)
        history = Path(run_dir) / "history.csv"
        if history.is_file():
            with history.open(newline="") as f:
                for row in csv.DictReader(f):
                    log.log(row)
        return log

    def log(self, row: Mapping[str, Any]) -> None:
        """One row of ``history.csv`` (values as numbers or their text)."""
        step = int(row["evaluations"])
        walltime = self.created + float(row["elapsed_seconds"]) if row.get("elapsed_seconds") not in (None, "") else None
        scalars = {"hypervolume": row.get("hypervolume"), "candidates/failed": row.get("failed"),
                   "candidates/variation_failed": row.get("variation_failed")}
        scalars.update({f"best/{o.name}": row.get(f"best_{o.name}") for o in self.objectives})
        for tag, value in scalars.items():
            if value not in (None, ""):
                self.writer.add_scalar(tag, float(value), step, walltime=walltime)

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
