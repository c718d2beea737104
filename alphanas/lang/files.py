"""Every file a user gives, read and written in one place.

A user's files are read through :func:`read_text` (programs, search
configs, space grammars, JSON inputs) and every output is written through
:func:`write_text`, :func:`write_bytes` or :func:`writing` (for writers
that take a path, as ``torch.save`` and matplotlib do). Whatever goes
wrong becomes an :class:`~alphanas.lang.errors.AlphanasError` that names
the file and says what to do, never a traceback:

- a missing file, a folder where a file is expected, a file that cannot be
  read (permission denied);
- bytes that are not UTF-8 text (a binary file, UTF-16, Latin-1) or hold a
  NUL byte: the error is located at the first bad byte (line and column)
  and says what the file looks like instead;
- an output that cannot be written: its folder does not exist, it is a
  folder, part of its path is a file, permission denied, a read-only or
  special file system such as ``/proc``.

:func:`check_output` and :func:`check_folder` look before any work is
done (``alphanas render`` checks its ``-o`` before drawing, a search
config its ``run_dir`` before anything runs): a file that does not exist
yet is created and removed again, a folder that does not exist yet is
tried with a temporary folder inside its nearest existing parent, since
only that tells a special or read-only file system (``/proc``) from a
writable one. Nothing is left behind. The write itself still reports what
only writing can find out (a full disk).

Text is UTF-8 both ways (a UTF-8 byte-order mark at the start of a file is
dropped), whatever the machine's locale.
"""

from __future__ import annotations

import codecs
import errno
import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from alphanas.lang.errors import AlphanasError
from alphanas.lang.ir import Loc

__all__ = [
    "FileError",
    "check_folder",
    "check_output",
    "decode",
    "folder_problem",
    "read_bytes",
    "read_text",
    "write_bytes",
    "write_text",
    "writing",
]

#: bytes looked at to tell a binary file or UTF-16 from mistyped text
_SAMPLE = 4096


class FileError(AlphanasError):
    """A file that cannot be read or written, or is not text."""

    kind = "error"


ErrorClass = type[AlphanasError]


# -- reading ----------------------------------------------------------------------------------------


def read_bytes(path: str | Path, what: str = "file", *, error: ErrorClass = FileError,
               hint: str | None = None) -> bytes:
    """The bytes of the user's file ``path`` (a ``what``: "program",
    "search config", ...); ``error`` (an :class:`AlphanasError` class) if
    it is missing, a folder or unreadable."""
    p = Path(path)
    try:
        return p.read_bytes()
    except OSError as err:
        raise error(_read_problem(p, what, err), hint=hint or _read_hint(p, what, err)) from None


def read_text(path: str | Path, what: str = "file", *, error: ErrorClass = FileError,
              hint: str | None = None) -> str:
    """The text of the user's file ``path``, decoded as UTF-8. A missing or
    unreadable file, a folder, or bytes that are not UTF-8 text (or hold a
    NUL byte) raise ``error``, located at the first bad byte."""
    return decode(read_bytes(path, what, error=error, hint=hint), str(path), what, error=error)


def decode(data: bytes, file: str, what: str = "file", *, error: ErrorClass = FileError) -> str:
    """``data`` (the contents of ``file``) as text: UTF-8 without NUL bytes;
    a leading UTF-8 byte-order mark is dropped."""
    if data.startswith(codecs.BOM_UTF8):
        data = data[len(codecs.BOM_UTF8):]
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or _looks_utf16(data[:_SAMPLE]):
        raise error(f"this {what} is UTF-16 text, not UTF-8", Loc(file, 1, 1), hint=_resave_hint(file, "UTF-16"))
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        bad = err.start
    else:
        nul = text.find("\0")
        if nul < 0:
            return text
        bad = len(text[:nul].encode("utf-8"))
    loc = _byte_loc(data, bad, file)
    if _looks_binary(data[:_SAMPLE]):
        raise error(f"this {what} is a binary file, not text (byte 0x{data[bad]:02x} is not UTF-8 text)", loc,
                    hint=f"give a {what} written as UTF-8 text")
    shown = data.decode("utf-8", "replace")
    if data[bad] == 0:
        raise error(f"a NUL byte (0x00) in this {what}", loc, text=shown,
                    hint=f"remove it: a {what} is UTF-8 text, which never holds a NUL byte")
    raise error(f"this {what} is not UTF-8 text: byte 0x{data[bad]:02x} cannot be decoded", loc, text=shown,
                hint=_resave_hint(file, "Latin-1 or another 8-bit encoding"))


