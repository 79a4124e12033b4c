"""The book's conclusions, Parts I to III, each computed from the records of both datasets.

The closing chapter (11) states one conclusion per part of the study and one on the question
the parts answer differently: does the best first layer for missing channels depend on the
data? Every conclusion is a sentence computed here from stored records, once for the built-in
shapes (the chapter's own records) and once for the real photos that ship with the book
(:mod:`dynconv.book.realphotos`), so no sentence can outlive the numbers it states.

A *source* is anything with the record-loading methods of
:class:`dynconv.book.chapter.Chapter`: ``run(name)``, ``seeds(name)``, ``records(*names)``
and ``identity`` (the dataset). :class:`dynconv.book.realphotos.RealPhotos` is one too.

The comparison rule is the book's (chapter 7): a gap counts as a difference only when
McNemar's exact test on the same test images finds it at 5%, Holm-corrected over the subsets
of that comparison, *and* it is larger than the seed-to-seed spread of the experiments
repeated over seeds.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import numpy as np
import pandas as pd
from IPython.display import Markdown, display

from dynconv.book import realphotos, robustness, sentences, tables
from dynconv.channels import INCOMPLETE_SUBSETS, SUBSET_NAMES
from dynconv.experiments.records import Record, paired_tests
from dynconv.experiments.registry import (
    BEST_PUBLISHED,
    DISTILL_LONG,
    DYNAMIC_LAYERS,
    PART1,
    PART1_LONG,
    PART2,
    PART2_32PX,
    PART3,
    SUBSET_TRAINED,
    SUBSET_TRAINED_LONG,
    label,
)
from dynconv.stats import ALPHA, holm_family

__all__ = ["Source", "data_dependence", "data_dependence_sentence", "gap_counts",
           "gap_text", "layers_by_data", "layers_by_data_sentence", "part1", "part1_budget",
           "part1_budget_sentence", "part1_budget_table", "part1_budgets", "part1_sentence",
           "part2", "part2_sentence", "part3", "part3_sentence", "show"]


class Source(Protocol):
    """Where a conclusion's records come from (a chapter, or the shipped real photos)."""

    identity: Any

    def run(self, name: str) -> Record: ...

    def seeds(self, name: str) -> list[Record]: ...

    def records(self, *names: str) -> dict[str, Record]: ...


def gap_counts(a: Record, b: Record, subsets: Sequence[str], seed_spread: float,
               alpha: float = ALPHA) -> tuple[list[str], list[str]]:
    """The subsets (of ``subsets`` both were tested on) where ``a`` beats ``b`` and where it
    falls behind by the book's rule: McNemar's exact test at ``alpha``, Holm-corrected over the
    subsets of this one comparison (:func:`dynconv.stats.holm_family`), and a gap larger than
    ``seed_spread``."""
    better, worse = [], []
    for test in holm_family(paired_tests(a, b, subsets)):
        if test.p_value < alpha and abs(test.difference) > seed_spread:
            (better if test.difference > 0 else worse).append(test.subset)
    return better, worse


def gap_text(better: Sequence[str], worse: Sequence[str], tested: int) -> str:
    """"ahead on 2 (R, G) and behind on none of 6 subsets" (see :func:`gap_counts`)."""
    def part(names: Sequence[str]) -> str:
        return f"{len(names)} ({', '.join(names)})" if names else "none"
    return f"ahead on {part(better)} and behind on {part(worse)} of {tested} subsets"


# ----------------------------------------------------------------------------- Part I


