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
from collections.abc import Sequence
from enum import Enum

__all__ = ["Shape", "bind_group", "fill_accept_queue", "BIND_ATTEMPTS"]

#: High ports tried before giving up on finding one free on every address of a group.
BIND_ATTEMPTS = 64
_FILL_TIMEOUT = 0.1
_MAX_FILLERS = 16


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
    """Connects to a backlog-0 listener until a connect goes unanswered; the returned connections hold its
    accept queue full, so the kernel drops every further SYN. Close them to free the queue."""
    target = listener.getsockname()
    fillers: list[socket.socket] = []
    for _ in range(_MAX_FILLERS):
        client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        client.settimeout(_FILL_TIMEOUT)
        try:
            client.connect(target)
        except (TimeoutError, OSError):
            client.close()
            return fillers
        fillers.append(client)
    for client in fillers:
        with contextlib.suppress(OSError):
            client.close()
    raise OSError(f"the accept queue of {target[0]}:{target[1]} does not fill up: SYNs would be answered")
