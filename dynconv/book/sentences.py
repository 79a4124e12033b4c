"""Every sentence a chapter states, built from records and numbers by one small function each.

A chapter never writes its conclusion itself: it calls one of these and shows the text
(:meth:`dynconv.book.chapter.Chapter.say`). Each function is pure (records or plain numbers in, a
Markdown string out) and tested in ``tests/test_sentences.py`` and ``tests/test_stats.py``,
so that a sentence cannot claim what its numbers do not say. Three habits:

* a comparison of two models is a paired test on the same test images (McNemar's exact test,
  :func:`dynconv.stats.paired_test`), and its sentence says "within noise" when the test does
  not find the difference at 5% (:func:`describe_comparison`, :func:`comparison_sentence`);
* where an experiment was repeated over seeds, a difference is called one only when it is also
  larger than the seed-to-seed spread (``seed_spread=``, :func:`spread_sentence`);
* where one call tests several subsets or several models, the p-values are Holm-corrected over
  that family (:func:`dynconv.stats.holm_family`) and the sentence says over how many tests
  (:func:`comparison_sentence`, :func:`comparison_sentences`, :func:`effects_sentence`);
* every number quoted comes with where it came from: this run's records, or "reported by the
  original study" (:mod:`dynconv.book.reported`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from dynconv.book.reported import (
    REPORTED_TEST_IMAGES,
    part1_costs,
    part1_rgb_accuracy,
    part1_subset_accuracy,
    part2_results,
)
from dynconv.book.robustness import (
    ORACLE,
    label_of,
    ratio_matrix,
    seed_ratio_table,
    worst_ratio,
)
from dynconv.book.tables import (
    accuracy_table,
    best_on_subsets,
    is_builtin,
    origin_word,
    record_file,
    relative_to_bound,
    subset_trained_table,
)
from dynconv.channels import INCOMPLETE_SUBSETS, SUBSET_NAMES
from dynconv.config import get_config
from dynconv.data.datasets import IMAGENET_MEAN, ImageSplit
from dynconv.data.shapes import generator_spec
from dynconv.experiments.records import Record, paired_tests
from dynconv.experiments.registry import EXPERIMENTS, PART2, get_experiment
from dynconv.stats import ALPHA, PairedTest, holm_family, interval_text, paired_test

# Differences smaller than this (in accuracy units) count as exact ties: accuracies are ratios
# of counts, so equal counts give equal floats; this only absorbs rounding in stored numbers.
_TIE = 1e-12


def _points(difference: float) -> str:
    """An absolute difference in percentage points: "1.8 points", "less than 0.1 points"."""
    pts = abs(difference) * 100
    if pts < 0.05:
        return "less than 0.1 points"
    return f"{pts:.1f} points"


def _percent(accuracy: float) -> str:
    return f"{100 * accuracy:.1f}%"


def _number(value: float) -> str:
    """A plain number for prose: "0.05", "0.01"."""
    return f"{value:g}"


def _p_text(p: float, alpha: float) -> str:
    """ "p < 0.001", "p = 0.03", "p = 0.0496" (enough digits to stay on the right side of alpha)."""
    if p < 0.001:
        return "p < 0.001"
    if p >= 1.0:
        return "p = 1"
    for digits in (2, 3, 4):
        shown = round(p, digits)
        if (shown < alpha) == (p < alpha) and shown > 0 and (shown != alpha or p == alpha):
            return f"p = {shown:.{digits}f}"
    return f"p < {_number(alpha)}" if p < alpha else f"p = {p:.4f}"


def _join(names: Sequence[str]) -> str:
    """ "RG", "RG and B", "RG, RB and B"."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _images(tests: Sequence[PairedTest]) -> str:
    """ "the same 2,400 test images" (or a range if the tests were run on different counts)."""
    counts = sorted({t.n for t in tests})
    if len(counts) == 1:
        return f"the same {counts[0]:,} test image{'s' if counts[0] != 1 else ''}"
    return f"the same test images ({counts[0]:,} to {counts[-1]:,} per subset)"


def _holm_note(tests: Sequence[PairedTest]) -> str:
    """ "" for uncorrected tests, "Holm-corrected over 6 tests" for a corrected family."""
    families = sorted({t.family for t in tests})
    if families == [1]:
        return ""
    if len(families) != 1:
        raise ValueError(f"tests of one sentence must share one Holm family, got sizes {families}")
    return f"Holm-corrected over {families[0]} tests"