def part1_sentence(dataset: str, records: Mapping[str, Record], spread: float) -> str:
    """Part I on one dataset: the best dynamic layer on the incomplete subsets, and each
    dynamic layer against the zero-fill control there (``records``: label -> record of
    :data:`PART1`; ``spread``: the largest seed spread on those subsets)."""
    dynamic = [label(n) for n in DYNAMIC_LAYERS]
    best, value = tables.best_on_subsets(records, dynamic, INCOMPLETE_SUBSETS)
    control = records[label("resnet18")]
    verdicts, ahead = [], []
    for name in dynamic:
        record = records[name]
        tested = [s for s in INCOMPLETE_SUBSETS if s in record.test]
        if not tested:
            continue  # v1 serves RGB only
        better, worse = gap_counts(record, control, tested, spread)
        verdicts.append(f"*{name}* {gap_text(better, worse, len(tested))}")
        if len(better) > len(worse):
            ahead.append(name)
    summary = (f"{len(ahead)} of {len(verdicts)} dynamic layers beat the control on more "
               f"incomplete subsets than they lose ({', '.join(ahead) or 'none'})")
    return (f"**Part I, {dataset}.** The best dynamic layer on the {len(INCOMPLETE_SUBSETS)} "
            f"incomplete subsets is **{best}** ({value:.1%} on average). Against the "
            f"zero-fill control (a difference only when McNemar's test, Holm-corrected over "
            f"the subsets compared, finds it and it is larger than {100 * spread:.1f} points, "
            f"the seed spread): "
            + "; ".join(verdicts) + f". So {summary}.")


def _part1_spread(source: Source) -> float:
    """The largest seed spread on the incomplete subsets of Part I's two repeated
    experiments (the control and v4 per sample, three seeds each)."""
    spreads = tables.seed_spreads({n: source.seeds(n) for n in ("resnet18", "v4-sample")},
                                  INCOMPLETE_SUBSETS)
    return max(spreads.values())


def part1(source: Source) -> str:
    """:func:`part1_sentence` from ``source``'s records."""
    return part1_sentence(source.identity.name, source.records(*PART1), _part1_spread(source))


# Part I's experiments at three times the budget, by the name of the same one at the profile's
_AT_3X = dict(zip(PART1, PART1_LONG, strict=True))
_BUDGETS = ("profile's budget", "3x budget")


def _verdict(record: Record, control: Record, spread: float) -> str:
    tested = [s for s in INCOMPLETE_SUBSETS if s in record.test]
    if not tested:
        return "RGB only"
    return gap_text(*gap_counts(record, control, tested, spread), len(tested))


