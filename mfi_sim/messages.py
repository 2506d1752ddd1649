"""Compact per-message state: parallel arrays indexed by a connector-local number, plus message naming.

A message costs about 12 bytes here (arrival time, stream, unknown-recipient count, status) and one int in
the queue that holds it; numbers are given in arrival order, so comparing numbers compares arrival times.
"""
from __future__ import annotations

from array import array

__all__ = ["MessageStore", "QUEUED", "DONE", "INVALID_GONE", "message_id", "recipient", "sender"]

#: Status values: waiting (or in flight); finished (delivered, failed or rejected); waiting, with the
#: recipients the destination does not know already bounced.
QUEUED, DONE, INVALID_GONE = 0, 1, 2


class MessageStore:
    """Arrival time, traffic stream, number of unknown recipients and status of every message of a connector."""

    __slots__ = ("arrival", "stream", "invalid", "status")

    def __init__(self) -> None:
        self.arrival = array("d")
        self.stream = array("B")
        self.invalid = array("H")
        self.status = array("b")

    def __len__(self) -> int:
        return len(self.arrival)


def message_id(connector: int, number: int, domain: str) -> str:
    """The Message-ID of a simulated message (RFC 5322 section 3.6.4)."""
    return f"<MFI{connector:02d}{number:09d}@{domain}>"


def recipient(connector: int, number: int, index: int, invalid: bool, domain: str) -> str:
    """A recipient address; the ones the destination does not know read as leavers."""
    who = "former" if invalid else "user"
    return f"{who}.{connector}.{number}.{index}@{domain}"


def sender(number: int, domain: str) -> str:
    """A plausible sender in the tenant's own domain."""
    return f"user{number % 500:03d}@{domain}"
