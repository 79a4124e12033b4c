"""The tables the chapters show, as small pure functions of records.

Every function here takes :class:`~dynconv.experiments.records.Record` values (or plain numbers) and
returns a DataFrame: nothing is trained, displayed or read from disk, so each is tested on hand-made
records (``tests/test_tables.py``). :mod:`dynconv.book.chapter` displays them; the sentences that
read them are :mod:`dynconv.book.sentences`.

Honest numbers, in three habits:

* every accuracy is shown with its 95% Wilson interval (:func:`accuracy_intervals`);
* every comparison of two models is a paired test on the same test images (the ``p`` columns:
  McNemar's exact test, :func:`dynconv.experiments.records.paired_tests`), Holm-corrected over
  the table's tests where a table runs several (:func:`dynconv.stats.holm_family`; the column
  says over how many: :func:`holm_column`);
* where an experiment was repeated over seeds, the spread over seeds is shown beside it
  (:func:`seed_table`, :func:`seed_spread`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from dynconv.book.reported import REPORTED_TEST_IMAGES
from dynconv.channels import RGB, SUBSET_NAMES
from dynconv.config import departures, resolve_device
from dynconv.evaluation.costs import (
    calflops_per_image,
    count_parameters,
    counted_flops_per_image,
    peak_training_memory_mb,
    time_models,
)
from dynconv.experiments.records import Record, paired_tests
from dynconv.experiments.registry import experiment_departures, get_experiment
from dynconv.models.zoo import build_model, model_options
from dynconv.provenance import hardware_label
from dynconv.stats import (
    accuracy_interval,
    holm_family,
    interval_text,
    seed_summary,
)

# Best possible accuracy per subset on the built-in data if the shape is always recognised
# (colours that collide in a subset are guessed evenly; see dynconv.data.shapes).
BUILTIN_BOUND: Mapping[str, float] = {
    "RGB": 1.0, "GB": 1.0, "RG": 0.75, "RB": 0.75, "R": 0.5, "G": 0.5, "B": 0.5,
}


def accuracy_table(records: Mapping[str, Record]) -> pd.DataFrame:
    """Test accuracy (0..1): rows = records (by label), columns = the seven subsets (NaN = not
    tested)."""
    rows = {label: {s: r.test.get(s, np.nan) for s in SUBSET_NAMES}
            for label, r in records.items()}
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(SUBSET_NAMES)).astype(float)


def accuracy_intervals(records: Mapping[str, Record]) -> pd.DataFrame:
    """The same table as text: "56.7% (54.7–58.6)", the 95% Wilson interval in brackets."""
    rows = {}
    for label, r in records.items():
        rows[label] = {
            s: interval_text(r.test[s], *r.interval(s)) if s in r.test else "n/a"
            for s in SUBSET_NAMES
        }
    return pd.DataFrame.from_dict(rows, orient="index", columns=list(SUBSET_NAMES))


def interval_bounds(records: Mapping[str, Record]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(low, high) tables of the 95% Wilson interval, shaped like :func:`accuracy_table`."""
    low, high = {}, {}
    for label, r in records.items():
        bounds = {s: r.interval(s) for s in r.subsets}
        low[label] = {s: bounds[s][0] if s in bounds else np.nan for s in SUBSET_NAMES}
        high[label] = {s: bounds[s][1] if s in bounds else np.nan for s in SUBSET_NAMES}
    cols = list(SUBSET_NAMES)
    return (pd.DataFrame.from_dict(low, orient="index", columns=cols).astype(float),
            pd.DataFrame.from_dict(high, orient="index", columns=cols).astype(float))


def interval_half_width(records: Mapping[str, Record]) -> float:
    """The largest half-width (0..1) of any accuracy interval in ``records``: "how much one
    accuracy can move"."""
    widths = [(hi - lo) / 2 for r in records.values() for s in r.subsets
              for lo, hi in [r.interval(s)]]
    return max(widths) if widths else float("nan")


