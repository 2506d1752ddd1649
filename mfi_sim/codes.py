"""The catalogue of mail-flow-intelligence codes: titles, causes, fixes, Fix now, expiry forms.

Every other module takes codes, titles and advice from here, so the admin-facing words live in one place.
Codes follow RFC 5321 section 4.2 (reply code) plus RFC 3463 enhanced status (class.subject.detail);
the 4.4.31x and 4.7.320 details are the hosted service's own, documented in "Mail flow intelligence in EOP".
"""
from __future__ import annotations

import re
import textwrap
from dataclasses import dataclass

__all__ = ["Entry", "CATALOGUE", "DNS_QUERY_FAILED", "CONNECTION_TIMED_OUT", "CONNECTION_REFUSED",
           "CANNOT_CONNECT", "CLOSED_ABRUPTLY", "CERTIFICATE_FAILED", "OTHER", "lookup", "MAIL_LOOP",
           "expiry_reply", "enhanced_of", "deferral_text", "RECIPIENT_NOT_FOUND", "RECIPIENT_NOT_FOUND_STATUS",
           "RECIPIENT_REJECTED", "EXPIRED_NO_REASON", "EXPIRED_EXCHANGE_SERVER",
           "explain_text", "status_of"]

DNS_QUERY_FAILED = "450 4.4.312"
CONNECTION_TIMED_OUT = "450 4.4.315"
CONNECTION_REFUSED = "450 4.4.316"
CANNOT_CONNECT = "450 4.4.317"
CLOSED_ABRUPTLY = "450 4.4.318"
CERTIFICATE_FAILED = "450 4.7.320"
OTHER = "other"

#: Reply for a recipient the destination (or, after Fix now, the service) does not know: 5.1.10 RecipientNotFound.
RECIPIENT_NOT_FOUND = "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup"
#: Its enhanced status, the one every 5.1.10 NDR and count carries.
RECIPIENT_NOT_FOUND_STATUS = "5.1.10"
#: The service's own rejection of an unknown recipient when the mail arrives (after Fix now): the same status.
RECIPIENT_REJECTED = f"550 {RECIPIENT_NOT_FOUND_STATUS} Recipient rejected at once: not found in the directory"
#: NDR for mail that comes back to the service: a disabled connector's mail took the domain's MX, which points at
#: the service itself (RFC 3463 X.4.6 is "routing loop detected"; Exchange reports the hop count as 5.4.14).
MAIL_LOOP = "554 5.4.14 Hop count exceeded - possible mail loop"
#: Expiry with no connection-level reason (exchange-online): the service's 5.4.300, followed by the last reply.
EXPIRED_NO_REASON = "550 5.4.300 Message expired"
#: Expiry as Exchange Server writes it, whatever the reason (RFC 3463 4.4.7: delivery time expired).
EXPIRED_EXCHANGE_SERVER = "550 4.4.7 QUEUE.Expired; message expired"
#: Retry presets whose NDRs use the Exchange Server wording.
EXCHANGE_SERVER_PRESETS = ("exchange-server",)

_PARTNER = ("If the destination belongs to a partner organisation (a third-party cloud service, say), "
            "the fix is on their side: contact the partner and share the error details.")


@dataclass(frozen=True, slots=True)
class Entry:
    """One catalogue entry: what the admin reads next to the error code."""

    code: str                  # "450 4.4.316", or "other" for the destination's own replies
    title: str
    summary: str               # what the service was doing when it failed
    detected_when: str         # which stage of the delivery attempt produces it
    causes: tuple[str, ...]
    fixes: tuple[str, ...]
    fix_now: bool              # whether the alert offers the one-click "Fix now"
    expiry_code: str           # the NDR status when a message expires after this deferral

    @property
    def enhanced(self) -> str:
        """The RFC 3463 part of the code ("4.4.316"), or "" for other."""
        return self.code.split(" ", 1)[1] if " " in self.code else ""


