"""The search loop: steady-state, asynchronous, multi-objective evolution.

:func:`run_search` starts a run from a :class:`~alphanas.search.config.SearchConfig`;
:func:`resume` continues one from its folder. The seed program is candidate
0 and is evaluated first. Then, whenever the executor has a free slot, the
loop selects a parent among the evaluated candidates
(:mod:`alphanas.search.selection`), makes a child with the strategy's
:class:`~alphanas.variation.base.Variation`, stores it and submits its
evaluation; whenever an evaluation finishes, it is stored, folded into the
population, the Pareto front and the hypervolume, and ``pareto.csv`` and
``history.csv`` in the run folder are brought up to date.

**Budget.** ``budget.children`` counts children that reach an evaluator
(ok or failed there); the seed is not counted. A child that cannot be made —
the variation raised :class:`~alphanas.variation.base.VariationFailed`, the child
breaks a budget of ``[constraints]``, or it equals (by canonical hash) a
candidate already in the store — is recorded as failed in phase
``variation`` and does not consume the budget: evaluations are what cost.
``budget.max_variation_failures`` (default 10 × children) stops a run whose
variation keeps failing. ``budget.wall_seconds`` stops submitting new
children after that much time (summed over resumed sessions); evaluations
already running are waited for.

**Determinism.** Child ``k`` draws every random choice — its parent and its
variation — from ``random.Random(f"{seed}:{k}")``, and its evaluation gets
its own seed from the same pair. Parent selection is a pure function of the
population, and the population is a fold, in finish order, of the ok
evaluations (``selection.survivors``). With one evaluation in flight at a
time (``executor.workers = 1``, or the serial executor) child ``k`` is made
only after every candidate before it has finished, so the finish order is the
index order and the whole run is a function of the config and the seed:
two runs give the same candidates, programs, hashes and metrics (given a
deterministic evaluator). A parent is always the program its stored text
parses to (a child is checked once, :func:`alphanas.lang.checked.check`,
which parses its canonical text under the candidate's label; that parsed
program is kept, and is what parsing the stored text again gives), so a
resumed run hands the variation the very same parents. With
more workers, which candidates have finished when child ``k`` is made
depends on timing, and runs differ (each run is still recorded exactly).

**Resume.** Everything needed is in ``run.sqlite`` (:mod:`alphanas.search.store`),
written with a commit per candidate, so a run may be killed at any instant.
:func:`resume` reads the configuration stored with the run, replays the
finished evaluations in their finish order (population, front, hypervolume,
history), and re-submits the candidates left ``running`` by the kill from
their stored program text — a finished candidate is never evaluated again.
The next child index is one past the last stored candidate; a kill during a
variation left nothing for that index, so it is simply made again from the
same RNG and the same finished candidates. A resumed serial run therefore
ends with exactly the candidates an uninterrupted run has. A seed whose
evaluation failed is evaluated again on resume, under the stored config or
one that replaces it (:func:`reopen_search`).

**One process at a time.** A search holds its run folder's lock
(:mod:`alphanas.search.lock`) from :func:`start_search` or
:func:`reopen_search` to :meth:`Search.close`; a second one is refused.
"""

from __future__ import annotations

import bisect
import collections
import random
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from alphanas.evaluation.evaluator import EvalContext, Evaluator
from alphanas.evaluation.executors import Executor, Job, Outcome
from alphanas.evaluation.pareto import (
    ReferenceBox,
    dominates,
    hypervolume,
    objective_point,
    write_history_row,
    write_pareto_csv,
)
from alphanas.lang.canonical import program_hash
from alphanas.lang.checked import Checked, check
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.lang.parse import parse
from alphanas.lang.printer import print_program
from alphanas.search.config import (
    ConfigError,
    SearchConfig,
    build_evaluator,
    build_executor,
    build_selection,
    build_variation,
    load_seed_program,
)
from alphanas.search.lock import RunLock
from alphanas.search.selection import Selection
from alphanas.search.store import DB_NAME, Candidate, Store, candidate_folder, checkpoint_path
from alphanas.variation.base import Child, Evaluated, Variation, VariationContext, VariationFailed

