"""Errors raised by mfi-sim itself; simulated mail failures are Outcome values, never exceptions."""
from __future__ import annotations

from .escaping import clip_middle, echo, one_line

#: The longest message a ScenarioError prints after its file, line and field (echoed values are cut first).
MESSAGE_LIMIT = 160


class MfiSimError(Exception):
    """Base class of every error mfi-sim raises on purpose."""


class ScenarioError(MfiSimError):
    """A scenario file (or option) is invalid; names the file, the field path and, if known, the line."""

    def __init__(self, message: str, *, file: str | None = None, field: str | None = None,
                 line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.field = field
        self.line = line

    def __str__(self) -> str:
        """One line: file[:line]: field: message, with the field echoed escaped and everything clipped."""
        where = clip_middle(one_line(self.file or "<scenario>"), 250)   # the file is always named
        if self.line is not None:
            where += f":{self.line}"
        message = clip_middle(one_line(self.message), MESSAGE_LIMIT)
        if self.field:
            return f"{where}: {echo(self.field)}: {message}"
        return f"{where}: {message}"


class OptionError(MfiSimError):
    """A command-line option has a bad value."""
