"""The tables and sentences the chapters show, as small pure functions of records.

Every function here takes :class:`~dynconv.records.Record` values (or plain numbers) and returns
a DataFrame or a string: nothing is trained, displayed or read from disk, so each is tested on
hand-made records (``tests/test_tables.py``). :mod:`dynconv.chapter` displays them.

Honest numbers, in three habits:

* every accuracy is shown with its 95% Wilson interval (:func:`accuracy_intervals`);
* every comparison of two models is a paired test on the same test images, and its sentence
  says "within noise" when McNemar's exact test does not find the difference at 5%
  (:func:`comparison_sentence`);
* where an experiment was repeated over seeds, a difference is called one only when it also
  exceeds the seed-to-seed spread (:func:`seed_table`, ``seed_spread=``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from dynconv.channels import RGB, SUBSET_NAMES
from dynconv.config import departures, get_config, resolve_device
from dynconv.data import IMAGENET_MEAN, ImageSplit
from dynconv.records import Record, paired_tests
from dynconv.registry import EXPERIMENTS, experiment_departures, get_experiment
from dynconv.reported import (
    REPORTED_TEST_IMAGES,
    part1_costs,
    part1_rgb_accuracy,
    part1_subset_accuracy,
    part2_results,
)
from dynconv.results import hardware_label
from dynconv.shapes import generator_spec
from dynconv.stats import (
    accuracy_interval,
    describe_comparison,
    interval_text,
    paired_test,
    seed_summary,
)
from dynconv.zoo import build_model, model_options

# Best possible accuracy per subset on the built-in data if the shape is always recognised
# (colours that collide in a subset are guessed evenly; see dynconv.shapes).
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


def comparison_sentence(a: Record, b: Record, *, subsets: Sequence[str] | None = None,
                        seed_spread: float | None = None) -> str:
    """One English sentence comparing ``a`` with ``b`` on ``subsets`` (default: every shared
    subset), backed by McNemar's exact test on the same test images."""
    tests = paired_tests(a, b, subsets)
    if not tests:
        return f"*{a.label}* and *{b.label}* share no tested subset."
    return describe_comparison(tests, a.label, b.label, seed_spread=seed_spread)


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


def subset_draws_sentence(draws: pd.Series, num_draws: int) -> str:
    """How often each subset is trained, from measured draws (``draws``: share per subset
    name, chapter 6's ``draw_frequencies``), and how often each of v4's generators runs."""
    by_size = draws.groupby(draws.index.str.len()).sum()
    others = draws.drop("RGB")
    return (
        f"Measured over {num_draws:,} draws: RGB is trained in **{draws['RGB']:.1%}** of the "
        f"draws and each other subset in {others.min():.1%} to {others.max():.1%}, so a single "
        f"channel such as R is seen about {draws['RGB'] / draws['R']:.0f} times less often "
        f"than RGB. Per generator: the 3-channel one runs in {by_size[3]:.1%} of the draws, the "
        f"2-channel one (shared by RG, RB and GB) in {by_size[2]:.1%}, the 1-channel one "
        f"(shared by R, G and B) in {by_size[1]:.1%}.")


def validation_rule_sentence(profile: str, names: Sequence[str]) -> str:
    """Which subsets early stopping and the best epoch of ``names`` are chosen on."""
    first, *others = [get_experiment(n) for n in names]
    cfg = first.config(profile)
    rule = (f"all {len(SUBSET_NAMES)} subsets ({', '.join(SUBSET_NAMES)})"
            if cfg.val_subsets == "all" else "the training channels only")
    same = "; ".join(f"the same holds for {o.label} (`{o.config(profile).val_subsets!r}`)"
                     for o in others)
    return (f"`ch.config_of(\"{first.name}\").val_subsets` is `{cfg.val_subsets!r}`: early "
            f"stopping (patience {cfg.patience}) and the best epoch use the mean "
            f"`{cfg.monitor}` over {rule}" + (f"; {same}." if same else "."))


