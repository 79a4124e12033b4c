"""What a chapter costs: its trainings, their CPU time, their disk, and a GPU estimate.

Every chapter opens with one paragraph (:func:`cost_note`, shown by :func:`show` in the cell
after ``chapter.start``) that says, computed from the chapter's records,

* how many trainings it shows (every seed counted) and of which experiments;
* how long they took to train here: the sum of the records' wall times (training and testing),
  on the hardware each record names;
* the disk they take: the record files (JSON, shipped with the book) and the checkpoints of
  their best weights (kept beside the records on the machine that trained them, never shipped;
  measured where the file is there, else estimated at 4 bytes per parameter);
* an estimate of the GPU time of the same trainings under the ``full`` profile on the original
  mini-ImageNet: the counted FLOPs of :mod:`dynconv.bench.benchmark`'s study estimate (training
  = 3 forward passes, every run to its epoch cap) at its ASSUMED sustained GPU throughput
  (:data:`~dynconv.bench.benchmark.ASSUMED_GPU_TFLOPS`). It is an estimate, not a measurement.

:data:`CHAPTER_EXPERIMENTS` is the single map from a chapter to the registry experiments
(:mod:`dynconv.experiments.registry`) it trains or loads, built from the registry's groups; a
test scans each notebook's code and checks that it uses exactly the experiments listed here.
:func:`book_costs_markdown` is the table of the whole book that ``python -m
dynconv.booktools.book vendor`` writes for the "How to run" page.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import MappingProxyType

from IPython.display import Markdown, display

from dynconv.bench import benchmark as bench
from dynconv.booktools.records import format_duration, plan
from dynconv.errors import ConfigError
from dynconv.experiments.records import Record
from dynconv.experiments.registry import (
    COMPACT_ABLATION,
    DISTILL_LONG,
    IDENTITY_PAIR,
    PART1,
    PART1_LONG,
    PART2,
    PART2_32PX,
    PART3,
    SUBSET_TRAINED,
    SUBSET_TRAINED_LONG,
    V5_ABLATION,
    get_experiment,
)

__all__ = ["CHAPTER_EXPERIMENTS", "TrainingCost", "book_costs_markdown", "book_costs_table",
           "chapter_experiments", "cost_note", "gpu_hours", "show", "training_costs"]


def _names(*names: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))


# Chapter (notebook stem) -> the experiments it trains or loads, every seed of each counted.
CHAPTER_EXPERIMENTS: Mapping[str, tuple[str, ...]] = MappingProxyType({
    "01_data": (),
    "02_baseline": _names(*SUBSET_TRAINED.values()),
    "03_v1": ("v1", "resnet18"),
    "04_v2": ("v2", "resnet18"),
    "05_v3": ("v3", "v2", "resnet18"),
    "06_v4": ("v4-batch", "v4-sample", "resnet18", "v2", "v3"),
    "07_ablation": _names(*PART1, *PART1_LONG),
    "08_costs": (),
    "09_part2": _names(*PART2, *COMPACT_ABLATION, *PART2_32PX),
    "10_part3": _names(*SUBSET_TRAINED.values(), *PART3, *V5_ABLATION, *IDENTITY_PAIR,
                       *SUBSET_TRAINED_LONG.values(), *DISTILL_LONG),
    "11_errata": _names(*PART1, *PART2, *PART2_32PX, *PART3),
})

BYTES_PER_PARAMETER = 4  # float32 weights: what a finished run's checkpoint holds


def chapter_experiments(chapter: str) -> tuple[str, ...]:
    """The experiments chapter ``chapter`` (e.g. ``"02_baseline"``) trains or loads."""
    try:
        return CHAPTER_EXPERIMENTS[chapter]
    except KeyError:
        raise ConfigError(f"unknown chapter {chapter!r}; known: "
                          f"{', '.join(CHAPTER_EXPERIMENTS)}") from None


@cache
def _forward_flops() -> Mapping[str, float]:
    """Counted FLOPs of one forward pass per 84 px image, per architecture of the study."""
    return MappingProxyType(bench.study_forward_flops(84))


def gpu_hours(experiment: str, forward_flops: Mapping[str, float] | None = None) -> float:
    """Estimated GPU hours of one training of ``experiment`` under ``full`` on the original
    mini-ImageNet, as :func:`dynconv.bench.benchmark.study_estimate` computes them: 3 forward
    passes of counted FLOPs per training image, every epoch up to the profile's cap, at the
    ASSUMED :data:`~dynconv.bench.benchmark.ASSUMED_GPU_TFLOPS`. A model without its own count
    is charged its architecture's (ResNet18's for every first layer, the compact network's for
    its ablation: an upper bound)."""
    flops = forward_flops if forward_flops is not None else _forward_flops()
    spec = get_experiment(experiment)
    model = spec.model if spec.model in flops else bench.BASELINE
    epochs = spec.config("full").max_epochs
    tflop = (bench.TRAINING_FLOPS_PER_FORWARD * flops[model] * epochs
             * bench.ORIGINAL_TRAIN_IMAGES / 1e12)
    return tflop / bench.ASSUMED_GPU_TFLOPS / 3600


@dataclass(frozen=True)
class TrainingCost:
    """One training (experiment and seed) of a chapter, and what its record says it cost."""

    experiment: str
    seed: int
    # False: no current record (the build would train it); the fields below are then None/0.
    present: bool
    wall_time_s: float | None
    hardware: str | None
    record_bytes: int
    checkpoint_bytes: int
    # True: the checkpoint file is there and was measured; False: 4 bytes per parameter.
    checkpoint_measured: bool
    gpu_hours: float


def _hardware_label(record: Record) -> str:
    info = record.hardware
    if info.get("gpu"):
        return str(info["gpu"])
    threads = info.get("runtime", {}).get("num_threads") or info.get("torch_threads")
    return f"{info.get('cpu', 'a CPU')}, {threads} threads"


def training_costs(names: Sequence[str], profile: str = "ci",
                   data_dir: str | os.PathLike | None = None, *,
                   results_dir: str | os.PathLike | None = None) -> list[TrainingCost]:
    """One :class:`TrainingCost` per seed of each experiment in ``names`` (records looked up
    by their keys, as the build does: nothing is trained)."""
    if not names:
        return []
    costs = []
    for run in plan(profile, data_dir, results_dir=results_dir, experiments=list(names)):
        hours = gpu_hours(run.experiment)
        if run.stale is not None or not run.path.is_file():
            costs.append(TrainingCost(run.experiment, run.seed, False, None, None, 0, 0, False,
                                      hours))
            continue
        record = Record.load(run.path)
        checkpoint = Path(run.path).with_name(record.checkpoint)
        measured = checkpoint.is_file()
        size = (checkpoint.stat().st_size if measured
                else BYTES_PER_PARAMETER * int(record.costs.get("params") or 0))
        costs.append(TrainingCost(run.experiment, run.seed, True, record.wall_time_s,
                                  _hardware_label(record), run.path.stat().st_size, size,
                                  measured, hours))
    return costs


def _megabytes(size: float) -> str:
    return f"{size / 1e6:,.1f} MB" if size < 1e9 else f"{size / 1e9:,.2f} GB"


def cost_note(chapter: str, profile: str = "ci", data_dir: str | os.PathLike | None = None,
              *, results_dir: str | os.PathLike | None = None) -> str:
    """The chapter's cost in one Markdown paragraph (see the module docstring)."""
    names = chapter_experiments(chapter)
    if not names:
        return (f"**What this chapter costs.** It trains nothing and loads no training record "
                f"(profile `{profile}`); the time its own cells take is in the build report.")
    costs = training_costs(names, profile, data_dir, results_dir=results_dir)
    present = [c for c in costs if c.present]
    missing = len(costs) - len(present)
    seconds = sum(c.wall_time_s or 0.0 for c in present)
    machines = ", ".join(sorted({c.hardware for c in present if c.hardware}))
    text = (f"**What this chapter costs.** It shows **{len(costs)} trainings** of "
            f"{len(names)} experiments, every seed counted ("
            + ", ".join(f"`{n}`" for n in names) + "). ")
    if present:
        text += (f"Their {len(present)} records (profile `{profile}`) took "
                 f"**{format_duration(seconds)}** to train and test on {machines} (the sum of "
                 f"the records' wall times); a record shared with another chapter is trained "
                 f"once. ")
    if missing:
        text += (f"{missing} have no current record here: the build trains them before the "
                 f"chapters run. ")
    checkpoints = sum(c.checkpoint_bytes for c in present)
    estimated = any(not c.checkpoint_measured for c in present)
    how = " (estimated at 4 bytes per parameter where the file is absent)" if estimated else ""
    text += (f"Disk: {_megabytes(sum(c.record_bytes for c in present))} of record files "
             f"(shipped with the book) and {'about ' if estimated else ''}"
             f"{_megabytes(checkpoints)} of checkpoints, the best weights only, kept beside "
             f"the records by the machine that trained them and never shipped{how}. ")
    hours = sum(c.gpu_hours for c in costs)
    text += (f"On a GPU, the same trainings under `full` on the original mini-ImageNet "
             f"({bench.ORIGINAL_TRAIN_IMAGES:,} training images, 84 px, every run to its epoch "
             f"cap) would take about **{hours:.2f} GPU hours**: an *estimate* from counted FLOPs "
             f"(training = {bench.TRAINING_FLOPS_PER_FORWARD} forward passes) at an ASSUMED "
             f"sustained {bench.ASSUMED_GPU_TFLOPS:.0f} TFLOP/s, not a measurement.")
    return text


