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
import socket
import subprocess
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

#: evaluators unpickled in this Ray worker, by the key the executor gave them
_RAY_EVALUATORS: dict[str, Evaluator] = {}


def _ray_evaluate(key: str, blob: bytes, job: Job) -> Evaluation:
    """A Ray task: the evaluator (pickled once by the executor, unpickled
    once per worker) evaluates the job."""
    import pickle

    evaluator = _RAY_EVALUATORS.get(key)
    if evaluator is None:
        try:
            evaluator = pickle.loads(blob)
        except Exception as err:  # its module does not import on this node, say
            return failed(f"the evaluator could not be loaded on the Ray worker: {type(err).__name__}: {err}")
        if len(_RAY_EVALUATORS) >= 4:
            _RAY_EVALUATORS.clear()
        _RAY_EVALUATORS[key] = evaluator
    return run_job(evaluator, job)


def _ray_driver_process(fd: int) -> None:
    """The entry point of the Ray driver process (``python -c``, see
    :class:`RayExecutor`): its end of the socket is ``fd``; the first
    message is its settings."""
    conn = multiprocessing.connection.Connection(fd)
    try:
        script, address, blob, cpus_per_job, workers, retries = conn.recv()
    except (EOFError, OSError):
        return
    # Ray gives its workers the driver's script folder (when it is on the
    # path) and current folder: those of the search, as if it were the driver
    sys.argv[0] = script
    _ray_driver_main(conn, address, blob, cpus_per_job, workers, retries)


