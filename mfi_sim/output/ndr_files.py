"""`--ndr-dir`: every non-delivery report and delay notice as an RFC 3464 .eml file."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

from .. import dsn
from ..attempt import SERVICE_HOSTNAME
from ..messages import MessageStore, message_id, recipient, sender
from ..records import NdrRecord
from ..scenario.schema import Scenario
from .atomic import OutputSet
from .ordered_sink import connector_streams

__all__ = ["NdrDirectory", "REPORTING_MTA"]

#: The host name the simulated service reports itself as (Reporting-MTA).
REPORTING_MTA = SERVICE_HOSTNAME


class NdrDirectory:
    """Receives NdrRecords from the queues and writes each as `<message>-ndr-N.eml` / `-delay-N.eml`, into
    a staged directory of `outputs` that becomes `directory` when the run's outputs are committed (so a run
    that stops early leaves no partial folder)."""

    def __init__(self, directory: str | Path, scenario: Scenario, outputs: OutputSet) -> None:
        self.target = Path(directory)
        self.directory = outputs.directory(directory)
        self.scenario = scenario
        self.streams = connector_streams(scenario)
        self.stores: Sequence[MessageStore] = ()
        self.written = 0

    def attach(self, stores: Sequence[MessageStore]) -> None:
        """The connectors' message stores (arrival, stream, unknown recipients), given by the engine."""
        self.stores = stores

    def __call__(self, rec: NdrRecord) -> None:
        sc = self.scenario
        store = self.stores[rec.connector]
        tenant = sc.tenant.domain
        stream = self.streams[rec.connector][store.stream[rec.number]]
        invalid = store.invalid[rec.number]

        def addr(i: int) -> str:
            return recipient(rec.connector, rec.number, i, i < invalid, stream.to)

        def when(t: float | None):  # type: ignore[no-untyped-def]
            return sc.start + timedelta(seconds=t) if t is not None else None

        mid = message_id(rec.connector, rec.number, tenant)
        original = dsn.OriginalMessage(
            message_id=mid, sender=sender(rec.number, tenant),
            recipients=tuple(addr(i) for i in range(stream.recipients_per_message)),
            subject=f"Message {rec.number} for {stream.to}", date=when(store.arrival[rec.number]),
            size=stream.message_size)
        action = "delayed" if rec.delayed else "failed"
        rcpts = [dsn.RecipientStatus(address=addr(i), action=action, status=status, diagnostic=reply,
                                     remote_mta=rec.remote, last_attempt=when(rec.last_attempt),
                                     will_retry_until=when(rec.retry_until) if rec.delayed else None)
                 for i, status, reply in (_still_delayed(rec.recipients) if rec.delayed else rec.recipients)]
        self.written += 1
        kind = "delay" if rec.delayed else "ndr"
        dsn_id = f"<{kind}-{rec.connector:02d}{rec.number:09d}-{self.written}@{REPORTING_MTA}>"
        if rec.delayed:
            msg = dsn.build_delay_notice(original, rcpts, reporting_mta=REPORTING_MTA, created=when(rec.t),
                                         dsn_message_id=dsn_id, postmaster=f"postmaster@{tenant}")
        else:
            attempts = [dsn.AttemptLine(when(t), server, reply) for t, server, reply in rec.attempts]
            msg = dsn.build_ndr(original, rcpts, reporting_mta=REPORTING_MTA, created=when(rec.t),
                                dsn_message_id=dsn_id, postmaster=f"postmaster@{tenant}", attempts=attempts)
        name = f"{rec.connector:02d}-{rec.number:09d}-{kind}-{self.written}.eml"
        path = self.directory / name
        try:
            path.write_bytes(dsn.to_bytes(msg))     # inside the staged directory: no rename per file
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.target / name)) from None


def _still_delayed(recipients: tuple[tuple[int, str, str], ...]) -> list[tuple[int, str, str]]:
    """A delay notice's recipients with a status that fits "delayed" (RFC 3463 class 4): the queue's last
    error may be another recipient's permanent one (550 5.1.10), which says nothing of these."""
    return [(i, status, reply) if status.startswith("4.") else (i, "4.4.7", "Delivery has been delayed")
            for i, status, reply in recipients]