def show(chapter: str, profile: str = "ci",
         data_dir: str | os.PathLike | None = None) -> None:
    """Display :func:`cost_note` as Markdown: the cell after a chapter's ``chapter.start``."""
    display(Markdown(cost_note(chapter, profile, data_dir)))


def _book_runs(profile: str, data_dir: str | os.PathLike | None,
               results_dir: str | os.PathLike | None) -> list[TrainingCost]:
    """Every training of the book, once each."""
    everything = _names(*(n for names in CHAPTER_EXPERIMENTS.values() for n in names))
    return training_costs(everything, profile, data_dir, results_dir=results_dir)


def _rows(runs: Sequence[TrainingCost]) -> list[dict[str, object]]:
    everything = _names(*(c.experiment for c in runs))
    rows = []
    for chapter, names in [*CHAPTER_EXPERIMENTS.items(), ("the whole book", everything)]:
        costs = [c for c in runs if c.experiment in names]
        present = [c for c in costs if c.present]
        seconds = sum(c.wall_time_s or 0.0 for c in present)
        rows.append({
            "chapter": chapter,
            "experiments": len(names),
            "trainings": len(costs),
            "records here": len(present),
            "CPU time (records)": format_duration(seconds) if present else "-",
            "record files": _megabytes(sum(c.record_bytes for c in present)),
            "checkpoints (not shipped)": _megabytes(sum(c.checkpoint_bytes for c in present)),
            "GPU hours (estimate, full)": f"{sum(c.gpu_hours for c in costs):.2f}",
        })
    return rows