__all__ = [
    "Search",
    "SearchResult",
    "child_rng",
    "evaluation_seed",
    "make_evaluator",
    "make_executor",
    "make_variation",
    "reopen_search",
    "resume",
    "run_search",
    "start_search",
]

#: called with each candidate as its evaluation is stored
FinishHook = Callable[[Candidate], None]


@dataclass(frozen=True)
class SearchResult:
    """How a run ended: counts, the Pareto front and its hypervolume."""

    run_dir: Path
    #: children that reached an evaluator (the seed not counted)
    children: int
    #: evaluations that failed (the seed's included)
    failed: int
    #: children that could not be made
    variation_failed: int
    front: tuple[Candidate, ...]
    hypervolume: float
    #: "budget", "wall time" or "variation failures"
    stopped: str
    seconds: float


def child_rng(seed: int, index: int) -> random.Random:
    """The one source of randomness of child ``index``: its parent
    selection and its variation."""
    return random.Random(f"{seed}:{index}")


def evaluation_seed(seed: int, index: int) -> int:
    """The seed handed to candidate ``index``'s evaluation."""
    return random.Random(f"{seed}:{index}:evaluation").getrandbits(31)


# -- entry points ---------------------------------------------------------------------------------------


def run_search(config: SearchConfig, *, progress: bool = True, on_finish: FinishHook | None = None) -> SearchResult:
    """Start a new run in ``config.run_dir`` and carry it to its budget."""
    # build the evaluator before creating the folder, so a mistake leaves nothing behind
    evaluator = make_evaluator(config)
    if config.executor.kind != "serial":
        _check_picklable(evaluator)
    search = start_search(config, evaluator, progress=progress, on_finish=on_finish)
    try:
        return search.run()
    finally:
        search.close()


def resume(run_dir: str | Path, *, config: SearchConfig | None = None, progress: bool = True,
           on_finish: FinishHook | None = None) -> SearchResult:
    """Continue the run in ``run_dir`` to its budget (see the module doc);
    under ``config`` instead of the stored configuration if given
    (:func:`reopen_search`)."""
    search = reopen_search(run_dir, config=config, progress=progress, on_finish=on_finish)
    try:
        return search.run()
    finally:
        search.close()


def start_search(config: SearchConfig, evaluator: Evaluator | None, *, progress: bool = True,
                 on_finish: FinishHook | None = None) -> Search:
    """A new run's :class:`Search`: its folder and store created, the seed
    stored as candidate 0 (not evaluated yet). ``evaluator`` is None when
    the caller evaluates the candidates itself (ask and tell). The search
    holds the run folder's lock (:mod:`alphanas.search.lock`) until
    :meth:`Search.close`."""
    from alphanas import __version__

    seed_program = load_seed_program(config)
    variation = make_variation(config)  # before the folder exists: a mistake leaves nothing behind
    folder = config.run_dir
    lock = RunLock.acquire(folder)
    try:
        if (folder / DB_NAME).exists():
            source = config.source if config.source.endswith(".toml") else "CONFIG.toml"
            raise AlphanasError(
                f"{folder} already holds a run ({DB_NAME})",
                hint=f"continue it with `alphanas resume {folder}`, or under this config (to retry a seed that "
                     f"failed, say) with `alphanas resume {folder} --config {source}`; or choose another run_dir")
        store = Store.create(folder, config.to_dict(), config.seed, __version__)
    except BaseException:
        lock.release()
        raise
    try:
        _add_seed(store, seed_program)
        return Search(config, store, evaluator, variation, progress, on_finish, lock=lock)  # type: ignore[arg-type]
    except BaseException:
        store.close()
        lock.release()
        raise


