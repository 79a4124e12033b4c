"""The benchmark's results, split by the part of the study that introduces each model.

The benchmark (:mod:`dynconv.bench.benchmark`) times every first layer of the book, Part II's
attention and the data loader in one run. A chapter shows only what it or an earlier chapter
has introduced (:mod:`dynconv.book.story`), so the cost chapter (8) shows Part I's rows, Part
II's chapter (9) the attention rows, and Part III's chapter (10) its own first layers. The
study estimate (the benchmark's ``study_estimate_of``: every ``full`` training, charged its
measured step time) is split the same way, and :func:`estimate_sentence` says what it rests
on: step times measured on the benchmark's machine, and GPU hours from an ASSUMED throughput,
never a GPU measurement unless one was made.

This module does not import the benchmark (the book layer sits below the bench): a chapter
passes the benchmark's tables in.
"""

from __future__ import annotations

import pandas as pd

from dynconv.book.story import part_of

__all__ = ["estimate_of_part", "estimate_sentence", "other_rows", "row_part", "stem_ratios",
           "targets_of_part"]

_COLUMNS = ["metric", "baseline", "value", "ratio", "spread"]


def row_part(name: str) -> str:
    """The part of the study a benchmark row belongs to: ``stem/<layer>`` and
    ``loop/<layer>`` that layer's part, ``attention/...`` Part II's, the loader Part I's."""
    if name.startswith(("stem/", "loop/")):
        return part_of(name.split("/", 1)[1])
    if name.startswith("attention/"):
        return "II"
    return "I"


def stem_ratios(summary: pd.DataFrame, part: str) -> pd.DataFrame:
    """The rows of ``summary`` (the benchmark's ``ratio_summary``: every first layer's ratios
    to ResNet18, one row per layer) for ``part``'s layers."""
    return summary.loc[[n for n in summary.index if part_of(n) == part]]


def other_rows(result: pd.DataFrame, part: str) -> pd.DataFrame:
    """The benchmark's rows other than ``stem/`` (tricks against their plain loops, the
    attention, the loader) that belong to ``part``, by name."""
    rows = result[~result["name"].str.startswith("stem/")]
    rows = rows[[row_part(n) == part for n in rows["name"]]]
    return rows.set_index("name")[_COLUMNS]


def targets_of_part(targets: pd.DataFrame, part: str) -> pd.DataFrame:
    """The rows of ``targets`` (the benchmark's ``check_targets``) that belong to ``part``."""
    return targets[[row_part(n) == part for n in targets["name"]]].reset_index(drop=True)


def estimate_of_part(estimate: pd.DataFrame, part: str) -> pd.DataFrame:
    """The study estimate's trainings whose experiment ``part`` introduces."""
    return estimate[[part_of(e) == part for e in estimate["experiment"]]]


def estimate_sentence(estimate: pd.DataFrame, result: pd.DataFrame, part: str) -> str:
    """What ``estimate`` (rows of one part, :func:`estimate_of_part`) charges, and what that
    rests on: step times measured on this run's machine; GPU hours from a measured ``full``
    epoch when the benchmark had a GPU, else from an ASSUMED throughput."""
    attrs = result.attrs
    hours = estimate["hours"].sum()
    text = (f"Part {part} of `full` is **{len(estimate)} trainings** (seeds included), charged "
            f"at most 50 epochs each: **{hours:,.0f} hours ({hours / 24:.1f} days) on "
            f"{attrs['device']}** ({attrs['hardware'].get('cpu', '?')}, {attrs['threads']} "
            f"threads), an estimate from the step times measured in the benchmark's run "
            f"(loading and validation left out).")
    epoch = attrs.get("full_epoch")
    if epoch:
        gpu = 50 * epoch["epoch_s"] * len(estimate) / 3600
        return text + (f" On {attrs['hardware'].get('gpu')} one `full` epoch of "
                       f"{epoch['model']} took {epoch['epoch_s']:.0f} s, measured; "
                       f"{len(estimate)} trainings of 50 such epochs would take "
                       f"{gpu:.1f} hours (an estimate: other networks and batch sizes "
                       f"differ).")
    gpu = estimate["assumed_gpu_hours"].sum()
    tflop = estimate["train_tflop"].sum()
    assumed = tflop / (3600 * gpu)  # the throughput the estimate divided by (TFLOP/s)
    return text + (f" No GPU measured anything here. The column `assumed_gpu_hours` divides "
                   f"the counted training FLOPs ({tflop / 1e3:,.0f} PFLOP) by an "
                   f"**ASSUMED** sustained {assumed:.0f} TFLOP/s: "
                   f"{gpu:.1f} hours if a GPU sustained that, which this book has not "
                   f"measured (`python -m dynconv.bench.benchmark --study --full-epoch` "
                   f"measures it on a GPU).")
