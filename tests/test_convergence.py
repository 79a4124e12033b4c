"""The convergence rule (dynconv.experiments.convergence) and the sentence chapters show."""

from __future__ import annotations

import math

import pytest
from standins import make_record

from dynconv.book.sentences import convergence_sentence
from dynconv.errors import ConfigError
from dynconv.experiments.convergence import convergence, record_convergence


def test_a_curve_that_stopped_rising_has_levelled_off():
    verdict = convergence([0.30, 0.60, 0.80, 0.85, 0.86, 0.855], val_size=480)
    assert verdict.levelled
    assert verdict.gain == pytest.approx(0.86 - 0.85)
    assert verdict.tolerance == pytest.approx(math.sqrt(0.86 * 0.14 / 480))
    assert verdict.text.startswith("levelled off (last 2 epochs +1.0 points, noise ±1.6")


def test_a_curve_still_climbing_at_its_end_has_not():
    verdict = convergence([0.30, 0.60, 0.70, 0.75, 0.80, 0.85], val_size=480)
    assert not verdict.levelled
    assert verdict.gain == pytest.approx(0.10)
    assert verdict.text.startswith("still rising (last 2 epochs +10.0 points")


def test_the_noise_decides_at_the_border():
    # the same gain of 3 points: noise with 100 validation images, a real rise with 10,000
    curve = [0.5, 0.6, 0.70, 0.71, 0.73]
    assert convergence(curve, val_size=100).levelled
    assert not convergence(curve, val_size=10_000).levelled


def test_the_window_and_short_curves():
    curve = [0.2, 0.5, 0.6, 0.61, 0.62, 0.63]
    assert convergence(curve, val_size=480, window=1).levelled  # +1 point in the last epoch
    assert not convergence(curve, val_size=480, window=4).levelled  # +43 over the last four
    assert not convergence([0.5, 0.6], val_size=480).levelled  # nothing before the window


def test_bad_input_is_refused():
    with pytest.raises(ConfigError, match="between 0 and 1"):
        convergence([0.5, 1.5, 0.7], val_size=480)
    with pytest.raises(ConfigError, match=">= 1"):
        convergence([0.5, 0.6, 0.7], val_size=0)


def test_a_record_is_judged_on_its_own_history_and_validation_size():
    def with_curve(label, curve):
        history = [{"epoch": i + 1, "val_acc": v} for i, v in enumerate(curve)]
        return make_record({"RGB": [0, 1]}, [0, 1], label=label, history=history)

    rising = with_curve("v5", [0.2, 0.4, 0.6, 0.8])
    flat = with_curve("resnet18", [0.2, 0.85, 0.86, 0.86])
    assert not rising.convergence.levelled and flat.convergence.levelled
    assert record_convergence(rising.history, rising.data) == rising.convergence
    sentence = convergence_sentence({"v5": rising, "ResNet18": flat})
    assert "1 of the 2 runs here was still rising at their end: v5 (+40.0 points" in sentence
    assert "ResNet18 had levelled off" in sentence
    assert "every run here had levelled off: ResNet18." in convergence_sentence(
        {"ResNet18": flat})


def test_the_published_design_is_chosen_on_validation_not_test():
    from dynconv.book.sentences import validation_choice_sentence

    def with_val(label, best_val, test_acc):
        history = [{"epoch": 1, "val_acc": best_val / 2}, {"epoch": 2, "val_acc": best_val}]
        right = round(test_acc * 10)
        return make_record({"RGB": [1] * right + [0] * (10 - right)}, [1] * 10, label=label,
                           history=history)

    # B has the better test accuracy, A the better validation accuracy: A is the choice
    records = {"A": with_val("A", 0.60, 0.5), "B": with_val("B", 0.55, 0.9)}
    chosen = validation_choice_sentence(records, "A")
    assert "highest of the four in their first seed: A 60.0%, B 55.0%" in chosen
    assert "No test number" in chosen
    assert "should be made again" in validation_choice_sentence(records, "B")


def test_a_design_chosen_on_test_is_checked_on_validation():
    from dynconv.book.sentences import design_check_sentence

    def with_val(label, best_val):
        history = [{"epoch": 1, "val_acc": best_val / 2}, {"epoch": 2, "val_acc": best_val}]
        return make_record({"RGB": [1, 0]}, [1, 1], label=label, history=history)

    records = {"v5": with_val("v5", 0.70), "v5 per batch": with_val("v5 per batch", 0.72),
               "v5 zero-fill": with_val("v5 zero-fill", 0.50)}
    kept = design_check_sentence(records, "v5 per batch")
    assert "also has the highest" in kept and "of the 3 variants" in kept
    assert "v5 per batch 72.0%, v5 70.0%, v5 zero-fill 50.0%" in kept
    other = design_check_sentence(records, "v5")
    assert "v5 per batch, not v5, has the highest" in other
    assert "would have been v5 per batch" in other


def test_selection_sentence_says_what_an_early_best_epoch_cost():
    from dynconv.book.sentences import selection_sentence

    history = [{"epoch": i + 1, "val_acc": v, "val_loss": loss}
               for i, (v, loss) in enumerate([(0.3, 2.0), (0.44, 1.6), (0.47, 1.9), (0.50, 2.2)])]
    early = make_record({"RGB": [0, 1]}, [0, 1], label="long", history=history, best_epoch=2,
                        epochs_run=4)
    last = make_record({"RGB": [0, 1]}, [0, 1], label="short", history=history[:2],
                       best_epoch=2, epochs_run=2)
    text = selection_sentence({"long": early, "short": last})
    assert "long, seed 42: epoch 2 of 4 by val_loss (validation accuracy 44.0% there, up to " \
           "50.0% later)" in text
    assert "short" not in text
    assert selection_sentence({"short": last}).startswith("Validation chose the last epoch")
