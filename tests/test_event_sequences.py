"""Every recipient's message-trace events tell a possible story (hypothesis over random scenarios).

RECEIVE comes first and once; DEFER and DSN only while the recipient is still pending; then at most one
final event (SEND or DELIVER: delivered, FAIL: failed), after which nothing more happens to it. A recipient's
status never goes back from Delivered (issue 12: a message dropped after DATA on one connection was also sent
on another meanwhile, RECEIVE -> DELIVER -> DEFER).
"""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfi_sim import loads_scenario
from mfi_sim.engine import Engine
from mfi_sim.output.events import EventWriter

from helpers import scenario_text

FINAL = {"SEND", "DELIVER", "FAIL"}
PENDING = {"DEFER", "DSN"}


def sequence_problem(events: list[str]) -> str | None:
    """Why a recipient's event names (in time order) are not a valid sequence; None if they are."""
    if not events or events[0] != "RECEIVE":
        return "does not start with RECEIVE"
    for i, name in enumerate(events[1:], 1):
        if name in FINAL:
            return None if i == len(events) - 1 else f"{events[i + 1]} after {name}"
        if name not in PENDING:
            return f"{name} while pending"
    return None


def test_sequence_problem_spots_the_issue_12_story() -> None:
    """The checker itself: the reported story is invalid, the normal ones are valid."""
    assert sequence_problem(["RECEIVE", "DELIVER", "DEFER"]) == "DEFER after DELIVER"
    assert sequence_problem(["RECEIVE", "SEND", "DEFER"]) == "DEFER after SEND"
    assert sequence_problem(["RECEIVE", "FAIL", "FAIL"]) == "FAIL after FAIL"
    assert sequence_problem(["DEFER"]) == "does not start with RECEIVE"
    assert sequence_problem(["RECEIVE", "DEFER", "DSN", "DEFER", "SEND"]) is None
    assert sequence_problem(["RECEIVE", "DEFER"]) is None


@st.composite
def scenarios(draw: st.DrawFn) -> str:
    """Mostly dropped connections after DATA with a probability, with other faults and actions mixed in."""
    faults = [f'[[faults]]\nkind = "connection_closed"\ntarget = "198.51.100.10"\nstage = "data"\n'
              f'start = "{draw(st.integers(0, 60))}m"\nduration = "{draw(st.integers(10, 240))}m"\n'
              f'probability = {draw(st.sampled_from([0.05, 0.1, 0.3, 1.0]))}\n']
    other = draw(st.sampled_from(["", 'kind = "connection_refused"', 'kind = "connect_timeout"',
                                  'kind = "smtp_reply"\nstage = "rcpt"\nreply = "451 4.7.500 Busy"']))
    if other:
        faults.append(f'[[faults]]\n{other}\ntarget = "198.51.100.10"\nstart = "{draw(st.integers(0, 120))}m"\n'
                      f'duration = "{draw(st.integers(5, 90))}m"\nprobability = {draw(st.sampled_from([0.2, 1.0]))}\n')
    actions = draw(st.sampled_from(["", 'do = "fix_now"\nconnector = "To on-premises"', 'do = "clear_fault"\nfault = 0']))
    if actions:
        actions = f'[[actions]]\nat = "{draw(st.integers(30, 170))}m"\n{actions}\n'

    return scenario_text(
        duration="3h", rate=f"{draw(st.integers(60, 2400))}/h",
        tenant=f'message_expiration = "{draw(st.integers(30, 240))}m"\ndelay_notification = '
               f'"{draw(st.sampled_from(["off", "20m"]))}"',
        connector=f"max_connections = {draw(st.integers(1, 6))}\n"
                  f"messages_per_connection = {draw(st.integers(1, 50))}",
        traffic=f"recipients_per_message = {draw(st.integers(1, 3))}\n"
                f"invalid_recipient_fraction = {draw(st.sampled_from([0.0, 0.2]))}",
        faults="\n".join(faults), actions=actions, seed=draw(st.integers(0, 10 ** 6)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_every_recipient_has_a_valid_event_sequence(text: str) -> None:
    """No recipient has an event after its final one, and each starts with RECEIVE."""
    sc = loads_scenario(text, "random.toml")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        writer = EventWriter(path, sc)
        engine = Engine(sc, trace=writer)
        engine.run()
        writer.close()
        stories: dict[tuple[str, str], list[str]] = {}
        for line in path.read_text().splitlines():
            e = json.loads(line)
            stories.setdefault((e["message_id"], e["recipient"]), []).append(e["event"])
    for key, events in stories.items():
        problem = sequence_problem(events)
        assert problem is None, f"{key}: {problem}: {events}"
