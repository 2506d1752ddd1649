"""Scenario loading: valid files become frozen objects; every broken file gets one line naming the field."""
from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mfi_sim import load_scenario, loads_scenario, simulate
from mfi_sim.errors import ScenarioError
from mfi_sim.scenario import bundled_names

from helpers import SCENARIOS, scenario_text

VALID = scenario_text(faults='[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n',
                      actions='[[actions]]\nat = "2h"\ndo = "fix_now"\nconnector = "To on-premises"\n')


def test_valid_scenario_is_frozen_and_defaulted() -> None:
    """A valid file loads into frozen objects with defaults filled in and times in seconds."""
    sc = loads_scenario(VALID, "ok.toml")
    assert sc.duration == 6 * 3600 and sc.tenant.message_expiration == 24 * 3600
    assert sc.connectors[0].max_connections == 20 and sc.connectors[0].tls == "None"
    assert sc.faults[0].start == 3600 and sc.faults[0].end is None
    assert sc.traffic[0].to == "contoso.com"
    with pytest.raises(dataclasses.FrozenInstanceError):
        sc.name = "x"  # type: ignore[misc]


def test_bundled_scenarios_all_load() -> None:
    """Every bundled scenario validates, and is reachable by name as well as by path."""
    names = bundled_names()
    assert "connection-refused" in names
    for name in names:
        assert load_scenario(name).name == load_scenario(str(SCENARIOS / f"{name}.toml")).name


BROKEN = [
    ("unknown top-level table", VALID + "\n[bogus]\nx = 1\n", "bogus: unknown field"),
    ("unknown connector key", VALID.replace('recipient_domains = ["contoso.com"]',
                                            'recipient_domains = ["contoso.com"]\nmax_conections = 5'),
     "connectors[0].max_conections: unknown field"),
    ("bad duration", VALID.replace('duration = "6h"', 'duration = "6 hours"'), "scenario.duration"),
    ("bad rate", VALID.replace('rate = "600/h"', 'rate = "600 per hour"'), "traffic[0].rate"),
    ("rate as number", VALID.replace('rate = "600/h"', "rate = 600"), "traffic[0].rate"),
    ("wrong type", VALID.replace('seed = 1', 'seed = "one"'), "scenario.seed: expected an integer"),
    ("fault on unknown server", VALID.replace('target = "198.51.100.10"', 'target = "198.51.100.77"'),
     "faults[0].target"),
    ("dns fault on unknown name", VALID.replace('kind = "connection_refused"\ntarget = "198.51.100.10"',
                                                'kind = "dns_failure"\ntarget = "nope.contoso.com"'),
     "faults[0].target"),
    ("unknown fault kind", VALID.replace('kind = "connection_refused"', 'kind = "meteor_strike"'), "faults[0].kind"),
    ("probability above one", VALID.replace('start = "1h"\n', 'start = "1h"\nprobability = 1.5\n', 1),
     "faults[0].probability"),
    ("invalid zone", VALID.replace("mail   300 IN A   198.51.100.10", "mail   300 IN A   not-an-ip"), "dns.zone"),
    ("smart host not in DNS", VALID.replace('smart_hosts = ["mail.contoso.com"]', 'smart_hosts = ["mx.nowhere.net"]'),
     "connectors[0].smart_hosts"),
    ("action on unknown connector", VALID.replace('connector = "To on-premises"', 'connector = "Nope"'),
     "actions[0].connector"),
    ("unknown tls mode", VALID.replace('name = "To on-premises"', 'name = "To on-premises"\ntls = "Strict"'),
     "connectors[0].tls"),
    ("DomainValidation without tls_domain", VALID.replace('name = "To on-premises"',
                                                          'name = "To on-premises"\ntls = "DomainValidation"'),
     "connectors[0].tls_domain"),
    ("traffic to an unrouted domain", VALID.replace('rate = "600/h"', 'rate = "600/h"\nto = "fabrikam.com"'),
     "traffic[0].to"),
    ("threshold below the service minimum", VALID + '\n[alerts]\nthreshold = 50\n', "alerts.threshold"),
    ("unknown retry preset", VALID.replace('domain = "contoso.onmicrosoft.com"',
                                           'domain = "contoso.onmicrosoft.com"\nretry = "sendmail"'), "tenant.retry"),
    ("not TOML", "[scenario\nname = 1", "not valid TOML"),
    ("missing name", VALID.replace('name = "test"\n', ""), "scenario.name: required field is missing"),
    ("no connectors", VALID.replace("[[connectors]]", "[[unused]]"), "at least one [[connectors]] table"),
    ("smtp_reply without reply", VALID.replace('kind = "connection_refused"', 'kind = "smtp_reply"\nstage = "rcpt"'),
     "faults[0].reply"),
    ("smtp_reply with a success code", VALID.replace('kind = "connection_refused"',
                                                     'kind = "smtp_reply"\nstage = "rcpt"\nreply = "250 OK"'),
     "faults[0].reply"),
    ("clear a fault that does not exist", VALID + '\n[[actions]]\nat = "3h"\ndo = "clear_fault"\nfault = 4\n',
     "actions[1].fault"),
    ("DNS change outside every zone", VALID + '\n[[actions]]\nat = "3h"\ndo = "set_dns_record"\n'
                                           'name = "mail.fabrikam.com"\ntype = "A"\nvalue = "192.0.2.1"\n',
     "actions[1].name"),
    ("resolve an alert that no rule names", VALID + '\n[[actions]]\nat = "3h"\ndo = "resolve_alert"\n'
                                                    'alert = "Mail is slow"\n', "actions[1].alert"),
    ("alert scope that does not exist", VALID + '\n[alerts]\nscope = "region"\n', "alerts.scope"),
    ("end before start", VALID.replace('start = "1h"\n', 'start = "1h"\nend = "30m"\n', 1), "faults[0].end"),
    ("test with both alert and metric", VALID + '\n[[tests]]\neval_time = "1h"\nalert = "450 4.4.316"\n'
                                                'metric = "queued"\nvalue = 1\n', "tests[0]"),
]


