"""Where scenario files come from: a path, or the name of a scenario bundled with the package; and reading
one as text, with the same one-line errors for every command."""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..errors import ScenarioError
from .limits import MAX_FILE_BYTES

__all__ = ["bundled_names", "bundled_path", "resolve_path", "read_text"]


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
    try:
        if path.is_file():
            return path
    except (OSError, ValueError):      # a name too long for the file system, or with a NUL in it
        pass
    bundled = bundled_path(ref.removesuffix(".toml")) if "\x00" not in ref and len(ref) < 200 else None
    if bundled is not None and not path.parent.parts:
        return bundled
    known = ", ".join(bundled_names())
    raise ScenarioError(f"no such file, and no bundled scenario of that name (bundled: {known})", file=ref)


def read_text(ref: str | Path) -> str:
    """The text of a scenario file (by path or bundled name): UTF-8, at most MAX_FILE_BYTES; ScenarioError
    naming the file (and, for a bad byte, the line) on any problem."""
    path = resolve_path(str(ref))
    try:
        with path.open("rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise ScenarioError(f"cannot read: {exc.strerror or exc}", file=str(ref)) from None
    if len(data) > MAX_FILE_BYTES:
        raise ScenarioError(f"larger than the limit of {MAX_FILE_BYTES // (1024 * 1024)} MiB for a scenario file",
                            file=str(ref))
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise ScenarioError(f"not UTF-8 text: byte 0x{data[exc.start]:02x} at offset {exc.start} cannot be decoded",
                            file=str(ref), line=line) from None
