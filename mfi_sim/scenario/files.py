"""Where scenario files come from: a path, or the name of a scenario bundled with the package."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import ScenarioError
from . import schema as s

__all__ = ["bundled_names", "bundled_path", "resolve_path", "load_scenario"]


def bundled_names() -> list[str]:
    """Names of the scenarios that ship with the package, sorted."""
    root = resources.files("mfi_sim.scenarios")
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def bundled_path(name: str) -> Path | None:
    """The file of a bundled scenario, or None."""
    candidate = resources.files("mfi_sim.scenarios").joinpath(f"{name}.toml")
    return Path(str(candidate)) if candidate.is_file() else None


def resolve_path(ref: str) -> Path:
    """A scenario reference (a path, or a bundled scenario's name) as a file path; ScenarioError if neither."""
    path = Path(ref)
    if path.is_file():
        return path
    bundled = bundled_path(ref.removesuffix(".toml"))
    if bundled is not None and not path.parent.parts:
        return bundled
    known = ", ".join(bundled_names())
    raise ScenarioError(f"no such file, and no bundled scenario of that name (bundled: {known})", file=ref)


def load_scenario(ref: str | Path) -> s.Scenario:
    """Reads a scenario by path or bundled name; ScenarioError on any problem, never another exception."""
    path = resolve_path(str(ref))
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"cannot read: {exc.__class__.__name__}: {exc}", file=str(ref)) from None
    from .loader import loads_scenario

    return loads_scenario(text, str(ref))
