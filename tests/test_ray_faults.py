"""The Ray executor under faults, on a two-node Ray cluster on this machine
(``ray.cluster_utils.Cluster``: a head node and a worker node of one CPU
each, on 127.0.0.1, no dashboard), driven by ``alphanas search`` and
``alphanas resume`` as a user runs them:

- a Ray worker killed (SIGKILL) in the middle of an evaluation: the task is
  run once more; killed again, the candidate fails with its reason; the
  search goes on to its budget and loses nothing it finished;
- the head node stopped in the middle of a search: the search ends with a
  clear error (exit 2, no traceback), the evaluations in flight left
  ``running``; with the head started again, ``alphanas resume`` completes
  the run and every candidate finished before is kept as it was.

Every process the cluster starts carries a marker in its environment; the
fixture's teardown kills exactly those (by pid) and checks that none is
left. (``ray stop --force`` would also stop every other Ray on the machine.)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest

from alphanas.evaluation.evaluator import AnalyticEvaluator, EvalContext, Evaluation, Fidelity
from alphanas.lang.ir import Program
from alphanas.search.loop import evaluation_seed
from alphanas.search.store import Candidate, Store

pytestmark = pytest.mark.slow

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
ALPHANAS = Path(sys.executable).parent / "alphanas"
SEED = 7
MARKER = "ALPHANAS_RAY_FAULTS_TEST"


@dataclass(frozen=True)
class PidSleeper:
    """The analytic evaluator after ``sleep`` seconds (``seed_sleep`` for
    the seed); first it writes its worker's pid to ``folder/SEED.pid`` (the
    evaluation seed names the candidate) and appends it to ``folder/log``."""

    folder: str
    sleep: float = 1.5
    seed_sleep: float = 0.2
    metrics: ClassVar[dict[str, str]] = {"params": "min", "flops": "min"}

    def evaluate(self, program: Program, fidelity: Fidelity, context: EvalContext) -> Evaluation:
        folder = Path(self.folder)
        tmp = folder / f"{context.seed}.tmp"
        tmp.write_text(str(os.getpid()))
        tmp.replace(folder / f"{context.seed}.pid")
        with open(folder / "log", "a") as f:
            f.write(f"{context.seed} {os.getpid()}\n")
        time.sleep(self.seed_sleep if context.seed == evaluation_seed(SEED, 0) else self.sleep)
        return AnalyticEvaluator().evaluate(program, fidelity, context)


# -- the cluster -----------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _marked_processes(marker: str, temp_dir: str) -> list[int]:
    """The pids of the cluster's processes: those whose environment holds
    ``marker``, or whose command line or open files are in ``temp_dir``
    (a Ray process renames itself, ``ray::IDLE``, which may wipe its
    environment as /proc shows it)."""
    needle = f"{MARKER}={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            mine = needle in (entry / "environ").read_bytes().split(b"\0")
            mine = mine or temp_dir.encode() in (entry / "cmdline").read_bytes()
            if not mine:
                for fd in (entry / "fd").iterdir():
                    try:
                        if os.readlink(fd).startswith(temp_dir):
                            mine = True
                            break
                    except OSError:
                        continue
        except OSError:
            continue
        if mine:
            found.append(int(entry.name))
    return found


@dataclass
class RayCluster:
    """A local Ray cluster for one test; ``start_head`` (again) on the same port."""

    temp_dir: str
    port: int
    heads: list[Any]

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start_head(self, *, worker_node: bool) -> Any:
        from ray.cluster_utils import Cluster

        cluster = Cluster(initialize_head=True, head_node_args={
            "num_cpus": 1, "include_dashboard": False, "node_ip_address": "127.0.0.1",
            "gcs_server_port": self.port, "temp_dir": self.temp_dir})
        self.heads.append(cluster)
        if worker_node:
            cluster.add_node(num_cpus=1, node_ip_address="127.0.0.1")
            cluster.wait_for_nodes()
        return cluster

    def stop_head(self) -> None:
        cluster = self.heads[-1]
        cluster.remove_node(cluster.head_node)


@pytest.fixture
def ray_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[RayCluster]:
    pytest.importorskip("ray.cluster_utils")
    if not Path("/proc/self/environ").exists():
        pytest.skip("needs /proc to find the cluster's processes")
    marker = uuid.uuid4().hex
    monkeypatch.setenv(MARKER, marker)  # inherited by every process of the cluster, and by the searches
    # Ray workers import this module (the evaluator's) and alphanas
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(ROOT)]))
    # Ray takes 127.0.0.1 in an address for "this machine" and looks for its
    # network address instead, where a loopback-only cluster is not found;
    # this makes it keep 127.0.0.1 (its switch for single-machine clusters)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")
    temp_dir = tempfile.mkdtemp(prefix="rayft", dir="/tmp")  # short: Ray's socket paths must stay short
    cluster = RayCluster(temp_dir, _free_port(), [])
    try:
        yield cluster
    finally:
        for head in reversed(cluster.heads):
            with contextlib.suppress(Exception):  # a head already stopped by the test
                head.shutdown()
        deadline = time.monotonic() + 20
        while (left := _marked_processes(marker, temp_dir)) and time.monotonic() < deadline:
            for pid in left:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.2)
        assert not _marked_processes(marker, temp_dir), "processes of the test's Ray cluster are left"
        shutil.rmtree(temp_dir, ignore_errors=True)


# -- helpers ---------------------------------------------------------------------------------------------


def _config(tmp_path: Path, address: str, children: int, sleep: float) -> Path:
    folder = tmp_path / "pids"
    folder.mkdir(exist_ok=True)
    path = tmp_path / "search.toml"
    path.write_text(f"""\