def _spread_text(seed_spread: float) -> str:
    return f"the {100 * seed_spread:.1f}-point spread between seeds"


def _describe_one(t: PairedTest, a: str, b: str, seed_spread: float | None,
                  alpha: float) -> str:
    """The sentence for a single comparison (one subset)."""
    where = f"On {t.subset}, " if t.subset else ""
    images = f"{t.n:,} test image{'s' if t.n != 1 else ''}"
    holm = f" Holm-corrected over {t.family} tests," if t.corrected else ""
    test = f"McNemar's exact test,{holm} {_p_text(t.p_value, alpha)}, {images}"
    d = t.difference
    if abs(d) <= _TIE:
        return (f"{where}*{a}* and *{b}* are equally accurate (both {_percent(t.accuracy_a)}), "
                f"within noise ({test}).")
    if not t.significant(alpha):
        return (f"{where}*{a}* ({_percent(t.accuracy_a)}) and *{b}* ({_percent(t.accuracy_b)}) "
                f"differ by {_points(d)}, within noise ({test}).")
    direction = "more" if d > 0 else "less"
    head = (f"{where}*{a}* ({_percent(t.accuracy_a)}) is {direction} accurate than *{b}* "
            f"({_percent(t.accuracy_b)}) by {_points(d)}")
    if seed_spread is None:
        return f"{head}, a significant difference ({test})."
    if abs(d) > seed_spread:
        return (f"{head}, a significant difference ({test}) and larger than "
                f"{_spread_text(seed_spread)}.")
    return (f"{head}, significant ({test}) but no larger than {_spread_text(seed_spread)}, so "
            f"it is not called a difference.")


def _direction_sentence(tests: Sequence[PairedTest], names: Sequence[str], a: str,
                        b: str) -> str:
    """First sentence for several subsets: who is more accurate where, and by how much."""
    k = len(tests)
    diffs = [t.difference for t in tests]
    better = [name for name, d in zip(names, diffs, strict=True) if d > _TIE]
    worse = [name for name, d in zip(names, diffs, strict=True) if d < -_TIE]
    tied = [name for name, d in zip(names, diffs, strict=True) if abs(d) <= _TIE]
    every = "both subsets" if k == 2 else f"all {k} subsets"
    if len(tied) == k:
        return (f"*{a}* and *{b}* are equally accurate on {every} ({_images(tests)}), so there "
                f"is no difference to test.")
    mean = float(np.mean(diffs))
    if len(better) == k or len(worse) == k:
        direction = "more" if better else "less"
        sizes = sorted(abs(d) for d in diffs)
        low, high = f"{100 * sizes[0]:.1f}", f"{100 * sizes[-1]:.1f}"
        if high == "0.0":
            spread = ""
        elif low == high:
            spread = " (the same on each)"
        else:
            spread = f" (from {low} to {high})"
        return (f"*{a}* is {direction} accurate than *{b}* on {every}, by {_points(mean)} on "
                f"average{spread}.")
    # Mixed: list each group with its subsets.
    parts = []
    first = True
    for label, group in (("more accurate", better), ("less accurate", worse),
                         ("equally accurate", tied)):
        if not group:
            continue
        count = f"{len(group)} of {k} subsets" if first else f"{len(group)}"
        parts.append(f"{label}{' than *' + b + '*' if first else ''} on {count} "
                     f"({', '.join(group)})")
        first = False
    if abs(mean) <= _TIE:
        average = "on average the two are equally accurate"
    elif abs(mean) * 100 < 0.05:
        average = "on average they differ by less than 0.1 points"
    else:
        average = (f"on average *{a}* is {_points(mean)} "
                   f"{'more' if mean > 0 else 'less'} accurate")
    return f"*{a}* is {_join(parts)}; {average}."


