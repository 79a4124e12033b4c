"""What every chapter does first, in one call: `ch = chapter.start(profile, data_dir)`.

A chapter notebook holds prose, a papermill ``parameters`` cell and calls; this module keeps
the calls short and the same in every chapter (no chapter copies another):

- :func:`start` resolves the profile, loads the dataset at the profile's image size, and prints
  what produced the page's numbers (profile, data, hardware);
- :meth:`Chapter.run` trains or loads one experiment (:func:`dynconv.experiment.run_experiment`);
- small table builders (accuracy by subset, class report, FLOPs, timing, the 90% criterion)
  that turn records into the DataFrames the chapters show.

Every table that holds this run's numbers carries its provenance in the printed header or in a
``source`` column; the original study's numbers come only from :mod:`dynconv.reported`.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown, display
from torch import nn

from dynconv.channels import RGB, SUBSET_NAMES
from dynconv.config import TrainConfig, get_config, resolve_device
from dynconv.data import BUILTIN_NAME, DatasetBundle, load_dataset, make_loader
from dynconv.experiment import make_splits, run_experiment
from dynconv.results import resolve_results_dir
from dynconv.train import load_checkpoint
from dynconv.zoo import build_model

# Best possible accuracy per subset on the built-in data if the shape is always recognised
# (colours that collide in a subset are guessed evenly; see dynconv.shapes).
BUILTIN_BOUND = {"RGB": 1.0, "GB": 1.0, "RG": 0.75, "RB": 0.75, "R": 0.5, "G": 0.5, "B": 0.5}
# The Part I models in the order of the chapters, with their labels in tables.
PART1_EXPERIMENTS: dict[str, tuple[str, dict]] = {
    "resnet18 (zero-fill)": ("resnet18", {}),
    "v1": ("v1", {}),
    "v2": ("v2", {}),
    "v3": ("v3", {}),
    "v4 per batch": ("v4", {"drop_mode": "batch"}),
    "v4 per sample": ("v4", {"drop_mode": "sample"}),
}
# Pseudo-names for cost tables: a model name plus builder arguments.
COST_VARIANTS: dict[str, tuple[str, dict]] = {
    "v1_no_maxpool": ("v1", {"keep_maxpool": False}),
    "resnet18_torchvision_stem": ("resnet18", {"stem": "torchvision"}),
}


def hardware_label() -> str:
    """E.g. 'CPU (2 threads, x86_64)' or 'NVIDIA H100 80GB HBM3'."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({torch.get_num_threads()} threads, {platform.machine()})"


