"""Where evaluations run: in the search's own process, in local worker
processes, or on a Ray cluster.

Every executor runs :class:`Job`\\ s with one evaluator given at
construction and hands back :class:`Outcome`\\ s:

- ``submit(job)`` starts an evaluation (``free()`` says how many more may start);
- ``wait()`` blocks until one evaluation has finished and returns it;
- ``shutdown()`` stops whatever still runs.

An executor never raises for a candidate: an evaluator that raises, a
worker process that dies (a segfault, ``os._exit``), or an evaluation that
runs past the per-candidate time limit all come back as failed
:class:`~alphanas.evaluation.evaluator.Evaluation`\\ s with the reason. The time limit is
also passed to the evaluator (``EvalContext.time_limit``) so that a
well-behaved one stops by itself; the process and Ray executors enforce it
by killing the worker.

**Why not ``concurrent.futures.ProcessPoolExecutor``.** When one of its
workers dies, the whole pool is marked broken and every evaluation in
flight fails with it, without saying which one killed the worker; and it
cannot stop one evaluation that runs too long. :class:`ProcessExecutor`
keeps its own spawned workers instead, each with a pipe and one job at a
time, so a crash or a time-out is charged to exactly the candidate that
caused it, and only that worker is replaced.

The executors are registered in :data:`EXECUTORS` under the names a search
config gives as ``[executor] kind``; the table's other keys (``workers``,
``timeout_seconds``, ``threads_per_worker``, ``address``) are the fields of
the executor's settings dataclass, which checks them. Every executor is
built as ``cls(evaluator, settings)``.
"""

from __future__ import annotations

import collections
import contextlib
import math
import multiprocessing
import multiprocessing.connection
import os
import signal
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

from alphanas.evaluation.evaluator import EvalContext, Evaluation, Evaluator, Fidelity, failed
from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Program
from alphanas.registry import PluginError, Registry

__all__ = [
    "EXECUTORS",
    "Executor",
    "Job",
    "Outcome",
    "ProcessExecutor",
    "ProcessSettings",
    "RayExecutor",
    "RaySettings",
    "SerialExecutor",
    "SerialSettings",
    "run_job",
]


@dataclass(frozen=True)
class Job:
    """One evaluation: the candidate's program as text (parsed where it
    runs, so a job is small and always picklable), at a fidelity, with its
    context."""

    candidate_id: int
    program: str
    fidelity: Fidelity
    context: EvalContext
    #: the program already parsed from exactly ``program``, when the search
    #: has it: the serial executor evaluates it without parsing again; other
    #: executors send only the text
    ir: Program | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Outcome:
    """A finished job: its candidate and the evaluation."""

    candidate_id: int
    evaluation: Evaluation


def run_job(evaluator: Evaluator, job: Job) -> Evaluation:
    """Parse the job's program and evaluate it. Evaluators must not raise;
    one that does is recorded as a failure naming the exception, so that a
    bug in an evaluator fails one candidate, not the run."""
    from alphanas.lang.parse import parse

    start = time.perf_counter()
    program = job.ir
    if program is None:
        try:
            program = parse(job.program, f"<candidate {job.candidate_id}>")  # as the search labels it
        except AlphanasError as err:
            return failed(f"the program does not parse: {err.message}", seconds=time.perf_counter() - start)
    try:
        return evaluator.evaluate(program, job.fidelity, job.context)
    except Exception as err:
        return failed(f"the evaluator raised {type(err).__name__}: {err}", seconds=time.perf_counter() - start)


class Executor(Protocol):
    """What the search needs of an executor."""

    #: how many evaluations it runs at once
    slots: int

    def submit(self, job: Job) -> None: ...

    def running(self) -> int: ...

    def free(self) -> int: ...

    def wait(self) -> Outcome: ...

    def shutdown(self) -> None: ...


#: The executors a search config names (``[executor] kind``). A class
#: registers with ``@EXECUTORS.register(name, settings=...)`` and is built as
#: ``cls(evaluator, settings)``; the ``[executor]`` table's keys besides
#: ``kind`` are its settings' fields (the config always gives ``workers``).
EXECUTORS: Registry[Executor] = Registry("executor", builtin_modules=("alphanas.evaluation.executors",))


# -- settings: the [executor] table, each checking its own values ----------------------------------------


def _whole(name: str, value: Any) -> None:
    """``value`` is an integer of at least 1 (a bool is not)."""
    if type(value) is not int:
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} = {value} is impossible: it must be at least 1")


