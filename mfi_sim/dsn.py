"""Delivery status notifications (RFC 3464): the NDR and the delay notice returned to a sender.

A notification is a ``multipart/report; report-type=delivery-status`` message (RFC 6522) of three
parts: a note for a person, the machine-readable ``message/delivery-status`` (one per-message header
block, then one block per recipient) and the original message's headers as ``text/rfc822-headers``.
Everything is built with the standard ``email`` package, and the output is a pure function of the
arguments: the multipart boundary is derived from the notification's Message-ID, dates come only from
the arguments, and nothing is taken from the clock, a random source or set/dict iteration order.
"""
from __future__ import annotations

from typing import Any, cast

import hashlib
import re
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from email import headerregistry
from email import policy as email_policy
from email.message import EmailMessage, Message, MIMEPart
from email.utils import format_datetime

__all__ = ["OriginalMessage", "RecipientStatus", "AttemptLine", "build_ndr", "build_delay_notice", "to_bytes",
           "ACTION_FAILED", "ACTION_DELAYED"]



class _CachedHeaderRegistry(headerregistry.HeaderRegistry):
    """The standard header registry, remembering what it made: it builds a new class on every lookup, and
    the same few values (content types of the parts) are parsed for every notice. Headers are immutable."""

    def __init__(self) -> None:
        super().__init__()
        self._classes: dict[str, type[headerregistry.BaseHeader]] = {}
        self._made: dict[tuple[str, str], headerregistry.BaseHeader] = {}

    def __getitem__(self, name: str) -> type[headerregistry.BaseHeader]:
        key = name.lower()
        cls = self._classes.get(key)
        if cls is None:
            cls = self._classes[key] = super().__getitem__(name)
        return cls

    def __call__(self, name: str, value: str) -> headerregistry.BaseHeader:
        key = (name, value)
        made = self._made.get(key)
        if made is None:
            if len(self._made) >= 4096:
                self._made.clear()
            made = self._made[key] = super().__call__(name, value)
        return made


class _PlainAsciiHeaders(email_policy.EmailPolicy):
    """The SMTP policy, minus the cost of parsing every header value when it is set: a one-line ASCII value
    is stored as the text it is (and parsed only if read back, or refolded when longer than a line). The
    structured parse was most of an NDR's CPU time; the serialised bytes do not change."""

    def header_store_parse(self, name: str, value: Any) -> tuple[str, Any]:
        if isinstance(value, str) and value.isascii() and "\r" not in value and "\n" not in value:
            return (name, value)
        return super().header_store_parse(name, value)


# The policy every part is built and serialised with: RFC 5322 folding at 78 columns, CRLF line
# ends, non-ASCII header text as RFC 2047 encoded words, so the output is 7-bit clean.
_POLICY = _PlainAsciiHeaders(linesep="\r\n", header_factory=_CachedHeaderRegistry())

# RFC 3464 2.3.3, action-value.  Only the two this service reports are accepted.
ACTION_FAILED = "failed"
ACTION_DELAYED = "delayed"

# RFC 6522 3: the report type of a DSN; RFC 3464 2.1: its machine-readable part.
_REPORT_TYPE = "delivery-status"
_DELIVERY_STATUS = "message/delivery-status"
_RFC822_HEADERS = "text/rfc822-headers"     # RFC 6522 4
_AUTO_SUBMITTED = "auto-replied"            # RFC 3834 5.2

# RFC 3464 2.2.2, 2.3.2, 2.3.6: type tags for MTA names, addresses and diagnostics.
_MTA_NAME_TYPE = "dns"
_DIAGNOSTIC_TYPE = "smtp"
_ADDRESS_TYPE = "rfc822"
_UTF8_ADDRESS_TYPE = "utf-8"                # RFC 6533 3, for addresses that are not ASCII

# RFC 3463 2: class "." subject "." detail; class 2, 4 or 5, the others one to three digits.
_STATUS_CODE = re.compile(r"[245]\.\d{1,3}\.\d{1,3}")
# Status classes each action may carry: a delayed recipient has a transient 4.x.x code; a failed
# one a 5.x.x code, or a 4.x.x one when delivery was given up after transient failures (RFC 3463 2,
# class 4: "If this code accompanies a delivery failure report...", e.g. 4.4.7 in 3.5).
_STATUS_CLASSES = {ACTION_FAILED: ("4", "5"), ACTION_DELAYED: ("4",)}

_BOUNDARY_PREFIX = "=_mfi-dsn_"             # "=_" never occurs in quoted-printable or base64 text
_WRAP = 72                                  # column the human-readable text is wrapped at
_MAX_LINE = 78                              # RFC 5322 2.1.1: lines SHOULD be no longer


