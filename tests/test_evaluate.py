"""Tests of dynconv.evaluation.evaluate against hand-computed examples (CPU, stand-in models)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dynconv.channels import ALL_SUBSETS, ChannelSubset, parse_channels
from dynconv.errors import ConfigError
from dynconv.evaluation.evaluate import (
    SubsetResult,
    class_report,
    confusion_from_predictions,
    evaluable_subsets,
    evaluate,
)

LABELS = [0, 0, 1, 1, 2, 2]
PREDICTIONS = [0, 1, 1, 1, 2, 0]


class Oracle(nn.Module):
    """Predicts the class written into pixel (0, 0) of channel 0 (logit 10, others 0)."""

    input_mode = "zero"

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.dummy = nn.Parameter(torch.zeros(()))
        self.calls: list[tuple[int, str]] = []

    def forward(self, x, channels=None):
        self.calls.append((x.shape[1], channels.name))
        pred = x[:, 0, 0, 0].round().long()  # (B,)
        return 10.0 * nn.functional.one_hot(pred, self.num_classes).float() + self.dummy


def oracle_data(labels=LABELS, predictions=PREDICTIONS) -> TensorDataset:
    x = torch.zeros(len(labels), 3, 4, 4)
    x[:, 0, 0, 0] = torch.tensor(predictions, dtype=torch.float32)
    return TensorDataset(x, torch.tensor(labels))


def test_hand_computed_example():
    results = evaluate(Oracle(), oracle_data(), ["RGB"], batch_size=4)
    r = results["RGB"]
    assert isinstance(r, SubsetResult) and r.subset == "RGB"
    assert r.accuracy == pytest.approx(4 / 6)
    np.testing.assert_array_equal(r.confusion, [[1, 1, 0], [0, 2, 0], [1, 0, 1]])  # rows = true
    assert r.confusion.dtype == np.int64
    np.testing.assert_array_equal(r.predictions, PREDICTIONS)
    np.testing.assert_array_equal(r.labels, LABELS)
    # cross-entropy with logits (10, 0, 0): right -> log(e^10 + 2) - 10, wrong -> log(e^10 + 2)
    right, wrong = math.log(math.exp(10) + 2) - 10, math.log(math.exp(10) + 2)
    assert r.loss == pytest.approx((4 * right + 2 * wrong) / 6, rel=1e-5)

    rep = r.report
    assert list(rep.columns) == ["precision", "recall", "f1", "support"]
    assert list(rep.index) == ["0", "1", "2", "macro avg"]
    np.testing.assert_allclose(rep["precision"][:3], [1 / 2, 2 / 3, 1.0])
    np.testing.assert_allclose(rep["recall"][:3], [1 / 2, 1.0, 1 / 2])
    np.testing.assert_allclose(rep["f1"][:3], [1 / 2, 0.8, 2 / 3])
    assert rep["support"].tolist() == [2, 2, 2, 6]
    np.testing.assert_allclose(rep.loc["macro avg", ["precision", "recall", "f1"]].to_numpy(float),
                               [(1 / 2 + 2 / 3 + 1) / 3, (1 / 2 + 1 + 1 / 2) / 3,
                                (1 / 2 + 0.8 + 2 / 3) / 3])
    assert r.confusion.tolist() == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]


def plain_report(labels, predictions, num_classes):
    """Precision, recall, F1, support per class recomputed with plain Python (no libraries)."""
    rows = []
    for c in range(num_classes):
        tp = sum(1 for y, p in zip(labels, predictions, strict=True) if y == c and p == c)
        predicted = sum(1 for p in predictions if p == c)
        support = sum(1 for y in labels if y == c)
        precision = tp / predicted if predicted else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        rows.append((precision, recall, f1, support))
    return rows


def test_sklearn_report_matches_a_plain_recomputation():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=50)
    predictions = np.where(rng.random(50) < 0.6, labels, rng.integers(0, 4, size=50))
    predictions[predictions == 3] = 2  # class 3 is never predicted: precision 0 by convention
    names = ["a", "b", "c", "d"]
    rep = class_report(labels, predictions, names)
    assert list(rep.columns) == ["precision", "recall", "f1", "support"]
    assert list(rep.index) == [*names, "macro avg"] and rep.index.name == "class"
    expected = plain_report(labels.tolist(), predictions.tolist(), 4)
    np.testing.assert_allclose(rep.loc[names, ["precision", "recall", "f1"]].to_numpy(float),
                               [row[:3] for row in expected])
    assert rep.loc[names, "support"].tolist() == [row[3] for row in expected]
    assert rep["support"].dtype == np.int64
    np.testing.assert_allclose(
        rep.loc["macro avg", ["precision", "recall", "f1"]].to_numpy(float),
        np.mean([row[:3] for row in expected], axis=0))
    assert rep.loc["macro avg", "support"] == 50

    confusion = confusion_from_predictions(labels, predictions, 4)
    assert confusion.shape == (4, 4) and confusion.dtype == np.int64
    assert confusion.sum() == 50
    for i in range(4):
        for j in range(4):
            assert confusion[i, j] == np.sum((labels == i) & (predictions == j))
    np.testing.assert_array_equal(np.diag(confusion), [
        round(row[1] * row[3]) for row in expected])  # TP = recall * support


def test_confusion_keeps_classes_that_never_occur():
    confusion = confusion_from_predictions([0, 1], [1, 1], num_classes=4)
    np.testing.assert_array_equal(confusion, [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0],
                                              [0, 0, 0, 0]])


def test_report_inputs_are_checked():
    with pytest.raises(ConfigError, match="2 labels but 3 predictions"):
        class_report([0, 1], [0, 1, 1], ["a", "b"])
    with pytest.raises(ConfigError, match="class indices 0..1"):
        confusion_from_predictions([0, 2], [0, 1], num_classes=2)
    with pytest.raises(ConfigError, match="empty"):
        class_report([], [], ["a"])


def test_report_handles_classes_never_predicted_or_absent():
    rep = class_report(np.array([0, 0, 1]), np.array([0, 0, 0]), ["cat", "dog", "owl"])
    assert rep.loc["dog", "precision"] == 0.0 and rep.loc["dog", "f1"] == 0.0  # never predicted
    # "owl" is neither a label nor a prediction: left out of the macro average (scikit-learn)
    assert rep.loc["macro avg", "recall"] == pytest.approx((1.0 + 0.0) / 2)
    assert rep.loc["macro avg", "support"] == 3


def test_loader_and_dataset_give_the_same_result_and_class_names():
    a = evaluate(Oracle(), oracle_data(), ["RGB"], class_names=["a", "b", "c"])["RGB"]
    loader = DataLoader(oracle_data(), batch_size=2)
    b = evaluate(Oracle(), loader, ["RGB"], class_names=["a", "b", "c"])["RGB"]
    assert a.accuracy == b.accuracy and a.loss == pytest.approx(b.loss, rel=1e-6)
    pd.testing.assert_frame_equal(a.report, b.report)
    assert list(a.report.index) == ["a", "b", "c", "macro avg"]
    with pytest.raises(ConfigError, match="class_names"):
        evaluate(Oracle(), oracle_data(), ["RGB"], class_names=["a", "b"])


def test_every_subset_in_one_pass_with_the_input_mode():
    model = Oracle()
    results = evaluate(model, oracle_data(), batch_size=6)
    assert list(results) == [s.name for s in ALL_SUBSETS]
    assert [n for n, _ in model.calls] == [3] * 7  # "zero": always 3 channels
    # channel 0 carries the prediction: zeroing it (GB, G, B) makes the model predict class 0
    assert results["RGB"].accuracy == results["R"].accuracy == pytest.approx(4 / 6)
    assert results["GB"].accuracy == pytest.approx(2 / 6)

    class DropOracle(Oracle):
        input_mode = "drop"

    drop = DropOracle()
    evaluate(drop, oracle_data(), ["rg", "B", "rgb"])
    assert drop.calls == [(2, "RG"), (1, "B"), (3, "RGB")]


def test_model_mode_is_restored():
    model = Oracle().train()
    evaluate(model, oracle_data(), ["RGB"])
    assert model.training
    model.eval()
    evaluate(model, oracle_data(), ["RGB"])
    assert not model.training


class FixedStem(nn.Module):
    def __init__(self, channels: str) -> None:
        super().__init__()
        self.channels = parse_channels(channels)  # like v1's PerSampleKernelStem


def test_fixed_subset_models():
    model = Oracle()
    model.fixed_channels = parse_channels("RG")
    assert evaluable_subsets(model) == (parse_channels("RG"),)
    with pytest.raises(ConfigError, match="cannot be evaluated on RGB.*supports RG"):
        evaluate(model, oracle_data())
    only = evaluate(model, oracle_data(), evaluable_subsets(model))
    assert list(only) == ["RG"]
    assert list(evaluate(model, oracle_data(), skip_unsupported=True)) == ["RG"]

    nested = Oracle()
    nested.stem = FixedStem("GB")
    assert evaluable_subsets(nested, ["RGB", "bg", "R"]) == (parse_channels("GB"),)

    assert evaluable_subsets(Oracle(), ["B", "RGB"]) == (ChannelSubset((2,)),
                                                         ChannelSubset((0, 1, 2)))


def test_empty_inputs_are_errors():
    with pytest.raises(ConfigError, match="at least one"):
        evaluate(Oracle(), oracle_data(), [])
    empty = TensorDataset(torch.zeros(0, 3, 4, 4), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ConfigError, match="empty"):
        evaluate(Oracle(), empty, ["RGB"])
