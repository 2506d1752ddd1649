"""`mfi-sim explain` knows every code the tool prints; `list` shows each scenario's code."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from mfi_sim import codes, enhanced_status
from mfi_sim.explain import SERVICE_NDRS, explain, explain_all

from helpers import cli

GOLDEN = Path(__file__).parent / "golden"


def printed_codes() -> tuple[set[str], set[str]]:
    """Deferral codes and NDR statuses that the bundled scenarios' runs print (from their golden results)."""
    deferrals: set[str] = set()
    statuses: set[str] = set()
    for path in GOLDEN.glob("*.json"):
        data = json.loads(path.read_text())
        for c in data["connectors"]:
            deferrals |= set(c["codes_seen"])
        deferrals |= {a["code"] for a in data["alerts"] if a["code"]}
        statuses |= set(data["ndrs"]["by_status"])
    return deferrals, statuses


def test_every_code_the_bundled_scenarios_print_is_explained() -> None:
    """Catalogue codes get their entry; other replies are "other" with their RFC 3463 meaning; statuses too."""
    deferrals, statuses = printed_codes()
    assert deferrals and statuses
    for code in deferrals:
        text = explain(code)
        if code in codes.CATALOGUE:
            assert text.startswith(f"{code}  {codes.CATALOGUE[code].title}")
        else:
            assert "Other: a reply of the destination's own" in text and "RFC 3463" in text, code
    for status in statuses:
        text = explain(status)
        assert "Other codes" not in text.split("\n", 1)[0], status
        assert status in text.split("\n", 1)[0] or f"{status} " in text, status


@pytest.mark.parametrize("code, first", [
    ("5.1.10", "550 5.1.10  Recipient not found (an NDR the service writes)"),
    ("554 5.4.14", "554 5.4.14  Mail loop (an NDR the service writes)"),
    ("5.4.316", "550 5.4.316 Message expired, connection refused  (an NDR the service writes)"),
    ("5.7.320", "550 5.7.320 Message expired, certificate validation failed  (an NDR the service writes)"),
    ("4.4.7", "550 4.4.7  Message expired (Exchange Server) (an NDR the service writes)"),
    ("5.4.300", "550 5.4.300  Message expired (an NDR the service writes)"),
    ("4.4.316", "450 4.4.316  Connection refused"),
    ("451 4.7.500", "451 4.7.500  Other: a reply of the destination's own (shown as \"other\" in the insight)"),
])
def test_codes_the_tool_writes(code: str, first: str) -> None:
    """The service's own NDRs, the expiry forms and a partner's reply each have their explanation."""
    assert explain(code).splitlines()[0] == first


def test_partner_reply_meaning_from_rfc_3463() -> None:
    """A partner's 550 5.7.1 reads as a permanent security/policy refusal, cited from RFC 3463."""
    text = " ".join(explain("550 5.7.1").split())
    assert "class 5: permanent failure" in text and "subject 7: security or policy" in text
    assert "detail 7.1: delivery not authorized, message refused (RFC 3463 section 3.8)" in text
    assert "not defined by RFC 3463" in " ".join(explain("451 4.7.500").split())


def test_rfc_3463_table_is_complete() -> None:
    """Every subject has its X.n.0 detail and the table has RFC 3463's 49 enumerated details."""
    assert len(enhanced_status.DETAILS) == 49
    assert all(f"{s}.0" in enhanced_status.DETAILS for s in enhanced_status.SUBJECTS)
    assert enhanced_status.parse("451 5.7.1") is None, "reply and status classes must agree"


def test_explain_all_and_errors() -> None:
    """With no code, every entry prints; a non-code is exit 2 with one line and a near match."""
    text = explain_all()
    assert all(code in text for code in codes.CATALOGUE if code != codes.OTHER)
    assert all(n.status in text for n in SERVICE_NDRS.values())
    bad = cli("explain", "450 4.4.3166")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert cli("explain", "5.1.10").returncode == 0


def test_list_shows_each_scenarios_code() -> None:
    """`list` names the code each bundled scenario teaches (from its own tests)."""
    out = cli("list").stdout
    assert "connection-refused" in out and "[450 4.4.316]" in out
    assert "[451 4.7.500]" in out and "[no error]" in out
