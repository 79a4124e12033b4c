"""dynconv.book.robustness on hand-made records: the ratio to the oracles and Part III's targets."""

from __future__ import annotations

import pandas as pd
import pytest
from standins import with_accuracy

from dynconv.book.robustness import (
    ORACLE,
    ROBUSTNESS_COLUMNS,
    ratio_matrix,
    robustness_table,
    savings_table,
    seed_ratio_table,
    target_table,
    worst_ratio,
    write_robustness_csv,
)
from dynconv.book.sentences import verdict_sentence, worst_sentence
from dynconv.channels import SUBSET_NAMES

ORACLES = {s: with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.8), label=f"o{s}")
           for s in SUBSET_NAMES}


def test_table_has_one_row_per_model_and_subset_and_oracles_at_one():
    a = with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.8), "R": 0.4}, label="a")
    b1 = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.6), label="b")
    b2 = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.7), label="b", seed=43)
    table = robustness_table({"a": [a], "b": [b1, b2]}, ORACLES)
    assert list(table.columns) == list(ROBUSTNESS_COLUMNS)
    assert len(table) == 3 * 7
    assert (table[table.model == ORACLE].ratio == 1).all()
    b_rgb = table[(table.model == "b") & (table.subset == "RGB")].iloc[0]
    assert b_rgb.accuracy == pytest.approx(0.65)  # the mean over seeds
    assert b_rgb.ratio == pytest.approx(0.65 / 0.8)
    worst = worst_ratio(table)
    assert worst["a"] == pytest.approx(0.5) and worst.index[0] == ORACLE
    assert list(ratio_matrix(table).columns) == list(SUBSET_NAMES)
    assert "*b* 0.81 (RGB)" in worst_sentence(table)


def test_an_oracle_given_as_its_seeds_counts_with_its_mean():
    a = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.6), label="a")
    seeds = {s: [with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.8), label=f"o{s}"),
                 with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.6), label=f"o{s}", seed=43)]
             for s in SUBSET_NAMES}
    table = robustness_table({"a": [a]}, {**seeds, "R": ORACLES["R"]})  # R: one record
    rows = table[table.model == "a"].set_index("subset")
    assert rows.loc["G", "oracle_accuracy"] == pytest.approx(0.7)
    assert rows.loc["G", "ratio"] == pytest.approx(0.6 / 0.7)
    assert rows.loc["R", "ratio"] == pytest.approx(0.6 / 0.8)
    assert (table[table.model == ORACLE].ratio == 1).all()


def test_seed_ratio_table_reports_each_seed():
    b1 = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.6), label="b")
    b2 = with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.7), "G": 0.4}, label="b", seed=43)
    row = seed_ratio_table({"b": [b1, b2]}, ORACLES).loc["b"]
    assert row["seeds"] == 2
    assert row["worst ratio, range"] == pytest.approx(0.75 - 0.5)
    assert row["per seed (worst ratio)"] == "0.750, 0.500"


def test_targets_can_fail_and_pass():
    good = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.79), label="v5")
    weak = with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.8), "B": 0.3}, label="rival")
    plain = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.8), label="plain")
    table = robustness_table({"v5": [good], "rival": [weak]}, ORACLES)
    met = target_table("v5", table, candidate_record=good, plain=plain, rivals=["rival"])["met"]
    assert met.tolist() == [True, True, True]
    bad = with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.2)}, label="v5")
    table = robustness_table({"v5": [bad], "rival": [weak]}, ORACLES)
    met = target_table("v5", table, candidate_record=bad, plain=plain, rivals=["rival"])["met"]
    assert met.tolist() == [False, False, False]
    # the same RGB deficit is within the seed spread: not called lower
    met = target_table("v5", table, candidate_record=bad, plain=plain, rivals=["rival"],
                       seed_spread=0.7)["met"]
    assert met.iloc[1]


def test_savings_counts_each_oracle_once():
    one = with_accuracy({"RGB": 0.8}, label="v5", costs={"params": 11}, train_time_s=60.0)
    shared = with_accuracy({"RGB": 0.8}, label="o", costs={"params": 10}, train_time_s=50.0)
    oracles = {"RGB": shared, **{s: with_accuracy({s: 0.5}, label=s, costs={"params": 10},
                                                  train_time_s=50.0)
                                 for s in SUBSET_NAMES[1:]}}
    table = savings_table(one, oracles)
    assert table.iloc[0]["parameters stored"] == 70
    assert table.loc["one network saves (x)", "training time (s)"] == pytest.approx(350 / 60)


def test_csv_is_written_with_the_issue_columns(tmp_path):
    a = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.4), label="a")
    path = write_robustness_csv(robustness_table({"a": [a]}, ORACLES), tmp_path, "ci")
    assert path == tmp_path / "ci" / "robustness.csv"
    back = pd.read_csv(path)
    assert list(back.columns) == ["model", "subset", "accuracy", "oracle_accuracy", "ratio"]
    assert back.ratio.tolist()[-1] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="lacks the columns"):
        write_robustness_csv(pd.DataFrame({"model": []}), tmp_path, "ci")


def test_an_oracle_at_zero_gives_no_ratio_instead_of_dividing_by_zero():
    zero = {s: with_accuracy({s: 0.0}, label=s) for s in ("R",)}
    table = robustness_table({"a": [with_accuracy({"R": 0.3}, label="a")]}, zero)
    assert table.ratio.isna().all()


def test_verdict_names_the_best_model_and_the_candidate_seeds():
    v5 = [with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.8), label="v5"),
          with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.64), label="v5", seed=43)]
    rival = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.76), label="rival")
    table = robustness_table({"v5": v5, "rival": [rival]}, ORACLES)
    text = verdict_sentence(table, {"v5": v5}, ORACLES)
    assert "belongs to *rival* (0.95; v5's is 0.90)" in text
    assert "seeds give 1.000, 0.800 (mean 0.90)" in text


