"""The engine played step by step (start, advance, act) gives exactly what a batch run gives: the same counts,
alerts, timeline and message-trace events, whatever the steps, with actions taken at the instants where a batch
run has them in [[actions]]."""
from __future__ import annotations

import dataclasses
from typing import Any

from mfi_sim import loads_scenario
from mfi_sim.engine import Engine, Result
from mfi_sim.output.json_result import result_dict
from mfi_sim.scenario.files import resolve_path
from mfi_sim.scenario.schema import Action, Scenario

from helpers import scenario_text

OUT = "To on-premises"
REFUSED = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'


class Events:
    """A TraceSink keeping every message-trace event."""

    def __init__(self) -> None:
        self.rows: list[tuple[Any, ...]] = []

    def emit(self, t: float, event: str, connector: int, number: int, rcpt: int, detail: str, status: str,
             dest: tuple[str, str] | None = None) -> None:
        self.rows.append((t, connector, number, rcpt, event, detail, status))

    def flush(self, watermark: float) -> None:
        pass


def fingerprint(result: Result, events: Events) -> dict[str, Any]:
    doc = result_dict(result)
    return {"json": doc, "timeline": [(e.t, e.kind, e.connector, e.text) for e in result.timeline],
            "snapshots": result.snapshots, "events": sorted(events.rows)}


def batch(scenario: Scenario) -> dict[str, Any]:
    events = Events()
    return fingerprint(Engine(scenario, trace=events).run(), events)


def stepped(scenario: Scenario, steps: list[float | Action]) -> tuple[dict[str, Any], Engine]:
    """Plays `scenario` through `steps`: a number advances the clock to it, an Action is taken then."""
    events = Events()
    engine = Engine(scenario, trace=events)
    engine.start()
    for step in steps:
        if isinstance(step, Action):
            assert engine.act(step) is None, engine.refusal(step)
        else:
            engine.advance(step)
            engine.view()   # looking at the state must not change anything
    engine.advance(scenario.duration)
    assert engine.result is not None
    return fingerprint(engine.result, events), engine


def refused_scenario() -> Scenario:
    return loads_scenario(scenario_text(faults=REFUSED, duration="8h"))


def test_irregular_steps_give_the_batch_run() -> None:
    """Stopping at evaluation instants, between them and at odd fractions of a second changes nothing."""
    sc = refused_scenario()
    steps: list[float | Action] = [1.5, 300.0, 3599.999, 3600.0, 3600.25, 7000.0, 7200.0, 7213.7, 10000.0]
    assert stepped(sc, steps)[0] == batch(sc)


def test_actions_taken_step_by_step_equal_actions_in_the_file() -> None:
    """Fix now at 2h10m (an evaluation instant), then the connector off and on at odd instants: the same as
    a batch run with those [[actions]]."""
    sc = refused_scenario()
    fix = Action(at=0.0, do="fix_now", connector=OUT)
    off = Action(at=0.0, do="disable_connector", connector=OUT)
    on = Action(at=0.0, do="enable_connector", connector=OUT)
    live, engine = stepped(sc, [3000.0, 7800.0, fix, 9000.0, off, off, 10001.25, on, 20000.0])
    assert [a.at for a in engine.taken] == [7800.0, 9000.0, 9000.0, 10001.25]
    assert live == batch(dataclasses.replace(sc, actions=tuple(engine.taken)))
    assert any(e.kind == "action" and "Fix now" in e.text for e in engine.recorder.timeline)


def test_bundled_scenario_with_its_own_actions_and_more() -> None:
    """connection-refused keeps its own Fix now at 5h; a trainee's actions at 5h itself come after it."""
    sc = loads_scenario(resolve_path("connection-refused").read_text(), "connection-refused")
    off = Action(at=0.0, do="disable_connector", connector="To on-premises")
    on = Action(at=0.0, do="enable_connector", connector="To on-premises")
    live, engine = stepped(sc, [7200.0, 18000.0, off, 18000.0, on, 30000.0])
    assert live == batch(dataclasses.replace(sc, actions=sc.actions + tuple(engine.taken)))