def reopen_search(run_dir: str | Path, *, config: SearchConfig | None = None, evaluate: bool = True,
                  progress: bool = True, on_finish: FinishHook | None = None) -> Search:
    """The :class:`Search` of the run in ``run_dir``, holding the folder's
    lock (:mod:`alphanas.search.lock`) until :meth:`Search.close`; its
    evaluator built unless ``evaluate`` is False (the caller evaluates, as
    with ask and tell).

    It runs under the configuration stored with the run, or under
    ``config`` when given: that one replaces the stored one (the old one is
    kept in the store's state ``replaced_configs``). Its ``run_dir`` is
    ignored (the run stays in ``run_dir``); its seed, seed program and
    objectives must be the run's (:func:`check_replacement`).

    A seed whose evaluation did not start the search (it failed, or gave no
    finite value for an objective) is evaluated again: its result moves to
    its record's ``history`` and it is ``running`` once more. Only the seed
    is retried so: a failed child is a result of the search."""
    folder = Path(run_dir).resolve()
    store = Store.open(folder)
    lock: RunLock | None = None
    try:
        lock = RunLock.acquire(folder)
        info = store.run_info()
        if config is None:
            config = SearchConfig.from_dict(info.config, source=str(info.config.get("source", folder)),
                                            resuming=True)
            config = replace(config, run_dir=folder)  # the folder may have moved since
            if info.seed != config.seed:
                raise AlphanasError(f"{store.path}: the run's seed {info.seed} differs from its config's {config.seed}")
        else:
            config = replace(config, run_dir=folder)
            check_replacement(store, config)
        # everything that can refuse the config before the store changes
        evaluator = make_evaluator(config) if evaluate else None
        if evaluator is not None and config.executor.kind != "serial":
            _check_picklable(evaluator)
        variation = make_variation(config)
        if config.to_dict() != dict(info.config):
            replaced = store.get_state("replaced_configs", [])
            store.set_state("replaced_configs", [*replaced, {"config": info.config, "until": time.time()}])
            store.set_config(config.to_dict())
        if not store.candidates():  # killed between creating the store and storing the seed
            _add_seed(store, load_seed_program(config))
        elif _seed_to_retry(store.candidate(0), config):
            store.retry(0)
        return Search(config, store, evaluator, variation, progress, on_finish, lock=lock)  # type: ignore[arg-type]
    except BaseException:
        store.close()
        if lock is not None:
            lock.release()
        raise


def check_replacement(store: Store, config: SearchConfig) -> None:
    """Whether ``config`` may replace the configuration of the run in
    ``store``: it keeps the run's seed, its seed program (the program of
    candidate 0) and, once the seed has set the reference box, its
    objectives. Anything else may change (the evaluator and its options, the
    executor and its time limit, the budget, the strategy, ...)."""
    info = store.run_info()
    where = f"{config.source}: " if config.source != "<config>" else ""
    if config.seed != info.seed:
        raise ConfigError(f"{where}seed = {config.seed}, but the run in {config.run_dir} has seed {info.seed}",
                          hint=f"a run keeps its seed: set seed = {info.seed}, or start a new run (another run_dir)")
    stored_box = store.get_state("reference_box")
    if stored_box is not None:
        box = ReferenceBox.from_list(stored_box)
        if box.objectives != config.objective_list:
            have = ", ".join(f"{o.name} ({o.direction})" for o in box.objectives)
            raise ConfigError(f"{where}the objectives differ from the run's: {have}",
                              hint="a run keeps its objectives once its seed is evaluated; start a new run for others")
    candidates = store.candidates()
    if candidates and candidates[0].hash is not None:
        program = load_seed_program(config)
        if program_hash(program) != candidates[0].hash:
            raise ConfigError(f"{where}seed program {config.seed_program} is not the run's seed program "
                              f"(candidate 0)", hint="a run keeps its seed program; start a new run for another")