def test_beside_channelvit_sets_the_reported_ratios_beside_this_runs():
    from dynconv.book.robustness import CHANNELVIT_REPORTED, beside_channelvit

    v5 = with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.8), "B": 0.4}, label="v5")
    table = robustness_table({"v5": [v5]}, ORACLES)
    frame = beside_channelvit(table, ["v5"])
    assert list(frame.index) == ["R", "G", "B"]
    reported = frame.iloc[:, 0]
    assert reported["B"] == pytest.approx(68.48 / 69.47)  # Bao et al., Table 1
    assert reported.between(0.98, 1.0).all() and set(CHANNELVIT_REPORTED) == {"R", "G", "B"}
    assert "reported" in frame.columns[0] and frame.columns[1] == "v5 (this run)"
    assert frame.loc["B", "v5 (this run)"] == pytest.approx(0.5)
    assert frame.loc["R", "v5 (this run)"] == pytest.approx(1.0)
    strong = {s: with_accuracy(dict.fromkeys(SUBSET_NAMES, 1.0), label=f"o{s}")
              for s in SUBSET_NAMES}
    both = beside_channelvit(table, ["v5"],
                             equal_budget=robustness_table({"v5": [v5]}, strong))
    assert list(both.columns[1:]) == ["v5 (this run)", "v5, oracles as long (this run)"]
    assert both.loc["B", "v5, oracles as long (this run)"] == pytest.approx(0.4)
    assert both.loc["B", "v5 (this run)"] == pytest.approx(0.5)


def test_budget_sentence_reads_both_budgets_from_the_table():
    from dynconv.book.sentences import budget_sentence

    short = with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.8), "B": 0.4}, label="v5")
    longer = [with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.8), "G": g}, label="v5-long",
                            seed=s) for s, g in ((42, 0.79), (43, 0.77))]
    table = robustness_table({"v5": [short], "v5-long": longer}, ORACLES)
    text = budget_sentence(table)
    assert "from 0.500 (B) to 0.975 (G)" in text
    assert "below 0.98 of the oracle on G" in text
    assert "at least 0.95 of the oracle on every subset" in budget_sentence(table, fraction=0.95)


def test_targets_without_rivals_leave_out_the_rival_target():
    v5 = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.79), label="v5")
    plain = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.8), label="plain")
    table = robustness_table({"v5": [v5]}, ORACLES)
    targets = target_table("v5", table, candidate_record=v5, plain=plain, rivals=())
    assert len(targets) == 2 and targets["met"].tolist() == [True, True]
    assert not targets.index.str.contains("published").any()


def test_oracle_tests_pair_each_subset_with_its_own_oracle_and_correct_over_all():
    from dynconv.book.robustness import oracle_tests
    from dynconv.stats import holm

    # each oracle is strong on its own subset only: the candidate must be paired with it there
    oracles = {s: with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.1), s: 0.8}, label=f"o{s}")
               for s in SUBSET_NAMES}
    candidate = with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.8), "B": 0.6}, label="v5")
    frame = oracle_tests(candidate, oracles)
    assert list(frame.index) == list(SUBSET_NAMES)
    assert frame.loc["RGB", "oracle"] == pytest.approx(0.8)
    assert frame.loc["B", "difference (points)"] == pytest.approx(-20.0)
    assert frame.loc["B", "ratio"] == pytest.approx(0.75)
    p = frame.columns[-1]
    assert p == "p (McNemar, Holm over 7)"
    assert frame.loc["RGB", p] == pytest.approx(1.0)
    # the Holm correction of the plain per-subset tests, not the raw p-values
    from dynconv.stats import paired_test
    raw = [paired_test(candidate.correct(s), oracles[s].correct(s)).p_value
           for s in SUBSET_NAMES]
    assert frame[p].tolist() == pytest.approx(holm(raw))
    assert frame.loc["B", p] < 0.05


def test_equal_budget_sentence_reads_the_oracles_gain_and_both_ratios():
    from dynconv.book.sentences import equal_budget_sentence

    longer = [with_accuracy({**dict.fromkeys(SUBSET_NAMES, 0.8), "G": 0.76}, label="v5-long")]
    strong = {s: with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.8 if s != "G" else 0.95),
                               label=f"o{s}") for s in SUBSET_NAMES}
    at_profile = robustness_table({"v5-long": longer}, ORACLES)
    at_long = robustness_table({"v5-long": longer}, strong)
    text = equal_budget_sentence(at_profile, at_long)
    assert "the 7 oracles changed by +2.1 points on average" in text
    assert "(from +0.0 on RGB to +15.0 on G)" in text
    assert "worst-subset ratio is 0.800 (G), against 0.950 (G) against" in text
    assert "below 0.98 of the oracle on G" in text
    assert "every subset" in equal_budget_sentence(at_profile, at_profile, fraction=0.95)
    assert "lowered them" not in text
    # oracles that lost accuracy with the longer budget: said, not hidden in a mean
    weak = {s: with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.7), label=f"o{s}")
            for s in SUBSET_NAMES}
    lower = equal_budget_sentence(at_profile, robustness_table({"v5-long": longer}, weak))
    assert "changed by -10.0 points on average" in lower
    assert "On average the longer budget lowered them" in lower


def test_csv_can_be_written_under_another_name(tmp_path):
    a = with_accuracy(dict.fromkeys(SUBSET_NAMES, 0.4), label="a")
    path = write_robustness_csv(robustness_table({"a": [a]}, ORACLES), tmp_path, "ci",
                                name="robustness-3x.csv")
    assert path == tmp_path / "ci" / "robustness-3x.csv" and path.exists()