@dataclass
class Chapter:
    """The state a chapter shares between its cells."""

    profile: str
    data_dir: str | None
    force: bool
    config: TrainConfig
    data: DatasetBundle
    started: datetime = field(default_factory=lambda: datetime.now(UTC))

    # ---- identity of this run -------------------------------------------------------------
    @property
    def chance(self) -> float:
        return 1.0 / self.data.num_classes

    @property
    def hardware_label(self) -> str:
        return hardware_label()

    @property
    def label(self) -> str:
        return f"profile {self.profile}, {self.data.name}, {self.config.image_size} px"

    @property
    def part2_overrides(self) -> dict[str, Any]:
        """Training overrides for Part II (chapter 9).

        `full`: batch 16, as the original. `ci`: at most 4 epochs, because on a 2-core CPU the
        k3s1 network (attention and RRDB at full resolution) takes about 55 s an epoch at
        32 px and ResNet34 about 30 s; the whole book must build in 25 minutes.
        """
        return {"batch_size": 16} if self.profile == "full" else {"max_epochs": 4}

    def header(self) -> None:
        cfg = self.config
        d = self.data
        sizes = ", ".join(f"{s} {len(d.split(s))}" for s in ("train", "val", "test"))
        caveat = (
            "a short CPU demonstration of the code and the effects, **not** the full study"
            if self.profile == "ci"
            else "the original study's training settings"
        )
        display(
            Markdown(
                f"**What produced this page.** Profile `{self.profile}` ({caveat}): "
                f"{cfg.image_size} px, batch {cfg.batch_size}, up to {cfg.max_epochs} epochs "
                f"(patience {cfg.patience}, monitor {cfg.monitor}), "
                f"{cfg.max_train_per_class or 'all'} training and "
                f"{cfg.max_eval_per_class or 'all'} validation/test images per class. "
                f"Data: **{d.name}** ({d.num_classes} classes; full splits {sizes}; "
                f"fingerprint `{d.fingerprint[:12]}`). Hardware: {hardware_label()}; "
                f"torch {torch.__version__}. Executed {self.started:%Y-%m-%d %H:%M} UTC."
            )
        )

    # ---- experiments ----------------------------------------------------------------------
    def run(self, model: str, *, force: bool | None = None, **kwargs: Any) -> dict[str, Any]:
        """Train or load one experiment with this chapter's profile and data."""
        return run_experiment(
            model,
            profile=self.profile,
            data_dir=self.data_dir,
            force=self.force if force is None else force,
            **kwargs,
        )

    @property
    def v3_kwargs(self) -> dict[str, Any]:
        """v3's builder arguments for this profile: the temperature must reach 1 within the run.

        Chen et al. anneal 30 -> 1 over the first 10 epochs of a long run; a `ci` run has only
        a few epochs, so it anneals over the first half of them instead.
        """
        if self.config.max_epochs >= 20:
            return {}
        return {"anneal_epochs": max(1, self.config.max_epochs // 2)}

    def experiments(self) -> dict[str, tuple[str, dict[str, Any]]]:
        """Every Part I experiment of chapters 2-6: table label -> (model, builder arguments)."""
        return {
            label: (model, self.v3_kwargs if model == "v3" else kwargs)
            for label, (model, kwargs) in PART1_EXPERIMENTS.items()
        }

    def reference_records(self, *models: str) -> dict[str, dict[str, Any]]:
        """Records of earlier chapters' models (loaded; trained only if missing), for comparison."""
        by_model = {model: (label, kw) for label, (model, kw) in self.experiments().items()}
        records = {}
        for model in models:
            label, kwargs = by_model.get(model, (model, {}))
            records[label] = self.run(model, model_kwargs=kwargs or None, force=False)
        return records

    def reference_histories(self, *models: str) -> dict[str, list[dict]]:
        return {lab: rec["history"] for lab, rec in self.reference_records(*models).items()}

    def part1_records(self) -> dict[str, dict[str, Any]]:
        """Every Part I experiment of chapters 2-6 (loaded from results; trained if missing)."""
        return {
            label: self.run(model, model_kwargs=kwargs or None, force=False)
            for label, (model, kwargs) in self.experiments().items()
        }

    def load_model(self, record: Mapping[str, Any]) -> nn.Module:
        """The model of a record with its best (restored) weights, in eval mode, on the CPU."""
        model = build_model(
            record["model"],
            num_classes=record["data"]["num_classes"],
            **(record["config"].get("model_kwargs") or {}),
        )
        path = resolve_results_dir() / record["profile"] / record["checkpoint"]
        state = load_checkpoint(path)
        model.load_state_dict(state["best_state"] or state["model"])
        return model.eval()

    # ---- data -----------------------------------------------------------------------------
    @cached_property
    def splits(self) -> dict[str, Any]:
        """The train/val/test splits exactly as the experiments use them (per profile)."""
        train, val, test = make_splits(self.data, self.config)
        return {"train": train, "val": val, "test": test}

    def loader(self, split: str, *, shuffle: bool = False, batch_size: int | None = None):
        """A loader over one of :attr:`splits`."""
        return make_loader(
            self.splits[split],
            batch_size=batch_size or self.config.batch_size,
            shuffle=shuffle,
            seed=self.config.seed,
        )

    @property
    def test_images(self) -> torch.Tensor:
        """uint8 (N, 3, H, W) test images in the order the records' sample indices refer to."""
        return self.splits["test"].images

    # ---- tables ---------------------------------------------------------------------------
    def summary(self, record: Mapping[str, Any]) -> None:
        """One paragraph: how the record was produced and its headline numbers."""
        created = datetime.fromisoformat(record["created"])
        origin = (
            "trained in this run"
            if created >= self.started
            else f"loaded from the saved result of {created:%Y-%m-%d %H:%M} UTC"
        )
        best = record["test"].get("RGB", next(iter(record["test"].values())))
        hw = record["hardware"]
        device = hw.get("gpu") or hw.get("cpu") or record.get("device")
        display(
            Markdown(
                f"**{record['model']}**{_kwargs_suffix(record)}: {record['epochs_run']} epochs, "
                f"best epoch {record['best_epoch']} by {record['monitor']}; test accuracy on RGB "
                f"**{100 * best:.1f}%** (chance {100 * self.chance:.1f}%). Training and "
                f"evaluation took {record['wall_time_s']:.0f} s on {device} (profile "
                f"`{record['profile']}`, data {record['data']['name']}, "
                f"{record['data']['sizes']['train']} training images); {origin}."
            )
        )

    def provenance(self, records: Mapping[str, Mapping[str, Any]]) -> None:
        rows = {
            label: {
                "model": r["model"],
                "settings": _kwargs_text(r) or "-",
                "profile": r["profile"],
                "data": r["data"]["name"],
                "train images": r["data"]["sizes"]["train"],
                "epochs": r["epochs_run"],
                "wall time (s)": round(r["wall_time_s"]),
                "device": r.get("device"),
                "created (UTC)": r["created"][:16],
            }
            for label, r in records.items()
        }
        display(Markdown("**Records behind this page** (this run's results directory):"))
        display(pd.DataFrame.from_dict(rows, orient="index"))

    def accuracy_table(self, records: Mapping[str, Mapping[str, Any]]) -> pd.DataFrame:
        """Test accuracy, rows = records, columns = the seven subsets (NaN = not tested)."""
        table = pd.DataFrame(
            {
                label: {s: r["test"].get(s, np.nan) for s in SUBSET_NAMES}
                for label, r in records.items()
            }
        ).T
        table.attrs["source"] = f"this run ({self.label}, {hardware_label()})"
        return table.astype(float)

    def compare(self, table: pd.DataFrame, a: str, b: str, *, subsets: Sequence[str] | None = None,
                show: bool = True) -> str:
        """A sentence computed from this run: on how many subsets row `a` beats row `b`.

        Chapters use it instead of prose that assumes a result, so the text stays true when
        the book is re-run with another profile or dataset.
        """
        cols = [c for c in (subsets or table.columns) if c in table.columns]
        diff = (table.loc[a, cols] - table.loc[b, cols]).dropna()
        if diff.empty:
            sentence = f"*{a}* and *{b}* share no tested subset in this run."
        else:
            wins = int((diff > 0).sum())
            sentence = (
                f"In this run ({self.label}), *{a}* is more accurate than *{b}* on {wins} of "
                f"{len(diff)} subsets ({', '.join(diff.index)}), by "
                f"{100 * diff.mean():+.1f} points on average "
                f"(from {100 * diff.min():+.1f} to {100 * diff.max():+.1f}). With "
                f"{self.config.max_eval_per_class or 'all'} test images per class, differences "
                f"of a few points are within noise."
            )
        if show:
            display(Markdown(sentence))
        return sentence

    def class_report(self, record: Mapping[str, Any], subset: str = "RGB") -> pd.DataFrame:
        """Per-class precision, recall, F1 and support of one record on one subset."""
        frame = pd.DataFrame(record["report"][subset])
        if "class" in frame.columns:
            frame = frame.set_index("class")
        return frame.round(3)

    def relative_to_bound(self, table: pd.DataFrame) -> pd.DataFrame | None:
        """Accuracy divided by the built-in data's best possible accuracy per subset."""
        if self.data.name != BUILTIN_NAME:
            display(
                Markdown(
                    f"*No bound is known for {self.data.name}: this table needs the built-in data.*"
                )
            )
            return None
        bound = pd.Series(BUILTIN_BOUND)[table.columns]
        return (table / bound).style.format("{:.0%}", na_rep="n/a")

    def temperature_schedule(self, epochs: int | None = None) -> pd.DataFrame:
        """v3's softmax temperature at the start of each epoch (Chen et al.: 30 -> 1)."""
        stem = build_model("v3", num_classes=self.data.num_classes, **self.v3_kwargs).conv1
        epochs = epochs or self.config.max_epochs
        temps = {}
        for epoch in range(epochs):
            stem.set_epoch(epoch)
            temps[epoch] = stem.attention.temperature
        return pd.DataFrame({"temperature": temps}).rename_axis("epoch").T

    # ---- costs ----------------------------------------------------------------------------
    def flops_table(
        self, names: Sequence[str], *, image_size: int | None = None, num_classes: int | None = None
    ) -> pd.DataFrame:
        """Parameters and per-image GFLOPs by calflops and by FlopCounterMode.

        ``counted_vs_calflops_%`` is how much more the operator-level counter finds: slightly
        negative for plain CNNs (calflops also counts batch norm, ReLU and pooling), large when
        matrix products or attention are involved (calflops does not see them).
        """
        from dynconv.costs import calflops_per_image, count_parameters, counted_flops_per_image

        size = image_size or self.config.image_size
        rows = {}
        for name in names:
            model = self._cost_model(name, num_classes).eval()
            channels = getattr(model, "fixed_channels", None) or RGB  # v1 serves one subset
            cal = calflops_per_image(model, image_size=size, channels=channels)
            counted = counted_flops_per_image(model, image_size=size, channels=channels)
            rows[name] = {
                "params_m": count_parameters(model) / 1e6,
                "calflops_gflops": cal["flops"] / 1e9,
                "counted_gflops": counted["flops"] / 1e9,
                "counted_vs_calflops_%": 100 * (counted["flops"] / cal["flops"] - 1),
            }
        table = pd.DataFrame.from_dict(rows, orient="index").round(4)
        classes = num_classes or self.data.num_classes
        table.attrs["source"] = f"this run, {size} px, one image, {classes} classes"
        return table

    def timing_table(self, names: Sequence[str], *, steps: int = 3) -> pd.DataFrame:
        """Median train-step and inference time, ratios to ResNet18, peak step memory."""
        from dynconv.costs import peak_training_memory_mb, time_models

        device = resolve_device(self.config.device)
        models = {name: self._cost_model(name) for name in names}
        table = time_models(
            models,
            image_size=self.config.image_size,
            batch_size=self.config.batch_size,
            steps=steps,
            warmup=1,
            device=device,
            baseline=names[0],
        )
        table["peak_step_memory_mb"] = [
            peak_training_memory_mb(
                models[n],
                image_size=self.config.image_size,
                batch_size=self.config.batch_size,
                device=device,
            )
            for n in table.index
        ]
        table.attrs["source"] = (
            f"this run: {hardware_label()}, batch {self.config.batch_size}, "
            f"{self.config.image_size} px"
        )
        return table

    def _cost_model(self, name: str, num_classes: int | None = None) -> nn.Module:
        model, kwargs = COST_VARIANTS.get(name, (name, {}))
        torch.manual_seed(0)
        return build_model(model, num_classes=num_classes or self.data.num_classes, **kwargs)

    def criterion_table(
        self, records: Mapping[str, Mapping[str, Any]], *, reference: str, fraction: float = 0.9
    ) -> pd.DataFrame:
        """Part II's goal: test accuracy on RGB as a fraction of the reference model's."""
        ref = records[reference]["test"]["RGB"]
        rows = {
            label: {
                "test_acc_rgb": r["test"]["RGB"],
                f"fraction_of_{reference}": r["test"]["RGB"] / ref if ref else np.nan,
                f"meets_{int(100 * fraction)}%": r["test"]["RGB"] >= fraction * ref,
                "epochs": r["epochs_run"],
                "wall_time_s": round(r["wall_time_s"]),
            }
            for label, r in records.items()
        }
        return pd.DataFrame.from_dict(rows, orient="index")

    def layer_and_cost_table(
        self, names: Sequence[str], *, image_size: int, num_classes: int | None = None
    ) -> pd.DataFrame:
        """Weight layers (convolutions + linear layers) counted honestly, with both FLOP counts."""
        table = self.flops_table(names, image_size=image_size, num_classes=num_classes)
        layers = [_count_weight_layers(self._cost_model(n, num_classes)) for n in names]
        table.insert(0, "weight_layers", layers)
        return table


def _count_weight_layers(model: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d | nn.Linear) for m in model.modules())


def _kwargs_text(record: Mapping[str, Any]) -> str:
    """A record's builder arguments, e.g. 'drop_mode=batch' ('' when there are none)."""
    kwargs = record["config"].get("model_kwargs") or {}
    return ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items()))


def _kwargs_suffix(record: Mapping[str, Any]) -> str:
    text = _kwargs_text(record)
    return f" ({text})" if text else ""


def start(
    profile: str = "ci",
    data_dir: str | Path | None = None,
    *,
    force: bool = False,
    show: bool = True,
) -> Chapter:
    """Resolve the profile, load the data at its image size, and print the page's provenance."""
    t0 = time.perf_counter()
    config = get_config(profile)
    if config.num_threads:
        torch.set_num_threads(config.num_threads)
    data = load_dataset(data_dir, image_size=config.image_size)
    chapter = Chapter(
        profile=profile,
        data_dir=None if data_dir is None else str(data_dir),
        force=force,
        config=config,
        data=data,
    )
    if show:
        chapter.header()
        print(f"data ready in {time.perf_counter() - t0:.1f} s")
    return chapter
