"""What each chapter costs (dynconv.booktools.pagecost), its map from chapter to experiments, the
"How to run" page's computed table, and every chapter's References."""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from dynconv.bench import benchmark as bench
from dynconv.booktools import book, pagecost
from dynconv.booktools.records import format_duration, plan
from dynconv.errors import ConfigError
from dynconv.experiments import registry
from dynconv.experiments.records import Record

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
# calls whose string arguments are model names of dynconv.models.zoo, not experiments
MODEL_CALLS = {"flops_table", "timing_table", "build_model"}


# ---- the static scan: which experiments a notebook's code names --------------------------


def _name_of(func: ast.expr) -> str:
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _group(attr: str) -> set[str]:
    """The experiments a ``registry.<attr>`` stands for (none for anything else)."""
    value = getattr(registry, attr, None)
    if isinstance(value, str):
        value = (value,)
    elif isinstance(value, Mapping):
        value = tuple(value.values())
    if not isinstance(value, tuple):
        return set()
    return {v for v in value if isinstance(v, str) and v in registry.EXPERIMENTS}


def used_experiments(sources: list[str]) -> set[str]:
    """Every experiment the code cells ``sources`` train or load: experiment names written as
    string literals (but those passed to a model-name call such as ``tables.flops_table``,
    directly or through a variable), the registry groups they name (``registry.PART1``), and
    ``ch.oracles()``'s per-subset networks (at three times the budget with
    ``long_budget=True``)."""
    trees = [ast.parse(s) for s in sources]
    model_vars = {node.args[0].id for tree in trees for node in ast.walk(tree)
                  if isinstance(node, ast.Call) and _name_of(node.func) in MODEL_CALLS
                  and node.args and isinstance(node.args[0], ast.Name)}
    excluded: set[int] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name_of(node.func) in MODEL_CALLS:
                excluded |= {id(n) for n in ast.walk(node)}
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id in model_vars for t in node.targets):
                excluded |= {id(n) for n in ast.walk(node.value)}
    found: set[str] = set()
    for tree in trees:
        for node in ast.walk(tree):
            if (isinstance(node, ast.Constant) and isinstance(node.value, str)
                    and node.value in registry.EXPERIMENTS and id(node) not in excluded):
                found.add(node.value)
            elif (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                  and node.value.id == "registry"):
                found |= _group(node.attr)
            elif isinstance(node, ast.Call) and _name_of(node.func) == "oracles":
                flags = {k.arg: k.value.value for k in node.keywords
                         if isinstance(k.value, ast.Constant)}
                no_rgb = flags.get("include_rgb") is False
                names = (registry.SUBSET_TRAINED_LONG if flags.get("long_budget")
                         else registry.SUBSET_TRAINED)
                found |= {n for s, n in names.items() if not (no_rgb and s == "RGB")}
    return found


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _code(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in _cells(path) if c["cell_type"] == "code"
            and "parameters" not in c["metadata"].get("tags", [])]


def test_the_scan_finds_what_a_cell_names():
    assert used_experiments(['ch.run("v1")', "x = ch.records(*registry.PART2)"]) == {
        "v1", *registry.PART2}
    assert used_experiments(["ch.oracles()"]) == set(registry.SUBSET_TRAINED.values())
    assert "resnet18" not in used_experiments(["ch.oracles(include_rgb=False)"])
    assert used_experiments(["ch.oracles(long_budget=True)"]) == set(
        registry.SUBSET_TRAINED_LONG.values())
    assert used_experiments(["registry.label(registry.BEST_PUBLISHED)"]) == {
        registry.BEST_PUBLISHED}
    # model names given to the cost tables are not experiments, inline or through a variable
    assert used_experiments(['t = tables.flops_table(["resnet18", "v1"], image_size=84)']) \
        == set()
    assert used_experiments(['models = ["v2", "v3"]', "tables.flops_table(models)",
                             'ch.run("v2")']) == {"v2"}


def test_the_map_covers_every_chapter_and_every_experiment():
    assert list(pagecost.CHAPTER_EXPERIMENTS) == [p.stem for p in NOTEBOOKS]
    shown = {n for names in pagecost.CHAPTER_EXPERIMENTS.values() for n in names}
    assert shown == set(registry.EXPERIMENTS), "an experiment no chapter shows, or a typo"
    for names in pagecost.CHAPTER_EXPERIMENTS.values():
        assert len(names) == len(set(names))
    with pytest.raises(ConfigError, match="unknown chapter '99_x'"):
        pagecost.chapter_experiments("99_x")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_chapter_uses_exactly_the_experiments_of_its_map(path):
    used = used_experiments(_code(path))
    listed = set(pagecost.chapter_experiments(path.stem))
    assert used == listed, (f"{path.name}: code uses {sorted(used - listed)} not in the map; "
                            f"the map lists {sorted(listed - used)} the code does not use")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_the_cost_note_follows_the_start_cell(path):
    code = _code(path)
    start = next(i for i, s in enumerate(code) if "chapter.start(" in s)
    assert code[start + 1].endswith(f'pagecost.show("{path.stem}", profile, data_dir)')


# ---- the numbers -----------------------------------------------------------------------


