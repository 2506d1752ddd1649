"""Delivery status notifications (mfi_sim/dsn.py): RFC 3464 NDRs and delay notices."""
from __future__ import annotations

import email
import hashlib
import os
import subprocess
import sys
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage, Message
from pathlib import Path

import pytest
from flufl.bounce import all_failures, scan_message
from hypothesis import given, settings
from hypothesis import strategies as st

from mfi_sim.dsn import (
    ACTION_DELAYED, ACTION_FAILED, AttemptLine, OriginalMessage, RecipientStatus, build_delay_notice, build_ndr,
    to_bytes,
)

REPO = Path(__file__).resolve().parents[1]
RECEIVED = datetime(2026, 5, 5, 9, 0, tzinfo=timezone.utc)
CREATED = RECEIVED + timedelta(days=1, minutes=1)
REPORTING_MTA = "AM0PR01MB1234.eurprd01.prod.exchangelabs.com"
POSTMASTER = "postmaster@contoso.onmicrosoft.com"
DSN_ID = "<ndr.0000001@contoso.onmicrosoft.com>"

ORIGINAL = OriginalMessage(
    message_id="<0000001.a1b2@contoso.onmicrosoft.com>",
    sender="user@contoso.onmicrosoft.com",
    recipients=("bob@fabrikam.com", "carol@fabrikam.com", "dave@northwind.example"),
    subject="Quarterly report",
    date=RECEIVED,
    size=48_213,
)
EXPIRED = RecipientStatus(
    address="bob@fabrikam.com",
    action=ACTION_FAILED,
    status="5.4.316",
    diagnostic="550 5.4.316 Message expired, connection refused",
    remote_mta="mx.fabrikam.com",
    last_attempt=RECEIVED + timedelta(days=1),
)
UNKNOWN_USER = RecipientStatus(
    address="carol@fabrikam.com",
    action=ACTION_FAILED,
    status="5.1.10",
    diagnostic="550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
    remote_mta=None,
    last_attempt=None,
)
DELAYED = RecipientStatus(
    address="dave@northwind.example",
    action=ACTION_DELAYED,
    status="4.4.316",
    diagnostic="451 4.4.316 Connection refused",
    remote_mta="mail.northwind.example",
    last_attempt=RECEIVED + timedelta(hours=4),
    will_retry_until=RECEIVED + timedelta(days=1),
)


def _ndr(original: OriginalMessage = ORIGINAL,
         recipients: tuple[RecipientStatus, ...] = (EXPIRED, UNKNOWN_USER),
         dsn_message_id: str = DSN_ID) -> EmailMessage:
    return build_ndr(original, recipients, reporting_mta=REPORTING_MTA, created=CREATED,
                     dsn_message_id=dsn_message_id, postmaster=POSTMASTER)


def _delay(original: OriginalMessage = ORIGINAL, recipients: tuple[RecipientStatus, ...] = (DELAYED,),
           dsn_message_id: str = "<delay.0000001@contoso.onmicrosoft.com>") -> EmailMessage:
    return build_delay_notice(original, recipients, reporting_mta=REPORTING_MTA,
                              created=RECEIVED + timedelta(hours=4, minutes=5),
                              dsn_message_id=dsn_message_id, postmaster=POSTMASTER)


