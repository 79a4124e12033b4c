"""What every chapter does first, in one call: ``ch = chapter.start(profile, data_dir)``.

A chapter notebook holds prose, a papermill ``parameters`` cell and calls. :func:`start`
resolves the profile, prints what produces the page's numbers (profile, data, hardware, where
the results are), and returns a small :class:`Chapter` whose methods train or load experiments
of :mod:`dynconv.registry` by name and display the pure tables and sentences of
:mod:`dynconv.tables`. Nothing here computes a number itself.

Starting a chapter does not decode the dataset: records are loaded by their keys
(:mod:`dynconv.experiment`); the images are loaded the first time a cell needs them
(:attr:`Chapter.data`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from IPython.display import Markdown, display
from torch.utils.data import DataLoader

from dynconv import realphotos, tables
from dynconv.config import TrainConfig, get_config
from dynconv.data import DataIdentity, DatasetBundle, data_identity, load_dataset, make_loader
from dynconv.experiment import make_splits, run, run_seeds
from dynconv.paths import resolve_results_dir, shown_path
from dynconv.records import Record
from dynconv.registry import get_experiment
from dynconv.results import hardware_label


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

    def loader(self, split: str, *, shuffle: bool = False,
               batch_size: int | None = None) -> DataLoader:
        """A loader over one of :attr:`splits`."""
        return make_loader(self.splits[split], batch_size=batch_size or self.config.batch_size,
                           shuffle=shuffle, seed=self.config.seed)

    # ---- experiments --------------------------------------------------------------------------
    def run(self, name: str, *, seed: int | None = None, show: bool = False) -> Record:
        """Train or load registry experiment ``name`` (see :mod:`dynconv.registry`)."""
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

    def config_of(self, name: str) -> TrainConfig:
        """The TrainConfig experiment ``name`` trains with under this chapter's profile."""
        return get_experiment(name).config(self.profile)

    # ---- display ------------------------------------------------------------------------------
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

    def summary(self, record: Record) -> None:
        """One paragraph: how the record was produced (trained now or loaded) and its number."""
        # the record's own class count: no need to load the images for it
        chance = 1.0 / record.data["num_classes"]
        display(Markdown(tables.summary_text(record, chance=chance)))

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

    def compare(self, a: Record, b: Record, *, subsets: Sequence[str] | None = None,
                seed_spread: float | None = None) -> str:
        """Display (and return) a comparison sentence backed by a paired test."""
        sentence = tables.comparison_sentence(a, b, subsets=subsets, seed_spread=seed_spread)
        display(Markdown(sentence))
        return sentence

    def real_photos(self, section: Callable[..., dict[str, Record]], *args: Any) -> None:
        """Run one of :mod:`dynconv.realphotos`' sections on the shipped real-photo records and
        show the records it used; or say, in one paragraph, why the section is not shown
        (records missing, or trained by other code)."""
        try:
            photos = realphotos.find()
        except realphotos.PhotosUnavailable as why:
            display(Markdown(f"**On real photos: not shown in this build.** The records of "
                             f"{realphotos.REAL_PHOTOS} are not usable here: {why}."))
            return
        display(Markdown(photos.header()))
        used = section(photos, *args)
        display(Markdown(tables.provenance_caption(used)))
        display(tables.provenance_table(used))

    def provenance(self, records: dict[str, Record]) -> pd.DataFrame:
        """Which records the page shows, and whether this build trained or loaded them."""
        display(Markdown(tables.provenance_caption(records)))
        return tables.provenance_table(records)


def start(profile: str = "ci", data_dir: str | Path | None = None, *, force: bool = False,
          show: bool = True) -> Chapter:
    """Resolve the profile and the dataset's identity (no image decoded) and print provenance."""
    t0 = time.perf_counter()
    config = get_config(profile)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    identity = data_identity(data_dir, image_size=config.image_size)
    chapter = Chapter(profile=profile, data_dir=None if data_dir is None else str(data_dir),
                      force=force, config=config, identity=identity)
    if show:
        chapter.header()
        print(f"ready in {time.perf_counter() - t0:.1f} s")
    return chapter