def _seed_to_retry(seed: Candidate, config: SearchConfig) -> bool:
    """The seed's evaluation came back without starting the search: it
    failed, or it has no finite value for some objective."""
    if not seed.evaluated:
        return False
    return not seed.ok or objective_point(seed.metrics, config.objective_list) is None


def _check_picklable(evaluator: Evaluator) -> None:
    """Worker processes and Ray tasks receive the evaluator pickled."""
    import pickle

    try:
        pickle.dumps(evaluator)
    except Exception as err:
        raise ConfigError(
            f"evaluator {type(evaluator).__name__} cannot be sent to worker processes: {err}",
            hint='use [executor] kind = "serial", or make the evaluator picklable',
        ) from None


def _label(candidate_id: int) -> str:
    """The file name in the locations of a candidate's parsed program (in
    error messages), the same however the program was obtained."""
    return f"<candidate {candidate_id}>"


def _add_seed(store: Store, program: Program) -> None:
    text = print_program(program)
    store.add(Candidate(id=0, parent_id=None, generation=0, operator="seed", program=text,
                        hash=program_hash(program), record={"source": program.source}))


# -- construction ------------------------------------------------------------------------------------------


def make_evaluator(config: SearchConfig) -> Evaluator:
    """The configured evaluator (:func:`alphanas.search.config.build_evaluator`)."""
    return build_evaluator(config)


def make_variation(config: SearchConfig) -> Variation:
    """The configured variation (:func:`alphanas.search.config.build_variation`)."""
    return build_variation(config)


def make_executor(config: SearchConfig, evaluator: Evaluator) -> Executor:
    """The configured executor (:func:`alphanas.search.config.build_executor`)."""
    return build_executor(config, evaluator)


# -- the loop -----------------------------------------------------------------------------------------------


