"""The fuzzer, kept in the suite: mutated bundled scenarios never crash, hang or print more than one line.

Each example takes a bundled scenario, applies one to three mutations (types, deletions, duplicates, extreme
numbers, unicode and control characters, bad zones, bad instants, raw-text damage), then runs `validate` and
`run --duration 2h` in this process through the CLI's `main`. It must hold that:
- the exit code is 0 or 2, and nothing escapes `main` (no traceback);
- an error is one line of at most 300 characters naming the file;
- a file that validates also runs (the message guard is lowered with --max-messages to keep examples quick; a
  refusal by that guard is the only error `run` may give after `validate` passed);
- each command finishes within a bound of CPU time (this process's, so a loaded machine does not fail it).

CI runs a fixed, derandomised set of examples (about 20 s). For a long local run, with fresh random examples:
    MFI_FUZZ_EXAMPLES=10000 nice python -m pytest tests/test_fuzz.py -q
"""
from __future__ import annotations

import contextlib
import copy
import io
import os
import random
import time
import tomllib
from pathlib import Path
from typing import Any

import tomli_w
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfi_sim import cli

from helpers import SCENARIOS

EXAMPLES = int(os.environ.get("MFI_FUZZ_EXAMPLES", "0") or 0)
BUNDLED = sorted(SCENARIOS.glob("*.toml"))
VALIDATE_SECONDS, RUN_SECONDS = 5.0, 20.0      # CPU seconds
RUN_MAX_MESSAGES = "200000"

KINDS = ("delete", "retype", "duplicate", "extreme", "unicode", "zone", "instant", "duration", "raw")
EXTREME_NUMBERS: tuple[Any, ...] = (0, -1, 1, 2 ** 63 - 1, -(2 ** 63), 10 ** 12, 1e308, -1e-308, float("inf"),
                                    float("nan"), 0.5, 100000)
EXTREME_TEXTS = ("0ms", "0.001ms", "999999999999d", "9" * 400 + "d", "1000000000/s", "9" * 40 + "/s", "0/s",
                 "-5m", "1e9h", "", " ", "5 parsecs", "1h" * 200)
