"""dynconv.book.reported: the original study's numbers as its report gives them."""

from __future__ import annotations

import numpy as np
import pytest

from dynconv.book import reported
from dynconv.channels import ALL_SUBSETS


def test_reported_tables_match_the_report():
    costs = reported.part1_costs()
    assert costs.attrs["source"] == reported.SOURCE
    # per batch of 64 -> per image
    assert costs.loc["resnet18", "gflops_per_image"] == pytest.approx(135.887 / 64)
    # every reported test accuracy is a whole number of the 450 test images (rounded to 0.01%)
    acc = reported.part1_subset_accuracy().to_numpy().ravel()
    assert np.allclose(np.round(acc / 100 * 450), acc / 100 * 450, atol=0.03)
    assert list(reported.part1_subset_accuracy().columns) == [s.name for s in ALL_SUBSETS]