class Search:
    """One run's loop, over its store: select a parent, vary it, check the
    child, store it, evaluate it, fold the result in (see the module doc).

    :meth:`run` drives it with an executor until the budget is spent. The
    steps are public so that other drivers can reuse them:
    :meth:`next_job` gives the next evaluation to run (a candidate a kill
    interrupted, else a new child) and :meth:`finish` takes one back;
    :class:`alphanas.search.ask_tell.AskTell` hands them to the caller, and
    a strategy that makes children another way can call :meth:`add_child`
    with a :class:`~alphanas.variation.Child` of its own. Everything it
    learns is written to the store as it happens, so a run stopped at any
    moment resumes.
    """

    def __init__(
        self,
        config: SearchConfig,
        store: Store,
        evaluator: Evaluator,
        variation: Variation,
        progress: bool,
        on_finish: FinishHook | None,
        *,
        lock: RunLock | None = None,
    ) -> None:
        self.config = config
        self.store = store
        #: the run folder's lock, released by :meth:`close`
        self.lock = lock
        self.evaluator = evaluator
        self.variation = variation
        self.on_finish = on_finish
        self.objectives = config.objective_list
        self.run_dir = config.run_dir
        self.created = store.run_info().created
        self.started = time.monotonic()
        self.elapsed_before = float(store.get_state("elapsed_seconds", 0.0))
        # replayed from the store
        self.box: ReferenceBox | None = None
        self.selection: Selection | None = None
        self.population: list[Candidate] = []
        self.front: list[Candidate] = []
        self.hypervolume = 0.0
        self.children = 0  # children that reached an evaluator (running or finished)
        self.evaluated = 0
        self.failed = 0
        self.variation_failed = 0
        self.variation_failure_times: list[float] = []
        self.unusable = 0  # ok evaluations without finite values for every objective
        self.hashes: dict[str, int] = {}
        #: the finished evaluations in fold order, what a learning variation reads
        self.history: list[Evaluated] = []
        #: the grammar space children must stay in (None: the core language)
        self.space = config.space.load() if config.space is not None else None
        self.programs: dict[int, Program] = {}
        self.front_changed = False
        self.pending: collections.deque[Candidate] = collections.deque()
        self.bar: Any = None
        self.progress = progress
        self.tensorboard: Any = None  # a TensorBoardLog when the config asks for one

    def close(self) -> None:
        """Close the store and give up the run folder's lock."""
        try:
            self.store.close()
        finally:
            if self.lock is not None:
                self.lock.release()

    # -- state ----------------------------------------------------------------------------
    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def replay(self) -> None:
        """Rebuild the loop's state from the store: counts, hashes, then the
        finished evaluations in finish order."""
        for c in self.store.candidates():
            if c.phase == "variation":
                self.variation_failed += 1
                self.variation_failure_times.append(c.created_at)
            else:
                if c.id > 0:
                    self.children += 1
                if c.hash is not None:
                    self.hashes.setdefault(c.hash, c.id)
        self.variation_failure_times.sort()
        stored_box = self.store.get_state("reference_box")
        if stored_box is not None:
            box = ReferenceBox.from_list(stored_box)
            if box.objectives != self.objectives:
                raise AlphanasError(f"{self.store.path}: the stored reference box is for objectives "
                                    f"{[o.name for o in box.objectives]}, the config has {[o.name for o in self.objectives]}")
            self.set_box(box)
        history = self.run_dir / "history.csv"
        history.unlink(missing_ok=True)
        for c in self.store.finished():
            self.fold(c)
        self.write_front()

    def set_box(self, box: ReferenceBox) -> None:
        self.box = box
        self.selection = build_selection(self.config, box)

    def values(self, c: Candidate) -> tuple[float, ...] | None:
        """The candidate's objective values, if it has a finite one for each."""
        return objective_point(c.metrics, self.objectives)

    def fold(self, c: Candidate) -> None:
        """Take one finished evaluation into the population, the front, the
        hypervolume and the history."""
        self.evaluated += 1
        if c.id == 0:
            self.seed_finished(c)
        if c.program is not None and c.hash is not None:
            self.history.append(Evaluated(id=c.id, parent_id=c.parent_id, program=c.program, hash=c.hash, ok=c.ok,
                                          metrics=dict(c.metrics), record=dict(c.record)))
        if not c.ok:
            self.failed += 1
        elif (vals := self.values(c)) is None:
            self.unusable += 1
        else:
            assert self.selection is not None and self.box is not None
            self.population = self.selection.survivors([*self.population, c])
            if not any(dominates(self.values(f), vals, self.objectives) for f in self.front):  # type: ignore[arg-type]
                self.front = [f for f in self.front if not dominates(vals, self.values(f), self.objectives)]  # type: ignore[arg-type]
                self.front.append(c)
                self.hypervolume = hypervolume([self.values(f) for f in self.front], self.box)  # type: ignore[misc]
                self.front_changed = True
        self.write_history(c)

    def seed_finished(self, c: Candidate) -> None:
        if not c.ok:
            raise AlphanasError(f"the seed program failed to evaluate: {c.reason}",
                                hint="the search starts from the seed. Fix the cause (a time limit too short? "
                                     "raise [executor] timeout_seconds), then evaluate the seed again with "
                                     f"{self.retry_command()}")
        if self.values(c) is None:
            missing = [o.name for o in self.objectives if o.name not in c.metrics]
            raise AlphanasError(
                f"the evaluator reported no finite value for objective(s) {', '.join(missing) or '(see metrics)'} "
                f"of the seed program; it reported {dict(c.metrics)}",
                hint=f"choose objectives the evaluator measures, then evaluate the seed again with "
                     f"{self.retry_command()}")
        if self.box is None:
            overrides = {o.name: {k: v for k, v in (("best", o.best), ("worst", o.worst)) if v is not None}
                         for o in self.config.objectives}
            box = ReferenceBox.from_seed(self.objectives, c.metrics, overrides)
            self.store.set_state("reference_box", box.as_list())
            self.set_box(box)

    def retry_command(self) -> str:
        """How to evaluate a seed that failed again (:func:`reopen_search`)."""
        source = self.config.source if self.config.source.endswith(".toml") else "FILE.toml"
        return (f"`alphanas resume {self.run_dir} --config {source}` (the corrected config), or "
                f"`alphanas resume {self.run_dir}` (the stored config as it is)")

    def write_history(self, c: Candidate) -> None:
        finished_at = c.finished_at or time.time()
        row: dict[str, Any] = {
            "evaluations": self.evaluated,
            "failed": self.failed,
            "variation_failed": bisect.bisect_right(self.variation_failure_times, finished_at),
            "elapsed_seconds": round(finished_at - self.created, 3),
            "hypervolume": round(self.hypervolume, 6),
        }
        for k, o in enumerate(self.objectives):
            vals = [self.values(p)[k] for p in self.front]  # type: ignore[index]
            if vals:
                row[f"best_{o.name}"] = max(vals) if o.direction == "max" else min(vals)
        write_history_row(self.run_dir / "history.csv", row, self.objectives)
        if self.tensorboard is not None:
            self.tensorboard.log(row)

    def write_front(self) -> None:
        rows = [{"id": c.id, "generation": c.generation, "parent_id": c.parent_id, "operator": c.operator,
                 "metrics": c.metrics, "hash": c.hash} for c in sorted(self.front, key=lambda c: c.id)]
        write_pareto_csv(self.run_dir / "pareto.csv", rows, self.objectives)
        self.front_changed = False

    # -- the loop ------------------------------------------------------------------------------
    def run(self) -> SearchResult:
        """Carry the run to its budget with the configured executor."""
        self.begin()
        executor = make_executor(self.config, self.evaluator)
        self.open_bar()
        try:
            stopped = self.loop(executor)
        finally:
            executor.shutdown()
            self.end()
            if self.bar is not None:
                self.bar.close()
        return self.result(stopped)

    def begin(self) -> None:
        """Replay the store; queue the evaluations a kill interrupted."""
        self.replay()
        if self.config.tensorboard:  # the replayed history, then a step per evaluation
            from alphanas.search.tensorboard_log import TensorBoardLog

            self.tensorboard = TensorBoardLog.start(self.run_dir, self.objectives, self.created)
        # evaluations a kill interrupted go first, from their stored program
        self.pending = collections.deque(self.store.candidates("running"))

    def end(self) -> None:
        """Close what :meth:`begin` opened and record the time spent."""
        if self.tensorboard is not None:
            self.tensorboard.close()
            self.tensorboard = None
        self.store.set_state("elapsed_seconds", self.elapsed())

    def result(self, stopped: str) -> SearchResult:
        self.write_front()
        return SearchResult(
            run_dir=self.run_dir,
            children=self.children,
            failed=self.failed,
            variation_failed=self.variation_failed,
            front=tuple(sorted(self.front, key=lambda c: c.id)),
            hypervolume=self.hypervolume,
            stopped=stopped,
            seconds=self.elapsed(),
        )

    def stop_reason(self) -> str | None:
        budget = self.config.budget
        if self.children >= budget.children:
            return "budget"
        if budget.wall_seconds is not None and self.elapsed() >= budget.wall_seconds:
            return "wall time"
        if self.variation_failed >= budget.variation_failure_cap:
            return "variation failures"
        return None

    def loop(self, executor: Executor) -> str:
        while True:
            while executor.free() > 0 and (job := self.next_job()) is not None:
                executor.submit(job)
            self.update_bar(executor)
            if executor.running() == 0:
                stop = self.stop_reason()
                if stop is None:
                    raise AlphanasError("the search has nothing to run: no evaluated seed and nothing submitted")
                return stop
            self.finish(executor.wait())

    def next_job(self) -> Job | None:
        """The next evaluation to run: a candidate that a kill interrupted
        (from its stored program), else a new child; None when there is
        none to run now (the budget is spent, or no evaluated candidate
        to select a parent from yet)."""
        if self.pending:
            c = self.pending.popleft()
            self.store.mark_running(c.id)
            return self.job(c)
        while self.stop_reason() is None and self.selection is not None:
            job = self.make_child()
            if job is not None:
                return job
        return None

    def make_child(self) -> Job | None:
        """Make, check and store child number ``next_id``; its job, or None
        if the child could not be made (recorded as a variation failure)."""
        assert self.selection is not None
        index = self.store.next_id()
        rng = child_rng(self.config.seed, index)
        drawn = self.selection.draw(self.population, rng)
        parent = drawn.parent
        start = time.perf_counter()
        base = Candidate(id=index, parent_id=parent.id, generation=parent.generation + 1,
                         operator=self.variation.name, program=None, hash=None)
        limits = self.config.constraints
        context = VariationContext(seen=self.hashes, aim=drawn.aim, space=self.space, max_params=limits.max_params,
                                   max_flops=limits.max_flops, label=_label(index), history=self.history,
                                   objectives=tuple((o.name, o.direction) for o in self.objectives),
                                   run_dir=self.run_dir)
        try:
            child = self.variation.vary(self.parent_program(parent), rng, context)
        except VariationFailed as err:
            return self.variation_failure(base, str(err), start)
        except Exception as err:  # a bug in a variation: recorded loudly, the run goes on
            warnings.warn(f"variation {self.variation.name} raised {type(err).__name__}: {err}", stacklevel=1)
            return self.variation_failure(base, f"the variation raised {type(err).__name__}: {err}", start)
        return self.add_child(base, child, drawn.aim, start)

    def add_child(self, base: Candidate, child: Child, aim: str, start: float) -> Job | None:
        """Check ``child`` (once, unless its variation did), store it as
        candidate ``base.id`` and return its job; or record why it cannot
        be a candidate (it does not check, leaves the space, breaks a
        budget, or duplicates a candidate) and return None."""
        if child.made_from is not None:
            base = self.reparented(base, child.made_from)
        base = replace(base, operator=child.operator, record={**child.record, "aim": aim},
                       properties=child.record.get("properties"))
        try:
            checked = child.checked or check(child.program, _label(base.id))
        except AlphanasError as err:
            return self.variation_failure(base, f"the child does not check: {err.message}", start)
        base = replace(base, program=checked.text, hash=checked.hash)
        problem = self.space_problem(checked) or self.budget_problem(checked)
        if problem is None and checked.hash in self.hashes:
            problem = f"duplicate of candidate {self.hashes[checked.hash]}"
        if problem is not None:
            return self.variation_failure(base, problem, start)
        c = self.store.add(replace(base, variation_seconds=time.perf_counter() - start))
        self.hashes[checked.hash] = base.id
        self.children += 1
        # the checked program is what parsing the stored text gives (the same
        # file label, the same locations): it serves as the evaluation's
        # program and as a parent, with no parse of its own
        self.remember(base.id, checked.program)
        return self.job(c, None, checked.program)

    def reparented(self, base: Candidate, made_from: str) -> Candidate:
        """The child's row with the candidate it was made from as its parent
        (a variation that walked on from the selected parent says which)."""
        if made_from not in self.hashes:
            raise AssertionError(f"the variation made a child from a program the search does not have ({made_from})")
        source = self.store.candidate(self.hashes[made_from])
        return replace(base, parent_id=source.id, generation=source.generation + 1)

    def variation_failure(self, base: Candidate, reason: str, start: float) -> None:
        c = self.store.add(replace(base, status="failed", phase="variation", reason=reason,
                                   variation_seconds=time.perf_counter() - start))
        self.variation_failed += 1
        self.variation_failure_times.append(c.created_at)
        return None

    def space_problem(self, checked: Checked) -> str | None:
        """Why the child is outside the run's grammar space, if it is. A
        variation that works in the space (its registration says how) makes
        only children the space derives; any other is checked here."""
        if self.space is None or getattr(self.variation, "space", None) is self.space:
            return None
        from synth.grammar import SpaceError

        try:
            self.space.derive(checked.program)
        except SpaceError as err:
            return f"the child is not in the space {self.space.name}: {err.message}"
        return None

    def budget_problem(self, checked: Checked) -> str | None:
        """The budget of ``[constraints]`` the child breaks, if any (a
        variation should not make one; this is the loop's own check)."""
        limits = self.config.constraints
        total = checked.total
        if limits.max_params is not None and total.params > limits.max_params:
            return f"over budget: params {total.params:,} > max_params {limits.max_params:,.0f}"
        if limits.max_flops is not None and total.flops > limits.max_flops:
            return f"over budget: flops {total.flops:,} > max_flops {limits.max_flops:,.0f}"
        return None

    def parent_program(self, parent: Candidate) -> Program:
        """The parent's IR, parsed from its stored text (or kept from when
        it was made, which is the same): a resumed run sees the same parents."""
        program = self.programs.get(parent.id)
        if program is None:
            assert parent.program is not None
            program = parse(parent.program, _label(parent.id))
            self.remember(parent.id, program)
        return program

    def remember(self, candidate_id: int, program: Program) -> None:
        if len(self.programs) >= 256:
            self.programs.pop(next(iter(self.programs)))  # the oldest
        self.programs[candidate_id] = program

    def job(self, c: Candidate, parent: Candidate | None = None, parsed: Program | None = None) -> Job:
        assert c.program is not None
        ev = self.config.evaluator
        workdir = None
        if ev.keep_checkpoints:
            workdir = candidate_folder(self.run_dir, c.id)
            workdir.mkdir(parents=True, exist_ok=True)
        inherited = None
        if ev.inherit_weights and c.parent_id is not None:
            inherited = checkpoint_path(self.run_dir, parent or self.store.candidate(c.parent_id))
        context = EvalContext(seed=evaluation_seed(self.config.seed, c.id), workdir=workdir,
                              parent_checkpoint=inherited)
        return Job(c.id, c.program, ev.fidelity, context, ir=parsed)

    def finish(self, outcome: Outcome) -> None:
        e = outcome.evaluation
        checkpoint = str(e.checkpoint) if e.checkpoint is not None else None
        c = self.store.finish(outcome.candidate_id, e.status, dict(e.metrics), e.reason, e.seconds, checkpoint)
        self.fold(c)
        if self.front_changed:
            self.write_front()
        self.store.set_state("elapsed_seconds", self.elapsed())
        if self.bar is not None and c.id > 0:
            self.bar.update(1)
        if self.on_finish is not None:
            self.on_finish(c)

    # -- progress ------------------------------------------------------------------------------
    def open_bar(self) -> None:
        if not self.progress:
            return
        from tqdm import tqdm

        done = self.evaluated - (1 if self.evaluated else 0)
        self.bar = tqdm(total=self.config.budget.children, initial=max(0, done), desc="search", unit="child",
                        file=sys.stderr, dynamic_ncols=True)

    def update_bar(self, executor: Executor) -> None:
        if self.bar is None:
            return
        post: dict[str, Any] = {"running": executor.running(), "failed": self.failed,
                                "var_failed": self.variation_failed, "hv": f"{self.hypervolume:.4f}"}
        for k, o in enumerate(self.objectives):
            vals = [self.values(p)[k] for p in self.front]  # type: ignore[index]
            if vals:
                best = max(vals) if o.direction == "max" else min(vals)
                post[o.name] = f"{best:.4g}"
        self.bar.set_postfix(post, refresh=False)