def _byte_loc(data: bytes, offset: int, file: str) -> Loc:
    """The line and column (in characters) of byte ``offset``."""
    line = data.count(b"\n", 0, offset) + 1
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", "replace")) + 1
    return Loc(file, line, column)


def _looks_utf16(sample: bytes) -> bool:
    """Text in UTF-16 without a byte-order mark: mostly ASCII, so every other byte is NUL."""
    if len(sample) < 4:
        return False
    even, odd = sample[0::2], sample[1::2]
    return max(even.count(0) / len(even), odd.count(0) / len(odd)) > 0.4


def _looks_binary(sample: bytes) -> bool:
    """No text file: NUL bytes here and there, or many control bytes."""
    if not sample:
        return False
    control = sum(1 for b in sample if b < 32 and b not in (9, 10, 12, 13))
    undecodable = sample.decode("utf-8", "replace").count("\ufffd")
    return sample.count(0) > 1 or (control + undecodable) / len(sample) > 0.1


def _resave_hint(file: str, encoding: str) -> str:
    source = "UTF-16" if encoding == "UTF-16" else "LATIN1"
    return (f"the file looks like {encoding}: save it as UTF-8, e.g. "
            f"`iconv -f {source} -t UTF-8 {file} > fixed && mv fixed {file}`")


def _read_problem(p: Path, what: str, err: OSError) -> str:
    if err.errno == errno.ENOENT:
        return f"cannot read {p}: no such file"
    if err.errno == errno.EISDIR or p.is_dir():
        return f"cannot read {p}: it is a folder, not a {what}"
    if err.errno == errno.ENOTDIR:
        return f"cannot read {p}: part of the path is a file, not a folder"
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"cannot read {p}: permission denied"
    return f"cannot read {p}: {err.strerror or err}"


def _read_hint(p: Path, what: str, err: OSError) -> str:
    if err.errno in (errno.EACCES, errno.EPERM):
        return f"make it readable (chmod u+r {p}), or give another {what}"
    return f"check the path: give the path of a {what}"


# -- writing -----------------------------------------------------------------------------------------


def check_output(path: str | Path, what: str = "output", suffixes: Sequence[str] = (),
                 *, error: ErrorClass = FileError) -> Path:
    """``path`` if a ``what`` can be written there, as far as can be told
    without writing: a file name ending in one of ``suffixes`` (any when
    empty), not a folder, in a folder that exists and is writable."""
    p = Path(path)
    if suffixes and p.suffix.lower() not in suffixes:
        shown = " or ".join(suffixes)
        raise error(f"cannot write {p}: the {what} must be a {shown} file",
                    hint=f"give -o FILE{suffixes[0]}")
    if p.is_dir():
        name = f"NAME{suffixes[0]}" if suffixes else "NAME"
        raise error(f"cannot write {p}: it is a folder", hint=f"give a file name, e.g. {p / name}")
    problem = _parent_problem(p)
    if problem is not None:
        raise error(f"cannot write {p}: {problem[0]}", hint=problem[1])
    if not os.path.lexists(p):
        # only creating the file tells a folder that takes no new files (/proc, a read-only file
        # system): create it and take it away again
        try:
            os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
        except FileExistsError:
            pass  # made by someone else meanwhile: the write will tell
        except OSError as err:
            raise error(f"cannot write {p}: {_write_problem(p, err)}", hint=_write_hint(p, err)) from None
        else:
            os.unlink(p)
    elif not os.access(p, os.W_OK):
        raise error(f"cannot write {p}: permission denied", hint=f"make it writable (chmod u+w {p}), or give another path")
    return p


def write_text(path: str | Path, text: str, what: str = "output", *, error: ErrorClass = FileError) -> Path:
    """Write ``text`` (UTF-8) to ``path``; ``error`` naming the path if it cannot be written."""
    return write_bytes(path, text.encode("utf-8"), what, error=error)


def write_bytes(path: str | Path, data: bytes, what: str = "output", *, error: ErrorClass = FileError) -> Path:
    """Write ``data`` to ``path``; ``error`` naming the path if it cannot be written."""
    with writing(path, what, error=error) as p:
        p.write_bytes(data)
    return p


