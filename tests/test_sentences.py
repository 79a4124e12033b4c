"""Tests of the sentences and small tables chapters show (dynconv.book.sentences,
dynconv.book.tables,
dynconv.book.demos): each conclusion a chapter states is computed here, on hand-made records or
plain numbers."""

from __future__ import annotations

import dataclasses
import re

import pandas as pd
import pytest
import torch
from standins import with_accuracy

from dynconv import stats
from dynconv.book import demos, sentences, tables
from dynconv.channels import INCOMPLETE_SUBSETS, SUBSET_NAMES
from dynconv.experiments import records
from dynconv.experiments.registry import EXPERIMENTS

ALL = dict.fromkeys(SUBSET_NAMES, 0.5)


def _builtin(record):
    return dataclasses.replace(record, data={**record.data, "name": "builtin-shapes"})


def _oracles(**accuracy):
    return {s: with_accuracy({s: a}, label=f"on {s}") for s, a in accuracy.items()}


def test_subset_gain_sentence_names_the_smallest_and_largest_gain():
    control = with_accuracy({**ALL, "R": 0.2, "G": 0.3}, label="control")
    trained = _oracles(R=0.5, G=0.35)
    assert sentences.subset_gain_sentence(control, trained) == (
        "Trained on the subset alone, a ResNet18 gains from 5.0 (G) to 30.0 points (R) over "
        "the zero-filled control.")


def test_subset_trained_verdict_reads_the_ratio_only_on_builtin_data():
    control = with_accuracy({**ALL, "RGB": 1.0, "R": 0.2}, label="control")
    trained = _oracles(R=0.5)  # R's cap is 0.5: ratio 1.0
    assert "ratio" not in sentences.subset_trained_verdict(control, trained)
    verdict = sentences.subset_trained_verdict(_builtin(control), trained)
    assert "from 1.00 (R) to 1.00" in verdict and "within 0.9" in verdict
    low = sentences.subset_trained_verdict(_builtin(control), _oracles(R=0.3))
    assert "below 0.9 somewhere" in low


def test_best_on_subsets_leaves_out_models_without_the_subsets():
    records = {"a": with_accuracy({**ALL, "R": 0.9}, label="a"),
               "b": with_accuracy(ALL, label="b"), "v1": with_accuracy({"RGB": 1.0})}
    assert tables.best_on_subsets(records, ["a", "b", "v1"])[0] == "a"
    sentence = sentences.best_on_subsets_sentence(records, ["a", "b", "v1"])
    assert "**a**" in sentence and "v1 serves RGB only" in sentence


def test_spread_sentence_states_the_rule_with_the_largest_spread():
    runs = {"x": [with_accuracy({**ALL, "R": 0.4}), with_accuracy({**ALL, "R": 0.5}, seed=43)],
            "y": [with_accuracy(ALL), with_accuracy(ALL)]}
    spreads = tables.seed_spreads(runs, ["R"])
    assert spreads == {"x": pytest.approx(0.1), "y": 0.0}
    assert "larger than 10.0 points" in sentences.spread_sentence(spreads)
    assert list(tables.per_seed({"x": runs["x"]})) == ["x, seed 42", "x, seed 43"]


def test_seed_pairs_match_records_by_seed_and_skip_unmatched_ones():
    runs = {"a": [with_accuracy(ALL, label="a", seed=s) for s in (42, 43, 44)],
            "b": [with_accuracy(ALL, label="b", seed=s) for s in (43, 42)]}
    pairs = tables.seed_pairs(runs, "a", "b")
    assert [(x.seed, y.seed) for x, y in pairs] == [(42, 42), (43, 43)]
    assert all(x.label == "a" and y.label == "b" for x, y in pairs)


def _with_val(accuracy: float, val: float, seed: int, label: str):
    """A record whose kept epoch (2 of 3) had validation accuracy ``val``."""
    history = [{"epoch": e, "val_acc": v} for e, v in enumerate((0.1, val, 0.99), 1)]
    return dataclasses.replace(with_accuracy({"RGB": accuracy}, label=label, seed=seed),
                               history=history, best_epoch=2, epochs_run=3)


def test_size_check_reads_the_kept_epochs_validation_and_the_test_means():
    def runs(deep_val, deep_test):
        return {"deep": [_with_val(deep_test, deep_val, s, "deep") for s in (42, 43)],
                "flat": [_with_val(0.6, 0.6, s, "flat") for s in (42, 43)]}

    text = sentences.size_check_sentence(runs(0.7, 0.7), "deep", "flat")
    assert "(means over 2 seeds, RGB)" in text
    assert "70.0% for deep against 60.0% for flat" in text  # epoch 2's, not the last epoch's
    assert text.endswith("So deep is not below flat, on validation and on test.")
    assert "is below flat, on validation and on test" in sentences.size_check_sentence(
        runs(0.5, 0.5), "deep", "flat")
    assert "not below flat on validation only" in sentences.size_check_sentence(
        runs(0.7, 0.5), "deep", "flat")


