"""STYLE.md's two measurable rules, over the whole package: every function under McCabe complexity 15, every
module under 500 lines."""
from __future__ import annotations

import ast
from pathlib import Path

from mccabe import PathGraphingAstVisitor

PACKAGE = Path(__file__).resolve().parents[1] / "mfi_sim"
MODULES = sorted(PACKAGE.rglob("*.py"))


def complexities(path: Path) -> list[tuple[str, int, int]]:
    """(function, line, McCabe complexity) of every function and method in the file."""
    visitor = PathGraphingAstVisitor()
    visitor.preorder(ast.parse(path.read_text(encoding="utf-8"), str(path)), visitor)
    return [(g.entity, g.lineno, g.complexity()) for g in visitor.graphs.values()]


def test_every_function_is_under_mccabe_15() -> None:
    over = [f"{p.relative_to(PACKAGE.parent)}:{line} {name} ({c})"
            for p in MODULES for name, line, c in complexities(p) if c >= 15]
    assert not over, "split these functions: " + ", ".join(over)


def test_every_module_is_under_500_lines() -> None:
    long = [f"{p.relative_to(PACKAGE.parent)} ({n})" for p in MODULES
            if (n := len(p.read_text(encoding="utf-8").splitlines())) >= 500]
    assert not long, "split these modules: " + ", ".join(long)


def test_the_measure_sees_a_complex_function(tmp_path: Path) -> None:
    branches = "\n".join(f"    if x == {i}:\n        return {i}" for i in range(15))
    module = tmp_path / "m.py"
    module.write_text(f"def f(x):\n{branches}\n    return -1\n")
    assert complexities(module) == [("f", 1, 16)]