def seed_spreads(runs: Mapping[str, Sequence[Record]],
                 subsets: Sequence[str] | None = None) -> dict[str, float]:
    """{name: :func:`seed_spread` of its records} for several repeated experiments."""
    return {name: seed_spread(records, subsets) for name, records in runs.items()}


def spread_sentence(spreads: Mapping[str, float], *, what: str = "any subset") -> str:
    """The seeds' spreads, and the rule this book compares by: a gap counts as a difference
    only when McNemar's test finds it and it is larger than the largest spread."""
    listed = "; ".join(f"*{get_experiment(n).label if n in EXPERIMENTS else n}* "
                       f"{100 * s:.1f} points" for n, s in spreads.items())
    return (f"Largest max-min range of an accuracy over seeds, {what}: {listed}. A gap is "
            f"called a difference only when McNemar's test finds it and it is larger than "
            f"{100 * max(spreads.values()):.1f} points.")


def relative_to_bound(table: pd.DataFrame) -> pd.DataFrame:
    """Accuracy divided by the built-in data's best possible accuracy per subset."""
    bound = pd.Series(BUILTIN_BOUND)[table.columns]
    return table / bound


def subset_trained_table(control: Record, trained: Mapping[str, Record], *,
                         bounds: Mapping[str, float] | None = BUILTIN_BOUND) -> pd.DataFrame:
    """Per subset: the network trained on it alone against the RGB-trained control.

    ``trained`` maps a subset name to the record of a plain ResNet18 trained (and tested) on
    that subset; ``control`` is trained on RGB and tested zero-filled on every subset. With
    ``bounds`` (the built-in data's best possible accuracy per subset), ``target`` is the bound
    times the control's RGB accuracy (what the subset allows a network that learned RGB this
    well) and ``ratio`` the trained network's accuracy over it. ``p`` is McNemar's exact test
    of the trained network against the control on the same test images and subset.
    """
    rgb = control.test["RGB"]
    rows = {}
    for subset, record in trained.items():
        acc = record.test[subset]
        row = {
            "trained on it (95% CI)": interval_text(acc, *record.interval(subset)),
            "control, zero-filled (95% CI)": interval_text(control.test[subset],
                                                           *control.interval(subset)),
            "p (McNemar)": (paired_tests(record, control, [subset])[0].p_value
                            if record is not control else np.nan),
        }
        if bounds is not None:
            target = bounds[subset] * rgb
            row.update({"bound": bounds[subset], "target": target,
                        "ratio": acc / target if target else np.nan})
        rows[subset] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def subset_gain_sentence(control: Record, trained: Mapping[str, Record]) -> str:
    """How many points a network trained on each subset alone gains over the zero-filled
    control (smallest and largest gain, with their subsets)."""
    gain = {s: r.test[s] - control.test[s] for s, r in trained.items()}
    low, high = min(gain, key=gain.get), max(gain, key=gain.get)
    return (f"Trained on the subset alone, a ResNet18 gains from {100 * gain[low]:.1f} ({low}) "
            f"to {100 * gain[high]:.1f} points ({high}) over the zero-filled control.")


def best_on_subsets(records: Mapping[str, Record], candidates: Sequence[str],
                    subsets: Sequence[str] = SUBSET_NAMES[1:]) -> tuple[str, float]:
    """(label, mean accuracy) of the candidate with the highest mean accuracy over ``subsets``
    (candidates tested on none of them are left out)."""
    means = {c: float(np.mean([records[c].test[s] for s in subsets]))
             for c in candidates if all(s in records[c].test for s in subsets)}
    best = max(means, key=means.get)
    return best, means[best]


def best_on_subsets_sentence(records: Mapping[str, Record], candidates: Sequence[str],
                             subsets: Sequence[str] = SUBSET_NAMES[1:]) -> str:
    """"Highest mean accuracy over the 6 incomplete subsets: **v3** (41.2%)." (see
    :func:`best_on_subsets`)."""
    best, value = best_on_subsets(records, candidates, subsets)
    left_out = [c for c in candidates if not all(s in records[c].test for s in subsets)]
    note = f"; {', '.join(left_out)} serve{'s' if len(left_out) == 1 else ''} RGB only" \
        if left_out else ""
    return (f"Highest mean accuracy over the {len(subsets)} incomplete subsets: **{best}** "
            f"({value:.1%}{note}).")


