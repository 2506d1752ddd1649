"""An SMTP reply as one parsed value: reply code, enhanced status code and text lines.

Parsed once where it enters (a scenario's reply text, a simulated server, a real socket); everything after
reads fields, never text. Reply codes per RFC 5321 section 4.2, enhanced status codes per RFC 3463 and
RFC 2034 section 3 (each line of a multi-line reply may carry the enhanced code; the first line's counts).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Reply", "ReplyError", "parse_line"]

_LINE = re.compile(r"^([2-5][0-9][0-9])([ -])(.*)$")
_ENHANCED = re.compile(r"^([245]\.\d{1,3}\.\d{1,3})(?:\s+|$)(.*)$")


class ReplyError(ValueError):
    """Text that is not an SMTP reply line (RFC 5321 section 4.2)."""


def parse_line(line: str) -> tuple[int, bool, str]:
    """(reply code, whether more lines follow, text) of one reply line; ReplyError when malformed."""
    m = _LINE.match(line.rstrip("\r\n"))
    if m is None:
        raise ReplyError(f"not an SMTP reply line: {line.rstrip()!r}")
    return int(m.group(1)), m.group(2) == "-", m.group(3)


@dataclass(frozen=True, slots=True)
class Reply:
    """A server reply: `code` (RFC 5321), `enhanced` ("5.7.1", or "" when absent) and the text lines."""

    code: int
    enhanced: str
    lines: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Reply:
        """One reply from its text: "550 5.7.1 Rejected", or several CRLF/LF-separated lines of one reply."""
        raw = [line for line in text.replace("\r\n", "\n").split("\n") if line]
        if not raw:
            raise ReplyError("empty SMTP reply")
        return cls.from_lines(raw)

    @classmethod
    def from_lines(cls, raw: list[str]) -> Reply:
        """One reply from its lines as received (each "NNN-text" but the last "NNN text")."""
        code = 0
        texts: list[str] = []
        for line in raw:
            number, _, text = parse_line(line)
            if code and number != code:
                raise ReplyError(f"reply code changes inside one reply: {code} then {number}")
            code = number
            texts.append(text)
        enhanced = ""
        m = _ENHANCED.match(texts[0])
        if m is not None and m.group(1)[0] == str(code)[0]:
            enhanced = m.group(1)
            texts = [_ENHANCED.sub(r"\2", t) if t.startswith(enhanced) else t for t in texts]
        return cls(code, enhanced, tuple(texts))

    @classmethod
    def of(cls, code: int, enhanced: str, *lines: str) -> Reply:
        """A named reply (aiosmtpd's StatusCode idea): Reply.of(250, "2.1.0", "Sender OK")."""
        return cls(code, enhanced, lines or ("",))

    @property
    def text(self) -> str:
        """The reply on one line, as the service quotes it: "550 5.7.1 Rejected"."""
        head = f"{self.code} {self.enhanced}" if self.enhanced else str(self.code)
        body = " ".join(t for t in self.lines if t)
        return f"{head} {body}" if body else head

    @property
    def short_code(self) -> str:
        """The reply and enhanced code only: "550 5.7.1", or "451" when there is no enhanced code."""
        return f"{self.code} {self.enhanced}" if self.enhanced else str(self.code)

    @property
    def wire_lines(self) -> list[str]:
        """The reply as it travels (RFC 5321 section 4.2.1), one string per line, without CRLF."""
        head = f"{self.enhanced} " if self.enhanced else ""
        last = len(self.lines) - 1
        return [f"{self.code}{'-' if i < last else ' '}{head}{t}".rstrip() for i, t in enumerate(self.lines)]

    @property
    def positive(self) -> bool:
        """2xx or 3xx (RFC 5321 section 4.2.1)."""
        return self.code < 400

    @property
    def permanent(self) -> bool:
        """5xx: permanent negative completion."""
        return self.code >= 500

    def has_keyword(self, keyword: str) -> bool:
        """Whether an EHLO reply advertises `keyword` (RFC 5321 section 4.1.1.1: one extension per line)."""
        wanted = keyword.upper()
        return any(t.split(" ", 1)[0].upper() == wanted for t in self.lines[1:])