def test_subset_costs_sentences_one_line_per_incomplete_subset():
    text = sentences.subset_costs_sentences(with_accuracy({**ALL, "RGB": 0.9}))
    assert text.count("\n- ") == len(SUBSET_NAMES) - 2 and text.startswith("- ")


def test_cap_share_sentence():
    record = with_accuracy({"RGB": 1.0, "GB": 1.0, "RG": 0.75, "RB": 0.75, "R": 0.25, "G": 0.5,
                            "B": 0.5})
    assert "built-in data only" in sentences.cap_share_sentence(record)
    text = sentences.cap_share_sentence(_builtin(record))
    assert "from 50% (R) to 100% (RGB)" in text


def test_reported_numbers_come_from_reported_py():
    rgb = tables.reported_intervals(pd.Series({"resnet18": 54.89}))
    assert rgb.loc["resnet18", "test images"] == 450
    assert rgb.loc["resnet18", "95% interval"].startswith("54.9% (")
    assert "1.78% to 3.11%" in sentences.reported_range_sentence("v2", SUBSET_NAMES[1:])
    conclusion = sentences.errata_cost_conclusion(pd.DataFrame(
        {"counted_gflops": {"small_k7s2": 1.0, "small_k3s1": 10.0, "resnet34": 2.0}}))
    assert "+1.8 points" in conclusion and "50.00% against ResNet34's 51.78%" in conclusion
    assert "0.50 times" in conclusion and "5.0 times" in conclusion


def test_cost_sentences_read_the_tables_they_are_given():
    costs = pd.DataFrame({
        "weight_layers": {"small_k3s1": 4, "small_k7s2": 4, "resnet34": 34},
        "params_m": {"small_k3s1": 0.2, "small_k7s2": 0.21, "resnet34": 21.3},
        "counted_gflops": {"small_k3s1": 30.0, "small_k7s2": 1.5, "resnet34": 3.0},
        "calflops_gflops": {"small_k3s1": 0.7, "small_k7s2": 1.4, "resnet34": 3.0}})
    text = sentences.part2_cost_sentence(costs)
    assert "4 weight layers each" in text and "10.0 times ResNet34's 3.0" in text
    sagan = sentences.sagan_flops_sentence(costs)
    # 2 * 2 * 7056^2 * (8 + 64) FLOPs: the formula the chapter writes down
    assert f"{2 * 2 * 7056**2 * 72 / 1e9:.1f} GFLOPs" in sagan and "29.3 GFLOPs more" in sagan


def test_stem_and_v1_flops_sentences():
    flops = pd.DataFrame({
        "params_m": {"resnet18": 11.0, "v1": 11.01, "v1_no_maxpool": 11.01, "v2": 11.02},
        "counted_gflops": {"resnet18": 2.0, "v1": 2.0, "v1_no_maxpool": 8.0, "v2": 2.0},
        "calflops_gflops": {"resnet18": 2.0, "v1": 2.0, "v1_no_maxpool": 7.4, "v2": 2.0}})
    timing = pd.DataFrame({"train_step_ratio": {"resnet18": 1.0, "v1": 1.3, "v2": 1.1},
                           "peak_step_memory_mb": {"resnet18": 100, "v1": 120, "v2": 110}})
    text = sentences.stem_costs_sentence(flops, timing)
    assert "+10,000 to +20,000" in text and "1.10 to 1.30 times" in text
    assert "(v1 the slowest)" in text and "less than 0.01%" in text
    assert "without the max-pool (`v1_no_maxpool`, as in the original) 3.70 times" in \
        sentences.v1_flops_sentence(flops)


def test_zero_fill_and_test_split_sentences():
    assert re.search(r"R \d+, G \d+, B \d+ \(of 255\)", sentences.zero_fill_sentence())

    class Split:
        def __len__(self):
            return 100

        def class_counts(self):
            return {0: 50, 1: 50}

    text = sentences.test_split_sentence(Split(), num_classes=2, used=100, profile="ci")
    assert "**100 images** (50 per class, 2 classes)" in text and "**5.0 points**" in text
    assert text.endswith("450.")
    assert "7.1 points on the 50 images" in sentences.test_split_sentence(
        Split(), num_classes=2, used=50, profile="ci")


def test_profile_sentences():
    assert "Part I uses batch" in sentences.part2_budget_sentence("ci")
    rule = sentences.validation_rule_sentence("ci", ("v4-sample", "v4-batch"))
    assert "`ch.config_of(\"v4-sample\").val_subsets`" in rule and "v4 per batch" in rule


def test_subset_draws_sentence_and_generator_table():
    draws = pd.Series({"RGB": 0.5, "RG": 0.1, "RB": 0.1, "GB": 0.1, "R": 0.1, "G": 0.05,
                       "B": 0.05})
    text = sentences.subset_draws_sentence(draws, 100)
    assert "**50.0%**" in text and "about 5 times less often" in text
    assert "2-channel one (shared by RG, RB and GB) in 30.0%" in text
    table = tables.generator_change_table({"generator_change": {"1": 0.5, "3": 0.25}})
    assert list(table.index) == ["generator n=1", "generator n=3"]


