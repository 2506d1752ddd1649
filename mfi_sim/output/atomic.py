"""Files that appear whole or not at all: write to a temporary name beside the target, then rename; and
the outputs of one run as one transaction (`OutputSet`): all new, or all as they were."""
from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["AtomicFile", "write_atomic", "OutputSet", "TEMP_SUFFIX"]

#: Every temporary name this module makes ends so (and starts with a dot): `.out.json.x1y2.part`.
TEMP_SUFFIX = ".part"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


class AtomicFile:
    """A file opened for writing under a temporary name; `commit()` renames it into place, `discard()` drops it."""

    def __init__(self, path: str | Path, mode: str = "w") -> None:
        self.path = Path(path)
        self.mode = mode
        self._tmp: str | None = None
        if self.path.exists() and not self.path.is_file():
            # A device or pipe (/dev/null, /dev/stdout): nothing to rename over, write straight to it.
            if "b" in mode:
                self.file: IO[Any] = open(self.path, "wb")  # noqa: SIM115
            else:
                self.file = open(self.path, "w", encoding="utf-8", newline="\n")  # noqa: SIM115
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, self._tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=TEMP_SUFFIX, dir=self.path.parent)
        os.chmod(fd, 0o666 & ~_umask())     # mkstemp makes 0600; the finished file follows the umask
        if "b" in mode:
            self.file = os.fdopen(fd, "wb")
        else:
            self.file = os.fdopen(fd, "w", encoding="utf-8", newline="\n")

    @property
    def staged(self) -> Path | None:
        """The temporary file (None when writing straight to a device)."""
        return Path(self._tmp) if self._tmp is not None else None

    def write(self, data: str | bytes) -> None:
        """Writes `data`; an OSError (a full disk) names the target file."""
        try:
            self.file.write(data)
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def close(self) -> None:
        """Finishes writing without putting the file in place (see OutputSet)."""
        try:
            self.file.close()
        except OSError as exc:
            raise OSError(exc.errno, exc.strerror, str(self.path)) from None

    def commit(self) -> None:
        self.close()
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
        f.write(data)


class OutputSet:
    """The outputs of one run, staged under temporary names and put in place together by `commit()`: each
    old target is first moved aside, then each new one renamed in; if any step fails, what was done is
    undone, so the targets are all new or all as they were. `discard()` removes everything staged."""

    def __init__(self) -> None:
        self.files: list[AtomicFile] = []
        self.directories: list[tuple[Path, Path]] = []     # (temporary, target)

    def file(self, path: str | Path, mode: str = "w") -> AtomicFile:
        """A staged file for `path`."""
        f = AtomicFile(path, mode)
        self.files.append(f)
        return f

    def write(self, path: str | Path, data: str | bytes) -> None:
        """Stages `data` for `path`."""
        f = self.file(path, "wb" if isinstance(data, bytes) else "w")
        f.write(data)
        f.close()

    def directory(self, path: str | Path) -> Path:
        """A staged, empty directory that becomes `path` on commit."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=TEMP_SUFFIX, dir=target.parent))
        os.chmod(tmp, 0o777 & ~_umask())
        self.directories.append((tmp, target))
        return tmp

    def commit(self) -> None:
        """Puts every staged output in place, all or none; signals wait until it is done."""
        for f in self.files:
            f.close()
        moves = [(f.staged, f.path) for f in self.files if f.staged is not None] + self.directories
        done: list[tuple[Path, Path, Path | None]] = []      # (staged, target, where the old target went)
        with _signals_held():
            try:
                for staged, target in moves:
                    aside = _move_aside(target)
                    done.append((staged, target, aside))
                    os.rename(staged, target)
            except BaseException:
                for staged, target, aside in reversed(done):
                    if target.exists() and not staged.exists():
                        os.rename(target, staged)
                    if aside is not None:
                        os.rename(aside, target)
                self.discard()
                raise
            self.files, self.directories = [], []
            for _, _, aside in done:
                if aside is not None:
                    _remove(aside)

    def discard(self) -> None:
        """Removes every staged file and directory; the targets are untouched."""
        for f in self.files:
            f.discard()
        for tmp, _ in self.directories:
            _remove(tmp)
        self.files, self.directories = [], []


def _move_aside(target: Path) -> Path | None:
    """Renames an existing target to a temporary name beside it; None when there is none."""
    if not target.exists() and not target.is_symlink():
        return None
    aside = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", suffix=TEMP_SUFFIX, dir=target.parent))
    os.rmdir(aside)                                         # only the unique name is wanted
    os.rename(target, aside)
    return aside


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM wait (are delivered after) while the renames of a commit run."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        old = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):     # no pthread_sigmask on this platform
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)
