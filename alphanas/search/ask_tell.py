"""Ask and tell: the search, with the evaluations run by the caller.

``alphanas search`` evaluates candidates with a configured evaluator and
executor. When you would rather evaluate them yourself — on your own
cluster, in a notebook, with a training script alphanas does not know —
drive the same search by hand, the way Optuna users work::

    from alphanas.search import AskTell, load_config

    with AskTell.start(load_config("search.toml")) as search:
        while (trial := search.ask()) is not None:
            try:
                metrics = my_train_and_score(trial.program, trial.folder)
            except Exception as err:
                search.tell_failed(trial.id, str(err))
            else:
                search.tell(trial.id, metrics)
    print(search.result.front)

The first trial is the seed program (candidate 0); children follow once a
candidate has been told. ``ask`` returns None when the budget is spent, or
when nothing can be made until an outstanding trial is told (before the
seed's result, for instance): several trials may be out at once, and are
told in any order. Everything goes into the run folder exactly as for
``alphanas search``: the store (``run.sqlite``), ``pareto.csv``,
``history.csv``; ``alphanas show``/``report``/``export`` read it, and
:meth:`AskTell.resume` (or ``alphanas resume`` with an evaluator) continues
it — trials asked but never told are asked again.

The configuration still names an evaluator: it says which metrics exist,
so that the objectives are checked before the run starts. Told metrics must
include a finite value for every objective for a candidate to join the
population (others are stored and count as unusable, as in a search).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from alphanas import parse
from alphanas.evaluation.evaluator import Evaluation, Fidelity
from alphanas.evaluation.executors import Job, Outcome
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.search.config import SearchConfig
from alphanas.search.loop import Search, SearchResult, reopen_search, start_search
from alphanas.search.store import candidate_folder

__all__ = ["AskTell", "Trial"]


@dataclass(frozen=True)
class Trial:
    """A candidate to evaluate: its id in the run, its program (and the
    program's canonical text), the folder for its files (weights you keep
    there are found by ``alphanas export``), and what an evaluator would
    be given: the fidelity, the evaluation's seed and the parent's
    checkpoint when the config asks for weight inheritance."""

    id: int
    program: Program
    text: str
    parent_id: int | None
    folder: Path
    fidelity: Fidelity
    seed: int
    parent_checkpoint: Path | None = None


class AskTell:
    """A search whose candidates the caller evaluates (see the module doc)."""

    def __init__(self, search: Search) -> None:
        self.search = search
        self.outstanding: dict[int, float] = {}  # trial id -> when it was asked
        self.result: SearchResult | None = None
        try:
            search.begin()
        except BaseException:
            search.close()  # the store and the run folder's lock
            raise

    @classmethod
    def start(cls, config: SearchConfig) -> AskTell:
        """A new run in ``config.run_dir`` (which must not hold one yet).
        Like a search, it holds the run folder's lock until :meth:`close`."""
        return cls(start_search(config, None, progress=False))

    @classmethod
    def resume(cls, run_dir: str | Path, config: SearchConfig | None = None) -> AskTell:
        """The run in ``run_dir``, continued (under ``config`` if given, as
        :func:`~alphanas.search.loop.reopen_search` says); trials asked and
        never told are asked again, and so is a seed whose evaluation failed."""
        return cls(reopen_search(run_dir, config=config, evaluate=False, progress=False))

    # -- the two verbs ----------------------------------------------------------------------------
    def ask(self) -> Trial | None:
        """The next candidate to evaluate, or None when there is none now:
        the budget is spent (:attr:`done`), or every candidate that could be
        a parent is still out."""
        self._open()
        job = self.search.next_job()
        if job is None:
            return None
        self.outstanding[job.candidate_id] = time.perf_counter()
        return self._trial(job)

    def tell(self, trial_id: int, metrics: Mapping[str, float], *, checkpoint: str | Path | None = None) -> None:
        """Record the metrics of an asked trial (and its weights' file, if kept)."""
        seconds = self._took(trial_id)
        path = Path(checkpoint) if checkpoint is not None else None
        self.search.finish(Outcome(trial_id, Evaluation("ok", dict(metrics), None, seconds, path)))

    def tell_failed(self, trial_id: int, reason: str, metrics: Mapping[str, float] | None = None) -> None:
        """Record that an asked trial could not be evaluated, and why."""
        seconds = self._took(trial_id)
        self.search.finish(Outcome(trial_id, Evaluation("failed", dict(metrics or {}), reason, seconds)))

    # -- state ------------------------------------------------------------------------------------
    @property
    def done(self) -> bool:
        """The budget is spent and every asked trial was told."""
        return not self.outstanding and self.search.stop_reason() is not None

    def close(self) -> SearchResult:
        """Write the front, record the time spent and close the store; the
        run's result. Trials still out are asked again on resume."""
        if self.result is None:
            self.search.end()
            self.result = self.search.result(self.search.stop_reason() or "stopped by the caller")
            self.search.close()
        return self.result

    def __enter__(self) -> AskTell:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- helpers ----------------------------------------------------------------------------------
    def _open(self) -> None:
        if self.result is not None:
            raise AlphanasError("this ask-and-tell search is closed", hint="AskTell.resume(run_dir) continues it")

    def _took(self, trial_id: int) -> float:
        self._open()
        if trial_id not in self.outstanding:
            raise AlphanasError(f"candidate {trial_id} was not asked, or was told already",
                                hint="tell each trial that ask() returned, once")
        return time.perf_counter() - self.outstanding.pop(trial_id)

    def _trial(self, job: Job) -> Trial:
        program = job.ir if job.ir is not None else parse(job.program, f"<candidate {job.candidate_id}>")
        folder = job.context.workdir or candidate_folder(self.search.run_dir, job.candidate_id)
        folder.mkdir(parents=True, exist_ok=True)
        parent_id = self.search.store.candidate(job.candidate_id).parent_id
        return Trial(job.candidate_id, program, job.program, parent_id, folder, job.fidelity,
                     job.context.seed, job.context.parent_checkpoint)
