"""Bad input of every kind, to every command (issue 18): exit status 2, a
message naming the file (and its line and column where the mistake has a
position), never a traceback.

The inputs are generated, not listed: every file a user gives (a program,
a space grammar, a search config, a mixing file) is garbled in each way a
file goes wrong (binary garbage, UTF-16, Latin-1, a NUL byte, empty,
truncated, a folder, missing, nested 3,000 deep, huge numbers) and handed
to every command that reads that kind of file; every output path
(``-o``, ``--weights``, a run folder) is made unwritable in each way one
can be; and a run's ``run.sqlite`` is damaged in each way a file can be
(truncated, overwritten, flipped bytes, not a database). Each case runs
the command line in-process through :func:`alphanas.cli.main`. The last
tests throw random bytes at parsing, formatting and config loading
(Hypothesis).
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inspect_runs import analytic_run

from alphanas.cli import main
from alphanas.lang.errors import AlphanasError

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = (ROOT / "examples" / "tiny_space.arch").read_text()
GRAMMAR = (ROOT / "examples" / "tiny_space.lark").read_text()
CONFIG = """\
seed_program = "seed.arch"
run_dir = "run"
population = 4
objectives = ["params", "flops"]

[strategy]
variation = "random_edit"

[budget]
children = 1

[executor]
kind = "serial"

[evaluator]
kind = "analytic"
"""
MIXING = json.dumps({"mixing": [{"input_index": 0, "matrix": [["all", "none"], ["none", "one"]]}]}, indent=2)

# -- garbling a file --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Garble:
    """One way a user's file goes wrong: its bytes (from the good text), and
    where the error must point (None: no position; (0, 0): any position)."""

    name: str
    make: Callable[[str, str], bytes]  # (good text, kind) -> bytes
    at: tuple[int, int] | None = (0, 0)


def _binary(text: str, kind: str) -> bytes:
    return random.Random(18).randbytes(2048)


def _line2(text: str, insert: bytes) -> bytes:
    first, rest = text.encode().split(b"\n", 1)
    return first + b"\n" + insert + rest


#: 3,000 levels of nesting, as each kind of file writes it
_DEEP = {
    "program": "model m(x: [1, 8, 8]) {\n  return " + "relu(" * 3000 + "x" + ")" * 3000 + "\n}\n",
    "grammar": "body: " + "(" * 3000 + '"x"' + ")" * 3000 + "\n",
    "config": "seed = " + "[" * 3000 + "]" * 3000 + "\n",
    "mixing": "[" * 3000 + "]" * 3000,
}
#: numbers beyond any machine, as each kind of file writes them
_HUGE = {
    "program": "model m(x: [1, 8, 8]) {\n  return conv2d(x, 99999999999999999999999)\n}\n",
    "grammar": GRAMMAR.replace('"64"', '"99999999999999999999999"'),
    "config": CONFIG.replace("children = 1", "children = 99999999999999999999999"),
    "mixing": json.dumps({"mixing": [{"input_index": 1e400, "matrix": [["all"]]}]}).replace("Infinity", "1e400"),
}
#: sizes that pass no machine: a million-channel convolution on a 224x224 image
_MILLION = {
    "program": "model m(x: [3, 224, 224]) {\n  h = conv2d(x, 1000000, k=3, p=1)\n"
               "  return conv2d(h, 1000000, k=3, p=1)\n}\n",
}

GARBLES = [
    Garble("binary", _binary),
    Garble("utf16", lambda t, k: t.encode("utf-16")),
    Garble("utf16-no-bom", lambda t, k: t.encode("utf-16-le"), (1, 1)),
    Garble("latin1", lambda t, k: _line2(t, "caf\u00e9 ".encode("latin-1")), (2, 4)),
    Garble("nul-byte", lambda t, k: _line2(t, b"ab\x00"), (2, 3)),
    Garble("empty", lambda t, k: b"", None),
    Garble("blank", lambda t, k: b"  \n\n\t\n", None),
    Garble("truncated", lambda t, k: t.encode()[: len(t) * 2 // 3], None),
    Garble("long-line", lambda t, k: _line2(t, b"@" * 20000 + b"\n"), (0, 0)),
    Garble("nested-3000", lambda t, k: _DEEP[k].encode(), None),
    Garble("huge-number", lambda t, k: _HUGE[k].encode(), None),
]


# -- the files and folders a case needs ----------------------------------------------------------------


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder with a good program, grammar, config (and its seed) and mixing file."""
    (tmp_path / "good.arch").write_text(PROGRAM)
    (tmp_path / "good.lark").write_text(GRAMMAR)
    (tmp_path / "seed.arch").write_text(PROGRAM)
    (tmp_path / "good.toml").write_text(CONFIG)
    (tmp_path / "good.json").write_text(MIXING)
    return tmp_path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return analytic_run(tmp_path_factory)


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """Exit status and everything printed."""
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own usage errors
        status = exit_.code if isinstance(exit_.code, int) else 1
    out = capsys.readouterr()
    return status, out.out + out.err