def _significance_sentences(tests: Sequence[PairedTest], names: Sequence[str],
                            seed_spread: float | None, alpha: float) -> str:
    """Second (and, with a seed spread, third) sentence: which differences are beyond noise."""
    k = len(tests)
    level = f"p < {_number(alpha)}"
    significant = [name for name, t in zip(names, tests, strict=True) if t.significant(alpha)]
    noise = [name for name, t in zip(names, tests, strict=True) if not t.significant(alpha)]
    holm = _holm_note(tests)
    lead = f"McNemar's exact test on {_images(tests)}" + (f", {holm}," if holm else "")
    if not significant:
        which = "either" if k == 2 else "any"
        return (f"{lead} finds no difference significant at {level} on {which} subset: "
                f"{'both are' if k == 2 else f'all {k} are'} within noise.")
    if not noise:
        every = "both subsets" if k == 2 else f"all {k} subsets"
        text = f"{lead} finds the difference significant ({level}) on {every}."
    else:
        verb = "it is" if len(noise) == 1 else "the differences are"
        text = (f"{lead} finds the difference significant ({level}) on {len(significant)} of "
                f"{k} subsets ({', '.join(significant)}); on {_join(noise)} {verb} within "
                f"noise.")
    if seed_spread is None:
        return text
    by_name = dict(zip(names, tests, strict=True))
    real = [name for name in significant if abs(by_name[name].difference) > seed_spread]
    small = [name for name in significant if name not in real]
    spread = _spread_text(seed_spread)
    if not small:
        if len(significant) == 1:
            return (f"{text} The difference on {significant[0]} is also larger than {spread}, "
                    f"so it counts as a difference.")
        subject = "Both" if len(significant) == 2 else f"All {len(significant)}"
        return (f"{text} {subject} significant differences are also larger than {spread}, so "
                f"they count as differences.")
    if not real:
        if len(small) == 1:
            return (f"{text} But the difference on {small[0]} is no larger than {spread}, so "
                    f"it is not called a difference.")
        return (f"{text} But none of the significant differences is larger than {spread}, so "
                f"none is called a difference.")
    real_text = (f"the difference on {real[0]} is" if len(real) == 1
                 else f"the differences on {_join(real)} are")
    small_text = (f"the one on {small[0]} is not, so it is not called a difference"
                  if len(small) == 1
                  else f"those on {_join(small)} are not, so they are not called differences")
    return f"{text} Of these, only {real_text} also larger than {spread}; {small_text}."


def describe_comparison(tests: Sequence[PairedTest], a: str, b: str, *,
                        seed_spread: float | None = None, alpha: float = ALPHA) -> str:
    """English (Markdown) summary of model ``a`` against model ``b`` over one or more subsets.

    ``tests`` are :func:`paired_test` results with ``a`` as model A, one per subset. A
    difference is called a difference only when McNemar's test finds it significant at
    ``alpha`` and, if ``seed_spread`` (max - min accuracy over seeds, as a fraction, e.g.
    0.021) is given, it is also larger than that spread; otherwise it is "within noise".
    Differences are reported in percentage points; model names are set in italics.
    """
    tests = list(tests)
    if not tests:
        raise ValueError("describe_comparison needs at least one PairedTest")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be between 0 and 1 (e.g. 0.05), got {alpha!r}")
    if seed_spread is not None and (not math.isfinite(seed_spread) or seed_spread < 0):
        raise ValueError(f"seed_spread must be a non-negative accuracy difference (e.g. 0.021), "
                         f"got {seed_spread!r}")
    if len(tests) == 1:
        return _describe_one(tests[0], a, b, seed_spread, alpha)
    names = [t.subset or f"comparison {i + 1}" for i, t in enumerate(tests)]
    if len(set(names)) != len(names):
        raise ValueError(f"each PairedTest needs its own subset name, got {names}")
    if all(abs(t.difference) <= _TIE for t in tests):
        return _direction_sentence(tests, names, a, b)
    return (f"{_direction_sentence(tests, names, a, b)} "
            f"{_significance_sentences(tests, names, seed_spread, alpha)}")


def comparison_sentence(a: Record, b: Record, *, subsets: Sequence[str] | None = None,
                        seed_spread: float | None = None) -> str:
    """One English sentence comparing ``a`` with ``b`` on ``subsets`` (default: every shared
    subset), backed by McNemar's exact test on the same test images."""
    return comparison_sentences([(a, b)], subsets=subsets, seed_spread=seed_spread)[0]


