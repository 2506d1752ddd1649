"""Files that appear whole or not at all: write to a temporary name beside the target, then rename."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Any

__all__ = ["AtomicFile", "write_atomic"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A file opened for writing under a temporary name; `commit()` renames it into place, `discard()` drops it."""

    def __init__(self, path: str | Path, mode: str = "w") -> None:
        self.path = Path(path)
        self._tmp: str | None = None
        if self.path.exists() and not self.path.is_file():
            # A device or pipe (/dev/null, /dev/stdout): nothing to rename over, write straight to it.
            if "b" in mode:
                self.file: IO[Any] = open(self.path, "wb")  # noqa: SIM115
            else:
                self.file = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".part", dir=self.path.parent)
        os.chmod(fd, 0o666 & ~_umask())     # mkstemp makes 0600; the finished file follows the umask
        if "b" in mode:
            self.file = os.fdopen(fd, "wb")
        else:
            self.file = os.fdopen(fd, "w", encoding="utf-8", newline="\n")

    def commit(self) -> None:
        self.file.close()
        if self._tmp is not None:
            os.replace(self._tmp, self.path)

    def discard(self) -> None:
        if not self.file.closed:
            self.file.close()
        if self._tmp is None:
            return
        try:
            os.unlink(self._tmp)
        except FileNotFoundError:
            pass

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.discard()


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Writes `data` to `path` atomically."""
    with AtomicFile(path, "wb" if isinstance(data, bytes) else "w") as f:
        f.file.write(data)
