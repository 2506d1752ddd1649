"""The default route of a connector that is off: MX delivery, a mail loop back to the service, or rejection."""
from __future__ import annotations

from mfi_sim import loads_scenario
from mfi_sim.default_route import AUTHORITATIVE, LOOP, MX, REJECT, DefaultRoute
from mfi_sim.engine import Engine
from mfi_sim.world.dns import ZoneResolver

from helpers import scenario_text

ZONE = """
$ORIGIN contoso.com.
@     3600 IN SOA ns1 hostmaster 1 7200 900 1209600 300
@     3600 IN NS  ns1
@     3600 IN MX  0 contoso-com.mail.protection.outlook.example.
ns1   3600 IN A   198.51.100.53
mail   300 IN A   198.51.100.10
"""
INBOUND = "contoso-com.mail.protection.outlook.example"


def test_fate_of_a_domain() -> None:
    """MX back at the service: a loop; Authoritative: rejected; no inbound host declared: the MX is used."""
    resolver = ZoneResolver.from_texts([ZONE])
    accepted: dict[str, str] = {}
    route = DefaultRoute(resolver, INBOUND.upper() + ".", accepted)
    assert route.fate("contoso.com", 0.0) == LOOP
    accepted["contoso.com"] = AUTHORITATIVE
    assert route.fate("contoso.com", 0.0) == REJECT
    assert DefaultRoute(resolver, None, {}).fate("contoso.com", 0.0) == MX


def test_a_disabled_connector_sends_to_the_mx() -> None:
    """Turned off, a connector's mail goes to the domain's MX (here the same server): nothing piles up."""
    actions = '[[actions]]\nat = "1h"\ndo = "disable_connector"\nconnector = "To on-premises"\n'
    engine = Engine(loads_scenario(scenario_text(duration="3h", actions=actions), "t.toml"))
    r = engine.run()
    q = r.connectors[0]
    assert q.status == "Suspended" and q.queued <= 2
    assert q.ndr == 0 and q.delivered > 1500


def test_a_disabled_connector_whose_mx_is_the_service_loops() -> None:
    """Queued and new mail for a domain whose MX points back at the service gets 554 5.4.14, not queued."""
    actions = '[[actions]]\nat = "2h"\ndo = "disable_connector"\nconnector = "To on-premises"\n'
    faults = '[[faults]]\nkind = "connection_refused"\ntarget = "198.51.100.10"\nstart = "1h"\n'
    text = scenario_text(duration="4h", actions=actions, faults=faults,
                         tenant=f'inbound_host = "{INBOUND}"').replace("@     3600 IN MX  10 mail",
                                                                         f"@     3600 IN MX  0 {INBOUND}.")
    engine = Engine(loads_scenario(text, "t.toml"))
    r = engine.run()
    c = r.connectors[0]
    assert c.queued == 0 and c.rejected == 0
    assert c.ndr_by_status == {"5.4.14": c.ndr} and c.ndr > 0.9 * 600 * 3