def test_refused_action_changes_nothing() -> None:
    """Fix now before any insight offers it is refused with a reason and recorded as refused, as the same
    [[actions]] entry would be; unknown names and a finished run are refused and not taken at all."""
    sc = refused_scenario()
    engine = Engine(sc)
    engine.start()
    engine.advance(1800.0)
    reason = engine.act(Action(at=0.0, do="fix_now", connector=OUT))
    assert reason is not None and "Fix now is not offered" in reason
    assert engine.act(Action(at=0.0, do="disable_connector", connector="Nope")) == "no connector is called 'Nope'"
    assert "no fault number 3" in (engine.act(Action(at=0.0, do="clear_fault", fault=3)) or "")
    assert "no server" in (engine.act(Action(at=0.0, do="renew_certificate", target="192.0.2.1")) or "")
    assert [(a.do, a.at) for a in engine.taken] == [("fix_now", 1800.0)]
    engine.advance(sc.duration)
    live = result_dict(engine.result)  # type: ignore[arg-type]
    assert [(a["do"], a["status"], a["reason"]) for a in live["actions"]] == [("fix_now", "refused", reason)]
    assert live == result_dict(Engine(dataclasses.replace(sc, actions=tuple(engine.taken))).run())
    without = result_dict(Engine(sc).run())
    assert {**live, "actions": []} == without      # nothing else changed
    assert engine.act(Action(at=0.0, do="disable_connector", connector=OUT)) == "the scenario has ended"


def test_next_event_time_and_view() -> None:
    """The next scheduled instant is the next evaluation (or fault edge); the view reports the counts so far."""
    sc = refused_scenario()
    engine = Engine(sc)
    engine.start()
    engine.advance(0.0)
    assert engine.next_event_time() == 300.0
    engine.advance(3500.0)
    assert engine.next_event_time() == 3600.0
    doc = result_dict(engine.view())
    assert doc["duration_s"] == 3500.0 and 0 < doc["summary"]["received"] < 700
    assert doc["summary"]["received"] == sum(doc["summary"][k] for k in ("delivered", "ndr", "rejected",
                                                                          "queued_at_end"))
    engine.advance(sc.duration + 1)
    assert engine.ended and engine.next_event_time() is None


def test_set_tls_changes_what_new_connections_check() -> None:
    """A connector that requires a name its destination's certificate does not carry stays in Retry; setting
    its TLS to CertificateValidation (the same way in a file or step by step) lets the queue drain."""
    connector = 'tls = "DomainValidation"\ntls_domain = "other.contoso.com"'
    sc = loads_scenario(scenario_text(connector=connector, server="starttls = true", duration="3h"))
    stuck = Engine(sc).run()
    assert stuck.connectors[0].status == "Retry" and stuck.connectors[0].delivered == 0
    change = Action(at=0.0, do="set_tls", connector=OUT, tls="CertificateValidation")
    live, engine = stepped(sc, [3600.0, change])
    assert live == batch(dataclasses.replace(sc, actions=tuple(engine.taken)))
    assert live["json"]["summary"]["queued_at_end"] < 5 and live["json"]["summary"]["delivered"] > 1000
    assert any("TLS setting of 'To on-premises' to CertificateValidation" in e[3] for e in live["timeline"])


def test_set_tls_in_a_file_is_checked_by_the_loader() -> None:
    import pytest

    from mfi_sim.errors import ScenarioError

    base = scenario_text()
    for table, words in (('do = "set_tls"\nconnector = "To on-premises"', "tls: required field is missing"),
                         ('do = "set_tls"\nconnector = "To on-premises"\ntls = "Strict"', "tls: must be one of"),
                         ('do = "set_tls"\nconnector = "To on-premises"\ntls = "DomainValidation"',
                          "DomainValidation needs tls_domain")):
        with pytest.raises(ScenarioError, match=words):
            loads_scenario(base + f'\n[[actions]]\nat = "1h"\n{table}\n')
    sc = loads_scenario(base + '\n[[actions]]\nat = "1h"\ndo = "set_tls"\nconnector = "To on-premises"\n'
                               'tls = "DomainValidation"\ntls_domain = "Mail.Contoso.com."\n')
    assert sc.actions[0].tls == "DomainValidation" and sc.actions[0].tls_domain == "mail.contoso.com"
