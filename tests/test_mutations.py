"""A check of the suite itself: small breakages of the queue objects must each fail their unit tests.

Each mutation is applied to a copy of the package in a temporary directory; the named test files then run
against the copy in a child process, which must fail. A mutation that passes means the tests no longer
guard that behaviour (both breakages named in issue 8 are here: connection reuse off, retry age 0).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
TESTS = Path(__file__).resolve().parent

#: (name, file in the package, text, replacement, test files that must fail)
MUTATIONS = [
    ("connection reuse off", "connections.py",
     "if sess is None or self.left[slot] <= 0 or ready > free_at + KEEPALIVE:", "if True:",
     ["test_connections.py"]),
    ("retry age forced to 0", "retry_state.py",
     "self.policy.next_delay(self.failures, t - first)", "self.policy.next_delay(self.failures, 0.0)",
     ["test_retry_state.py"]),
    ("latest failure takes effect", "retry_state.py", "if end < self.pending_fail:", "if end > self.pending_fail:",
     ["test_retry_state.py"]),
    ("failed message sent again while in flight", "ledger.py",
     "heappush(self.deferred, (t, number))", "self.waiting.appendleft(number)", ["test_ledger.py"]),
    ("finished messages counted as aged", "ledger.py", "self.aged_done += self.store.status[p:q].count(DONE)",
     "self.aged_done += q - p - self.store.status[p:q].count(DONE)", ["test_ledger.py"]),
    ("delay notice sent more than once", "ledger.py", "        self.delay_ptr = p\n", "\n", ["test_ledger.py"]),
]


def _run_against(copy: Path, tests: list[str]) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(copy), PYTHONDONTWRITEBYTECODE="1")
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "--no-header",
           *[str(TESTS / t) for t in tests]]
    return subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("name,path,old,new,tests", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_the_unit_tests_catch_the_mutation(tmp_path: Path, name: str, path: str, old: str, new: str,
                                           tests: list[str]) -> None:
    """The mutated copy fails at least one of the named unit tests."""
    shutil.copytree(REPO / "mfi_sim", tmp_path / "mfi_sim", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "mfi_sim" / path
    text = target.read_text()
    assert text.count(old) == 1, f"mutation '{name}' no longer applies to {path}: update MUTATIONS"
    target.write_text(text.replace(old, new))
    result = _run_against(tmp_path, tests)
    assert result.returncode == 1, f"mutation '{name}' survived:\n{result.stdout[-2000:]}"


def test_a_child_imports_the_copy(tmp_path: Path) -> None:
    """The children above test the copy, not the installed package (PYTHONPATH comes first)."""
    shutil.copytree(REPO / "mfi_sim", tmp_path / "mfi_sim", ignore=shutil.ignore_patterns("__pycache__"))
    probe = subprocess.run([sys.executable, "-c", "import mfi_sim; print(mfi_sim.__file__)"], cwd=tmp_path,
                           env=dict(os.environ, PYTHONPATH=str(tmp_path)), capture_output=True, text=True)
    assert probe.stdout.strip().startswith(str(tmp_path))