def assert_refused(argv: list[str], capsys: pytest.CaptureFixture[str], names: str | Path,
                   at: tuple[int, int] | None = None) -> str:
    """The command exits with status 2, without a traceback, with a message
    naming ``names`` (at ``line:column`` when ``at`` is given; (0, 0): any)."""
    status, output = run_cli(argv, capsys)
    assert "Traceback" not in output, output
    assert status == 2, (status, output[-2000:])
    name = str(names)
    assert name in output, (name, output[-2000:])
    if at is not None:
        line, column = at
        any_number = r"\d+"
        position = f"{re.escape(name)}:{line or any_number}:{column or any_number}: "
        assert re.search(position, output), (position, output[-2000:])
    for printed in output.splitlines():
        assert len(printed) < 400, f"a line of {len(printed)} characters: {printed[:200]}..."
    return output


# -- the commands that read each kind of file -------------------------------------------------------------


#: kind -> the commands that read such a file: argv given (the file, the work folder)
READERS: dict[str, dict[str, Callable[[str, Path], list[str]]]] = {
    "program": {
        "check": lambda f, w: ["check", f],
        "check-json": lambda f, w: ["check", "--json", f],
        "format": lambda f, w: ["format", f],
        "format-o": lambda f, w: ["format", f, "-o", str(w / "out.arch")],
        "properties": lambda f, w: ["properties", f],
        "export": lambda f, w: ["export", f, "-o", str(w / "out.py")],
        "render": lambda f, w: ["render", f, "-o", str(w / "out.svg")],
        "space-program": lambda f, w: ["space", str(w / "good.lark"), "--program", f, "--time-limit", "1"],
    },
    "grammar": {
        "space": lambda f, w: ["space", f, "--rule", "body"],
        "space-first-rule": lambda f, w: ["space", f],
        "space-program": lambda f, w: ["space", f, "--rule", "body", "--program", str(w / "good.arch"),
                                       "--time-limit", "1"],
        "synth": lambda f, w: ["synth", "--space", f, "--rule", "unit", "--input", "8,8,8", "--output", "8,8,8",
                               "--time-limit", "1"],
    },
    "config": {
        "search": lambda f, w: ["search", "-q", f],
    },
    "mixing": {
        "synth": lambda f, w: ["synth", "--mixing", f, "--input", "2,4,4", "--output", "2,4,4", "--time-limit", "1"],
    },
}
GOOD = {"program": PROGRAM, "grammar": GRAMMAR, "config": CONFIG, "mixing": MIXING}
SUFFIX = {"program": ".arch", "grammar": ".lark", "config": ".toml", "mixing": ".json"}

FILE_CASES = [(kind, command, garble) for kind, commands in READERS.items() for command in commands
              for garble in GARBLES]


@pytest.mark.parametrize(("kind", "command", "garble"), FILE_CASES,
                         ids=[f"{k}-{c}-{g.name}" for k, c, g in FILE_CASES])