def seed_table(runs: Mapping[str, Sequence[Record]]) -> pd.DataFrame:
    """Mean, sample standard deviation and range over seeds, per experiment and subset.

    Rows: (experiment label, statistic) with statistics ``mean``, ``std``, ``min``, ``max``,
    ``seeds``; columns: the subsets. Values are accuracies (0..1), ``seeds`` a count.
    """
    frames = {}
    for label, records in runs.items():
        stats = {}
        for s in SUBSET_NAMES:
            values = [r.test[s] for r in records if s in r.test]
            if values:
                summary = seed_summary(values)
                stats[s] = {"mean": summary.mean, "std": summary.std, "min": summary.min,
                            "max": summary.max, "seeds": float(summary.n)}
        frames[label] = pd.DataFrame(stats).reindex(columns=list(SUBSET_NAMES))
    return pd.concat(frames, names=["experiment", "statistic"])


def seed_spread(runs: Sequence[Record], subsets: Sequence[str] | None = None) -> float:
    """The largest max-min range of accuracy over seeds on any of ``subsets`` (0..1)."""
    wanted = subsets if subsets is not None else SUBSET_NAMES
    spreads = [seed_summary([r.test[s] for r in runs]).spread
               for s in wanted if all(s in r.test for r in runs)]
    return max(spreads) if spreads else 0.0


def seed_table_style(table: pd.DataFrame):
    """:func:`seed_table` for a page: accuracies in %, the seed counts as whole numbers."""
    counts = pd.IndexSlice[pd.IndexSlice[:, "seeds"], :]
    return (table.style.format("{:.1%}", na_rep="n/a").format("{:.0f}", subset=counts))


def per_seed(runs: Mapping[str, Sequence[Record]]) -> dict[str, Record]:
    """{"<label>, seed <s>": record} of every seed of ``runs`` ({label: records})."""
    return {f"{label}, seed {r.seed}": r for label, records in runs.items() for r in records}


def seed_pairs(runs: Mapping[str, Sequence[Record]], a: str,
               b: str) -> list[tuple[Record, Record]]:
    """(``a``'s record, ``b``'s record) for every seed both were trained with, in ``a``'s seed
    order (``runs``: {label: records}): two models compared seed by seed, each pair on the same
    test images."""
    of_b = {r.seed: r for r in runs[b]}
    return [(r, of_b[r.seed]) for r in runs[a] if r.seed in of_b]


def seed_spreads(runs: Mapping[str, Sequence[Record]],
                 subsets: Sequence[str] | None = None) -> dict[str, float]:
    """{name: :func:`seed_spread` of its records} for several repeated experiments."""
    return {name: seed_spread(records, subsets) for name, records in runs.items()}


