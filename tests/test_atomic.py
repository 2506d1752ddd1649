"""Output files appear whole or not at all, and devices such as /dev/null are written, never replaced."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from mfi_sim.output.atomic import AtomicFile, write_atomic


def test_write_then_rename(tmp_path: Path) -> None:
    """The target appears only on commit; a discarded write leaves nothing behind."""
    target = tmp_path / "out.json"
    f = AtomicFile(target)
    f.file.write("partial")
    assert not target.exists()
    f.discard()
    assert list(tmp_path.iterdir()) == []
    write_atomic(target, "whole\n")
    assert target.read_text() == "whole\n" and len(list(tmp_path.iterdir())) == 1


def test_exception_inside_the_block_discards(tmp_path: Path) -> None:
    """An error while writing leaves no file, not even a temporary one."""
    with pytest.raises(RuntimeError):
        with AtomicFile(tmp_path / "x.txt") as f:
            f.file.write("half")
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_device_is_written_not_replaced() -> None:
    """Writing to /dev/null writes to the device; it stays a character device (a rename would replace it)."""
    write_atomic(os.devnull, "nothing\n")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_finished_file_follows_the_umask(tmp_path: Path) -> None:
    """A written file gets the usual permissions (0644 under umask 022), not mkstemp's private 0600."""
    old = os.umask(0o022)
    try:
        write_atomic(tmp_path / "r.json", "{}\n")
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(tmp_path / "r.json").st_mode) == 0o644