def is_builtin(record: Record) -> bool:
    """Whether ``record`` was trained on the built-in shapes (whose caps are known)."""
    return record.data["name"] == "builtin-shapes"


def subset_costs_sentences(record: Record) -> str:
    """A Markdown list: per incomplete subset, what it costs against RGB, each backed by
    McNemar's exact test on the same test images."""
    lines = [describe_comparison([paired_test(record.correct("RGB"), record.correct(s))],
                                 "RGB", s)
             for s in SUBSET_NAMES[1:] if s in record.test]
    return "\n".join(f"- {line}" for line in lines)


def cap_share_sentence(record: Record) -> str:
    """How much of what each subset allows (its cap on the built-in data) ``record`` keeps."""
    if not is_builtin(record):
        return f"The caps are known for the built-in data only, not for {record.data['name']}."
    share = relative_to_bound(accuracy_table({record.label: record})).loc[record.label]
    return (f"Relative to its cap, the control keeps from {share.min():.0%} "
            f"({share.idxmin()}) to {share.max():.0%} ({share.idxmax()}) of what each subset "
            f"allows.")


def subset_trained_verdict(control: Record, trained: Mapping[str, Record]) -> str:
    """:func:`subset_gain_sentence`, and on the built-in data whether every network trained
    on its subset comes within 0.9 of the subset's target (:func:`subset_trained_table`)."""
    text = subset_gain_sentence(control, trained)
    if not is_builtin(control):
        return text
    ratio = subset_trained_table(control, trained)["ratio"]
    text += (f" Its accuracy over the target ranges from {ratio.min():.2f} ({ratio.idxmin()}) "
             f"to {ratio.max():.2f}: ")
    return text + ("every subset comes within 0.9 of what the data allows, so what the "
                   "control loses beyond that is the price of never having seen the subset, "
                   "not of short training." if ratio.min() >= 0.9 else
                   "below 0.9 somewhere, so part of that loss is still the training's, not "
                   "the data's.")


def subset_trained_bars(control: Record, trained: Mapping[str, Record]
                        ) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(accuracy, low, high) tables for :func:`dynconv.plots.plot_accuracy_bars`: the control
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


def departure_table(profile: str = "ci") -> pd.DataFrame:
    """Every setting in which ``profile`` departs from the original study's, with its reason:
    the profile's fields (:func:`dynconv.config.departures`), then the experiments' own
    per-profile settings (:func:`dynconv.registry.experiment_departures`); empty for ``full``."""
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

    Narrow enough for a page: the settings are the experiment's (:mod:`dynconv.registry`),
    and the data and folder, shared by every row, are in :func:`provenance_caption`.
    """
    rows = {
        label: {
            "experiment": r.experiment,
            "seed": r.seed,
            "epochs": r.epochs_run,
            "trained (UTC), on": f"{r.created[:16].replace('T', ' ')}, "
                                 f"{r.hardware.get('gpu') or r.hardware.get('cpu') or r.device}",
            "wall time (s)": round(r.wall_time_s),
            "this build": _origin_word(r.origin),
            "file": Path(r.path).name if r.path else "-",
        }
        for label, r in records.items()
    }
    return pd.DataFrame.from_dict(rows, orient="index")


def provenance_caption(records: Mapping[str, Record]) -> str:
    """One Markdown line above :func:`provenance_table`: the data and the folder of the files."""
    data = sorted({f"{r.data['name']} (fingerprint `{r.data['fingerprint'][:12]}`, "
                   f"{r.data['sizes']['train']:,} training and {r.num_test:,} test images)"
                   for r in records.values()})
    files = [record_file(r) for r in records.values()]
    folders = sorted({f.rsplit("/", 1)[0] for f in files if "/" in f})
    where = f" Files in `{folders[0]}`." if len(folders) == 1 else ""
    return f"**Records behind this page.** Data: {'; '.join(data)}.{where}"


def provenance_summary(records: Mapping[str, Record]) -> str:
    """:func:`provenance_table` in one sentence: how many records, trained when, on what and
    in how long, and whether this build loaded them all."""
    unique = {id(r): r for r in records.values()}.values()
    created = sorted(r.created[:16].replace("T", " ") for r in unique)
    machines = sorted({r.hardware.get("gpu") or r.hardware.get("cpu") or r.device
                       for r in unique})
    walls = [r.wall_time_s for r in unique]
    loaded = all(_origin_word(r.origin) == "loaded" for r in unique)
    return (f"{len(walls)} records, trained between {created[0]} and {created[-1]} UTC on "
            f"{', '.join(machines)}, {min(walls):.0f} to {max(walls):.0f} s each "
            f"({sum(walls) / 60:.0f} min in all); "
            + ("all loaded by this build, their keys matching." if loaded else
               "some trained by this build (see the table)."))


def _origin_word(origin: str) -> str:
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


def part2_budget_sentence(profile: str) -> str:
    """How long Part II's three networks train under ``profile``, against Part I."""
    from_registry = get_experiment("resnet34")
    cfg, part1 = from_registry.config(profile), get_config(profile)
    listed = "; ".join(f"`{name}`: " + ", ".join(f"{k}={v}" for k, v in fields.items())
                       for name, fields in from_registry.profile_overrides.items())
    return (f"Under profile `{profile}` the three Part II experiments train with batch "
            f"**{cfg.batch_size}** for at most **{cfg.max_epochs}** epochs (patience "
            f"{cfg.patience}); Part I uses batch {part1.batch_size} and at most "
            f"{part1.max_epochs} epochs. Per-profile overrides in the registry: {listed}.")