def book_costs_table(profile: str = "ci", data_dir: str | os.PathLike | None = None, *,
                     results_dir: str | os.PathLike | None = None) -> list[dict[str, object]]:
    """One row per chapter (trainings, CPU time, disk, GPU estimate), then the whole book,
    where a training shared by several chapters counts once."""
    return _rows(_book_runs(profile, data_dir, results_dir))


def book_costs_markdown(profile: str = "ci", data_dir: str | os.PathLike | None = None, *,
                        results_dir: str | os.PathLike | None = None) -> str:
    """The "How to run" page's cost table (Markdown), with a sentence on what each column is."""
    runs = _book_runs(profile, data_dir, results_dir)
    rows = _rows(runs)
    columns = list(rows[0])
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(str(row[c]) for c in columns) + " |" for row in rows]
    machines = sorted({c.hardware for c in runs if c.hardware})
    note = (
        f"Computed by `python -m dynconv.booktools.book vendor` (which `make book` runs) from "
        f"the records of profile `{profile}` on "
        f"{'the built-in data' if data_dir is None else str(data_dir)}: trainings count every "
        f"seed; CPU time is the sum of the records' wall times (training and testing) on "
        f"{', '.join(machines) or 'no machine yet'}; checkpoints hold the best weights only, "
        f"measured where the file is there and else estimated at 4 bytes per parameter. The "
        f"GPU column is an **estimate**, not a measurement: the same trainings under `full` on "
        f"the original mini-ImageNet ({bench.ORIGINAL_TRAIN_IMAGES:,} training images, 84 px, "
        f"every run to its epoch cap), {bench.TRAINING_FLOPS_PER_FORWARD} forward passes of "
        f"counted FLOPs per image, at an ASSUMED sustained {bench.ASSUMED_GPU_TFLOPS:.0f} "
        f"TFLOP/s (see `dynconv.bench.benchmark`). In the last row a training shared by "
        f"several chapters counts once."
    )
    return "\n".join(lines) + "\n\n" + note + "\n"