def _parsed(msg: EmailMessage) -> EmailMessage:
    """The notification as a receiver's email package reads it back from the wire."""
    parsed = email.message_from_bytes(to_bytes(msg), policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _blocks(parsed: Message) -> list[Message]:
    status = parsed.get_payload()[1]
    assert status.get_content_type() == "message/delivery-status"
    blocks = status.get_payload()
    assert isinstance(blocks, list)
    return blocks


# --- flufl.bounce reads them as a bounce processor would -------------------------------------------

def test_flufl_bounce_finds_every_failed_recipient_of_an_ndr() -> None:
    """flufl.bounce reports exactly the failed recipients of an NDR, all as permanent failures."""
    raw = email.message_from_bytes(to_bytes(_ndr()))
    assert scan_message(raw) == {b"bob@fabrikam.com", b"carol@fabrikam.com"}
    temporary, permanent = all_failures(raw)
    assert temporary == frozenset()
    assert permanent == {b"bob@fabrikam.com", b"carol@fabrikam.com"}


def test_flufl_bounce_sees_a_delay_notice_as_temporary_only() -> None:
    """flufl.bounce reports no permanent failure for a delay notice, only a temporary one."""
    raw = email.message_from_bytes(to_bytes(_delay()))
    assert scan_message(raw) == frozenset()
    temporary, permanent = all_failures(raw)
    assert temporary == {b"dave@northwind.example"}
    assert permanent == frozenset()


# --- structure, parsed back with the email package -------------------------------------------------

def test_report_is_multipart_report_of_three_parts_in_order() -> None:
    """The top level is multipart/report; report-type=delivery-status, its three parts in RFC 6522 order."""
    for msg in (_ndr(), _delay()):
        parsed = _parsed(msg)
        assert parsed.get_content_type() == "multipart/report"
        assert parsed.get_param("report-type") == "delivery-status"
        assert [part.get_content_type() for part in parsed.iter_parts()] == [
            "text/plain", "message/delivery-status", "text/rfc822-headers"]
        assert not parsed.defects
        assert all(not part.defects for part in parsed.walk())


def test_ndr_top_level_headers() -> None:
    """The NDR goes from the postmaster to the sender, refers to the original and is marked auto-replied."""
    parsed = _parsed(_ndr())
    assert parsed["From"] == POSTMASTER
    assert parsed["To"] == ORIGINAL.sender
    assert parsed["Subject"] == "Undeliverable: Quarterly report"
    assert parsed["Date"].datetime == CREATED
    assert parsed["Message-ID"] == DSN_ID
    assert parsed["In-Reply-To"] == ORIGINAL.message_id
    assert parsed["References"] == ORIGINAL.message_id
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["MIME-Version"] == "1.0"


def test_delay_notice_subject() -> None:
    """A delay notice is titled "Delivery delayed: <subject>"."""
    assert _parsed(_delay())["Subject"] == "Delivery delayed: Quarterly report"


def test_empty_subject_gives_a_bare_title() -> None:
    """An original with no subject gives "Undeliverable", not a title ending in a colon."""
    parsed = _parsed(_ndr(replace(ORIGINAL, subject="")))
    assert parsed["Subject"] == "Undeliverable"


def test_per_message_block() -> None:
    """The first status block names the reporting MTA and the arrival date, and nothing per recipient."""
    per_message = _blocks(_parsed(_ndr()))[0]
    assert per_message["Reporting-MTA"] == f"dns; {REPORTING_MTA}"
    assert email.utils.parsedate_to_datetime(per_message["Arrival-Date"]) == RECEIVED
    assert per_message["Final-Recipient"] is None


def test_ndr_per_recipient_blocks() -> None:
    """Each failed recipient gets a block with its Final-Recipient, Action, Status and Diagnostic-Code."""
    blocks = _blocks(_parsed(_ndr()))
    assert len(blocks) == 3
    bob, carol = blocks[1], blocks[2]
    assert bob["Final-Recipient"] == "rfc822; bob@fabrikam.com"
    assert bob["Action"] == "failed"
    assert bob["Status"] == "5.4.316"
    assert bob["Diagnostic-Code"] == "smtp; 550 5.4.316 Message expired, connection refused"
    assert bob["Remote-MTA"] == "dns; mx.fabrikam.com"
    assert email.utils.parsedate_to_datetime(bob["Last-Attempt-Date"]) == EXPIRED.last_attempt
    assert carol["Final-Recipient"] == "rfc822; carol@fabrikam.com"
    assert carol["Status"] == "5.1.10"
    assert carol["Diagnostic-Code"] == f"smtp; {UNKNOWN_USER.diagnostic}"
    assert carol["Remote-MTA"] is None
    assert carol["Last-Attempt-Date"] is None
    assert all(block["Will-Retry-Until"] is None for block in blocks)


def test_delay_notice_per_recipient_block_has_will_retry_until() -> None:
    """A delayed recipient's block has Action delayed, a 4.x.x Status and Will-Retry-Until."""
    blocks = _blocks(_parsed(_delay()))
    assert len(blocks) == 2
    assert blocks[0]["Will-Retry-Until"] is None
    dave = blocks[1]
    assert dave["Final-Recipient"] == "rfc822; dave@northwind.example"
    assert dave["Action"] == "delayed"
    assert dave["Status"] == "4.4.316"
    assert dave["Diagnostic-Code"] == "smtp; 451 4.4.316 Connection refused"
    assert email.utils.parsedate_to_datetime(dave["Will-Retry-Until"]) == DELAYED.will_retry_until


def test_status_fields_follow_rfc3464_order() -> None:
    """The fields of a recipient block come in the order RFC 3464 2.3 lists them."""
    dave = _blocks(_parsed(_delay()))[1]
    assert dave.keys() == ["Final-Recipient", "Action", "Status", "Remote-MTA", "Diagnostic-Code",
                           "Last-Attempt-Date", "Will-Retry-Until"]


def test_long_diagnostic_folds_on_the_wire_and_reads_back_whole() -> None:
    """A diagnostic longer than a line is folded in the output and unfolds to the same text."""
    long = replace(EXPIRED, diagnostic="550 5.4.316 Message expired, connection refused(Socket error "
                                       "code 10061) while talking to the destination server at length")
    raw = to_bytes(_ndr(recipients=(long,)))
    assert all(len(line) <= 78 for line in raw.split(b"\r\n"))
    block = _blocks(email.message_from_bytes(raw, policy=policy.default))[1]
    assert block["Diagnostic-Code"] == f"smtp; {long.diagnostic}"


def test_multi_line_reply_becomes_one_field() -> None:
    """A multi-line SMTP reply is written as one Diagnostic-Code, its lines joined by spaces."""
    multi = replace(EXPIRED, diagnostic="550-5.1.1 The email account does not exist.\r\n550 5.1.1 Try again.")
    block = _blocks(_parsed(_ndr(recipients=(multi,))))[1]
    # The whole value fits on one continuation line, so the email package folds it right after the
    # colon; its parser then keeps the space that begins that line, which unfolding makes the usual
    # separator after the colon (RFC 5322 2.2.3), so a reader strips it.
    expected = "smtp; 550-5.1.1 The email account does not exist. 550 5.1.1 Try again."
    assert block["Diagnostic-Code"].strip() == expected


def test_rfc822_headers_part_carries_the_original_headers() -> None:
    """The third part holds the original's From, To, Subject, Date, Message-ID and MIME-Version, no body."""
    part = _parsed(_ndr()).get_payload()[2]
    headers = email.message_from_string(part.get_content(), policy=policy.default)
    assert headers.keys() == ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version"]
    assert headers["From"] == ORIGINAL.sender
    assert [a.addr_spec for a in headers["To"].addresses] == list(ORIGINAL.recipients)
    assert headers["Subject"] == ORIGINAL.subject
    assert headers["Date"].datetime == RECEIVED
    assert headers["Message-ID"] == ORIGINAL.message_id
    assert headers.get_content().strip() == ""


def test_ndr_human_part_names_recipients_reasons_and_dates() -> None:
    """The text for a person says delivery failed, to whom, why, and when."""
    text = " ".join(_parsed(_ndr()).get_payload()[0].get_content().split())
    assert "couldn't be delivered" in text
    for rcpt in (EXPIRED, UNKNOWN_USER):
        assert rcpt.address in text
    assert "Message expired, connection refused" in text
    assert "Recipient not found" in text
    assert email.utils.format_datetime(RECEIVED) in text
    assert email.utils.format_datetime(CREATED) in text
    assert "keep trying" not in text


REFUSED_AT = ("450 4.4.316 Connection refused [Message=Socket error code 10061 (connection actively refused)] "
              "[LastAttemptedServerName=mx.fabrikam.com] [LastAttemptedIP=198.51.100.10:25]")
ATTEMPTS = tuple(AttemptLine(RECEIVED + timedelta(minutes=m), "mx.fabrikam.com", REFUSED_AT) for m in (0, 5, 10))


def test_ndr_human_part_lists_every_attempt_with_the_total() -> None:
    """The NDR for a person gives the total retry attempts, then one line per attempt: time, server, reply;
    lines stay short and a bounce processor still finds the failed recipients."""
    msg = build_ndr(ORIGINAL, (EXPIRED,), reporting_mta=REPORTING_MTA, created=CREATED, dsn_message_id=DSN_ID,
                    postmaster=POSTMASTER, attempts=ATTEMPTS)
    text = _parsed(msg).get_payload()[0].get_content()
    assert "Total retry attempts: 3" in text
    flat = " ".join(text.split())
    for minute in ("09:00:00", "09:05:00", "09:10:00"):
        assert f"2026-05-05 {minute} UTC mx.fabrikam.com {REFUSED_AT}" in flat
    assert text.index("Total retry attempts") < text.index("2026-05-05 09:00:00 UTC")
    assert max(len(line) for line in text.splitlines()) <= 78
    raw = email.message_from_bytes(to_bytes(msg))
    assert all_failures(raw) == (frozenset(), {b"bob@fabrikam.com"})
    assert "Total retry attempts" not in _parsed(_ndr()).get_payload()[0].get_content()   # none on record


def test_delay_human_part_says_when_retries_stop_and_not_to_resend() -> None:
    """The text of a delay notice gives the retry deadline and tells the sender not to resend."""
    text = " ".join(_parsed(_delay()).get_payload()[0].get_content().split())
    assert "hasn't been delivered yet" in text
    assert DELAYED.address in text
    assert f"keep trying until: {email.utils.format_datetime(DELAYED.will_retry_until)}" in text
    assert "no need to send the message again" in text


def test_human_part_lines_are_short() -> None:
    """The human-readable text is wrapped to fit a mail reader's window."""
    for msg in (_ndr(), _delay()):
        text = _parsed(msg).get_payload()[0].get_content()
        assert max(len(line) for line in text.splitlines()) <= 78


# --- bytes: determinism and line ends --------------------------------------------------------------

def test_two_builds_are_byte_identical() -> None:
    """Building the same notification twice gives the same bytes."""
    assert to_bytes(_ndr()) == to_bytes(_ndr())
    assert to_bytes(_delay()) == to_bytes(_delay())


def test_output_is_crlf_and_seven_bit() -> None:
    """Every line ends in CRLF and every byte is ASCII, so any SMTP server can carry it."""
    for raw in (to_bytes(_ndr()), to_bytes(_delay())):
        assert raw.isascii()
        assert raw.count(b"\n") == raw.count(b"\r\n")
        assert raw.count(b"\r") == raw.count(b"\r\n")


def test_boundary_is_derived_from_the_dsn_message_id() -> None:
    """The boundary is the same for the same dsn_message_id and differs for another one."""
    first = _ndr().get_boundary()
    assert first is not None and first == _ndr().get_boundary()
    other = _ndr(dsn_message_id="<ndr.0000002@contoso.onmicrosoft.com>").get_boundary()
    assert other is not None and other != first
    assert _parsed(_ndr()).get_boundary() == first


def test_same_bytes_in_processes_with_different_hash_seeds() -> None:
    """Separate interpreters with different PYTHONHASHSEED values produce byte-identical notifications."""
    script = (
        "import hashlib, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "import tests.test_dsn as t\n"
        "from mfi_sim.dsn import to_bytes\n"
        "print(hashlib.sha256(to_bytes(t._ndr()) + to_bytes(t._delay())).hexdigest())\n"
    )
    digests = set()
    for seed in ("0", "1", "4242"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", script, str(REPO)], cwd=REPO, env=env,
                              capture_output=True, text=True, check=True)
        digests.add(done.stdout.strip())
    digests.add(hashlib.sha256(to_bytes(_ndr()) + to_bytes(_delay())).hexdigest())
    assert len(digests) == 1


# --- non-ASCII ----------------------------------------------------------------------------------------

def test_non_ascii_subject_and_addresses_serialise_and_parse() -> None:
    """Non-ASCII in the subject and addresses gives 7-bit output that reads back to the same text."""
    original = replace(ORIGINAL, sender="jürgen@bücher.example", subject="Grüße – Angebot №5",
                       recipients=("zoë@exämple.com", "bob@fabrikam.com"))
    zoe = replace(UNKNOWN_USER, address="zoë@exämple.com")
    raw = to_bytes(_ndr(original, (zoe, EXPIRED)))
    assert raw.isascii()
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert parsed["Subject"] == "Undeliverable: Grüße – Angebot №5"
    assert parsed["To"] == "jürgen@bücher.example"
    assert "zoë@exämple.com" in parsed.get_payload()[0].get_content()
    # RFC 6533 3: a non-ASCII address is typed utf-8 and written as xtext in message/delivery-status.
    blocks = _blocks(parsed)
    assert blocks[1]["Final-Recipient"] == r"utf-8; zo\x{EB}@ex\x{E4}mple.com"
    assert blocks[2]["Final-Recipient"] == "rfc822; bob@fabrikam.com"
    headers = email.message_from_string(parsed.get_payload()[2].get_content(), policy=policy.default)
    assert headers["Subject"] == "Grüße – Angebot №5"
    assert headers["From"] == "jürgen@bücher.example"
    # flufl.bounce reads only rfc822-typed recipients; the ASCII one is still found, nothing garbled.
    assert scan_message(email.message_from_bytes(raw)) == {b"bob@fabrikam.com"}


def test_utf8_address_escapes_plus_equals_and_backslash() -> None:
    """RFC 6533 xtext escapes "+", "=" and "\\" as well as non-ASCII characters."""
    odd = replace(UNKNOWN_USER, address="zoë+a=b@exämple.com")
    block = _blocks(_parsed(_ndr(recipients=(odd,))))[1]
    assert block["Final-Recipient"] == r"utf-8; zo\x{EB}\x{2B}a\x{3D}b@ex\x{E4}mple.com"


@settings(max_examples=60, deadline=None)
@given(st.text(st.characters(blacklist_categories=("Cs", "Cc", "Zl", "Zp")), max_size=120))
def test_any_subject_round_trips(subject: str) -> None:
    """Whatever printable text the subject holds, the output is 7-bit CRLF and the title reads back."""
    raw = to_bytes(_ndr(replace(ORIGINAL, subject=subject)))
    assert raw.isascii()
    assert raw.count(b"\n") == raw.count(b"\r\n")
    parsed = email.message_from_bytes(raw, policy=policy.default)
    expected = f"Undeliverable: {subject}" if subject else "Undeliverable"
    assert " ".join(parsed["Subject"].split()) == " ".join(expected.split())
    assert [part.get_content_type() for part in parsed.iter_parts()] == [
        "text/plain", "message/delivery-status", "text/rfc822-headers"]


# --- what the builders refuse --------------------------------------------------------------------

def test_ndr_refuses_a_delayed_recipient() -> None:
    """build_ndr takes failed recipients only, and build_delay_notice delayed ones only."""
    with pytest.raises(ValueError, match="action"):
        _ndr(recipients=(DELAYED,))
    with pytest.raises(ValueError, match="action"):
        _delay(recipients=(EXPIRED,))


def test_status_must_be_an_rfc3463_code_of_a_fitting_class() -> None:
    """A malformed status, or a 5.x.x status on a delayed recipient, is refused."""
    with pytest.raises(ValueError, match="RFC 3463"):
        _ndr(recipients=(replace(EXPIRED, status="5.4"),))
    with pytest.raises(ValueError, match="does not fit"):
        _delay(recipients=(replace(DELAYED, status="5.4.316"),))
    assert _parsed(_ndr(recipients=(replace(EXPIRED, status="4.4.7"),)))   # given up after 4xx


def test_will_retry_until_on_a_failed_recipient_is_refused() -> None:
    """Will-Retry-Until belongs to delayed recipients only (RFC 3464 2.3.9)."""
    with pytest.raises(ValueError, match="Will-Retry-Until"):
        _ndr(recipients=(replace(EXPIRED, will_retry_until=CREATED),))


def test_refuses_empty_recipients_naive_dates_bad_ids_and_null_sender() -> None:
    """No recipients, a naive datetime, an id without angle brackets or a null sender is an error."""
    with pytest.raises(ValueError, match="at least one"):
        _ndr(recipients=())
    with pytest.raises(ValueError, match="aware"):
        _ndr(replace(ORIGINAL, date=datetime(2026, 5, 5, 9, 0)))
    with pytest.raises(ValueError, match="dsn_message_id"):
        _ndr(dsn_message_id="ndr.1@contoso.onmicrosoft.com")
    with pytest.raises(ValueError, match="null sender"):
        _ndr(replace(ORIGINAL, sender=""))


def test_non_utc_dates_are_written_in_utc() -> None:
    """An aware datetime in another zone is written as the same instant in UTC."""
    cest = timezone(timedelta(hours=2))
    parsed = _parsed(_ndr(replace(ORIGINAL, date=RECEIVED.astimezone(cest))))
    arrival = _blocks(parsed)[0]["Arrival-Date"]
    assert arrival == email.utils.format_datetime(RECEIVED)
    assert arrival.endswith("+0000")