CATALOGUE: dict[str, Entry] = {e.code: e for e in (
    Entry(
        DNS_QUERY_FAILED, "DNS query failed",
        "The service could not look up the addresses of the smart host or of the domain's MX hosts.",
        "resolving the smart host or MX name: NXDOMAIN, SERVFAIL or no answer",
        ("The company hosting the domain's DNS has a problem with its authoritative name servers.",
         "The domain registration has lapsed, so its MX and host records no longer resolve.",
         "The MX record was changed recently and resolvers still hold the old answer, which now points "
         "at a host that no longer exists."),
        ("Ask the DNS hosting provider to find and fix the problem with the domain's zone.",
         "Renew the domain if it has expired; after a record change, wait for the old TTL to run out.",
         _PARTNER),
        False, "550 5.4.312"),
    Entry(
        CONNECTION_TIMED_OUT, "Connection timed out",
        "The service sent a TCP connection request to the destination server and never heard back.",
        "opening the TCP connection to port 25: no answer before the timeout",
        ("The on-premises mail server is down or unreachable.",
         "The connector's smart host setting points at a wrong address, so the service knocks on the wrong door.",
         "The network changed (a new internet provider, new public addresses) and the connector was not updated."),
        ("If mail used to flow and the connector was not changed, check whether the on-premises server is running "
         "and whether the network in front of it changed.",
         "If the connector was changed recently, correct the smart host name or address.",
         _PARTNER),
        False, "550 5.4.315"),
    Entry(
        CONNECTION_REFUSED, "Connection refused",
        "The destination answered the TCP connection request with a refusal.",
        "opening the TCP connection to port 25: actively refused (RST)",
        ("A firewall in front of the on-premises servers blocks the service's addresses on TCP port 25.",
         "All mailboxes have moved to the cloud and the on-premises servers were switched off on purpose."),
        ("If mailboxes still live on premises, let the service's published IP ranges through the firewall on "
         "TCP port 25 to the on-premises mail servers.",
         "If nothing should go on premises any more, use Fix now: the service stops routing there and rejects "
         "mail for recipients that do not exist right away, which keeps you under the invalid-recipient quota.",
         "Or fix it by hand: turn off or delete the connector from Office 365 to your organisation's mail server, "
         "and change the accepted domain from Internal Relay to Authoritative. Allow 30 to 60 minutes for the "
         "change, then check that the error has stopped.",
         _PARTNER),
        True, "550 5.4.316"),
    Entry(
        CANNOT_CONNECT, "Cannot connect to remote server",
        "The service reached the destination server, but it answered with an immediate error or did not meet "
        "the connector's requirements.",
        "greeting or EHLO: a 421 'service not available' reply, or TLS required but STARTTLS missing or failing",
        ("The destination server greets with 421 'service not available' and cannot hold the session.",
         "The connector requires TLS and the destination server does not offer STARTTLS, or the TLS "
         "handshake fails."),
        ("Check the TLS configuration and certificate of the on-premises servers against the connector's TLS "
         "settings.",
         "Check the destination server's health and connection limits if it answers 421.",
         _PARTNER),
        False, "550 5.4.317"),
    Entry(
        CLOSED_ABRUPTLY, "Connection was closed abruptly",
        "The session with the destination server started but was cut off before the message went through.",
        "during the SMTP dialogue: the TCP connection drops (after the greeting, EHLO or DATA)",
        ("A firewall inspects SMTP traffic (SMTP packet inspection / fixup) and breaks the session.",
         "The on-premises server hangs, crashes or runs out of resources and drops the connection.",
         "The network between the service and the on-premises site is unreliable."),
        ("Work out which of these applies and correct it; turn off SMTP inspection on the firewall if it is on.",
         "For network trouble between the site and the service, bring in the network team.",
         _PARTNER),
        False, "550 5.4.318"),
    Entry(
        CERTIFICATE_FAILED, "Certificate validation failed",
        "The connector validates the destination's certificate, and the certificate did not pass.",
        "after STARTTLS: the certificate is expired, not yet valid, for another name, or not trusted",
        ("The certificate has expired.",
         "The certificate's subject and alternative names do not include the name the connector expects.",
         "The certificate is not valid yet, was revoked, or is not issued by a trusted authority."),
        ("Renew or replace the certificate on the destination server, or correct the connector's TLS settings "
         "(for example the domain it validates against); queued mail then goes out on the next retry.",
         _PARTNER),
        False, "550 5.7.320"),
    Entry(
        OTHER, "Other error",
        "The destination server answered with a reply of its own that the service cannot deliver through.",
        "any stage: a 4xx or 5xx reply the destination chose",
        ("The destination server or a device in front of it rejects or defers the message for its own reasons "
         "(policy, size, recipient, throttling).",),
        ("Read the destination server named in the error and look at the reason there; correct the connector "
         "if the reply points to a configuration mistake.",
         _PARTNER),
        False, "550 5.4.300"),
)}

