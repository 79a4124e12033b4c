"""Tests of dynconv.experiments.posthoc: AdaBN records measured from a checkpoint after training.

The real v5 under the ``smoke`` profile, on the stand-in data of ``tests/standins.py`` (3
classes in memory): a training takes a second or two.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from standins import patch_experiment

from dynconv.booktools import records as build_records
from dynconv.errors import ConfigError
from dynconv.evaluation.evaluate import evaluate
from dynconv.evaluation.recalibrate import recalibrated
from dynconv.experiments import posthoc, runner
from dynconv.experiments.records import paired_tests
from dynconv.experiments.registry import ADABN, EXPERIMENTS
from dynconv.experiments.runner import make_splits, run

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def stand_ins(monkeypatch, tmp_path):
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(tmp_path / "cache"))
    return patch_experiment(monkeypatch, real_models=True)


def _identity(state):
    return runner.data_identity(None, image_size=16)  # the stand-ins' (patched in the runner)


def test_adabn_tests_each_subset_with_that_subsets_statistics(tmp_path, stand_ins):
    record = posthoc.adabn("v5", profile="smoke", results_dir=tmp_path, progress=False)
    source = run("v5", profile="smoke", results_dir=tmp_path, progress=False)
    assert record.experiment == "v5-adabn" and record.label == "v5 + AdaBN"
    assert record.path.startswith(str(tmp_path / "smoke" / posthoc.POSTHOC_FOLDER))
    # the same test images in the same order: every paired test of the book applies
    assert record.test_labels == source.test_labels
    assert len(paired_tests(record, source)) == 7
    # the plain computation, by hand: recalibrate on the run's training images, test
    bundle = runner.load_dataset(None, image_size=16)  # the stand-in data
    train, _, test = make_splits(bundle, EXPERIMENTS["v5"].config("smoke"))
    model = source.load_model()
    for subset in ("RGB", "RB", "G"):
        by_hand = evaluate(recalibrated(model, train, subset, seed=source.seed), test,
                           [subset])[subset]
        assert record.predictions[subset] == [int(v) for v in by_hand.predictions]
    # the weights are the source's: only BatchNorm statistics moved
    adapted = recalibrated(model, train, "G", seed=source.seed)
    for (name, a), (_, b) in zip(model.state_dict().items(), adapted.state_dict().items(),
                                 strict=True):
        if not name.endswith(("running_mean", "running_var", "num_batches_tracked")):
            assert torch.equal(a, b), name


def test_a_current_adabn_record_is_loaded_and_a_changed_key_is_measured_again(
        tmp_path, stand_ins, capsys):
    first = posthoc.adabn("v5", profile="smoke", results_dir=tmp_path, progress=False)
    again = posthoc.adabn("v5", profile="smoke", results_dir=tmp_path, progress=False)
    assert again.origin.startswith("loaded") and again.predictions == first.predictions
    _, stored, why = posthoc.locate_adabn("v5", _identity(stand_ins), profile="smoke",
                                          results_dir=tmp_path)
    assert why is None and stored.name == first.name

    # a record whose key no longer matches (the measuring code changed) is not shown
    data = json.loads(Path(first.path).read_text())
    data["key"]["parts"]["measure"] = "0" * 64
    Path(first.path).write_text(json.dumps(data))
    _, stored, why = posthoc.locate_adabn("v5", _identity(stand_ins), profile="smoke",
                                          results_dir=tmp_path)
    assert stored is None and why == "its key does not match"

    # measuring again needs the checkpoint: without one the source is trained again first
    source = run("v5", profile="smoke", results_dir=tmp_path, progress=False)
    source.checkpoint_path.unlink()
    fits = len(stand_ins["fits"])
    remeasured = posthoc.adabn("v5", profile="smoke", results_dir=tmp_path, progress=False)
    assert len(stand_ins["fits"]) == fits + 1
    assert "training it again" in capsys.readouterr().out
    assert remeasured.predictions == first.predictions  # the same training, the same numbers
    assert remeasured.origin.startswith("measured")


def test_without_a_current_source_nothing_is_measured_from_keys(tmp_path, stand_ins):
    path, record, why = posthoc.locate_adabn("v5", _identity(stand_ins), profile="smoke",
                                             results_dir=tmp_path)
    assert path is None and record is None and why.startswith("its source record is not current")
    with pytest.raises(ConfigError, match="unknown experiment|v9"):
        posthoc.adabn("v9", profile="smoke", results_dir=tmp_path)


def test_the_build_stops_on_a_stale_adabn_record_under_check(tmp_path, stand_ins):
    for name in ADABN:
        for seed in EXPERIMENTS[name].seeds("smoke"):
            run(name, profile="smoke", seed=seed, results_dir=tmp_path, progress=False)
    identity = _identity(stand_ins)
    planned = build_records.plan_posthoc("smoke", identity, results_dir=tmp_path)
    assert {p.experiment for p in planned} == {f"{n}-adabn" for n in ADABN}
    assert all(p.stale == "no stored record" for p in planned)
    with pytest.raises(build_records.StaleRecordsError, match="AdaBN records are not current"):
        build_records._prepare_posthoc("smoke", None, identity, records="check", shipped=True,
                                       results_dir=tmp_path)
    measured = build_records._prepare_posthoc("smoke", None, identity, records="train",
                                              shipped=True, results_dir=tmp_path)
    assert all(p.stale is None for p in measured)