def part1_budget_table(short: Mapping[str, Record], long: Mapping[str, Record],
                       spread: float) -> pd.DataFrame:
    """Part I at the profile's budget and at three times it, one row per experiment of
    :data:`PART1` (``short``: name -> record of PART1; ``long``: name -> record of
    :data:`PART1_LONG`): RGB accuracy and mean accuracy on the incomplete subsets at each
    budget, and each dynamic layer against the zero-fill control *of the same budget* by
    :func:`gap_counts` (``spread``: the seed spread at the profile's budget, the only one
    measured), with whether that verdict changed."""
    rows = {}
    control = {_BUDGETS[0]: short["resnet18"], _BUDGETS[1]: long[_AT_3X["resnet18"]]}
    for name in PART1:
        runs = {_BUDGETS[0]: short[name], _BUDGETS[1]: long[_AT_3X[name]]}
        row: dict[str, Any] = {}
        for budget, record in runs.items():
            row[f"RGB, {budget}"] = record.test["RGB"]
            tested = [s for s in INCOMPLETE_SUBSETS if s in record.test]
            row[f"incomplete mean, {budget}"] = (
                float(np.mean([record.test[s] for s in tested])) if tested else np.nan)
        for budget, record in runs.items():
            row[f"against the control, {budget}"] = (
                "" if name == "resnet18" else _verdict(record, control[budget], spread))
        verdicts = [row[f"against the control, {b}"] for b in _BUDGETS]
        compared = name != "resnet18" and verdicts[0] != "RGB only"  # v1: no verdict
        row["verdict changed"] = ("yes" if verdicts[0] != verdicts[1] else "no"
                                  ) if compared else ""
        rows[label(name)] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def part1_budget_sentence(dataset: str, table: pd.DataFrame, best: Mapping[str, str]) -> str:
    """What three times the budget changed in Part I on one dataset (``table``:
    :func:`part1_budget_table`; ``best``: budget -> label of the best dynamic layer on the
    incomplete subsets at that budget)."""
    before, after = (f"incomplete mean, {b}" for b in _BUDGETS)
    change = 100 * (table[after] - table[before]).dropna()
    control = label("resnet18")
    layers = change.drop(control)
    same = best[_BUDGETS[0]] == best[_BUDGETS[1]]
    winner = (f"the best dynamic layer there is **{best[_BUDGETS[1]]}** at both budgets"
              if same else f"the best dynamic layer there changes from "
              f"**{best[_BUDGETS[0]]}** to **{best[_BUDGETS[1]]}**")
    changed = table[table["verdict changed"] == "yes"]
    compared = int((table["verdict changed"] != "").sum())
    if changed.empty:
        verdicts = (f"none of the {compared} dynamic layers' verdicts against the zero-fill "
                    f"control changed")
    else:
        verdicts = "; ".join(
            f"*{name}* went from {row[f'against the control, {_BUDGETS[0]}']} to "
            f"{row[f'against the control, {_BUDGETS[1]}']}" for name, row in changed.iterrows())
        verdicts = (f"{len(changed)} of the {compared} dynamic layers' verdicts against the "
                    f"zero-fill control (each against the control of its own budget) changed: "
                    f"{verdicts}")
    return (f"**Part I at three times the budget, {dataset}.** Trained three times as long "
            f"(one seed each), the dynamic layers' mean accuracy on the "
            f"{len(INCOMPLETE_SUBSETS)} incomplete subsets moved by "
            f"{layers.min():+.1f} to {layers.max():+.1f} points, the control's by "
            f"{change[control]:+.1f}; {winner}; and {verdicts}.")


def part1_budgets(source: Source) -> pd.DataFrame:
    """:func:`part1_budget_table` from ``source``'s records."""
    short = {n: source.run(n) for n in PART1}
    long = {n: source.run(n) for n in PART1_LONG}
    return part1_budget_table(short, long, _part1_spread(source))


def _budget_sentence(source: Source, table: pd.DataFrame) -> str:
    dynamic = [label(n) for n in DYNAMIC_LAYERS]
    best = {b: table.loc[dynamic, f"incomplete mean, {b}"].idxmax() for b in _BUDGETS}
    return part1_budget_sentence(source.identity.name, table, best)


def part1_budget(source: Source) -> str:
    """:func:`part1_budget_sentence` from ``source``'s records."""
    return _budget_sentence(source, part1_budgets(source))


def _part1_budget_details(source: Source) -> str:
    """:func:`part1_budget` after its evidence on one dataset: the table it is computed from
    (computed once for both), and whether the runs trained three times as long had levelled
    off. A heading names the dataset first: the table of the second dataset would otherwise
    follow the first one's sentence with nothing to tell them apart."""
    table = part1_budgets(source)
    display(Markdown(f"**{source.identity.name}: Part I at both budgets**"))
    display(table.style.format(
        {f"{kind}, {b}": "{:.1%}" for kind in ("RGB", "incomplete mean") for b in _BUDGETS},
        na_rep="n/a"))
    display(Markdown(sentences.convergence_sentence(source.records(*PART1_LONG))))
    return _budget_sentence(source, table)


# ----------------------------------------------------------------------------- Part II


