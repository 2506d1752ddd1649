"""The service's own limits on settings the simulator accepts more widely: a scenario outside them still runs,
with a warning (the CLI prints it on stderr), so what-ifs beyond the service stay possible."""
from __future__ import annotations

from ..units import format_duration
from .schema import Scenario

__all__ = ["EXPIRATION_RANGE", "limit_warnings"]

#: Set-TransportConfig -MessageExpiration in Exchange Online: 12 hours to 24 hours (24 h by default).
EXPIRATION_RANGE = (12 * 3600.0, 24 * 3600.0)
#: The retry presets that stand for Exchange Online, where its limits apply.
_SERVICE_PRESETS = ("exchange-online",)


def limit_warnings(scenario: Scenario) -> list[str]:
    """One line per setting outside what the service allows, naming the file and the field."""
    out = []
    tenant = scenario.tenant
    low, high = EXPIRATION_RANGE
    if tenant.retry in _SERVICE_PRESETS and not low <= tenant.message_expiration <= high:
        out.append(f"{scenario.source}: tenant.message_expiration: {format_duration(tenant.message_expiration)} is "
                   f"outside the {low / 3600:g}h to {high / 3600:g}h Exchange Online allows "
                   "(Set-TransportConfig -MessageExpiration); the run uses it anyway")
    return out