@dataclass(frozen=True, slots=True)
class OriginalMessage:
    """The message a notification is about, as the service received it."""

    message_id: str            # "<0000001.a1b2@contoso.onmicrosoft.com>", angle brackets included
    sender: str                # the envelope sender; the notification goes back to it
    recipients: tuple[str, ...]
    subject: str
    date: datetime             # aware UTC, when it was received
    size: int                  # bytes


@dataclass(frozen=True, slots=True)
class AttemptLine:
    """One delivery attempt, as the report lists it for the sender's admin: when, which server, what reply."""

    at: datetime
    server: str
    reply: str


@dataclass(frozen=True, slots=True)
class RecipientStatus:
    """What happened to one recipient: one per-recipient block of the report (RFC 3464 2.3)."""

    address: str
    action: str                # "failed" or "delayed"
    status: str                # RFC 3463 enhanced code, e.g. "5.4.316"
    diagnostic: str            # the reply text, e.g. "550 5.4.316 Message expired, connection refused"
    remote_mta: str | None     # host name of the destination server, if one was reached or attempted
    last_attempt: datetime | None
    will_retry_until: datetime | None = None   # delayed only


def build_ndr(original: OriginalMessage, recipients: Sequence[RecipientStatus], *, reporting_mta: str,
              created: datetime, dsn_message_id: str, postmaster: str,
              attempts: Sequence[AttemptLine] = ()) -> EmailMessage:
    """The non-delivery report telling the sender that delivery to `recipients` failed for good; `attempts`
    (the message's delivery attempts, oldest first) are listed with their total, as the service's NDRs do."""
    _check_recipients(recipients, ACTION_FAILED)
    human = _ndr_text(original, recipients, reporting_mta=reporting_mta, created=created, attempts=attempts)
    return _build_report(original, recipients, human, subject_prefix="Undeliverable",
                         reporting_mta=reporting_mta, created=created,
                         dsn_message_id=dsn_message_id, postmaster=postmaster)


def build_delay_notice(original: OriginalMessage, recipients: Sequence[RecipientStatus], *,
                       reporting_mta: str, created: datetime, dsn_message_id: str,
                       postmaster: str) -> EmailMessage:
    """The notice telling the sender that delivery to `recipients` is late but still being retried."""
    _check_recipients(recipients, ACTION_DELAYED)
    human = _delay_text(original, recipients, reporting_mta=reporting_mta, created=created)
    return _build_report(original, recipients, human, subject_prefix="Delivery delayed",
                         reporting_mta=reporting_mta, created=created,
                         dsn_message_id=dsn_message_id, postmaster=postmaster)


def to_bytes(msg: EmailMessage) -> bytes:
    """The notification as it goes on the wire: CRLF line ends, 7-bit, the same bytes every time."""
    return msg.as_bytes(policy=_POLICY)


# --- the report ---------------------------------------------------------------------------------

def _build_report(original: OriginalMessage, recipients: Sequence[RecipientStatus], human: str, *,
                  subject_prefix: str, reporting_mta: str, created: datetime, dsn_message_id: str,
                  postmaster: str) -> EmailMessage:
    _check_message_id(original.message_id, "original.message_id")
    _check_message_id(dsn_message_id, "dsn_message_id")
    if not original.sender:
        # RFC 5321 4.5.5: a message with a null reverse-path gets no notification.
        raise ValueError("the original message has a null sender; no notification may be sent")

    report = EmailMessage(policy=_POLICY)
    report["From"] = postmaster
    report["To"] = original.sender
    report["Subject"] = f"{subject_prefix}: {original.subject}" if original.subject else subject_prefix
    report["Date"] = format_datetime(_utc(created, "created"))
    report["Message-ID"] = dsn_message_id
    report["In-Reply-To"] = original.message_id
    report["References"] = original.message_id
    report["Auto-Submitted"] = _AUTO_SUBMITTED
    report["MIME-Version"] = "1.0"
    report.add_header("Content-Type", "multipart/report", report_type=_REPORT_TYPE,
                      boundary=_boundary(dsn_message_id))
    for part in (_human_part(human), _delivery_status_part(original, recipients, reporting_mta),
                 _headers_part(original)):
        report.attach(cast(EmailMessage, part))   # typeshed wants the parent's class; any MIMEPart works
    return report


def _boundary(dsn_message_id: str) -> str:
    """The multipart boundary: a digest of the notification's Message-ID, so no random one is drawn."""
    digest = hashlib.sha256(dsn_message_id.encode("utf-8")).hexdigest()
    return _BOUNDARY_PREFIX + digest[:40]


