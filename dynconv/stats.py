"""Intervals on accuracies and paired tests between models (sentences:
:mod:`dynconv.book.sentences`).

The test set is small and every configuration is trained with one seed, so a difference of a
point or two between two accuracies may be noise. This module supplies the three tools the
chapters use to say how much.

**How big the noise is.** An accuracy measured on ``n`` test images is a proportion; its
standard error is ``sqrt(p (1 - p) / n)``, which is largest at ``p = 0.5``, so it is at most
``sqrt(0.25 / n)``: 1.0 point on 2,400 images, 2.2 points on 500, 5 points on 100. A 95%
interval is about twice that on each side.

**Intervals** (:func:`accuracy_interval`): the Wilson score interval, computed by
``statsmodels.stats.proportion.proportion_confint(method="wilson")``. Unlike the textbook
``p +- 1.96 SE`` (Wald) interval it never leaves [0, 1] and keeps close to its nominal 95%
coverage for small ``n`` and for accuracies near 0 or 1. :func:`interval_text` formats one
for a table: ``56.7% (52.1–61.2)``.

**Paired tests** (:func:`paired_test`): McNemar's exact test. Two models evaluated on the same
images are not two independent samples: most images are easy (both right) or hard (both
wrong) for both, and those images say nothing about which model is better. The information
is in the *discordant* images, the ``b`` images only model A gets right and the ``c`` only
model B gets right. If the two models are equally accurate, each discordant image is equally
likely to fall either way, so ``b ~ Binomial(b + c, 1/2)``; McNemar's test (McNemar, 1947,
"Note on the sampling error of the difference between correlated proportions or
percentages", *Psychometrika* 12(2)) asks how surprising the observed split is. The exact
(binomial) form is used because ``b + c`` is often small, where the chi-squared
approximation is poor. Dietterich (1998, "Approximate statistical tests for comparing
supervised classification learning algorithms", *Neural Computation* 10(7)) compared the
usual tests for exactly this situation, two classifiers each trained once and scored on one
test set, and recommends McNemar's test: its false-positive rate stays at the nominal level,
whereas a two-sample test on the two accuracies ignores the pairing (and is needlessly
blunt) and tests on resampled training sets need many training runs. The p-value comes from
``statsmodels.stats.contingency_tables.mcnemar(table, exact=True)``.

**Seed spread** (:func:`seed_summary`): McNemar's test treats the two *trained* models as
fixed; it says nothing about how much the accuracy would move if the same configuration were
trained again with another seed (Dietterich's point too). Where several seeds exist, their
spread (max - min accuracy) is a second noise level, and
:func:`dynconv.book.sentences.describe_comparison` calls a
comparison a difference only when it is significant at 5% *and* larger than that spread.

**Many tests at once** (:func:`holm`, :func:`holm_family`): a chapter cell that runs many
McNemar tests at 5% (one per subset, or one per subset and rival) would call about one in
twenty differences significant by luck alone if the models were equally accurate. Holm's
step-down method (Holm, 1979, "A simple sequentially rejective multiple test procedure",
*Scandinavian Journal of Statistics* 6(2)) keeps the chance of *any* false call in the family
at 5%: the smallest of ``m`` p-values is multiplied by ``m``, the next by ``m - 1``, and so on,
each kept at least as large as the one before. It assumes nothing about how the tests depend
on each other (tests on the same images are not independent) and is never less powerful than
Bonferroni's ``m p``. The adjusted values come from
``statsmodels.stats.multitest.multipletests(method="holm")``; every comparison of a chapter
cell is corrected over the family that cell tests, and its sentence or table says so
("p (Holm, 6 tests)").

**Sentences** (:func:`dynconv.book.sentences.describe_comparison`, not here): one call turns the
paired tests of two models on one or more channel subsets into English, e.g. "*v2* is less
accurate than *the zero-fill control* on all 6 subsets, by 10.8 points on average (from 3.1 to
18.0). McNemar's exact test on the same 2,400 test images finds the difference significant (p <
0.05) on 5 of 6 subsets (RGB, RB, GB, R, G); on RG it is within noise." Differences are in
percentage points.

Everything here is a pure function of numpy arrays and numbers (no torch).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "ALPHA",
    "PairedTest",
    "SeedSummary",
    "accuracy_interval",
    "holm",
    "holm_family",
    "interval_text",
    "paired_test",
    "seed_summary",
]

# Significance level of every test in the book.
ALPHA = 0.05



# --- intervals ---------------------------------------------------------------------------------


def accuracy_interval(correct: int, total: int, *,
                      confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval ``(low, high)`` for an accuracy of ``correct / total``.

    Computed by ``statsmodels.stats.proportion.proportion_confint(method="wilson")``; both
    ends are fractions in [0, 1] and the interval contains ``correct / total``. Raises
    :class:`ValueError` for ``total < 1``, ``correct`` outside ``[0, total]`` or
    ``confidence`` outside (0, 1).
    """
    if int(total) != total or total < 1:
        raise ValueError(f"total must be a positive whole number of test images, got {total!r}")
    if int(correct) != correct or not 0 <= correct <= total:
        raise ValueError(f"correct must be a whole number between 0 and total={total}, "
                         f"got {correct!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1 (e.g. 0.95), got {confidence!r}")
    low, high = proportion_confint(int(correct), int(total), alpha=1 - confidence,
                                   method="wilson")
    # The Wilson interval always contains correct / total (it ends at exactly 0 or 1 when every
    # image is wrong or right); the clamp only removes floating-point residue like 0.9999...
    estimate = int(correct) / int(total)
    return max(0.0, min(float(low), estimate)), min(1.0, max(float(high), estimate))


