"""What every chapter does first, in one call: ``ch = chapter.start(profile, data_dir)``.

A chapter notebook holds prose, a papermill ``parameters`` cell and calls. :func:`start`
resolves the profile, prints what produces the page's numbers (profile, data, hardware, where
the results are), and returns a small :class:`Chapter` whose methods train or load experiments
of :mod:`dynconv.experiments.registry` by name and display the pure tables and sentences of
:mod:`dynconv.book.tables`. Nothing here computes a number itself.

Starting a chapter does not decode the dataset: records are loaded by their keys
(:mod:`dynconv.experiments.runner`); the images are loaded the first time a cell needs them
(:attr:`Chapter.data`).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import pandas as pd
import torch
from IPython.display import HTML, Markdown, display
from matplotlib.figure import Figure
from torch.utils.data import DataLoader

from dynconv.book import plots, progress, realphotos, sentences, tables, widgets
from dynconv.channels import INCOMPLETE_SUBSETS
from dynconv.config import TrainConfig, get_config
from dynconv.data.datasets import (
    DataIdentity,
    DatasetBundle,
    data_identity,
    load_dataset,
    make_loader,
    read_split_list,
)
from dynconv.errors import ConfigError
from dynconv.experiments import posthoc
from dynconv.experiments.records import Record
from dynconv.experiments.registry import (
    ADABN,
    SUBSET_TRAINED,
    SUBSET_TRAINED_LONG,
    get_experiment,
)
from dynconv.experiments.runner import make_splits, run, run_seeds
from dynconv.paths import resolve_results_dir, shown_path
from dynconv.provenance import hardware_label


def _oracle_names(long_budget: bool) -> Mapping[str, str]:
    """{subset: the experiment of its oracle}, at the profile's budget or three times it."""
    return SUBSET_TRAINED_LONG if long_budget else SUBSET_TRAINED