def test_a_garbled_file_is_refused_with_its_name(kind: str, command: str, garble: Garble, work: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / f"bad{SUFFIX[kind]}"
    bad.write_bytes(garble.make(GOOD[kind], kind))
    argv = READERS[kind][command](str(bad), work)
    assert_refused(argv, capsys, bad, garble.at)


@pytest.mark.parametrize(("kind", "command"), [(k, c) for k, cs in READERS.items() for c in cs])
@pytest.mark.parametrize("how", ["missing", "folder", "under-a-file"])
def test_a_missing_file_or_a_folder_is_refused_with_its_name(kind: str, command: str, how: str, work: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    bad = {"missing": work / f"nowhere{SUFFIX[kind]}", "folder": work / "a_folder",
           "under-a-file": work / "good.arch" / f"x{SUFFIX[kind]}"}[how]
    if how == "folder":
        bad.mkdir()
    assert_refused(READERS[kind][command](str(bad), work), capsys, bad)


@pytest.mark.parametrize("command", [c for c in READERS["program"] if not c.startswith("format")])  # no analysis
def test_sizes_beyond_any_machine_are_located_errors(command: str, work: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / "million.arch"
    bad.write_text(_MILLION["program"])
    output = assert_refused(READERS["program"][command](str(bad), work), capsys, bad, (3, 10))
    assert "parameters" in output and "ceiling" in output


def test_the_ceiling_is_settable(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / "million.arch"
    bad.write_text(_MILLION["program"])
    status, output = run_cli(["--limit-params", "1e13", "check", str(bad)], capsys)
    assert status == 0, output
    from alphanas.lang import limits

    assert limits.current() == limits.Limits()  # set for the command only


def test_a_huge_literal_is_located_at_its_digits(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / "huge.arch"
    bad.write_text(_HUGE["program"])
    output = assert_refused(["check", str(bad)], capsys, bad, (2, 20))
    assert "too large" in output and "^" * 23 in output


def test_a_long_line_is_cut_around_the_caret(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / "deep.arch"
    bad.write_text(_DEEP["program"])
    output = assert_refused(["check", str(bad)], capsys, bad, (2, 0))
    lines = output.splitlines()
    excerpt = next(line for line in lines if line.startswith("    2 | "))
    caret = lines[lines.index(excerpt) + 1]
    assert len(excerpt) < 130 and "..." in excerpt
    assert caret.strip() == "^" and excerpt[caret.index("^")] == "r"  # under the call that goes too deep


def test_a_grammar_calling_an_unknown_op_names_it(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / "typo.lark"
    bad.write_text(GRAMMAR.replace("conv2d(x,", "conv2dd(x,"))
    line = next(k for k, text in enumerate(bad.read_text().split("\n"), 1) if "conv2dd" in text)
    output = assert_refused(["space", str(bad), "--program", str(work / "good.arch")], capsys, bad, (line, 0))
    assert "'conv2dd', which is not an op" in output and "did you mean 'conv2d'" in output
    assert "EMPTY" not in output


def test_a_grammar_using_an_undefined_terminal_names_it(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / "terminal.lark"
    bad.write_text(GRAMMAR.replace('"h = maxpool(h, 2)\\n"', '"h = maxpool(h, " SIZE ")\\n"'))
    output = assert_refused(["space", str(bad)], capsys, bad, (0, 0))
    assert "terminal SIZE is used but not defined" in output


def test_an_empty_grammar_says_it_has_no_rules(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / "empty.lark"
    bad.write_text("// nothing yet\n")
    output = assert_refused(["space", str(bad), "--rule", "body"], capsys, bad)
    assert "defines no rule" in output and "its rules are \n" not in output + "\n"


TABLE = "arch,cifar10_acc,latency_ms_cifar10\n|nor_conv_3x3~0|+|skip_connect~0|none~1|+|none~0|none~1|none~2|,90.1,5.0\n"
UNDECODABLE = [g for g in GARBLES if g.name in ("binary", "utf16", "utf16-no-bom", "latin1", "nul-byte")]


@pytest.mark.parametrize("bench", ["nb201", "nb201-study"])
@pytest.mark.parametrize("garble", UNDECODABLE, ids=[g.name for g in UNDECODABLE])
def test_a_garbled_benchmark_table_is_refused_with_its_name(bench: str, garble: Garble, work: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    bad = work / "table.csv"
    bad.write_bytes(garble.make(TABLE, "table"))
    assert_refused(["bench", bench, "--table", str(bad), "--out", str(work / "out")], capsys, bad, garble.at)
    assert not (work / "out").exists()


# -- outputs that cannot be written -----------------------------------------------------------------------


def _unwritable(work: Path, suffix: str) -> dict[str, Path]:
    return {
        "no-such-folder": work / "nowhere" / f"out{suffix}",
        "a-folder": work,
        "under-a-file": work / "good.arch" / f"out{suffix}",
        "under-proc": Path("/proc") / f"alphanas-out{suffix}",
        "under-proc-self": Path("/proc/self") / f"out{suffix}",
    }


#: command -> (argv given the output path and the work folder and the run folder, the output's suffix)
WRITERS: dict[str, tuple[Callable[[str, Path, Path], list[str]], str]] = {
    "format": (lambda o, w, r: ["format", str(w / "good.arch"), "-o", o], ".arch"),
    "export": (lambda o, w, r: ["export", str(w / "good.arch"), "-o", o], ".py"),
    "render-svg": (lambda o, w, r: ["render", str(w / "good.arch"), "-o", o], ".svg"),
    "render-png": (lambda o, w, r: ["render", str(w / "good.arch"), "-o", o], ".png"),
    "render-run": (lambda o, w, r: ["render", str(r), "--id", "1", "-o", o], ".svg"),
    "report": (lambda o, w, r: ["report", str(r), "-o", o], ".html"),
    "export-run": (lambda o, w, r: ["export", str(r), "--id", "1", "-o", o], ".py"),
    "export-weights": (lambda o, w, r: ["export", str(r), "--id", "1", "-o", str(w / "m.py"), "--weights", o], ".pt"),
    "import": (lambda o, w, r: ["import", "torchvision:resnet18", "-o", o], ".arch"),
    "import-weights": (lambda o, w, r: ["import", "torchvision:resnet18", "--weights", o], ".pt"),
    "bench-json": (lambda o, w, r: ["bench", "frontend", "--json", o], ".json"),
    "bench-out": (lambda o, w, r: ["bench", "nb201-study", "--table", str(w / "good.arch"), "--out", o], ""),
}
WRITE_CASES = [(command, how) for command in WRITERS for how in _unwritable(Path("."), "")
               # an --out folder is made where none is, and is a folder
               if not (command == "bench-out" and how in ("no-such-folder", "a-folder"))]


@pytest.mark.parametrize(("command", "how"), WRITE_CASES, ids=[f"{c}-{h}" for c, h in WRITE_CASES])
def test_an_unwritable_output_is_refused_with_its_name(command: str, how: str, work: Path, run_dir: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    make, suffix = WRITERS[command]
    output = _unwritable(work, suffix)[how]
    assert_refused(make(str(output), work, run_dir), capsys, output)
    assert not (Path("/proc") / f"alphanas-out{suffix}").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any folder")
def test_a_folder_without_write_permission_is_refused(work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    locked = work / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        output = assert_refused(["format", str(work / "good.arch"), "-o", str(locked / "o.arch")], capsys,
                                locked / "o.arch")
        assert "permission denied" in output
    finally:
        locked.chmod(0o700)


def test_writing_reports_what_only_writing_finds(tmp_path: Path) -> None:
    """A write that fails after the checks (here: /proc refuses the file) is an error naming the path."""
    from alphanas.lang.files import write_text

    with pytest.raises(AlphanasError, match=r"cannot write /proc/alphanas-x\.txt"):
        write_text("/proc/alphanas-x.txt", "x")


# -- run folders ------------------------------------------------------------------------------------------


RUN_COMMANDS: dict[str, Callable[[str, Path], list[str]]] = {
    "show": lambda r, w: ["show", r],
    "show-json": lambda r, w: ["show", "--json", r],
    "diff": lambda r, w: ["diff", r, "1"],
    "render": lambda r, w: ["render", r, "--id", "1", "-o", str(w / "g.svg")],
    "report": lambda r, w: ["report", r, "-o", str(w / "r.html")],
    "export": lambda r, w: ["export", r, "--id", "1", "-o", str(w / "m.py")],
    "resume": lambda r, w: ["resume", "-q", r],
}


def _truncate(fraction: float) -> Callable[[bytes], bytes]:
    return lambda data: data[: int(len(data) * fraction)]


def _flip(count: int, seed: int) -> Callable[[bytes], bytes]:
    def flip(data: bytes) -> bytes:
        rng = random.Random(seed)
        out = bytearray(data)
        for _ in range(count):
            i = rng.randrange(100, len(out))
            out[i] ^= 0xFF
        return bytes(out)

    return flip


def _zero_page(page: int) -> Callable[[bytes], bytes]:
    return lambda data: data[: 4096 * page] + bytes(4096) + data[4096 * (page + 1):]


#: ways a run.sqlite is damaged: bytes of the good file -> bytes of the damaged one
DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda data: b"",
    "header-only": lambda data: data[:60],
    "truncated-first-page": lambda data: data[:100],
    "truncated-10%": _truncate(0.1),
    "truncated-half": _truncate(0.5),
    "truncated-90%": _truncate(0.9),
    "truncated-mid-page": lambda data: data[: len(data) - 3000],
    "garbage": lambda data: random.Random(1).randbytes(len(data)),
    "text": lambda data: b"this is not a database\n" * 100,
    "flipped-schema": _flip(200, 1),
    "flipped-few": _flip(12, 2),
    "zeroed-candidates-page": _zero_page(2),
    "zeroed-last-page": lambda data: data[:-4096] + bytes(4096),
}


@pytest.fixture
def damaged(run_dir: Path, tmp_path: Path) -> Callable[[str], Path]:
    def make(damage: str) -> Path:
        copy = tmp_path / f"run-{damage}"
        shutil.copytree(run_dir, copy)
        db = copy / "run.sqlite"
        db.write_bytes(DAMAGES[damage](db.read_bytes()))
        return copy

    return make


DAMAGE_CASES = [(command, damage) for command in RUN_COMMANDS for damage in DAMAGES]


@pytest.mark.parametrize(("command", "damage"), DAMAGE_CASES, ids=[f"{c}-{d}" for c, d in DAMAGE_CASES])
def test_a_damaged_store_is_refused_with_what_can_be_read(command: str, damage: str, damaged: Callable[[str], Path],
                                                          work: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = damaged(damage)
    status, output = run_cli(RUN_COMMANDS[command](str(folder), work), capsys)
    assert "Traceback" not in output, output
    if status == 0:
        # damage in bytes no read touches (free space, a value still valid) leaves a readable run
        assert damage.startswith(("flipped", "zeroed")), output
    else:
        assert status == 2, output
        assert "run.sqlite" in output and str(folder) in output
        if "is damaged" in output:
            assert "can still be read" in output


def test_show_lists_the_candidates_a_truncated_store_still_holds(damaged: Callable[[str], Path],
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    folder = damaged("truncated-90%")
    output = assert_refused(["show", str(folder)], capsys, folder / "run.sqlite")
    assert "is damaged: " in output and "the candidates that can still be read are #0" in output
    assert "  #0  parent -  generation 0  seed  ok" in output
    status, output = run_cli(["resume", str(folder)], capsys)
    assert status == 2 and "cannot be resumed" in output


def test_a_damaged_store_is_not_written_to(damaged: Callable[[str], Path], capsys: pytest.CaptureFixture[str]) -> None:
    folder = damaged("garbage")
    before = (folder / "run.sqlite").read_bytes()
    assert run_cli(["resume", "-q", str(folder)], capsys)[0] == 2
    assert (folder / "run.sqlite").read_bytes() == before
    assert not [p.name for p in folder.iterdir() if p.name.startswith("run.sqlite-")]  # no WAL made


@pytest.mark.parametrize("command", list(RUN_COMMANDS))
@pytest.mark.parametrize("how", ["a-file", "missing", "empty-folder", "under-proc"])
def test_a_run_folder_that_is_no_run_is_refused(command: str, how: str, work: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    folder = {"a-file": work / "good.toml", "missing": work / "nowhere", "empty-folder": work / "empty",
              "under-proc": Path("/proc/alphanas-run")}[how]
    if how == "empty-folder":
        folder.mkdir()
    status, output = run_cli(RUN_COMMANDS[command](str(folder), work), capsys)
    assert "Traceback" not in output and status == 2, output
    assert str(folder) in output


@pytest.mark.parametrize("how", ["a-file", "under-a-file", "under-proc", "proc-itself"])
@pytest.mark.parametrize("where", ["config", "flag"])
def test_a_run_dir_that_cannot_be_written_is_a_config_error(how: str, where: str, work: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    target = {"a-file": str(work / "good.arch"), "under-a-file": str(work / "good.arch" / "run"),
              "under-proc": "/proc/alphanas-run", "proc-itself": "/proc"}[how]
    config = work / "run_dir.toml"
    if where == "config":
        config.write_text(CONFIG.replace('run_dir = "run"', f"run_dir = {json.dumps(target)}"))
        output = assert_refused(["search", "-q", str(config)], capsys, config, (2, 1))
    else:
        config.write_text(CONFIG)
        output = assert_refused(["search", "-q", str(config), "--run-dir", target], capsys, target)
    assert "cannot" in output
    assert not (work / "run").exists() and not Path("/proc/alphanas-run").exists()


# -- the suite itself ---------------------------------------------------------------------------------------


def test_the_suite_tries_what_it_says() -> None:
    """Every command of `alphanas --help` that reads a user's file or writes
    an output is among the commands above (ops and zoo read none)."""
    import argparse

    from alphanas.cli import make_parser

    parser = make_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    covered = {argv[0] for commands in READERS.values() for make in commands.values()
               for argv in [make("F", Path("W"))]}
    covered |= {make("O", Path("W"), Path("R"))[0] for make, _ in WRITERS.values()}
    covered |= {make("R", Path("W"))[0] for make in RUN_COMMANDS.values()}
    assert set(sub.choices) - covered == {"ops", "zoo"}


# -- random bytes ----------------------------------------------------------------------------------------------


def _mutations(text: str) -> st.SearchStrategy[bytes]:
    """Random bytes, and the good text with random bytes put in, cut or replaced."""
    good = text.encode()
    edits = st.tuples(st.integers(0, len(good)), st.integers(0, 40), st.binary(max_size=40)).map(
        lambda e: good[: e[0]] + e[2] + good[e[0] + e[1]:])
    return st.one_of(st.binary(max_size=400), edits, st.binary(max_size=40).map(lambda b: good + b))


FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@FUZZ
@given(data=_mutations(PROGRAM))
def test_random_bytes_parse_or_raise_a_located_error(data: bytes, tmp_path: Path) -> None:
    from alphanas import analyze, parse_file, print_program

    path = tmp_path / "fuzz.arch"
    path.write_bytes(data)
    try:
        program = parse_file(path)
        analyze(program)
        print_program(program)
    except AlphanasError as err:
        assert err.render()
        assert err.loc is None or err.loc.file == str(path)


@FUZZ
@given(data=_mutations(CONFIG))
def test_random_bytes_in_a_config_load_or_raise_a_config_error(data: bytes, tmp_path: Path) -> None:
    from alphanas.search.config import load_config

    (tmp_path / "seed.arch").write_text(PROGRAM)
    path = tmp_path / "fuzz.toml"
    path.write_bytes(data)
    try:
        load_config(path)
    except AlphanasError as err:
        assert err.render()


@FUZZ
@given(data=_mutations(GRAMMAR))
def test_random_bytes_in_a_grammar_load_or_raise_a_space_error(data: bytes, tmp_path: Path) -> None:
    from synth.grammar import GrammarSpace

    path = tmp_path / "fuzz.lark"
    path.write_bytes(data)
    try:
        GrammarSpace.load(path, "body")
    except AlphanasError as err:
        assert err.render()


@pytest.mark.slow
@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=_mutations(PROGRAM), command=st.sampled_from(["check", "format", "properties"]))
def test_random_bytes_through_the_command_line(data: bytes, command: str, tmp_path: Path) -> None:
    import contextlib
    import io

    path = tmp_path / "fuzz.arch"
    path.write_bytes(data)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([command, str(path)])
    assert status in (0, 2)
    assert "Traceback" not in err.getvalue()
    if status == 2:
        assert str(path) in err.getvalue()
