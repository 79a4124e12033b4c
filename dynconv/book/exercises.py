"""Small computations that the chapters' exercise solutions call.

The solutions under each chapter's "Exercises" compute what they need rather than quote a
measured number; the few computations that take more than a line live here, tested in
``tests/test_exercises.py`` together with every exercise snippet. They reason about the
built-in dataset's colour design (:data:`dynconv.data.shapes.COLOURS`, chapter 1), so none
of them trains or reads a record.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations

import pandas as pd

from dynconv.channels import parse_channels
from dynconv.data.shapes import COLOURS

Pattern = tuple[bool, bool, bool]  # (R high?, G high?, B high?)


def colour_collisions(subset: str, colours: Mapping[str, Pattern] | None = None
                      ) -> list[tuple[str, str]]:
    """The pairs of colours that look the same when only ``subset``'s channels are seen.

    Two colours collide on a subset when they are high and low on the same present channels;
    ``colours`` defaults to the built-in dataset's four (add e.g. ``white=(True, True, True)``
    to reason about a colour it does not have).
    """
    palette = dict(COLOURS if colours is None else colours)
    present = parse_channels(subset).indices
    return [(a, b) for a, b in combinations(palette, 2)
            if all(palette[a][c] == palette[b][c] for c in present)]


def zero_fill_lookalikes(subset: str, colours: Mapping[str, Pattern] | None = None
                         ) -> pd.Series:
    """For each colour, the colours a network trained on RGB would take it for on ``subset``,
    when a zero-filled channel reads as "low" (the channel's mean sits below the "high" band).

    The filled colour is compared with every colour's full three-channel pattern; an empty
    list means the filled colour is none of the classes (the network must guess).
    """
    palette = dict(COLOURS if colours is None else colours)
    present = set(parse_channels(subset).indices)
    looks = {}
    for name, pattern in palette.items():
        filled = tuple(pattern[c] if c in present else False for c in range(3))
        looks[name] = [other for other, full in palette.items() if full == filled]
    return pd.Series(looks, name=f"looks like, on {subset} zero-filled")


def images_for_standard_error(standard_error: float, *, accuracy: float = 0.5) -> int:
    """Test images an accuracy needs for a binomial standard error of at most
    ``standard_error`` (a fraction): ``p (1 - p) / se**2``, largest at ``p = 0.5``."""
    if not 0 < standard_error < 1:
        raise ValueError(f"standard_error must be a fraction in (0, 1), got {standard_error}")
    return math.ceil(accuracy * (1 - accuracy) / standard_error**2)
