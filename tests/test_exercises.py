"""Every chapter's exercises: each has a folded hint and a folded worked solution, and every
piece of code in them runs, in the context of its chapter, under the ``smoke`` profile.

The convention (the tests below enforce it, so no exercise code can hide from them):

* a chapter's exercises are the text after ``## Exercises`` in the one markdown cell holding
  that heading, a numbered list whose items start at the line's first column (``1. ``);
* each exercise holds one ``:::{dropdown} Hint`` and, after it, one ``:::{dropdown} Solution``
  (MyST colon fences, rendered folded by sphinx-design);
* code a reader runs is a fenced block marked ``python`` (in the question or in a dropdown);
  it runs in the chapter's kernel after the chapter's cells, so it may use what the chapter's
  parameters and setup cells define (``profile``, ``data_dir``, ``ch`` and the imports),
  anything an earlier block of the same chapter's exercises defined, and the few results of
  later cells that :data:`PREPARE` provides (chapter 8's benchmark ``result``, chapter 10's
  ``robustness.csv``), nothing else;
* no other fence and no call in inline code: inline code names things (``ch.compare``), it
  does not run them.

The run executes the chapter's ``parameters`` cell with ``profile = "smoke"`` and the code cell
after it (the setup: imports and ``ch = chapter.start(...)``), then every block of every
exercise in order, in one namespace, as a reader working down the page would. Records go to a
temporary results folder shared by the chapters of one session (``DYNCONV_RESULTS_DIR``), so
nothing is written into ``book/results``. Chapters whose exercises train are marked ``slow``.
"""

from __future__ import annotations

import dataclasses
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import nbformat
import pytest
from standins import with_accuracy

from dynconv.bench import benchmark as bench
from dynconv.book import exercises as helpers
from dynconv.book import robustness
from dynconv.channels import SUBSET_NAMES
from dynconv.paths import RESULTS_ENV

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))

HEADING = "## Exercises"
ITEM = re.compile(r"^(\d+)\. ", re.M)  # an exercise: a list item at the first column
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[^\n]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.M | re.S)
INLINE_CODE = re.compile(r"`([^`\n]+)`")
DROPDOWN = re.compile(r"^ *:::\{dropdown\} (\w+)[ \t]*$", re.M)
# What makes a block train (or load) records: those chapters are marked slow.
TRAINS = re.compile(r"run_experiment\(|\bch\.(run|records|seeds_of|oracles)\(")


def exercise_section(path: Path) -> str:
    """The text after ``## Exercises`` in the chapter's one markdown cell holding it."""
    nb = nbformat.read(path, as_version=4)
    cells = [c.source for c in nb.cells if c.cell_type == "markdown" and HEADING in c.source]
    assert len(cells) == 1, f"{path.stem}: {len(cells)} markdown cells hold {HEADING!r}"
    return cells[0].split(HEADING, 1)[1]


def chapter_exercises(path: Path) -> list[tuple[int, str]]:
    """(number, text) of each exercise of the chapter, in order."""
    section = exercise_section(path)
    starts = list(ITEM.finditer(section))
    ends = [m.start() for m in starts[1:]] + [len(section)]
    return [(int(m.group(1)), section[m.start():end]) for m, end in zip(starts, ends, strict=True)]


def code_blocks(text: str) -> list[tuple[str, str]]:
    """(language, dedented code) of each fenced block in ``text``."""
    return [(m.group("lang").strip(), textwrap.dedent(m.group("body")))
            for m in FENCE.finditer(text)]


def snippets(path: Path) -> Iterator[tuple[int, int, str]]:
    """(exercise number, block number, code) of every python block of the chapter."""
    for number, text in chapter_exercises(path):
        for k, (_, code) in enumerate(code_blocks(text), start=1):
            yield number, k, code


def setup_cells(path: Path) -> tuple[str, str]:
    """The chapter's ``parameters`` cell and the code cell after it (its setup)."""
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    (i,) = [j for j, c in enumerate(code) if "parameters" in c.metadata.get("tags", [])]
    return code[i].source, code[i + 1].source


def _trains(path: Path) -> bool:
    return any(TRAINS.search(code) for *_, code in snippets(path)) or bool(
        TRAINS.search(setup_cells(path)[1]))


def _chapter_params() -> list:
    return [pytest.param(p, id=p.stem, marks=[pytest.mark.slow] if _trains(p) else [])
            for p in NOTEBOOKS]


# ---------------------------------------------------------------------------- the convention