def comparison_sentences(pairs: Sequence[tuple[Record, Record]], *,
                         subsets: Sequence[str] | None = None,
                         seed_spread: float | None = None) -> list[str]:
    """:func:`comparison_sentence` for each ``(a, b)`` of ``pairs``, the paired tests of all of
    them (every pair, every shared subset) Holm-corrected as ONE family: the family a chapter
    cell tests. A single test is left uncorrected."""
    tests = [paired_tests(a, b, subsets) for a, b in pairs]
    sizes = [len(t) for t in tests]
    flat = holm_family([t for group in tests for t in group])
    sentences = []
    for (a, b), size in zip(pairs, sizes, strict=True):
        group, flat = flat[:size], flat[size:]
        sentences.append(describe_comparison(group, a.label, b.label, seed_spread=seed_spread)
                         if group else f"*{a.label}* and *{b.label}* share no tested subset.")
    return sentences


# What each of v5's ideas is worth (chapter 10): {idea: (experiment with it, without it)}.
V5_IDEAS: Mapping[str, tuple[str, str]] = {
    "the identity embedding": ("v5", "v5-no-identity"),
    "dropping missing channels instead of zero-filling them": ("v5", "v5-zero-fill"),
    "hierarchical sampling instead of v4's": ("v5", "v5-v4-sampling"),
    "drawing the subset per image instead of per batch": ("v5", "v5-batch-sampling"),
}
# What training with missing channels is worth, under the two sampling rules of the book
# (chapters 6 and 10): v4's dropping for v2's count-only layer, and Part III's hierarchical
# sampling (with the 3/n rescaling of control (b)) for a plain ResNet18.
SAMPLING_EFFECTS: Mapping[str, tuple[str, str]] = {
    "v4's dropping, for v2's layer": ("v4-sample", "v2"),
    "hierarchical sampling per image, for a plain ResNet18": ("resnet18-sampled", "resnet18"),
}
# Second losses tried on top of v5 (dynconv.models.auxiliary, .diverse, .codistill), each
# against v5 itself.
V5_SECOND_LOSSES: Mapping[str, tuple[str, str]] = {
    "in-place distillation from its own prediction on all channels": ("v5-distill", "v5"),
    "the same distillation with the labels kept": ("v5-distill-plus-labels", "v5"),
    "reconstructing the dropped channels": ("v5-reconstruct", "v5"),
    "distillation from an RGB ResNet18 trained beside it": ("v5-rgb-teacher", "v5"),
    "keeping the channels' features and embeddings apart (DiChaViT)": ("v5-diverse", "v5"),
}
# Chapter 10's closing: v5's ideas, the second losses tried on it, and what hierarchical
# sampling alone gives a plain network.
PART3_EFFECTS: Mapping[str, tuple[str, str]] = {
    **V5_IDEAS,
    **V5_SECOND_LOSSES,
    "hierarchical sampling per image, for a plain ResNet18":
        SAMPLING_EFFECTS["hierarchical sampling per image, for a plain ResNet18"],
}


def effects_sentence(effects: Mapping[str, tuple[Record, Record]], *,
                     subsets: Sequence[str] = INCOMPLETE_SUBSETS, alpha: float = ALPHA) -> str:
    """What each idea is worth, measured: ``effects`` maps an idea to ``(with it, without it)``,
    two records tested on the same images. Per idea, the mean accuracy gained on ``subsets``
    and on how many of them McNemar's exact test finds the difference, every test of every
    idea Holm-corrected as one family."""
    if not effects:
        raise ValueError("effects_sentence needs at least one (with, without) pair")
    pairs = list(effects.values())
    tests = [paired_tests(a, b, subsets) for a, b in pairs]
    flat = holm_family([t for group in tests for t in group])
    parts = []
    for idea, (a, b), group in zip(effects, pairs, tests, strict=True):
        group, flat = flat[:len(group)], flat[len(group):]
        if not group:
            raise ValueError(f"{a.label} and {b.label} share none of the subsets {subsets}")
        mean = float(np.mean([t.difference for t in group]))
        found = [t for t in group if t.significant(alpha)]
        up = sum(t.difference > 0 for t in found)
        down = len(found) - up
        change = ("changes the mean accuracy by less than 0.1 points" if abs(mean) * 100 < 0.05
                  else f"{'gains' if mean > 0 else 'loses'} {_points(mean)} on average")
        where = (f"significant on none of the {len(group)} subsets" if not found else
                 f"significant on {len(found)} of {len(group)} subsets"
                 + (f" ({up} in its favour, {down} against)" if up and down else ""))
        parts.append(f"{idea} (*{a.label}* against *{b.label}*) {change}, {where}")
    total = sum(len(group) for group in tests)
    holm = f", Holm-corrected over all {total} tests" if total > 1 else ""
    return (f"Measured on {len(subsets)} subsets ({', '.join(subsets)}) of the same test "
            f"images, one seed of each (McNemar's exact test at {_number(alpha)}{holm}): "
            + "; ".join(parts) + ".")


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