seed_program = "zoo:small_cnn"
seed_params = {{ width = 8 }}
run_dir = "run"
seed = {SEED}
population = 8
objectives = ["params", "flops"]

[strategy]
variation = "random_edit"

[budget]
children = {children}

[executor]
kind = "ray"
workers = 2
address = "{address}"
timeout_seconds = 120

[evaluator]
kind = "test_ray_faults:PidSleeper"
options = {{ folder = "{folder}", sleep = {sleep} }}
""")
    return path


def _cli(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([str(ALPHANAS), *args], cwd=ROOT, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)


def _wait_until(condition: Callable[[], Any], proc: subprocess.Popen[str], timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the search ended first (exit {proc.returncode}):\n{out}\n{err}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _pid(folder: Path, seed_value: int) -> int | None:
    try:
        return int((folder / f"{seed_value}.pid").read_text())
    except (FileNotFoundError, ValueError):
        return None


def _children_started(folder: Path) -> list[int]:
    """The evaluation seeds of the children whose evaluation started, in the order they started."""
    seed_of_seed = evaluation_seed(SEED, 0)
    log = folder / "log"
    lines = log.read_text().split("\n") if log.exists() else []
    order = [int(line.split()[0]) for line in lines if line.strip()]
    return [s for k, s in enumerate(order) if s != seed_of_seed and s not in order[:k]]


def _candidates(run_dir: Path) -> list[Candidate]:
    try:
        with Store.open(run_dir) as store:
            return store.candidates()
    except Exception:  # not created yet
        return []


def _finished(c: Candidate) -> tuple[Any, ...]:
    return (c.id, c.program, c.status, c.reason, dict(c.metrics), c.finish_order, c.finished_at)


# -- tests -------------------------------------------------------------------------------------------------


def test_a_killed_worker(ray_cluster: RayCluster, tmp_path: Path) -> None:
    """Killed once, the evaluation runs again and succeeds; killed twice,
    the candidate fails naming the crash. The search reaches its budget."""
    ray_cluster.start_head(worker_node=True)
    path = _config(tmp_path, ray_cluster.address, children=6, sleep=1.5)
    pids = tmp_path / "pids"
    search = _cli("search", str(path), "-q")
    try:
        retried = _wait_until(lambda: (_children_started(pids) or [None])[0], search)
        first = _wait_until(lambda: _pid(pids, retried), search)
        os.kill(first, signal.SIGKILL)
        _wait_until(lambda: _pid(pids, retried) not in (None, first), search)  # Ray ran it again
        failing = _wait_until(lambda: next((s for s in _children_started(pids) if s != retried), None), search)
        for _ in range(2):
            pid = _wait_until(lambda: _pid(pids, failing), search)
            os.kill(pid, signal.SIGKILL)
            (pids / f"{failing}.pid").unlink()
        out, err = search.communicate(timeout=300)
    finally:
        if search.poll() is None:
            search.kill()
            search.communicate()
    assert search.returncode == 0, err
    assert "stopped by budget" in out and "6 children evaluated, 1 evaluations failed" in out
    by_seed = {evaluation_seed(SEED, c.id): c for c in _candidates(tmp_path / "run")}
    assert by_seed[retried].ok
    assert by_seed[failing].status == "failed"
    assert by_seed[failing].reason == "worker crashed (ray: WorkerCrashedError; run 2 times)"
    assert all(c.status != "running" for c in by_seed.values())
    assert sum(c.ok for c in by_seed.values()) == 6  # the seed and five children
    calls = Counter(int(line.split()[0]) for line in (pids / "log").read_text().split("\n") if line.strip())
    assert calls[retried] == 2 and calls[failing] == 2
    assert all(n == 1 for s, n in calls.items() if s not in (retried, failing))


def test_the_head_node_stopped_and_started_again(ray_cluster: RayCluster, tmp_path: Path) -> None:
    ray_cluster.start_head(worker_node=True)
    path = _config(tmp_path, ray_cluster.address, children=8, sleep=1.0)
    run_dir = tmp_path / "run"
    search = _cli("search", str(path), "-q")
    try:
        _wait_until(lambda: sum(c.evaluated for c in _candidates(run_dir)) >= 3, search)
        ray_cluster.stop_head()
        out, err = search.communicate(timeout=180)
    finally:
        if search.poll() is None:
            search.kill()
            search.communicate()
    assert search.returncode == 2, (out, err)
    assert "lost the Ray cluster" in err and "alphanas resume" in err and "Traceback" not in err
    before = {c.id: _finished(c) for c in _candidates(run_dir) if c.evaluated}
    assert len(before) >= 3 and all(row[2] == "ok" for row in before.values())

    ray_cluster.start_head(worker_node=False)  # the same address, one CPU
    again = _cli("resume", str(run_dir), "-q")
    out, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "stopped by budget" in out and "8 children evaluated" in out
    after = _candidates(run_dir)
    assert {c.id: _finished(c) for c in after if c.id in before} == before  # nothing finished is lost
    assert all(c.status != "running" for c in after)
    assert sum(c.ok for c in after) == 9
