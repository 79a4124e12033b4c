"""The cell rules of the chapters: a chapter holds prose, parameters and short calls.

A code cell has at most :data:`MAX_LINES` lines of code (comments and blank lines aside; the
``parameters`` cell is exempt), and no branch, loop, comprehension, function or class: what a
chapter concludes is computed by a tested function of ``dynconv``, not by the cell.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

NOTEBOOKS = sorted((Path(__file__).parents[1] / "notebooks").glob("*.ipynb"))
MAX_LINES = 6
# what a cell may not contain, with the word a failure uses for it
FORBIDDEN = {
    ast.If: "if", ast.IfExp: "if/else expression", ast.For: "loop", ast.While: "loop",
    ast.Try: "try", ast.With: "with", ast.FunctionDef: "function", ast.Lambda: "lambda",
    ast.ClassDef: "class", ast.ListComp: "comprehension", ast.DictComp: "comprehension",
    ast.SetComp: "comprehension", ast.GeneratorExp: "comprehension",
}


def cell_problems(source: str) -> list[str]:
    """Why a code cell breaks the rules ([] when it keeps them)."""
    problems = []
    code = [line for line in source.splitlines()
            if line.strip() and not line.strip().startswith("#")]
    if len(code) > MAX_LINES:
        problems.append(f"{len(code)} lines of code (at most {MAX_LINES})")
    found = {word for node in ast.walk(ast.parse(source))
             for kind, word in FORBIDDEN.items() if isinstance(node, kind)}
    problems += sorted(found)
    return problems


def offending_cells(path: Path) -> dict[int, list[str]]:
    cells = json.loads(path.read_text())["cells"]
    return {i: problems for i, cell in enumerate(cells)
            if cell["cell_type"] == "code"
            and "parameters" not in cell.get("metadata", {}).get("tags", [])
            and (problems := cell_problems("".join(cell["source"])))}


def test_the_rules_find_what_they_forbid():
    assert cell_problems("ch.compare(a, b)") == []
    assert cell_problems("x = [r for r in rs]") == ["comprehension"]
    assert cell_problems("if a:\n    b()") == ["if"]
    assert cell_problems("\n".join(f"x{i} = {i}" for i in range(7))) == [
        "7 lines of code (at most 6)"]
    assert cell_problems("# a comment\n" * 10 + "f()") == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_cells_keep_the_rules(path):
    offending = offending_cells(path)
    assert not offending, f"{path.name}: " + "; ".join(
        f"cell {i}: {', '.join(p)}" for i, p in offending.items())


def test_every_chapter_is_checked():
    assert len(NOTEBOOKS) >= 11