def test_the_book_has_38_exercises_numbered_from_1_in_every_chapter():
    counts = {}
    for path in NOTEBOOKS:
        numbers = [n for n, _ in chapter_exercises(path)]
        assert numbers == list(range(1, len(numbers) + 1)), f"{path.stem}: {numbers}"
        counts[path.stem] = len(numbers)
    assert len(counts) == 11 and sum(counts.values()) == 38, counts


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_exercise_has_a_folded_hint_then_a_folded_solution(path):
    section = exercise_section(path)
    # every colon fence opened is closed (an unclosed one would swallow the rest of the page)
    opened = len(DROPDOWN.findall(section))
    closed = len(re.findall(r"^ *:::[ \t]*$", section, re.M))
    assert opened == closed, f"{path.stem}: {opened} dropdowns opened, {closed} closed"
    for number, text in chapter_exercises(path):
        kinds = DROPDOWN.findall(text)
        assert kinds == ["Hint", "Solution"], f"{path.stem}, exercise {number}: {kinds}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_code_is_only_in_python_blocks_the_run_below_sees(path):
    section = exercise_section(path)
    for number, text in chapter_exercises(path):
        where = f"{path.stem}, exercise {number}"
        blocks = code_blocks(text)
        assert all(lang == "python" for lang, _ in blocks), f"{where}: fences {blocks}"
        # every ``` line is one of the python fences matched above (none left unmatched)
        fences = len(re.findall(r"^ *```", text, re.M))
        assert fences == 2 * len(blocks), f"{where}: a fence the test cannot parse"
        prose = FENCE.sub("", text)
        calls = [c for c in INLINE_CODE.findall(prose) if "(" in c]
        assert not calls, f"{where}: code to run belongs in a python block, not inline: {calls}"
    assert section.count("```python") == sum(1 for _ in snippets(path))


# ---------------------------------------------------------------------- the solutions' helpers


def test_colour_collisions_follow_the_builtin_colour_table():
    assert helpers.colour_collisions("RB") == [("red", "yellow")]
    assert helpers.colour_collisions("RG") == [("red", "magenta")]
    assert helpers.colour_collisions("GB") == [] == helpers.colour_collisions("RGB")
    assert set(helpers.colour_collisions("R")) == {
        ("red", "yellow"), ("red", "magenta"), ("yellow", "magenta")}
    white = {**helpers.COLOURS, "white": (True, True, True)}
    assert ("yellow", "white") in helpers.colour_collisions("RG", white)
    assert ("yellow", "white") not in helpers.colour_collisions("B", white)


def test_zero_fill_lookalikes_read_a_missing_channel_as_low():
    looks = helpers.zero_fill_lookalikes("RG")
    assert looks["magenta"] == ["red"] and looks["red"] == ["red"]
    assert looks["yellow"] == ["yellow"] and looks["cyan"] == []  # (lo, hi, lo): no class


def test_images_for_standard_error_is_the_worst_case_binomial_count():
    assert helpers.images_for_standard_error(0.01) == 2500
    assert helpers.images_for_standard_error(0.01, accuracy=0.9) == 900
    with pytest.raises(ValueError):
        helpers.images_for_standard_error(1.5)


# --------------------------------------------------------------------------------- the run


@pytest.fixture(scope="module")
def results_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One temporary results folder for the module: a record trained for one chapter's
    exercises is loaded, not trained again, by the next chapter's."""
    folder = tmp_path_factory.mktemp("exercise-results")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(RESULTS_ENV, str(folder))
        yield folder


def _stand_in_robustness_csv(results: Path, namespace: dict) -> None:
    """Chapter 10's ``robustness.csv`` (written by its cell from every Part III record) from
    stand-in records, so its exercises can read one without the chapter's trainings."""
    oracles = {s: with_accuracy({s: 0.9}, label=f"oracle {s}") for s in SUBSET_NAMES}
    v5 = with_accuracy({s: 0.8 - 0.1 * (s == "B") for s in SUBSET_NAMES}, label="v5")
    plain = with_accuracy({s: 0.85 - 0.05 * len(s) for s in SUBSET_NAMES}, label="resnet18")
    table = robustness.robustness_table({"v5": [v5], "resnet18": [plain]}, oracles)
    robustness.write_robustness_csv(table, results, "smoke")


def _small_benchmark(results: Path, namespace: dict) -> None:
    """Chapter 8's ``result`` (its whole benchmark, minutes even under ``smoke``): a real
    benchmark of the same form, only its loops part (seconds)."""
    settings = dataclasses.replace(bench.settings_for("smoke"), parts=("loops",))
    namespace["result"] = bench.cached_benchmark(settings, study=False, progress=False)


# Chapter -> what its exercises use from cells after the setup, made cheaply.
PREPARE = {"08_costs": _small_benchmark, "10_part3": _stand_in_robustness_csv}


@pytest.mark.parametrize("path", _chapter_params())
def test_every_exercise_snippet_runs_in_its_chapter(path, results_dir, one_thread, capsys):
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    params, setup = setup_cells(path)
    namespace: dict = {"__name__": f"exercises_{path.stem}"}
    exec(compile(params, f"<{path.stem} parameters>", "exec"), namespace)
    namespace["profile"] = "smoke"
    exec(compile(setup, f"<{path.stem} setup>", "exec"), namespace)
    if path.stem in PREPARE:
        PREPARE[path.stem](results_dir, namespace)
    ran = 0
    try:
        for number, k, code in snippets(path):
            where = f"{path.stem}, exercise {number}, code block {k}"
            try:
                exec(compile(code, f"<{where}>", "exec"), namespace)
            except Exception as error:  # noqa: BLE001 - any failure names its exercise
                pytest.fail(f"{where} raised {type(error).__name__}: {error}\n{code}")
            ran += 1
    finally:
        plt.close("all")
    assert ran > 0, f"{path.stem}: no exercise code ran"
    assert not list(results_dir.glob("ci/*")), "an exercise ran under the ci profile"