def part2_sentence(dataset: str, runs: Mapping[str, Sequence[Record]],
                   fraction: float = 0.9, *, reference: str | None = None) -> str:
    """Part II on one dataset: every small network's RGB accuracy as a fraction of the
    reference's (default ResNet34; means over the seeds each has; ``runs``: label -> records,
    the reference's among them), and which meet ``fraction``."""
    reference = label("resnet34") if reference is None else reference
    table = tables.seed_criterion_table(runs, reference=reference, fraction=fraction)
    column = f"fraction of {reference} (means)"
    small = table.drop(index=reference)
    parts = [f"*{name}* {row[column]:.2f} ({row['seeds']} seed{'s' * (row['seeds'] > 1)}, "
             f"per seed {row['per seed (fraction)']})" for name, row in small.iterrows()]
    meets = [n for n, row in small.iterrows() if row[column] >= fraction]
    verdict = (f"{', '.join(meets)} meet{'s' * (len(meets) == 1)} {fraction:.0%} of {reference}"
               if meets else f"none meets {fraction:.0%} of {reference}")
    return (f"**Part II, {dataset}.** RGB test accuracy as a fraction of {reference}'s (mean "
            f"of its {table.loc[reference, 'seeds']} seeds): " + "; ".join(parts)
            + f". By the means, {verdict}.")


def part2(source: Source) -> str:
    """:func:`part2_sentence` from ``source``'s records, at the profile's image size and at
    32 px (:data:`PART2_32PX`, with the check that ResNet34 is not below ResNet18 there)."""
    name = source.identity.name
    at_profile = part2_sentence(name, {label(n): source.seeds(n) for n in PART2})
    reference, plain, compact = (label(n) for n in PART2_32PX)
    seeded = {label(n): source.seeds(n) for n in PART2_32PX}
    at_32 = part2_sentence(f"{name} at 32 px", {n: seeded[n] for n in (reference, compact)},
                           reference=reference)
    return " ".join([at_profile, at_32, sentences.size_check_sentence(seeded, reference, plain)])


# ----------------------------------------------------------------------------- Part III


def _ratio_table(source: Source) -> tuple[Any, dict[str, list[Record]], dict[str, Record]]:
    oracles = {s: source.run(n) for s, n in SUBSET_TRAINED.items()}
    runs = {n: source.seeds(n) for n in PART3}
    return robustness.robustness_table(runs, oracles), runs, oracles


_LONG = "v5-long"  # v5 itself at three times the budget: not a rival, reported apart
_DISTILLED_LONG = DISTILL_LONG[0]  # in-place distillation at that budget


def _worst_at_budget(table: Any) -> Any:
    """Worst-subset ratio (means over seeds) of the models trained with the oracles' budget,
    highest first (the oracles and v5's 3x-budget run left out)."""
    worst = robustness.worst_ratio(table)
    return worst.drop([robustness.ORACLE, _LONG], errors="ignore")


