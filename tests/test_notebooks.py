"""The chapter notebooks: one per chapter of the table of contents, stripped of outputs, one
`parameters` cell, code lines that fit the page, ruff-clean (the cell rules are
tests/test_notebook_rules.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from papermill.translators import PythonTranslator

REPO = Path(__file__).resolve().parents[1]

NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))

MAX_CODE_LINE = 80  # characters per line of a chapter's code cell


def test_every_toc_chapter_has_a_source_notebook():
    toc = (REPO / "_toc.yml").read_text()
    chapters = {line.split("book/chapters/")[1].strip() for line in toc.splitlines()
                if "file: book/chapters/" in line}
    assert chapters == {nb.stem for nb in NOTEBOOKS}
    assert len(NOTEBOOKS) == 11


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_chapter_notebook_is_stripped_and_parametrised(path):
    nb = nbformat.read(path, as_version=4)
    # valid for its own nbformat version (e.g. no cell ids before 4.5: Jupyter adds them and
    # the minor version together when it saves)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code), "outputs not stripped"
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged `parameters`"
    names = {p.name for p in PythonTranslator.inspect(tagged[0])}
    assert {"profile", "data_dir"} <= names, f"papermill sees only {names}"
    # Library code lives in dynconv: no chapter defines a class or runs its own training loop.
    source = "\n".join(c.source for c in code)
    assert "\nclass " not in "\n" + source
    assert ".backward(" not in source and "optimizer.step" not in source
    # Code cells fit the page: the rendered code box holds about 88 characters at a 1400 px
    # window (longer lines scroll sideways; the site check measures the real boxes).
    long = [line for line in source.splitlines() if len(line) > MAX_CODE_LINE]
    assert not long, f"{len(long)} code line(s) over {MAX_CODE_LINE} characters: {long[0]!r}"


def test_package_tests_and_chapters_are_ruff_clean():
    ruff = Path(sys.executable).with_name("ruff")
    if not ruff.exists():
        pytest.skip("ruff is not installed next to this Python (install the `test` extra)")
    result = subprocess.run([str(ruff), "check", "dynconv", "tests", "notebooks"], cwd=REPO,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
