"""`mfi-sim explain`: what any code the tool prints means.

Four kinds of code appear in a run's output: the deferral codes of the mail-flow-intelligence catalogue
(`450 4.4.316`, in codes.py), the NDR statuses those turn into when a message expires (`550 5.4.316`), the NDRs
the service writes for its own reasons (`550 5.1.10` for an unknown recipient, `554 5.4.14` for a mail loop,
`550 5.4.300` for an expiry with no connection-level reason, `550 4.4.7` for any expiry under the exchange-server
preset), and the destination's own replies (a partner's
`451 4.7.500`), which the insight shows as "other" and which are explained from their parts (RFC 3463).
"""
from __future__ import annotations

import textwrap
from dataclasses import dataclass

from . import codes, enhanced_status

__all__ = ["explain", "explain_all", "ServiceNdr", "SERVICE_NDRS", "known_codes"]


@dataclass(frozen=True, slots=True)
class ServiceNdr:
    """An NDR the service writes for a reason of its own (not the expiry of a catalogue deferral)."""

    reply: str
    title: str
    summary: str
    causes: tuple[str, ...]
    fixes: tuple[str, ...]

    @property
    def status(self) -> str:
        return codes.status_of(self.reply)


SERVICE_NDRS: dict[str, ServiceNdr] = {n.status: n for n in (
    ServiceNdr(
        codes.RECIPIENT_NOT_FOUND, "Recipient not found",
        "The recipient's address does not exist where the mail was going, so the message comes back at once.",
        ("The address is mistyped, or the mailbox was removed.",
         "Fix now took effect (or the domain was made Authoritative): the service itself now answers for the "
         "domain, and an address without a cloud mailbox does not exist for it.",
         "The connector was turned off and the domain is Authoritative, so mail for it is no longer relayed."),
        ("Check the address; if the mailbox should exist, create it or correct the routing.",
         "Before Fix now or switching the domain to Authoritative, make sure every recipient has a cloud mailbox "
         "or a mail contact.")),
    ServiceNdr(
        codes.MAIL_LOOP, "Mail loop",
        "The message came back to the service that sent it: the route for the domain points at the service itself.",
        ("The connector to the on-premises servers was turned off, so mail took the domain's MX, and the MX "
         "points at the service (the usual setup once mail flows through it).",),
        ("Turn the connector back on, or give the domain a route that leaves the service (a connector with smart "
         "hosts, or an accepted domain that is Authoritative if every mailbox is in the cloud).",)),
    ServiceNdr(
        codes.EXPIRED_NO_REASON + " -> <the last reply>", "Message expired",
        "The message waited its whole lifetime in the queue with no connection-level failure in force; the NDR "
        "ends with the last reply on record after '->'.",
        ("The destination kept deferring the message with replies of its own (a 4xx to MAIL, RCPT or DATA).",
         "The connector was suspended or turned off, so the message was never tried."),
        ("Read the reply after '->': it names the destination's reason. Fix that, and ask senders to send again.",)),
    ServiceNdr(
        codes.EXPIRED_EXCHANGE_SERVER, "Message expired (Exchange Server)",
        "Exchange Server's wording for a message whose lifetime ran out in a queue, whatever the reason (the "
        "exchange-server retry preset writes it).",
        ("The queue could not deliver the message before its expiration time; Get-Queue and the message's "
         "last error say why.",),
        ("Fix what kept the queue from delivering, then ask senders to send again.",)),
)}


def _expired(status: str) -> codes.Entry | None:
    """The catalogue entry whose expiry NDR has this status (5.4.316 -> 450 4.4.316), or None."""
    for entry in codes.CATALOGUE.values():
        if entry.code != codes.OTHER and codes.status_of(entry.expiry_code) == status:
            return entry
    return None


def _items(values: tuple[str, ...]) -> list[str]:
    return [textwrap.fill(v, 96, initial_indent="    - ", subsequent_indent="      ") for v in values]


def _service_text(ndr: ServiceNdr) -> str:
    return "\n".join([f"{' '.join(ndr.reply.split()[:2])}  {ndr.title} (an NDR the service writes)",
                      textwrap.fill(ndr.summary, 96, initial_indent="  ", subsequent_indent="  "),
                      f"  The NDR reads: {ndr.reply}",
                      "  Likely causes:", *_items(ndr.causes), "  How to fix:", *_items(ndr.fixes), ""]) + "\n"


def _other_text(code: str) -> str:
    reply = code.split()[0] if code.split()[0].isdigit() and len(code.split()) > 1 else ""
    kind = {"4": "a deferral: the service keeps the message and tries again",
            "5": "a refusal: the message comes back to the sender at once"}.get((reply or code.strip())[0], "")
    head = [f"{code.strip()}  Other: a reply of the destination's own (shown as \"other\" in the insight)",
            f"  {kind}." if kind else "", "  What its status says (RFC 3463):",
            *_items(tuple(enhanced_status.meaning(code)))]
    return "\n".join([h for h in head if h]) + "\n" + codes.explain_text(codes.CATALOGUE[codes.OTHER])


def explain(code: str) -> str:
    """What `code` means, as `mfi-sim explain CODE` prints it; KeyError when it is not a code at all."""
    text = " ".join(code.split())
    if text.lower() == codes.OTHER:
        return codes.explain_text(codes.CATALOGUE[codes.OTHER])
    parts = enhanced_status.parse(text)
    if parts is None or enhanced_status.parse(text.split()[-1]) is None or parts[1] not in enhanced_status.SUBJECTS:
        raise KeyError(code)     # not a status, or one whose subject RFC 3463 does not define
    status = ".".join(parts)
    for entry in codes.CATALOGUE.values():
        if entry.code != codes.OTHER and (text == entry.code or text == entry.enhanced):
            return codes.explain_text(entry)
    if status in SERVICE_NDRS:
        return _service_text(SERVICE_NDRS[status])
    deferral = _expired(status)
    if deferral is not None:
        reply = codes.expiry_reply(deferral.code)
        return (f"{reply}  (an NDR the service writes)\n  The message expired in the queue; the queue's last error "
                f"was {deferral.code} {deferral.title}. That deferral:\n\n" + codes.explain_text(deferral))
    return _other_text(text)


def explain_all() -> str:
    """Every catalogue entry and every NDR the service writes for its own reasons."""
    return "".join([codes.explain_text(e) for e in codes.CATALOGUE.values()]
                   + [_service_text(n) for n in SERVICE_NDRS.values()])


def known_codes() -> list[str]:
    """The codes `explain` has an entry of its own for (for "did you mean" on a mistyped code)."""
    return ([c for c in codes.CATALOGUE if c != codes.OTHER] + [n.reply.split()[0] + " " + s
                                                              for s, n in SERVICE_NDRS.items()])
