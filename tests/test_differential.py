"""The differential test (issue 9, section 4): the simulation and the wire agree.

For every fault kind and stage, and for every bundled scenario at the instant its first alert is raised
(when its failure is in force), the lab serves the world at T and a real client opens a session to it, with
one test message; the code and the stage it reports must equal those of the simulation's own attempt
functions (`open_session`, then `send_message`) on the world at the same instant. Two clients: `mfi-sim
probe` (our real-socket driver), and dnspython + smtplib + ssl (clients we did not write, classified by the
simulation's own table; smtplib_client.py). Each case is bounded: the lab runs on loopback for the case
alone, the clients' timeout is 1.5 seconds, and everything is closed at the end.
"""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import pytest

import smtplib_client
from lab_support import HOST, lab_scenario
from mfi_sim.attempt import DELIVERED, open_session, send_message
from mfi_sim.cli import main
from mfi_sim.lab.controller import Lab
from mfi_sim.lab.world_at import WorldAtT, default_instant, world_at
from mfi_sim.scenario import bundled_names, load_scenario
from mfi_sim.scenario.schema import Scenario

SENDER = smtplib_client.SENDER
CLIENT_TIMEOUT = 1.5   # seconds per step; the timeout cases wait this long, loaded machines need slack
AT = 600.0

Verdict = tuple[str | None, str | None]


def _simulated(world: WorldAtT) -> Verdict:
    """Code and stage of the simulation's attempt at T on the first connector, with one test message."""
    at, scenario = world.at, world.scenario
    outcome = open_session(world.connector_spec(scenario.connectors[0].name), world.world, at)
    if not outcome.ok:
        return outcome.code, outcome.stage
    assert outcome.server is not None
    firing = world.world.firing(outcome.server.address, at)
    result = send_message(outcome.server, firing, SENDER, [_recipient(scenario)], 0)
    return (None, None) if result.kind == DELIVERED else (result.code, result.stage)


def _recipient(scenario: Scenario) -> str:
    return f"someone@{scenario.connectors[0].recipient_domains[0]}"


def _probed(world: WorldAtT, tmp_path: Path) -> Verdict:
    """Code and stage `mfi-sim probe --json` reports against the lab serving the world at T (in process; the
    probe's printed report is not looked at here)."""
    spec = world.connector_spec(world.scenario.connectors[0].name)
    out = tmp_path / "probe.json"
    with Lab(world) as lab:
        assert lab.map is not None
        loopback = {p.scenario_address: p.address for p in lab.map.places}
        port = next(p.port for p in lab.map.places if p.scenario_port == spec.port)
        route = ["--use-mx", "--domain", spec.hosts[0]] if spec.use_mx else \
            ["--smart-host", *[loopback.get(h, h) for h in spec.hosts]]
        tls = ["--tls", spec.tls] + (["--tls-domain", spec.tls_domain] if spec.tls_domain else [])
        with contextlib.redirect_stdout(io.StringIO()):
            exit_code = main(["probe", *route, "--port", str(port), *tls,
                              "--nameserver", f"{lab.map.dns[0]}:{lab.map.dns[1]}", "--ca-file", str(lab.map.ca_file),
                              "--timeout", str(CLIENT_TIMEOUT), "--json", str(out),
                              "--recipient", _recipient(world.scenario)])
    report = json.loads(out.read_text())
    assert exit_code == (0 if report["ok"] else 1)
    return (None, None) if report["ok"] else (report["code"], report["stage"])


def _observed(world: WorldAtT) -> Verdict:
    """Code and stage of a real attempt (dnspython, smtplib, ssl; classified by the simulation's table)
    against the lab serving the world at T. The lab only reads the world, so the simulated attempt can run
    on the same world afterwards."""
    spec = world.connector_spec(world.scenario.connectors[0].name)
    with Lab(world) as lab:
        assert lab.map is not None
        loopback = {p.scenario_address: p.address for p in lab.map.places}
        port = next(p.port for p in lab.map.places if p.scenario_port == spec.port)
        seen = smtplib_client.attempt(spec, lab.map.dns, loopback, port, lab.map.ca_file,
                                      _recipient(world.scenario), CLIENT_TIMEOUT)
    return (None, None) if seen is None else (seen.code, seen.stage.value)


