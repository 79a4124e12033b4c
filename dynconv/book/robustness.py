"""How close one network comes, on every channel subset, to a network trained on that subset.

Chapter: ``10_part3``.

The yardstick of Part III is the per-subset *oracle*: a plain ResNet18 trained and tested on one
subset alone (:data:`dynconv.experiments.registry.SUBSET_TRAINED`; on RGB the Part I control). A
model that serves every subset is scored by ``ratio = accuracy / oracle accuracy`` per subset, and
by its WORST ratio: a first layer "for any subset" is only as good as its worst subset.

Like :mod:`dynconv.book.tables`, every function is a pure function of records: nothing is
trained or displayed here, and each is tested on hand-made records (``tests/test_tables.py``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from dynconv.book.tables import experiment_cost_model
from dynconv.channels import SUBSET_NAMES
from dynconv.config import TrainConfig
from dynconv.evaluation.costs import time_models
from dynconv.experiments.records import Record, paired_tests
from dynconv.experiments.registry import EXPERIMENTS
from dynconv.fileio import atomic_write_text
from dynconv.stats import holm_family, interval_text, seed_summary

__all__ = ["CHANNELVIT_REPORTED", "ORACLE", "ROBUSTNESS_COLUMNS", "beside_channelvit",
           "adabn_pairs", "cost_table", "first_seeds", "label_of",
           "labelled_oracles", "labelled_ratios", "measured_cost_table", "oracle_intervals",
           "oracle_tests",
           "ratio_matrix", "robustness_table", "savings_table", "seed_ratio_table", "seeded",
           "target_table", "with_adabn", "worst_ratio",
           "write_robustness_csv"]

ORACLE = "oracle"  # the model name the oracles' rows carry in robustness.csv
ROBUSTNESS_COLUMNS = ("model", "subset", "accuracy", "oracle_accuracy", "ratio")


# The one published comparison of one network with per-subset oracles (reported, not measured
# here): ChannelViT-S/16 with hierarchical channel sampling against single-channel experts on
# ImageNet, top-1 %, Bao et al., "Channel Vision Transformers", ICLR 2024, Table 1
# (https://arxiv.org/abs/2309.16108): subset -> (ChannelViT, expert trained on that channel).
CHANNELVIT_REPORTED: Mapping[str, tuple[float, float]] = {
    "R": (69.90, 70.04), "G": (70.30, 70.61), "B": (68.48, 69.47)}


def label_of(name: str) -> str:
    """The label of a model name of :func:`robustness_table` (registry label, or the name)."""

    if name == ORACLE:
        return "oracle (trained on the subset)"
    return EXPERIMENTS[name].label if name in EXPERIMENTS else name


def oracle_intervals(oracles: Mapping[str, Record],
                     name: str = "oracle (trained on the subset)") -> pd.DataFrame:
    """One row, called ``name``: each oracle's accuracy on its own subset, with its 95%
    interval."""
    row = {s: interval_text(o.test[s], *o.interval(s)) for s, o in oracles.items()}
    return pd.DataFrame([row], index=[name])


def oracle_tests(candidate: Record, oracles: Mapping[str, Record]) -> pd.DataFrame:
    """``candidate`` against each subset's oracle on that subset, on the same test images: the
    two accuracies, their difference and ratio, and McNemar's exact test, Holm-corrected over
    the subsets as one family (one row per subset)."""
    tests = holm_family([paired_tests(candidate, o, [s])[0] for s, o in oracles.items()])
    rows = {t.subset: {candidate.label: t.accuracy_a, "oracle": t.accuracy_b,
                       "difference (points)": 100 * t.difference,
                       "ratio": _ratio(t.accuracy_a, t.accuracy_b),
                       f"p (McNemar, Holm over {len(tests)})": t.p_value}
            for t in tests}
    return pd.DataFrame.from_dict(rows, orient="index")


def _ratio(accuracy: float, limit: float) -> float:
    """``accuracy / limit``; NaN for an oracle at 0% (no ratio, not a division by zero)."""
    return accuracy / limit if limit > 0 else float("nan")


def _mean(records: Sequence[Record], subset: str) -> float:
    return float(np.mean([r.test[subset] for r in records]))


def robustness_table(runs: Mapping[str, Sequence[Record]],
                     oracles: Mapping[str, Record | Sequence[Record]]) -> pd.DataFrame:
    """One row per model and subset: accuracy (the mean over seeds where a model has several),
    the oracle's accuracy on that subset, and their ratio. The oracles come first, as model
    :data:`ORACLE` with ratio 1. ``runs`` maps a model name to its records (one per seed); an
    oracle given as several records (its seeds) counts with its mean accuracy."""
    limits = {s: _mean(o, s) if isinstance(o, Sequence) else o.test[s]
              for s, o in oracles.items()}
    rows = [(ORACLE, s, limit, limit, _ratio(limit, limit)) for s, limit in limits.items()]
    for model, records in runs.items():
        for subset, limit in limits.items():
            accuracy = _mean(records, subset)
            rows.append((model, subset, accuracy, limit, _ratio(accuracy, limit)))
    return pd.DataFrame(rows, columns=list(ROBUSTNESS_COLUMNS))


def ratio_matrix(table: pd.DataFrame, value: str = "ratio") -> pd.DataFrame:
    """``robustness_table`` as models (rows, in order) x subsets (columns, R, G, B order)."""
    matrix = table.pivot(index="model", columns="subset", values=value)
    order = list(dict.fromkeys(table["model"]))
    return matrix.loc[order, [s for s in SUBSET_NAMES if s in matrix.columns]]


def labelled_ratios(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`ratio_matrix` with each model's label as its row name (for a heatmap)."""
    return ratio_matrix(table).rename(index=label_of)


