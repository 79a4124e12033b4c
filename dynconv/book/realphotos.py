"""The book's second dataset, read from its shipped records: does a conclusion hold on real photos?

The built-in shapes (:mod:`dynconv.data.shapes`) give each colour channel its own information. In
real photos the three channels are strongly correlated, and several of the book's conclusions
change there. Chapters 02, 06, 07, 09, 10 and 11 therefore repeat their key comparison on
**mini-ImageNet-objects**: 5,000 real 84 px photos of 10 mini-ImageNet classes chosen for
varied colour (jellyfish, rock beauty, electric guitar, frying pan, parallel bars, slot
machine, wok, hotdog, orange, cliff), 4,000 for training and 500 each for validation and test,
in the original study's list format. ImageNet's terms do not allow the photos to ship with
the book, so what ships is the record of every experiment trained on them (``ci`` profile, in
``book/results/ci/`` beside the built-in data's; the data field names the dataset and its
fingerprint).

This module finds those records without the photos: the dataset's identity (name, image size,
fingerprint, one per image size) is read from the records themselves (:func:`shipped_identities`),
and each record is then
checked exactly as :func:`dynconv.experiments.runner.locate` checks one, against the key this code
would give it with that fingerprint (:func:`dynconv.experiments.runner.find_record`). A record
trained by older code is never shown: the section says which records are stale and how to retrain
them (``make records DATA_DIR=/path/to/mini-imagenet-objects``).

The ``*_section`` functions are the chapters' real-photo cells: each displays its tables and
sentences, computed from these records with the same functions the chapter uses on the
built-in data, and returns the records it used (for the provenance table).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown, display
from matplotlib.figure import Figure

from dynconv.book import plots, robustness, sentences, tables
from dynconv.channels import INCOMPLETE_SUBSETS, RGB, SUBSET_NAMES
from dynconv.config import get_config
from dynconv.data.datasets import DataIdentity
from dynconv.errors import DynconvError
from dynconv.experiments.posthoc import locate_adabn
from dynconv.experiments.records import Record
from dynconv.experiments.registry import (
    ADABN,
    BEST_PUBLISHED,
    DISTILL_LONG,
    DYNAMIC_LAYERS,
    EXPERIMENTS,
    IDENTITY_PAIR,
    PART1,
    PART2,
    PART2_32PX,
    PART3,
    SUBSET_TRAINED,
    SUBSET_TRAINED_LONG,
    V5_ABLATION,
    get_experiment,
    label,
)
from dynconv.experiments.runner import find_record
from dynconv.paths import resolve_results_dir, shown_path

__all__ = [
    "REAL_PHOTOS", "RECORDS_PROFILE", "PhotosUnavailable", "RealPhotos", "errata_section",
    "find", "part2_32px_section", "part2_section", "part3_section", "ranking_section",
    "shipped_identities", "shipped_identity", "v4_section", "zero_fill_section",
]

REAL_PHOTOS = "mini-imagenet-objects"
# the profile the real-photo records are trained under, whatever profile a chapter runs
RECORDS_PROFILE = "ci"


class PhotosUnavailable(DynconvError):
    """The real-photo records are missing, or some no longer match this code."""


def _data_fields(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text()).get("data")
    except (OSError, ValueError, AttributeError):
        return None


def shipped_identities(name: str = REAL_PHOTOS, *, profile: str = RECORDS_PROFILE,
                       results_dir: str | os.PathLike | None = None) -> dict[int, DataIdentity]:
    """{image size: identity} of dataset ``name`` as its records under ``<results>/<profile>``
    give it: one identity per image size its experiments were trained at (the fingerprint
    covers the image size, so the same photos at 16 and at 32 px have two).

    Raises :class:`PhotosUnavailable` when there is no record of it, or records of two
    versions of it at one image size (delete the older ones).
    """
    folder = resolve_results_dir(results_dir) / profile
    versions: dict[int, dict[str, dict]] = {}
    for path in sorted(folder.glob("*.json")):
        data = _data_fields(path)
        if data and data.get("name") == name:
            versions.setdefault(int(data["image_size"]), {}).setdefault(data["fingerprint"], data)
    if not versions:
        raise PhotosUnavailable(f"there is no record of {name} under {shown_path(folder)}")
    for size, found in versions.items():
        if len(found) > 1:
            listed = ", ".join(fp[:12] for fp in found)
            raise PhotosUnavailable(f"{shown_path(folder)} holds records of {len(found)} "
                                    f"versions of {name} at {size} px ({listed}); delete the "
                                    f"older ones")
    return {size: DataIdentity(name=name, root=Path(data.get("root", name)), image_size=size,
                               fingerprint=fingerprint)
            for size, found in sorted(versions.items()) for fingerprint, data in found.items()}


def shipped_identity(name: str = REAL_PHOTOS, *, profile: str = RECORDS_PROFILE,
                     results_dir: str | os.PathLike | None = None,
                     image_size: int | None = None) -> DataIdentity:
    """The identity of dataset ``name`` at ``image_size`` (default: the profile's own) as its
    records give it (:func:`shipped_identities`); :class:`PhotosUnavailable` when none is."""
    return _at_size(shipped_identities(name, profile=profile, results_dir=results_dir),
                    get_config(profile).image_size if image_size is None else image_size)


def _at_size(identities: Mapping[int, DataIdentity], size: int) -> DataIdentity:
    if size not in identities:
        some = next(iter(identities.values()))
        sizes = ", ".join(f"{s} px" for s in identities)
        raise PhotosUnavailable(f"there is no record of {some.name} at {size} px (only at "
                                f"{sizes})")
    return identities[size]


@dataclass
class RealPhotos:
    """The current records of one shipped dataset, by experiment name (as :class:`Chapter`)."""

    # the identity at the profile's own image size (what the sections' header describes)
    identity: DataIdentity
    profile: str
    results_dir: str | os.PathLike | None = None
    # {image size: identity} of every size its records were trained at, the profile's own
    # included (Part II also at 32 px); empty: only ``identity``'s size
    by_size: Mapping[int, DataIdentity] = field(default_factory=dict)
    _loaded: dict[tuple[str, int], Record] = field(default_factory=dict, repr=False)
    _adabn: dict[tuple[str, int], Record] = field(default_factory=dict, repr=False)

    def _seed(self, name: str, seed: int | None) -> int:
        return get_experiment(name).config(self.profile).seed if seed is None else seed

    def identity_of(self, name: str) -> DataIdentity | None:
        """The dataset's identity at the image size experiment ``name`` trains at, or None when
        no record at that size was shipped."""
        size = get_experiment(name).config(self.profile).image_size
        return self.by_size.get(size, self.identity if size == self.identity.image_size
                                else None)

    def _lookup(self, name: str, seed: int) -> str | None:
        """Why the record of (``name``, ``seed``) is not current, or None (and it is kept)."""
        if (name, seed) in self._loaded:
            return None
        identity = self.identity_of(name)
        if identity is None:
            size = get_experiment(name).config(self.profile).image_size
            return f"no stored record at {size} px"
        _, record, why = find_record(name, identity, profile=self.profile, seed=seed,
                                     results_dir=self.results_dir)
        if record is not None:
            self._loaded[name, seed] = record
        return why

    def stale(self, experiments: Sequence[str] = tuple(EXPERIMENTS)) -> dict[str, str]:
        """{"<experiment>, seed <s>": why} for every record the book shows that is not current
        (the current ones are kept for :meth:`run`)."""
        found = {}
        for name in experiments:
            for seed in get_experiment(name).seeds(self.profile):
                why = self._lookup(name, seed)
                if why is not None:
                    found[f"{name}, seed {seed}"] = why
        return found

    def stale_adabn(self, experiments: Sequence[str] = ADABN) -> dict[str, str]:
        """As :meth:`stale`, for the AdaBN records (:mod:`dynconv.experiments.posthoc`)."""
        found = {}
        for name in experiments:
            for seed in get_experiment(name).seeds(self.profile):
                if (name, seed) in self._adabn:  # current when first read: kept
                    continue
                _, record, why = locate_adabn(name, self.identity, profile=self.profile,
                                              seed=seed, results_dir=self.results_dir)
                if record is None:
                    found[f"{name} + AdaBN, seed {seed}"] = why
                else:
                    self._adabn[name, seed] = record
        return found

    def adabn(self, name: str) -> list[Record]:
        """The current AdaBN records of every seed of ``name`` (never measured here)."""
        missing = self.stale_adabn([name])
        if missing:
            raise PhotosUnavailable("; ".join(f"{k}: {v}" for k, v in missing.items()))
        return [self._adabn[name, s] for s in get_experiment(name).seeds(self.profile)]

    def run(self, name: str, *, seed: int | None = None) -> Record:
        """The current record of experiment ``name`` (never trains: the photos are not here)."""
        seed = self._seed(name, seed)
        why = self._lookup(name, seed)
        if why is not None:
            raise PhotosUnavailable(f"{name}, seed {seed} on {self.identity.name}: {why}")
        return self._loaded[name, seed]

    def seeds(self, name: str) -> list[Record]:
        return [self.run(name, seed=s) for s in get_experiment(name).seeds(self.profile)]

    def records(self, *names: str) -> dict[str, Record]:
        """{label: record} (first seed), as :meth:`dynconv.book.chapter.Chapter.records`."""
        return {label(n): self.run(n) for n in names}

    @property
    def data(self) -> dict:
        """The data field of the records (name, sizes, classes, fingerprint): every current
        record has the same one."""
        if not self._loaded:
            self.run(PART1[0])
        return next(iter(self._loaded.values())).data

    @property
    def chance(self) -> float:
        return 1.0 / self.data["num_classes"]

    @property
    def label(self) -> str:
        return f"profile {self.profile}, {self.identity.name}, {self.identity.image_size} px"

    def header(self) -> str:
        """What the section shows: the dataset, and that its records were loaded, not trained."""
        data = self.data
        sizes, full = data["sizes"], data.get("full_sizes", data["sizes"])
        val = (f"{sizes['val']:,}" if sizes["val"] == full["val"]
               else f"{sizes['val']:,} of the {full['val']:,}")
        return (
            f"**On real photos** (records shipped with the book, loaded, not trained by this "
            f"build): profile `{self.profile}` on **{self.identity.name}** (fingerprint "
            f"`{self.identity.fingerprint[:12]}`), {data['num_classes']} classes of real "
            f"photos, {sizes['train']:,} training, {val} validation and "
            f"{sizes['test']:,} test images at {self.identity.image_size} px, chance "
            f"{self.chance:.0%}. When and where each record was trained is in the table at "
            f"the end of the section."
        )


def find(name: str = REAL_PHOTOS, *, profile: str = RECORDS_PROFILE,
         results_dir: str | os.PathLike | None = None,
         experiments: Sequence[str] = tuple(EXPERIMENTS)) -> RealPhotos:
    """The shipped real-photo records, every one checked against this code.

    Raises :class:`PhotosUnavailable` naming the stale records (and how to retrain them) when
    any record the book shows is missing or stale.
    """
    identities = shipped_identities(name, profile=profile, results_dir=results_dir)
    photos = RealPhotos(_at_size(identities, get_config(profile).image_size), profile,
                        results_dir, by_size=identities)
    stale = {**photos.stale(experiments),
             **photos.stale_adabn([n for n in ADABN if n in experiments])}
    if stale:
        listed = "; ".join(f"{k}: {v}" for k, v in list(stale.items())[:4])
        more = f" and {len(stale) - 4} more" if len(stale) > 4 else ""
        raise PhotosUnavailable(
            f"{len(stale)} of its records do not match this code ({listed}{more}). "
            f"Retrain them where the photos are: `make records "
            f"DATA_DIR=/path/to/{name}`, then commit book/results/.")
    return photos


# ----------------------------------------------------------------------------- sections


def _show(text: str) -> None:
    display(Markdown(text))


def _figure(fig: Figure) -> None:
    """Show ``fig`` here, in the section's order (not at the end of the cell), then close it."""
    display(fig)
    plt.close(fig)


def _spread(photos: RealPhotos, names: Sequence[str], subsets: Sequence[str]) -> float:
    """The largest seed spread of ``names`` on ``subsets``, displayed."""
    spreads = tables.seed_spreads({n: photos.seeds(n) for n in names}, subsets)
    _show(sentences.spread_sentence(spreads, what="these subsets"))
    return max(spreads.values())


def zero_fill_section(photos: RealPhotos) -> dict[str, Record]:
    """Chapter 02: the zero-filled control against a network trained on each subset."""
    control = photos.run("resnet18")
    trained = {s: photos.run(n) for s, n in SUBSET_TRAINED.items() if s != RGB.name}
    table = tables.subset_trained_table(control, trained, bounds=None)
    display(table.style.format(dict.fromkeys(tables.p_columns(table), "{:.2g}"), na_rep=""))
    _show(sentences.subset_gain_sentence(control, trained))
    return {label("resnet18"): control,
            **{label(n): trained[s] for s, n in SUBSET_TRAINED.items() if s in trained}}


def v4_section(photos: RealPhotos) -> dict[str, Record]:
    """Chapter 06: v4 per sample against the zero-fill control on the incomplete subsets."""
    sample, control = photos.run("v4-sample"), photos.run("resnet18")
    shown = {label("v4-sample"): sample, label("resnet18"): control}
    display(tables.accuracy_intervals(shown))
    spread = _spread(photos, ("v4-sample", "resnet18"), INCOMPLETE_SUBSETS)
    _show(sentences.comparison_sentence(sample, control, subsets=INCOMPLETE_SUBSETS,
                                     seed_spread=spread))
    return shown


def ranking_section(photos: RealPhotos) -> dict[str, Record]:
    """Chapter 07: every Part I layer on every subset, the best on the incomplete ones, and
    each dynamic layer against the zero-fill control."""
    records = photos.records(*PART1)
    display(tables.accuracy_intervals(records))
    _figure(plots.plot_accuracy_heatmap(tables.accuracy_table(records), chance=photos.chance,
                                        title=f"real photos ({photos.label})"))
    _show(sentences.best_on_subsets_sentence(records, [label(n) for n in DYNAMIC_LAYERS]))
    spread = _spread(photos, ("resnet18", "v4-sample"), INCOMPLETE_SUBSETS)
    control = records[label("resnet18")]
    pairs = [(records[label(n)], control) for n in DYNAMIC_LAYERS  # v1 is tested on RGB only
             if set(records[label(n)].subsets) & set(INCOMPLETE_SUBSETS)]
    for said in sentences.comparison_sentences(pairs, subsets=INCOMPLETE_SUBSETS,
                                               seed_spread=spread):
        _show(said)
    return records


def part2_section(photos: RealPhotos) -> dict[str, Record]:
    """Chapter 09: the small networks against ResNet34 (and ResNet34 against ResNet18)."""
    records = photos.records(*PART2)
    display(tables.criterion_table(records, reference=label("resnet34")).style.format(
        {f"fraction of {label('resnet34')}": "{:.2f}",
         f"p vs {label('resnet34')} (McNemar)": "{:.2g}"}, na_rep=""))
    reference = records[label("resnet34")]
    for name in PART2:
        if name != "resnet34":
            _show(sentences.comparison_sentence(records[label(name)], reference, subsets=["RGB"]))
    plain = photos.run("resnet18")
    _show(sentences.comparison_sentence(reference, plain, subsets=["RGB"]))
    _show(sentences.convergence_sentence(records))
    seeded = {label(n): photos.seeds(n) for n in ("resnet34", "compact")}
    display(tables.seed_criterion_table(seeded, reference=label("resnet34")).round(3))
    spread = max(tables.seed_spreads(seeded, ["RGB"]).values())
    ablation = photos.run("compact-no-attention")
    _show(sentences.comparison_sentence(records[label("compact")], ablation, subsets=["RGB"],
                                        seed_spread=spread))
    return {**records, label("resnet18"): plain, ablation.label: ablation}


def part2_32px_section(photos: RealPhotos) -> dict[str, Record]:
    """Chapter 09 at 32 px: ResNet34, ResNet18 and the compact network over their seeds, the
    check of the image size, and the paired tests seed by seed."""
    seeded = {label(n): photos.seeds(n) for n in PART2_32PX}
    reference, plain, compact = (label(n) for n in PART2_32PX)
    at = photos.identity_of(PART2_32PX[0])
    _show(f"These records were trained at **{at.image_size} px**, not at the "
          f"{photos.identity.image_size} px named above: the same photos, fingerprint "
          f"`{at.fingerprint[:12]}` at that size.")
    display(tables.seed_criterion_table(seeded, reference=reference).round(3))
    runs = tables.per_seed(seeded)
    _show(sentences.convergence_sentence(runs))
    _show(sentences.size_check_sentence(seeded, reference, plain))
    pairs = (tables.seed_pairs(seeded, compact, reference)
             + tables.seed_pairs(seeded, reference, plain))
    for said in sentences.comparison_sentences(pairs, subsets=["RGB"]):
        _show(said)
    return runs


def errata_section(photos: RealPhotos, builtin: Mapping[str, Record]) -> dict[str, Record]:
    """Chapter 11: the Part I table on real photos, with the per-subset networks, and which
    layer is best on the incomplete subsets on each dataset."""
    records = photos.records(*PART1)
    oracles = {s: photos.run(n) for s, n in SUBSET_TRAINED.items()}
    display(pd.concat([tables.accuracy_intervals(records),
                       robustness.oracle_intervals(oracles)]))
    dynamic = [label(n) for n in DYNAMIC_LAYERS]
    _show("On the built-in data: " + sentences.best_on_subsets_sentence(builtin, dynamic)
          + " On real photos: " + sentences.best_on_subsets_sentence(records, dynamic))
    return {**records, **{label(n): oracles[s] for s, n in SUBSET_TRAINED.items()
                          if s != RGB.name}}


def part3_section(photos: RealPhotos) -> dict[str, Record]:
    """Chapter 10: every Part III model's ratio to the oracles, its seeds, and v5 against its
    rivals and ablations."""
    oracles = {s: photos.run(n) for s, n in SUBSET_TRAINED.items()}
    runs = {n: photos.seeds(n) for n in PART3}
    table = robustness.robustness_table(runs, oracles)
    _figure(plots.plot_accuracy_heatmap(
        robustness.labelled_ratios(table), percent=False, value_label="accuracy / oracle",
        title=f"real photos: ratio to the oracle ({photos.label})"))
    _show(sentences.worst_sentence(table))
    seeded = {n: r for n, r in runs.items() if len(r) > 1}
    display(robustness.seed_ratio_table(seeded, oracles).rename(index=robustness.label_of)
            .round(3))
    spread = _spread(photos, tuple(seeded), SUBSET_NAMES)
    v5 = runs["v5"][0]
    rivals = [(v5, runs[r][0]) for r in (BEST_PUBLISHED, "resnet18-sampled", "resnet18")]
    ablations = [(v5, photos.run(name)) for name in V5_ABLATION[1:]]
    for pairs in (rivals, ablations):  # each a Holm family, as in the chapter's cells
        for said in sentences.comparison_sentences(pairs, seed_spread=spread):
            _show(said)
    # which teacher: the RGB teacher against the in-place one, and the RGB network's own level
    _show("*Which teacher?* on the photos: the RGB teacher against the in-place one, then the "
          "teacher's own kind of network (a ResNet18 trained on RGB) against v5 on RGB:")
    _show(sentences.comparison_sentence(photos.run("v5-rgb-teacher"), photos.run("v5-distill"),
                                     seed_spread=spread))
    _show(sentences.comparison_sentence(runs["resnet18"][0], v5, subsets=["RGB"],
                                     seed_spread=spread))
    without, with_identity = IDENTITY_PAIR
    _show(sentences.comparison_sentence(photos.run(with_identity), photos.run(without),
                                     seed_spread=spread))
    _show(sentences.verdict_sentence(table, seeded, oracles))
    _show(sentences.budget_sentence(table))
    _show(sentences.comparison_sentence(runs["v5-long"][0], v5, seed_spread=spread))
    _show(sentences.convergence_sentence({label(n): runs[n][0] for n in ("v5", "v5-long")}))
    _show(sentences.selection_sentence({f"{label(n)} ({r.seed})": r for n in ("v5", "v5-long")
                                        for r in runs[n]}))
    long_seeds = {s: photos.seeds(n) for s, n in SUBSET_TRAINED_LONG.items()}
    oracles_long = {s: seeds[0] for s, seeds in long_seeds.items()}  # paired tests: first seeds
    labelled_long = robustness.labelled_oracles(oracles_long, include_rgb=True, suffix=" (3x)")
    _show(sentences.convergence_sentence(labelled_long))
    long_runs = {n: photos.seeds(n) for n in DISTILL_LONG}
    long_table = robustness.robustness_table(long_runs, long_seeds)
    _show(sentences.equal_budget_sentence(table, long_table))
    _show(f"*{label('v5-long')}* (seed {runs['v5-long'][0].seed}) against each oracle trained "
          f"as long, on that oracle's own subset (McNemar's exact test, Holm-corrected over the "
          f"{len(oracles_long)} subsets):")
    display(robustness.oracle_tests(runs["v5-long"][0], oracles_long).round(3))
    distilled_long, v5_long = (photos.run(n) for n in DISTILL_LONG)
    _show(sentences.comparison_sentence(distilled_long, v5_long, seed_spread=spread))
    _show(sentences.worst_sentence(long_table, against=sentences.AGAINST_LONG))
    _show(sentences.worst_sentence(robustness.robustness_table(long_runs, oracles),
                                   against=sentences.AGAINST_PROFILE))
    _show(sentences.design_check_sentence({distilled_long.label: distilled_long,
                                           v5_long.label: v5_long}, v5_long.label))
    display(robustness.labelled_ratios(long_table).round(3))
    adapted = {n: photos.adabn(n) for n in ADABN}
    _show("With BatchNorm statistics re-estimated per subset after training (AdaBN), ratios to "
          "the oracles of the profile's budget:")
    display(robustness.labelled_ratios(robustness.robustness_table(
        robustness.with_adabn(runs, adapted), oracles)).round(3))
    for said in sentences.comparison_sentences(robustness.adabn_pairs(runs, adapted),
                                               seed_spread=spread):
        _show(said)
    used = {label(n): r[0] for n, r in runs.items()}
    used.update({records[0].label: records[0] for records in adapted.values()})
    used.update({f"oracle {s}": o for s, o in oracles.items() if s != RGB.name})
    used.update(labelled_long)
    used.update({label(n): photos.run(n) for n in (*V5_ABLATION[1:], *IDENTITY_PAIR,
                                                   *DISTILL_LONG)})
    return used
