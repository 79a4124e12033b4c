"""The book's story (dynconv.book.story): no chapter uses a model before the chapter that
introduces it, and the table of contents lists the chapters in reading order."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from dynconv.book import story
from dynconv.experiments.registry import EXPERIMENTS
from dynconv.models.zoo import MODEL_NAMES

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = REPO / "notebooks"


def test_every_experiment_and_model_is_introduced_once():
    story._check()
    for name in (*EXPERIMENTS, *MODEL_NAMES):
        assert story.introduced_in(name) in story.chapter_names()


def test_map_matches_the_notebooks_in_file_order():
    files = sorted(p.stem for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    assert story.chapter_names() == files


def test_toc_lists_the_chapters_in_file_order():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    listed = [entry["file"].removeprefix("book/chapters/")
              for part in toc["parts"] for entry in part["chapters"]
              if entry["file"].startswith("book/chapters/")]
    assert listed == story.chapter_names()


def test_no_chapter_uses_a_model_before_its_chapter():
    found = story.forward_references(NOTEBOOKS)
    assert not found, "\n".join(map(str, found))


def test_names_used_reads_literals_groups_and_variants():
    source = ('from dynconv.experiments.registry import PUBLISHED\n'
              'x = ch.records(*registry.IDENTITY_PAIR, "v3")\n'
              'best = registry.BEST_PUBLISHED\n'
              'f = flops(["v1_no_maxpool"], title=f"v5 {x}")\n'
              'y = "RGB"\n')
    used = story.names_used(source)
    assert {"v4-sample", "v4-identity", "v3", "templatemixing", "v1_no_maxpool",
            "sliceparam", "hypernet", "depthwise"} <= used
    assert "RGB" not in used and "v5" not in used  # an f-string's text is not a name
    oracles = story.names_used("o = registry.SUBSET_TRAINED")
    assert "resnet18-on-R" in oracles


def _plant(tmp_path: Path, chapter: str, source: str) -> Path:
    """A copy of the notebooks with one code cell holding ``source`` added to ``chapter``."""
    copy = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS, copy)
    path = copy / f"{chapter}.ipynb"
    notebook = json.loads(path.read_text())
    notebook["cells"].append({"cell_type": "code", "execution_count": None, "id": "planted",
                              "metadata": {}, "outputs": [], "source": source})
    path.write_text(json.dumps(notebook))
    return copy


@pytest.mark.parametrize(("chapter", "source", "name", "where"), [
    ("03_v1", 'ch.run("v5")', "v5", "10_part3"),
    ("07_ablation", "ch.records(*registry.PART2)", "small-k3s1", "09_part2"),
    ("08_costs", 'flops(["hypernet"])', "hypernet", "10_part3"),
    ("02_baseline", 'flops(["v1_no_maxpool"])', "v1_no_maxpool", "03_v1"),
])
def test_a_planted_forward_reference_is_caught(tmp_path, chapter, source, name, where):
    found = story.forward_references(_plant(tmp_path, chapter, source))
    assert story.ForwardReference(chapter, name, where) in found


def test_a_backward_reference_is_allowed(tmp_path):
    found = story.forward_references(_plant(tmp_path, "11_errata", "ch.records(*registry.PART3)"))
    assert not [f for f in found if f.chapter == "11_errata"]


def test_parts_follow_the_map():
    assert story.part_of("v4-sample") == "I"
    assert story.part_of("compact") == "II"
    assert story.part_of("templatemixing") == "III"
    assert story.part_of("v1_no_maxpool") == "I"
    assert story.models_of_part("I") == ("resnet18", "v1", "v2", "v3", "v4")
    assert "v5-long" in story.experiments_of_part("III")
