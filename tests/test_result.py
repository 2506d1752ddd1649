"""A Result is frozen records: nothing in it can be assigned, nothing in it is a live object of the engine, and it
stays what it was whatever the engine does afterwards. Outputs get what they need from the engine while it is
built, not from the caller afterwards."""
from __future__ import annotations

import dataclasses
import enum
import gc
import weakref
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest

from mfi_sim import loads_scenario
from mfi_sim.engine import Engine
from mfi_sim.output.atomic import OutputSet
from mfi_sim.output.events import EventWriter
from mfi_sim.output.json_result import result_json
from mfi_sim.output.ndr_files import NdrDirectory
from mfi_sim.output.trace_csv import TraceCsvWriter
from mfi_sim.records import LatencyHistogram, TeeSink
from mfi_sim.result import Result
from mfi_sim.scenario.schema import Scenario
from mfi_sim.summary import ConnectorSummary

from helpers import events_of, scenario_text

OUT = "To on-premises"
#: Refused from 1 h to the end, with 1-hour expiry and unknown recipients: NDRs, alerts, a notification.
TEXT = scenario_text(duration="4h", tenant='message_expiration = "1h"', traffic="invalid_recipient_fraction = 0.2",
                     faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n',
                     actions='[[actions]]\nat = "3h"\ndo = "resolve_alert"\nalert = "insight-1"\n',
                     extra='[alerts]\nthreshold = 200\nqueued_for = "20m"\n')


@pytest.fixture(scope="module")
def finished() -> tuple[Engine, Result]:
    engine = Engine(loads_scenario(TEXT, "t.toml"), observe_at=(7200.0,))
    return engine, engine.run()


def _reachable(value: Any, path: str = "result") -> Iterator[tuple[str, Any]]:
    """Every object a Result holds (not descending into the Scenario, the frozen input it was run from)."""
    yield path, value
    if isinstance(value, Scenario):
        return
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for f in dataclasses.fields(value):
            yield from _reachable(getattr(value, f.name), f"{path}.{f.name}")
    elif isinstance(value, (tuple, frozenset)):
        for i, item in enumerate(value):
            yield from _reachable(item, f"{path}[{i}]")
    elif isinstance(value, MappingProxyType):
        for key, item in value.items():
            yield from _reachable(key, f"{path}<key>")
            yield from _reachable(item, f"{path}[{key!r}]")


def _frozen_dataclass(value: Any) -> bool:
    params = getattr(type(value), "__dataclass_params__", None)
    return params is not None and params.frozen


def test_every_object_in_a_result_is_a_frozen_record(finished: tuple[Engine, Result]) -> None:
    """Walking a Result's fields finds only frozen dataclasses, tuples, read-only mappings, plain values and
    histogram copies: no queue, ledger, store, alert book, recorder, list or dict."""
    _, result = finished
    assert result.alerts and result.notifications and result.connectors and result.tallies and result.observations
    plain = (str, int, float, bool, type(None), datetime, enum.Enum, tuple, frozenset, MappingProxyType, Scenario)
    for path, value in _reachable(result):
        ok = isinstance(value, plain) or _frozen_dataclass(value) or type(value) is LatencyHistogram
        assert ok, f"{path} is a {type(value).__name__}, not a frozen record"


def test_histograms_in_a_result_are_its_own_copies(finished: tuple[Engine, Result]) -> None:
    """The latency histograms a Result holds are no object the engine still holds and adds to."""
    engine, result = finished
    live = {id(h) for q in engine.queues for h in (q.latency, q.counters.times.ndr, q.counters.times.extra_delivered)}
    live |= {id(t.latency) for tallies in engine.tallies.values() for t in tallies} - \
        {id(t.latency) for tallies in result.tallies.values() for t in tallies}   # tallies are copies already
    held = {id(value) for _, value in _reachable(result) if isinstance(value, LatencyHistogram)}
    assert held and not held & live