def _seconds(name: str, value: Any) -> None:
    """``value`` is None or a positive, finite number of seconds."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} = {value} is impossible: it must be a positive number of seconds")


@dataclass(frozen=True)
class SerialSettings:
    """The serial executor runs one evaluation at a time (``workers`` is 1);
    ``timeout_seconds`` reaches the evaluator through its context only;
    ``threads_per_worker`` is accepted and has no effect (the evaluation
    runs in the search's own process)."""

    workers: int = 1
    timeout_seconds: float | None = None
    threads_per_worker: int | None = None

    def __post_init__(self) -> None:
        _whole("workers", self.workers)
        if self.workers != 1:
            raise PluginError(f"workers = {self.workers}: the serial executor runs one evaluation at a time",
                              hint='use kind = "process" for more workers')
        _seconds("timeout_seconds", self.timeout_seconds)
        if self.threads_per_worker is not None:
            _whole("threads_per_worker", self.threads_per_worker)


@dataclass(frozen=True)
class ProcessSettings:
    """``workers`` spawned processes; a job past ``timeout_seconds`` is
    killed with its worker; each worker gets ``threads_per_worker`` torch
    threads (None: the cores shared out among the workers)."""

    workers: int = 1
    timeout_seconds: float | None = None
    threads_per_worker: int | None = None

    def __post_init__(self) -> None:
        _whole("workers", self.workers)
        _seconds("timeout_seconds", self.timeout_seconds)
        if self.threads_per_worker is not None:
            _whole("threads_per_worker", self.threads_per_worker)


@dataclass(frozen=True)
class RaySettings:
    """``workers`` Ray tasks at a time (None: the cluster's CPUs), on the
    cluster at ``address`` (None: an already initialised Ray, else a new
    local one); a task past ``timeout_seconds`` is cancelled.
    ``threads_per_worker`` is accepted and has no effect. Ray must be
    installed."""

    workers: int | None = None
    address: str | None = None
    timeout_seconds: float | None = None
    threads_per_worker: int | None = None

    def __post_init__(self) -> None:
        if self.workers is not None:
            _whole("workers", self.workers)
        if self.address is not None and not isinstance(self.address, str):
            raise ValueError(f"address must be a string (a Ray address), got {self.address!r}")
        _seconds("timeout_seconds", self.timeout_seconds)
        if self.threads_per_worker is not None:
            _whole("threads_per_worker", self.threads_per_worker)
        _import_ray()


def _import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise PluginError("executor kind 'ray' needs Ray, which is not installed",
                          hint="pip install 'alphanas[ray]', or use kind = \"process\"") from None
    return ray


def _with_time_limit(job: Job, limit: float | None) -> Job:
    """The job with the executor's limit in its context (the smaller one if
    the job already carries a limit)."""
    if limit is None:
        return job
    current = job.context.time_limit
    new = limit if current is None else min(current, limit)
    return replace(job, context=replace(job.context, time_limit=new))


# -- serial -----------------------------------------------------------------------------------------


@EXECUTORS.register("serial", settings=SerialSettings)
class SerialExecutor:
    """Evaluates in the search's own process, one job at a time, when the
    search waits for it. It cannot survive a crashing evaluator nor stop a
    slow one: the time limit only reaches the evaluator through its context."""

    slots = 1

    def __init__(self, evaluator: Evaluator, settings: SerialSettings = SerialSettings()) -> None:
        self.evaluator = evaluator
        self.settings = settings
        self.timeout = settings.timeout_seconds
        self._queue: collections.deque[Job] = collections.deque()

    def submit(self, job: Job) -> None:
        self._queue.append(_with_time_limit(job, self.timeout))

    def running(self) -> int:
        """Jobs submitted whose outcome :meth:`wait` has not handed out."""
        return len(self._queue)

    def free(self) -> int:
        return max(0, self.slots - len(self._queue))

    def wait(self) -> Outcome:
        if not self._queue:
            raise RuntimeError("wait() with nothing submitted")
        job = self._queue.popleft()
        return Outcome(job.candidate_id, run_job(self.evaluator, job))

    def shutdown(self) -> None:
        self._queue.clear()


# -- local processes --------------------------------------------------------------------------------


def _worker_main(conn: multiprocessing.connection.Connection, evaluator: Evaluator, threads: int) -> None:
    """A worker process: evaluate jobs from the pipe until told to stop or
    the search's end of the pipe closes (a killed search leaves no workers
    behind). Torch's intra-op threads are limited so that the workers share
    the cores instead of each taking all of them. Workers are daemonic (they
    end with the search), so an evaluator cannot start processes of its own."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(threads))
    if "torch" in sys.modules:  # the evaluator's module may have imported it
        sys.modules["torch"].set_num_threads(threads)
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        evaluation = run_job(evaluator, job)
        try:
            conn.send(Outcome(job.candidate_id, evaluation))
        except (EOFError, OSError):  # the search is gone (killed): so is this worker
            return
        except Exception as err:  # e.g. metrics that do not pickle
            conn.send(Outcome(job.candidate_id, failed(f"the evaluation could not be sent back: {err}")))


@dataclass
class _Worker:
    process: Any
    conn: multiprocessing.connection.Connection
    job: Job | None = None
    started: float = 0.0


def _crash_reason(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        return f"worker crashed (exit code {exitcode}, {name})"
    return f"worker crashed (exit code {exitcode})"


@EXECUTORS.register("process", settings=ProcessSettings)
class ProcessExecutor:
    """Evaluates in ``workers`` spawned processes, one job per process at a
    time. A worker that dies fails its one candidate with "worker crashed
    (exit code N)" and is replaced; a job past ``timeout_seconds`` fails
    with "timed out", its worker killed and replaced."""

    def __init__(self, evaluator: Evaluator, settings: ProcessSettings = ProcessSettings(), *,
                 start_method: str = "spawn") -> None:
        workers = settings.workers
        self.evaluator = evaluator
        self.settings = settings
        self.slots = workers
        self.timeout = settings.timeout_seconds
        self.threads = settings.threads_per_worker or max(1, (os.cpu_count() or 1) // workers)
        self._context = multiprocessing.get_context(start_method)
        self._workers: list[_Worker] = []
        self._done: collections.deque[Outcome] = collections.deque()

    # -- workers
    def _start_worker(self) -> _Worker:
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main, args=(child, self.evaluator, self.threads), daemon=True, name="alphanas-worker"
        )
        try:
            process.start()
        except Exception as err:  # pickling the evaluator for the new process
            raise AlphanasError(
                f"cannot start a worker process with evaluator {type(self.evaluator).__name__}: {err}",
                hint="evaluators sent to worker processes must be picklable; or use executor kind 'serial'",
            ) from err
        child.close()
        worker = _Worker(process, parent)
        self._workers.append(worker)
        return worker

    def _retire(self, worker: _Worker, kill: bool) -> None:
        if kill and worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=10)
        worker.conn.close()
        self._workers.remove(worker)

    def _busy(self) -> list[_Worker]:
        return [w for w in self._workers if w.job is not None]

    # -- the interface
    def running(self) -> int:
        """Jobs submitted whose outcome has not been handed out by
        :meth:`wait` (finished ones waiting in the queue included)."""
        return len(self._busy()) + len(self._done)

    def free(self) -> int:
        return self.slots - len(self._busy())

    def submit(self, job: Job) -> None:
        if self.free() <= 0:
            raise RuntimeError("submit() with every worker busy")
        idle = [w for w in self._workers if w.job is None]
        worker = idle[0] if idle else self._start_worker()
        job = _with_time_limit(replace(job, ir=None), self.timeout)
        worker.conn.send(job)
        worker.job, worker.started = job, time.monotonic()

    def wait(self) -> Outcome:
        while not self._done:
            busy = self._busy()
            if not busy:
                raise RuntimeError("wait() with nothing submitted")
            ready = multiprocessing.connection.wait(
                [w.conn for w in busy] + [w.process.sentinel for w in busy], timeout=self._next_deadline(busy)
            )
            for worker in busy:
                self._collect(worker, ready)
        return self._done.popleft()

    def _next_deadline(self, busy: list[_Worker]) -> float | None:
        if self.timeout is None:
            return None
        now = time.monotonic()
        return max(0.0, min(w.started + self.timeout - now for w in busy))

    def _collect(self, worker: _Worker, ready: list[Any]) -> None:
        """Take a finished, crashed or timed-out job off ``worker``."""
        job = worker.job
        assert job is not None
        if worker.conn in ready or worker.conn.poll():
            try:
                outcome = worker.conn.recv()
            except (EOFError, OSError):
                outcome = None  # it died while answering: a crash
            if outcome is not None:
                worker.job = None
                self._done.append(outcome)
                return
        if not worker.process.is_alive() or worker.process.sentinel in ready:
            worker.process.join(timeout=10)
            reason = _crash_reason(worker.process.exitcode)
            self._done.append(Outcome(job.candidate_id, failed(reason, seconds=time.monotonic() - worker.started)))
            self._retire(worker, kill=False)
            return
        elapsed = time.monotonic() - worker.started
        if self.timeout is not None and elapsed >= self.timeout:
            self._retire(worker, kill=True)
            reason = f"timed out after {self.timeout:g} s (worker killed)"
            self._done.append(Outcome(job.candidate_id, failed(reason, seconds=elapsed)))

    def shutdown(self) -> None:
        for worker in list(self._workers):
            if worker.job is None:
                with contextlib.suppress(OSError):  # it may have died meanwhile
                    worker.conn.send(None)
                worker.process.join(timeout=5)
            self._retire(worker, kill=True)
        self._done.clear()


# -- Ray --------------------------------------------------------------------------------------------


def _ray_evaluate(evaluator: Evaluator, job: Job) -> Evaluation:
    return run_job(evaluator, job)


@EXECUTORS.register("ray", settings=RaySettings)
class RayExecutor:
    """Evaluates as Ray tasks, ``workers`` at a time (default: the
    cluster's CPUs divided by ``cpus_per_job``). Connects to ``address``
    (None: an already initialised Ray, else a new local one). A task whose
    worker dies fails with "worker crashed"; one past ``timeout_seconds`` is
    cancelled with its worker killed."""

    def __init__(self, evaluator: Evaluator, settings: RaySettings | None = None, *,
                 cpus_per_job: float = 1.0) -> None:
        ray = _import_ray()  # before the default settings, which need it too
        settings = settings if settings is not None else RaySettings()
        self.settings = settings
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            ray.init(address=settings.address, include_dashboard=False, log_to_driver=False)
        self.timeout = settings.timeout_seconds
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        self.slots = settings.workers or max(1, int(cpus // cpus_per_job))
        self._evaluator = ray.put(evaluator)
        self._task = ray.remote(num_cpus=cpus_per_job, max_retries=0)(_ray_evaluate)
        self._running: dict[Any, tuple[Job, float]] = {}

    def running(self) -> int:
        return len(self._running)

    def free(self) -> int:
        return self.slots - len(self._running)

    def submit(self, job: Job) -> None:
        job = _with_time_limit(replace(job, ir=None), self.timeout)
        ref = self._task.remote(self._evaluator, job)
        self._running[ref] = (job, time.monotonic())

    def wait(self) -> Outcome:
        ray = self._ray
        if not self._running:
            raise RuntimeError("wait() with nothing submitted")
        while True:
            deadline = None
            if self.timeout is not None:
                now = time.monotonic()
                deadline = max(0.0, min(start + self.timeout - now for _, start in self._running.values()))
            ready, _ = ray.wait(list(self._running), num_returns=1, timeout=deadline)
            if ready:
                return self._result(ready[0])
            expired = self._expired()
            if expired is not None:
                return expired

    def _result(self, ref: Any) -> Outcome:
        ray = self._ray
        job, start = self._running.pop(ref)
        try:
            evaluation = ray.get(ref)
        except ray.exceptions.WorkerCrashedError as err:
            evaluation = failed(f"worker crashed (ray: {type(err).__name__})", seconds=time.monotonic() - start)
        except ray.exceptions.TaskCancelledError:
            evaluation = failed("cancelled", seconds=time.monotonic() - start)
        except ray.exceptions.RayError as err:
            evaluation = failed(f"ray task failed: {type(err).__name__}: {err}", seconds=time.monotonic() - start)
        return Outcome(job.candidate_id, evaluation)

    def _expired(self) -> Outcome | None:
        assert self.timeout is not None
        now = time.monotonic()
        for ref, (job, start) in list(self._running.items()):
            if now - start >= self.timeout:
                self._ray.cancel(ref, force=True)
                del self._running[ref]
                reason = f"timed out after {self.timeout:g} s (worker killed)"
                return Outcome(job.candidate_id, failed(reason, seconds=now - start))
        return None

    def shutdown(self) -> None:
        for ref in list(self._running):
            self._ray.cancel(ref, force=True)
        self._running.clear()
        if self._owns_ray:
            self._ray.shutdown()
