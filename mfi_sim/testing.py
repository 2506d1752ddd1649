"""`mfi-sim test`: the [[tests]] tables of a scenario, evaluated against one run (after `promtool test rules`).

An alert test asks whether an alert matching a selector (a code, a policy name from the alert-rule registry, or a
rule kind, "insight"/"policy") and some fields was Active at `eval_time`, with its fields as of the last evaluation
at or before it. A metric test compares a queue figure at `eval_time` with an expected value and tolerance.
Results are values; printing is the CLI's.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from . import alerts, codes
from .alerts import LABELS, Alert
from .engine import Result, simulate
from .scenario.schema import Scenario, TestCase
from .units import format_duration

__all__ = ["TestOutcome", "run_tests", "evaluate", "junit_xml"]


@dataclass(frozen=True)
class TestOutcome:
    """One [[tests]] entry's verdict, with the lines that explain a failure."""

    scenario: str
    source: str
    name: str
    passed: bool
    summary: str
    diff: tuple[str, ...] = field(default=())
    seconds: float = 0.0

    __test__ = False


def run_tests(scenario: Scenario, select: str | None = None) -> list[TestOutcome]:
    """Runs the scenario once (observing the queues at every eval_time) and evaluates its tests."""
    cases = [t for t in scenario.tests if select is None or re.search(select, t.name)]
    if not cases:
        return []
    result = simulate(scenario, observe_at=tuple(t.eval_time for t in cases))
    return [evaluate(scenario, case, result) for case in cases]


def evaluate(scenario: Scenario, case: TestCase, result: Result) -> TestOutcome:
    """The verdict of one test case against a finished run."""
    when = format_duration(case.eval_time)
    if case.eval_time > result.duration:
        return _out(scenario, case, False, f"eval_time {when} is after the end of the run "
                                           f"({format_duration(result.duration)})")
    if case.alert is not None:
        return _alert_test(scenario, case, result, when)
    return _metric_test(scenario, case, result, when)


def _selects(alert: Alert, fields: dict[str, Any], selector: str) -> bool:
    s = selector.strip()
    rules = alerts.select(s)
    if rules is not None:
        return alert.policy in rules
    try:
        entry = codes.lookup(s)
    except KeyError:
        return fields.get("code") == s
    return fields.get("code") == entry.code or (entry.code == codes.OTHER and fields.get("code") not in codes.CATALOGUE)


def _matches(fields: dict[str, Any], labels: tuple[tuple[str, object], ...], exact: bool) -> list[str]:
    """Field-by-field differences between wanted labels and an alert's fields ([] when it matches)."""
    diffs = []
    for key, want in labels:
        got = fields.get(key, "<absent>")
        if got != want:
            diffs.append(f"{key}: expected {want!r}, got {got!r}")
    if exact:
        given = {k for k, _ in labels}
        for key in LABELS:
            if key not in given:
                diffs.append(f"{key}: not given in the test, but the alert has {fields.get(key)!r} "
                             f"(match = \"exact\")")
    return diffs


def _alert_test(scenario: Scenario, case: TestCase, result: Result, when: str) -> TestOutcome:
    assert case.alert is not None
    firing = [(a, a.fields_at(case.eval_time)) for a in result.alerts.firing_at(case.eval_time)]
    selected = [(a, f) for a, f in firing if _selects(a, f, case.alert)]
    exact = case.match == "exact"
    matching = [(a, f) for a, f in selected if not _matches(f, case.labels, exact)]
    wanted = f"{case.alert}" + "".join(f", {k}={v!r}" for k, v in case.labels)
    if case.expect == "firing":
        if matching:
            return _out(scenario, case, True, f"{wanted} firing at {when}")
        diff = [f"expected: {wanted} firing at {when}"]
        if not firing:
            diff.append("got: no alert firing at that time")
        for a, f in (selected or firing):
            diff.append(f"got: {a.id} ({a.kind}, {f.get('code')}) firing since {format_duration(a.raised_s)}:")
            diff.extend("  " + d for d in (_matches(f, case.labels, exact) or ["selector does not match"]))
        earlier = [a for a in result.alerts.alerts if _selects(a, a.fields(), case.alert)]
        for a in earlier:
            if not a.firing_at(case.eval_time):
                end = format_duration(a.resolved_s) if a.resolved_s is not None else "the end"
                diff.append(f"note: {a.id} ({a.code}) fired from {format_duration(a.raised_s)} to {end}")
        return _out(scenario, case, False, f"{wanted} not firing at {when}", diff)
    if not matching:
        return _out(scenario, case, True, f"{wanted} not firing at {when}")
    diff = [f"expected: no {wanted} firing at {when}"]
    for a, f in matching:
        diff.append(f"got: {a.id} firing since {format_duration(a.raised_s)} with code={f.get('code')!r}, "
                    f"connector={f.get('connector')!r}, queued_messages={f.get('queued_messages')}")
    return _out(scenario, case, False, f"{wanted} firing at {when}", diff)


def _metric_test(scenario: Scenario, case: TestCase, result: Result, when: str) -> TestOutcome:
    snaps = result.observations.get(case.eval_time)
    if snaps is None:
        return _out(scenario, case, False, f"no observation at {when} (run the test through `mfi-sim test`)")
    chosen = [s for s in snaps if case.connector is None or s.connector == case.connector]
    metric = case.metric or ""
    if metric == "queue_status":
        got_status = chosen[0].status if len(chosen) == 1 else ",".join(s.status for s in chosen)
        ok = got_status == case.value
        return _out(scenario, case, ok, f"queue_status at {when} is {got_status}",
                    () if ok else (f"expected: {case.value}", f"got: {got_status}"))
    attr = {"queued": "queued_recipients"}.get(metric, metric)
    got = sum(getattr(s, attr) for s in chosen)
    want = float(case.value)  # type: ignore[arg-type]
    ok = abs(got - want) <= case.tolerance
    where = f" on '{case.connector}'" if case.connector else ""
    tol = f" ± {case.tolerance:g}" if case.tolerance else ""
    return _out(scenario, case, ok, f"{metric}{where} at {when} = {got}",
                () if ok else (f"expected: {metric} = {want:g}{tol}", f"got: {got} (off by {got - want:+g})"))


def _out(scenario: Scenario, case: TestCase, passed: bool, summary: str,
         diff: tuple[str, ...] | list[str] = ()) -> TestOutcome:
    return TestOutcome(scenario.name, scenario.source, case.name, passed, summary, tuple(diff))


def junit_xml(outcomes: list[TestOutcome]) -> str:
    """JUnit XML (one testsuite per scenario file) for CI systems."""
    root = ET.Element("testsuites", name="mfi-sim", tests=str(len(outcomes)),
                      failures=str(sum(not o.passed for o in outcomes)))
    suites: dict[str, ET.Element] = {}
    for o in outcomes:
        suite = suites.get(o.source)
        if suite is None:
            suite = ET.SubElement(root, "testsuite", name=o.source, tests="0", failures="0")
            suites[o.source] = suite
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        case = ET.SubElement(suite, "testcase", classname=o.scenario, name=o.name, time="0")
        if not o.passed:
            suite.set("failures", str(int(suite.get("failures", "0")) + 1))
            fail = ET.SubElement(case, "failure", message=o.summary)
            fail.text = "\n".join(o.diff)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"