def test_a_result_and_its_records_cannot_be_assigned(finished: tuple[Engine, Result]) -> None:
    """Assigning to a Result, a connector summary, an alert, a notification or a snapshot raises, and so does
    writing into their mappings."""
    _, result = finished
    summary = result.connectors[0]
    alert = result.alerts[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.duration = 0.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.connectors = ()  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        summary.delivered = 0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        alert.resolved_s = 0.0  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.notifications[0].alert = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.snapshots[0].status = "Ready"  # type: ignore[misc]
    for mapping in (summary.ndr_by_status, summary.codes_seen, summary.failures_by_hour,
                    next(iter(summary.failures_by_hour.values())), alert.history[0][1], result.observations,
                    result.tallies, result.tallies[7200.0][0].ndr_by_status):
        with pytest.raises(TypeError):
            mapping["x"] = 1  # type: ignore[index]


def test_a_finished_result_stays_the_same_whatever_the_engine_does_next(finished: tuple[Engine, Result]) -> None:
    """Changing every live object the engine holds after run() changes nothing in the Result it returned."""
    engine, result = finished
    before = result_json(result)
    summary = result.connectors[0]
    counts = (summary.received, summary.delivered, summary.ndr, dict(summary.ndr_by_status),
              summary.latency.count, summary.queued_ages.count, summary.status)
    q = engine.queues[0]
    q.counters.received += 1000
    q.counters.ndr_by_status["5.4.316"] = -1
    q.latency.add_weighted(5.0, 100)
    q.set_enabled(False)
    engine.recorder.note(1.0, "fault_start", None, "added after the end")
    engine.alerts.alerts[0].code = "changed"
    engine.alerts.alerts[0].history.clear()
    engine.alerts.notifications.clear()
    engine.action_log.clear()
    engine.observations.clear()
    engine.tallies.clear()
    assert result_json(result) == before
    assert (summary.received, summary.delivered, summary.ndr, dict(summary.ndr_by_status), summary.latency.count,
            summary.queued_ages.count, summary.status) == counts
    assert result.alerts[0].history and 7200.0 in result.observations and 7200.0 in result.tallies
    assert [a.status for a in result.actions] == ["refused"]


def test_a_result_keeps_nothing_of_the_engine_alive() -> None:
    """Once the engine is dropped, its queues, recorder and alert book go with it: the Result refers to none of
    them, and still reads the same."""
    engine = Engine(loads_scenario(TEXT, "t.toml"))
    refs = [weakref.ref(x) for x in (engine, engine.queues[0], engine.queues[0].ledger, engine.recorder,
                                      engine.alerts)]
    result = engine.run()
    before = result_json(result)
    del engine
    gc.collect()
    assert [r() for r in refs] == [None] * len(refs)
    assert result_json(result) == before


def test_a_view_taken_mid_run_stays_the_same_while_the_engine_plays_on() -> None:
    """The console's step-by-step engine: a Result viewed at 2 h is the run at 2 h, also after the engine has
    played to the end, and it matches a batch run cut at 2 h."""
    sc = loads_scenario(TEXT, "t.toml")
    engine = Engine(sc)
    engine.start()
    engine.advance(7200.0)
    early = engine.view()
    before = result_json(early)
    engine.advance(sc.duration)
    assert engine.ended
    assert early.duration == 7200.0 and result_json(early) == before
    assert engine.result is not None and early.connectors[0].received < engine.result.connectors[0].received
    assert all(s.t <= 7200.0 for s in early.snapshots) and all(e.t <= 7200.0 for e in early.timeline)


def test_summary_counts_what_the_queue_counted(finished: tuple[Engine, Result]) -> None:
    """A connector summary holds the queue's counts, last error and retry figures at the end of the run."""
    engine, result = finished
    q = engine.queues[0]
    summary = result.connectors[0]
    assert isinstance(summary, ConnectorSummary) and summary.name == OUT and summary.index == 0
    assert summary.received == summary.delivered + summary.ndr + summary.rejected + summary.queued > 0
    assert summary.status == "Retry" and summary.last_error_code == "450 4.4.316"
    assert summary.retry_count == q.retry.failures > 0 and summary.first_retry == q.retry.first_retry
    assert summary.expired > 0 and summary.ndr_by_status["5.4.316"] == summary.expired
    assert summary.queued_ages.count == summary.queued
    assert result.connector(OUT) is summary


def test_outputs_get_the_message_stores_from_the_engine_as_it_is_built(tmp_path: Path) -> None:
    """Trace sinks behind a tee and the NDR directory are handed the stores by the Engine's constructor; nobody
    binds them to the engine's queues afterwards, and what they write names the right recipient domains."""
    sc = loads_scenario(TEXT, "t.toml")
    outputs = OutputSet()
    events = EventWriter(tmp_path / "e.jsonl", sc, outputs=outputs)
    trace = TraceCsvWriter(tmp_path / "t.csv", sc, outputs=outputs)
    ndrs = NdrDirectory(tmp_path / "ndr", sc, outputs)
    engine = Engine(sc, trace=TeeSink([events, trace]), on_ndr=ndrs)
    stores = [q.store for q in engine.queues]
    assert list(events.stores) == list(trace.stores) == list(ndrs.stores) == stores
    assert events.domains == [["contoso.com"]]
    engine.run()
    events.close()
    trace.close()
    outputs.commit()
    rows = events_of(tmp_path / "e.jsonl")
    assert rows and all(r["recipient"].endswith("@contoso.com") for r in rows)
    assert ndrs.written > 0 and len(list((tmp_path / "ndr").iterdir())) == ndrs.written
