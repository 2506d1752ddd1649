"""The [[tests]] tables: expectations checked against the alert rules and the code catalogue when the file
loads, so that a misspelt selector, code or label is an error and never a test that passes by testing nothing
(after `promtool test rules`, which rejects what it cannot evaluate)."""
from __future__ import annotations

import difflib
import re
from typing import Any

from ..units import parse_duration
from . import schema as s
from .fields import allowed
from .reader import MISSING, Context, Reader, describe

__all__ = ["read_tests", "Vocabulary", "ALERT_LABELS", "did_you_mean", "pinned_codes"]

_TEST_OWN = frozenset({"name", "eval_time", "alert", "expect", "match", "metric", "connector", "value", "tolerance",
                       "raised_within", "resolved_within", "count", "notifications"})
#: What an alert test may match, from the field catalogue (tests/test_testing.py holds it equal to the keys of
#: a real alert's fields, so no label can name something no alert carries).
ALERT_LABELS = allowed("tests") - _TEST_OWN
_FULL_CODE = re.compile(r"^([245]\d\d) ([245])\.(\d{1,3})\.(\d{1,3})$")
_ENHANCED = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")
_LABEL_TYPES: dict[str, type | tuple[type, ...]] = {"fix_now": bool, "queued_messages": int, "aged_messages": int}


def did_you_mean(word: str, candidates: list[str]) -> str:
    """' (did you mean 'x'?)' for the nearest candidate (difflib, case-insensitive), or ''."""
    lowered = {c.lower(): c for c in candidates}
    near = difflib.get_close_matches(word.lower(), list(lowered), n=1, cutoff=0.6)
    return f" (did you mean {lowered[near[0]]!r}?)" if near else ""


class Vocabulary:
    """The names, codes and statuses a run of this scenario can show: the alert rules' names, the catalogue's
    codes, the replies the scenario's own servers and faults give, and the NDR statuses the tool writes."""

    def __init__(self, replies: list[str]) -> None:
        from .. import alerts, codes

        self.rules = list(alerts.RULES)                                    # the alert-rule registry
        self.kinds = sorted({e.kind for e in alerts.RULES.values()})      # "insight", "policy"
        self.severities = sorted({e.severity for e in alerts.RULES.values()})
        own = [" ".join(r.split()[:2]) for r in replies if _FULL_CODE.match(" ".join(r.split()[:2]))]
        self.codes = sorted({c for c in codes.CATALOGUE if c != codes.OTHER} | set(own))
        self.statuses = sorted({codes.status_of(e.expiry_code) for e in codes.CATALOGUE.values()}
                               | {codes.RECIPIENT_NOT_FOUND_STATUS, codes.status_of(codes.EXPIRED_EXCHANGE_SERVER),
                                  "5.4.14"}
                               | {r.split()[1] for r in replies if r.startswith("5") and len(r.split()) > 1
                                  and _ENHANCED.match(r.split()[1])})

    def code_problem(self, text: str) -> str | None:
        """Why `text` is not a code an alert of this scenario can carry, or None when it is one."""
        value = text.strip()
        if value.lower() == "other" or value in self.codes:
            return None
        if _ENHANCED.match(value):
            full = [c for c in self.codes if c.split()[1] == value]
            hint = f" (did you mean {full[0]!r}?)" if full else ""
            return f"{value!r} lacks its reply code: write it as the alert shows it, e.g. '450 4.4.316'{hint}"
        if not _FULL_CODE.match(value):
            return (f"{value!r} is not a code in the catalogue's format ('450 4.4.316': reply code, then "
                    f"class.subject.detail){did_you_mean(value, self.codes)}")
        return (f"{value!r} is neither in the code catalogue nor a reply this scenario's servers or faults "
                f"give{did_you_mean(value, self.codes)}")

    def selector_problem(self, text: str) -> str | None:
        """Why `text` selects no alert this scenario's rules can raise, or None when it is a valid selector."""
        value = text.strip()
        if value.lower() in self.kinds or value in self.rules:
            return None
        if any(ch.isdigit() for ch in value) and "." in value:
            return self.code_problem(value)
        return (f"{value!r} is not an alert selector (a code such as '450 4.4.316', a rule name "
                f"{', '.join(repr(r) for r in self.rules)}, or a kind {' / '.join(map(repr, self.kinds))})"
                f"{did_you_mean(value, self.kinds + self.rules + self.codes)}")

    def label_problem(self, key: str, value: Any) -> str | None:
        """Why `key = value` can never match an alert's field, or None."""
        want = _LABEL_TYPES.get(key, str)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            kind = {bool: "true or false", int: "an integer", str: "a string"}[want]  # type: ignore[index]
            return f"expected {kind}, got {describe(value)}"
        options = {"kind": self.kinds, "policy": self.rules, "severity": self.severities,
                   "category": ["Mail flow"], "status": ["Active", "Resolved"]}.get(key)
        if options is not None and value not in options:
            return f"no alert has {key} {value!r}; alerts have {', '.join(map(repr, options))}" \
                   f"{did_you_mean(str(value), options)}"
        if key == "code":
            return self.code_problem(str(value))
        if key == "id" and not re.fullmatch(rf"(?:{'|'.join(self.kinds)})-[1-9][0-9]*", str(value)):
            return f"alert ids look like 'insight-1' or 'policy-2', got {value!r}"
        return None

    def status_problem(self, text: str) -> str | None:
        """Why `text` is not an NDR status a run of this scenario can write, or None."""
        if text in self.statuses:
            return None
        shape = "" if _ENHANCED.match(text) else " (an RFC 3463 status such as '5.4.316', without reply code)"
        return (f"{text!r} is not an NDR status this scenario can produce{shape}; known: "
                f"{', '.join(self.statuses)}{did_you_mean(text, self.statuses)}")


