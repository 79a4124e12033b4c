"""A results record: one trained model's numbers, with everything that produced them.

A :class:`Record` answers "which code, on which machine, with which settings and data, gave
this number?" without the notebook that produced it, like nanoGPT's checkpoints (model
arguments, step, best loss, config) and torchvision's weight metadata (parameters, GFLOPs,
metrics, recipe). It is a frozen dataclass written as one JSON file
``book/results/<profile>/<name>.json`` beside its checkpoint ``<name>.pt`` (the book ships
the JSON files, not the checkpoints).

A record keeps the test labels once and every subset's predictions, image by image, so that

* every accuracy gets an interval (:meth:`Record.interval`, Wilson),
* two records tested on the same images can be compared image by image
  (:func:`paired_tests`, McNemar's exact test),
* confusion matrices and per-class reports are computed when needed by scikit-learn
  (:meth:`Record.confusion`, :meth:`Record.class_report`) instead of being stored.

``key`` is what decides whether the record may be reused (see :mod:`dynconv.experiments.runner`):
the configuration's hash, the data's fingerprint and a digest of the source of every module that
computes the numbers.

How this differs from the original study: the original kept the best weights in memory and
reported numbers in a document, with no record of hardware, versions or settings beside them.

Explained in chapters ``02_baseline`` (one record) and ``07_ablation`` (many).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dynconv.channels import SUBSET_NAMES
from dynconv.errors import ConfigError
from dynconv.evaluation.evaluate import SubsetResult, class_report, confusion_from_predictions
from dynconv.experiments.convergence import Convergence, record_convergence
from dynconv.fileio import read_json
from dynconv.provenance import hardware, to_jsonable, versions, write_json
from dynconv.stats import PairedTest, accuracy_interval, paired_test
from dynconv.training.loop import FitResult, load_model

RECORD_FORMAT = 3  # 3: inspection; 2: typed record with predictions and key; 1: untyped dict


@dataclass(frozen=True)
class Record:
    """The stored result of one training run (see the module docstring)."""

    # File stem: "<experiment>-seed<seed>-<hash of configuration and data>".
    name: str
    # The registry experiment it ran (dynconv.experiments.registry), or the model name for ad-hoc
    # runs.
    experiment: str
    # How tables call it, e.g. "v4 per sample".
    label: str
    # dynconv.models.zoo model name.
    model: str
    profile: str
    seed: int
    # TrainConfig fields + model_kwargs + train_channels.
    config: dict[str, Any]
    # {"config": hash, "data": fingerprint, "code": digest, "modules": {module: digest}}.
    key: dict[str, Any]
    # Name, fingerprint, root, image size, classes, split sizes used.
    data: dict[str, Any]
    # Test accuracy per channel subset (canonical names).
    test: dict[str, float]
    # Mean test cross-entropy per subset.
    test_loss: dict[str, float]
    # (N,) true class of each test image, in test-split order.
    test_labels: list[int]
    # Predicted class per subset, (N,) each, same order as test_labels.
    predictions: dict[str, list[int]]
    # One dict per epoch (epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds, ...).
    history: list[dict[str, Any]]
    best_epoch: int
    best_metric: float | None
    monitor: str
    epochs_run: int
    stopped_early: bool
    checkpoint: str  # file name of the checkpoint beside the record
    costs: dict[str, Any]  # parameters, FLOPs, step time, memory (evaluation.costs.measure_costs)
    # What a chapter shows of the trained model (dynconv.experiments.inspection); {} when nothing.
    inspection: dict[str, Any]
    device: str
    hardware: dict[str, Any]
    versions: dict[str, Any]
    # Seconds spent training (sum of the epochs) and in total (training + evaluation).
    train_time_s: float
    wall_time_s: float
    # ISO time (UTC) the record was written.
    created: str
    format: int = RECORD_FORMAT
    # How this call obtained the record ("trained", "loaded", "retrained: ..."): not stored.
    origin: str = field(default="", compare=False)
    # The JSON file it was read from or written to: not stored.
    path: str = field(default="", compare=False)

    # ---- reading and writing --------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """The JSON-ready dict written to disk (every field but ``origin``)."""
        data = dataclasses.asdict(self)
        data.pop("origin")
        data.pop("path")
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, origin: str = "", path: str = "") -> Record:
        """Build a record from its JSON dict; a record of another format raises ConfigError."""
        if data.get("format") != RECORD_FORMAT:
            raise ConfigError(f"record {data.get('name')!r} has format {data.get('format')!r}, "
                              f"not {RECORD_FORMAT}: it was written by older code; delete it")
        names = {f.name for f in dataclasses.fields(cls)} - {"origin", "path"}
        missing = sorted(names - set(data))
        if missing:
            raise ConfigError(f"record {data.get('name')!r} lacks {', '.join(missing)}")
        return cls(**{k: data[k] for k in names}, origin=origin, path=path)

    @classmethod
    def from_fit(cls, fit: FitResult, tests: Mapping[str, SubsetResult], *,
                 wall_time_s: float, **fields: Any) -> Record:
        """The one way a trained run becomes a record: what :func:`~dynconv.training.loop.fit`
        returned (history, best epoch, stopping, device, the runtime settings), the test
        results per subset (accuracy, loss, labels, predictions), and ``fields``: the run's
        name, experiment, label, model, profile, seed, config, key, data, checkpoint, costs,
        inspection and origin. The machine, versions and time of writing are read here."""
        history = fit.history.to_dict(orient="records")
        first = next(iter(tests.values()))
        return cls(
            **fields,
            test={s: float(r.accuracy) for s, r in tests.items()},
            test_loss={s: float(r.loss) for s, r in tests.items()},
            test_labels=[int(v) for v in first.labels],
            predictions={s: [int(v) for v in r.predictions] for s, r in tests.items()},
            history=to_jsonable(history),
            best_epoch=fit.best_epoch,
            best_metric=fit.best_metric,
            monitor=fit.monitor,
            epochs_run=fit.epochs_run,
            stopped_early=fit.stopped_early,
            device=fit.device,
            # the machine, and what the config's "auto" settings meant on it (and world_size)
            hardware={**hardware(), "runtime": to_jsonable(fit.runtime)},
            versions=versions(),
            train_time_s=float(sum(row["seconds"] for row in history)),
            wall_time_s=wall_time_s,
            created=datetime.now(UTC).isoformat(timespec="seconds"),
        )

    def save(self, path: str | os.PathLike) -> Record:
        """Write the record atomically as JSON; returns it with ``path`` set."""
        write_json(path, self.to_json())
        return dataclasses.replace(self, path=str(path))

    @classmethod
    def load(cls, path: str | os.PathLike, *, origin: str = "") -> Record:
        return cls.from_json(read_json(path), origin=origin, path=str(path))

    # ---- numbers ------------------------------------------------------------------------------
    @property
    def subsets(self) -> list[str]:
        """The subsets it was tested on, in the book's order (RGB, RG, RB, GB, R, G, B)."""
        return [s for s in SUBSET_NAMES if s in self.test]

    @property
    def num_test(self) -> int:
        return len(self.test_labels)

    def correct(self, subset: str) -> np.ndarray:
        """(N,) bool: which test images it classifies correctly on ``subset``."""
        self._check_subset(subset)
        return np.asarray(self.predictions[subset]) == np.asarray(self.test_labels)

    def interval(self, subset: str, confidence: float = 0.95) -> tuple[float, float]:
        """Wilson interval of the test accuracy on ``subset``."""
        return accuracy_interval(int(self.correct(subset).sum()), self.num_test,
                                 confidence=confidence)

    @property
    def convergence(self) -> Convergence:
        """Whether its validation curve had levelled off
        (:mod:`dynconv.experiments.convergence`)."""
        return record_convergence(self.history, self.data)

    def confusion(self, subset: str) -> np.ndarray:
        """(C, C) counts, rows = true class (scikit-learn)."""

        self._check_subset(subset)
        return confusion_from_predictions(self.test_labels, self.predictions[subset],
                                          self.data["num_classes"])

    def class_report(self, subset: str = "RGB") -> pd.DataFrame:
        """Per-class precision, recall, F1 and support (scikit-learn), plus the macro average."""

        self._check_subset(subset)
        return class_report(self.test_labels, self.predictions[subset],
                            self.data["class_names"])

    @property
    def checkpoint_path(self) -> Path:
        """Where the checkpoint is: beside the record's JSON file."""
        if not self.path:
            raise ConfigError(f"record {self.name!r} was neither loaded nor saved: no folder")
        return Path(self.path).with_name(self.checkpoint)

    def load_model(self) -> Any:
        """The trained network with its best weights, on the CPU, in eval mode.

        Needs the checkpoint beside the record: the book's shipped records come without one
        (what the chapters show of a trained model is in :attr:`inspection`); train the
        experiment on your machine first (``make book RETRAIN="<experiment>"``).
        """

        if not self.checkpoint_path.is_file():
            raise ConfigError(
                f"{self.label}: no checkpoint at {self.checkpoint_path} (shipped records hold "
                f"numbers, not weights); retrain it with make book RETRAIN=\"{self.experiment}\"")
        return load_model(self.checkpoint_path)

    @property
    def settings(self) -> str:
        """Builder arguments as text, e.g. 'drop_mode=sample' ('' when none)."""
        kwargs = self.config.get("model_kwargs") or {}
        return ", ".join(f"{k}={v}" for k, v in sorted(kwargs.items()))

    def _check_subset(self, subset: str) -> None:
        if subset not in self.predictions:
            raise ConfigError(f"{self.label} was not tested on {subset!r}; it was tested on "
                              f"{', '.join(self.subsets)}")


def same_test_images(a: Record, b: Record) -> bool:
    """True when two records were tested on the same images, in the same order."""
    return (a.data["fingerprint"] == b.data["fingerprint"]
            and a.data.get("test_split") == b.data.get("test_split")
            and a.test_labels == b.test_labels)


def paired_tests(a: Record, b: Record, subsets: Sequence[str] | None = None
                 ) -> list[PairedTest]:
    """McNemar's exact test of ``a`` against ``b`` on each shared subset (same test images).

    Raises ConfigError when the two were not tested on the same images (then no paired test is
    possible, and comparing their accuracies needs two independent intervals instead).
    """
    if not same_test_images(a, b):
        raise ConfigError(f"{a.label} and {b.label} were not tested on the same images "
                          f"(data {a.data['name']} / {b.data['name']}); no paired test")
    wanted = subsets if subsets is not None else SUBSET_NAMES
    shared = [s for s in wanted if s in a.predictions and s in b.predictions]
    return [paired_test(a.correct(s), b.correct(s), subset=s) for s in shared]