def spread_sentence(spreads: Mapping[str, float], *, what: str = "any subset") -> str:
    """The seeds' spreads, and the rule this book compares by: a gap counts as a difference
    only when McNemar's test finds it and it is larger than the largest spread."""
    listed = "; ".join(f"*{get_experiment(n).label if n in EXPERIMENTS else n}* "
                       f"{100 * s:.1f} points" for n, s in spreads.items())
    return (f"Largest max-min range of an accuracy over seeds, {what}: {listed}. A gap is "
            f"called a difference only when McNemar's test finds it and it is larger than "
            f"{100 * max(spreads.values()):.1f} points.")


def subset_gain_sentence(control: Record, trained: Mapping[str, Record]) -> str:
    """How many points a network trained on each subset alone gains over the zero-filled
    control (smallest and largest gain, with their subsets)."""
    gain = {s: r.test[s] - control.test[s] for s, r in trained.items()}
    low, high = min(gain, key=gain.get), max(gain, key=gain.get)
    return (f"Trained on the subset alone, a ResNet18 gains from {100 * gain[low]:.1f} ({low}) "
            f"to {100 * gain[high]:.1f} points ({high}) over the zero-filled control.")


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


def best_repeated_sentence(records: Mapping[str, Record], candidates: Sequence[str],
                           repeated: str) -> str:
    """:func:`best_on_subsets_sentence`, and whether the best is ``repeated`` (the candidate
    trained with several seeds)."""
    best, _ = best_on_subsets(records, candidates)
    return best_on_subsets_sentence(records, candidates) + " " + (
        "It is the one repeated over seeds." if best == repeated else
        f"The one repeated over seeds is *{repeated}*, so this run's best was not repeated; "
        f"the paired test below compares the two.")


def subset_costs_sentences(record: Record) -> str:
    """A Markdown list: per incomplete subset, what it costs against RGB, each backed by
    McNemar's exact test on the same test images."""
    tests = holm_family([paired_test(record.correct("RGB"), record.correct(s))
                         for s in SUBSET_NAMES[1:] if s in record.test])
    subsets = [s for s in SUBSET_NAMES[1:] if s in record.test]
    lines = [describe_comparison([t], "RGB", s) for t, s in zip(tests, subsets, strict=True)]
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
    loaded = all(origin_word(r.origin) == "loaded" for r in unique)
    return (f"{len(walls)} records, trained between {created[0]} and {created[-1]} UTC on "
            f"{', '.join(machines)}, {min(walls):.0f} to {max(walls):.0f} s each "
            f"({sum(walls) / 60:.0f} min in all); "
            + ("all loaded by this build, their keys matching." if loaded else
               "some trained by this build (see the table)."))