def part2_cost_sentence(costs: pd.DataFrame) -> str:
    """Chapter 9's reading of :func:`flops_table` for the two small networks and ResNet34."""
    k3, k7, r34 = (costs.loc[n] for n in ("small_k3s1", "small_k7s2", "resnet34"))
    layers = (f"{k3['weight_layers']:.0f} weight layers each"
              if k3["weight_layers"] == k7["weight_layers"]
              else f"{k3['weight_layers']:.0f} and {k7['weight_layers']:.0f} weight layers")
    return (
        f"The k3s1 and k7s2 networks have **{layers}** (ResNet34: "
        f"{r34['weight_layers']:.0f}) and {1e3 * k3['params_m']:.0f} and "
        f"{1e3 * k7['params_m']:.0f} thousand parameters (ResNet34: {r34['params_m']:.1f} "
        f"million). Counted with every matrix product, the k3s1 network costs "
        f"{k3['counted_gflops']:.1f} GFLOPs per 84 px image, "
        f"{k3['counted_gflops'] / r34['counted_gflops']:.1f} times ResNet34's "
        f"{r34['counted_gflops']:.1f}; calflops sees {k3['calflops_gflops']:.2f}. The k7s2 "
        f"network costs {k7['counted_gflops']:.2f} GFLOPs "
        f"({k7['counted_gflops'] / r34['counted_gflops']:.2f} times ResNet34's).")