def _human_part(text: str) -> MIMEPart:
    part = MIMEPart(policy=_POLICY)
    plain = text.isascii() and all(len(line) <= _MAX_LINE for line in text.splitlines())
    part.set_content(text, cte="7bit" if plain else "quoted-printable")
    return part


def _delivery_status_part(original: OriginalMessage, recipients: Sequence[RecipientStatus],
                          reporting_mta: str) -> MIMEPart:
    """RFC 3464 2.1: one per-message block, then one block per recipient, as header-only messages.

    The payload is a list of header blocks, the form the email package's parser produces for
    message/delivery-status and its generator writes back separated by blank lines.
    """
    per_message = _header_block([
        ("Reporting-MTA", f"{_MTA_NAME_TYPE}; {_dns_name(reporting_mta)}"),      # 2.2.2
        ("Arrival-Date", format_datetime(_utc(original.date, "original.date"))),  # 2.2.5
    ])
    blocks = [per_message]
    for rcpt in recipients:
        fields = [
            ("Final-Recipient", _final_recipient(rcpt.address)),                  # 2.3.2
            ("Action", rcpt.action),                                              # 2.3.3
            ("Status", rcpt.status),                                              # 2.3.4
        ]
        if rcpt.remote_mta is not None:
            fields.append(("Remote-MTA", f"{_MTA_NAME_TYPE}; {_dns_name(rcpt.remote_mta)}"))  # 2.3.5
        fields.append(("Diagnostic-Code", f"{_DIAGNOSTIC_TYPE}; {_one_line(rcpt.diagnostic)}"))  # 2.3.6
        if rcpt.last_attempt is not None:
            fields.append(("Last-Attempt-Date",
                           format_datetime(_utc(rcpt.last_attempt, "last_attempt"))))  # 2.3.7
        if rcpt.will_retry_until is not None:
            fields.append(("Will-Retry-Until",
                           format_datetime(_utc(rcpt.will_retry_until, "will_retry_until"))))  # 2.3.9
        blocks.append(_header_block(fields))

    part = MIMEPart(policy=_POLICY)
    part["Content-Type"] = _DELIVERY_STATUS
    part.set_payload(cast(list[Message | str], blocks))
    return part


def _header_block(fields: Sequence[tuple[str, str]]) -> Message:
    block = Message(policy=_POLICY)
    for name, value in fields:
        block[name] = value
    return block


def _headers_part(original: OriginalMessage) -> MIMEPart:
    """RFC 6522 4: the original message's header section, without its body."""
    headers = EmailMessage(policy=_POLICY)
    headers["From"] = original.sender
    if original.recipients:
        headers["To"] = ", ".join(original.recipients)
    headers["Subject"] = original.subject
    headers["Date"] = format_datetime(_utc(original.date, "original.date"))
    headers["Message-ID"] = original.message_id
    headers["MIME-Version"] = "1.0"
    section = headers.as_string(policy=_POLICY.clone(linesep="\n")).rstrip("\n") + "\n"

    part = MIMEPart(policy=_POLICY)
    part["Content-Type"] = _RFC822_HEADERS
    part.set_payload(section)
    return part


def _final_recipient(address: str) -> str:
    """The Final-Recipient value: "rfc822; addr", or RFC 6533's "utf-8; <xtext>" when not ASCII.

    RFC 6533 3: in message/delivery-status a non-ASCII address is written as utf-8-addr-xtext,
    every character outside QCHAR (ASCII printable except SP, "+", "=" and "\\") as \\x{HEX}.
    """
    if address.isascii():
        return f"{_ADDRESS_TYPE}; {address}"
    encoded = "".join(ch if _is_qchar(ch) else f"\\x{{{ord(ch):X}}}" for ch in address)
    return f"{_UTF8_ADDRESS_TYPE}; {encoded}"


def _one_line(reply: str) -> str:
    """A multi-line SMTP reply as one field value: its lines joined by spaces (the field may fold)."""
    return " ".join(line.strip() for line in reply.splitlines() if line.strip())


def _is_qchar(ch: str) -> bool:
    return "!" <= ch <= "~" and ch not in "+=\\"


def _dns_name(host: str) -> str:
    """A host name as DNS carries it: an internationalised name becomes its A-labels (RFC 5890)."""
    return host if host.isascii() else host.encode("idna").decode("ascii")


# --- the part for a person ----------------------------------------------------------------------