VALIDATING = {"tls": "DomainValidation", "connector": f'tls_domain = "{HOST}"'}
FAULT_CASES: dict[str, tuple[str, dict[str, str]]] = {
    "delivered: no fault": ("", {}),
    "delivered: no fault, validating": ("", VALIDATING),
    "dns nxdomain": ('kind = "dns_failure"\nerror = "nxdomain"', {"target": HOST}),
    "dns servfail": ('kind = "dns_failure"\nerror = "servfail"', {"target": HOST}),
    "dns timeout": ('kind = "dns_failure"\nerror = "timeout"', {"target": HOST}),
    "connect_timeout": ('kind = "connect_timeout"', {}),
    "connection_refused": ('kind = "connection_refused"', {}),
    "service_unavailable": ('kind = "service_unavailable"', {}),
    "tls_not_offered": ('kind = "tls_not_offered"', {"tls": "EncryptionOnly"}),
    "tls_handshake_failure": ('kind = "tls_handshake_failure"', {"tls": "EncryptionOnly"}),
    "certificate_expired": ('kind = "certificate_expired"', {"tls": "CertificateValidation"}),
    "certificate_untrusted": ('kind = "certificate_untrusted"', {"tls": "CertificateValidation"}),
    "certificate_name_mismatch": ('kind = "certificate_name_mismatch"', VALIDATING),
    "closed at banner": ('kind = "connection_closed"\nstage = "banner"', {}),
    "closed at ehlo": ('kind = "connection_closed"\nstage = "ehlo"', {}),
    "closed at data": ('kind = "connection_closed"\nstage = "data"', {}),
    "reply at banner": ('kind = "smtp_reply"\nstage = "banner"\nreply = "554 5.3.2 Not accepting mail"', {}),
    "reply at ehlo": ('kind = "smtp_reply"\nstage = "ehlo"\nreply = "550 5.7.1 Not welcome"', {}),
    "reply at starttls": ('kind = "smtp_reply"\nstage = "starttls"\nreply = "454 4.7.0 TLS not available"',
                          {"tls": "EncryptionOnly"}),
    "reply at mail": ('kind = "smtp_reply"\nstage = "mail"\nreply = "550 5.7.1 Client host blocked"', {}),
    "reply at rcpt": ('kind = "smtp_reply"\nstage = "rcpt"\nreply = "451 4.7.500 Server busy, try again later"', {}),
    "reply at data": ('kind = "smtp_reply"\nstage = "data"\nreply = "554 5.6.0 Message rejected"', {}),
    # Variants: other reply classes, and what a connector's TLS setting lets pass.
    "4xx greeting": ('kind = "smtp_reply"\nstage = "banner"\nreply = "450 4.3.2 Try again later"', {}),
    "421 to ehlo": ('kind = "smtp_reply"\nstage = "ehlo"\nreply = "421 4.3.2 Closing"', {}),
    "421 to mail": ('kind = "smtp_reply"\nstage = "mail"\nreply = "421 4.3.2 Closing"', {}),
    "5xx to starttls, opportunistic": ('kind = "smtp_reply"\nstage = "starttls"\nreply = "554 5.7.0 No TLS"', {}),
    "delivered: 4xx to starttls, opportunistic": (
        'kind = "smtp_reply"\nstage = "starttls"\nreply = "454 4.7.0 TLS not available"', {}),
    "delivered: tls_not_offered, opportunistic": ('kind = "tls_not_offered"', {}),
    "delivered: tls_handshake_failure, opportunistic": ('kind = "tls_handshake_failure"', {}),
    "delivered: certificate_untrusted, opportunistic": ('kind = "certificate_untrusted"', {}),
    "delivered: certificate_expired, EncryptionOnly": ('kind = "certificate_expired"', {"tls": "EncryptionOnly"}),
    "delivered: certificate_name_mismatch, CertificateValidation": (
        'kind = "certificate_name_mismatch"', {"tls": "CertificateValidation"}),
}


@pytest.mark.parametrize("case", list(FAULT_CASES))
def test_fault_kind_probe_equals_simulation(case: str, tmp_path: Path) -> None:
    """Each fault kind and stage: `mfi-sim probe` against the lab reports the simulated attempt's code and
    stage at the same instant."""
    fault, options = FAULT_CASES[case]
    world = world_at(lab_scenario(fault, **options), AT)
    seen = _probed(world, tmp_path)
    expected = _simulated(world)
    assert (expected == (None, None)) is case.startswith("delivered")
    assert seen == expected


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_scenario_probe_equals_simulation(name: str, tmp_path: Path) -> None:
    """Every bundled scenario at its first alert (its failure in force): `mfi-sim probe` against the lab
    reports the simulated code and stage."""
    scenario = load_scenario(name)
    world = world_at(scenario, default_instant(scenario)[0])
    seen = _probed(world, tmp_path)
    assert seen == _simulated(world)


@pytest.mark.parametrize("case", list(FAULT_CASES))
def test_fault_kind_smtplib_equals_simulation(case: str) -> None:
    """Each fault kind and stage: smtplib and ssl against the lab see the simulated attempt's code and stage."""
    fault, options = FAULT_CASES[case]
    world = world_at(lab_scenario(fault, **options), AT)
    seen = _observed(world)
    expected = _simulated(world)
    assert (expected == (None, None)) is case.startswith("delivered")
    assert seen == expected


@pytest.mark.parametrize("name", bundled_names())
def test_bundled_scenario_smtplib_equals_simulation(name: str) -> None:
    """Every bundled scenario at its first alert: smtplib against the lab sees the simulated code and stage."""
    scenario = load_scenario(name)
    world = world_at(scenario, default_instant(scenario)[0])
    seen = _observed(world)
    assert seen == _simulated(world)