def sagan_flops_sentence(costs: pd.DataFrame, *, image_size: int = 84,
                         channels: int = 64) -> str:
    """SAGAN's attention cost by its formula (2 FLOPs a multiply-add, N positions, C
    channels, q and k of C/8 channels: 2 * 2 N^2 (C/8 + C)) against what calflops and
    FlopCounterMode count for the k3s1 network (``costs``: :func:`flops_table`)."""
    positions = image_size * image_size
    sagan = 2 * 2 * positions**2 * (channels // 8 + channels) / 1e9
    padded = 2 * 2 * positions**2 * (channels + channels) / 1e9  # q, k padded to C
    k3s1, resnet34 = costs.loc["small_k3s1"], costs.loc["resnet34"]
    missed = k3s1["counted_gflops"] - k3s1["calflops_gflops"]
    more = "more" if sagan > resnet34["counted_gflops"] else "less"
    return (
        f"With $N = {positions}$ and $C = {channels}$: SAGAN's own attention costs "
        f"{sagan / 2:.2f} GMACs, **{sagan:.1f} GFLOPs** per image, all of it missing from the "
        f"report's table and {more} than the whole of ResNet34 "
        f"({resnet34['counted_gflops']:.1f} GFLOPs counted). With $q$ and $k$ padded as this "
        f"book runs them the formula gives {padded:.1f} GFLOPs; FlopCounterMode finds "
        f"{missed:.1f} GFLOPs more than calflops for this network.")


def errata_cost_conclusion(costs: pd.DataFrame) -> str:
    """Chapter 10's fourth conclusion, from the reported numbers and this book's counts."""
    rgb = part1_rgb_accuracy()
    acc = part2_results()["test_acc_rgb"]
    gflops = costs["counted_gflops"]
    share = acc["small_k7s2"] / acc["resnet34"]
    return (
        f"4. On the reported numbers, v1's {rgb['v1'] - rgb['resnet18']:+.1f} points over "
        f"ResNet18 on RGB is within the test set's noise (section 7). In Part II, the k7s2 "
        f"network, which met the 90% criterion in the original's reported numbers "
        f"({acc['small_k7s2']:.2f}% against ResNet34's {acc['resnet34']:.2f}%, {share:.0%}), "
        f"costs {gflops['small_k7s2'] / gflops['resnet34']:.2f} times ResNet34's FLOPs when its "
        f"attention is counted; the k3s1 network, \"small\" in parameters, costs "
        f"{gflops['small_k3s1'] / gflops['resnet34']:.1f} times ResNet34's (section 5's table).")


def zero_fill_sentence() -> str:
    """Where a zero-filled channel (ImageNet's mean after normalisation) falls among the
    built-in data's low and high channel bands (chapter 1)."""
    fill = [round(255 * m) for m in IMAGENET_MEAN]  # what 0 means after normalisation
    spec = generator_spec()
    lo, hi = spec["lo_band"], spec["hi_band"]
    where = ["the low band" if lo[0] <= v <= lo[1] else
             "the high band" if hi[0] <= v <= hi[1] else "neither band" for v in fill]
    values = ", ".join(f"{c} {v}" for c, v in zip("RGB", fill, strict=True))
    return (f"A zero-filled channel holds ImageNet's mean: {values} (of 255). On the built-in "
            f"data a shape's channel is low between {lo[0]:.0f} and {lo[1]:.0f} and high "
            f"between {hi[0]:.0f} and {hi[1]:.0f}, so a zero-filled R falls in {where[0]}, a "
            f"zero-filled G in {where[1]} and a zero-filled B in {where[2]}.")


def test_split_sentence(test: ImageSplit, *, num_classes: int, used: int, profile: str) -> str:
    """How many test images there are, how many the profile tests on, and how far one accuracy
    can move on them (the standard error at 50%, against the original study's 450)."""
    n = len(test)
    counts = sorted(set(test.class_counts().values()))
    each = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]} to {counts[-1]}"
    se, se_reported = math.sqrt(0.25 / n), math.sqrt(0.25 / REPORTED_TEST_IMAGES)
    text = (f"The test split holds **{n:,} images** ({each} per class, {num_classes} "
            f"classes); the `{profile}` profile tests on {used:,} of them. The standard error "
            f"of one accuracy is at most **{100 * se:.1f} points** on {n:,} images (a 95% "
            f"interval of about ±{196 * se:.1f} points), against **{100 * se_reported:.1f} "
            f"points** (±{196 * se_reported:.1f}) on the original study's "
            f"{REPORTED_TEST_IMAGES}")
    if used == n:
        return text + "."
    return (text + f", and {100 * math.sqrt(0.25 / used):.1f} points on the {used:,} images "
            f"this profile tests on.")