def _ray_driver_main(conn: multiprocessing.connection.Connection, address: str | None, blob: bytes,
                     cpus_per_job: float, workers: int | None, retries: int) -> None:
    """The Ray driver, a process of its own (see :class:`RayExecutor`):
    connects to the cluster, turns the jobs it is sent into Ray tasks and
    sends back each outcome as it finishes. Messages in: ``("submit", job)``,
    ``("cancel", candidate_id)``, ``("stop",)`` (or the connection closing);
    out: ``("ready", slots)`` or ``("error", message)`` once, then
    ``("outcome", Outcome)``."""
    import hashlib
    import logging
    import queue
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the search's to handle; it stops this process
    ray = _import_ray()
    where = f" at {address}" if address else ""
    try:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
        cpus = float(ray.cluster_resources().get("CPU", 1.0))
        evaluator = ray.put(blob)
    except Exception as err:
        with contextlib.suppress(OSError):
            conn.send(("error", f"cannot start Ray{where}: {type(err).__name__}: {err}"))
        return
    key = hashlib.sha1(blob).hexdigest()
    task = ray.remote(num_cpus=cpus_per_job, max_retries=retries)(_ray_evaluate)
    events: queue.Queue[tuple[Any, ...]] = queue.Queue()

    def read() -> None:
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):  # the search is gone
                events.put(("stop",))
                return
            events.put(message)

    threading.Thread(target=read, daemon=True, name="alphanas-ray-reader").start()
    running: dict[int, tuple[Any, float]] = {}  # candidate id -> (its task, when it started)
    try:
        conn.send(("ready", workers or max(1, int(cpus // cpus_per_job))))
        while True:
            message = events.get()
            kind = message[0]
            if kind == "stop":
                return
            if kind == "submit":
                job = message[1]
                ref = task.remote(key, evaluator, job)
                running[job.candidate_id] = (ref, time.monotonic())
                ref.future().add_done_callback(lambda _, i=job.candidate_id, r=ref: events.put(("done", i, r)))
            elif kind == "cancel":
                entry = running.pop(message[1], None)
                if entry is not None:
                    with contextlib.suppress(Exception):
                        ray.cancel(entry[0], force=True)
            elif kind == "done":
                candidate_id, ref = message[1], message[2]
                entry = running.get(candidate_id)
                if entry is None or entry[0] != ref:  # cancelled meanwhile
                    continue
                del running[candidate_id]
                conn.send(("outcome", Outcome(candidate_id, _ray_outcome(ray, ref, entry[1], retries))))
    except (EOFError, OSError):  # the search is gone
        return
    finally:
        for ref, _ in running.values():
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        with contextlib.suppress(Exception):
            ray.shutdown()


def _ray_outcome(ray: Any, ref: Any, start: float, retries: int) -> Evaluation:
    """The evaluation a finished Ray task returned, or why it has none."""
    seconds = time.monotonic() - start
    try:
        return ray.get(ref)
    except (ray.exceptions.WorkerCrashedError, ray.exceptions.NodeDiedError) as err:
        what = "worker crashed" if isinstance(err, ray.exceptions.WorkerCrashedError) else "worker lost: its node died"
        tries = f"; run {retries + 1} times" if retries else ""
        return failed(f"{what} (ray: {type(err).__name__}{tries})", seconds=seconds)
    except ray.exceptions.TaskCancelledError:
        return failed("cancelled", seconds=seconds)
    except ray.exceptions.RayError as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else ""
        return failed(f"ray task failed: {type(err).__name__}: {first[:300]}", seconds=seconds)


@EXECUTORS.register("ray", settings=RaySettings)
class RayExecutor:
    """Evaluates as Ray tasks, ``workers`` at a time (default: the
    cluster's CPUs divided by ``cpus_per_job``), on the cluster at
    ``address`` (None: the one this process is connected to, if it has
    called ``ray.init``, else a new local one, stopped at :meth:`shutdown`).

    **The driver runs in a process of its own.** Ray ends its driver
    process, at once and without a word, when the cluster goes away under it
    (the head node stops, or the node it is connected to). So the Ray
    connection lives in a helper process, and the search survives its end:
    :meth:`wait` then raises an :class:`AlphanasError` saying the cluster
    was lost; the candidates in flight stay ``running`` in the store, and
    ``alphanas resume`` evaluates them again once the cluster is back.
    Nothing finished is lost (each result was stored as it came).

    **Failures.** A worker can die for a reason that is not the candidate's
    (its node lost or preempted, a worker killed), so a task whose worker
    or node died is run once more (Ray's ``max_retries``); a second death
    fails the candidate with "worker crashed (...)" or "worker lost (...)".
    A task past ``timeout_seconds`` is cancelled with its worker killed and
    fails with "timed out", and is not retried. The evaluator is pickled
    here (with Ray's cloudpickle) and unpickled once per Ray worker."""

    #: how many more times Ray runs a task whose worker or node died
    retries = 1

    def __init__(self, evaluator: Evaluator, settings: RaySettings | None = None, *,
                 cpus_per_job: float = 1.0) -> None:
        ray = _import_ray()  # before the default settings, which need it too
        settings = settings if settings is not None else RaySettings()
        self.settings = settings
        self.timeout = settings.timeout_seconds
        address = settings.address
        if address is None and ray.is_initialized():  # the cluster this process uses
            address = ray.get_runtime_context().gcs_address
        self.address = address
        try:
            blob = ray.cloudpickle.dumps(evaluator)
        except Exception as err:
            raise AlphanasError(
                f"cannot send evaluator {type(evaluator).__name__} to Ray workers: {err}",
                hint="evaluators sent to Ray must be picklable; or use executor kind 'serial'",
            ) from err
        # a plain subprocess, not multiprocessing's spawn: a script that runs
        # a search needs no `if __name__ == "__main__"` guard for Ray
        ours, theirs = socket.socketpair()
        path = [p for p in (os.path.abspath(p) if p == "" else p for p in sys.path) if p]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
        code = "import sys; from alphanas.evaluation.executors import _ray_driver_process; " \
               "_ray_driver_process(int(sys.argv[1]))"
        try:
            self._process = subprocess.Popen([sys.executable, "-c", code, str(theirs.fileno())],
                                             pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL)
        finally:
            theirs.close()
        self._conn = multiprocessing.connection.Connection(ours.detach())
        self._running: dict[int, tuple[Job, float]] = {}
        script = os.path.realpath(sys.argv[0]) if sys.argv and sys.argv[0] else ""
        self._conn.send((script, address, blob, cpus_per_job, settings.workers, self.retries))
        message = self._receive(None)
        if message[0] != "ready":
            reason = message[1] if message[0] == "error" else self._ended()
            self.shutdown()
            raise AlphanasError(reason, hint="check [executor] address (a running cluster's `ray start` address), "
                                             "or leave it out for a local Ray")
        self.slots: int = message[1]

    # -- the interface
    def running(self) -> int:
        return len(self._running)

    def free(self) -> int:
        return self.slots - len(self._running)

    def submit(self, job: Job) -> None:
        job = _with_time_limit(replace(job, ir=None), self.timeout)
        try:
            self._conn.send(("submit", job))
        except OSError:
            raise self._lost(self._ended()) from None
        self._running[job.candidate_id] = (job, time.monotonic())

    def wait(self) -> Outcome:
        if not self._running:
            raise RuntimeError("wait() with nothing submitted")
        while True:
            deadline = None
            if self.timeout is not None:
                now = time.monotonic()
                deadline = max(0.0, min(start + self.timeout - now for _, start in self._running.values()))
            message = self._receive(deadline)
            if message[0] == "outcome":
                outcome = message[1]
                if self._running.pop(outcome.candidate_id, None) is not None:
                    return outcome
                continue  # one this side gave up on (timed out)
            if message[0] == "ended":
                raise self._lost(self._ended())
            expired = self._expired()
            if expired is not None:
                return expired

    def shutdown(self) -> None:
        self._running.clear()
        if self._process.poll() is None:
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
            try:
                self._process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._conn.close()

    # -- helpers
    def _receive(self, timeout: float | None) -> tuple[Any, ...]:
        """The driver's next message: ``("timeout",)`` when ``timeout``
        passed first, ``("ended",)`` when the driver ended (or closed its
        end of the pipe) with nothing more to say."""
        if not self._conn.poll(timeout):  # (the connection closing counts as ready)
            return ("timeout",)
        try:
            return self._conn.recv()  # type: ignore[no-any-return]
        except (EOFError, OSError):
            return ("ended",)

    def _ended(self) -> str:
        """Why the driver ended (it is made sure to have)."""
        try:
            code = self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # its connection closed, but it hangs on: stop it
            self._process.kill()
            code = self._process.wait(timeout=10)
        where = f" at {self.address}" if self.address else ""
        return (f"the Ray driver process ended (exit code {code}): Ray ends it when it loses the cluster{where} "
                "(its head node stopped, or the node it is connected to)")

    def _lost(self, reason: str) -> AlphanasError:
        return AlphanasError(
            f"lost the Ray cluster: {reason}; {len(self._running)} evaluation(s) in flight were not finished",
            hint="nothing finished is lost: the run's store has every result, and the evaluations in flight "
                 "are still `running` there; `alphanas resume RUN_DIR` evaluates them again once the cluster "
                 "is back (with `--config FILE.toml` to give it another [executor] address)")

    def _expired(self) -> Outcome | None:
        assert self.timeout is not None
        now = time.monotonic()
        for candidate_id, (_, start) in list(self._running.items()):
            if now - start >= self.timeout:
                with contextlib.suppress(OSError):
                    self._conn.send(("cancel", candidate_id))
                del self._running[candidate_id]
                reason = f"timed out after {self.timeout:g} s (worker killed)"
                return Outcome(candidate_id, failed(reason, seconds=now - start))
        return None
