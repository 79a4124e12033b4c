"""The book's story: its chapters in reading order, and which models each one introduces.

One map, :data:`CHAPTERS`, lists every chapter notebook in the order a reader meets it, with
the experiments (names of :mod:`dynconv.experiments.registry`) and the models (names of
:mod:`dynconv.models.zoo`) it introduces. A chapter may use what it or an earlier chapter
introduced, never what a later one does: a model shown before its design is explained is a
page the reader cannot yet read. :func:`forward_references` checks this statically, without
running anything: it reads every notebook's code cells, collects the string literals that name
an experiment or a model (a cost table's variant, such as ``"v1_no_maxpool"``, counts as its
model) and the registry groups a cell names (``registry.PART3`` is its members), and reports
each name introduced in a later chapter than the one that uses it. ``tests/test_story.py``
runs it on the book's notebooks.

The parts of the study (Part I: chapters 2 to 8, Part II: chapter 9, Part III: chapter 10)
follow from the same map (:func:`part_of`): the cost chapter shows Part I's layers, and
each later part's costs appear in the chapter that introduces that part's models.
"""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from dynconv.book.tables import COST_VARIANTS
from dynconv.experiments import registry
from dynconv.experiments.registry import EXPERIMENTS, get_experiment
from dynconv.models.zoo import MODEL_NAMES

__all__ = ["CHAPTERS", "StoryChapter", "ForwardReference", "chapter_of", "chapter_names",
           "experiments_of_part", "forward_references", "introduced_in", "models_of_part",
           "names_used", "part_of", "PARTS"]


@dataclass(frozen=True)
class StoryChapter:
    """One chapter: its notebook's name, its part of the study, and what it introduces."""

    name: str
    part: str
    experiments: tuple[str, ...] = ()
    models: tuple[str, ...] = ()


_ORACLES = tuple(n for n in registry.SUBSET_TRAINED.values() if n != "resnet18")
_V5_ABLATIONS = tuple(n for n in registry.V5_ABLATION if n != "v5")
# (the RGB one, the control trained as long, is chapter 7's)
_ORACLES_LONG = tuple(n for n in registry.SUBSET_TRAINED_LONG.values() if n != "resnet18-long")

# Every chapter in reading order (the order of the notebooks' file names and of _toc.yml).
CHAPTERS: tuple[StoryChapter, ...] = (
    StoryChapter("01_data", "start"),
    StoryChapter("02_baseline", "I", ("resnet18", *_ORACLES), ("resnet18",)),
    StoryChapter("03_v1", "I", ("v1",), ("v1",)),
    StoryChapter("04_v2", "I", ("v2",), ("v2",)),
    StoryChapter("05_v3", "I", ("v3",), ("v3",)),
    StoryChapter("06_v4", "I", ("v4-batch", "v4-sample"), ("v4",)),
    # Part I again at three times the budget, with its control (the RGB oracle as long)
    StoryChapter("07_ablation", "I", registry.PART1_LONG),
    StoryChapter("08_costs", "I"),
    StoryChapter("09_part2", "II", (*registry.PART2, "compact-no-attention",
                                    *registry.PART2_32PX),
                 ("resnet34", "small_k3s1", "small_k7s2", "compact")),
    StoryChapter("10_part3", "III",
                 ("resnet18-sampled", "v5", "v5-long", *registry.PUBLISHED, *_V5_ABLATIONS,
                  "v4-identity", *_ORACLES_LONG, "v5-distill-long"),
                 ("v5", *registry.PUBLISHED, "v5_switchable", "v5_auxiliary", "v5_diverse",
                  "v5_rgb_teacher", "v4_identity")),
    StoryChapter("11_errata", "wrap-up"),
)
# The parts of the study, in reading order.
PARTS: tuple[str, ...] = ("I", "II", "III")


def chapter_names() -> list[str]:
    """The chapters' notebook names (without ``.ipynb``) in reading order."""
    return [c.name for c in CHAPTERS]


def _introductions() -> dict[str, int]:
    """{experiment or model name: index in :data:`CHAPTERS` of the chapter introducing it}."""
    found: dict[str, int] = {}
    for index, chapter in enumerate(CHAPTERS):
        for name in (*chapter.experiments, *chapter.models):
            found.setdefault(name, index)
    return found