def part2_budget_sentence(profile: str) -> str:
    """How long Part II's three networks train under ``profile``, against Part I."""
    from_registry = get_experiment("resnet34")
    cfg, part1 = from_registry.config(profile), get_config(profile)
    listed = "; ".join(f"`{name}`: " + ", ".join(f"{k}={v}" for k, v in fields.items())
                       for name, fields in from_registry.profile_overrides.items())
    return (f"Under profile `{profile}` the {len(PART2)} Part II experiments train with batch "
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
    """Chapter 11's fourth conclusion, from the reported numbers and this book's counts."""
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


def bench_origin_line(result: pd.DataFrame) -> str:
    """Where a benchmark result came from: loaded or measured, device, CPU, threads, torch,
    wall time (:func:`dynconv.bench.benchmark.cached_benchmark`)."""
    attrs = result.attrs
    return (f"{attrs['origin']}: {attrs['device']}, {attrs['hardware']['cpu']}, "
            f"{attrs['threads']} threads, torch {attrs['torch']}, "
            f"{attrs['wall_time_s'] / 60:.1f} min")


def reported_range_sentence(model: str, subsets: Sequence[str]) -> str:
    """What the original study reported for ``model`` on ``subsets``: its lowest and highest
    accuracy (:func:`dynconv.book.reported.part1_subset_accuracy`)."""
    values = part1_subset_accuracy().loc[model, list(subsets)]
    return (f"The original study reported {model} at {values.min():.2f}% to "
            f"{values.max():.2f}% on the {len(subsets)} incomplete subsets "
            f"({REPORTED_TEST_IMAGES} test images; chance 2% for its 50 classes).")


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
    """Chapter 9's reading of the trained first block (:func:`dynconv.experiments.inspection.
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
        f"validated on {validated}, the validation curve {record.convergence.text}; "
        f"test accuracy on {subset} **{interval_text(acc, lo, hi)}** on {record.num_test:,} "
        f"test images (95% Wilson interval; chance {100 * chance:.1f}%). Training and evaluation "
        f"took {record.wall_time_s:.0f} s on {device} (profile `{record.profile}`, data "
        f"{record.data['name']}, {record.data['sizes']['train']:,} training images); {when}."
    )


# The two sets of oracles of chapter 10, as worst_sentence names them.
AGAINST_LONG = "the oracles trained as long (means over their seeds)"
AGAINST_PROFILE = "the oracles of the profile's budget"


def worst_sentence(table: pd.DataFrame, *, against: str = "the oracle") -> str:
    """Every model's worst-subset ratio, highest first, in one sentence (``against`` names
    the oracles when a page has two sets of them)."""
    matrix = ratio_matrix(table).drop(index=ORACLE, errors="ignore")
    order = matrix.min(axis=1).sort_values(ascending=False).index
    parts = [f"*{label_of(m)}* {matrix.loc[m].min():.2f} ({matrix.loc[m].idxmin()})"
             for m in order]
    return (f"Worst-subset ratio to {against} (accuracy / oracle accuracy on the subset where "
            "the model falls furthest behind), highest first: " + "; ".join(parts) + ".")


def verdict_sentence(table: pd.DataFrame, seeded: Mapping[str, Sequence[Record]],
                     oracles: Mapping[str, Record], candidate: str = "v5") -> str:
    """Who has the highest worst-subset ratio, and the candidate's worst ratio seed by seed."""
    worst = worst_ratio(table).drop(ORACLE, errors="ignore")
    best = worst.index[0]
    owner = (f"{label_of(candidate)} itself" if best == candidate else
             f"*{label_of(best)}* ({worst[best]:.2f}; {label_of(candidate)}'s is "
             f"{worst[candidate]:.2f})")
    text = (f"In this run the highest worst-subset ratio to the oracles (the mean over seeds "
            f"where a model has several) belongs to {owner}.")
    if candidate in seeded:
        row = seed_ratio_table({candidate: seeded[candidate]}, oracles).loc[candidate]
        text += (f" {label_of(candidate)}'s seeds give {row['per seed (worst ratio)']} (mean "
                 f"{row['worst ratio, mean']:.2f}).")
    return text


def convergence_sentence(records: Mapping[str, Record]) -> str:
    """Which of ``records`` (label -> record) had levelled off by the book's rule
    (:mod:`dynconv.experiments.convergence`), and which were still rising at their end."""
    verdicts = {label: record.convergence for label, record in records.items()}
    rising = {label: c for label, c in verdicts.items() if not c.levelled}
    levelled = [label for label in verdicts if label not in rising]
    rule = (f"By the book's convergence rule (the last {next(iter(verdicts.values())).window} "
            f"epochs raised the best validation accuracy by no more than its noise, one "
            f"standard error)")
    if not rising:
        return f"{rule}, every run here had levelled off: {_join(levelled)}."
    ends = _join([f"{label} (+{_points(c.gain)} against ±{100 * c.tolerance:.1f})"
                  for label, c in rising.items()])
    were = "was" if len(rising) == 1 else "were"
    head = (f"{rule}, {len(rising)} of the {len(verdicts)} runs here {were} still rising at "
            f"their end: {ends}")
    tail = f"; {_join(levelled)} had levelled off" if levelled else ""
    return (f"{head}{tail}. A comparison with a run that was still rising measures the budget "
            f"as much as the model.")


def _reached(ratios: pd.Series, fraction: float) -> str:
    """"at least 0.98 of the oracle on every subset", or the subsets of ``ratios`` (subset ->
    ratio to the oracle) below ``fraction``."""
    below = [s for s, r in ratios.items() if r < fraction]
    return (f"at least {fraction:.2f} of the oracle on every subset" if not below else
            f"below {fraction:.2f} of the oracle on {_join(below)}")


