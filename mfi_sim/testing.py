"""`mfi-sim test`: the [[tests]] tables of a scenario, evaluated against its runs (after `promtool test rules`).

An alert test selects alerts by a code, a policy name from the alert-rule registry, or a rule kind
("insight"/"policy"), plus some fields. With `eval_time` it asks whether one was Active then, with its fields as
of the last evaluation at or before it; `raised_within`,
`resolved_within`, `count` and `notifications` pin what happened over the whole run. A metric test compares a
queue figure, an NDR count by status or a latency percentile at `eval_time` with a value and tolerance. The
loader has already refused selectors, codes and labels that no alert of the scenario can show, so a test
cannot pass by testing nothing. Results are values; printing is the CLI's.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from .escaping import xml_text
from . import alerts, codes
from .alerts import LABELS, AlertRecord
from .engine import simulate
from .records import LatencyHistogram
from .result import Result
from .scenario.schema import LATENCY_METRICS, Scenario, TestCase
from .units import format_duration

__all__ = ["TestOutcome", "run_tests", "run_seeds", "evaluate", "junit_xml", "load_error", "cut_short"]

_PERCENTILE = {"latency_p50": 0.50, "latency_p95": 0.95, "latency_p99": 0.99}


@dataclass(frozen=True)
class TestOutcome:
    """One [[tests]] entry's verdict (or a file that could not be loaded), with the lines that explain it."""

    scenario: str
    source: str
    name: str
    passed: bool
    summary: str
    diff: tuple[str, ...] = field(default=())
    flaky: bool = False          # verdicts differed between seeds
    error: bool = False          # the file did not load: no test of it ran

    __test__ = False

    @property
    def verdict(self) -> str:
        return "ERROR" if self.error else "FLAKY" if self.flaky else "PASS" if self.passed else "FAIL"


def selected(scenario: Scenario, select: str | None = None) -> list[TestCase]:
    """The scenario's tests whose name matches `select` (all when None)."""
    return [t for t in scenario.tests if select is None or re.search(select, t.name)]


def run_tests(scenario: Scenario, select: str | None = None, seed: int | None = None) -> list[TestOutcome]:
    """Runs the scenario once (observing the queues at every eval_time) and evaluates its selected tests."""
    cases = selected(scenario, select)
    if not cases:
        return []
    times = tuple(t.eval_time for t in cases if t.eval_time is not None)
    result = simulate(scenario, seed=seed, observe_at=times)
    return [evaluate(scenario, case, result) for case in cases]


def run_seeds(scenario: Scenario, seeds: list[int], select: str | None = None) -> list[TestOutcome]:
    """Runs the tests once per seed; a test whose verdict differs between seeds is reported as flaky."""
    runs = [run_tests(scenario, select, seed) for seed in seeds]
    out = []
    for i, first in enumerate(runs[0] if runs else []):
        verdicts = [(seed, run[i]) for seed, run in zip(seeds, runs)]
        failed = [(seed, o) for seed, o in verdicts if not o.passed]
        if not failed:
            out.append(replace(first, summary=f"{first.summary} (on {len(seeds)} seeds)"))
        elif len(failed) == len(verdicts):
            out.append(replace(failed[0][1], summary=f"{failed[0][1].summary} (on {len(seeds)} seeds)"))
        else:
            passed = [str(seed) for seed, o in verdicts if o.passed]
            seed, bad = failed[0]
            out.append(replace(bad, flaky=True, summary=(
                f"passes on {len(passed)} of {len(seeds)} seeds; fails on seed(s) "
                f"{', '.join(str(s) for s, _ in failed)}, first with: {bad.summary}"),
                diff=(f"passed on seed(s) {', '.join(passed)}", f"on seed {seed}:", *bad.diff)))
    return out


def load_error(source: str, message: str) -> TestOutcome:
    """The outcome of a file that could not be loaded: an error for that file, the other files still run."""
    return TestOutcome(source, source, "(load)", False, message, error=True)


def cut_short(scenario: Scenario, duration: float) -> list[str]:
    """What a run shortened to `duration` leaves out (faults, actions, tests), one line each, for stderr."""
    end = format_duration(duration)
    lines = [f"fault {i} ({f.kind}) starts at {format_duration(f.start)}, after the shortened end ({end})"
             for i, f in enumerate(scenario.faults) if f.start >= duration]
    lines += [f"action {a.do} at {format_duration(a.at)} is after the shortened end ({end})"
              for a in scenario.actions if a.at > duration]
    lines += [f"test {t.name!r} looks at {format_duration(t.eval_time)}, after the shortened end ({end})"
              for t in scenario.tests if t.eval_time is not None and t.eval_time > duration]
    return [f"{scenario.source}: --duration {end} cuts the run short: {line}" for line in lines]


