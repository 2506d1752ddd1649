"""The lab's lifecycle: bind every socket, make the certificates, serve SMTP and DNS on an event loop in a
background thread, and take it all down again (aiosmtpd's Controller pattern, for a whole world)."""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import shutil
import socket
import ssl
import tempfile
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..world.servers import ServerState
from .addresses import DNS_ADDRESS, loopback_map, world_addresses
from .certificates import LabAuthorities, certificate_spec
from .dns_answers import LabDns
from .dns_server import DnsTcp, DnsUdp
from .policy import CertificateChoice, Endpoint, endpoint_kind, silent_endpoint
from .smtp_server import SmtpEndpoint
from .sockets import Shape, bind_group, fill_accept_queue
from .world_at import WorldAtT

__all__ = ["Lab", "LabMap", "Place", "DNS_PORT", "START_TIMEOUT"]

#: The DNS port a lab asks for first (RFC 1035 section 4.2).
DNS_PORT = 53
#: Seconds the lab's servers get to start listening before starting counts as failed.
START_TIMEOUT = 30.0
_SHAPE = {Endpoint.LISTENING: Shape.LISTEN, Endpoint.REFUSED: Shape.REFUSED, Endpoint.SILENT: Shape.SILENT}
_CA_FILE = "mfi-sim-lab-ca.pem"


@dataclass(frozen=True, slots=True)
class Place:
    """One scenario address and port and where it lives in the lab; `server` is None where nothing serves."""

    scenario_address: str
    scenario_port: int
    address: str
    port: int
    endpoint: Endpoint
    server: ServerState | None


@dataclass(frozen=True, slots=True)
class LabMap:
    """What a running lab offers: its DNS server, every place, and the CA file clients should trust."""

    at: float
    dns: tuple[str, int]
    places: tuple[Place, ...]
    ca_file: Path

    def place(self, scenario_address: str, scenario_port: int = 25) -> Place:
        """The lab place of a scenario address and port; KeyError if the lab has none."""
        for p in self.places:
            if (p.scenario_address, p.scenario_port) == (scenario_address, scenario_port):
                return p
        raise KeyError(f"{scenario_address}:{scenario_port}")


