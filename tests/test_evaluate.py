"""Tests of dynconv.evaluate against hand-computed examples (CPU, stand-in models)."""

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
from dynconv.evaluate import (
    SubsetResult,
    accuracy_table,
    classification_report,
    confusion_matrix,
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
    d = r.to_dict()
    assert d["confusion"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert d["report"][1] == {"class": "1", "precision": 2 / 3, "recall": 1.0, "f1": 0.8,
                              "support": 2}


def test_report_handles_classes_never_predicted_or_absent():
    confusion = confusion_matrix(np.array([0, 0, 1]), np.array([0, 0, 0]), num_classes=3)
    rep = classification_report(confusion, ["cat", "dog", "owl"])
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

    limited = Oracle()
    limited.supported_subsets = ("RGB", "R")
    assert evaluable_subsets(limited) == (parse_channels("RGB"), parse_channels("R"))
    assert evaluable_subsets(Oracle(), ["B", "RGB"]) == (ChannelSubset((2,)),
                                                         ChannelSubset((0, 1, 2)))


def test_accuracy_table():
    res = evaluate(Oracle(), oracle_data(), ["R", "RGB"])
    table = accuracy_table({"oracle": res, "reported": {"RGB": 0.5178, "gb": 0.02}})
    assert list(table.columns) == ["RGB", "GB", "R"]  # canonical subset order
    assert list(table.index) == ["oracle", "reported"] and table.index.name == "model"
    assert table.loc["oracle", "RGB"] == pytest.approx(4 / 6)
    assert table.loc["reported", "GB"] == 0.02
    assert np.isnan(table.loc["oracle", "GB"]) and np.isnan(table.loc["reported", "R"])


def test_empty_inputs_are_errors():
    with pytest.raises(ConfigError, match="at least one"):
        evaluate(Oracle(), oracle_data(), [])
    empty = TensorDataset(torch.zeros(0, 3, 4, 4), torch.zeros(0, dtype=torch.long))
    with pytest.raises(ConfigError, match="empty"):
        evaluate(Oracle(), empty, ["RGB"])