def part3_sentence(dataset: str, table: Any, runs: Mapping[str, Sequence[Record]],
                   spread: float, long_table: Any = None, long_at_profile: Any = None) -> str:
    """Part III on one dataset: where v5's worst-subset ratio to the oracles ranks among the
    published designs and the controls at the same budget (means over seeds), v5 against the
    best published design and both controls subset by subset (first seeds, the book's rule
    with ``spread``), and what three times the epochs gave, against the oracles of the
    profile's budget and (``long_table``, a robustness table of v5-long, and of v5 with
    in-place distillation where it holds it, against the oracles trained as long) against
    oracles with the same budget; ``long_at_profile``, the same runs against the oracles of
    the profile's budget, says what the distilled run gives against those too."""
    worst = _worst_at_budget(table)
    rank = list(worst.index).index("v5") + 1
    ahead_of_v5 = ", ".join(robustness.label_of(n) for n in worst.index[:rank - 1])
    place = "the highest" if rank == 1 else f"number {rank}, behind {ahead_of_v5}"
    ratios = "; ".join(f"{robustness.label_of(n)} {worst[n]:.2f}" for n in worst.index)
    v5 = runs["v5"][0]
    gaps = []
    for rival in (BEST_PUBLISHED, "resnet18-sampled", "resnet18"):
        better, worse = gap_counts(v5, runs[rival][0], SUBSET_NAMES, spread)
        gaps.append(f"against *{label(rival)}* {gap_text(better, worse, len(SUBSET_NAMES))}")
    text = (f"**Part III, {dataset}.** At the oracles' budget, v5's worst-subset ratio to the "
            f"oracles is {place} of the {len(worst)} models serving every subset (means over "
            f"seeds: {ratios}). Subset by subset (first seeds; a difference only when "
            f"McNemar's test, Holm-corrected over the {len(SUBSET_NAMES)} subsets, finds it "
            f"and it is larger than {100 * spread:.1f} points), v5 "
            f"is " + "; ".join(gaps) + ".")
    if _LONG in set(table["model"]):
        long = robustness.worst_ratio(table)[_LONG]
        text += (f" With three times the epochs (*{label(_LONG)}*, not the oracles' budget) "
                 f"its worst-subset ratio is {long:.2f} against {worst['v5']:.2f}.")
    if long_table is not None:
        matrix = robustness.ratio_matrix(long_table)
        text += (f" Against oracles trained as long as it (means over their seeds) it is "
                 f"{matrix.loc[_LONG].min():.2f} ({matrix.loc[_LONG].idxmin()}).")
        if _DISTILLED_LONG in matrix.index:
            distilled = matrix.loc[_DISTILLED_LONG]
            text += (f" Trained as long with in-place distillation "
                     f"(*{label(_DISTILLED_LONG)}*, means over its seeds) it is "
                     f"{distilled.min():.2f} ({distilled.idxmin()})")
            if long_at_profile is not None:
                short = robustness.ratio_matrix(long_at_profile).loc[_DISTILLED_LONG]
                text += (f", and {short.min():.2f} ({short.idxmin()}) against the oracles of "
                         f"the profile's budget")
            text += "."
    return text


def part3(source: Source) -> str:
    """:func:`part3_sentence` from ``source``'s records."""
    table, runs, oracles = _ratio_table(source)
    spreads = tables.seed_spreads(robustness.seeded(runs))
    long_oracles = {s: source.seeds(n) for s, n in SUBSET_TRAINED_LONG.items()}  # all seeds
    long_runs = {n: source.seeds(n) for n in DISTILL_LONG}
    long_table = robustness.robustness_table(long_runs, long_oracles)
    long_at_profile = robustness.robustness_table(long_runs, oracles)
    return part3_sentence(source.identity.name, table, runs, max(spreads.values()), long_table,
                          long_at_profile)


# ----------------------------------------------------------------------------- the data


def layers_by_data_sentence(best_layer: Mapping[str, str]) -> str:
    """Whether the best Part I dynamic layer on the incomplete subsets (``best_layer``:
    dataset -> label) changes with the data."""
    listed = " and ".join(f"**{layer}** on {dataset}" for dataset, layer in best_layer.items())
    listed += ", each by its mean accuracy; the paired tests say how firmly"
    if len(set(best_layer.values())) > 1:
        return (f"Among Part I's layers the winner on the incomplete subsets changes with the "
                f"data ({listed}): their ranking is a property of the data as much as of the "
                f"layers.")
    return (f"Among Part I's layers the winner on the incomplete subsets is the same on both "
            f"datasets ({listed}): these records do not show it changing with the data.")


def _best_layer(source: Source) -> str:
    dynamic = [label(n) for n in DYNAMIC_LAYERS]
    return tables.best_on_subsets(source.records(*PART1), dynamic, INCOMPLETE_SUBSETS)[0]


def layers_by_data(*sources: Source) -> str:
    """:func:`layers_by_data_sentence` from each source's records."""
    return layers_by_data_sentence({s.identity.name: _best_layer(s) for s in sources})


