"""Tests of dynconv.experiments.records: the typed record, its statistics and its checkpoint
(CPU, 8 px)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch
from standins import TINY, make_record, patch_experiment, synthetic_bundle
from statsmodels.stats.proportion import proportion_confint

import dynconv.experiments.runner as experiment
from dynconv.channels import SUBSET_NAMES
from dynconv.config import get_config
from dynconv.data.datasets import make_loader
from dynconv.errors import ConfigError
from dynconv.evaluation.evaluate import evaluate
from dynconv.experiments.records import RECORD_FORMAT, Record, paired_tests, same_test_images
from dynconv.experiments.runner import make_splits, run_experiment
from dynconv.provenance import read_json

LABELS = [0, 1, 2, 0, 1, 2, 0, 1, 2, 0]


# Tiny models: one torch thread (the conftest fixture), restored afterwards.
pytestmark = pytest.mark.usefixtures("one_thread")


def record(**kw) -> Record:
    preds = {s: LABELS for s in SUBSET_NAMES}
    preds["B"] = [0] * len(LABELS)  # 4 of 10 right
    preds["RG"] = [1, 1, 2, 0, 1, 2, 0, 1, 2, 0]  # 9 of 10 right
    return make_record(preds, LABELS, **kw)


def test_json_round_trip_and_what_is_not_stored(tmp_path):
    rec = record(origin="trained: no stored record")
    saved = rec.save(tmp_path / "ci" / "r.json")
    assert saved.path == str(tmp_path / "ci" / "r.json") and rec.path == ""
    stored = read_json(saved.path)
    assert "origin" not in stored and "path" not in stored
    assert stored["format"] == RECORD_FORMAT and stored["predictions"]["B"] == [0] * 10
    back = Record.load(saved.path, origin="loaded")
    assert back == rec and back.origin == "loaded" and back.path == saved.path
    assert back.to_json() == rec.to_json() == stored
    assert [p.name for p in (tmp_path / "ci").iterdir()] == ["r.json"]  # no temporary file


def test_from_json_refuses_other_formats_and_missing_fields():
    data = record().to_json()
    with pytest.raises(ConfigError, match="format 1, not 3: it was written by older code"):
        Record.from_json({**data, "format": 1})
    with pytest.raises(ConfigError, match="format None"):
        Record.from_json({k: v for k, v in data.items() if k != "format"})
    with pytest.raises(ConfigError, match="lacks predictions, test_labels"):
        Record.from_json({k: v for k, v in data.items()
                          if k not in ("predictions", "test_labels")})
    assert Record.from_json(data) == record()


def test_correct_interval_confusion_and_report():
    rec = record()
    assert rec.subsets == list(SUBSET_NAMES) and rec.num_test == 10
    assert rec.correct("RG").tolist() == [False] + [True] * 9 and rec.test["RG"] == 0.9
    for subset, right in (("RGB", 10), ("RG", 9), ("B", 4)):
        low, high = rec.interval(subset)
        expected = proportion_confint(right, 10, alpha=0.05, method="wilson")
        assert np.allclose((low, high), expected, atol=1e-12)
        assert low <= rec.test[subset] <= high
        narrow = rec.interval(subset, confidence=0.5)
        assert narrow[1] - narrow[0] < high - low  # a lower confidence, a narrower interval
    confusion = rec.confusion("B")
    assert confusion.shape == (3, 3) and confusion.sum() == 10
    assert confusion[:, 0].tolist() == [4, 3, 3] and np.trace(rec.confusion("RGB")) == 10
    report = rec.class_report("RG")
    assert list(report.index) == ["class0", "class1", "class2", "macro avg"]
    assert report.loc["class0", "recall"] == pytest.approx(3 / 4)
    with pytest.raises(ConfigError, match="not tested on 'GB'; it was tested on RGB"):
        make_record({"RGB": LABELS}, LABELS).correct("GB")


def test_paired_tests_need_the_same_test_images():
    a, b = record(label="a"), record(label="b")
    tests = paired_tests(a, b)
    assert [t.subset for t in tests] == list(SUBSET_NAMES)
    assert all(t.difference == 0 for t in tests)
    assert [t.subset for t in paired_tests(a, b, ["B", "RGB"])] == ["B", "RGB"]
    rgb_only = make_record({"RGB": LABELS}, LABELS, label="c")
    assert [t.subset for t in paired_tests(a, rgb_only)] == ["RGB"]

    other_data = record(label="d", fingerprint="data-2")
    other_images = make_record({"RGB": LABELS[::-1]}, LABELS[::-1], label="e")
    other_split = record(label="f", data={**a.data, "test_split": {
        "max_test_per_class": 3, "seed": 0, "size": 10}})
    for other in (other_data, other_images, other_split):
        assert not same_test_images(a, other)
        with pytest.raises(ConfigError, match="not tested on the same images"):
            paired_tests(a, other)
    assert same_test_images(a, b)


def test_settings_and_checkpoint_path():
    assert record().settings == ""
    rec = record(config={"model_kwargs": {"drop_mode": "sample", "drop_prob": 0.5}})
    assert rec.settings == "drop_mode=sample, drop_prob=0.5"
    with pytest.raises(ConfigError, match="neither loaded nor saved"):
        _ = rec.checkpoint_path
    rec = dataclasses.replace(rec, path="/r/ci/model-seed42-x.json")
    assert str(rec.checkpoint_path) == "/r/ci/model.pt"


def test_load_model_predicts_what_the_record_says(tmp_path, monkeypatch):
    """A real zoo model trained on the stand-in data comes back from its checkpoint alone."""
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(tmp_path / "cache"))
    state = patch_experiment(monkeypatch, real_models=True)
    trained = {}
    real_fit = experiment.fit

    def keep_model(model, *args, **kwargs):
        result = real_fit(model, *args, **kwargs)
        trained["model"] = model
        return result

    monkeypatch.setattr(experiment, "fit", keep_model)
    rec = run_experiment("small_k3s1", results_dir=tmp_path, progress=False,
                         **{**TINY, "max_epochs": 1, "max_train_per_class": 2})
    assert state["load"] == 1

    model = Record.load(rec.path).load_model()
    assert not model.training and type(model) is type(trained["model"])
    assert model.build_spec == {"name": "small_k3s1", "num_classes": 3, "kwargs": {}}
    # The same predictions as the trained model on a batch, and as the record, image by image.
    fields = {k: v for k, v in rec.config.items() if k not in ("model_kwargs", "train_channels")}
    _, _, test = make_splits(synthetic_bundle(8), get_config(**fields))
    x, _ = next(iter(make_loader(test, batch_size=12, shuffle=False)))
    trained["model"].eval()
    with torch.no_grad():
        assert torch.equal(model(x).argmax(1), trained["model"].cpu()(x).argmax(1))
        assert torch.allclose(model(x), trained["model"](x))
    results = evaluate(model, test, rec.subsets)
    assert {s: r.predictions.tolist() for s, r in results.items()} == rec.predictions
    assert [int(v) for v in results["RGB"].labels] == rec.test_labels
    json.dumps(rec.to_json())
