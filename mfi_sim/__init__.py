"""mfi-sim: simulate a hosted mail service's outbound connector queue when delivery fails, and the
mail-flow-intelligence alerts it raises.

The notebook API (`load`, `simulate`, `sweep`) is documented in `mfi_sim.notebook`. Names are imported on
first use, so `import mfi_sim` stays cheap (no simulation library is loaded until one is needed).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from .result import Result
    from .notebook import Loaded, SweepResult, load, simulate, sweep
    from .scenario import load_scenario, loads_scenario

__all__ = ["__version__", "load", "simulate", "sweep", "Loaded", "SweepResult", "Result", "load_scenario",
           "loads_scenario"]

_LAZY = {"load": "notebook", "simulate": "notebook", "sweep": "notebook", "Loaded": "notebook",
         "SweepResult": "notebook", "Result": "result", "load_scenario": "scenario", "loads_scenario": "scenario"}


def __getattr__(name: str) -> Any:
    """Imports a public name on first use (PEP 562)."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'mfi_sim' has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
