"""Tests of dynconv.book.tables on hand-made records (nothing trained, nothing read from disk)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from standins import ACCURACY_TEST_SIZE, with_accuracy

from dynconv.book.sentences import comparison_sentence, provenance_caption, summary_text
from dynconv.book.tables import (
    BUILTIN_BOUND,
    accuracy_intervals,
    accuracy_table,
    criterion_table,
    departure_table,
    interval_bounds,
    interval_half_width,
    provenance_table,
    relative_to_bound,
    seed_spread,
    seed_table,
    subset_trained_bars,
    subset_trained_table,
)
from dynconv.channels import SUBSET_NAMES
from dynconv.errors import ConfigError

N = ACCURACY_TEST_SIZE


ALL = dict.fromkeys(SUBSET_NAMES, 0.5)


def test_accuracy_table_and_intervals():
    a = with_accuracy({**ALL, "RGB": 0.9, "B": 0.25}, label="a")
    b = with_accuracy({"RGB": 0.6}, label="b")
    records = {"A": a, "B model": b}
    table = accuracy_table(records)
    assert list(table.index) == ["A", "B model"] and list(table.columns) == list(SUBSET_NAMES)
    assert table.loc["A", "RGB"] == 0.9 and table.loc["A", "B"] == 0.25
    assert table.loc["B model", "RGB"] == 0.6 and table.loc["B model"].isna().sum() == 6

    low, high = interval_bounds(records)
    assert low.shape == high.shape == table.shape
    tested = table.notna()
    mask = tested.to_numpy()
    lo_, acc, hi_ = (t.to_numpy()[mask] for t in (low, table, high))
    assert mask.sum() == 8 and ((lo_ <= acc) & (acc <= hi_) & (lo_ < hi_)).all()
    assert low.isna().equals(~tested) and high.isna().equals(~tested)
    assert (low.loc["A", "RGB"], high.loc["A", "RGB"]) == a.interval("RGB")

    text = accuracy_intervals(records)
    lo, hi = a.interval("RGB")
    assert text.loc["A", "RGB"] == f"90.0% ({100 * lo:.1f}–{100 * hi:.1f})"
    assert text.loc["B model", "G"] == "n/a"
    width = interval_half_width(records)
    assert width == max((high - low).max()) / 2 and 0 < width < 0.1


def test_relative_to_bound():
    table = accuracy_table({"A": with_accuracy({**ALL, "RGB": 0.9, "RG": 0.75})})
    relative = relative_to_bound(table)
    assert relative.loc["A", "RGB"] == pytest.approx(0.9)
    assert relative.loc["A", "RG"] == pytest.approx(1.0)
    assert relative.loc["A", "R"] == pytest.approx(1.0)  # 50% of a 50% bound
    assert set(BUILTIN_BOUND) == set(SUBSET_NAMES)
    assert relative_to_bound(table[["GB", "B"]]).loc["A"].tolist() == pytest.approx([0.5, 1.0])


def test_seed_table_and_spread_equal_numpy():
    values = {42: 0.50, 43: 0.56, 44: 0.53}
    runs = [with_accuracy({**ALL, "RGB": v, "B": 0.3}, seed=s) for s, v in values.items()]
    table = seed_table({"v4": runs, "one": runs[:1]})
    rgb = np.array(list(values.values()))
    assert table.loc[("v4", "mean"), "RGB"] == pytest.approx(rgb.mean())
    assert table.loc[("v4", "std"), "RGB"] == pytest.approx(rgb.std(ddof=1))
    assert table.loc[("v4", "min"), "RGB"] == 0.5 and table.loc[("v4", "max"), "RGB"] == 0.56
    assert table.loc[("v4", "seeds"), "RGB"] == 3
    assert table.loc[("v4", "std"), "B"] == 0 and table.loc[("one", "std"), "RGB"] == 0
    assert table.index.names == ["experiment", "statistic"]
    assert list(table.columns) == list(SUBSET_NAMES)
    assert seed_spread(runs) == pytest.approx(0.06)
    assert seed_spread(runs, ["B"]) == 0.0 and seed_spread(runs[:1]) == 0.0


def test_comparison_sentence_within_noise_and_significant():
    a = with_accuracy({**ALL, "RGB": 0.6}, label="a")
    same = with_accuracy({**ALL, "RGB": 0.6}, label="same")
    sentence = comparison_sentence(a, same, subsets=["RGB"])
    assert "within noise" in sentence and "equally accurate" in sentence and "*a*" in sentence
    assert "no difference" in comparison_sentence(a, same)  # every subset tied

    small = with_accuracy({**ALL, "RGB": 0.61}, label="small")  # 2 images of 200
    assert "within noise" in comparison_sentence(small, a, subsets=["RGB"])

    lopsided = with_accuracy({**ALL, "RGB": 0.95}, label="big")
    sentence = comparison_sentence(lopsided, a, subsets=["RGB"])
    assert "significant" in sentence and "within noise" not in sentence
    assert "more accurate" in sentence and "35.0 points" in sentence
    capped = comparison_sentence(lopsided, a, subsets=["RGB"], seed_spread=0.5)
    assert "not called a difference" in capped

    rgb_only = with_accuracy({"RGB": 0.6}, label="r")
    assert "share no tested subset" in comparison_sentence(rgb_only, a, subsets=["B"])
    other_images = with_accuracy({**ALL}, label="o", fingerprint="other-data")
    with pytest.raises(ConfigError, match="not tested on the same images"):
        comparison_sentence(a, other_images)


def test_criterion_table():
    ref = with_accuracy({"RGB": 0.8}, label="ref", wall_time_s=100.4)
    good = with_accuracy({"RGB": 0.76}, label="good")
    bad = with_accuracy({"RGB": 0.40}, label="bad")
    table = criterion_table({"ResNet34": ref, "good": good, "bad": bad}, reference="ResNet34")
    assert table.loc["good", "fraction of ResNet34"] == pytest.approx(0.95)
    assert table.loc["good", "meets 90%"] and not table.loc["bad", "meets 90%"]
    assert table.loc["ResNet34", "meets 90%"] and table.loc["ResNet34", "wall time (s)"] == 100
    assert np.isnan(table.loc["ResNet34", "p vs ResNet34 (McNemar)"])
    assert table.loc["bad", "p vs ResNet34 (McNemar)"] < 0.001
    # 8 images only the reference gets right, none the other way: exact p = 2 / 2**8
    assert table.loc["good", "p vs ResNet34 (McNemar)"] == pytest.approx(2 / 2**8)
    assert table.loc["good", "RGB accuracy (95% CI)"].startswith("76.0% (")


def test_provenance_table_and_summary_text():
    trained = with_accuracy({**ALL, "RGB": 0.9}, label="v4 per sample", seed=43,
                            origin="retrained: the code changed (stems/v4.py)",
                            config={"model_kwargs": {"drop_mode": "sample"},
                                    "val_subsets": "all"})
    loaded = with_accuracy({"RGB": 0.5}, label="plain")
    table = provenance_table({"v4": trained, "plain": loaded})
    assert isinstance(table, pd.DataFrame) and list(table.index) == ["v4", "plain"]
    assert table.loc["v4", "this build"] == "retrained: the code changed (stems/v4.py)"
    assert table.loc["plain", "this build"] == "loaded"
    assert table.loc["v4", "trained (UTC), on"] == "2024-01-02 03:04, test CPU"
    assert table.loc["v4", "seed"] == 43 and table.loc["v4", "file"] == "-"
    placed = dataclasses.replace(loaded, path="/x/book/results/ci/plain-seed42-0123456789.json")
    assert provenance_table({"plain": placed}).loc["plain", "file"] == (
        "plain-seed42-0123456789.json")
    caption = provenance_caption({"plain": placed})
    assert "Data: synthetic (fingerprint `data-1`, 30 training and" in caption
    assert "Files in `book/results/ci`." in caption

    text = summary_text(trained, chance=0.25)
    lo, hi = trained.interval("RGB")
    assert f"**90.0% ({100 * lo:.1f}–{100 * hi:.1f})**" in text
    assert "(drop_mode=sample), seed 43" in text
    assert "validated on the mean over every subset" in text
    assert "retrained: the code changed (stems/v4.py) in this build" in text
    assert "chance 25.0%" in text and f"on {N:,} test images" in text
    assert "written 2024-01-02 03:04 UTC" in summary_text(loaded, chance=0.25)
    assert "loaded from `book/results/ci/plain-seed42-0123456789.json`" in summary_text(
        placed, chance=0.25)
    b_only = with_accuracy({"B": 0.5}, label="b")
    assert "test accuracy on B **50.0%" in summary_text(b_only, chance=0.25)


def test_subset_trained_table_and_bars():
    control = with_accuracy({"RGB": 0.9, "GB": 0.6, "R": 0.3}, label="control")
    on_gb = with_accuracy({"GB": 0.9}, label="on GB")  # same images as the control
    on_r = with_accuracy({"R": 0.45}, label="on R")
    table = subset_trained_table(control, {"GB": on_gb, "R": on_r})
    assert list(table.index) == ["GB", "R"]
    assert table.loc["GB", "target"] == pytest.approx(1.0 * 0.9)  # bound x control's RGB
    assert table.loc["R", "target"] == pytest.approx(0.5 * 0.9)
    assert table.loc["GB", "ratio"] == pytest.approx(1.0)
    assert table.loc["R", "ratio"] == pytest.approx(0.45 / 0.45)
    # 60 images only the GB-trained network gets right, none the other way
    assert table.loc["GB", "p (McNemar, Holm, 2 tests)"] < 1e-10
    assert table.loc["R", "trained on it (95% CI)"].startswith("45.0% (")
    plain = subset_trained_table(control, {"GB": on_gb}, bounds=None)
    assert "ratio" not in plain.columns and "target" not in plain.columns
    acc, low, high = subset_trained_bars(control, {"GB": on_gb, "R": on_r})
    assert acc.loc["trained on the subset alone", "GB"] == pytest.approx(0.9)
    assert acc.loc["control on RGB, zero-filled", "R"] == pytest.approx(0.3)
    assert (low.values < acc.values).all() and (acc.values < high.values).all()


def test_departure_table_lists_the_profile_fields_with_reasons():
    table = departure_table("ci")
    assert "image_size" in table.index and table.loc["image_size", "original (full)"] == "84"
    assert table.loc["image_size", "ci"] == "16"
    assert table.loc["max_val_per_class", "original (full)"] == "all"
    assert table["why"].str.len().min() > 20
    assert table.loc["v3: anneal_epochs", "ci"] == "3"  # the experiments' own departures
    assert departure_table("full").empty


def test_seed_criterion_table_compares_means_over_seeds():
    from dynconv.book.tables import seed_criterion_table

    ref = [with_accuracy({"RGB": a}, label="ResNet34", seed=s)
           for s, a in ((42, 0.8), (43, 0.9))]
    small = [with_accuracy({"RGB": a}, label="small", seed=s)
             for s, a in ((42, 0.75), (43, 0.79), (44, 0.77))]
    table = seed_criterion_table({"ResNet34": ref, "small": small}, reference="ResNet34")
    row = table.loc["small"]
    assert row["seeds"] == 3
    assert row["RGB accuracy, mean"] == pytest.approx(0.77)
    assert row["RGB accuracy, range"] == pytest.approx(0.04)
    assert row["fraction of ResNet34 (means)"] == pytest.approx(0.77 / 0.85)
    assert bool(row["meets 90%"]) is True  # 0.906
    assert row["per seed (fraction)"] == "0.882, 0.929, 0.906"
    assert bool(seed_criterion_table({"ResNet34": ref, "small": small[:1]},
                                     reference="ResNet34").loc["small", "meets 90%"]) is False
