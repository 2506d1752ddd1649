"""The package type-checks under mypy --strict (STYLE: typing), so annotations stay honest."""
from __future__ import annotations

import subprocess
import sys

import pytest

from helpers import REPO


def test_mypy_strict_is_clean() -> None:
    """`mypy mfi_sim` (strict, per pyproject.toml) reports no issues."""
    pytest.importorskip("mypy", reason="mypy is not installed (it is in the [test] extra)")
    out = subprocess.run([sys.executable, "-m", "mypy", "mfi_sim"], cwd=REPO, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stdout[-3000:]
