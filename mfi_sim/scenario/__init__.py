"""Scenario files: the frozen schema the engine runs, and the loader that builds it from TOML."""
from __future__ import annotations

from .loader import (bundled_names, bundled_path, check_size, load_scenario, loads_scenario, parse_toml,
                     read_text, resolve_path, scenario_from_data)
from .schema import (Action, AlertSettings, Certificate, Connector, Fault, Scenario, Server, TestCase,
                     Tenant, Traffic)

__all__ = ["Action", "AlertSettings", "Certificate", "Connector", "Fault", "Scenario", "Server", "TestCase",
           "Tenant", "Traffic", "load_scenario", "loads_scenario", "bundled_names", "bundled_path",
           "resolve_path", "parse_toml", "scenario_from_data", "read_text", "check_size"]