def evaluate(scenario: Scenario, case: TestCase, result: Result) -> TestOutcome:
    """The verdict of one test case against a finished run."""
    if case.eval_time is not None and case.eval_time > result.duration:
        return _out(scenario, case, False, f"eval_time {format_duration(case.eval_time)} is after the end of "
                                           f"the run ({format_duration(result.duration)})")
    if case.alert is not None:
        return _alert_test(scenario, case, result)
    return _metric_test(scenario, case, result)


# ---------------------------------------------------------------------------------------------- alert tests
def _selects(alert: AlertRecord, fields: Mapping[str, Any], selector: str) -> bool:
    """Whether the selector (validated by the loader) picks this alert: a rule name or kind from the alert-rule
    registry, "other" (a code outside the catalogue), or an exact code."""
    rules = alerts.select(selector)
    if rules is not None:
        return alert.policy in rules
    if selector.lower() == "other":
        return fields.get("code") is not None and fields.get("code") not in codes.CATALOGUE
    return fields.get("code") == selector


def _matches(fields: Mapping[str, Any], labels: tuple[tuple[str, object], ...], exact: bool) -> list[str]:
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


def _wanted(case: TestCase) -> str:
    return f"{case.alert}" + "".join(f", {k}={v!r}" for k, v in case.labels)


def _alert_test(scenario: Scenario, case: TestCase, result: Result) -> TestOutcome:
    checks: list[tuple[bool, str, list[str]]] = []
    if case.eval_time is not None:
        checks.append(_firing_check(case, result))
    matching = _matching_alerts(case, result)
    if case.raised_within is not None or case.resolved_within is not None:
        checks.append(_window_check(case, matching))
    if case.count is not None:
        ids = ", ".join(a.id for a in matching) or "none"
        checks.append((len(matching) == case.count, f"{len(matching)} alert(s) matched {_wanted(case)} ({ids})",
                       [f"expected: count = {case.count}", f"got: {len(matching)} ({ids})"]))
    if case.notifications is not None:
        matched = {a.id for a in matching}
        sent = [n for n in result.notifications if n.alert in matched]
        checks.append((len(sent) == case.notifications, f"{len(sent)} notification(s) for {_wanted(case)}",
                       [f"expected: notifications = {case.notifications}", f"got: {len(sent)}"]))
    failed = [c for c in checks if not c[0]]
    diff = [line for _, _, lines in failed for line in lines]
    return _out(scenario, case, not failed, "; ".join(c[1] for c in (failed or checks)), diff)


def _matching_alerts(case: TestCase, result: Result) -> list[AlertRecord]:
    """Alerts of the whole run that matched the selector and labels at one evaluation or more, by raise time."""
    assert case.alert is not None
    exact = case.match == "exact"
    out = []
    for a in result.alerts:
        states = [f for _, f in a.history] or [a.fields()]
        if any(_selects(a, f, case.alert) and not _matches(f, case.labels, exact) for f in states):
            out.append(a)
    return sorted(out, key=lambda a: a.raised_s)


def _window_check(case: TestCase, matching: list[AlertRecord]) -> tuple[bool, str, list[str]]:
    if not matching:
        return False, f"{_wanted(case)} never raised", ["expected: raised (and resolved) within the windows",
                                                        "got: no matching alert in the whole run"]
    first = matching[0]
    diff = []
    for what, window, when in (("raised", case.raised_within, first.raised_s),
                               ("resolved", case.resolved_within, first.resolved_s)):
        if window is None:
            continue
        span = f"{format_duration(window[0])}..{format_duration(window[1])}"
        if when is None or not window[0] <= when <= window[1]:
            diff += [f"expected: {first.id} {what} within {span}",
                     f"got: {what} at {format_duration(when) if when is not None else 'no time (still firing)'}"]
    resolved = format_duration(first.resolved_s) if first.resolved_s is not None else "never"
    summary = f"{first.id} raised at {format_duration(first.raised_s)}, resolved {resolved}"
    return not diff, summary, diff


def _firing_check(case: TestCase, result: Result) -> tuple[bool, str, list[str]]:
    assert case.alert is not None and case.eval_time is not None
    when = format_duration(case.eval_time)
    firing = [(a, a.fields_at(case.eval_time)) for a in result.firing_at(case.eval_time)]
    selected_ = [(a, f) for a, f in firing if _selects(a, f, case.alert)]
    exact = case.match == "exact"
    matching = [(a, f) for a, f in selected_ if not _matches(f, case.labels, exact)]
    wanted = _wanted(case)
    if case.expect == "firing":
        if matching:
            return True, f"{wanted} firing at {when}", []
        diff = [f"expected: {wanted} firing at {when}"]
        if not firing:
            diff.append("got: no alert firing at that time")
        for a, f in (selected_ or firing):
            diff.append(f"got: {a.id} ({a.kind}, {f.get('code')}) firing since {format_duration(a.raised_s)}:")
            diff.extend("  " + d for d in (_matches(f, case.labels, exact) or ["selector does not match"]))
        for a in result.alerts:
            if _selects(a, a.fields(), case.alert) and not a.firing_at(case.eval_time):
                end = format_duration(a.resolved_s) if a.resolved_s is not None else "the end"
                diff.append(f"note: {a.id} ({a.code}) fired from {format_duration(a.raised_s)} to {end}")
        return False, f"{wanted} not firing at {when}", diff
    if not matching:
        return True, f"{wanted} not firing at {when}", []
    diff = [f"expected: no {wanted} firing at {when}"]
    for a, f in matching:
        diff.append(f"got: {a.id} firing since {format_duration(a.raised_s)} with code={f.get('code')!r}, "
                    f"connector={f.get('connector')!r}, queued_messages={f.get('queued_messages')}")
    return False, f"{wanted} firing at {when}", diff