def _window(r: Reader, key: str) -> tuple[float, float] | None:
    value = r.raw(key, None)
    if value is None:
        return None
    if not isinstance(value, list) or len(value) != 2 or not all(isinstance(v, str) for v in value):
        raise r.error(key, f'expected two durations such as ["3h", "3h10m"], got {describe(value)}')
    try:
        low, high = parse_duration(value[0]), parse_duration(value[1])
    except ValueError as exc:
        raise r.error(key, str(exc)) from None
    if high < low:
        raise r.error(key, f"the window ends ({value[1]}) before it starts ({value[0]})")
    return (low, high)


def _alert_case(r: Reader, name: str, eval_time: float | None, alert: str, vocab: Vocabulary) -> s.TestCase:
    problem = vocab.selector_problem(alert)
    if problem:
        raise r.error("alert", problem)
    labels = []
    for key in sorted(k for k in r.data if k not in _TEST_OWN):   # the labels, `status` among them
        if key not in ALERT_LABELS:
            raise r.error(key, f"no alert carries this field{did_you_mean(key, sorted(ALERT_LABELS))}; an alert "
                               f"test can match {', '.join(sorted(ALERT_LABELS))}")
        problem = vocab.label_problem(key, r.raw(key))
        if problem:
            raise r.error(key, problem)
        labels.append((key, r.data[key]))
    connector = r.text("connector", None)
    if connector is not None:
        labels.append(("connector", connector))
    whole_run = dict(raised_within=_window(r, "raised_within"), resolved_within=_window(r, "resolved_within"),
                     count=r.integer("count", None, 0), notifications=r.integer("notifications", None, 0))
    if eval_time is None and all(v is None for v in whole_run.values()):
        raise r.error("eval_time", "required field is missing (or give raised_within, resolved_within, count "
                                   "or notifications)")
    if eval_time is None and "expect" in r.data:
        raise r.error("expect", "only applies with eval_time")
    return s.TestCase(name=name, eval_time=eval_time, alert=alert.strip(),
                      expect=r.choice("expect", ("firing", "not_firing"), "firing"),
                      match=r.choice("match", ("subset", "exact"), "subset"), labels=tuple(sorted(labels)),
                      connector=connector, **whole_run)


