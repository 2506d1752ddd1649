"""A lab SMTP server on aiosmtpd: the protocol is aiosmtpd's, the policy (a per-connection `SessionPlan`) sits
in the handler hooks, and the greeting-stage behaviours (421, another reply, a cut before the greeting, too
many sessions) are a small protocol of their own, picked when the connection arrives."""
from __future__ import annotations

import asyncio
import random
import ssl
from collections.abc import Sequence
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from ..scenario.schema import Fault
from ..world.servers import ServerState
from .policy import CLOSE, TOO_BUSY, CertificateChoice, SessionPlan, plan_session

__all__ = ["GREETING_TEXT", "SmtpEndpoint", "LabHandler", "GreetingOnly"]

#: What follows the host name in the 220 greeting (RFC 5321 section 4.2: free text).
GREETING_TEXT = "ESMTP mfi-sim lab"
_OK = {"mail": "250 2.1.0 Sender OK", "rcpt": "250 2.1.5 Recipient OK", "data": "250 2.6.0 Queued mail for delivery"}


class GreetingOnly(asyncio.Protocol):
    """A connection that ends at the greeting: `reply` (421, 554 ...) and a close, or a close alone."""

    def __init__(self, reply: str | None) -> None:
        self.reply = reply

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if self.reply is not None:
            transport.write(self.reply.encode("ascii", "replace") + b"\r\n")
        transport.close()


class LabHandler:
    """aiosmtpd hooks that play one connection's plan: a reply or a cut at EHLO, MAIL, RCPT or DATA."""

    def __init__(self, plan: SessionPlan) -> None:
        self.plan = plan
        self.delivered = 0

    async def handle_EHLO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str,
                          responses: list[str]) -> list[str]:
        if self.plan.ehlo == CLOSE:
            _cut(server)
            return []
        if self.plan.ehlo is not None:
            return [self.plan.ehlo]
        session.host_name = hostname
        return [r for r in responses if not r[4:].startswith("AUTH")]   # the lab offers no AUTH

    async def handle_HELO(self, server: SMTP, session: Session, envelope: Envelope, hostname: str) -> str:
        if self.plan.ehlo == CLOSE:
            _cut(server)
            return ""
        if self.plan.ehlo is not None:
            return self.plan.ehlo
        session.host_name = hostname
        return f"250 {server.hostname}"

    async def handle_MAIL(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.plan.mail is not None:
            return self._reply(server, self.plan.mail)
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return _OK["mail"]

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str,
                          options: list[str]) -> str:
        if self.plan.rcpt is not None:
            return self._reply(server, self.plan.rcpt)
        envelope.rcpt_tos.append(address)
        return _OK["rcpt"]

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.plan.data is not None:
            return self._reply(server, self.plan.data)
        self.delivered += 1    # accepted and dropped: the lab keeps no mail
        return _OK["data"]

    async def handle_exception(self, error: Exception) -> str:
        """A failed TLS handshake or a vanished client is the lab working as planned: no traceback."""
        return "421 4.3.0 Closing connection"

    @staticmethod
    def _reply(server: SMTP, reply: str) -> str:
        if reply == CLOSE:
            _cut(server)
            return ""
        return reply


def _cut(server: SMTP) -> None:
    """Closes the connection where it stands, without a reply (what the client sees as an abrupt close)."""
    if server.transport is not None:
        server.transport.close()


class _LabSMTP(SMTP):
    """aiosmtpd's protocol, telling its endpoint when a session starts and ends (for the concurrency count,
    and so that stopping the lab can close the sessions still open)."""

    def __init__(self, handler: LabHandler, endpoint: SmtpEndpoint, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._plan = handler.plan
        self._endpoint: SmtpEndpoint | None = endpoint
        self._socket_transport: asyncio.BaseTransport | None = None

    async def smtp_STARTTLS(self, arg: str) -> None:
        """STARTTLS (RFC 3207 section 4): refused with the plan's reply if it has one, else aiosmtpd's own."""
        if self._plan.starttls_reply is not None and self.tls_context is not None and not arg:
            await self.push(self._plan.starttls_reply)
            return
        await super().smtp_STARTTLS(arg)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self._socket_transport is None:   # the second call, after STARTTLS, carries the TLS transport
            self._socket_transport = transport
            if self._endpoint is not None:
                self._endpoint.live.add(transport)
        super().connection_made(transport)

    def connection_lost(self, error: Exception | None) -> None:
        super().connection_lost(error)
        if self._endpoint is not None:   # after STARTTLS aiosmtpd may report the loss twice
            endpoint, self._endpoint = self._endpoint, None
            endpoint.ended(self._socket_transport)


class SmtpEndpoint:
    """One lab server: called per arriving connection, it draws that connection's plan and returns the
    protocol that plays it. More sessions than the server's concurrency are turned away with a 421."""

    def __init__(self, server: ServerState, faults: Sequence[Fault],
                 contexts: dict[CertificateChoice, ssl.SSLContext], rng: random.Random,
                 loop: asyncio.AbstractEventLoop) -> None:
        self.server = server
        self.faults = tuple(faults)
        self.contexts = contexts
        self.rng = rng
        self.loop = loop
        self.active = 0
        self.connections = 0
        self.live: set[asyncio.BaseTransport] = set()

    def __call__(self) -> asyncio.BaseProtocol:
        self.connections += 1
        if self.active >= self.server.config.concurrency:
            return GreetingOnly(TOO_BUSY)
        plan = plan_session(self.server, self.faults, self.rng)
        if plan.banner is not None:
            return GreetingOnly(None if plan.banner == CLOSE else plan.banner)
        self.active += 1
        context = self.contexts[plan.certificate] if plan.starttls else None
        return _LabSMTP(LabHandler(plan), self, hostname=self.server.config.hostname,
                        ident=GREETING_TEXT, tls_context=context, loop=self.loop, timeout=300)

    def ended(self, transport: asyncio.BaseTransport | None) -> None:
        """A session is over: one fewer counts against the concurrency."""
        self.active -= 1
        if transport is not None:
            self.live.discard(transport)

    def close_sessions(self) -> None:
        """Cuts every session still open (the lab is stopping)."""
        for transport in list(self.live):
            if isinstance(transport, asyncio.Transport):
                transport.abort()
            else:
                transport.close()
