"""The benchmark scripts say what to do when what they compare against is missing."""
from __future__ import annotations

import subprocess
import sys

from helpers import REPO


def test_compare_without_reference_models_says_what_to_do(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """No ../shared/bench: one line naming the place and --bench-dir, exit 2, no traceback."""
    proc = subprocess.run([sys.executable, str(REPO / "benchmarks" / "compare.py"), "--bench-dir",
                           str(tmp_path / "absent")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "../shared/bench" in lines[0] and "--bench-dir" in lines[0]
    assert "Traceback" not in proc.stderr
