"""Tests of dynconv.experiments.keys and of the code part of a record's key
(dynconv.experiments.runner).

Edits are simulated through ``codekey.read_source`` (the one place a module's text is read),
so nothing on disk changes; ``test_runner.py`` edits a copy of the package for real.
"""

from __future__ import annotations

import pytest

import dynconv.experiments.inspection as inspection
import dynconv.experiments.keys as codekey
from dynconv.experiments.keys import normalised_dump, part_name, stale_reason
from dynconv.experiments.registry import EXPERIMENTS
from dynconv.experiments.runner import experiment_code_key, experiment_modules

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
    assert {"dynconv.stems.v5", "dynconv.stems.common", "dynconv.models.resnet",
            "dynconv.training.loop", "dynconv.data.datasets", "dynconv.evaluation.evaluate",
            "dynconv.experiments.runner"} <= v5
    assert not v5 & {"dynconv.stems.chammi", "dynconv.stems.v3", "dynconv.models.small_net",
                     "dynconv.models.blocks", "dynconv.book.plots", "dynconv.models.zoo",
                     "dynconv.experiments.registry", "dynconv.errors"}
    assert "dynconv.stems.chammi" in experiment_modules("sliceparam")
    assert {"dynconv.models.small_net", "dynconv.models.blocks"} <= set(
        experiment_modules("small_k7s2"))
    assert "dynconv.stems.v5" not in experiment_modules("small_k7s2")


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
    changed = _changed_after(monkeypatch, "dynconv.stems.v5",
                             lambda src: src + "\n_EDITED = 1\n", keys_now)
    with_v5 = {n for n, spec in EXPERIMENTS.items()
               if spec.model in ("v5", "v5_switchable", "v5_auxiliary", "v5_diverse",
                                 "v5_rgb_teacher")}
    assert changed == with_v5
    # v5, v5-long, its four ablations, v5 + switchable BN, v5 with each of five second losses
    # and in-place distillation at three times the budget
    assert len(changed) == 13


def test_editing_the_chammi_layers_retrains_the_four_published_designs(monkeypatch, keys_now):
    changed = _changed_after(monkeypatch, "dynconv.stems.chammi",
                             lambda src: src + "\n_EDITED = 1\n", keys_now)
    assert changed == {"sliceparam", "templatemixing", "hypernet", "depthwise"}


def test_editing_the_training_loop_retrains_everything(monkeypatch, keys_now):
    changed = _changed_after(monkeypatch, "dynconv.training.loop",
                             lambda src: src + "\n_EDITED = 1\n",
                             keys_now)
    assert changed == set(EXPERIMENTS)


def test_a_comment_or_docstring_retrains_nothing(monkeypatch, keys_now):
    def edit(src: str) -> str:
        return src.replace('"""', '"""Edited. ', 1) + "\n# a new comment\n"

    assert _changed_after(monkeypatch, "dynconv.training.loop", edit, keys_now) == set()


def test_an_inspection_is_keyed_for_its_experiment_only(monkeypatch, keys_now):
    def another(model, split, seed):
        return {"something": "else"}

    monkeypatch.setitem(inspection.INSPECTIONS, "v5_embedding", another)
    changed = {name for name, code in _keys().items() if code != keys_now[name]}
    assert changed == {"v5"}


def test_stale_reasons_name_what_changed():
    key = {"config": "c", "data": "d", "code": "x",
           "modules": {"dynconv.stems.v5": "1", "builder:v5": "2", "inspection:v5_embedding": "3"}}
    stored = {**key, "code": "y", "modules": {**key["modules"], "dynconv.stems.v5": "0",
                                              "builder:v5": "0"}}
    assert stale_reason(stored, key) == "the code changed (stems/v5.py, the v5 builder)"
    assert stale_reason({**key, "data": "e"}, key) == "the data changed"
    assert part_name("inspection:v3_routing") == "the v3_routing inspection"