def budget_sentence(table: pd.DataFrame, *, short: str = "v5", long: str = "v5-long",
                    fraction: float = 0.98) -> str:
    """What three times the epochs did to ``short``'s ratios to the oracles (means over the
    seeds of each, from a :func:`dynconv.book.robustness.robustness_table`)."""
    matrix = ratio_matrix(table)
    worst = worst_ratio(table)
    reached = _reached(matrix.loc[long], fraction)
    return (f"With three times the epochs, the worst-subset ratio of {label_of(short)} goes "
            f"from {worst[short]:.3f} ({matrix.loc[short].idxmin()}) to {worst[long]:.3f} "
            f"({matrix.loc[long].idxmin()}), mean of the seeds of each: {label_of(long)} is "
            f"{reached}. Its ratios, subset by subset: "
            + ", ".join(f"{s} {matrix.loc[long, s]:.3f}" for s in matrix.columns) + ".")


def equal_budget_sentence(at_profile: pd.DataFrame, at_long: pd.DataFrame, *,
                          candidate: str = "v5-long", fraction: float = 0.98) -> str:
    """``candidate`` against the oracles of the profile's budget (``at_profile``) and against
    oracles trained as long as it (``at_long``), both :func:`robustness_table` s: what the
    longer budget gave the oracles, and the candidate's worst ratio against each."""
    def oracle_accuracy(table: pd.DataFrame) -> pd.Series:
        return ratio_matrix(table, "accuracy").loc[ORACLE]

    gains = 100 * (oracle_accuracy(at_long) - oracle_accuracy(at_profile)).dropna()
    matrix, long_matrix = ratio_matrix(at_profile), ratio_matrix(at_long)
    reached = _reached(long_matrix.loc[candidate], fraction)
    name = label_of(candidate)
    lowered = ("" if gains.mean() >= 0 else
               " On average the longer budget lowered them: on this data a run that the "
               "convergence rule found still rising after the profile's epochs did not gain "
               "from one longer schedule (what the rule cannot see: "
               "`dynconv.experiments.convergence`).")
    return (f"Trained as long as *{name}*, the {len(gains)} oracles changed by "
            f"{gains.mean():+.1f} points on average on their own subsets (from "
            f"{gains.min():+.1f} on {gains.idxmin()} to {gains.max():+.1f} on "
            f"{gains.idxmax()}).{lowered} Against them *{name}*'s worst-subset ratio is "
            f"{long_matrix.loc[candidate].min():.3f} ({long_matrix.loc[candidate].idxmin()}), "
            f"against {matrix.loc[candidate].min():.3f} ({matrix.loc[candidate].idxmin()}) "
            f"against the oracles of the profile's budget: with the same budget for both it is "
            f"{reached}. Its ratios, subset by subset: "
            + ", ".join(f"{s} {long_matrix.loc[candidate, s]:.3f}"
                        for s in long_matrix.columns) + ".")


def compact_cost_sentence(costs: pd.DataFrame) -> str:
    """Chapter 9's reading of :func:`flops_table` for this book's compact network."""
    compact, r34 = costs.loc["compact"], costs.loc["resnet34"]
    return (
        f"The compact network has **{compact['weight_layers']:.0f} weight layers** (its four "
        f"convolutions, the attention block's q, k, v and SE pair, the classifier) and "
        f"{compact['params_m']:.2f} million parameters, "
        f"{compact['params_m'] / r34['params_m']:.1%} of ResNet34's; counted with every "
        f"matrix product it costs {compact['counted_gflops']:.2f} GFLOPs per 84 px image, "
        f"{compact['counted_gflops'] / r34['counted_gflops']:.2f} times ResNet34's.")


