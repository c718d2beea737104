"""Every class of mistake gets a located error that says what went wrong and,
where it helps, what to do; the CLI prints it without a traceback."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from alphanas import AlphanasError, ParseError, ProgramError, ShapeError, analyze, parse
from alphanas.cli import main

HEAD = "model m(x: [3, 8, 8]) {\n"


@dataclass(frozen=True)
class Mistake:
    text: str
    kind: type[AlphanasError]
    line: int
    column: int
    #: words the message must contain
    message: tuple[str, ...]
    #: words the hint must contain (empty: no requirement)
    hint: tuple[str, ...] = ()


MISTAKES = {
    # -- syntax -------------------------------------------------------------------------
    "missing-paren": Mistake(
        HEAD + "  y = conv2d(x, 4, k=3\n  return y\n}\n", ParseError, 3, 3,
        ("unexpected 'return'",), ("expected", '")"', '","'),
    ),
    "missing-return": Mistake(
        HEAD + "  y = relu(x)\n}\n", ParseError, 3, 1, ("unexpected '}'",), ("expected", '"return"'),
    ),
    "stray-character": Mistake(
        HEAD + "  y = relu(x) $\n  return y\n}\n", ParseError, 2, 15, ("unexpected character '$'",), ("expected",),
    ),
    "unexpected-end-of-file": Mistake(
        HEAD + "  y = relu(x)\n  return y\n", ParseError, 3, 11, ("end of file",), ("expected", '"}"'),
    ),
    "end-of-file-inside-a-call": Mistake(
        HEAD + "  y = relu(", ParseError, 2, 12, ("end of file",), ("expected", '")"'),
    ),
    "missing-comma": Mistake(
        HEAD + "  return conv2d(x 4)\n}\n", ParseError, 2, 19, ("unexpected '4'",), ("expected", '","'),
    ),
    # -- names ---------------------------------------------------------------------------
    "op-typo": Mistake(
        HEAD + "  y = conv2x(x, 4)\n  return y\n}\n", ProgramError, 2, 7,
        ("unknown op 'conv2x'",), ("did you mean 'conv2d'?",),
    ),
    "block-name-typo": Mistake(
        "block bottleneck(x) {\n  return relu(x)\n}\n" + HEAD + "  return botleneck(x)\n}\n",
        ProgramError, 5, 10, ("unknown op 'botleneck'",), ("did you mean 'bottleneck'?",),
    ),
    "argument-typo": Mistake(
        HEAD + "  return conv2d(x, 4, grups=2)\n}\n", ProgramError, 2, 23,
        ("conv2d has no argument 'grups'",), ("did you mean groups=", "signature: conv2d(x0, out, k=1"),
    ),
    "undefined-value": Mistake(
        HEAD + "  hidden = relu(x)\n  return relu(hiden)\n}\n", ProgramError, 3, 15,
        ("'hiden' is not defined",), ("did you mean 'hidden'?",),
    ),
    # -- arguments -----------------------------------------------------------------------
    "missing-argument": Mistake(
        HEAD + "  return conv2d(x, k=3)\n}\n", ProgramError, 2, 10,
        ("conv2d needs its argument 'out'",), ("signature: conv2d(x0, out",),
    ),
    "missing-block-argument": Mistake(
        "block b(x, c: int) {\n  return conv2d(x, c)\n}\n" + HEAD + "  return b(x)\n}\n",
        ProgramError, 5, 10, ("b needs its argument 'c'",), ("signature: b(x0, c)",),
    ),
    "list-for-int": Mistake(
        HEAD + "  return conv2d(x, [4, 4])\n}\n", ProgramError, 2, 20, ("argument 'out' of conv2d is an integer",),
    ),
    "bool-for-int": Mistake(
        HEAD + "  return conv2d(x, 4, k=true)\n}\n", ProgramError, 2, 25, ("argument 'k' of conv2d is an integer",),
    ),
    "float-for-int": Mistake(
        HEAD + "  return conv2d(x, 4, k=3.0)\n}\n", ProgramError, 2, 25, ("argument 'k' of conv2d is an integer",),
    ),
    "int-for-list": Mistake(
        HEAD + "  return mean(x, 1)\n}\n", ProgramError, 2, 18, ("argument 'dims' of mean is a list of integers",),
    ),
    "int-for-bool": Mistake(
        HEAD + "  return conv2d(x, 4, bias=1)\n}\n", ProgramError, 2, 28, ("argument 'bias' of conv2d is true or false",),
    ),
    "string-for-float": Mistake(
        HEAD + '  return dropout(x, p="a")\n}\n', ProgramError, 2, 23, ("argument 'p' of dropout is a number",),
    ),
    "argument-given-twice": Mistake(
        HEAD + "  return conv2d(x, 4, out=4)\n}\n", ProgramError, 2, 23, ("argument 'out' of conv2d is given twice",),
    ),
    "positional-after-keyword": Mistake(
        HEAD + "  return conv2d(x, out=4, 3)\n}\n", ProgramError, 2, 27, ("positional argument follows a keyword",),
    ),
    "too-many-arguments": Mistake(
        HEAD + "  return relu(x, 4)\n}\n", ProgramError, 2, 18, ("relu takes at most 0 arguments",), ("signature: relu(x0)",),
    ),
    "value-for-int-parameter": Mistake(
        HEAD + "  y = relu(x)\n  return conv2d(x, y)\n}\n", ProgramError, 3, 20,
        ("argument 'out' of conv2d is an integer", "'y' is not an int parameter"),
    ),
    "constant-division-by-zero": Mistake(
        HEAD + "  return conv2d(x, 4 // (2 - 2))\n}\n", ProgramError, 2, 20, ("division by zero",),
    ),
    # -- definitions ---------------------------------------------------------------------
    "second-model": Mistake(
        HEAD + "  return x\n}\nmodel n(x: [3, 8, 8]) {\n  return x\n}\n", ProgramError, 4, 1,
        ("a second model 'n'", "one model"), ("keep 'm'",),
    ),
    "no-model": Mistake(
        "block b(x) {\n  return x\n}\n", ProgramError, 1, 1, ("defines no model",), ("model NAME(x: [C, H, W])",),
    ),
    "empty-file": Mistake("", ProgramError, 1, 1, ("defines no model",)),
    "block-defined-twice": Mistake(
        "block b(x) {\n  return x\n}\nblock b(x) {\n  return relu(x)\n}\n" + HEAD + "  return b(x)\n}\n",
        ProgramError, 4, 1, ("block 'b' is defined twice",),
    ),
    "recursive-blocks": Mistake(
        "block a(x) {\n  return b(x)\n}\nblock b(x) {\n  return a(x)\n}\n" + HEAD + "  return a(x)\n}\n",
        ProgramError, 1, 1, ("cycle", "a -> b -> a"),
    ),
    "self-recursive-block": Mistake(
        "block a(x) {\n  return relu(a(x))\n}\n" + HEAD + "  return a(x)\n}\n", ProgramError, 1, 1, ("cycle", "a -> a"),
    ),
    "block-named-like-an-op": Mistake(
        "block relu(x) {\n  return x\n}\n" + HEAD + "  return relu(x)\n}\n", ProgramError, 1, 1,
        ("block 'relu' has the name of an op",), ("rename",),
    ),
    "model-input-without-shape": Mistake(
        "model m(x) {\n  return x\n}\n", ProgramError, 1, 9, ("model input 'x' needs a shape",), ("x: [C, H, W]",),
    ),
    "model-int-without-default": Mistake(
        "model m(x: [3, 8, 8], c: int) {\n  return x\n}\n", ProgramError, 1, 23,
        ("model parameter 'c' needs a default",), ("c: int = 10",),
    ),
    "assign-to-int-parameter": Mistake(
        "block b(x, c: int) {\n  c = relu(x)\n  return c\n}\n" + HEAD + "  return b(x, 3)\n}\n",
        ProgramError, 2, 3, ("'c' is an int parameter and cannot be assigned",),
    ),
    "int-parameter-as-tensor": Mistake(
        "block b(x, c: int) {\n  return relu(c)\n}\n" + HEAD + "  return b(x, 3)\n}\n", ProgramError, 2, 15,
        ("'c' is an int parameter, not a tensor",),
    ),
    "int-parameter-as-second-tensor": Mistake(
        "block b(x, c: int) {\n  return add(x, c)\n}\n" + HEAD + "  return b(x, 3)\n}\n", ProgramError, 2, 17,
        ("'c' is an int parameter, not a tensor",),
    ),
    "one-tensor-for-add": Mistake(
        HEAD + "  return add(x)\n}\n", ProgramError, 2, 10, ("add takes two or more tensors, got 1",),
    ),
    # -- shapes --------------------------------------------------------------------------
    "shape-mismatch": Mistake(
        "model m(x: [8, 4, 4]) {\n  y = conv2d(x, 16)\n  z = add(x, y)\n  return z\n}\n", ShapeError, 3, 7,
        ("z = add(...)", "add", "[8, 4, 4]", "[16, 4, 4]"), ("[8, 4, 4], [16, 4, 4]",),
    ),
    "shape-error-inside-a-block-call": Mistake(
        "block b(x, c: int) {\n  y = conv2d(x, c)\n  return add(x, y)\n}\n"
        "model m(x: [8, 4, 4]) {\n  h = relu(x)\n  h = b(h, 16)\n  return h\n}\n",
        ShapeError, 3, 10, ("add", "[8, 4, 4]", "[16, 4, 4]"), ("in the call `h = b(...)`", "t.arch:7:7"),
    ),
    "window-larger-than-input": Mistake(
        HEAD + "  return conv2d(x, 4, k=11)\n}\n", ShapeError, 2, 10, ("conv2d", "window 11", "larger"),
    ),
    "groups-do-not-divide": Mistake(
        HEAD + "  y = conv2d(x, 4, k=3, groups=2)\n  return y\n}\n", ShapeError, 2, 7,
        ("y = conv2d(...)", "not divisible by groups=2"), ("[3, 8, 8]",),
    ),
    "non-positive-block-binding": Mistake(
        "block b(x, c: int) {\n  return conv2d(x, c)\n}\n" + HEAD + "  return b(x, 2 - 5)\n}\n", ShapeError, 5, 10,
        ("c=-3", "positive"),
    ),
}


def error_of(text: str) -> AlphanasError:
    with pytest.raises(AlphanasError) as caught:
        analyze(parse(text, "t.arch"))
    return caught.value


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_error_location_message_and_hint(mistake: Mistake) -> None:
    err = error_of(mistake.text)
    rendered = err.render()
    assert type(err) is mistake.kind, rendered
    assert err.loc is not None
    assert (err.loc.file, err.loc.line, err.loc.column) == ("t.arch", mistake.line, mistake.column), rendered
    assert rendered.startswith(f"t.arch:{mistake.line}:{mistake.column}: {mistake.kind.kind}: "), rendered
    for words in mistake.message:
        assert words in err.message, rendered
    for words in mistake.hint:
        assert err.hint is not None and words in err.hint, rendered


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_error_excerpt_shows_the_line_with_a_caret_under_the_column(mistake: Mistake) -> None:
    lines = error_of(mistake.text).render().split("\n")
    source_lines = mistake.text.split("\n")
    if not mistake.text:
        assert not any(" | " in line for line in lines)  # no line to show
        return
    gutter = f"{mistake.line:>5} | "
    assert lines[1] == gutter + source_lines[mistake.line - 1]
    caret = lines[2]
    assert caret.index("^") == len(gutter) + mistake.column - 1
    assert set(caret.strip()) == {"^"}


def test_syntax_error_rendering_in_full() -> None:
    err = error_of(HEAD + "  y = conv2d(x, 4, k=3\n  return y\n}\n")
    assert err.render() == (
        "t.arch:3:3: syntax error: unexpected 'return'\n"
        "    3 |   return y\n"
        "          ^\n"
        'hint: expected ")", "*", "+", ",", "-", "//"'
    )


def test_caret_spans_the_unknown_name() -> None:
    lines = error_of(HEAD + "  y = conv2x(x, 4)\n  return y\n}\n").render().split("\n")
    assert lines[2].strip() == "^" * len("conv2x")


@pytest.mark.parametrize("separator", ["\r", "\f"])
def test_excerpt_with_other_line_breaks_shows_the_offending_line(separator: str) -> None:
    text = HEAD + f"  y = relu(x){separator}  return conv2x(y)\n}}\n"
    rendered = error_of(text).render()
    assert "conv2x" in rendered.split("\n")[1]


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    from alphanas import parse_file

    with pytest.raises(ProgramError, match="cannot read"):
        parse_file(tmp_path / "nope.arch")


# -- the CLI ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mistake", MISTAKES.values(), ids=MISTAKES.keys())
def test_cli_check_reports_each_mistake_with_status_2_and_no_traceback(
    mistake: Mistake, write_arch: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_arch(mistake.text)
    assert main(["check", str(path)]) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.startswith(f"{path}:{mistake.line}:{mistake.column}: "), captured.err
    assert mistake.message[0] in captured.err
    assert captured.out == ""


def test_cli_check_of_a_missing_file_or_zoo_name_is_status_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["check", str(tmp_path / "missing.arch")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["check", "zoo:resnet5"]) == 2
    err = capsys.readouterr().err
    assert "resnet50" in err and "Traceback" not in err


def test_cli_check_of_a_valid_program(
    tiny_resnet: str, write_arch: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(write_arch(tiny_resnet))]) == 0
    out = capsys.readouterr().out
    assert "output shape: [10]" in out
    assert "parameters:   9,978" in out  # stem 432 + 32, two blocks of 4,672, head 170


def test_cli_check_json_has_per_statement_rows_and_totals(
    tiny_resnet: str, write_arch: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--json", str(write_arch(tiny_resnet))]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["model"] == "resnet_tiny"
    assert report["output_shape"] == [10]
    rows = report["statements"]
    top = [r for r in rows if r["depth"] == 0]
    assert [r["op"] for r in top] == ["conv2d", "batchnorm", "relu", "basic", "basic", "mean", "dense"]
    inner = [r for r in rows if r["depth"] == 1]
    assert len(inner) == 2 * 7 and all(r["value"].startswith(("h_1.", "h_2.")) for r in inner)
    for key in ("params", "flops", "matmul_flops", "other_flops", "activations"):
        assert key in report["total"]
    for key in ("params", "flops"):
        assert report["total"][key] == sum(r[key] for r in top)
    assert report["total"]["params"] == 9978
    assert all(isinstance(r["shape"], list) and r["line"] for r in rows)