def interval_text(accuracy: float, low: float, high: float) -> str:
    """An accuracy and its interval for a table, all in percent: ``"56.7% (52.1–61.2)"``."""
    return f"{100 * accuracy:.1f}% ({100 * low:.1f}–{100 * high:.1f})"


# --- paired test -------------------------------------------------------------------------------


@dataclass(frozen=True)
class PairedTest:
    """McNemar's exact test of two models scored on the same test images."""

    # Channel subset the images were shown with, e.g. "RG" ("" when not per subset).
    subset: str
    # Number of test images (the same images for both models).
    n: int
    # Accuracy of model A, a fraction in [0, 1].
    accuracy_a: float
    # Accuracy of model B.
    accuracy_b: float
    # Images A gets right and B gets wrong.
    only_a: int
    # Images B gets right and A gets wrong.
    only_b: int
    # Two-sided p-value of McNemar's exact (binomial) test on the discordant images; when the
    # test belongs to a family of ``family`` tests, Holm's adjusted p-value (:func:`holm_family`).
    p_value: float
    # How many tests the p-value was corrected over (1: a single test, not corrected).
    family: int = 1
    # The p-value before the correction (None when not corrected).
    raw_p_value: float | None = None

    @property
    def difference(self) -> float:
        """``accuracy_a - accuracy_b`` (a fraction; multiply by 100 for points)."""
        return self.accuracy_a - self.accuracy_b

    def significant(self, alpha: float = ALPHA) -> bool:
        """Whether the difference is significant at level ``alpha`` (``p_value < alpha``; for a
        corrected test that is the Holm-adjusted value, never the raw one)."""
        return self.p_value < alpha

    @property
    def corrected(self) -> bool:
        """Whether :attr:`p_value` is Holm-adjusted over a family of more than one test."""
        return self.family > 1