def _metric_value(r: Reader, key: str, metric: str, default: Any = MISSING) -> Any:
    """A metric's expected value: a status, a count, or a duration for latency metrics (seconds or "2h")."""
    value = r.raw(key) if default is MISSING else r.raw(key, default)
    if metric == "queue_status" and key == "value":
        if value not in s.QUEUE_STATUSES:
            raise r.error(key, f"queue_status is one of {', '.join(s.QUEUE_STATUSES)}"
                               f"{did_you_mean(str(value), list(s.QUEUE_STATUSES))}")
        return value
    if metric in s.LATENCY_METRICS and isinstance(value, str):
        try:
            return parse_duration(value)
        except ValueError as exc:
            raise r.error(key, str(exc)) from None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise r.error(key, f"expected a number of at least 0, got {describe(value)}")
    return float(value)


def _metric_case(r: Reader, name: str, eval_time: float | None, metric: str, vocab: Vocabulary) -> s.TestCase:
    if eval_time is None:
        raise r.error("eval_time", "required field is missing")
    status = r.text("status", None)
    if status is not None:
        if metric != "ndr":
            raise r.error("status", "only applies to metric = \"ndr\"")
        problem = vocab.status_problem(status.strip())
        if problem:
            raise r.error("status", problem)
    return s.TestCase(name=name, eval_time=eval_time, metric=metric, connector=r.text("connector", None),
                      value=_metric_value(r, "value", metric), status=status.strip() if status else None,
                      tolerance=_metric_value(r, "tolerance", metric, 0.0) if metric != "queue_status" else 0.0)


def _test(r: Reader, i: int, vocab: Vocabulary) -> s.TestCase:
    for key in r.data:
        if key not in allowed("tests"):
            raise r.error(key, f"unknown field{did_you_mean(key, sorted(allowed('tests')))}")
    name = r.text("name", f"test {i + 1}")
    eval_time = r.duration("eval_time", None)
    alert = r.text("alert", None)
    metric = r.raw("metric", None)
    if metric is not None and metric not in s.METRICS:
        raise r.error("metric", f"must be one of {', '.join(s.METRICS)}, got {metric!r}"
                                f"{did_you_mean(str(metric), list(s.METRICS))}")
    if (alert is None) == (metric is None):
        raise r.error("alert", "a test checks either an alert or a metric")
    case = _alert_case(r, name, eval_time, alert, vocab) if alert is not None else \
        _metric_case(r, name, eval_time, metric, vocab)
    r.done()
    return case


def read_tests(top: Reader, ctx: Context, sc: s.Scenario) -> tuple[s.TestCase, ...]:
    """The [[tests]] tables of a scenario whose other sections are loaded, checked against what its run can
    show: alert rules, codes, connectors, NDR statuses and the length of the run."""
    replies = [f.reply for f in sc.faults if f.reply] + [text for sv in sc.servers for _, text in sv.replies]
    vocab = Vocabulary(replies)
    tests = tuple(_test(r, i, vocab) for i, r in enumerate(top.tables("tests")))
    names = [c.name for c in sc.connectors]
    for i, case in enumerate(tests):
        if case.connector is not None and case.connector not in names:
            raise ctx.error(f"tests[{i}].connector", f"no connector is called {case.connector!r}"
                                                     f"{did_you_mean(case.connector, names)}", "tests", i,
                            "connector")
        if case.eval_time is not None and case.eval_time > sc.duration:
            raise ctx.error(f"tests[{i}].eval_time", _past_end(case.eval_time, sc.duration), "tests", i,
                            "eval_time")
        for key, window in (("raised_within", case.raised_within), ("resolved_within", case.resolved_within)):
            if window is not None and window[0] > sc.duration:
                raise ctx.error(f"tests[{i}].{key}", _past_end(window[0], sc.duration), "tests", i, key)
    return tests


def _past_end(t: float, duration: float) -> str:
    from ..units import format_duration
    return f"{format_duration(t)} is after the end of the run ({format_duration(duration)})"


def pinned_codes(tests: list[dict[str, Any]]) -> list[str]:
    """The error codes a scenario's own alert tests expect to see firing (what `mfi-sim list` shows it teaches),
    from the raw [[tests]] tables: `list` reads bundled files without building their worlds."""
    out: list[str] = []
    for case in tests:
        if "alert" not in case or case.get("expect", "firing") != "firing":
            continue
        for value in (case["alert"], case.get("code")):
            if isinstance(value, str) and _FULL_CODE.match(value) and value not in out:
                out.append(value)
    return out