_CODE = re.compile(r"^\s*(?:(\d{3})\s+)?(\d\.\d{1,3}\.\d{1,3})\s*$")


def enhanced_of(code: str) -> str:
    """The RFC 3463 part of "450 4.4.316" ("4.4.316"), or "" when there is none."""
    m = _CODE.match(code)
    return m.group(2) if m else ""


def status_of(reply: str, default: str = "") -> str:
    """The enhanced status a reply carries ("550 5.4.316 Message expired, ..." -> "5.4.316"), or `default`."""
    parts = reply.split(None, 2)
    if len(parts) >= 2 and _CODE.match(parts[1]):
        return parts[1]
    return default


def lookup(code: str) -> Entry:
    """The entry for a code written as "450 4.4.316", "4.4.316", "5.4.316" or "other"; KeyError otherwise."""
    text = code.strip()
    if text.lower() == OTHER:
        return CATALOGUE[OTHER]
    m = _CODE.match(text)
    if m:
        detail = m.group(2).split(".", 1)[1]
        for entry in CATALOGUE.values():
            if entry.enhanced and entry.enhanced.split(".", 1)[1] == detail:
                return entry
    raise KeyError(code)


def expiry_reply(last_code: str | None, detail: str | None = None, last_reply: str | None = None,
                 preset: str = "exchange-online") -> str:
    """The NDR reply for a message whose lifetime ran out (SPEC 1.2, 2026-12).

    After a connection-level deferral (`last_code` in the catalogue) it names the reason and the last error's
    detail: "550 5.4.316 Message expired, connection refused(Socket error code 10061 ...)". Otherwise it
    carries the last reply the destination gave: "550 5.4.300 Message expired -> 451 4.7.500 Server busy"
    (just "550 5.4.300 Message expired" with none on record). The exchange-server preset writes Exchange
    Server's "550 4.4.7 QUEUE.Expired; message expired" whatever the reason.
    """
    if preset in EXCHANGE_SERVER_PRESETS:
        return EXPIRED_EXCHANGE_SERVER
    if last_code and last_code in CATALOGUE and last_code != OTHER:
        entry = CATALOGUE[last_code]
        reason = f"{entry.expiry_code} Message expired, {entry.title.lower()}"
        return f"{reason}({_one_line(detail)})" if detail else reason
    return f"{EXPIRED_NO_REASON} -> {_one_line(last_reply)}" if last_reply else EXPIRED_NO_REASON


def _one_line(text: str) -> str:
    return " ".join(text.split())


def deferral_text(code: str, detail: str, server: str | None, ip: str | None, port: int = 25) -> str:
    """The `last_error` text in the service's format:
    `450 4.4.316 Connection refused [Message=...] [LastAttemptedServerName=...] [LastAttemptedIP=ip:port]`."""
    title = CATALOGUE[code].title if code in CATALOGUE and code != OTHER else "Remote server returned an error"
    head = f"{code} {title}"
    parts = [head, f"[Message={detail}]"]
    if server:
        parts.append(f"[LastAttemptedServerName={server}]")
    if ip:
        parts.append(f"[LastAttemptedIP={ip}:{port}]")
    return " ".join(parts)


def explain_text(entry: Entry) -> str:
    """The catalogue entry as `mfi-sim explain` prints it."""
    def items(values: tuple[str, ...]) -> list[str]:
        return [textwrap.fill(v, 96, initial_indent="    - ", subsequent_indent="      ") for v in values]

    head = entry.code if entry.code != OTHER else "Other codes (the destination's own reply)"
    lines = [f"{head}  {entry.title}" if entry.code != OTHER else head,
             textwrap.fill(entry.summary, 96, initial_indent="  ", subsequent_indent="  "),
             f"  Seen at: {entry.detected_when}", "  Likely causes:", *items(entry.causes), "  How to fix:",
             *items(entry.fixes),
             "  Fix now: offered in the alert" if entry.fix_now else "  Fix now: not offered for this code",
             f"  When a message expires after this error: NDR {expiry_reply(entry.code)}"
             if entry.code != OTHER else
             f"  When a message expires after this error: NDR {expiry_reply(None, last_reply='<its last reply>')} "
             f"({EXPIRED_EXCHANGE_SERVER} under the exchange-server preset); a 5xx reply NDRs the message at once",
             ""]
    return "\n".join(lines) + "\n"