def v1_flops_sentence(flops: pd.DataFrame) -> str:
    """The original's v1 cost ratio, reported, against this book's calflops count of v1 with
    and without ResNet's max-pool (``flops``: :func:`flops_table`)."""
    original = part1_costs()
    cal = flops["calflops_gflops"]
    ratio = cal / cal["resnet18"]
    batch64 = original["gflops_per_batch64"]
    return (
        f"Reported by the original study: ResNet18's {batch64['resnet18']:.1f} GFLOPs per "
        f"batch of 64 are {original.loc['resnet18', 'gflops_per_image']:.2f} GFLOPs per image, "
        f"and v1 costs {batch64['v1'] / batch64['resnet18']:.1f} times as much. This run's "
        f"calflops count (a multiply-add counts as two FLOPs): ResNet18 {cal['resnet18']:.2f} "
        f"GFLOPs per image; v1 as built here, with ResNet's max-pool, {ratio['v1']:.2f} times "
        f"ResNet18; v1 without the max-pool (`v1_no_maxpool`, as in the original) "
        f"{ratio['v1_no_maxpool']:.2f} times. The original's ratio comes from the removed "
        f"max-pool, not from the generated kernel.")


def stem_costs_sentence(flops: pd.DataFrame, timing: pd.DataFrame) -> str:
    """What the dynamic stems add to ResNet18: parameters, counted FLOPs, training step time
    and peak memory (``flops``: :func:`flops_table`; ``timing``: :func:`timing_table`)."""
    base = flops.loc["resnet18"]
    stems = flops.drop(["resnet18", "v1_no_maxpool"], errors="ignore")
    extra_params = (stems["params_m"] - base["params_m"]) * 1e6
    extra_flops = 100 * (stems["counted_gflops"] / base["counted_gflops"] - 1)
    step = timing["train_step_ratio"].drop("resnet18")
    memory = timing["peak_step_memory_mb"]
    most = extra_flops.abs().max()  # the table rounds GFLOPs to 4 decimals (0.005% here)
    flops_text = f"at most {most:.2f}%" if most >= 0.01 else "less than 0.01%"
    return (
        f"The dynamic stems change ResNet18's {base['params_m']:.1f} million parameters by "
        f"about {extra_params.min():+,.0f} to {extra_params.max():+,.0f}, and its counted "
        f"FLOPs per image by {flops_text}. On this machine a training step of a dynamic stem "
        f"takes {step.min():.2f} to {step.max():.2f} times ResNet18's ({step.idxmax()} the "
        f"slowest), and its peak step memory is {memory.drop('resnet18').min():.0f} to "
        f"{memory.drop('resnet18').max():.0f} MB against ResNet18's "
        f"{memory['resnet18']:.0f} MB.")


# short column names for :func:`dynconv.bench.ratio_summary` on a page
BENCH_SHORT_NAMES: Mapping[str, str] = {
    "flops_calflops": "calflops", "flops_counter": "FlopCounter", "train_step_s": "train step",
    "infer_img_per_s": "infer img/s", "peak_mem_mb": "peak memory"}


def bench_origin_line(result: pd.DataFrame) -> str:
    """Where a benchmark result came from: loaded or measured, device, CPU, threads, torch,
    wall time (:func:`dynconv.bench.cached_benchmark`)."""
    attrs = result.attrs
    return (f"{attrs['origin']}: {attrs['device']}, {attrs['hardware']['cpu']}, "
            f"{attrs['threads']} threads, torch {attrs['torch']}, "
            f"{attrs['wall_time_s'] / 60:.1f} min")


def generator_change_table(inspection: Mapping[str, Any]) -> pd.DataFrame:
    """Chapter 4's table from v2's record (:func:`dynconv.inspection.v2_generators`): per
    generator (its number of input channels n), the largest change of a weight in training."""
    change = inspection["generator_change"]
    return pd.DataFrame({"max |trained - initial| weight": list(change.values())},
                        index=pd.Index([f"generator n={n}" for n in change], name="generator"))


def reported_range_sentence(model: str, subsets: Sequence[str]) -> str:
    """What the original study reported for ``model`` on ``subsets``: its lowest and highest
    accuracy (:func:`dynconv.reported.part1_subset_accuracy`)."""
    values = part1_subset_accuracy().loc[model, list(subsets)]
    return (f"The original study reported {model} at {values.min():.2f}% to "
            f"{values.max():.2f}% on the {len(subsets)} incomplete subsets "
            f"({REPORTED_TEST_IMAGES} test images; chance 2% for its 50 classes).")


