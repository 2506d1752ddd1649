"""mfi-sim: simulate a hosted mail service's outbound connector queue when delivery fails, and the
mail-flow-intelligence alerts it raises."""
from __future__ import annotations

__version__ = "0.1.0"

from .engine import Result, simulate  # noqa: E402
from .scenario import load_scenario, loads_scenario  # noqa: E402

__all__ = ["__version__", "load_scenario", "loads_scenario", "simulate", "Result"]
