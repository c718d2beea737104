"""One process at a time in a run folder.

A search, a resumed search and an ask-and-tell driver write the run's store
and its files; two of them in one folder would evaluate the same in-flight
candidates twice and trip over each other's rows. Whoever writes a run
first takes ``RUN_DIR/.lock``, an OS file lock (``fcntl.flock``) on a small
file holding the holder's pid and command line. The lock belongs to the
open file, so the operating system drops it when the holder ends, however
it ends (``kill -9`` included): a stale lock file never blocks anyone, only
a living holder does. A second writer is refused at once with an
:class:`~alphanas.lang.errors.AlphanasError` naming the holder.

Readers (``alphanas show``, ``diff``, ``report``, ``export``) take no lock:
the store is SQLite in WAL mode, where readers see the last committed state
while a writer goes on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
import warnings
from pathlib import Path
from typing import IO, Any

from alphanas.lang.errors import AlphanasError

__all__ = ["LOCK_NAME", "RunLock", "RunLocked"]

#: The lock file's name inside a run folder.
LOCK_NAME = ".lock"


class RunLocked(AlphanasError):
    """The run folder is held by another process (``holder`` says which, as
    far as its lock file tells)."""

    def __init__(self, message: str, holder: dict[str, Any], hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.holder = holder


class RunLock:
    """The lock of one run folder, held from :meth:`acquire` to :meth:`release`."""

    def __init__(self, folder: Path, file: IO[str] | None) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._file = file

    @property
    def held(self) -> bool:
        return self._file is not None

    @classmethod
    def acquire(cls, run_dir: str | Path) -> RunLock:
        """Take the lock of ``run_dir`` (created if needed), or raise
        :class:`RunLocked` naming the process that holds it."""
        folder = Path(run_dir)
        path = folder / LOCK_NAME
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: no lock
            fcntl = None  # type: ignore[assignment]
        try:
            folder.mkdir(parents=True, exist_ok=True)
            if fcntl is None:  # pragma: no cover
                return cls(folder, None)
            # not inherited across exec (PEP 446): the lock ends with this
            # process, not with a worker it started
            file = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as err:
            raise AlphanasError(f"cannot take the lock {path} of the run folder: {err.strerror or err}",
                                hint="a search writes its run folder: choose a run_dir you can write") from None
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            file.close()
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise _refusal(folder, path) from None
            # a file system without flock (some network mounts): go on unlocked
            warnings.warn(f"cannot lock {path} ({err.strerror}): nothing stops a second process "
                          "from writing this run at the same time", stacklevel=2)
            return cls(folder, None)
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command(),
                  "since": time.strftime("%Y-%m-%d %H:%M:%S")}
        file.seek(0)
        file.truncate()
        file.write(json.dumps(holder) + "\n")
        file.flush()
        return cls(folder, file)

    def release(self) -> None:
        """Give the lock up (the file stays, emptied: it holds nobody)."""
        file, self._file = self._file, None
        if file is None:
            return
        with contextlib.suppress(OSError):
            file.seek(0)
            file.truncate()
            file.flush()
        file.close()  # closing the file drops the lock

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def read_holder(path: Path) -> dict[str, Any]:
    """What the lock file says of its holder ({} if nothing readable yet:
    the holder may be between taking the lock and writing its name)."""
    for _ in range(20):
        try:
            text = path.read_text(encoding="utf-8").strip()
        except OSError:
            return {}
        if text:
            try:
                holder = json.loads(text)
            except json.JSONDecodeError:
                holder = None
            if isinstance(holder, dict):
                return holder
        time.sleep(0.05)
    return {}


def _refusal(folder: Path, path: Path) -> RunLocked:
    holder = read_holder(path)
    pid = holder.get("pid")
    who = f"process {pid}" if pid is not None else "another process"
    if holder.get("host") and holder["host"] != socket.gethostname():
        who += f" on {holder['host']}"
    details = [f"`{holder['command']}`"] if holder.get("command") else []
    details += [f"since {holder['since']}"] if holder.get("since") else []
    message = f"{folder} is in use by {who}" + (f" ({', '.join(details)})" if details else "") + \
        f": it holds the lock {path}"
    hint = ("one process at a time runs a search in a run folder; wait for it to end, or stop it"
            + (f" (kill {pid})" if pid is not None else "")
            + f" and `alphanas resume {folder}`. `alphanas show {folder}` reads the run meanwhile")
    return RunLocked(message, holder, hint)


def _command() -> str:
    argv = list(sys.argv)
    if argv and argv[0]:
        argv[0] = Path(argv[0]).name
    return " ".join(argv)[:300] or "python"
