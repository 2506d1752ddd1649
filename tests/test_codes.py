"""The code catalogue (codes.py): expiry NDR wording as the service writes it, and one 5.1.10."""
from __future__ import annotations

import pytest

from mfi_sim import codes

REFUSED_DETAIL = "Socket error code 10061 (connection actively refused)"


@pytest.mark.parametrize("code, reason", [
    (codes.DNS_QUERY_FAILED, "550 5.4.312 Message expired, dns query failed"),
    (codes.CONNECTION_TIMED_OUT, "550 5.4.315 Message expired, connection timed out"),
    (codes.CONNECTION_REFUSED, "550 5.4.316 Message expired, connection refused"),
    (codes.CANNOT_CONNECT, "550 5.4.317 Message expired, cannot connect to remote server"),
    (codes.CLOSED_ABRUPTLY, "550 5.4.318 Message expired, connection was closed abruptly"),
    (codes.CERTIFICATE_FAILED, "550 5.7.320 Message expired, certificate validation failed")])
def test_connection_level_expiry_names_the_reason_and_the_last_detail(code: str, reason: str) -> None:
    """After a connection-level deferral: `550 5.4.3xx Message expired, <reason>(<last error detail>)`."""
    assert codes.expiry_reply(code, "the detail") == f"{reason}(the detail)"
    assert codes.expiry_reply(code) == reason


def test_refused_expiry_reads_as_the_service_writes_it() -> None:
    """The 4.4.316 case in full, the detail on one line right after the reason."""
    assert codes.expiry_reply(codes.CONNECTION_REFUSED, REFUSED_DETAIL, "451 4.7.500 Server busy") == \
        "550 5.4.316 Message expired, connection refused(Socket error code 10061 (connection actively refused))"


def test_other_expiry_carries_the_last_reply() -> None:
    """With no connection-level reason: `550 5.4.300 Message expired -> <last reply>` (none: no arrow)."""
    assert codes.expiry_reply(None, None, "451 4.7.500 Server busy, try later") == \
        "550 5.4.300 Message expired -> 451 4.7.500 Server busy, try later"
    assert codes.expiry_reply("451 4.7.500", "451 4.7.500 Server busy", "451 4.7.500 Server\r\n busy") == \
        "550 5.4.300 Message expired -> 451 4.7.500 Server busy"
    assert codes.expiry_reply(None) == "550 5.4.300 Message expired"
    assert codes.status_of(codes.expiry_reply(None)) == "5.4.300"


def test_exchange_server_preset_writes_queue_expired_whatever_the_reason() -> None:
    """Under the exchange-server preset every expiry is `550 4.4.7 QUEUE.Expired; message expired`."""
    for code in (codes.CONNECTION_REFUSED, None, "451 4.7.500"):
        assert codes.expiry_reply(code, "x", "451 4.7.500 Busy", "exchange-server") == \
            "550 4.4.7 QUEUE.Expired; message expired"
    assert codes.status_of(codes.EXPIRED_EXCHANGE_SERVER) == "4.4.7"


def test_one_5_1_10() -> None:
    """The not-found status is the status of the not-found reply: one constant, not two spellings."""
    assert codes.RECIPIENT_NOT_FOUND_STATUS == codes.status_of(codes.RECIPIENT_NOT_FOUND) == "5.1.10"


def test_explain_shows_both_expiry_forms_for_other_replies() -> None:
    """`explain other` shows the 5.4.300 form and the Exchange Server form."""
    text = codes.explain_text(codes.CATALOGUE[codes.OTHER])
    assert "550 5.4.300 Message expired -> <its last reply>" in text
    assert "550 4.4.7 QUEUE.Expired; message expired" in text


# ---------------------------------------------------------------------------------------------- whole runs
def _expiry_replies(text: str) -> set[str]:
    from mfi_sim.records import NdrRecord

    from helpers import run_text

    seen: list[NdrRecord] = []
    run_text(text, on_ndr=seen.append)
    return {reply for rec in seen if not rec.delayed for _, status, reply in rec.recipients
            if status != codes.RECIPIENT_NOT_FOUND_STATUS}


def test_a_run_that_outlives_expiration_writes_the_service_wording() -> None:
    """Refused for longer than the lifetime: the NDRs read `550 5.4.316 Message expired, connection
    refused(<detail>)`; under the exchange-server preset `550 4.4.7 QUEUE.Expired; message expired`."""
    from helpers import scenario_text

    fault = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "10m"\n'
    text = scenario_text(duration="5h", rate="60/h", faults=fault, tenant='message_expiration = "2h"')
    assert _expiry_replies(text) == {f"550 5.4.316 Message expired, connection refused({REFUSED_DETAIL})"}
    server = scenario_text(duration="5h", rate="60/h", faults=fault,
                           tenant='message_expiration = "2h"\nretry = "exchange-server"')
    assert _expiry_replies(server) == {codes.EXPIRED_EXCHANGE_SERVER}


def test_a_message_deferred_by_its_own_reply_expires_with_that_reply() -> None:
    """A destination that answers RCPT with 451 until the message expires: `550 5.4.300 Message expired ->
    451 ...` (no connection-level reason)."""
    from helpers import scenario_text

    fault = ('[[faults]]\nkind = "smtp_reply"\ntarget = "198.51.100.10"\nstage = "rcpt"\n'
             'reply = "451 4.7.500 Server busy, try again later"\n')
    text = scenario_text(duration="4h", rate="30/h", faults=fault, tenant='message_expiration = "1h"')
    assert _expiry_replies(text) == {"550 5.4.300 Message expired -> 451 4.7.500 Server busy, try again later"}
