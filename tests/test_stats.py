"""Tests of dynconv.stats: Wilson intervals, McNemar's exact test, seed spread, sentences."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binomtest
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

from dynconv.book.sentences import describe_comparison
from dynconv.stats import (
    ALPHA,
    PairedTest,
    SeedSummary,
    accuracy_interval,
    holm,
    holm_family,
    interval_text,
    paired_test,
    seed_summary,
)

SUBSETS = ["RG", "RB", "GB", "R", "G", "B"]
N = 2400


def pair(correct_both: int, only_a: int, only_b: int, neither: int
         ) -> tuple[np.ndarray, np.ndarray]:
    """Boolean per-image correctness of two models with the given contingency counts."""
    a = [True] * correct_both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * correct_both + [False] * only_a + [True] * only_b + [False] * neither
    return np.array(a), np.array(b)


def made_up(subset: str, difference_points: float, p_value: float, n: int = N) -> PairedTest:
    """A PairedTest with accuracy_b = 50% and accuracy_a = 50% + the given points."""
    shift = round(difference_points / 100 * n)
    return PairedTest(subset=subset, n=n, accuracy_a=0.5 + shift / n, accuracy_b=0.5,
                      only_a=20 + max(shift, 0), only_b=20 + max(-shift, 0), p_value=p_value)


def assert_plain_english(text: str) -> None:
    for bad in ("on 0 of", "+-", "by -", "-+", "  ", "nan", "1 subsets", "all 1 "):
        assert bad not in text, f"{bad!r} in {text!r}"
    assert text.endswith(".")


# --- intervals ---------------------------------------------------------------------------------


@pytest.mark.parametrize("correct,total", [(50, 100), (0, 10), (10, 10), (1317, 2400), (3, 7)])
def test_wilson_interval_is_statsmodels_and_contains_the_estimate(correct, total):
    low, high = accuracy_interval(correct, total)
    expected = proportion_confint(correct, total, alpha=0.05, method="wilson")
    assert (low, high) == pytest.approx(expected)
    assert 0.0 <= low <= correct / total <= high <= 1.0
    wider = accuracy_interval(correct, total, confidence=0.99)
    assert wider[0] <= low and wider[1] >= high


def test_wilson_known_value_and_noise_bound():
    low, high = accuracy_interval(50, 100)
    assert low == pytest.approx(0.404, abs=5e-4) and high == pytest.approx(0.596, abs=5e-4)
    # half-width about 1.96 standard errors, and the standard error is at most sqrt(0.25 / n)
    n = 2400
    low, high = accuracy_interval(n // 2, n)
    assert (high - low) / 2 <= 1.96 * math.sqrt(0.25 / n) * 1.01


def test_interval_text():
    assert interval_text(0.567, 0.521, 0.612) == "56.7% (52.1–61.2)"


@pytest.mark.parametrize("correct,total,kwargs", [(1, 0, {}), (-1, 10, {}), (11, 10, {}),
                                                  (5, 10, {"confidence": 1.5})])
def test_interval_rejects_bad_input(correct, total, kwargs):
    with pytest.raises(ValueError):
        accuracy_interval(correct, total, **kwargs)


# --- paired test -------------------------------------------------------------------------------


def test_paired_test_counts_and_matches_the_binomial_definition():
    a, b = pair(correct_both=40, only_a=9, only_b=3, neither=8)
    t = paired_test(a, b, subset="RG")
    assert (t.subset, t.n, t.only_a, t.only_b) == ("RG", 60, 9, 3)
    assert t.accuracy_a == pytest.approx(49 / 60) and t.accuracy_b == pytest.approx(43 / 60)
    assert t.difference == pytest.approx(6 / 60)
    # exact McNemar = two-sided binomial test of the smaller discordant count at 1/2 (scipy)
    assert t.p_value == pytest.approx(binomtest(3, 12, 0.5).pvalue)
    assert not t.significant()


def test_paired_test_order_of_images_matters_only_through_pairs():
    rng = np.random.default_rng(1)
    a = rng.random(300) < 0.6
    b = rng.random(300) < 0.5
    t = paired_test(a, b)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    assert (t.only_a, t.only_b) == (only_a, only_b)
    expected = binomtest(min(only_a, only_b), only_a + only_b, 0.5).pvalue
    assert t.p_value == pytest.approx(expected)
    swapped = paired_test(b, a)
    assert swapped.p_value == pytest.approx(t.p_value)
    assert swapped.difference == pytest.approx(-t.difference)


def test_identical_predictions_are_not_significant():
    a, _ = pair(correct_both=30, only_a=0, only_b=0, neither=10)
    t = paired_test(a, a.copy())
    assert t.p_value == 1.0 and t.only_a == t.only_b == 0
    assert not t.significant() and t.difference == 0.0


def test_lopsided_disagreement_is_significant():
    a, b = pair(correct_both=100, only_a=30, only_b=2, neither=20)
    t = paired_test(a, b)
    assert t.p_value == pytest.approx(binomtest(2, 32, 0.5).pvalue)
    assert t.p_value < 0.001 and t.significant() and t.significant(alpha=0.01)
    assert ALPHA == 0.05


def test_paired_test_accepts_zero_one_values():
    t = paired_test([1, 0, 1, 1], [1, 1, 0, 0])
    assert (t.only_a, t.only_b, t.n) == (2, 1, 4)


@pytest.mark.parametrize("a,b,match", [([True, False], [True], "same images"),
                                       ([], [], "at least one"),
                                       ([0, 2], [1, 1], "booleans")])
def test_paired_test_rejects_bad_input(a, b, match):
    with pytest.raises(ValueError, match=match):
        paired_test(a, b)


# --- seeds -------------------------------------------------------------------------------------


def test_seed_summary():
    s = seed_summary([0.50, 0.53, 0.52])
    assert isinstance(s, SeedSummary) and s.n == 3
    assert s.mean == pytest.approx(0.51666666)
    assert s.std == pytest.approx(np.std([0.50, 0.53, 0.52], ddof=1))
    assert (s.min, s.max) == (0.50, 0.53) and s.spread == pytest.approx(0.03)
    one = seed_summary([0.6])
    assert one.std == 0.0 and one.spread == 0.0 and one.mean == 0.6
    with pytest.raises(ValueError):
        seed_summary([])


# --- many tests --------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(5))
def test_holm_is_statsmodels_and_never_below_the_raw_p_values(seed):
    rng = np.random.default_rng(seed)
    raw = np.concatenate([rng.uniform(0, 0.06, 4), rng.uniform(0, 1, 8)])
    rng.shuffle(raw)
    adjusted = holm(raw)
    expected = multipletests(raw, method="holm")[1]
    np.testing.assert_allclose(adjusted, expected)
    assert all(a >= r for a, r in zip(adjusted, raw, strict=True))
    assert max(adjusted) <= 1.0


def test_holm_by_hand():
    # sorted 0.01, 0.02, 0.04: times 3, 2, 1, each at least the one before
    assert holm([0.04, 0.01, 0.02]) == pytest.approx([0.04, 0.03, 0.04])
    assert holm([0.3]) == [0.3] and holm([]) == []
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        holm([0.2, 1.5])


def test_holm_family_keeps_the_raw_value_and_the_verdict_uses_the_corrected_one():
    raw = [made_up("RG", 3.0, 0.03), made_up("R", 2.0, 0.4), made_up("G", 1.0, 0.6)]
    family = holm_family(raw)
    assert [t.family for t in family] == [3, 3, 3]
    assert [t.raw_p_value for t in family] == [0.03, 0.4, 0.6]
    assert all(t.p_value >= r.p_value for t, r in zip(family, raw, strict=True))
    assert family[0].p_value == pytest.approx(0.09)
    assert raw[0].significant() and not family[0].significant()  # 0.03 alone, 0.09 for three
    assert all(t.corrected for t in family) and not raw[0].corrected
    assert holm_family(raw[:1]) == raw[:1]  # one test: nothing to correct
    with pytest.raises(ValueError, match="already Holm-corrected"):
        holm_family(family)


def test_sentences_say_the_correction_and_judge_by_it():
    raw = [made_up("RG", 3.0, 0.03), made_up("R", 2.0, 0.4), made_up("G", 1.0, 0.6)]
    family = holm_family(raw)
    text = describe_comparison(family, "v5", "v4")
    assert_plain_english(text)
    assert "Holm-corrected over 3 tests" in text
    assert "no difference significant" in text  # raw 0.03 would have been significant
    assert "Holm" not in describe_comparison(raw, "v5", "v4")
    one = describe_comparison(family[:1], "v5", "v4")
    assert "Holm-corrected over 3 tests, p = 0.09" in one and "within noise" in one


# --- sentences ---------------------------------------------------------------------------------


def test_all_worse_mostly_significant():
    tests = [made_up(s, d, p) for s, d, p in zip(
        SUBSETS, [-3.1, -18.0, -12.0, -10.0, -9.7, -12.0], [0.2, 1e-5, 1e-4, 0.01, 0.03, 0.04],
        strict=True)]
    text = describe_comparison(tests, "v2", "the zero-fill control")
    assert_plain_english(text)
    assert text.startswith("*v2* is less accurate than *the zero-fill control* on all 6 subsets")
    assert "by 10.8 points on average (from 3.1 to 18.0)" in text
    assert "significant (p < 0.05) on 5 of 6 subsets" in text
    assert "on RG it is within noise" in text
    assert "2,400 test images" in text


def test_all_better_all_significant():
    tests = [made_up(s, 5.0 + i, 1e-4) for i, s in enumerate(SUBSETS)]
    text = describe_comparison(tests, "v4", "v2")
    assert_plain_english(text)
    assert "*v4* is more accurate than *v2* on all 6 subsets" in text
    assert "significant (p < 0.05) on all 6 subsets" in text
    assert "within noise" not in text


def test_none_significant():
    tests = [made_up(s, d, 0.4) for s, d in zip(SUBSETS, [1, 2, 1, 0.5, 1.5, 2], strict=True)]
    text = describe_comparison(tests, "v3", "v2")
    assert_plain_english(text)
    assert "more accurate" in text and "no difference significant" in text
    assert "all 6 are within noise" in text


def test_mixed_directions_and_a_tie():
    tests = [made_up(s, d, p) for s, d, p in zip(
        SUBSETS, [2, 3, 1, 4, -1, 0], [0.3, 0.01, 0.5, 1e-4, 0.4, 1.0], strict=True)]
    text = describe_comparison(tests, "v3", "v2")
    assert_plain_english(text)
    assert "more accurate than *v2* on 4 of 6 subsets (RG, RB, GB, R)" in text
    assert "less accurate on 1 (G)" in text and "equally accurate on 1 (B)" in text
    assert "on average *v3* is 1.5 points more accurate" in text
    assert "significant (p < 0.05) on 2 of 6 subsets (RB, R)" in text
    assert "within noise" in text

    mixed = [made_up(s, d, 0.2) for s, d in zip(SUBSETS, [2, 2, 2, 2, -3, -3], strict=True)]
    text = describe_comparison(mixed, "v3", "v2")
    assert_plain_english(text)
    assert "more accurate than *v2* on 4 of 6 subsets" in text
    assert "and less accurate on 2 (G, B)" in text


def test_two_subsets_and_exact_ties():
    both = [made_up("RG", 2, 0.3), made_up("R", 2, 0.2)]
    text = describe_comparison(both, "v1", "v2")
    assert_plain_english(text)
    assert "on both subsets" in text and "either subset" in text

    ties = [made_up(s, 0, 1.0) for s in SUBSETS]
    text = describe_comparison(ties, "v1", "v2")
    assert_plain_english(text)
    assert "equally accurate on all 6 subsets" in text and "more accurate" not in text


def test_one_subset():
    t = PairedTest("RGB", N, 0.549, 0.567, 100, 143, 0.41)
    text = describe_comparison([t], "v1", "ResNet18")
    assert_plain_english(text)
    assert text == ("On RGB, *v1* (54.9%) and *ResNet18* (56.7%) differ by 1.8 points, within "
                    "noise (McNemar's exact test, p = 0.41, 2,400 test images).")

    significant = PairedTest("RGB", N, 0.549, 0.609, 50, 194, 2e-5)
    text = describe_comparison([significant], "v1", "ResNet18")
    assert_plain_english(text)
    assert "less accurate than *ResNet18* (60.9%) by 6.0 points" in text
    assert "significant" in text and "p < 0.001" in text and "within noise" not in text

    tie = PairedTest("RGB", N, 0.567, 0.567, 40, 40, 1.0)
    text = describe_comparison([tie], "v1", "ResNet18")
    assert_plain_english(text)
    assert "equally accurate" in text and "within noise" in text


def test_seed_spread_larger_than_the_difference_is_not_a_difference():
    t = PairedTest("RGB", N, 0.549, 0.567, 100, 143, 0.03)
    plain = describe_comparison([t], "v1", "ResNet18")
    assert "significant" in plain and "not called a difference" not in plain
    text = describe_comparison([t], "v1", "ResNet18", seed_spread=0.021)
    assert_plain_english(text)
    assert "no larger than the 2.1-point spread between seeds" in text
    assert "not called a difference" in text and "p = 0.03" in text
    bigger = describe_comparison([t], "v1", "ResNet18", seed_spread=0.01)
    assert "larger than the 1.0-point spread" in bigger and "not called" not in bigger

    tests = [made_up(s, d, 1e-4) for s, d in zip(SUBSETS, [-2, -3, -8, -9, -10, -1],
                                                 strict=True)]
    text = describe_comparison(tests, "v2", "v3", seed_spread=0.05)
    assert_plain_english(text)
    assert "on all 6 subsets" in text
    assert "only the differences on GB, R and G are also larger than the 5.0-point spread" in text
    assert "those on RG, RB and B are not, so they are not called differences" in text
    none = describe_comparison(tests, "v2", "v3", seed_spread=0.2)
    assert "none is called a difference" in none
    every = describe_comparison(tests, "v2", "v3", seed_spread=0.001)
    assert "All 6 significant differences are also larger" in every


def test_p_value_formatting_stays_on_the_right_side_of_alpha():
    text = describe_comparison([PairedTest("R", 500, 0.52, 0.5, 30, 20, 0.0496)], "a", "b")
    assert "p = 0.050" not in text and "p = 0.0496" in text and "significant" in text
    text = describe_comparison([PairedTest("R", 500, 0.52, 0.5, 30, 20, 0.003)], "a", "b")
    assert "p = 0.003" in text


def test_describe_comparison_rejects_bad_input():
    with pytest.raises(ValueError):
        describe_comparison([], "a", "b")
    with pytest.raises(ValueError, match="seed_spread"):
        describe_comparison([made_up("R", 1, 0.5)], "a", "b", seed_spread=-0.1)
    with pytest.raises(ValueError, match="subset name"):
        describe_comparison([made_up("R", 1, 0.5), made_up("R", 2, 0.5)], "a", "b")
