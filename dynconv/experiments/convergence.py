"""Has a training run levelled off? One rule, stated once, applied to every record the book shows.

Chapters: every chapter that trains (its summary paragraph), ``10_part3`` (the budget).

**The rule.** A run has *levelled off* when its last ``window`` epochs (default 2) raised the
best validation accuracy by no more than one standard error of a validation accuracy,
``sqrt(p (1 - p) / n)`` for ``n`` validation images at accuracy ``p``: what the luck of the
validation images alone can move it by. A run still rising faster than that at its end had not
converged, and a comparison that involves it measures the budget as much as the model. For a
model validated on the mean over the seven subsets the same ``n`` is used: the seven
accuracies are measured on the same images, so their mean moves about as much as one of them.

**What the rule cannot see.** Under a one-cycle schedule (the ``ci`` profile) the learning rate
falls to almost nothing in the last epochs, so the curve flattens there by construction, and a
run that levels off under this rule may still gain from a *longer cycle*. That question only a
longer run answers: chapter 10 trains v5 with three times the budget (``v5-long``) and
compares the two on the same test images.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dynconv.errors import ConfigError

__all__ = ["WINDOW", "Convergence", "convergence", "record_convergence"]

# How many final epochs the rule looks at.
WINDOW = 2


@dataclass(frozen=True)
class Convergence:
    """The verdict of the rule on one validation curve."""

    # True when the last `window` epochs gained no more than `tolerance`.
    levelled: bool
    # Best validation accuracy of the last `window` epochs minus the best before them.
    gain: float
    # One standard error of a validation accuracy (the noise the gain is compared with).
    tolerance: float
    # Epochs looked at, and epochs in the curve.
    window: int
    epochs: int

    @property
    def text(self) -> str:
        """``"levelled off (last 2 epochs +0.4 points, noise ±1.4)"`` or ``"still rising
        (...)"``."""
        state = "levelled off" if self.levelled else "still rising"
        return (f"{state} (last {self.window} epochs {100 * self.gain:+.1f} points, "
                f"noise ±{100 * self.tolerance:.1f})")


def convergence(val_acc: Sequence[float], *, val_size: int, window: int = WINDOW
                ) -> Convergence:
    """Apply the rule (see the module docstring) to one run's validation accuracies.

    >>> convergence([0.5, 0.8, 0.90, 0.905], val_size=480).levelled
    True
    >>> convergence([0.5, 0.6, 0.70, 0.80], val_size=480).levelled
    False

    A curve of ``window`` epochs or fewer has nothing before its window: it counts as still
    rising (nothing shows that it stopped).
    """
    if val_size < 1 or window < 1:
        raise ConfigError(f"val_size and window must be >= 1, got {val_size} and {window}")
    values = [float(v) for v in val_acc]
    if not values or any(not 0.0 <= v <= 1.0 for v in values):
        raise ConfigError(f"validation accuracies must be between 0 and 1, got {values}")
    last = max(values[-window:])
    p = min(max(last, 1.0 / val_size), 1.0 - 1.0 / val_size)  # no zero-width noise at 0 or 1
    tolerance = math.sqrt(p * (1.0 - p) / val_size)
    if len(values) <= window:
        return Convergence(False, last, tolerance, window, len(values))
    gain = last - max(values[:-window])
    return Convergence(gain <= tolerance, gain, tolerance, window, len(values))


def record_convergence(history: Sequence[Mapping[str, Any]], data: Mapping[str, Any], *,
                       window: int = WINDOW) -> Convergence:
    """:func:`convergence` of a record's history (``val_acc`` per epoch) on its validation
    split (``data["sizes"]["val"]`` images)."""
    return convergence([row["val_acc"] for row in history], val_size=int(data["sizes"]["val"]),
                       window=window)
