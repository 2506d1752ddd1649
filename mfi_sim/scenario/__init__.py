"""Scenario files: the frozen schema the engine runs, and the loader that builds it from TOML.

Names are imported on first use (PEP 562), so a light submodule (`expectations.did_you_mean`, `limits`)
can be imported without loading the loader and, through it, dnspython."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .loader import (bundled_names, bundled_path, check_size, load_scenario, loads_scenario, parse_toml,
                         read_text, resolve_path, scenario_from_data)
    from .schema import (Action, AlertSettings, Certificate, Connector, Fault, Scenario, Server, TestCase,
                         Tenant, Traffic)

__all__ = ["Action", "AlertSettings", "Certificate", "Connector", "Fault", "Scenario", "Server", "TestCase",
           "Tenant", "Traffic", "load_scenario", "loads_scenario", "bundled_names", "bundled_path",
           "resolve_path", "parse_toml", "scenario_from_data", "read_text", "check_size"]

_SCHEMA = {"Action", "AlertSettings", "Certificate", "Connector", "Fault", "Scenario", "Server", "TestCase",
           "Tenant", "Traffic"}


def __getattr__(name: str) -> Any:
    """Imports a public name on first use."""
    if name not in __all__:
        raise AttributeError(f"module 'mfi_sim.scenario' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(".schema" if name in _SCHEMA else ".loader", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