class Lab:
    """The world at T served for real on loopback. `start()` returns once everything listens; `stop()` (or
    leaving the `with` block) closes every socket and removes the CA file."""

    def __init__(self, world: WorldAtT, *, now: datetime | None = None, dns_port: int = DNS_PORT,
                 seed: int | None = None) -> None:
        self.world = world
        self.now = now
        self.dns_port = dns_port
        self.seed = world.scenario.seed if seed is None else seed
        self.map: LabMap | None = None
        self._sockets: list[socket.socket] = []
        self._endpoints: list[SmtpEndpoint] = []
        self._dns_tcp: DnsTcp | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._transports: list[asyncio.BaseTransport] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._tmp: Path | None = None

    def __enter__(self) -> Lab:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------------------------------ start
    def start(self) -> LabMap:
        """Binds, listens and serves; returns the map of the running lab."""
        # aiosmtpd logs each odd client line and failed handshake: in a lab those are the lesson, not news.
        logging.getLogger("mail.log").addHandler(logging.NullHandler())
        logging.getLogger("mail.log").propagate = False
        try:
            places, smtp = self._bind_places()
            dns_udp, dns_tcp = self._bind_dns()
            self._tmp = Path(tempfile.mkdtemp(prefix="mfi-sim-lab-"))
            authorities = LabAuthorities()
            ca_file = self._tmp / _CA_FILE
            authorities.write_ca_file(ca_file)
            contexts = {(p.address, p.port): self._contexts(p.server, authorities) for p in places
                        if p.server is not None}
            self._start_loop()
            self._call(self._serve(places, smtp, contexts, dns_udp, dns_tcp))
        except BaseException:
            self.stop()
            raise
        self.map = LabMap(self.world.at, dns_udp.getsockname(), tuple(places), ca_file)
        return self.map

    def _bind_places(self) -> tuple[list[Place], dict[tuple[str, int], socket.socket]]:
        """Binds every place, grouped by scenario port; fills the accept queues of silent ones."""
        servers = {(s.address, s.config.port): s for s in self.world.servers()}
        loopback = loopback_map(world_addresses(self.world))
        ports = sorted({p for _, p in servers} | {q.spec.port for q in self.world.engine.queues})
        places: list[Place] = []
        smtp: dict[tuple[str, int], socket.socket] = {}
        for port in ports:
            wanted = [(a, servers.get((a, port))) for a in loopback]
            kinds = [endpoint_kind(self.world.faults_on(a)) if s is not None else silent_endpoint()
                     for a, s in wanted]
            real_port, socks = bind_group([(loopback[a], _SHAPE[k]) for (a, _), k in zip(wanted, kinds)], port)
            self._sockets.extend(socks)
            for (address, server), kind, sock in zip(wanted, kinds, socks):
                place = Place(address, port, loopback[address], real_port, kind, server)
                places.append(place)
                if kind is Endpoint.SILENT:
                    self._sockets.extend(fill_accept_queue(sock))
                elif kind is Endpoint.LISTENING:
                    smtp[(place.address, place.port)] = sock
        return places, smtp

    def _bind_dns(self) -> tuple[socket.socket, socket.socket]:
        _, (udp, tcp) = bind_group([(DNS_ADDRESS, Shape.UDP), (DNS_ADDRESS, Shape.LISTEN)], self.dns_port)
        self._sockets.extend((udp, tcp))
        return udp, tcp

    def _contexts(self, server: ServerState | None, authorities: LabAuthorities
                  ) -> dict[CertificateChoice, ssl.SSLContext]:
        """A TLS context per certificate the server may present at T (the normal one, and one per fault)."""
        if server is None or not server.config.starttls:
            return {}
        now = self.now or datetime.now(timezone.utc)
        out: dict[CertificateChoice, ssl.SSLContext] = {}
        faults = {f.kind: f for f in self.world.faults_on(server.address)}
        for choice in CertificateChoice:
            if choice is not CertificateChoice.NORMAL and choice.value not in faults:
                continue
            if choice is CertificateChoice.BROKEN:
                out[choice] = authorities.server_context(None)
                continue
            fault = faults.get(choice.value)
            start = self.world.fault_start(fault) if fault is not None else None
            out[choice] = authorities.server_context(certificate_spec(server, choice, self.world.at, now, start))
        return out

    # ------------------------------------------------------------------------------------------ serving
    def _start_loop(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="mfi-sim-lab", daemon=True)
        self._thread.start()

    def _call(self, coro: Coroutine[Any, Any, None]) -> None:
        """Runs `coro` on the lab's loop and waits for it (bounded)."""
        assert self._loop is not None
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(START_TIMEOUT)

    async def _serve(self, places: list[Place], smtp: dict[tuple[str, int], socket.socket],
                     contexts: dict[tuple[str, int], dict[CertificateChoice, ssl.SSLContext]],
                     dns_udp: socket.socket,
                     dns_tcp: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        rng = random.Random(f"mfi-sim-lab:{self.seed}")
        for place in places:
            sock = smtp.get((place.address, place.port))
            if sock is None or place.server is None:
                continue
            endpoint = SmtpEndpoint(place.server, self.world.faults_on(place.scenario_address),
                                    contexts[(place.address, place.port)], rng, loop)
            self._endpoints.append(endpoint)
            self._servers.append(await loop.create_server(endpoint, sock=sock))
        answers = LabDns(self.world, {p.scenario_address: p.address for p in places}, rng)
        transport, _ = await loop.create_datagram_endpoint(lambda: DnsUdp(answers), sock=dns_udp)
        self._transports.append(transport)
        self._dns_tcp = DnsTcp(answers)
        await self._dns_tcp.start(dns_tcp)

    # ------------------------------------------------------------------------------------------ stop
    def stop(self) -> None:
        """Closes every server, session and socket, stops the loop, removes the CA file. Safe to repeat."""
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None and thread.is_alive():
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(START_TIMEOUT)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(START_TIMEOUT)
        if loop is not None and not loop.is_running():
            loop.close()
        self._loop = self._thread = None
        for sock in self._sockets:
            sock.close()
        self._sockets.clear()
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None

    async def _shutdown(self) -> None:
        for server in self._servers:
            server.close()
        for endpoint in self._endpoints:
            endpoint.close_sessions()
        if self._dns_tcp is not None:
            self._dns_tcp.close()
        for transport in self._transports:
            transport.close()
        for server in self._servers:
            await server.wait_closed()
        await asyncio.sleep(0)   # let the aborted sessions run their connection_lost
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._servers.clear()
        self._endpoints.clear()
        self._transports.clear()
