"""The benchmark's results, split by the part of the study that introduces each model.

The benchmark (:mod:`dynconv.bench.benchmark`) times every first layer of the book, Part II's
attention and the data loader in one run. A chapter shows only what it or an earlier chapter
has introduced (:mod:`dynconv.book.story`), so the cost chapter (8) shows Part I's rows, Part
II's chapter (9) the attention rows, and Part III's chapter (10) its own first layers. The
study estimate (:func:`dynconv.bench.benchmark.study_estimate_of`: every ``full`` training,
charged its measured step time) is split the same way, and :func:`estimate_sentence` says
what it rests on: step times measured on this machine, and GPU hours from an ASSUMED
throughput, never a GPU measurement unless one was made.
"""

from __future__ import annotations

import pandas as pd

from dynconv.bench.benchmark import ASSUMED_GPU_TFLOPS, check_targets, ratio_summary
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


def stem_ratios(result: pd.DataFrame, part: str) -> pd.DataFrame:
    """:func:`ratio_summary` (every first layer's ratios to ResNet18) for ``part``'s layers."""
    summary = ratio_summary(result)
    return summary.loc[[n for n in summary.index if part_of(n) == part]]


def other_rows(result: pd.DataFrame, part: str) -> pd.DataFrame:
    """The benchmark's rows other than ``stem/`` (tricks against their plain loops, the
    attention, the loader) that belong to ``part``, by name."""
    rows = result[~result["name"].str.startswith("stem/")]
    rows = rows[[row_part(n) == part for n in rows["name"]]]
    return rows.set_index("name")[_COLUMNS]


def targets_of_part(result: pd.DataFrame, part: str) -> pd.DataFrame:
    """:func:`check_targets` for the rows of ``part``."""
    targets = check_targets(result)
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
    return text + (f" No GPU measured anything here. The column `assumed_gpu_hours` divides "
                   f"the counted training FLOPs ({estimate['train_tflop'].sum() / 1e3:,.0f} "
                   f"PFLOP) by an **ASSUMED** sustained {ASSUMED_GPU_TFLOPS:.0f} TFLOP/s: "
                   f"{gpu:.1f} hours if a GPU sustained that, which this book has not "
                   f"measured (`python -m dynconv.bench.benchmark --study --full-epoch` "
                   f"measures it on a GPU).")