def relative_to_bound(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy divided by the built-in data's best possible accuracy per subset."""
    bound = pd.Series(BUILTIN_BOUND)[table.columns]
    return table / bound


def relative_to_bound_text(records: Mapping[str, Record]) -> pd.DataFrame:
    """:func:`relative_to_bound` of every accuracy and of both ends of its interval, as text
    ("84% (80–88%)"; "n/a" where a subset was not tested)."""
    low, high = interval_bounds(records)
    rel, rel_low, rel_high = (relative_to_bound(t) for t in (accuracy_table(records), low, high))
    pct = "{:.0%}".format
    text = rel.map(pct) + " (" + rel_low.map(pct) + "–" + rel_high.map(pct) + ")"
    return text.where(rel.notna(), "n/a")


def subset_trained_table(control: Record, trained: Mapping[str, Record], *,
                         bounds: Mapping[str, float] | None = BUILTIN_BOUND) -> pd.DataFrame:
    """Per subset: the network trained on it alone against the RGB-trained control.

    ``trained`` maps a subset name to the record of a plain ResNet18 trained (and tested) on
    that subset; ``control`` is trained on RGB and tested zero-filled on every subset. With
    ``bounds`` (the built-in data's best possible accuracy per subset), ``target`` is the bound
    times the control's RGB accuracy (what the subset allows a network that learned RGB this
    well) and ``ratio`` the trained network's accuracy over it. ``p`` is McNemar's exact test
    of the trained network against the control on the same test images and subset, the
    table's tests Holm-corrected as one family (:func:`holm_column` names the column).
    """
    rgb = control.test["RGB"]
    tested = [s for s, r in trained.items() if r is not control]
    tests = dict(zip(tested, holm_family(
        [paired_tests(trained[s], control, [s])[0] for s in tested]), strict=True))
    column = holm_column(len(tests))
    rows = {}
    for subset, record in trained.items():
        acc = record.test[subset]
        row = {
            "trained on it (95% CI)": interval_text(acc, *record.interval(subset)),
            "control, zero-filled (95% CI)": interval_text(control.test[subset],
                                                           *control.interval(subset)),
            column: tests[subset].p_value if subset in tests else np.nan,
        }
        if bounds is not None:
            target = bounds[subset] * rgb
            row.update({"bound": bounds[subset], "target": target,
                        "ratio": acc / target if target else np.nan})
        rows[subset] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def holm_column(tests: int) -> str:
    """The name of a table's p-value column: "p (McNemar)" for one test, "p (McNemar, Holm, 6
    tests)" for a family of six corrected together."""
    return "p (McNemar)" if tests < 2 else f"p (McNemar, Holm, {tests} tests)"


def p_columns(table: pd.DataFrame) -> list[str]:
    """The p-value columns of ``table`` (their names start with "p "), for formatting."""
    return [c for c in table.columns if str(c).startswith("p ")]


def best_on_subsets(records: Mapping[str, Record], candidates: Sequence[str],
                    subsets: Sequence[str] = SUBSET_NAMES[1:]) -> tuple[str, float]:
    """(label, mean accuracy) of the candidate with the highest mean accuracy over ``subsets``
    (candidates tested on none of them are left out)."""
    means = {c: float(np.mean([records[c].test[s] for s in subsets]))
             for c in candidates if all(s in records[c].test for s in subsets)}
    best = max(means, key=means.get)
    return best, means[best]


def is_builtin(record: Record) -> bool:
    """Whether ``record`` was trained on the built-in shapes (whose caps are known)."""
    return record.data["name"] == "builtin-shapes"


def subset_trained_bars(control: Record, trained: Mapping[str, Record]
                        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(accuracy, low, high) tables for :func:`dynconv.book.plots.plot_accuracy_bars`: the control
    zero-filled on each subset, and on each subset the network trained on it alone."""
    rows = {f"{control.label} on RGB, zero-filled": {s: control for s in trained},
            "trained on the subset alone": dict(trained)}
    tables = []
    for pick in (lambda r, s: r.test[s], lambda r, s: r.interval(s)[0],
                 lambda r, s: r.interval(s)[1]):
        tables.append(pd.DataFrame.from_dict(
            {label: {s: pick(r, s) for s, r in by_subset.items()}
             for label, by_subset in rows.items()}, orient="index").astype(float))
    return tables[0], tables[1], tables[2]


def criterion_table(records: Mapping[str, Record], *, reference: str,
                    fraction: float = 0.9) -> pd.DataFrame:
    """Part II's goal: RGB accuracy as a fraction of the reference's, with intervals and a
    paired test against the reference (same test images)."""
    ref = records[reference]
    ref_acc = ref.test["RGB"]
    rows = {}
    for label, r in records.items():
        acc = r.test["RGB"]
        row = {
            "RGB accuracy (95% CI)": interval_text(acc, *r.interval("RGB")),
            f"fraction of {reference}": acc / ref_acc if ref_acc else np.nan,
            f"meets {int(round(100 * fraction))}%": bool(acc >= fraction * ref_acc),
            f"p vs {reference} (McNemar)": np.nan,
            "epochs": r.epochs_run,
            "wall time (s)": round(r.wall_time_s),
        }
        if label != reference:
            row[f"p vs {reference} (McNemar)"] = paired_tests(r, ref, ["RGB"])[0].p_value
        rows[label] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def seed_criterion_table(runs: Mapping[str, Sequence[Record]], *, reference: str,
                         fraction: float = 0.9) -> pd.DataFrame:
    """Part II's goal over seeds: per network (label -> its seeds' records), the mean RGB
    accuracy and its range, and that mean as a fraction of the reference's mean (the
    reference's own seeds included); each seed's fraction to the reference's mean beside it."""
    ref_mean = seed_summary([r.test["RGB"] for r in runs[reference]]).mean
    rows = {}
    for label, records in runs.items():
        summary = seed_summary([r.test["RGB"] for r in records])
        rows[label] = {
            "seeds": len(records),
            "RGB accuracy, mean": summary.mean,
            "RGB accuracy, range": summary.spread,
            f"fraction of {reference} (means)": summary.mean / ref_mean,
            f"meets {int(round(100 * fraction))}%": bool(summary.mean >= fraction * ref_mean),
            "per seed (fraction)": ", ".join(f"{r.test['RGB'] / ref_mean:.3f}"
                                             for r in records),
        }
    return pd.DataFrame.from_dict(rows, orient="index")


def departure_table(profile: str = "ci") -> pd.DataFrame:
    """Every setting in which ``profile`` departs from the original study's, with its reason:
    the profile's fields (:func:`dynconv.config.departures`), then the experiments' own
    per-profile settings (:func:`dynconv.experiments.registry.experiment_departures`);
    empty for ``full``."""
    def text(name: str, value: object) -> str:  # None: "all" images, or no limit
        if value is None:
            return "all" if name.startswith("max_") else "none"
        return str(value)

    rows = [(name, text(name, a), text(name, b), why) for name, a, b, why in departures(profile)]
    rows += [(f"{experiment}: {name}", text(name, a), text(name, b), why)
             for experiment, name, a, b, why in experiment_departures(profile)]
    return pd.DataFrame(rows, columns=["setting", "original (full)", profile, "why"]
                        ).set_index("setting")


def provenance_table(records: Mapping[str, Record]) -> pd.DataFrame:
    """Where each record came from: the experiment and seed, how long it trained, when and on
    what, and whether this build loaded it (from which file) or trained it.

    Narrow enough for a page: the settings are the experiment's
    (:mod:`dynconv.experiments.registry`), and the data and folder, shared by every row, are in
    :func:`provenance_caption`.
    """
    rows = {
        label: {
            "experiment": r.experiment,
            "seed": r.seed,
            "epochs": r.epochs_run,
            "trained (UTC), on": f"{r.created[:16].replace('T', ' ')}, "
                                 f"{r.hardware.get('gpu') or r.hardware.get('cpu') or r.device}",
            "wall time (s)": round(r.wall_time_s),
            "this build": origin_word(r.origin),
            "file": Path(r.path).name if r.path else "-",
        }
        for label, r in records.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def origin_word(origin: str) -> str:
    """"loaded" or "trained" (with its reason) for a record's origin."""
    return "loaded" if not origin or origin.startswith("loaded") else origin


def record_file(record: Record) -> str:
    """The record's file as the reader finds it: from ``book/results`` on, when it is there."""
    if not record.path:
        return "-"
    parts = Path(record.path).parts
    for i in range(len(parts) - 1):
        if parts[i] == "book" and parts[i + 1] == "results":
            return "/".join(parts[i:])
    return Path(record.path).name


def reported_intervals(accuracies: pd.Series, num_test: int = REPORTED_TEST_IMAGES
                       ) -> pd.DataFrame:
    """Accuracies reported in % on ``num_test`` images, with their 95% Wilson intervals."""
    rows = {}
    for name, acc in accuracies.items():
        correct = round(acc / 100 * num_test)
        rows[name] = {"reported (%)": acc,
                      "95% interval": interval_text(correct / num_test,
                                                    *accuracy_interval(correct, num_test)),
                      "test images": num_test}
    return pd.DataFrame.from_dict(rows, orient="index")


# short column names for :func:`dynconv.bench.benchmark.ratio_summary` on a page
BENCH_SHORT_NAMES: Mapping[str, str] = {
    "flops_calflops": "calflops", "flops_counter": "FlopCounter", "train_step_s": "train step",
    "infer_img_per_s": "infer img/s", "peak_mem_mb": "peak memory"}


def generator_change_table(inspection: Mapping[str, Any]) -> pd.DataFrame:
    """Chapter 4's table from v2's record (:func:`dynconv.experiments.inspection.v2_generators`):
    per generator (its number of input channels n), the largest change of a weight in training."""
    change = inspection["generator_change"]
    return pd.DataFrame({"max |trained - initial| weight": list(change.values())},
                        index=pd.Index([f"generator n={n}" for n in change], name="generator"))


def drop_vs_zero_table(inspection: Mapping[str, Any]) -> pd.DataFrame:
    """Chapter 5's table from v3's record (:func:`dynconv.experiments.inspection.v3_routing`): per
    subset, in the book's order, the largest difference between dropping and zero-filling."""
    table = pd.DataFrame(inspection["drop_vs_zero"]).T
    order = [s for s in SUBSET_NAMES if s in table.index]
    columns = ["same mixed kernel", "routing weights", "whole stem"]
    return table.loc[order, columns].astype(float).rename_axis("max |drop - zero-fill|")


# ---- costs (chapters 8-10) ---------------------------------------------------------------------

# Pseudo-names for cost tables: a model name plus builder arguments.
COST_VARIANTS: Mapping[str, tuple[str, dict]] = {
    "v1_no_maxpool": ("v1", {"keep_maxpool": False}),
    "resnet18_torchvision_stem": ("resnet18", {"stem": "torchvision"}),
}


def cost_model(name: str, num_classes: int, **kwargs: object) -> nn.Module:
    """A freshly initialised (seed 0) model of a zoo name or a :data:`COST_VARIANTS` name.

    Models that sample channels in training are built without it (``sampling="none"``): a cost
    is measured on RGB, every layer doing the work it does on a full image.
    """
    model, variant = COST_VARIANTS.get(name, (name, {}))
    options = {**variant, **kwargs}
    if "sampling" in model_options(model):
        options["sampling"] = "none"
    torch.manual_seed(0)
    return build_model(model, num_classes=num_classes, **options)


def experiment_cost_model(name: str, num_classes: int, profile: str = "ci") -> nn.Module:
    """:func:`cost_model` of a registry experiment (its model and builder arguments)."""
    spec = get_experiment(name)
    return cost_model(spec.model, num_classes, **spec.build_kwargs(profile))


def count_weight_layers(model: nn.Module) -> int:
    """Convolutions and linear layers: the layers with weights (an honest "depth")."""
    return sum(isinstance(m, nn.Conv2d | nn.Linear) for m in model.modules())


def flops_table(names: Sequence[str], *, image_size: int, num_classes: int) -> pd.DataFrame:
    """Parameters and per-image GFLOPs by calflops and by FlopCounterMode, one row per model.

    ``counted_vs_calflops_%`` is how much more the operator-level counter finds: slightly
    negative for plain CNNs (calflops also counts batch norm, ReLU and pooling), large when
    matrix products or attention are involved (calflops does not see them).
    """

    rows = {}
    for name in names:
        model = cost_model(name, num_classes).eval()
        channels = getattr(model, "fixed_channels", None) or RGB  # v1 serves one subset
        cal = calflops_per_image(model, image_size=image_size, channels=channels)
        counted = counted_flops_per_image(model, image_size=image_size, channels=channels)
        rows[name] = {
            "weight_layers": count_weight_layers(model),
            "params_m": count_parameters(model) / 1e6,
            "calflops_gflops": cal["flops"] / 1e9,
            "counted_gflops": counted["flops"] / 1e9,
            "counted_vs_calflops_%": 100 * (counted["flops"] / cal["flops"] - 1),
        }
    table = pd.DataFrame.from_dict(rows, orient="index").round(4)
    table.attrs["source"] = f"this run, {image_size} px, one image, {num_classes} classes"
    return table


def timing_table(names: Sequence[str], *, image_size: int, batch_size: int, num_classes: int,
                 device: str = "auto", steps: int = 3) -> pd.DataFrame:
    """Median train-step and inference time, ratios to the first model, peak step memory."""

    dev = resolve_device(device)
    models = {name: cost_model(name, num_classes) for name in names}
    table = time_models(models, image_size=image_size, batch_size=batch_size, steps=steps,
                        warmup=1, device=dev, baseline=names[0])
    table["peak_step_memory_mb"] = [
        peak_training_memory_mb(models[n], image_size=image_size, batch_size=batch_size,
                                device=dev)
        for n in table.index
    ]
    table.attrs["source"] = (f"this run: {hardware_label()}, batch {batch_size}, "
                             f"{image_size} px")
    return table


def temperature_schedule(kwargs: Mapping[str, object], *, epochs: int,
                         num_classes: int = 10) -> pd.DataFrame:
    """v3's softmax temperature at the start of each epoch (Chen et al.: 30 -> 1)."""
    stem = build_model("v3", num_classes=num_classes, **kwargs).conv1
    temps = {}
    for epoch in range(epochs):
        stem.set_epoch(epoch)
        temps[epoch + 1] = float(stem.attention.temperature)
    return pd.DataFrame({"temperature": temps}).rename_axis("epoch").T