def test_demos_of_chapters_1_and_10():
    order = demos.channel_order()
    assert order.loc["this book (PIL)", "channel 0"] == 255
    assert order.loc["the original (cv2.imread)", "channel 2"] == 255
    temperature = demos.temperature_table()
    assert temperature.loc["T = 34", "largest weight"] < 0.27  # nearly uniform
    assert temperature.loc["T = 1", "largest weight"] > 0.7
    assert "GB uses kernel slices" in demos.original_v3_facts()
    assert demos.empty_folder_error(16).startswith("DatasetError: ")
    shapes = demos.subset_shapes(torch.zeros(4, 3, 8, 8), "gr")
    assert shapes.loc["RG as 'drop'", "shape"] == (4, 2, 8, 8)
    assert shapes.loc["RG as 'zero'", "shape"] == (4, 3, 8, 8)


def test_provenance_summary_counts_each_record_once():
    a = dataclasses.replace(with_accuracy(ALL, label="a"), origin="loaded: its key matches",
                            created="2026-12-01T13:12:00+00:00", wall_time_s=60.0)
    b = dataclasses.replace(a, created="2026-12-01T13:40:00+00:00", wall_time_s=120.0)
    text = sentences.provenance_summary({"a": a, "again a": a, "b": b})
    assert text.startswith("2 records, trained between 2026-12-01 13:12 and 2026-12-01 13:40")
    assert "60 to 120 s each (3 min in all)" in text and "all loaded" in text
    trained = dataclasses.replace(b, origin="trained: no stored record")
    assert "some trained" in sentences.provenance_summary({"a": a, "b": trained})


# --- many tests: Holm's correction over the family a call tests --------------------------------


def test_comparison_sentences_correct_one_family_over_every_pair():
    a = with_accuracy({"RGB": 0.6, "R": 0.535}, label="a")  # 7 images only a gets right on R
    b = with_accuracy({"RGB": 0.6, "R": 0.5}, label="b")
    c = with_accuracy({"RGB": 0.6, "R": 0.5}, label="c")
    alone = sentences.comparison_sentence(a, b, subsets=["R"])  # p = 2 / 2**7, one test
    assert "a significant difference" in alone and "Holm" not in alone
    both = sentences.comparison_sentences([(a, b), (a, c)])  # RGB and R, twice: 4 tests
    assert len(both) == 2
    for text in both:
        assert "Holm-corrected over 4 tests" in text
        assert "no difference significant" in text  # 4 x 0.0156 (Holm) is above 0.05
    # comparison_sentence is a family of its own subsets
    assert "Holm-corrected over 2 tests" in sentences.comparison_sentence(a, b)


def test_subset_trained_table_p_values_are_holm_over_its_rows():
    control = with_accuracy({**ALL, "RGB": 0.9, "R": 0.3, "G": 0.5}, label="control")
    trained = {"R": with_accuracy({"R": 0.34}, label="on R"),
               "G": with_accuracy({"G": 0.9}, label="on G")}
    table = tables.subset_trained_table(control, trained, bounds=None)
    column = "p (McNemar, Holm, 2 tests)"
    assert tables.p_columns(table) == [column]
    raw = [records.paired_tests(trained[s], control, [s])[0].p_value for s in ("R", "G")]
    assert list(table[column]) == pytest.approx(stats.holm(raw))
    assert (table[column].to_numpy() >= raw).all()


def test_subset_costs_sentences_are_one_family():
    text = sentences.subset_costs_sentences(with_accuracy({**ALL, "RGB": 0.9}))
    assert text.count("Holm-corrected over 6 tests, p ") == 6


def test_effects_sentence_gains_and_counts_under_one_family():
    full = {s: 0.9 for s in INCOMPLETE_SUBSETS}
    half = {s: 0.5 for s in INCOMPLETE_SUBSETS}
    good, plain, same = (with_accuracy(full, label="good"), with_accuracy(half, label="plain"),
                         with_accuracy(half, label="same"))
    text = sentences.effects_sentence({"the idea": (good, plain), "nothing": (same, plain)})
    assert "Holm-corrected over all 12 tests" in text
    assert "the idea (*good* against *plain*) gains 40.0 points on average, significant on 6 "\
           "of 6 subsets" in text
    assert ("nothing (*same* against *plain*) changes the mean accuracy by less than 0.1 "
            "points, significant on none of the 6 subsets") in text
    lost = sentences.effects_sentence({"the idea": (plain, good)})
    assert "loses 40.0 points on average" in lost
    with pytest.raises(ValueError, match="at least one"):
        sentences.effects_sentence({})


def test_effect_pairs_name_registered_experiments():
    for pairs in (sentences.V5_IDEAS, sentences.SAMPLING_EFFECTS,
                  sentences.PART3_EFFECTS):
        for with_it, without in pairs.values():
            assert with_it in EXPERIMENTS and without in EXPERIMENTS