def worst_ratio(table: pd.DataFrame) -> pd.Series:
    """Each model's lowest ratio over the subsets, highest first."""
    return ratio_matrix(table).min(axis=1).sort_values(ascending=False)


def cost_table(runs: Mapping[str, Sequence[Record]], timing: pd.DataFrame) -> pd.DataFrame:
    """Parameters and counted FLOPs per image (from the records, this run) beside the
    training-step time measured side by side (``timing``: dynconv.evaluation.costs.time_models,
    indexed by the same names, with ``train_step_ratio``)."""
    rows = {}
    for model, records in runs.items():
        cost = records[0].costs
        rows[model] = {"parameters": cost["params"],
                       "GFLOPs per image (counted)": cost["counted_flops_per_image"] / 1e9,
                       "train step (s)": timing.loc[model, "train_step_s"],
                       "train step / ResNet18": timing.loc[model, "train_step_ratio"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def measured_cost_table(runs: Mapping[str, Sequence[Record]], *, num_classes: int,
                        config: TrainConfig) -> pd.DataFrame:
    """:func:`cost_table` with every model's training step timed now, side by side
    (:func:`dynconv.evaluation.costs.time_models`:
    3 steps each at the profile's image and batch size)."""
    models = {n: experiment_cost_model(n, num_classes, config.profile) for n in runs}
    timing = time_models(models, image_size=config.image_size, batch_size=config.batch_size,
                         steps=3, baseline="resnet18")
    return cost_table(runs, timing)


def first_seeds(runs: Mapping[str, Sequence[Record]]) -> dict[str, Record]:
    """{label: the record of the first seed} of ``runs`` ({name: records})."""
    return {label_of(name): records[0] for name, records in runs.items()}


def with_adabn(runs: Mapping[str, Sequence[Record]],
               adapted: Mapping[str, Sequence[Record]]) -> dict[str, Sequence[Record]]:
    """Each model of ``adapted`` ({name: its AdaBN records, :mod:`dynconv.experiments.posthoc`})
    right after its own records in ``runs``: {name: records, "<label> + AdaBN": records}."""
    both: dict[str, Sequence[Record]] = {}
    for name, records in adapted.items():
        both[name] = runs[name]
        both[records[0].label] = records
    return both


def adabn_pairs(runs: Mapping[str, Sequence[Record]],
                adapted: Mapping[str, Sequence[Record]]) -> list[tuple[Record, Record]]:
    """(AdaBN record, its source record) of the first seed of each model of ``adapted``: the
    same network, trained once, tested on the same images with and without AdaBN."""
    return [(records[0], runs[name][0]) for name, records in adapted.items()]


def seeded(runs: Mapping[str, Sequence[Record]]) -> dict[str, Sequence[Record]]:
    """The models of ``runs`` trained with more than one seed."""
    return {name: records for name, records in runs.items() if len(records) > 1}


def labelled_oracles(oracles: Mapping[str, Record], *, include_rgb: bool = False,
                     suffix: str = "") -> dict[str, Record]:
    """{"oracle <subset><suffix>": record} of every oracle but RGB's (at the profile's budget
    the zero-fill control itself, shown under its own name), or of all with ``include_rgb``."""
    return {f"oracle {s}{suffix}": r for s, r in oracles.items()
            if include_rgb or s != "RGB"}


def seed_ratio_table(runs: Mapping[str, Sequence[Record]],
                     oracles: Mapping[str, Record]) -> pd.DataFrame:
    """Per model with several seeds: the worst-subset ratio of each seed, their mean and
    range, and the RGB accuracy's mean and range (how far one seed's verdict can move)."""
    rows = {}
    for model, records in runs.items():
        worst = [min(r.test[s] / o.test[s] for s, o in oracles.items()) for r in records]
        summary, rgb = seed_summary(worst), seed_summary([r.test["RGB"] for r in records])
        rows[model] = {"seeds": len(records), "worst ratio, mean": summary.mean,
                       "worst ratio, range": summary.spread, "RGB, mean": rgb.mean,
                       "RGB, range": rgb.spread,
                       "per seed (worst ratio)": ", ".join(f"{w:.3f}" for w in worst)}
    return pd.DataFrame.from_dict(rows, orient="index")


def target_table(candidate: str, table: pd.DataFrame, *, candidate_record: Record,
                 plain: Record, rivals: Sequence[str], fraction: float = 0.95,
                 seed_spread: float = 0.0) -> pd.DataFrame:
    """Part III's three targets for ``candidate``, each with the number behind it.

    1. at least ``fraction`` of the oracle on every subset;
    2. RGB accuracy not below the plain ResNet18's (``plain``): met unless the candidate is
       lower by McNemar's exact test AND by more than ``seed_spread``;
    3. a worst-subset ratio above every model in ``rivals`` (no such row when ``rivals`` is
       empty: against oracles trained longer there is no rival at that budget).
    """
    worst = worst_ratio(table)
    matrix = ratio_matrix(table)
    below = [s for s in matrix.columns if matrix.loc[candidate, s] < fraction]
    test = paired_tests(candidate_record, plain, ["RGB"])[0]
    lower = test.difference < 0 and test.significant() and -test.difference > seed_spread
    rows = [
        (f"at least {fraction:.2f} of the oracle on every subset",
         f"worst {worst[candidate]:.3f} (on {matrix.loc[candidate].idxmin()}); below "
         f"{fraction:.2f} on {', '.join(below) if below else 'none'}", not below),
        (f"RGB not below {plain.label} (within noise)",
         f"{100 * candidate_record.test['RGB']:.1f}% against {100 * plain.test['RGB']:.1f}%, "
         f"p = {test.p_value:.2g} (McNemar), seed spread {100 * seed_spread:.1f} points",
         not lower),
    ]
    if rivals:
        best_rival = max(rivals, key=lambda m: worst[m])
        rows.append(("worst-subset ratio above every published design and both controls",
                     f"{worst[candidate]:.3f} against the best of them, "
                     f"{label_of(best_rival)}: {worst[best_rival]:.3f}",
                     bool(worst[candidate] > worst[best_rival])))
    return pd.DataFrame(rows, columns=["target", "measured", "met"]).set_index("target")


def savings_table(one: Record, oracles: Mapping[str, Record]) -> pd.DataFrame:
    """One network for every subset against one oracle per subset: parameters stored and
    training time, both from the records (this run)."""
    distinct = {id(r): r for r in oracles.values()}.values()
    rows = {
        f"{len(distinct)} oracles (one per subset)": {
            "parameters stored": sum(r.costs["params"] for r in distinct),
            "training time (s)": sum(r.train_time_s for r in distinct)},
        one.label: {"parameters stored": one.costs["params"],
                    "training time (s)": one.train_time_s},
    }
    table = pd.DataFrame.from_dict(rows, orient="index").astype(float)
    table.loc["one network saves (x)"] = table.iloc[0] / table.iloc[1]
    return table


def write_robustness_csv(table: pd.DataFrame, results_dir: str | os.PathLike,
                         profile: str, name: str = "robustness.csv") -> Path:
    """Write ``table`` atomically as ``<results_dir>/<profile>/<name>``."""
    missing = set(ROBUSTNESS_COLUMNS) - set(table.columns)
    if missing:
        raise ValueError(f"robustness table lacks the columns {sorted(missing)}")
    text = table.loc[:, list(ROBUSTNESS_COLUMNS)].to_csv(index=False, float_format="%.6f")
    return atomic_write_text(Path(results_dir) / profile / name, text)


def beside_channelvit(table: pd.DataFrame, models: Sequence[str], *,
                      equal_budget: pd.DataFrame | None = None) -> pd.DataFrame:
    """Single-channel ratios to the oracle: ChannelViT's as reported (ImageNet) beside each of
    ``models`` measured in this run (mean over its seeds, from :func:`robustness_table`), and
    beside every model of ``equal_budget`` (a :func:`robustness_table` against oracles trained
    as long as that model)."""
    column = "ChannelViT-S/16, ImageNet (reported: Bao et al. 2024, Table 1)"
    rows = {s: {column: one / expert} for s, (one, expert) in CHANNELVIT_REPORTED.items()}
    tables = [(table, models, "")]
    if equal_budget is not None:
        others = [m for m in dict.fromkeys(equal_budget["model"]) if m != ORACLE]
        tables.append((equal_budget, others, ", oracles as long"))
    for source, names, suffix in tables:
        matrix = ratio_matrix(source)
        for model in names:
            for subset in rows:
                rows[subset][f"{label_of(model)}{suffix} (this run)"] = float(
                    matrix.loc[model, subset])
    return pd.DataFrame.from_dict(rows, orient="index")