def data_dependence_sentence(best_layer: Mapping[str, str], v5_rank: Mapping[str, int],
                             v5_ahead: Mapping[str, int], models: int) -> str:
    """The answer to "is the winning first layer a property of the data?" from three facts
    per dataset: the best Part I dynamic layer on the incomplete subsets (``best_layer``:
    dataset -> label), v5's rank by worst-subset ratio among the ``models`` serving every
    subset at the oracles' budget (``v5_rank``), and on how many of the seven subsets v5 is
    ahead of the best published design by the book's rule (``v5_ahead``)."""
    names = list(best_layer)
    part1_text = layers_by_data_sentence(best_layer)
    ranks = " and ".join(f"{'first' if v5_rank[d] == 1 else f'number {v5_rank[d]}'} on {d}"
                         for d in names)
    if all(r == 1 for r in v5_rank.values()):
        v5_text = (f"v5, measured on both, has the highest worst-subset ratio of the {models} "
                   f"models serving every subset at the same budget on each ({ranks}): its "
                   f"first place holds on both datasets.")
    else:
        v5_text = (f"v5, measured on both, ranks {ranks} by worst-subset ratio among the "
                   f"{models} models serving every subset at the same budget: its place "
                   f"depends on the data too.")
    firm = "; ".join(f"on {d} on {v5_ahead[d]} of {len(SUBSET_NAMES)} subsets" for d in names)
    return (f"{part1_text} {v5_text} How firmly: it is ahead of the best published design "
            f"({label(BEST_PUBLISHED)}) by the book's rule (McNemar's test and the seed "
            f"spread) {firm}; where that count is 0, the ranking is a point estimate that "
            f"the test images and seeds cannot confirm.")


def data_dependence(*sources: Source) -> str:
    """:func:`data_dependence_sentence` from each source's records."""
    best, ranks, ahead, models = {}, {}, {}, 0
    for source in sources:
        name = source.identity.name
        best[name] = _best_layer(source)
        table, runs, _ = _ratio_table(source)
        worst = _worst_at_budget(table)
        ranks[name], models = list(worst.index).index("v5") + 1, len(worst)
        spread = max(tables.seed_spreads(robustness.seeded(runs)).values())
        better, _ = gap_counts(runs["v5"][0], runs[BEST_PUBLISHED][0], SUBSET_NAMES, spread)
        ahead[name] = len(better)
    return data_dependence_sentence(best, ranks, ahead, models)


# ----------------------------------------------------------------------------- the page

_PARTS = {"part1": part1, "part1_budget": part1_budget, "part2": part2, "part3": part3}
# conclusions drawn from both datasets at once
_BOTH = {"layers": layers_by_data, "data": data_dependence}
# with ``details=True``: the conclusion's evidence shown, then its sentence returned
_DETAILS = {"part1_budget": _part1_budget_details}


def show(source: Source, conclusion: str, *, details: bool = False) -> None:
    """Display conclusion ``conclusion`` ("part1", "part1_budget" (Part I at three times the
    budget), "part2", "part3": one sentence per dataset;
    "layers" (Part I only, for chapter 7) or "data": one sentence from both) computed on
    ``source`` (the chapter's data) and on the shipped real photos, or say in one sentence
    why the real photos are not shown. ``details`` first shows, per dataset, the evidence
    behind the sentence where the conclusion has some (``"part1_budget"``: its table and
    the convergence of its runs)."""
    try:
        photos = realphotos.find()
    except realphotos.PhotosUnavailable as why:
        photos, missing = None, str(why)
    if conclusion in _BOTH:
        if photos is None:
            display(Markdown(f"*Not computed in this build: the real-photo records are not "
                             f"usable here ({missing}).*"))
            return
        display(Markdown(_BOTH[conclusion](source, photos)))
        return
    compute = _PARTS[conclusion]
    if details:
        compute = _DETAILS.get(conclusion, compute)
    for shown in (source, photos):
        if shown is None:
            display(Markdown(f"*On real photos: not shown in this build ({missing}).*"))
            continue
        display(Markdown(compute(shown)))
