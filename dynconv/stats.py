"""Intervals on accuracies, paired tests between models, and English sentences that report them.

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
spread (max - min accuracy) is a second noise level, and :func:`describe_comparison` calls a
comparison a difference only when it is significant at 5% *and* larger than that spread.

**Sentences** (:func:`describe_comparison`): one call turns the paired tests of two models on
one or more channel subsets into English, e.g. "*v2* is less accurate than *the zero-fill
control* on all 6 subsets, by 10.8 points on average (from 3.1 to 18.0). McNemar's exact test
on the same 2,400 test images finds the difference significant (p < 0.05) on 5 of 6 subsets
(RGB, RB, GB, R, G); on RG it is within noise." Differences are in percentage points.

Everything here is a pure function of numpy arrays and numbers (no torch).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint

__all__ = [
    "ALPHA",
    "PairedTest",
    "SeedSummary",
    "accuracy_interval",
    "describe_comparison",
    "interval_text",
    "paired_test",
    "seed_summary",
]

# Significance level of every test in the book.
ALPHA = 0.05

# Differences smaller than this (in accuracy units) count as exact ties: accuracies are ratios
# of counts, so equal counts give equal floats; this only absorbs rounding in stored numbers.
_TIE = 1e-12


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
    # Two-sided p-value of McNemar's exact (binomial) test on the discordant images.
    p_value: float

    @property
    def difference(self) -> float:
        """``accuracy_a - accuracy_b`` (a fraction; multiply by 100 for points)."""
        return self.accuracy_a - self.accuracy_b

    def significant(self, alpha: float = ALPHA) -> bool:
        """Whether the difference is significant at level ``alpha`` (``p_value < alpha``)."""
        return self.p_value < alpha


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


# --- seeds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SeedSummary:
    """Accuracies of one configuration trained with several seeds."""

    # Number of seeds.
    n: int
    # Mean accuracy.
    mean: float
    # Sample standard deviation (ddof=1); 0.0 for a single seed.
    std: float
    # Lowest accuracy.
    min: float
    # Highest accuracy.
    max: float

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


# --- sentences ---------------------------------------------------------------------------------


def _points(difference: float) -> str:
    """An absolute difference in percentage points: "1.8 points", "less than 0.1 points"."""
    pts = abs(difference) * 100
    if pts < 0.05:
        return "less than 0.1 points"
    return f"{pts:.1f} points"


def _percent(accuracy: float) -> str:
    return f"{100 * accuracy:.1f}%"


def _number(value: float) -> str:
    """A plain number for prose: "0.05", "0.01"."""
    return f"{value:g}"


def _p_text(p: float, alpha: float) -> str:
    """ "p < 0.001", "p = 0.03", "p = 0.0496" (enough digits to stay on the right side of alpha)."""
    if p < 0.001:
        return "p < 0.001"
    if p >= 1.0:
        return "p = 1"
    for digits in (2, 3, 4):
        shown = round(p, digits)
        if (shown < alpha) == (p < alpha) and shown > 0 and (shown != alpha or p == alpha):
            return f"p = {shown:.{digits}f}"
    return f"p < {_number(alpha)}" if p < alpha else f"p = {p:.4f}"


def _join(names: Sequence[str]) -> str:
    """ "RG", "RG and B", "RG, RB and B"."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _images(tests: Sequence[PairedTest]) -> str:
    """ "the same 2,400 test images" (or a range if the tests were run on different counts)."""
    counts = sorted({t.n for t in tests})
    if len(counts) == 1:
        return f"the same {counts[0]:,} test image{'s' if counts[0] != 1 else ''}"
    return f"the same test images ({counts[0]:,} to {counts[-1]:,} per subset)"


def _spread_text(seed_spread: float) -> str:
    return f"the {100 * seed_spread:.1f}-point spread between seeds"


def _describe_one(t: PairedTest, a: str, b: str, seed_spread: float | None,
                  alpha: float) -> str:
    """The sentence for a single comparison (one subset)."""
    where = f"On {t.subset}, " if t.subset else ""
    images = f"{t.n:,} test image{'s' if t.n != 1 else ''}"
    test = f"McNemar's exact test, {_p_text(t.p_value, alpha)}, {images}"
    d = t.difference
    if abs(d) <= _TIE:
        return (f"{where}*{a}* and *{b}* are equally accurate (both {_percent(t.accuracy_a)}), "
                f"within noise ({test}).")
    if not t.significant(alpha):
        return (f"{where}*{a}* ({_percent(t.accuracy_a)}) and *{b}* ({_percent(t.accuracy_b)}) "
                f"differ by {_points(d)}, within noise ({test}).")
    direction = "more" if d > 0 else "less"
    head = (f"{where}*{a}* ({_percent(t.accuracy_a)}) is {direction} accurate than *{b}* "
            f"({_percent(t.accuracy_b)}) by {_points(d)}")
    if seed_spread is None:
        return f"{head}, a significant difference ({test})."
    if abs(d) > seed_spread:
        return (f"{head}, a significant difference ({test}) and larger than "
                f"{_spread_text(seed_spread)}.")
    return (f"{head}, significant ({test}) but no larger than {_spread_text(seed_spread)}, so "
            f"it is not called a difference.")


