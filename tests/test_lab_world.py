"""The lab's view of the world at T (the engine's own, actions at T included), its loopback addresses, its
sockets' port choice, and the ready file."""
from __future__ import annotations

import json
import socket

import pytest

from lab_support import lab_scenario, live_socket_inodes, running_lab, socket_inodes
from mfi_sim.lab.addresses import loopback_map, world_addresses
from mfi_sim.lab.ready import ready_json
from mfi_sim.lab.sockets import Shape, bind_group
from mfi_sim.lab.world_at import default_instant, world_at
from mfi_sim.scenario import load_scenario


def test_actions_up_to_and_at_t_have_happened() -> None:
    """certificate-name-mismatch renews for the wrong name at 1h: not yet just before, already at 1h."""
    scenario = load_scenario("certificate-name-mismatch")
    before = world_at(scenario, 3599.0).servers()[0].certificate
    at = world_at(scenario, 3600.0).servers()[0].certificate
    assert before is not None and before.names == ("mail.contoso.com",)
    assert at is not None and at.names == ("mail.fabrikam.com",)


def test_cleared_faults_and_changed_hosts() -> None:
    """A fault cleared at 4h is no longer in force at 4h; smart hosts changed at 3h are the connector's once the
    change has propagated."""
    tls = load_scenario("cannot-connect-tls-required")
    assert [f.kind for f in world_at(tls, 3 * 3600.0).faults_on("198.51.100.10")] == ["tls_not_offered"]
    assert world_at(tls, 4 * 3600.0).faults_on("198.51.100.10") == ()
    timed_out = load_scenario("connection-timed-out")
    name = timed_out.connectors[0].name
    assert world_at(timed_out, 3600.0).connector_spec(name).hosts == ("smtp.contoso.com",)
    # the admin's change at 3h is tenant configuration: in force once it has propagated (30 min to 1 h)
    assert world_at(timed_out, 3 * 3600.0).connector_spec(name).hosts == ("smtp.contoso.com",)
    assert world_at(timed_out, 4 * 3600.0).connector_spec(name).hosts == ("mail.contoso.com",)


def test_default_instant_is_the_first_alert() -> None:
    """Without --at a lab serves the instant of the first alert; a scenario without alert or fault, the start."""
    at, why = default_instant(load_scenario("connection-refused"))
    assert 3600.0 < at < 3 * 3600.0 and "450 4.4.316" in why
    assert default_instant(load_scenario("healthy-baseline"))[0] == 0.0
    with pytest.raises(ValueError):
        world_at(load_scenario("healthy-baseline"), -1.0)


def test_every_address_gets_its_own_loopback_address() -> None:
    """Servers first, then every other address the zones hold, from 127.0.0.2 up, each once."""
    world = world_at(load_scenario("connection-timed-out"), 600.0)
    addresses = world_addresses(world)
    assert addresses == ["198.51.100.10", "198.51.100.53", "198.51.100.99"]
    assert loopback_map(addresses + ["198.51.100.10"]) == {
        "198.51.100.10": "127.0.0.2", "198.51.100.53": "127.0.0.3", "198.51.100.99": "127.0.0.4"}


def test_a_taken_port_moves_the_whole_group_to_one_high_port() -> None:
    """When another program holds the wanted port on one address, every address of the group shares one
    other port; the refused shape holds its port without listening (a connect there is refused)."""
    holder = socket.socket()
    holder.bind(("127.0.0.22", 0))
    holder.listen(1)
    wanted = holder.getsockname()[1]
    try:
        port, socks = bind_group([("127.0.0.21", Shape.LISTEN), ("127.0.0.22", Shape.REFUSED)], wanted)
        try:
            assert port != wanted and [s.getsockname() for s in socks] == [("127.0.0.21", port),
                                                                         ("127.0.0.22", port)]
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.22", port), timeout=2)
        finally:
            for s in socks:
                s.close()
    finally:
        holder.close()


def test_ready_file_maps_scenario_addresses() -> None:
    """The ready file names the DNS endpoint, each server's loopback address and port, and the CA file."""
    with running_lab(lab_scenario()) as lab:
        data = json.loads(ready_json(lab))
        place = lab.place("198.51.100.10")
        assert data["servers"] == {"198.51.100.10:25": f"{place.address}:{place.port}"}
        assert data["dns"] == f"{lab.dns[0]}:{lab.dns[1]}" and data["ca_file"] == str(lab.ca_file)
        assert data["hosts"] == {"198.51.100.53:25": f"{lab.place('198.51.100.53').address}:{place.port}"}


def test_stop_closes_every_socket_even_with_sessions_open() -> None:
    """Stopping a lab with a session still open closes every socket it made: listeners, reservations, the
    accept-queue fillers, DNS, and the server side of the session."""
    before = socket_inodes()
    with running_lab(lab_scenario()) as lab:   # ns1 (no server) is silent: its accept queue is filled
        place = lab.place("198.51.100.10")
        client = socket.create_connection((place.address, place.port), timeout=5)
        assert client.recv(100).startswith(b"220 mail.contoso.com")
        during = socket_inodes() - before
    try:
        assert client.recv(100) == b""     # the lab closed its side
    finally:
        client.close()
    assert len(during) > 5
    assert not (socket_inodes() - before)
    assert not during & live_socket_inodes()