def size_check_sentence(runs: Mapping[str, Sequence[Record]], deep: str, shallow: str) -> str:
    """Whether the deeper reference (``deep``, a label of ``runs``: label -> seeds' records) is
    at least as good as the shallower network (``shallow``) at this image size, by the means
    over their seeds of the validation accuracy of the epoch each run kept, and of the RGB
    test accuracy: a comparison with ``deep`` is informative only where it is not below."""
    def mean(records: Sequence[Record], value) -> float:
        return float(np.mean([value(r) for r in records]))

    def kept_val(r: Record) -> float:
        return r.history[r.best_epoch - 1]["val_acc"]

    def test(r: Record) -> float:
        return r.test["RGB"]

    val = {name: mean(runs[name], kept_val) for name in (deep, shallow)}
    tested = {name: mean(runs[name], test) for name in (deep, shallow)}
    seeds = min(len(runs[deep]), len(runs[shallow]))
    not_below = {what: d[deep] >= d[shallow] for what, d in (("validation", val),
                                                              ("test", tested))}
    if all(not_below.values()):
        verdict = f"{deep} is not below {shallow}, on validation and on test"
    elif not any(not_below.values()):
        verdict = (f"{deep} is below {shallow}, on validation and on test: at this size a "
                   f"comparison with {deep} says little about the smaller network")
    else:
        on = "validation" if not_below["validation"] else "test"
        verdict = f"{deep} is not below {shallow} on {on} only: the check is not clear-cut"
    return (f"The check of the image size (means over {seeds} seeds, RGB): validation accuracy "
            f"of the epoch each run kept {_percent(val[deep])} for {deep} against "
            f"{_percent(val[shallow])} for {shallow}; test accuracy {_percent(tested[deep])} "
            f"against {_percent(tested[shallow])}. So {verdict}.")


def validation_choice_sentence(records: Mapping[str, Record], chosen: str) -> str:
    """How a design repeated over seeds was chosen among ``records`` (label -> first-seed
    record): by its best validation accuracy, never by a test number; says so when the
    choice no longer matches the records."""
    best = {label: max(row["val_acc"] for row in r.history) for label, r in records.items()}
    order = sorted(best, key=best.get, reverse=True)
    ranking = ", ".join(f"{label} {100 * best[label]:.1f}%" for label in order)
    if order[0] == chosen:
        return (f"{chosen} is the design repeated over seeds because its best validation "
                f"accuracy (the mean over the seven subsets, on the validation images) is the "
                f"highest of the four in their first seed: {ranking}. No test number entered "
                f"the choice.")
    return (f"{chosen} is the design repeated over seeds, but by validation accuracy it is no "
            f"longer the best of the four ({ranking}): the choice should be made again.")


def design_check_sentence(records: Mapping[str, Record], chosen: str) -> str:
    """A design first chosen on test numbers (``chosen``, a label of ``records``: label ->
    first-seed record of the design and its variants), checked afterwards on validation:
    whether its best validation accuracy (the mean over the subsets validated) is still the
    highest of its variants, and which variant validation would have picked if not."""
    best = {label: max(row["val_acc"] for row in r.history) for label, r in records.items()}
    order = sorted(best, key=best.get, reverse=True)
    ranking = ", ".join(f"{label} {100 * best[label]:.1f}%" for label in order)
    if order[0] == chosen:
        return (f"Checked on validation: {chosen} also has the highest best validation "
                f"accuracy of the {len(records)} variants ({ranking}), so validation alone "
                f"would have made the same choice.")
    return (f"Checked on validation: {order[0]}, not {chosen}, has the highest best validation "
            f"accuracy of the {len(records)} variants ({ranking}): on held-out data alone the "
            f"choice would have been {order[0]}.")


def selection_sentence(records: Mapping[str, Record]) -> str:
    """Which epoch validation chose for each of ``records`` (label -> record), and what that
    choice cost in validation accuracy when it was not the last epoch (a validation loss that
    rises while the accuracy still climbs: the model grows over-confident)."""
    early = {}
    for label, r in records.items():
        if r.best_epoch < r.epochs_run:
            at_best = r.history[r.best_epoch - 1]["val_acc"]
            later = max(row["val_acc"] for row in r.history[r.best_epoch:])
            early[label] = (r, at_best, later)
    if not early:
        return f"Validation chose the last epoch of every run here ({_join(list(records))})."
    parts = [f"{label}, seed {r.seed}: epoch {r.best_epoch} of {r.epochs_run} by {r.monitor} "
             f"(validation accuracy {_percent(at_best)} there, up to {_percent(later)} later)"
             for label, (r, at_best, later) in early.items()]
    return ("Validation chose an earlier epoch than the last for " + "; ".join(parts)
            + ". The model kept is the one of that epoch, as the rule of every run says.")
