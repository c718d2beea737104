"""Errors that explain a user's mistake: where, what was expected, what to do.

Everything the user can get wrong (syntax, unknown ops, bad arguments, shapes)
raises an :class:`AlphanasError`; the CLI prints :meth:`AlphanasError.render`
and exits with status 2, never a traceback.
"""

from __future__ import annotations

from alphanas.lang.ir import Loc


class AlphanasError(Exception):
    """A mistake in the user's input, with its location when known."""

    kind = "error"

    def __init__(
        self,
        message: str,
        loc: Loc | None = None,
        *,
        hint: str | None = None,
        text: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.loc = loc
        self.hint = hint
        self.text = text

    def with_text(self, text: str | None) -> AlphanasError:
        """Attach the source text so that the rendering shows an excerpt."""
        if self.text is None:
            self.text = text
        return self

    def render(self) -> str:
        head = f"{self.loc}: " if self.loc else ""
        lines = [f"{head}{self.kind}: {self.message}"]
        lines += excerpt(self.text, self.loc)
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()


class ParseError(AlphanasError):
    kind = "syntax error"


class ProgramError(AlphanasError):
    """A well-formed program that means nothing: unknown names, bad arguments."""

    kind = "error"


class ShapeError(AlphanasError):
    kind = "shape error"


class ImportFailure(AlphanasError):
    """A PyTorch model that cannot be turned into a program."""

    kind = "import error"


#: the most characters of a source line an excerpt shows: a longer line is
#: cut to a window around the caret, its cut ends marked with "..."
EXCERPT_WIDTH = 100
_CUT = "..."


def excerpt(text: str | None, loc: Loc | None) -> list[str]:
    """The source line of a location with a caret under the column (a long
    line cut to :data:`EXCERPT_WIDTH` characters around the caret; characters
    a terminal would not print shown as ``?``)."""
    if not text or not loc or loc.line < 1:
        return []
    source_lines = text.split("\n")  # as the lexer counts lines: other breaks are not lines
    if loc.line > len(source_lines):
        return []
    line = source_lines[loc.line - 1].expandtabs(4)
    column = max(loc.column, 1) - 1  # 0-based
    width = 1
    if loc.end_line == loc.line and loc.end_column > loc.column:
        width = loc.end_column - loc.column
    width = min(width, max(1, len(line) - column))
    if len(line) > EXCERPT_WIDTH:
        # a third of the window before the caret, the rest after it
        start = max(0, min(column - EXCERPT_WIDTH // 3, len(line) - EXCERPT_WIDTH))
        end = start + EXCERPT_WIDTH
        head = _CUT if start > 0 else ""
        line = head + line[start:end] + (_CUT if end < len(line) else "")
        column = column - start + len(head)
        width = max(1, min(width, len(head) + EXCERPT_WIDTH - column))
    line = "".join(ch if ch.isprintable() else "?" for ch in line)
    gutter = f"{loc.line:>5} | "
    return [gutter + line, " " * (len(gutter) + column) + "^" * width]