@pytest.mark.parametrize("label,text,fragment", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_files_name_the_field(label: str, text: str, fragment: str) -> None:
    """Each broken file raises ScenarioError whose one-line message names the file and the field."""
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "broken.toml")
    message = str(info.value)
    assert message.startswith("broken.toml")
    assert fragment in message
    assert "\n" not in message


def test_errors_carry_the_line() -> None:
    """Where the field can be found in the text, the error carries its line number."""
    text = VALID.replace('rate = "600/h"', 'rate = "600 per hour"')
    with pytest.raises(ScenarioError) as info:
        loads_scenario(text, "x.toml")
    line = text.splitlines().index('rate = "600 per hour"') + 1
    assert info.value.line == line and str(info.value).startswith(f"x.toml:{line}: ")


_LINES = VALID.splitlines()


@st.composite
def mutated(draw: st.DrawFn) -> str:
    lines = list(_LINES)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        op = draw(st.sampled_from(["drop", "dup", "value", "key", "truncate", "junk"]))
        line = lines[i]
        if op == "drop":
            del lines[i]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "value" and "=" in line:
            key = line.split("=", 1)[0]
            value = draw(st.sampled_from(['""', "-1", "0", "true", "1e309", '"5x"', "[]", "{}", '"0h"',
                                          '"-3m"', '"nan"', "3.5", '"198.51.100.10"', '"∞"']))
            lines[i] = f"{key}= {value}"
        elif op == "key" and "=" in line:
            lines[i] = "zz" + line
        elif op == "truncate":
            lines[i] = line[: draw(st.integers(0, max(len(line) - 1, 0)))]
        else:
            lines.insert(i, draw(st.text(max_size=20)))
        if not lines:
            break
    return "\n".join(lines)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_files_never_crash(text: str) -> None:
    """Whatever is done to a valid file, loading either succeeds or raises ScenarioError - never another
    error; and what loads, runs (validation catches everything the run could trip over)."""
    try:
        sc = loads_scenario(text, "mutant.toml")
    except ScenarioError as exc:
        assert str(exc).startswith("mutant.toml")
        assert "\n" not in str(exc)
        return
    simulate(sc, duration=min(sc.duration, 2 * 3600.0))