def drop_vs_zero_table(inspection: Mapping[str, Any]) -> pd.DataFrame:
    """Chapter 5's table from v3's record (:func:`dynconv.inspection.v3_routing`): per subset,
    in the book's order, the largest difference between dropping and zero-filling."""
    table = pd.DataFrame(inspection["drop_vs_zero"]).T
    order = [s for s in SUBSET_NAMES if s in table.index]
    columns = ["same mixed kernel", "routing weights", "whole stem"]
    return table.loc[order, columns].astype(float).rename_axis("max |drop - zero-fill|")


def drop_vs_zero_sentence(differences: pd.DataFrame, num_images: int) -> str:
    """Chapter 5's conclusion from the trained v3's drop-vs-zero-fill table (one row per
    subset; columns "same mixed kernel", "routing weights", "whole stem")."""
    largest = differences.max()
    same = largest["same mixed kernel"]
    whole, routing = largest["whole stem"], largest["routing weights"]
    mask_effect = ("the whole stem's outputs agree exactly as well" if whole == 0
                   else f"the whole stem's outputs differ by up to {whole:.3g} because its "
                        f"routing weights differ (by up to {routing:.3g}): their only "
                        f"differing input is the presence mask")
    agree = ("are **exactly equal** (largest difference 0.0)" if same == 0
             else f"differ by at most **{same:.3g}**")
    return (f"With the same mixed kernel, slicing by identity and zero-filling give outputs "
            f"that {agree} on all {len(differences)} subsets and {num_images} test images; "
            f"{mask_effect}.")


def trained_block_sentence(inspection: Mapping[str, Any]) -> str:
    """Chapter 9's reading of the trained first block (:func:`dynconv.inspection.
    part2_first_block`): gamma, the range of the SE gates and how much they vary by image."""
    gates = np.asarray(inspection["gates"])  # (B, C)
    spread = float((gates.max(axis=0) - gates.min(axis=0)).max())
    return (f"Trained, γ = {float(inspection['gamma']):.3f}. The gates range from "
            f"{gates.min():.2f} to {gates.max():.2f}, and one channel's gate differs by up to "
            f"{spread:.2f} between these {len(gates)} images: SE scales each image's channels "
            f"differently, which is its point.")


def summary_text(record: Record, *, chance: float) -> str:
    """One Markdown paragraph: how the record was produced and its headline number."""
    subset = "RGB" if "RGB" in record.test else record.subsets[0]
    acc = record.test[subset]
    lo, hi = record.interval(subset)
    hw = record.hardware
    device = hw.get("gpu") or hw.get("cpu") or record.device
    origin = record.origin or "loaded"
    if origin.startswith("loaded"):
        when = (f"loaded from `{record_file(record)}`, written "
                f"{record.created[:16].replace('T', ' ')} UTC")
    else:
        when = f"{origin} in this build"
    validated = ("the mean over every subset" if record.config.get("val_subsets") == "all"
                 else f"its training channels ({record.config.get('train_channels', 'RGB')})")
    epochs = f"{record.epochs_run} epoch{'s' if record.epochs_run != 1 else ''}"
    return (
        f"**{record.label}**{f' ({record.settings})' if record.settings else ''}, seed "
        f"{record.seed}: {epochs}, best epoch {record.best_epoch} by {record.monitor} "
        f"validated on {validated}; "
        f"test accuracy on {subset} **{interval_text(acc, lo, hi)}** on {record.num_test:,} "
        f"test images (95% Wilson interval; chance {100 * chance:.1f}%). Training and evaluation "
        f"took {record.wall_time_s:.0f} s on {device} (profile `{record.profile}`, data "
        f"{record.data['name']}, {record.data['sizes']['train']:,} training images); {when}."
    )


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
    from dynconv.costs import calflops_per_image, count_parameters, counted_flops_per_image

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
    from dynconv.costs import peak_training_memory_mb, time_models

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
