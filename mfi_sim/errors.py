"""Errors raised by mfi-sim itself; simulated mail failures are Outcome values, never exceptions."""
from __future__ import annotations


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
        where = self.file or "<scenario>"
        if self.line is not None:
            where += f":{self.line}"
        if self.field:
            return f"{where}: {self.field}: {self.message}"
        return f"{where}: {self.message}"


class OptionError(MfiSimError):
    """A command-line option has a bad value."""
