"""Tests of dynconv.codekey and of the code part of a record's key (dynconv.experiment).

Edits are simulated through ``codekey.read_source`` (the one place a module's text is read),
so nothing on disk changes; ``test_experiment.py`` edits a copy of the package for real.
"""

from __future__ import annotations

import pytest

import dynconv.codekey as codekey
import dynconv.inspection as inspection
from dynconv.codekey import normalised_dump, part_name, stale_reason
from dynconv.experiment import experiment_code_key, experiment_modules
from dynconv.registry import EXPERIMENTS

SOURCE = '''"""A module docstring."""

def f(x):
    """A function docstring."""
    # a comment
    return x + 1
'''


def test_docstrings_comments_and_formatting_do_not_count():
    reformatted = 'def f(x):\n    return (x\n            + 1)  # another comment\n'
    assert normalised_dump(SOURCE) == normalised_dump(reformatted)


def test_a_changed_constant_or_call_counts():
    assert normalised_dump(SOURCE) != normalised_dump(SOURCE.replace("x + 1", "x + 2"))
    assert normalised_dump(SOURCE) != normalised_dump(SOURCE.replace("x + 1", "abs(x) + 1"))
    # a string that is not a docstring is code
    assert normalised_dump("X = 'a'\n") != normalised_dump("X = 'b'\n")


def test_a_model_is_keyed_by_its_own_modules_and_the_training_path():
    v5 = set(experiment_modules("v5"))
    assert {"dynconv.embedding_stem", "dynconv.stems", "dynconv.resnet", "dynconv.train",
            "dynconv.data", "dynconv.evaluate", "dynconv.experiment"} <= v5
    assert not v5 & {"dynconv.chammi", "dynconv.small_net", "dynconv.blocks", "dynconv.plots",
                     "dynconv.zoo", "dynconv.registry", "dynconv.errors"}
    assert "dynconv.chammi" in experiment_modules("sliceparam")
    assert {"dynconv.small_net", "dynconv.blocks"} <= set(experiment_modules("small_k7s2"))
    assert "dynconv.embedding_stem" not in experiment_modules("small_k7s2")


def _keys() -> dict[str, str]:
    return {name: experiment_code_key(spec.model, spec.build_kwargs("ci"), spec.inspect)["code"]
            for name, spec in EXPERIMENTS.items()}


@pytest.fixture(scope="module")
def keys_now() -> dict[str, str]:
    return _keys()


def _changed_after(monkeypatch, module: str, edit, keys_now) -> set[str]:
    real = codekey.read_source
    monkeypatch.setattr(codekey, "read_source",
                        lambda name: edit(real(name)) if name == module else real(name))
    return {name for name, code in _keys().items() if code != keys_now[name]}


def test_editing_one_first_layer_retrains_its_experiments_and_no_others(monkeypatch, keys_now):
    changed = _changed_after(monkeypatch, "dynconv.embedding_stem",
                             lambda src: src + "\n_EDITED = 1\n", keys_now)
    assert changed == {n for n, spec in EXPERIMENTS.items() if spec.model == "v5"}
    assert len(changed) == 5  # v5 and its four ablations


def test_editing_the_chammi_layers_retrains_the_four_published_designs(monkeypatch, keys_now):
    changed = _changed_after(monkeypatch, "dynconv.chammi",
                             lambda src: src + "\n_EDITED = 1\n", keys_now)
    assert changed == {"sliceparam", "templatemixing", "hypernet", "depthwise"}


def test_editing_the_training_loop_retrains_everything(monkeypatch, keys_now):
    changed = _changed_after(monkeypatch, "dynconv.train", lambda src: src + "\n_EDITED = 1\n",
                             keys_now)
    assert changed == set(EXPERIMENTS)


def test_a_comment_or_docstring_retrains_nothing(monkeypatch, keys_now):
    def edit(src: str) -> str:
        return src.replace('"""', '"""Edited. ', 1) + "\n# a new comment\n"

    assert _changed_after(monkeypatch, "dynconv.train", edit, keys_now) == set()


def test_an_inspection_is_keyed_for_its_experiment_only(monkeypatch, keys_now):
    def another(model, split, seed):
        return {"something": "else"}

    monkeypatch.setitem(inspection.INSPECTIONS, "v5_embedding", another)
    changed = {name for name, code in _keys().items() if code != keys_now[name]}
    assert changed == {"v5"}


def test_stale_reasons_name_what_changed():
    key = {"config": "c", "data": "d", "code": "x",
           "modules": {"dynconv.stems": "1", "builder:v5": "2", "inspection:v5_embedding": "3"}}
    stored = {**key, "code": "y", "modules": {**key["modules"], "dynconv.stems": "0",
                                              "builder:v5": "0"}}
    assert stale_reason(stored, key) == "the code changed (stems.py, the v5 builder)"
    assert stale_reason({**key, "data": "e"}, key) == "the data changed"
    assert part_name("inspection:v3_routing") == "the v3_routing inspection"
