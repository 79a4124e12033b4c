"""Tests of dynconv.book.demos (the measurements chapters show about a layer) and of the chapter
helpers that replace repeated cells."""

from __future__ import annotations

import re

import pytest
import torch
from standins import make_record

from dynconv.book import chapter, demos

LABELS = [i % 3 for i in range(30)]


def test_v1_grouped_convolution_equals_the_loop():
    text = demos.grouped_vs_loop(torch.randn(3, 3, 16, 16), num_classes=5)
    assert "output (3, 64, 16, 16)" in text
    gap = float(re.search(r"= ([0-9.e+-]+)$", text).group(1))
    assert gap < 1e-4


def test_the_original_v3_differs_on_the_same_input_and_trains_no_attention():
    table = demos.original_v3_repeat(torch.randn(2, 3, 16, 16), {"same_input_twice": 0.0})
    values = table["value"]
    assert float(values.iloc[0]) > 0  # new random attention layers at every call
    assert values.iloc[1] == "0"  # what the trained record says of the fixed layer
    assert values.iloc[2] == "0"  # created inside forward: never registered, never trained


def test_against_control_counts_a_difference_only_beyond_the_seed_spread(monkeypatch):
    right = {"RGB": LABELS, "R": LABELS}
    wrong = {"RGB": LABELS, "R": [(v + 1) % 3 for v in LABELS]}
    model = make_record(right, LABELS, label="model")
    control = make_record(wrong, LABELS, label="control")
    seeds = [control, make_record({"RGB": LABELS, "R": LABELS}, LABELS, label="control")]
    ch = chapter.start("smoke", show=False)
    monkeypatch.setattr(ch, "run", lambda name, **k: control)
    monkeypatch.setattr(ch, "seeds", lambda name: seeds)
    monkeypatch.setattr(chapter, "display", lambda obj: None)
    sentence = ch.against_control(model, ["R"])
    # McNemar finds the 30-image gap, but the control's seeds spread by 100 points on R
    assert "significant" in sentence and "100.0-point spread" in sentence


def test_oracles_name_one_record_per_subset(monkeypatch):
    ch = chapter.start("smoke", show=False)
    monkeypatch.setattr(ch, "run", lambda name, **k: name)
    assert ch.oracles() == {"RGB": "resnet18", "RG": "resnet18-on-RG", "RB": "resnet18-on-RB",
                            "GB": "resnet18-on-GB", "R": "resnet18-on-R", "G": "resnet18-on-G",
                            "B": "resnet18-on-B"}
    assert "RGB" not in ch.oracles(include_rgb=False)


@pytest.mark.parametrize("profile", ["smoke"])
def test_history_draws_one_curve_per_record(profile):
    history = [{"epoch": 1, "train_loss": 1.0, "val_loss": 1.1, "train_acc": 0.3,
                "val_acc": 0.2}, {"epoch": 2, "train_loss": 0.8, "val_loss": 0.9,
                                  "train_acc": 0.5, "val_acc": 0.4}]
    a = make_record({"RGB": LABELS}, LABELS, label="a", history=history)
    b = make_record({"RGB": LABELS}, LABELS, label="b", history=history)
    fig = chapter.start(profile, show=False).history(a, b)
    assert len(fig.axes[0].get_lines()) >= 2