def _ndr_text(original: OriginalMessage, recipients: Sequence[RecipientStatus], *,
              reporting_mta: str, created: datetime, attempts: Sequence[AttemptLine] = ()) -> str:
    lines = [
        "Your message couldn't be delivered.",
        "",
        *_about(original),
        "",
        _fill("We tried to deliver it but had to give up for these recipients:"),
        "",
    ]
    for rcpt in recipients:
        lines.extend(_recipient_lines(rcpt))
    lines.extend([
        _fill("Check that the addresses are spelled right. If they are, the problem is most "
              "likely at the receiving end: you can try again later, or pass this report on to "
              "your email admin."),
        "",
        *_attempt_lines(attempts),
        *_footer(reporting_mta, created),
    ])
    return "\n".join(lines) + "\n"


def _attempt_lines(attempts: Sequence[AttemptLine]) -> list[str]:
    """For the admin: how many times delivery was tried, then one line per attempt (time, server, reply)."""
    if not attempts:
        return []
    lines = [f"Total retry attempts: {len(attempts)}"]
    for a in attempts:
        when = _utc(a.at, "attempt time").strftime("%Y-%m-%d %H:%M:%S UTC")
        lines.append(_fill(f"{when}  {a.server}  {_one_line(a.reply)}", indent="  ", hang=4))
    lines.append("")
    return lines


def _delay_text(original: OriginalMessage, recipients: Sequence[RecipientStatus], *,
                reporting_mta: str, created: datetime) -> str:
    timed = any(rcpt.will_retry_until is not None for rcpt in recipients)
    until = "until the time shown" if timed else "for a while yet"
    lines = [
        "Your message hasn't been delivered yet.",
        "",
        *_about(original),
        "",
        _fill("We haven't been able to deliver it to these recipients so far:"),
        "",
    ]
    for rcpt in recipients:
        lines.extend(_recipient_lines(rcpt))
    lines.extend([
        _fill("There's nothing you need to do, and there's no need to send the message again: "
              f"we keep trying automatically {until}, and we'll write to you again if we have to "
              "give up."),
        "",
        *_footer(reporting_mta, created),
    ])
    return "\n".join(lines) + "\n"


def _about(original: OriginalMessage) -> list[str]:
    return [
        _fill(f"Subject: {original.subject}", indent="  ", hang=9),
        f"  Sent:    {format_datetime(_utc(original.date, 'original.date'))}",
    ]


def _recipient_lines(rcpt: RecipientStatus) -> list[str]:
    lines = [f"  {rcpt.address}",
             _fill(f"Reason: {rcpt.diagnostic}", indent="    ", hang=2)]
    if rcpt.remote_mta is not None:
        lines.append(f"    Server: {rcpt.remote_mta}")
    if rcpt.last_attempt is not None:
        lines.append(f"    Last tried: {format_datetime(_utc(rcpt.last_attempt, 'last_attempt'))}")
    if rcpt.will_retry_until is not None:
        lines.append("    We'll keep trying until: "
                     + format_datetime(_utc(rcpt.will_retry_until, "will_retry_until")))
    lines.append("")
    return lines


def _footer(reporting_mta: str, created: datetime) -> list[str]:
    return [f"Reporting server: {reporting_mta}",
            f"Report date:      {format_datetime(_utc(created, 'created'))}"]


def _fill(text: str, *, indent: str = "", hang: int = 0) -> str:
    """Wrap for reading, continuation lines `hang` further in; a long word is never split."""
    later = indent + " " * hang
    return textwrap.fill(text, width=_WRAP, initial_indent=indent, subsequent_indent=later,
                         break_long_words=False, break_on_hyphens=False)


# --- checks on the way in -----------------------------------------------------------------------

def _check_recipients(recipients: Sequence[RecipientStatus], action: str) -> None:
    if not recipients:
        raise ValueError("a notification needs at least one recipient")
    for rcpt in recipients:
        if rcpt.action != action:
            raise ValueError(f"{rcpt.address}: action {rcpt.action!r} in a notice of {action!r} recipients")
        if not _STATUS_CODE.fullmatch(rcpt.status):
            raise ValueError(f"{rcpt.address}: status {rcpt.status!r} is not an RFC 3463 code")
        if rcpt.status[0] not in _STATUS_CLASSES[action]:
            raise ValueError(f"{rcpt.address}: status {rcpt.status} does not fit action {action!r}")
        if action != ACTION_DELAYED and rcpt.will_retry_until is not None:
            raise ValueError(f"{rcpt.address}: Will-Retry-Until is for delayed recipients only")


def _check_message_id(message_id: str, what: str) -> None:
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        raise ValueError(f"{what} must look like '<id@domain>', got {message_id!r}")


def _utc(moment: datetime, what: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must be an aware datetime, got {moment!r}")
    return moment.astimezone(timezone.utc)