def _direction_sentence(tests: Sequence[PairedTest], names: Sequence[str], a: str,
                        b: str) -> str:
    """First sentence for several subsets: who is more accurate where, and by how much."""
    k = len(tests)
    diffs = [t.difference for t in tests]
    better = [name for name, d in zip(names, diffs, strict=True) if d > _TIE]
    worse = [name for name, d in zip(names, diffs, strict=True) if d < -_TIE]
    tied = [name for name, d in zip(names, diffs, strict=True) if abs(d) <= _TIE]
    every = "both subsets" if k == 2 else f"all {k} subsets"
    if len(tied) == k:
        return (f"*{a}* and *{b}* are equally accurate on {every} ({_images(tests)}), so there "
                f"is no difference to test.")
    mean = float(np.mean(diffs))
    if len(better) == k or len(worse) == k:
        direction = "more" if better else "less"
        sizes = sorted(abs(d) for d in diffs)
        low, high = f"{100 * sizes[0]:.1f}", f"{100 * sizes[-1]:.1f}"
        if high == "0.0":
            spread = ""
        elif low == high:
            spread = " (the same on each)"
        else:
            spread = f" (from {low} to {high})"
        return (f"*{a}* is {direction} accurate than *{b}* on {every}, by {_points(mean)} on "
                f"average{spread}.")
    # Mixed: list each group with its subsets.
    parts = []
    first = True
    for label, group in (("more accurate", better), ("less accurate", worse),
                         ("equally accurate", tied)):
        if not group:
            continue
        count = f"{len(group)} of {k} subsets" if first else f"{len(group)}"
        parts.append(f"{label}{' than *' + b + '*' if first else ''} on {count} "
                     f"({', '.join(group)})")
        first = False
    if abs(mean) <= _TIE:
        average = "on average the two are equally accurate"
    elif abs(mean) * 100 < 0.05:
        average = "on average they differ by less than 0.1 points"
    else:
        average = (f"on average *{a}* is {_points(mean)} "
                   f"{'more' if mean > 0 else 'less'} accurate")
    return f"*{a}* is {_join(parts)}; {average}."


def _significance_sentences(tests: Sequence[PairedTest], names: Sequence[str],
                            seed_spread: float | None, alpha: float) -> str:
    """Second (and, with a seed spread, third) sentence: which differences are beyond noise."""
    k = len(tests)
    level = f"p < {_number(alpha)}"
    significant = [name for name, t in zip(names, tests, strict=True) if t.significant(alpha)]
    noise = [name for name, t in zip(names, tests, strict=True) if not t.significant(alpha)]
    lead = f"McNemar's exact test on {_images(tests)}"
    if not significant:
        which = "either" if k == 2 else "any"
        return (f"{lead} finds no difference significant at {level} on {which} subset: "
                f"{'both are' if k == 2 else f'all {k} are'} within noise.")
    if not noise:
        every = "both subsets" if k == 2 else f"all {k} subsets"
        text = f"{lead} finds the difference significant ({level}) on {every}."
    else:
        verb = "it is" if len(noise) == 1 else "the differences are"
        text = (f"{lead} finds the difference significant ({level}) on {len(significant)} of "
                f"{k} subsets ({', '.join(significant)}); on {_join(noise)} {verb} within "
                f"noise.")
    if seed_spread is None:
        return text
    by_name = dict(zip(names, tests, strict=True))
    real = [name for name in significant if abs(by_name[name].difference) > seed_spread]
    small = [name for name in significant if name not in real]
    spread = _spread_text(seed_spread)
    if not small:
        if len(significant) == 1:
            return (f"{text} The difference on {significant[0]} is also larger than {spread}, "
                    f"so it counts as a difference.")
        subject = "Both" if len(significant) == 2 else f"All {len(significant)}"
        return (f"{text} {subject} significant differences are also larger than {spread}, so "
                f"they count as differences.")
    if not real:
        if len(small) == 1:
            return (f"{text} But the difference on {small[0]} is no larger than {spread}, so "
                    f"it is not called a difference.")
        return (f"{text} But none of the significant differences is larger than {spread}, so "
                f"none is called a difference.")
    real_text = (f"the difference on {real[0]} is" if len(real) == 1
                 else f"the differences on {_join(real)} are")
    small_text = (f"the one on {small[0]} is not, so it is not called a difference"
                  if len(small) == 1
                  else f"those on {_join(small)} are not, so they are not called differences")
    return f"{text} Of these, only {real_text} also larger than {spread}; {small_text}."


def describe_comparison(tests: Sequence[PairedTest], a: str, b: str, *,
                        seed_spread: float | None = None, alpha: float = ALPHA) -> str:
    """English (Markdown) summary of model ``a`` against model ``b`` over one or more subsets.

    ``tests`` are :func:`paired_test` results with ``a`` as model A, one per subset. A
    difference is called a difference only when McNemar's test finds it significant at
    ``alpha`` and, if ``seed_spread`` (max - min accuracy over seeds, as a fraction, e.g.
    0.021) is given, it is also larger than that spread; otherwise it is "within noise".
    Differences are reported in percentage points; model names are set in italics.
    """
    tests = list(tests)
    if not tests:
        raise ValueError("describe_comparison needs at least one PairedTest")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}")
    if seed_spread is not None and (not math.isfinite(seed_spread) or seed_spread < 0):
        raise ValueError(f"seed_spread must be a non-negative accuracy difference (e.g. 0.021), "
                         f"got {seed_spread!r}")
    if len(tests) == 1:
        return _describe_one(tests[0], a, b, seed_spread, alpha)
    names = [t.subset or f"comparison {i + 1}" for i, t in enumerate(tests)]
    if len(set(names)) != len(names):
        raise ValueError(f"each PairedTest needs its own subset name, got {names}")
    if all(abs(t.difference) <= _TIE for t in tests):
        return _direction_sentence(tests, names, a, b)
    return (f"{_direction_sentence(tests, names, a, b)} "
            f"{_significance_sentences(tests, names, seed_spread, alpha)}")