@contextmanager
def writing(path: str | Path, what: str = "output", *, error: ErrorClass = FileError) -> Iterator[Path]:
    """For a writer that takes a path (``torch.save``, ``savefig``): yields
    ``path`` and turns an ``OSError`` raised while writing it into ``error``
    naming the path and what to do."""
    p = Path(path)
    if p.is_dir():
        raise error(f"cannot write {p}: it is a folder", hint=f"give a file name for the {what}, e.g. {p / 'NAME'}")
    try:
        yield p
    except OSError as err:
        raise error(f"cannot write {p}: {_write_problem(p, err)}", hint=_write_hint(p, err)) from None
    except RuntimeError as err:  # torch.save reports a file it cannot open so
        if "open file failed" not in str(err) and "Parent directory" not in str(err):
            raise
        raise error(f"cannot write {p}: {str(err).splitlines()[0]}",
                    hint="write it to a folder you can write to, on an ordinary file system") from None


def _write_problem(p: Path, err: OSError) -> str:
    if err.errno == errno.EISDIR or p.is_dir():
        return "it is a folder"
    if err.errno in (errno.ENOENT, errno.ENOTDIR) or not p.parent.is_dir():
        problem = _parent_problem(p)
        if problem is not None:
            return problem[0]
        return f"the folder {p.parent} takes no new files ({err.strerror})"
    if err.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if err.errno == errno.EROFS:
        return "the file system is read-only"
    if err.errno == errno.ENOSPC:
        return "no space left on the device"
    return err.strerror or str(err)


def _write_hint(p: Path, err: OSError) -> str:
    if err.errno == errno.ENOSPC:
        return "free some space, or write somewhere else"
    problem = _parent_problem(p)
    if problem is not None:
        return problem[1]
    return "write it to a folder you can write to, on an ordinary file system"


def _parent_problem(p: Path) -> tuple[str, str] | None:
    """Why nothing can be written inside ``p``'s folder, with a hint; None if
    it looks writable."""
    parent = p.parent
    if parent.is_dir():
        if not os.access(parent, os.W_OK | os.X_OK):
            return (f"permission denied in {parent}", "write it to a folder you can write to")
        return None
    existing = _existing_ancestor(parent)
    if existing is not None and not existing.is_dir():
        return (f"{existing} is a file, not a folder", "give a path whose folders are folders")
    return (f"no such folder {parent}", f"create it first (mkdir -p {parent}), or give another path")


def _existing_ancestor(p: Path) -> Path | None:
    for a in (p, *p.parents):
        if os.path.lexists(a):
            return a
    return None


# -- folders ------------------------------------------------------------------------------------------


def folder_problem(path: str | Path) -> tuple[str, str] | None:
    """Why ``path`` cannot be a folder to write into (created if need be),
    and what to do; None if it can. Nothing is left behind: a folder that
    does not exist yet is not created, and the test that its place takes
    new files (a temporary folder, removed at once) catches what
    permissions do not say, as ``/proc`` or a read-only file system."""
    p = Path(path)
    if p.exists() and not p.is_dir():
        return (f"{p} is a file, not a folder", "give the path of a folder (it is created if need be)")
    existing = _existing_ancestor(p)
    if existing is None:
        return (f"no part of {p} exists", "give a path on this machine")
    if not existing.is_dir():
        return (f"{existing} is a file, so {p} cannot be a folder", "give a path whose folders are folders")
    if not os.access(existing, os.W_OK | os.X_OK):
        return (f"permission denied: {existing} is not writable", "choose a folder you can write to")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".alphanas-probe-", dir=existing))
    except OSError as err:
        reason = "the file system is read-only" if err.errno == errno.EROFS else (
            f"{existing} takes no new files ({err.strerror or err})")
        return (reason, "choose a folder on an ordinary, writable file system")
    return None


def check_folder(path: str | Path, what: str = "folder", *, error: ErrorClass = FileError) -> Path:
    """``path`` if it can be a folder to write into; else ``error`` naming it."""
    problem = folder_problem(path)
    if problem is not None:
        raise error(f"cannot use {path} as the {what}: {problem[0]}", hint=problem[1])
    return Path(path)
