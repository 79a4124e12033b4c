"""The original study's numbers, exactly as its report states them (not measured by this book).

Source: the HW2 report "Designing a Convolution Module for Variable Input Channels" (see
``book/intro.md``). Accuracies are percentages on 450 test images (9 per class, 50 classes), so
each is a multiple of 1/450. FLOPs were counted by calflops for a whole batch (64 images in
Part I, 16 in Part II); :func:`part1_costs` and :func:`part2_costs` add per-image columns so they
can be set beside this book's per-image counts. Memory was never measured in the original code.
Every table returned here carries ``source = "reported by the original study"`` in ``attrs``.
"""

from __future__ import annotations

import pandas as pd

from dynconv.channels import SUBSET_NAMES

SOURCE = "reported by the original study"
# the original study's test split: 9 images of each of its 50 classes
REPORTED_TEST_IMAGES = 450


def _frame(rows: dict, columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame.from_dict(rows, orient="index", columns=columns)
    frame.attrs["source"] = SOURCE
    return frame


def part1_subset_accuracy() -> pd.DataFrame:
    """Test accuracy (%) of v2, v3, v4 on each channel subset (v1 was tested on RGB only)."""
    return _frame(
        {
            "v2": [54.00, 1.78, 2.00, 2.67, 2.00, 3.11, 2.89],
            "v3": [52.00, 4.89, 4.00, 3.78, 2.89, 2.00, 2.44],
            "v4": [46.44, 26.89, 31.78, 28.89, 15.11, 17.78, 19.11],
        },
        list(SUBSET_NAMES),
    )


def part1_rgb_accuracy() -> pd.Series:
    """Test accuracy (%) on RGB of every Part I model, ResNet18 and v1 included."""
    rgb = part1_subset_accuracy()["RGB"]
    series = pd.concat([pd.Series({"resnet18": 54.89, "v1": 56.67}), rgb])
    series.attrs["source"] = SOURCE
    return series.rename("test_acc_rgb")


def part1_costs() -> pd.DataFrame:
    """Parameters (M), GFLOPs per batch of 64 at 84 px, memory (MB) as reported."""
    frame = _frame(
        {
            "resnet18": [11.1945, 135.887, 2026],
            "v1": [11.1997, 502.252, 3510],
            "v2": [11.2043, 135.889, 1888],
            "v3": [11.1927, float("nan"), 1880],  # calflops could not count v3
            "v4": [11.2043, 135.889, 1882],
        },
        ["params_m", "gflops_per_batch64", "memory_mb"],
    )
    frame["gflops_per_image"] = frame["gflops_per_batch64"] / 64
    return frame


def part2_results() -> pd.DataFrame:
    """ResNet34 and the two small networks (v1: k3s1 stem, v2: k7s2 stem); accuracies in %."""
    columns = ["epochs", "train_acc", "train_loss", "val_acc", "val_loss", "test_acc_rgb"]
    return _frame(
        {
            "resnet34": [15, 57.22, 1.3813, 52.67, 1.6410, 51.78],
            "small_k3s1": [41, 41.75, 2.0264, 46.00, 1.9551, 44.67],
            "small_k7s2": [57, 48.22, 1.7928, 45.11, 1.8645, 50.00],
        },
        columns,
    )


def part2_costs() -> pd.DataFrame:
    """Parameters (M), GFLOPs per batch of 16 at 84 px, memory (MB) as reported."""
    frame = _frame(
        {
            "resnet34": [21.3026, 70.1987, 3096],
            "small_k3s1": [0.205204, 46.0907, 1998],
            "small_k7s2": [0.212884, 11.6577, 1702],
        },
        ["params_m", "gflops_per_batch16", "memory_mb"],
    )
    frame["gflops_per_image"] = frame["gflops_per_batch16"] / 16
    return frame