@dataclass
class Chapter:
    """The state a chapter shares between its cells."""

    profile: str
    data_dir: str | None
    force: bool
    config: TrainConfig
    identity: DataIdentity
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    # ---- data (loaded on first use) ---------------------------------------------------------
    @cached_property
    def data(self) -> DatasetBundle:
        """The dataset at the profile's image size (decoded once, then from the cache)."""
        return load_dataset(self.data_dir, image_size=self.config.image_size)

    @property
    def chance(self) -> float:
        return 1.0 / self.data.num_classes

    @property
    def label(self) -> str:
        return f"profile {self.profile}, {self.identity.name}, {self.config.image_size} px"

    @cached_property
    def splits(self) -> dict[str, object]:
        """The train/val/test splits exactly as the experiments use them."""
        train, val, test = make_splits(self.data, self.config)
        return {"train": train, "val": val, "test": test}

    @property
    def test_images(self) -> torch.Tensor:
        """uint8 (N, 3, H, W) test images, in the order of every record's predictions."""
        return self.splits["test"].images

    def example_image(self, class_prefix: str) -> torch.Tensor:
        """The first training image (uint8, (3, H, W)) of the first class whose name starts
        with ``class_prefix`` (of class 0 when none does: another dataset)."""
        names = self.data.class_names
        label = next((i for i, n in enumerate(names) if n.startswith(class_prefix)), 0)
        return self.data.train.images[self.data.train.labels == label][0]

    def list_head(self, split: str = "train", lines: int = 3) -> pd.DataFrame:
        """The first ``lines`` lines of a split's list file, as the loader reads them."""
        entries = read_split_list(self.data.root, split)
        print(f"{self.data.root}/{split}.txt: {len(entries)} lines; the first {lines}:")
        return pd.DataFrame([{"line": e.line, "path": e.path, "label": e.label}
                             for e in entries[:lines]]).set_index("line")

    def test_examples(self, indices: Sequence[int]) -> tuple[torch.Tensor, list[str]]:
        """The test images at ``indices`` (normalised, as the models see them) and their
        class names."""
        test = self.splits["test"]
        titles = [self.data.class_names[int(test.labels[i])] for i in indices]
        return test.__getitems__(list(indices)).x, titles

    def loader(self, split: str, *, shuffle: bool = False,
               batch_size: int | None = None) -> DataLoader:
        """A loader over one of :attr:`splits`."""
        return make_loader(self.splits[split], batch_size=batch_size or self.config.batch_size,
                           shuffle=shuffle, seed=self.config.seed)

    # ---- experiments --------------------------------------------------------------------------
    def run(self, name: str, *, seed: int | None = None, show: bool = False) -> Record:
        """Train or load registry experiment ``name`` (see :mod:`dynconv.experiments.registry`)."""
        record = run(name, profile=self.profile, data_dir=self.data_dir, seed=seed,
                     force=self.force)
        if show:
            self.summary(record)
        return record

    def records(self, *names: str) -> dict[str, Record]:
        """{label: record} of several experiments (first seed), trained where missing."""
        return {get_experiment(n).label: self.run(n) for n in names}

    def seeds(self, name: str) -> list[Record]:
        """The records of every seed of experiment ``name``."""
        return run_seeds(name, profile=self.profile, data_dir=self.data_dir, force=self.force)

    def adabn(self, name: str) -> list[Record]:
        """The AdaBN records of every seed of experiment ``name``: its network tested on each
        subset with BatchNorm statistics re-estimated for that subset
        (:mod:`dynconv.experiments.posthoc`), loaded, or measured where missing."""
        return [posthoc.adabn(name, profile=self.profile, data_dir=self.data_dir, seed=s)
                for s in get_experiment(name).seeds(self.profile)]

    def adabn_runs(self) -> dict[str, list[Record]]:
        """{name: :meth:`adabn` records} of every experiment the book measures with AdaBN
        (:data:`dynconv.experiments.registry.ADABN`)."""
        return {name: self.adabn(name) for name in ADABN}

    def config_of(self, name: str) -> TrainConfig:
        """The TrainConfig experiment ``name`` trains with under this chapter's profile."""
        return get_experiment(name).config(self.profile)

    def seeds_of(self, names: Sequence[str], *, first_only: bool = False,
                 by_label: bool = False) -> dict[str, list[Record]]:
        """{name (or, ``by_label``, its label): the records of every seed (or, ``first_only``,
        of the first)} of several experiments."""
        return {get_experiment(n).label if by_label else n:
                [self.run(n)] if first_only else self.seeds(n) for n in names}

    def oracles(self, *, include_rgb: bool = True, long_budget: bool = False
                ) -> dict[str, Record]:
        """{subset: the plain ResNet18 trained and tested on that subset alone}
        (:data:`~dynconv.experiments.registry.SUBSET_TRAINED`; RGB's is the zero-fill control
        itself), or, with ``long_budget``, the same trained three times as long
        (:data:`~dynconv.experiments.registry.SUBSET_TRAINED_LONG`, v5-long's budget)."""
        return {s: self.run(n) for s, n in _oracle_names(long_budget).items()
                if include_rgb or s != "RGB"}

    def oracle_seeds(self, *, long_budget: bool = False) -> dict[str, list[Record]]:
        """{subset: every seed of its oracle} (:meth:`oracles` gives the first), for ratios
        to the oracles' mean accuracy."""
        return {s: self.seeds(n) for s, n in _oracle_names(long_budget).items()}

    # ---- display ------------------------------------------------------------------------------
    def say(self, text: str) -> None:
        """Show ``text`` (Markdown: a sentence computed by a tested function) on the page."""
        display(Markdown(text))

    def header(self) -> None:
        cfg = self.config
        caveat = {
            "ci": "a short CPU demonstration of the code and the effects, **not** the full study",
            "full": "the original study's training settings, harmonised",
            "smoke": "a seconds-long check that the chapter runs: **its numbers mean nothing**",
        }.get(self.profile, "a custom profile")
        display(Markdown(
            f"**What produced this page.** Profile `{self.profile}` ({caveat}): "
            f"{cfg.image_size} px, batch {cfg.batch_size}, up to {cfg.max_epochs} epochs "
            f"(patience {cfg.patience}, monitor {cfg.monitor}), "
            f"{cfg.max_train_per_class or 'all'} training and {cfg.max_val_per_class or 'all'} "
            f"validation images per class, {cfg.max_test_per_class or 'all'} test images per "
            f"class. Data: **{self.identity.name}** (fingerprint "
            f"`{self.identity.fingerprint[:12]}`). Hardware: {hardware_label()}; torch "
            f"{torch.__version__}. Results: `{shown_path(resolve_results_dir())}`. Executed "
            f"{self.started:%Y-%m-%d %H:%M} UTC."
        ))

    def summary(self, *records: Record) -> None:
        """One paragraph per record: how it was produced (trained now or loaded) and its
        number."""
        for record in records:
            # the record's own class count: no need to load the images for it
            chance = 1.0 / record.data["num_classes"]
            display(Markdown(sentences.summary_text(record, chance=chance)))

    def show_intervals(self, records: dict[str, Record]) -> pd.DataFrame:
        """Accuracy with 95% intervals, and one line on how much an accuracy can move."""
        width = tables.interval_half_width(records)
        n = next(iter(records.values())).num_test
        display(Markdown(
            f"Test accuracy on {n:,} test images, 95% Wilson interval in brackets: one "
            f"accuracy here can move by up to ±{100 * width:.1f} points by the luck of the "
            f"test images alone."
        ))
        return tables.accuracy_intervals(records)

    def history(self, *records: Record) -> Figure:
        """Training curves of ``records`` in one figure."""
        return plots.plot_history({r.label: r.history for r in records})

    def bars(self, records: Mapping[str, Record], title: str) -> Figure:
        """Accuracy per subset as bars with their 95% intervals, chance marked."""
        low, high = tables.interval_bounds(records)
        return plots.plot_accuracy_bars(tables.accuracy_table(records), chance=self.chance,
                                        low=low, high=high, title=title)

    def explore(self, record: Record, subset: str = "RGB",
                records: Mapping[str, Record] | None = None) -> object:
        """A chapter's closer look at a record: its confusion matrix on ``subset`` and its
        per-class report (displayed), and the explorer of ``records`` (default: this record
        alone) over the test images, returned so that the cell shows it."""
        fig = plots.plot_confusion(record.confusion(subset), self.data.class_names,
                                   title=f"{record.label} on {subset}")
        display(fig)
        plt.close(fig)
        display(record.class_report(subset).round(3))
        return self.explorer(records or {record.label: record})

    def explorer(self, records: Mapping[str, Record]) -> object:
        """The interactive explorer of ``records`` over this chapter's test images."""
        return widgets.records_explorer(records, self.test_images, self.data.class_names)

    def against_control(self, record: Record, subsets: Sequence[str], *,
                        control: str = "resnet18",
                        spread_of: Sequence[str] = ("resnet18",)) -> str:
        """``record`` against the zero-fill control on ``subsets``; a gap is called a difference
        only when it is also larger than the largest seed spread of ``spread_of`` there."""
        spread = max(tables.seed_spread(self.seeds(n), subsets) for n in spread_of)
        return self.compare(record, self.run(control), subsets=subsets, seed_spread=spread)

    def compare(self, a: Record, b: Record, *, subsets: Sequence[str] | None = None,
                seed_spread: float | None = None) -> str:
        """Display (and return) a comparison sentence backed by a paired test per subset (the
        subsets' tests Holm-corrected as one family when there are several)."""
        sentence = sentences.comparison_sentence(a, b, subsets=subsets, seed_spread=seed_spread)
        display(Markdown(sentence))
        return sentence

    def compare_pairs(self, pairs: Sequence[tuple[Record, Record]], *,
                      subsets: Sequence[str] | None = None,
                      seed_spread: float | None = None) -> list[str]:
        """Display (and return) one comparison sentence per ``(a, b)``, every paired test of
        the call Holm-corrected as one family (:func:`sentences.comparison_sentences`)."""
        said = sentences.comparison_sentences(pairs, subsets=subsets, seed_spread=seed_spread)
        for sentence in said:
            display(Markdown(sentence))
        return said

    def effects(self, effects: Mapping[str, tuple[str, str]], *,
                subsets: Sequence[str] = INCOMPLETE_SUBSETS) -> str:
        """Say what each idea is worth: ``effects`` maps an idea to the registry names of the
        experiment with it and without it (:func:`sentences.effects_sentence`, one seed each,
        one Holm family)."""
        pairs = {idea: (self.run(a), self.run(b)) for idea, (a, b) in effects.items()}
        sentence = sentences.effects_sentence(pairs, subsets=subsets)
        display(Markdown(sentence))
        return sentence

    def real_photos(self, section: str, *args: Any) -> None:
        """Show section ``section`` of :mod:`dynconv.book.realphotos` (``"zero_fill"`` runs
        ``realphotos.zero_fill_section``) on the shipped real-photo records, then the records it
        used; or say, in one paragraph, why it is not shown (records missing, or trained by
        other code)."""
        show = getattr(realphotos, f"{section}_section", None)
        if show is None:
            known = sorted(n[:-len("_section")] for n in realphotos.__all__
                           if n.endswith("_section"))
            raise ConfigError(f"no real-photo section {section!r}; known: {', '.join(known)}")
        try:
            photos = realphotos.find()
        except realphotos.PhotosUnavailable as why:
            display(Markdown(f"**On real photos: not shown in this build.** The records of "
                             f"{realphotos.REAL_PHOTOS} are not usable here: {why}."))
            return
        display(Markdown(photos.header()))
        used = show(photos, *args)
        display(Markdown(sentences.provenance_caption(used) + " "
                         + sentences.provenance_summary(used)))
        display(HTML(f"<details><summary>The {len(used)} records of this section</summary>"
                     f"{tables.provenance_table(used).to_html()}</details>"))

    def best_layer(self, records: Mapping[str, Record], candidates: Sequence[str],
                   repeated: str) -> None:
        """Which of the experiments ``candidates`` has the highest mean accuracy on the
        incomplete subsets (``records`` by label), whether it is ``repeated`` (the one trained
        with several seeds), and, when it is not, the paired test of the two."""
        labels = [get_experiment(n).label for n in candidates]
        repeated = get_experiment(repeated).label
        display(Markdown(sentences.best_repeated_sentence(records, labels, repeated)))
        best, _ = tables.best_on_subsets(records, labels)
        if best != repeated:
            self.compare(records[best], records[repeated], subsets=INCOMPLETE_SUBSETS)

    def departures(self) -> object:
        """How this chapter's profile departs from the original study's settings, and why."""
        table = tables.departure_table(self.profile)
        if table.empty:
            return Markdown(f"Profile `{self.profile}` uses the original study's settings.")
        return table.style.set_properties(subset=["why"], **{"text-align": "left"})

    def subset_trained_table(self, control: Record, trained: Mapping[str, Record]) -> object:
        """:func:`dynconv.book.tables.subset_trained_table` for a page (the built-in data's caps
        where the data is the built-in one)."""
        bounds = tables.BUILTIN_BOUND if tables.is_builtin(control) else None
        table = tables.subset_trained_table(control, trained, bounds=bounds)
        return table.style.format(
            {"bound": "{:.0%}", "target": "{:.1%}", "ratio": "{:.2f}",
             **dict.fromkeys(tables.p_columns(table), "{:.2g}")}, na_rep="")

    def relative_to_bound(self, records: Mapping[str, Record]) -> object:
        """Accuracy over the built-in data's best possible accuracy per subset, with the
        interval divided alike ("n/a" where not tested); for other data a note that no such
        bound is known."""
        if self.identity.name != "builtin-shapes":
            return Markdown(f"No bound is known for {self.identity.name}: only the built-in "
                            f"data has one.")
        return tables.relative_to_bound_text(records)

    def compare_with(self, a: Record, others: Iterable[Record], *,
                     subsets: Sequence[str] | None = None,
                     seed_spread: float | None = None) -> list[str]:
        """:meth:`compare` ``a`` with each of ``others``, as one Holm family
        (:meth:`compare_pairs`)."""
        return self.compare_pairs([(a, b) for b in others], subsets=subsets,
                                  seed_spread=seed_spread)

    def compare_each(self, records: Iterable[Record], reference: Record, *,
                     subsets: Sequence[str] | None = None,
                     seed_spread: float | None = None) -> list[str]:
        """:meth:`compare` each of ``records`` (but ``reference`` itself) with ``reference``, as
        one Holm family (:meth:`compare_pairs`)."""
        return self.compare_pairs([(r, reference) for r in records if r is not reference
                                   and (subsets is None or set(r.subsets) & set(subsets))],
                                  subsets=subsets, seed_spread=seed_spread)

    def provenance(self, records: dict[str, Record]) -> pd.DataFrame:
        """Which records the page shows, and whether this build trained or loaded them."""
        display(Markdown(sentences.provenance_caption(records)))
        return tables.provenance_table(records)


def start(profile: str = "ci", data_dir: str | Path | None = None, *, force: bool = False,
          show: bool = True) -> Chapter:
    """Resolve the profile and the dataset's identity (no image decoded) and print provenance.

    In the book build, progress (bars, timings) goes to the console from here on, not onto
    the page (:func:`dynconv.book.progress.route_to_console`)."""
    t0 = time.perf_counter()
    progress.route_to_console()
    config = get_config(profile)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    identity = data_identity(data_dir, image_size=config.image_size)
    chapter = Chapter(profile=profile, data_dir=None if data_dir is None else str(data_dir),
                      force=force, config=config, identity=identity)
    if show:
        chapter.header()
        progress.note(f"chapter ready in {time.perf_counter() - t0:.1f} s")
    return chapter