def introduced_in(name: str) -> str:
    """The chapter that introduces experiment or model ``name`` (a cost variant such as
    ``"v1_no_maxpool"`` is introduced with its model); KeyError for an unknown name."""
    name = COST_VARIANTS.get(name, (name, {}))[0]
    return CHAPTERS[_introductions()[name]].name


def chapter_of(name: str) -> StoryChapter:
    """The :class:`StoryChapter` that introduces ``name``."""
    return CHAPTERS[chapter_names().index(introduced_in(name))]


def part_of(name: str) -> str:
    """The part of the study ("I", "II" or "III") whose chapter introduces ``name``."""
    return chapter_of(name).part


def _known_names() -> set[str]:
    return {*EXPERIMENTS, *MODEL_NAMES, *COST_VARIANTS}


def _group_members(attribute: str) -> tuple[str, ...]:
    """The experiment names a registry attribute holds (a group, a mapping's values, or one
    name), or () when it holds none."""
    value = getattr(registry, attribute, None)
    if isinstance(value, str):
        values: Iterable = (value,)
    elif isinstance(value, Mapping):
        values = value.values()
    elif isinstance(value, tuple):
        values = value
    else:
        return ()
    return tuple(v for v in values if isinstance(v, str) and v in EXPERIMENTS)


def names_used(source: str) -> set[str]:
    """Every experiment or model a code cell's ``source`` names: its string literals that are
    such a name, and the members of every ``registry.<GROUP>`` (or ``<GROUP>`` imported from
    the registry) it mentions."""
    known = _known_names()
    used: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if node.value in known:
                used.add(node.value)
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) \
                and node.value.id == "registry":
            used.update(_group_members(node.attr))
        elif isinstance(node, ast.ImportFrom) and node.module == "dynconv.experiments.registry":
            for alias in node.names:
                used.update(_group_members(alias.name))
    return used


def _code_cells(path: Path) -> list[str]:
    notebook = json.loads(Path(path).read_text())
    return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
            for c in notebook["cells"] if c["cell_type"] == "code"]


@dataclass(frozen=True)
class ForwardReference:
    """Chapter ``chapter`` uses ``name``, which ``introduced_in`` (a later chapter) introduces."""

    chapter: str
    name: str
    introduced_in: str

    def __str__(self) -> str:
        return f"{self.chapter} uses {self.name!r} before {self.introduced_in} introduces it"


def forward_references(notebook_dir: str | Path) -> list[ForwardReference]:
    """Every use, in ``notebook_dir/<chapter>.ipynb``, of a model or experiment that the map
    says a later chapter introduces (chapters in :data:`CHAPTERS` order; a missing notebook
    raises FileNotFoundError)."""
    order = chapter_names()
    introductions = _introductions()
    found = []
    for index, chapter in enumerate(order):
        used = set()
        for source in _code_cells(Path(notebook_dir) / f"{chapter}.ipynb"):
            used |= names_used(source)
        for name in sorted(used):
            model = COST_VARIANTS.get(name, (name, {}))[0]
            if introductions[model] > index:
                found.append(ForwardReference(chapter, name, order[introductions[model]]))
    return found


def experiments_of_part(part: str) -> tuple[str, ...]:
    """The experiments introduced by the chapters of ``part``, in reading order."""
    return tuple(n for c in CHAPTERS if c.part == part for n in c.experiments)


def models_of_part(part: str) -> tuple[str, ...]:
    """The zoo models introduced by the chapters of ``part``, in reading order."""
    return tuple(n for c in CHAPTERS if c.part == part for n in c.models)


def _check() -> None:
    """Every experiment and every model is introduced by exactly one chapter, and every
    experiment's model no later than the experiment itself (raises AssertionError)."""
    introductions = _introductions()
    for name in (*EXPERIMENTS, *MODEL_NAMES):
        owners = [c.name for c in CHAPTERS if name in (*c.experiments, *c.models)]
        assert owners, f"{name!r} is introduced by no chapter of dynconv.book.story"
        both = name in EXPERIMENTS and name in MODEL_NAMES
        assert len(owners) == 1 or (both and len(set(owners)) == 1), (name, owners)
    for name in EXPERIMENTS:
        assert introductions[get_experiment(name).model] <= introductions[name], name
