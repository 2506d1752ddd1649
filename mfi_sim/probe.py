"""`mfi-sim probe`: the service's connector validation, against a real server, in the service's words.

It opens one real session as the service would (wire_driver.py over the shared SMTP client machine), optionally
sends a small test message as the service's validation does, and reports the code and title, the
[Message=...] [LastAttemptedServerName=...] [LastAttemptedIP=...] text, and the likely causes and fixes from
the same catalogue as `explain`. It says what it cannot see: from the outside, a firewall that drops the
connection request and a host that is down both end as 450 4.4.315.
"""
from __future__ import annotations

import email.policy
import email.utils
import json
import textwrap
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from . import codes
from .errors import OptionError
from .real_dns import parse_nameserver
from .scenario.schema import Scenario
from .smtp_client import SERVICE_HOSTNAME, SessionSpec
from .wire_driver import TestMessage, WireOptions, WireResult

__all__ = ["ProbeReport", "spec_from_connector", "test_message", "report_of", "report_text", "report_json",
           "NOT_VISIBLE"]

#: What a probe from outside cannot tell apart, by code (said next to the result, so nobody over-reads it).
NOT_VISIBLE = {
    codes.CONNECTION_TIMED_OUT: "From here, a firewall that silently drops the connection request and a host that "
                                "is down or unplugged look exactly the same: the request is never answered. "
                                "Check both.",
    codes.CONNECTION_REFUSED: "A refusal can come from the host itself (nothing listens on the port) or from a "
                              "firewall that answers for it; the probe cannot tell which.",
}
_OWN_TITLE = "Remote server returned an error"


@dataclass(frozen=True, slots=True)
class ProbeReport:
    """The probe's result, flat: what `--json` writes (SPEC 2.1, issue 9 section 2)."""

    ok: bool
    code: str | None
    title: str | None
    stage: str | None
    last_error: str | None
    server: str | None
    ip: str | None
    port: int
    tls: bool
    transcript: tuple[str, ...]
    message_sent: bool = False

    def as_json(self) -> dict[str, Any]:
        """The JSON keys of the contract: ok, code, title, stage, last_error, server, ip, transcript."""
        return {"ok": self.ok, "code": self.code, "title": self.title, "stage": self.stage,
                "last_error": self.last_error, "server": self.server, "ip": self.ip,
                "transcript": list(self.transcript)}


def spec_from_connector(scenario: Scenario, name: str, port: int | None, tls: str | None,
                        tls_domain: str | None) -> SessionSpec:
    """The session a scenario's connector opens (options override its port and TLS settings)."""
    for c in scenario.connectors:
        if c.name == name:
            hosts = c.recipient_domains if c.use_mx else c.smart_hosts
            return SessionSpec(hosts, c.use_mx, port or c.port, tls or c.tls, tls_domain or c.tls_domain)
    known = ", ".join(repr(c.name) for c in scenario.connectors)
    raise OptionError(f"--connector: no connector named {name!r} in {scenario.name!r}; it has {known}")


def test_message(sender: str, recipients: tuple[str, ...]) -> TestMessage:
    """A small, plainly labelled test message (RFC 5322), as the service's validation sends one."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Subject"] = "mfi-sim probe: connector validation test message"
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = email.utils.make_msgid("probe", domain=sender.rpartition("@")[2] or SERVICE_HOSTNAME)
    msg.set_content("This message tests whether mail can be delivered over this route. "
                    "It was sent by `mfi-sim probe`; no reply is needed.\n")
    return TestMessage(sender, recipients, msg.as_string(policy=email.policy.SMTP))


test_message.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


def report_of(result: WireResult) -> ProbeReport:
    """Flattens a real attempt: the session's failure, else the test message's, else ok."""
    v, m = result.verdict, result.message
    if not v.ok:
        code = v.code
        stage = v.stage.value if v.stage is not None else None
        return ProbeReport(False, code, _title(code), stage, v.last_error, v.host, v.ip, v.port, v.tls,
                           result.transcript, m is not None)
    if m is not None and m.kind != "delivered":
        code = m.code or codes.OTHER
        last = codes.deferral_text(code, m.reply, v.host, v.ip, v.port)
        return ProbeReport(False, code, _title(code), m.stage, last, v.host, v.ip, v.port, v.tls,
                           result.transcript, True)
    return ProbeReport(True, None, None, None, None, v.host, v.ip, v.port, v.tls, result.transcript, m is not None)


def _title(code: str | None) -> str | None:
    if code is None:
        return None
    return codes.CATALOGUE[code].title if code in codes.CATALOGUE else _OWN_TITLE


def _verdict_line(report: ProbeReport) -> str:
    if report.ok:
        what = "would deliver: the test message was accepted" if report.message_sent else "would deliver"
        tls = "over TLS" if report.tls else "in clear text"
        return f"Result: the connector {what} by {report.server} [{report.ip}:{report.port}], {tls}."
    assert report.code is not None
    entry = codes.CATALOGUE.get(report.code)
    if entry is not None:
        return f"Result: the connector would queue the mail (queue in Retry) with {report.code} {entry.title}."
    if report.code.startswith("5"):
        return "Result: the destination refuses the message for good: it would bounce (NDR) with its own reply."
    return "Result: the destination defers the message with its own reply: it would queue and be retried."


def report_text(report: ProbeReport) -> str:
    """The transcript, then the result in the service's words, with causes and fixes from the catalogue."""
    out = list(report.transcript) + ["", _verdict_line(report)]
    if report.ok or report.code is None:
        return "\n".join(out) + "\n"
    entry = codes.CATALOGUE.get(report.code) or codes.CATALOGUE[codes.OTHER]
    out += [f"  {report.last_error}", f"  Stopped at: {report.stage}"]
    note = NOT_VISIBLE.get(report.code)
    if note:
        out.append(textwrap.fill(f"Note: {note}", 96, initial_indent="  ", subsequent_indent="  "))
    for head, items in (("Likely causes:", entry.causes), ("How to fix:", entry.fixes)):
        out.append(f"  {head}")
        out += [textwrap.fill(i, 96, initial_indent="    - ", subsequent_indent="      ") for i in items]
    return "\n".join(out) + "\n"


def report_json(report: ProbeReport) -> str:
    """The `--json` file's text."""
    return json.dumps(report.as_json(), indent=2) + "\n"


def options_of(timeout: float, nameserver: str | None, ca_file: str | None) -> WireOptions:
    """The driver's options, checked: a positive timeout."""
    if not timeout > 0:
        raise OptionError(f"--timeout: must be more than 0 seconds, got {timeout}")
    if nameserver is not None:
        parse_nameserver(nameserver)
    return WireOptions(timeout=timeout, nameserver=nameserver, ca_file=ca_file)