# ---------------------------------------------------------------------------------------------- metric tests
def _metric_value(case: TestCase, result: Result) -> float | str | None:
    """The measured value at eval_time: a count, a status, or a latency in seconds (None: not observed)."""
    assert case.eval_time is not None
    snaps = result.observations.get(case.eval_time)
    tallies = result.tallies.get(case.eval_time)
    if snaps is None or tallies is None:
        return None
    chosen = [s for s in snaps if case.connector is None or s.connector == case.connector]
    metric = case.metric or ""
    if metric == "queue_status":
        return ",".join(s.status for s in chosen)
    kept = [t for t in tallies if case.connector is None or t.connector == case.connector]
    if metric in LATENCY_METRICS:
        latency = LatencyHistogram()
        for t in kept:
            latency.merge(t.latency)
        return latency.max if metric == "latency_max" else latency.percentile(_PERCENTILE[metric])
    if metric == "ndr" and case.status is not None:
        return float(sum(t.ndr_by_status.get(case.status, 0) for t in kept))
    attr = {"queued": "queued_recipients"}.get(metric, metric)
    return float(sum(getattr(s, attr) for s in chosen))


def _metric_test(scenario: Scenario, case: TestCase, result: Result) -> TestOutcome:
    assert case.eval_time is not None
    when = format_duration(case.eval_time)
    got = _metric_value(case, result)
    if got is None:
        return _out(scenario, case, False, f"no observation at {when} (run the test through `mfi-sim test`)")
    metric = case.metric or ""
    if isinstance(got, str):
        ok = got == case.value
        return _out(scenario, case, ok, f"queue_status at {when} is {got}",
                    () if ok else (f"expected: {case.value}", f"got: {got}"))
    want = float(case.value)  # type: ignore[arg-type]
    show = format_duration if metric in LATENCY_METRICS else (lambda v: f"{v:g}")
    name = f"{metric}{f' with status {case.status}' if case.status else ''}"
    where = f" on '{case.connector}'" if case.connector else ""
    tol = f" ± {show(case.tolerance)}" if case.tolerance else ""
    ok = abs(got - want) <= case.tolerance
    off = f"{'+' if got >= want else '-'}{show(abs(got - want))}"
    return _out(scenario, case, ok, f"{name}{where} at {when} = {show(got)}",
                () if ok else (f"expected: {name} = {show(want)}{tol}", f"got: {show(got)} (off by {off})"))


def _out(scenario: Scenario, case: TestCase, passed: bool, summary: str,
         diff: tuple[str, ...] | list[str] = ()) -> TestOutcome:
    return TestOutcome(scenario.name, scenario.source, case.name, passed, summary, tuple(diff))


def junit_xml(outcomes: list[TestOutcome]) -> str:
    """JUnit XML (one testsuite per scenario file) for CI systems; a file that did not load is an <error>."""
    root = ET.Element("testsuites", name="mfi-sim", tests=str(len(outcomes)),
                      failures=str(sum(not o.passed and not o.error for o in outcomes)),
                      errors=str(sum(o.error for o in outcomes)))
    suites: dict[str, ET.Element] = {}
    for o in outcomes:
        suite = suites.get(o.source)
        if suite is None:
            suite = ET.SubElement(root, "testsuite", name=o.source, tests="0", failures="0", errors="0")
            suites[o.source] = suite
        suite.set("tests", str(int(suite.get("tests", "0")) + 1))
        case = ET.SubElement(suite, "testcase", classname=o.scenario, name=o.name, time="0")
        if o.error:
            suite.set("errors", str(int(suite.get("errors", "0")) + 1))
            ET.SubElement(case, "error", message=o.summary, type="ScenarioError")
        elif not o.passed:
            suite.set("failures", str(int(suite.get("failures", "0")) + 1))
            fail = ET.SubElement(case, "failure", message=o.summary, type="flaky" if o.flaky else "failed")
            fail.text = "\n".join(o.diff)
    ET.indent(root)
    # Characters XML 1.0 forbids (a control character in a file name or a reply) would make the file unreadable.
    return xml_text(ET.tostring(root, encoding="unicode", xml_declaration=True)) + "\n"
