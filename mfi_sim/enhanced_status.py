"""What an enhanced mail system status code means, from its parts (RFC 3463, "Enhanced Mail System Status Codes").

A status is class.subject.detail (section 2). The class says whether the failure is for good or for now; the
subject says which part of the mail system is concerned; the detail narrows it down (section 3.1 for subject
0, 3.2 for subject 1, ... 3.8 for subject 7). Used by `mfi-sim explain` for codes outside the service's
catalogue, such as a partner's own `451 4.7.500`. Details a service defines for itself (Exchange's 4.4.316, 5.1.10, 5.4.14) are in `codes.py`.
"""
from __future__ import annotations

import re

__all__ = ["CLASSES", "SUBJECTS", "DETAILS", "meaning", "parse"]

#: RFC 3463 section 2: the class (first digit).
CLASSES = {
    "2": "success: the action completed",
    "4": "persistent transient failure: the message is fine, but something in the way may clear, so sending "
         "again later may work",
    "5": "permanent failure: sending again unchanged will not work",
}

#: RFC 3463 section 2: the subject (second number).
SUBJECTS = {
    "0": "other or undefined status",
    "1": "addressing: the sender's or a recipient's address",
    "2": "mailbox: the recipient's mailbox",
    "3": "mail system: the destination mail system as a whole",
    "4": "network and routing: getting the message to the destination",
    "5": "mail delivery protocol: the SMTP dialogue itself",
    "6": "message content or media: the message's format or content",
    "7": "security or policy: a policy or security measure refused it",
}

#: RFC 3463 sections 3.1 to 3.8: every detail it enumerates, keyed by "subject.detail".
DETAILS = {
    "0.0": "other undefined status",
    "1.0": "other address status", "1.1": "bad destination mailbox address (no such user)",
    "1.2": "bad destination system address (no such host or domain)",
    "1.3": "bad destination mailbox address syntax", "1.4": "destination mailbox address ambiguous",
    "1.5": "destination address valid", "1.6": "destination mailbox has moved, no forwarding address",
    "1.7": "bad sender's mailbox address syntax", "1.8": "bad sender's system address",
    "2.0": "other or undefined mailbox status", "2.1": "mailbox disabled, not accepting messages",
    "2.2": "mailbox full", "2.3": "message length exceeds the administrative limit",
    "2.4": "mailing list expansion problem",
    "3.0": "other or undefined mail system status", "3.1": "mail system full",
    "3.2": "system not accepting network messages", "3.3": "system not capable of the selected features",
    "3.4": "message too big for the system", "3.5": "system incorrectly configured",
    "4.0": "other or undefined network or routing status", "4.1": "no answer from the host",
    "4.2": "bad connection", "4.3": "directory server failure (e.g. DNS)", "4.4": "unable to route",
    "4.5": "mail system congestion", "4.6": "routing loop detected", "4.7": "delivery time expired",
    "5.0": "other or undefined protocol status", "5.1": "invalid command", "5.2": "syntax error",
    "5.3": "too many recipients", "5.4": "invalid command arguments", "5.5": "wrong protocol version",
    "6.0": "other or undefined media error", "6.1": "media not supported", "6.2": "conversion required and prohibited",
    "6.3": "conversion required but not supported", "6.4": "conversion with loss performed",
    "6.5": "conversion failed",
    "7.0": "other or undefined security status", "7.1": "delivery not authorized, message refused",
    "7.2": "mailing list expansion prohibited", "7.3": "security conversion required but not possible",
    "7.4": "security features not supported", "7.5": "cryptographic failure",
    "7.6": "cryptographic algorithm not supported", "7.7": "message integrity failure",
}

_STATUS = re.compile(r"^\s*(?:([245])\d\d\s+)?([245])\.(\d{1,3})\.(\d{1,3})\b")


def parse(text: str) -> tuple[str, str, str] | None:
    """(class, subject, detail) of "451 4.7.500 ..." or "4.7.500", or None when it is not a status."""
    m = _STATUS.match(text)
    if not m or (m.group(1) and m.group(1) != m.group(2)):
        return None
    return m.group(2), m.group(3), m.group(4)


def meaning(text: str) -> list[str]:
    """The status's parts and what each means (RFC 3463), one line each; [] when it is not a status."""
    parts = parse(text)
    if parts is None:
        return []
    cls, subject, detail = parts
    lines = [f"class {cls}: {CLASSES[cls]} (RFC 3463 section 2)",
             f"subject {subject}: {SUBJECTS.get(subject, 'not defined by RFC 3463')} (RFC 3463 section 2)"]
    known = DETAILS.get(f"{subject}.{detail}")
    lines.append(f"detail {subject}.{detail}: {known} (RFC 3463 section 3.{int(subject) + 1})" if known else
                 f"detail {subject}.{detail}: not defined by RFC 3463; the replying server chose it, so its "
                 f"text is the best guide")
    return lines
