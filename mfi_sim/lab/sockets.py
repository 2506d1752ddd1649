"""Sockets a lab binds before it serves: the scenario's port where every address may bind it, else one high
port that every address of the group shares (so one `--port` reaches all of them).

Three TCP shapes make the connect-level behaviours real on loopback (checked on Linux):
- a listening socket (an SMTP server);
- a bound socket that never listens: a SYN to it is answered with a RST (connection refused). It is bound
  without SO_REUSEADDR, so no other program can start listening on that address and port meanwhile;
- a listener with a backlog of zero whose accept queue the lab fills with its own connections and never
  accepts: further SYNs are dropped, unanswered, and the client's connect times out.
"""
from __future__ import annotations

import contextlib
import socket
import struct
import time
from collections.abc import Sequence
from enum import Enum

__all__ = ["Shape", "bind_group", "fill_accept_queue", "BIND_ATTEMPTS"]

#: High ports tried before giving up on finding one free on every address of a group.
BIND_ATTEMPTS = 64
_FILL_TIMEOUT = 0.2
_MAX_FILLERS = 16
_SETTLE_TRIES = 50


class Shape(Enum):
    """What is bound at one address and port."""

    LISTEN = "listen"
    SILENT = "silent"
    REFUSED = "refused"
    UDP = "udp"


def _bind(address: str, port: int, shape: Shape) -> socket.socket:
    kind = socket.SOCK_DGRAM if shape is Shape.UDP else socket.SOCK_STREAM
    sock = socket.socket(socket.AF_INET, kind)
    try:
        if shape in (Shape.LISTEN, Shape.SILENT):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((address, port))
        if shape is Shape.LISTEN:
            sock.listen(128)
        elif shape is Shape.SILENT:
            sock.listen(0)
    except OSError:
        sock.close()
        raise
    return sock


def _bind_all(wants: Sequence[tuple[str, Shape]], port: int) -> list[socket.socket] | None:
    bound: list[socket.socket] = []
    try:
        for address, shape in wants:
            bound.append(_bind(address, port, shape))
            port = port or bound[0].getsockname()[1]
    except OSError:
        for sock in bound:
            sock.close()
        return None
    return bound


def bind_group(wants: Sequence[tuple[str, Shape]], port: int) -> tuple[int, list[socket.socket]]:
    """Binds every (address, shape) on one port, `port` if all may (another program may hold it, or it may
    be privileged), else one high port free on all; returns the port and the sockets in the given order."""
    if not wants:
        return port, []
    if port:
        bound = _bind_all(wants, port)
        if bound is not None:
            return port, bound
    for _ in range(BIND_ATTEMPTS):
        bound = _bind_all(wants, 0)
        if bound is not None:
            return bound[0].getsockname()[1], bound
    raise OSError(f"no port is free on every one of {', '.join(a for a, _ in wants)}")


def fill_accept_queue(listener: socket.socket) -> list[socket.socket]:
    """Connects to a backlog-0 listener until its accept queue is full, so the kernel drops every further SYN;
    the returned connections hold it full (close them to free it). Fullness is read from the listener's
    TCP_INFO on Linux (accept queue length above its limit); elsewhere a connect that goes unanswered
    for a moment shows it."""
    target = listener.getsockname()
    fillers: list[socket.socket] = []
    for _ in range(_MAX_FILLERS):
        if _queue_full(listener):
            return fillers
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.settimeout(_FILL_TIMEOUT)
        try:
            client.connect(target)
        except OSError:   # unanswered (TimeoutError is an OSError): the queue was full already
            client.close()
            return fillers
        fillers.append(client)
    for client in fillers:
        with contextlib.suppress(OSError):
            client.close()
    raise OSError(f"the accept queue of {target[0]}:{target[1]} does not fill up: SYNs would be answered")


def _queue_full(listener: socket.socket) -> bool:
    """Whether a listener's accept queue is over its limit (Linux: TCP_INFO of a listening socket reports the
    queue length as tcpi_unacked and the limit as tcpi_sacked); False where that cannot be read. The final
    ACK of a filler may land a moment after its connect returns, hence the short wait."""
    option = getattr(socket, "TCP_INFO", None)
    if option is None:
        return False
    for _ in range(_SETTLE_TRIES):
        try:
            info = listener.getsockopt(socket.IPPROTO_TCP, option, 32)
        except OSError:
            return False
        if len(info) < 32:
            return False
        queued, limit = struct.unpack_from("=II", info, 24)
        if queued > limit:
            return True
        if queued == 0:
            return False
        time.sleep(0.001)
    return False
