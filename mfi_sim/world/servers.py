"""Destination SMTP servers as the simulation sees them: configuration plus what admin actions change."""
from __future__ import annotations

from dataclasses import dataclass, replace

from ..scenario.schema import Certificate, Server


@dataclass(slots=True)
class ServerState:
    """One destination server; `certificate` changes when an admin renews it."""

    config: Server
    certificate: Certificate | None

    @property
    def address(self) -> str:
        return self.config.address

    def renew(self, not_after: float, names: tuple[str, ...] | None, now: float) -> None:
        """Installs a new, trusted certificate valid from `now` until `not_after`."""
        old = self.certificate
        self.certificate = Certificate(names=names or (old.names if old else (self.config.hostname,)),
                                       not_before=min(now, old.not_before) if old else now,
                                       not_after=not_after, trusted=True)

    def reply_for(self, stage: str) -> str | None:
        """The error reply this server always gives at `stage`, if it is configured to."""
        for s, reply in self.config.replies:
            if s == stage:
                return reply
        return None


def build_servers(servers: tuple[Server, ...]) -> dict[tuple[str, int], ServerState]:
    """Server states keyed by (address, port)."""
    return {(s.address, s.port): ServerState(s, replace(s.certificate) if s.certificate else None)
            for s in servers}
