"""Actions a trainee takes go through the scenario loader, exactly as an [[actions]] table of a file would, and
come back out as a scenario file that `mfi-sim run` replays to the same results."""
from __future__ import annotations

import copy
import re
import tomllib
from decimal import Decimal
from typing import Any

from ..errors import ScenarioError
from ..scenario.loader import scenario_from_data
from ..scenario.schema import Action, Scenario
from ..units import format_duration, parse_duration

__all__ = ["exact_duration", "checked_action", "replay_toml"]


def exact_duration(t: float) -> str:
    """Duration text that parses back to exactly `t` (the replay must act at the very same instant)."""
    for text in (format_duration(t), f"{t!r}s", f"{Decimal(t):f}s"):
        try:
            if parse_duration(text) == t:
                return text
        except ValueError:
            continue
    raise ValueError(f"cannot write {t!r} as a duration")   # pragma: no cover - Decimal is exact


def checked_action(data: dict[str, Any], fields: Any, at: float) -> tuple[Action, dict[str, Any]] | str:
    """The action `fields` (an [[actions]] table without `at`) taken at `at`, validated by the loader against
    the whole scenario `data`; or the one-line reason it is not a valid action."""
    if not isinstance(fields, dict):
        return "an action is a JSON object with the fields of one [[actions]] table"
    if "at" in fields:
        return "at: an action is taken now; leave out 'at'"
    table = {"at": exact_duration(at), **fields}
    trial = {**data, "actions": [*data.get("actions", []), table]}
    try:
        scenario = scenario_from_data(trial, "action")
    except ScenarioError as exc:
        where = (exc.field or "").rsplit(".", 1)[-1] if (exc.field or "").startswith("actions[") else exc.field
        return f"{where}: {exc.message}" if where else exc.message
    return [a for a in scenario.actions if a.at == at][-1], table


def replay_toml(text: str, data: dict[str, Any], scenario: Scenario, seed: int,
                tables: list[dict[str, Any]], drop: tuple[str, ...] = ()) -> str:
    """The scenario with the session's seed and its actions appended as [[actions]] tables: the original text
    (comments and all) when a few textual edits give exactly the intended data, else a fresh TOML document.
    `drop` names arrays of tables the session left out (exercise mode: the reference actions and tests)."""
    import tomli_w

    want = copy.deepcopy(data)
    want.setdefault("scenario", {})["seed"] = seed
    actions = [*want.get("actions", []), *tables]
    if actions:
        want["actions"] = actions
    head = (f"# {scenario.name}: replay of a training-console session (`mfi-sim run` this file).\n"
            f"# The trainee's actions are the last {len(tables)} [[actions]] entries.\n")
    edited = _without(text, drop)
    edited, n = re.subn(r"(?m)^seed\s*=\s*\S+[ \t]*$", f"seed = {seed}", edited, count=1)
    if n == 0:
        edited = re.sub(r"(?m)^\[scenario\][ \t]*$", f"[scenario]\nseed = {seed}", edited, count=1)
    tail = "".join("\n[[actions]]\n" + tomli_w.dumps(t) for t in tables)
    candidate = f"{head}{edited.rstrip()}\n\n# The trainee's actions, at the simulated instants they were taken.{tail}"
    try:
        if tomllib.loads(candidate) == want:
            return candidate
    except tomllib.TOMLDecodeError:
        pass
    return head + tomli_w.dumps(want, multiline_strings=True)


_HEADER = re.compile(r"^\s*\[\[?\s*([A-Za-z0-9_.\-]+)\s*\]\]?")


def _without(text: str, tables: tuple[str, ...]) -> str:
    """`text` without the [[name]] tables listed (from their header to the next header)."""
    out, skipping = [], False
    for line in text.splitlines(keepends=True):
        header = _HEADER.match(line)
        if header:
            skipping = header.group(1) in tables
        if not skipping:
            out.append(line)
    return "".join(out)
