"""Train or load, keyed by the configuration: one call per experiment, one JSON record per run.

:func:`run_experiment` is what a chapter calls: it loads the data, builds the model, trains it
with :func:`dynconv.train.fit` (resumable checkpoint beside the record), evaluates it on every
channel subset, measures its costs and writes one self-describing record
``results/<profile>/<name>.json``. The name is derived from everything that determines the
numbers (model, its arguments, training channels, the full training config and the data
fingerprint), so different configurations never collide and an identical one is loaded instead
of trained again (the ``train_model`` pattern of the UvA deep-learning notebooks). CI executes
every chapter with the ``ci`` profile; the ``full`` profile reproduces the original settings.

How this differs from the original study: the original trained inside each notebook and kept
the best weights in memory, so every number in its report came from a run that can no longer be
inspected; here each number is in a record with its config, data fingerprint, history, costs,
hardware and versions, and the checkpoint sits beside it.

Explained in chapters ``02_baseline`` (one experiment) and ``07_ablation`` (many records).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import torch
from torch import nn

from dynconv.channels import ALL_SUBSETS, SUBSET_NAMES, ChannelSubset, parse_channels
from dynconv.config import TrainConfig, get_config
from dynconv.data import DatasetBundle, ImageSplit, load_dataset, make_loader
from dynconv.errors import ConfigError
from dynconv.evaluate import evaluable_subsets, evaluate
from dynconv.results import (
    config_fingerprint,
    hardware,
    read_json,
    resolve_results_dir,
    to_jsonable,
    versions,
    write_json,
)
from dynconv.train import fit
from dynconv.zoo import build_model

NUM_SAMPLES = 16  # test images per subset whose (label, prediction) the record keeps


def _freeze(mapping: Mapping[str, Any] | Iterable[tuple[str, Any]] | None
            ) -> tuple[tuple[str, Any], ...]:
    items = dict(mapping or {})
    return tuple(sorted(items.items()))


@dataclass(frozen=True)
class Experiment:
    """One experiment of the book, as a hashable value (dict arguments are frozen to tuples).

    >>> Experiment("v4", model_kwargs={"drop_prob": 0.5}, overrides={"monitor": "val_acc"})
    ... # doctest: +SKIP
    """

    # A name from dynconv.zoo.MODEL_NAMES.
    model: str
    # Channels the model is trained (and validated) on.
    train_channels: str = "RGB"
    # Keyword arguments of build_model, as sorted (key, value) pairs (a dict is accepted).
    model_kwargs: tuple[tuple[str, Any], ...] = field(default=())
    # TrainConfig overrides, as sorted (key, value) pairs (a dict is accepted).
    overrides: tuple[tuple[str, Any], ...] = field(default=())
    # Subsets to test on; None = all seven that the model supports.
    eval_subsets: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        # frozen dataclass: normalise the fields through object.__setattr__
        object.__setattr__(self, "train_channels", parse_channels(self.train_channels).name)
        object.__setattr__(self, "model_kwargs", _freeze(self.model_kwargs))
        object.__setattr__(self, "overrides", _freeze(self.overrides))
        if self.eval_subsets is not None:
            names = tuple(parse_channels(s).name for s in self.eval_subsets)
            object.__setattr__(self, "eval_subsets", names)

    def run(self, *, profile: str = "ci", data_dir: str | os.PathLike | None = None,
            results_dir: str | os.PathLike | None = None, force: bool = False,
            progress: bool = True) -> dict[str, Any]:
        """Run (or load) this experiment; see :func:`run_experiment`."""
        return run_experiment(
            self.model, profile=profile, data_dir=data_dir, train_channels=self.train_channels,
            model_kwargs=dict(self.model_kwargs), eval_subsets=self.eval_subsets,
            results_dir=results_dir, force=force, progress=progress, **dict(self.overrides),
        )


def run_experiment(
    model: str,
    *,
    profile: str = "ci",
    data_dir: str | os.PathLike | None = None,
    train_channels: str | ChannelSubset = "RGB",
    model_kwargs: Mapping[str, Any] | None = None,
    eval_subsets: Sequence[str] | None = None,
    results_dir: str | os.PathLike | None = None,
    force: bool = False,
    progress: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """Train, evaluate and record one model, or return the stored record of an identical run.

    ``overrides`` replace fields of the profile's :class:`~dynconv.config.TrainConfig`.
    The checkpoint ``<results_dir>/<profile>/<name>.pt`` makes an interrupted run resume;
    ``force=True`` deletes record and checkpoint and trains from scratch. Returns the record
    (a JSON-ready dict; see the keys written below).
    """
    cfg = get_config(profile, **overrides)
    subset = parse_channels(train_channels)
    kwargs = dict(_freeze(model_kwargs))
    requested = None if eval_subsets is None else [parse_channels(s).name for s in eval_subsets]
    if requested is not None and not requested:
        raise ConfigError("eval_subsets is empty; pass None for all subsets the model supports")

    bundle = load_dataset(data_dir, image_size=cfg.image_size, progress=progress)
    key = {
        "model": model,
        "model_kwargs": kwargs,
        "train_channels": subset.name,
        "config": cfg.fingerprint_dict(),
        "data": bundle.fingerprint,
        "eval_subsets": requested,
    }
    name = f"{model}-{subset.name}-{config_fingerprint(key)}"
    out_dir = resolve_results_dir(results_dir) / cfg.profile
    record_path = out_dir / f"{name}.json"
    ckpt_path = out_dir / f"{name}.pt"
    if force:
        for path in (record_path, ckpt_path):
            path.unlink(missing_ok=True)
    elif record_path.exists():
        return read_json(record_path)

    train, val, test = make_splits(bundle, cfg)
    train_loader = make_loader(train, batch_size=cfg.batch_size, shuffle=True, seed=cfg.seed)
    val_loader = make_loader(val, batch_size=cfg.batch_size, shuffle=False, seed=cfg.seed)

    torch.manual_seed(cfg.seed)  # the model's initial weights
    net = build_model(model, num_classes=bundle.num_classes, **kwargs)
    subsets = (evaluable_subsets(net, ALL_SUBSETS) if requested is None
               else tuple(parse_channels(s) for s in requested))
    supported = ", ".join(s.name for s in evaluable_subsets(net)) or "nothing"
    if subset not in evaluable_subsets(net, [subset]):
        raise ConfigError(f"model {model!r} cannot take {subset.name} as input; it supports "
                          f"{supported}")
    unsupported = [s.name for s in subsets if s not in evaluable_subsets(net, subsets)]
    if unsupported:  # checked before training, not after
        raise ConfigError(f"model {model!r} cannot be evaluated on {', '.join(unsupported)}; "
                          f"it supports {supported}")

    t0 = time.perf_counter()
    result = fit(net, train_loader, val_loader, cfg, train_channels=subset,
                 checkpoint_path=ckpt_path, progress=progress)
    device = result.device
    tests = evaluate(net, test, subsets, batch_size=max(cfg.batch_size, 256), device=device,
                     progress=progress, class_names=bundle.class_names)
    wall_time = time.perf_counter() - t0
    costs = _measure_costs(net, image_size=cfg.image_size, batch_size=cfg.batch_size,
                           channels=subset, device=device)

    history = result.history.to_dict(orient="records")
    record = {
        "name": name,
        "model": model,
        "profile": cfg.profile,
        "config": {**cfg.to_dict(), "model_kwargs": kwargs, "train_channels": subset.name,
                   "eval_subsets": requested},
        "data": {
            "name": bundle.name,
            "fingerprint": bundle.fingerprint,
            "root": str(bundle.root),
            "image_size": bundle.image_size,
            "num_classes": bundle.num_classes,
            "class_names": list(bundle.class_names),
            # sizes after make_splits' per-class subsampling, and before
            "sizes": {"train": len(train), "val": len(val), "test": len(test)},
            "full_sizes": {"train": len(bundle.train), "val": len(bundle.val),
                           "test": len(bundle.test)},
        },
        "test": {s: r.accuracy for s, r in tests.items()},
        "test_loss": {s: r.loss for s, r in tests.items()},
        "confusion": {s: r.confusion for s, r in tests.items()},
        "report": {s: r.to_dict()["report"] for s, r in tests.items()},
        # indices into the evaluated test split (make_splits(bundle, config)[2])
        "samples": {
            s: [{"index": i, "label": int(r.labels[i]), "predicted": int(r.predictions[i])}
                for i in sample_indices(len(r.labels))]
            for s, r in tests.items()
        },
        "history": history,
        "best_epoch": result.best_epoch,
        "best_metric": result.best_metric,
        "monitor": result.monitor,
        "epochs_run": result.epochs_run,
        "stopped_early": result.stopped_early,
        "checkpoint": ckpt_path.name,
        "costs": costs,
        "device": device,
        "hardware": hardware(),
        "versions": versions(),
        "train_time_s": float(sum(row["seconds"] for row in history)),
        "wall_time_s": wall_time,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    record = to_jsonable(record)
    write_json(record_path, record)
    return record


def make_splits(bundle: DatasetBundle, config: TrainConfig
                ) -> tuple[ImageSplit, ImageSplit, ImageSplit]:
    """The (train, val, test) splits a run with ``config`` uses: seeded per-class subsamples.

    Chapters call it to get the exact test images a record's ``samples`` indices refer to.
    """
    train, val, test = bundle.train, bundle.val, bundle.test
    if config.max_train_per_class is not None:
        train = train.subset_per_class(config.max_train_per_class, seed=config.seed)
    if config.max_eval_per_class is not None:
        val = val.subset_per_class(config.max_eval_per_class, seed=config.seed)
        test = test.subset_per_class(config.max_eval_per_class, seed=config.seed)
    return train, val, test


def sample_indices(n: int, count: int = NUM_SAMPLES) -> list[int]:
    """``count`` test indices spread evenly over ``0..n-1`` (splits are sorted by class, so the
    first ``count`` images would all show the same class)."""
    if n <= count:
        return list(range(n))
    return sorted({round(i * (n - 1) / (count - 1)) for i in range(count)})


def _measure_costs(model: nn.Module, **kwargs: Any) -> dict[str, Any]:
    """dynconv.costs.measure_costs, imported only when needed (calflops imports are slow)."""
    from dynconv.costs import measure_costs

    return measure_costs(model, **kwargs)


def load_records(profile: str = "ci", results_dir: str | os.PathLike | None = None
                 ) -> list[dict[str, Any]]:
    """Every record under ``<results_dir>/<profile>/``, sorted by name (empty if none)."""
    folder = resolve_results_dir(results_dir) / profile
    return [read_json(p) for p in sorted(folder.glob("*.json"))]


def records_to_frame(records: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """One row per record: model, train_channels, model_kwargs, then test accuracy per subset.

    Indexed by record name; subset columns in the order RGB, RG, RB, GB, R, G, B (NaN where a
    model was not tested on a subset). For the ablation chapter's tables and plots.
    """
    rows = {}
    for rec in records:
        kwargs = rec["config"].get("model_kwargs") or {}
        row: dict[str, Any] = {
            "model": rec["model"],
            "train_channels": rec["config"]["train_channels"],
            "model_kwargs": ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items())),
        }
        row.update({s: float(acc) for s, acc in rec["test"].items()})
        rows[rec["name"]] = row
    columns = ["model", "train_channels", "model_kwargs", *SUBSET_NAMES]
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame = frame.reindex(columns=columns + [c for c in frame.columns if c not in columns])
    frame.index.name = "name"
    return frame