def test_gpu_hours_are_the_benchmark_study_estimate():
    flops = {"resnet18": 2e9, "resnet34": 4e9, "small_k3s1": 3e10, "small_k7s2": 2.5e9,
             "compact": 4e9}
    steps = {(m, b): 1.0 for _, m, b in bench.study_trainings()}
    estimate = bench.study_estimate(steps, flops)
    for row in estimate.itertuples():
        assert pagecost.gpu_hours(row.experiment, flops) == pytest.approx(row.assumed_gpu_hours)
    # off the benchmark's list: v5 is charged ResNet18's count, v5-long three times its epochs
    assert pagecost.gpu_hours("v5", flops) == pytest.approx(pagecost.gpu_hours("v1", flops))
    assert pagecost.gpu_hours("v5-long", flops) == pytest.approx(
        3 * pagecost.gpu_hours("v5", flops))
    assert pagecost.gpu_hours("compact-no-attention", flops) == pytest.approx(
        pagecost.gpu_hours("compact", flops))


def test_cost_note_sums_the_shipped_records():
    names = pagecost.chapter_experiments("03_v1")
    runs = plan("ci", None, experiments=list(names))
    current = [r for r in runs if r.stale is None]
    records = [Record.load(r.path) for r in current]
    note = pagecost.cost_note("03_v1")
    assert f"**{len(runs)} trainings** of {len(names)} experiments" in note
    assert len(runs) == sum(registry.get_experiment(n).num_seeds for n in names)
    if current:
        seconds = sum(r.wall_time_s for r in records)
        assert f"**{format_duration(seconds)}** to train and test" in note
        size = sum(r.path.stat().st_size for r in current) / 1e6
        assert f"{size:,.1f} MB of record files" in note
    hours = sum(pagecost.gpu_hours(r.experiment) for r in runs)
    assert f"about **{hours:.2f} GPU hours**" in note
    assert "ASSUMED sustained 200 TFLOP/s" in note and "not a measurement" in note


def test_cost_note_without_records_says_what_the_build_would_train(tmp_path):
    note = pagecost.cost_note("04_v2", results_dir=tmp_path)
    runs = sum(registry.get_experiment(n).num_seeds for n in ("v2", "resnet18"))
    assert f"{runs} have no current record here" in note
    assert "to train and test" not in note
    assert "0.0 MB of record files" in note
    assert "trains nothing" in pagecost.cost_note("01_data")


def test_the_book_table_counts_a_shared_training_once(tmp_path):
    rows = {r["chapter"]: r for r in pagecost.book_costs_table(results_dir=tmp_path)}
    seeds = {n: registry.get_experiment(n).num_seeds for n in registry.EXPERIMENTS}
    for chapter, names in pagecost.CHAPTER_EXPERIMENTS.items():
        assert rows[chapter]["trainings"] == sum(seeds[n] for n in names)
        assert rows[chapter]["records here"] == 0
    whole = rows["the whole book"]
    assert whole["trainings"] == sum(seeds.values())
    assert whole["trainings"] < sum(rows[c]["trainings"] for c in pagecost.CHAPTER_EXPERIMENTS)


def test_vendor_writes_the_table_that_how_to_run_includes(tmp_path, monkeypatch):
    written = book.write_costs_table(tmp_path / "gen" / "costs.md", results_dir=tmp_path)
    text = written.read_text(encoding="utf-8")
    assert text == pagecost.book_costs_markdown(results_dir=tmp_path)
    assert text.startswith("| chapter |") and "| the whole book |" in text
    assert "**estimate**" in text and "ASSUMED" in text
    # the page includes exactly the file `vendor` writes
    layout = book.BookLayout(REPO)
    page = (REPO / "book" / "how-to-run.md").read_text(encoding="utf-8")
    included = re.search(r"```\{include\} (\S+)", page).group(1)
    assert (REPO / "book" / included).resolve() == layout.costs_table.resolve()
    # `vendor` writes it before fetching the site's scripts
    calls = []
    monkeypatch.setattr(book, "write_costs_table", lambda path, results: calls.append(path))
    monkeypatch.setattr(book, "vendor_javascript", lambda target: calls.append(target))
    assert book.main(["--root", str(REPO), "vendor"]) == 0
    assert calls == [layout.costs_table, layout.vendor]


# ---- references --------------------------------------------------------------------------

CITE = REPO / "book" / "cite.md"


def _reference_lines(path: Path) -> list[str]:
    last = _cells(path)[-1]
    assert last["cell_type"] == "markdown", f"{path.name}: the last cell is not References"
    text = "".join(last["source"])
    assert text.startswith("## References\n"), f"{path.name}: the last cell is not References"
    return [line for line in text.splitlines() if line.startswith("- ")]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_chapter_ends_with_references_that_cite_md_lists(path):
    cite = CITE.read_text(encoding="utf-8")
    lines = _reference_lines(path)
    assert lines, f"{path.name}: References lists nothing"
    missing = [line for line in lines if line not in cite.splitlines()]
    assert not missing, f"{path.name}: not in book/cite.md: {missing}"


def test_cite_md_holds_the_sources_and_no_placeholder():
    cite = CITE.read_text(encoding="utf-8")
    assert "example.invalid" not in cite
    for needed in ("*FiLM: Visual Reasoning", "*Deep Sets.*", "github.com/Kragsane/HW2",
                   "*mini-ImageNet-objects*"):
        assert needed in cite
    # the real-photo dataset: what it is, its classes, its size, where to obtain it
    photos = next(line for line in cite.splitlines() if "*mini-ImageNet-objects*" in line)
    for fact in ("10 mini-ImageNet classes", "jellyfish", "cliff", "5,000", "4,000 / 500 / 500",
                 "image-net.org"):
        assert fact in photos
    links = re.findall(r"\]\((\S+?)\)", cite)
    assert links and all(link.startswith("https://") for link in links)
