"""Text made safe for whoever reads it: one-line error echoes, terminals, spreadsheets, XML and YAML.

Scenario strings (names, keys, replies) are the user's and may hold anything; these helpers are applied
where such text leaves the program, so no control character reaches a terminal or breaks a file format.
"""
from __future__ import annotations

import re

__all__ = ["clip", "clip_middle", "echo", "one_line", "terminal", "csv_cell", "xml_text", "ECHO_LIMIT"]

#: How many characters of a user's key or value an error message echoes.
ECHO_LIMIT = 80

# C0 controls except TAB and LF, DEL, and the C1 controls: what a terminal may act on (ESC, BEL, CSI ...).
_TERMINAL_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# Characters XML 1.0 does not allow at all (2.2 Char), and the surrogate range Python strings can carry.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# OWASP "CSV Injection": a cell a spreadsheet would read as a formula starts with one of these.
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[:limit - 3] + "..."


def clip_middle(text: str, limit: int) -> str:
    """`text` cut to `limit` characters by leaving out its middle, so both its start and its end (where a
    message puts its hint, "did you mean ...?") are kept."""
    if len(text) <= limit:
        return text
    tail = (limit - 5) * 2 // 5
    return text[:limit - 5 - tail] + " ... " + text[len(text) - tail:]


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """A user's key or value as an error message shows it: repr-escaped (so a newline is `\\n`) and clipped."""
    text = value if isinstance(value, str) else repr(value)
    if isinstance(value, str) and (not text.isprintable() or not text):
        text = repr(text)
    return clip(text, limit)


def one_line(text: str) -> str:
    """Every line break and control character shown as an escape, so a message stays on one line."""
    return _TERMINAL_UNSAFE.sub(_escape, text.replace("\n", "\\n").replace("\t", "\\t"))


def terminal(text: str) -> str:
    """Text for a terminal: line breaks and tabs kept, every other control character (ESC, BEL, CR) escaped."""
    return _TERMINAL_UNSAFE.sub(_escape, text)


def csv_cell(value: str) -> str:
    """A cell a spreadsheet will not run as a formula: a leading `'` before = + - @ TAB CR (OWASP)."""
    return "'" + value if value.startswith(_FORMULA_START) else value


def xml_text(text: str) -> str:
    """Text XML 1.0 can carry: characters it forbids become `\\xNN` escapes (escape <, & as usual after)."""
    return _XML_ILLEGAL.sub(_escape, text)


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group(0))
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
