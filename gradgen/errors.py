"""Errors gradgen raises for bad input.

Every problem with the user's code is reported as a subclass of
:class:`GradgenError` carrying a location, so that callers can catch one type
and the CLI can print ``file.py:LINE:COL: message``, the offending source line
with a caret under the column, and a hint.  Internal invariants that break are
ordinary exceptions: they are bugs in gradgen, not in the user's code.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """A position in a source file; ``line`` is 1-based, ``col`` 0-based."""

    filename: str
    line: int
    col: int
    source_line: str = ""


class GradgenError(Exception):
    """Base class of every error gradgen reports about its input."""

    def __init__(self, message: str, location: Location | None = None, hint: str = ""):
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.format())

    def format(self) -> str:
        """The full report: ``file:line:col: message``, source line, caret, hint."""
        if self.location is None:
            head = f"error: {self.message}"
            lines = [head]
        else:
            loc = self.location
            lines = [f"{loc.filename}:{loc.line}:{loc.col + 1}: {self.message}"]
            if loc.source_line:
                text = loc.source_line.rstrip("\n")
                lines.append(f"    {text}")
                lines.append("    " + " " * loc.col + "^")
        if self.hint:
            lines.append(f"hint: {self.hint}")
        return "\n".join(lines)


class SourceNotFoundError(GradgenError):
    """The function's source text cannot be found (REPL, exec, lambda...)."""


class InvalidSourceError(GradgenError):
    """The source text is not valid Python, or the function is not in it."""


class SourceChangedError(GradgenError):
    """The function's file changed after Python loaded the function: the text
    gradgen would read is not the code that runs."""


class UnsupportedSyntaxError(GradgenError):
    """The function uses a Python construct outside gradgen's subset."""


class UnknownPrimitiveError(GradgenError):
    """The function calls something that has no gradient rule."""


class NonDifferentiableError(GradgenError):
    """A gradient is requested through something that has none (e.g. ints)."""


class TemplateError(GradgenError):
    """A gradient rule in templates/ is malformed."""


class UsageError(GradgenError):
    """The caller asked for something impossible (bad ``wrt``, bad option)."""