UNICODE = ("\x1b]0;pwned\x07\x1b[2J", "a\r\nBcc: x@y", "例.jp", "\u202eevil", "é" * 5000, "\x00", "=HYPERLINK(\"x\")",
           "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "\ttab", "'quoted'", "<script>alert(1)</script>", "x" * 100000)
INSTANTS = ("0001-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00", "2026-13-01T00:00:00Z",
            "2026-03-02T08:00:00", "1969-12-31T23:59:59Z", "tomorrow")
ZONE_DAMAGE = ("$GENERATE 1-100000 h$ A 198.51.100.10", "$GENERATE 1-1990 h$ A 198.51.100.10", "@ IN A not-an-ip",
               "$ORIGIN .", "$INCLUDE /etc/passwd", "mail 300 IN CNAME mail", "* 300 IN MX 10 .", "\x00",
               "@ 3600 IN SOA ns1 hostmaster 1 7200 900 1209600 300", "$TTL -1", "$ORIGIN example.net.")


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into the data (keys and list indexes), containers included."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, prefix + (key,))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            out += _paths(value, prefix + (i,))
    return out


def _parent(data: Any, path: tuple[Any, ...]) -> Any:
    for step in path[:-1]:
        data = data[step]
    return data


def _mutate(data: dict[str, Any], kind: str, rng: random.Random) -> str | None:
    """Applies one mutation of `kind` to `data` in place; returns text for raw-text damage, else None."""
    paths = _paths(data)
    path = rng.choice(paths)
    parent, last = _parent(data, path), path[-1]
    leaves = [p for p in paths if not isinstance(_parent(data, p)[p[-1]], (dict, list))]
    if kind == "delete":
        del parent[last]
    elif kind == "retype":
        parent[last] = rng.choice([1, 1.5, True, "text", [], [1, "a"], {}, {"k": 1}, [[[[1]]]]])
    elif kind == "duplicate":
        tables = [p for p in paths if isinstance(_parent(data, p)[p[-1]], list)]
        if tables:
            target = rng.choice(tables)
            items = _parent(data, target)[target[-1]]
            if items:
                items.append(copy.deepcopy(rng.choice(items)))
        if "dns" in data and isinstance(data["dns"], dict) and "zone" in data["dns"]:
            data["dns"].setdefault("zones", [])
            if isinstance(data["dns"]["zones"], list):
                data["dns"]["zones"].append({"text": data["dns"]["zone"]})
    elif kind == "extreme":
        numbers = [p for p in leaves if isinstance(_parent(data, p)[p[-1]], (int, float))] or leaves
        p = rng.choice(numbers)
        _parent(data, p)[p[-1]] = rng.choice(EXTREME_NUMBERS)
    elif kind in ("unicode", "duration"):
        texts = [p for p in leaves if isinstance(_parent(data, p)[p[-1]], str)] or leaves
        p = rng.choice(texts)
        _parent(data, p)[p[-1]] = rng.choice(UNICODE if kind == "unicode" else EXTREME_TEXTS)
    elif kind == "instant":
        stamps = [p for p in leaves if isinstance(_parent(data, p)[p[-1]], str) and "T" in _parent(data, p)[p[-1]]
                  and _parent(data, p)[p[-1]][:2] == "20"]
        if stamps:
            p = rng.choice(stamps)
            _parent(data, p)[p[-1]] = rng.choice(INSTANTS)
        else:
            data.setdefault("actions", []).append({"at": "1h", "do": "renew_certificate", "target": "198.51.100.10",
                                                   "not_after": rng.choice(INSTANTS)})
    elif kind == "zone":
        dns = data.get("dns")
        if isinstance(dns, dict) and isinstance(dns.get("zone"), str):
            lines = dns["zone"].split("\n")
            lines.insert(rng.randrange(len(lines) + 1), rng.choice(ZONE_DAMAGE))
            if rng.random() < 0.3 and len(lines) > 2:
                del lines[rng.randrange(len(lines))]
            dns["zone"] = "\n".join(lines)
    else:
        text = tomli_w.dumps(data)
        damage = rng.randrange(4)
        if damage == 0:
            return text[:rng.randrange(len(text))]
        if damage == 1:
            return text + "\nv = " + "[" * 400 + "]" * 400 + "\n"
        if damage == 2:
            return "\ufeff" + text.replace('"', "'", 1)
        cut = rng.randrange(len(text))
        return text[:cut] + rng.choice(["\n[x\ny]\n", "\"\n", "= =", "\x7f", "[[connectors]]\n"]) + text[cut:]
    return None


def _main(*args: str) -> tuple[int, str, float]:
    """`mfi-sim ARGS` through the CLI's main in this process: (exit code, stderr, CPU seconds)."""
    out, err = io.StringIO(), io.StringIO()
    started = time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(list(args))
        except SystemExit as exc:       # argparse usage errors only
            code = int(exc.code or 0)
    return code, err.getvalue(), time.process_time() - started


def _check_error(code: int, err: str, path: Path) -> None:
    assert code in (0, 2), (code, err)
    if code == 2:
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert len(lines[0]) <= 300, lines[0]
        assert str(path) in lines[0], lines[0]


@settings(max_examples=EXAMPLES or 25, deadline=None, derandomize=not EXAMPLES, database=None,
          suppress_health_check=list(HealthCheck))
@given(scenario=st.sampled_from(BUNDLED),
       mutations=st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 2 ** 32 - 1)), min_size=1, max_size=3))
def test_mutated_scenarios_fail_cleanly_or_run(scenario: Path, mutations: list[tuple[str, int]],
                                               tmp_path_factory: Any) -> None:
    """validate and run exit 0 or 2 with one short line naming the file; what validates runs; both in time."""
    data = tomllib.loads(scenario.read_text(encoding="utf-8"))
    raw = None
    for kind, seed in mutations:
        if raw is None:
            raw = _mutate(data, kind, random.Random(seed))
    text = raw if raw is not None else tomli_w.dumps(data)
    path = tmp_path_factory.mktemp("fuzz") / "mutated.toml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") if raw is None or mutations[0][1] % 5 else
                     b"\xff" + text.encode("utf-8"))
    code, err, seconds = _main("validate", str(path))
    _check_error(code, err, path)
    assert seconds < VALIDATE_SECONDS, f"validate took {seconds:.1f} s"
    code_run, err_run, seconds = _main("run", str(path), "--quiet", "--duration", "2h",
                                       "--max-messages", RUN_MAX_MESSAGES)
    _check_error(code_run, err_run, path)
    assert seconds < RUN_SECONDS, f"run took {seconds:.1f} s"
    if code == 0:    # a file that validates also runs (unless the lowered message guard refuses it)
        assert code_run == 0 or f"over the limit of {int(RUN_MAX_MESSAGES):,}" in err_run, err_run
    else:
        assert code_run == 2
