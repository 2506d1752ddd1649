"""The lab's DNS server on loopback: UDP (RFC 1035 section 4.2.1) and TCP with two-byte lengths (section
4.2.2), answering with `LabDns`. A query the world leaves unanswered gets silence on both transports."""
from __future__ import annotations

import asyncio
import contextlib
import socket
import struct

import dns.exception
import dns.flags
import dns.message

from .dns_answers import LabDns

__all__ = ["DnsUdp", "DnsTcp", "wire_of"]

#: The largest UDP answer without EDNS (RFC 1035 section 2.3.4).
_CLASSIC_UDP = 512


def wire_of(response: dns.message.Message, limit: int) -> bytes:
    """The response in wire format; one too large for `limit` is sent empty with TC set (RFC 2181 9)."""
    try:
        return response.to_wire(max_size=limit)
    except dns.exception.TooBig:
        for section in (response.answer, response.authority, response.additional):
            section.clear()
        response.flags |= dns.flags.TC
        return response.to_wire()


def _parse(data: bytes) -> dns.message.Message | None:
    try:
        return dns.message.from_wire(data)
    except dns.exception.DNSException:
        return None   # not DNS: dropped, as servers do with garbage


class DnsUdp(asyncio.DatagramProtocol):
    """One UDP socket: each datagram is a query, answered (or not) at once."""

    def __init__(self, answers: LabDns) -> None:
        self.answers = answers
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]  # a datagram endpoint's transport

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        request = _parse(data)
        response = self.answers.answer(request) if request is not None else None
        if response is None or self.transport is None:
            return
        limit = max(request.payload, _CLASSIC_UDP) if request is not None and request.edns >= 0 else _CLASSIC_UDP
        self.transport.sendto(wire_of(response, limit), addr)


class DnsTcp:
    """TCP DNS on a listening socket; remembers its open connections so that stopping can close them."""

    def __init__(self, answers: LabDns) -> None:
        self.answers = answers
        self.clients: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None

    async def start(self, sock: socket.socket) -> None:
        self.server = await asyncio.start_server(self._client, sock=sock)

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients.add(writer)
        try:
            await _dns_tcp_client(self.answers, reader, writer)
        finally:
            self.clients.discard(writer)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        for writer in list(self.clients):
            writer.transport.abort()


async def _dns_tcp_client(answers: LabDns, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            size = struct.unpack("!H", await reader.readexactly(2))[0]
            request = _parse(await reader.readexactly(size))
            response = answers.answer(request) if request is not None else None
            if response is None:
                continue   # silence: the client's own timeout ends it
            wire = wire_of(response, 65535)
            writer.write(struct.pack("!H", len(wire)) + wire)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError, OSError):
            await writer.wait_closed()