def _as_correct(values: object, name: str) -> np.ndarray:
    """A 1-D boolean array from booleans or 0/1 values; :class:`ValueError` otherwise."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array with one entry per test image, got shape "
                         f"{array.shape}")
    if array.dtype != bool:
        if array.size and not np.isin(array, (0, 1)).all():
            raise ValueError(f"{name} must hold booleans (prediction == label per image), got "
                             f"values other than 0 and 1")
        array = array.astype(bool)
    return array


def paired_test(correct_a: object, correct_b: object, *, subset: str = "") -> PairedTest:
    """McNemar's exact test of model A against model B on the same test images.

    ``correct_a`` and ``correct_b`` are boolean arrays with one entry per test image
    (``prediction == label``), for the same images in the same order. The p-value is
    ``statsmodels``' ``mcnemar([[both, only_a], [only_b, neither]], exact=True)``, i.e. the
    two-sided binomial test of ``only_a`` successes in ``only_a + only_b`` trials at 1/2; when
    the models never disagree it is 1.
    """
    a = _as_correct(correct_a, "correct_a")
    b = _as_correct(correct_b, "correct_b")
    if len(a) != len(b):
        raise ValueError(f"correct_a has {len(a)} entries but correct_b has {len(b)}: a paired "
                         f"test needs both models scored on the same images in the same order")
    if len(a) == 0:
        raise ValueError("paired_test needs at least one test image; both arrays are empty")
    both = int(np.sum(a & b))
    only_a = int(np.sum(a & ~b))
    only_b = int(np.sum(~a & b))
    neither = int(np.sum(~a & ~b))
    if only_a == only_b == 0:
        p_value = 1.0
    else:
        p_value = float(mcnemar([[both, only_a], [only_b, neither]], exact=True).pvalue)
    n = len(a)
    return PairedTest(subset=subset, n=n, accuracy_a=float(a.mean()),
                      accuracy_b=float(b.mean()), only_a=only_a, only_b=only_b,
                      p_value=min(p_value, 1.0))


# --- many tests --------------------------------------------------------------------------------


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's adjusted p-values of one family of tests, in the order given.

    ``statsmodels.stats.multitest.multipletests(p_values, method="holm")``: sorted ascending,
    the ``i``-th smallest (from 0) is multiplied by ``m - i``, each kept at least as large as
    the one before and at most 1. A test is significant at ``alpha`` for the family when its
    adjusted value is below ``alpha``. Each adjusted value is at least its raw value.
    """
    values = [float(p) for p in p_values]
    if not values:
        return []
    if not all(0 <= p <= 1 for p in values):
        raise ValueError(f"p-values must lie in [0, 1], got {values}")
    return [float(p) for p in multipletests(values, method="holm")[1]]


def holm_family(tests: Sequence[PairedTest]) -> list[PairedTest]:
    """``tests`` as one family: each p-value replaced by its Holm-adjusted value
    (:func:`holm`), the raw one kept in ``raw_p_value`` and the family's size in ``family``.

    A family of one test is returned unchanged. Tests already corrected raise
    :class:`ValueError` (correct each family once, from the raw p-values).
    """
    tests = list(tests)
    if any(t.corrected for t in tests):
        raise ValueError("these tests are already Holm-corrected; correct from the raw tests")
    if len(tests) < 2:
        return tests
    adjusted = holm([t.p_value for t in tests])
    return [replace(t, p_value=p, family=len(tests), raw_p_value=t.p_value)
            for t, p in zip(tests, adjusted, strict=True)]


# --- seeds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSummary:
    """Accuracies of one configuration trained with several seeds."""

    n: int  # number of seeds
    mean: float  # mean accuracy
    std: float  # sample standard deviation (ddof=1); 0.0 for a single seed
    min: float  # lowest accuracy
    max: float  # highest accuracy

    @property
    def spread(self) -> float:
        """``max - min``: how far apart the seeds landed (0.0 for a single seed)."""
        return self.max - self.min


def seed_summary(accuracies: Sequence[float]) -> SeedSummary:
    """Mean, sample standard deviation, minimum and maximum of per-seed accuracies."""
    values = np.asarray(list(accuracies), dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError("seed_summary needs at least one accuracy (one per seed)")
    if not np.isfinite(values).all():
        raise ValueError(f"seed accuracies must be finite numbers, got {values.tolist()}")
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return SeedSummary(n=int(values.size), mean=float(values.mean()), std=std,
                       min=float(values.min()), max=float(values.max()))
