"""Test-set evaluation on every channel subset: accuracy, loss, confusion matrix, per-class report.

The study's question is how one trained network does when only some of the R, G, B channels
arrive, so a model is evaluated once per subset (RGB, RG, RB, GB, R, G, B) on the same images.
Metrics are computed by hand with numpy (no scikit-learn dependency) and follow scikit-learn's
definitions: precision = TP / predicted, recall = TP / true, F1 their harmonic mean, a class
with nothing predicted (or no support) gets 0; the macro average is the unweighted mean over
the classes that occur in the labels or the predictions.

How this differs from the original study:

* The original tested each subset by passing index lists to a model trained on RGB and
  reported accuracy only; here each subset also gets its loss, confusion matrix and
  per-class report, and plain networks are evaluated on subsets too (missing channels set to
  zero, i.e. to the dataset mean colour, since inputs are normalised): the control the
  original never ran.
* A model built for one fixed subset (v1) is only evaluated on that subset; asking for others
  raises an error instead of silently returning chance-level numbers
  (:func:`evaluable_subsets` lists what a model supports).

Explained in chapters ``02_baseline`` (report, confusion) and ``07_ablation`` (tables).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from dynconv.channels import (
    ALL_SUBSETS,
    SUBSET_NAMES,
    ChannelSubset,
    apply_subset,
    parse_channels,
)
from dynconv.config import resolve_device
from dynconv.errors import ConfigError


@dataclass
class SubsetResult:
    """The test results of one model on one channel subset."""

    # Canonical subset name ("RGB", "RG", ..., "B").
    subset: str
    # Fraction of correctly classified images.
    accuracy: float
    # Mean cross-entropy.
    loss: float
    # (C, C) int64 counts; rows = true class, columns = predicted class.
    confusion: np.ndarray
    # Rows: one per class, then "macro avg"; columns: precision, recall, f1, support.
    report: pd.DataFrame
    # (N,) predicted class per image, in dataset order.
    predictions: np.ndarray
    # (N,) true class per image, in dataset order.
    labels: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (lists and dicts of plain numbers) for results records."""
        return {
            "subset": self.subset,
            "accuracy": float(self.accuracy),
            "loss": float(self.loss),
            "confusion": self.confusion.tolist(),
            "report": report_to_records(self.report),
        }


def evaluable_subsets(model: nn.Module,
                      subsets: Iterable[ChannelSubset | str] = ALL_SUBSETS
                      ) -> tuple[ChannelSubset, ...]:
    """The members of ``subsets`` that ``model`` can be evaluated on, in the given order.

    A model (or any of its submodules) may restrict itself with an attribute
    ``supported_subsets`` (an iterable of subsets) or ``fixed_channels`` (one subset); a
    submodule whose ``channels`` attribute is a :class:`ChannelSubset` (v1's stem) is fixed to
    it too. Every other model accepts all subsets.
    """
    wanted = [parse_channels(s) for s in subsets]
    allowed = set(wanted)
    for module in model.modules():
        supported = getattr(module, "supported_subsets", None)
        if supported is not None:
            allowed &= {parse_channels(s) for s in supported}
        fixed = getattr(module, "fixed_channels", None)
        if fixed is None and isinstance(getattr(module, "channels", None), ChannelSubset):
            fixed = module.channels  # a stem built for one subset (v1's PerSampleKernelStem)
        if fixed is not None:
            allowed &= {parse_channels(fixed)}
    return tuple(s for s in wanted if s in allowed)


def evaluate(
    model: nn.Module,
    split_or_loader: Dataset | Iterable,
    subsets: Iterable[ChannelSubset | str] = ALL_SUBSETS,
    *,
    batch_size: int = 256,
    device: str | torch.device | None = None,
    progress: bool = False,
    class_names: Sequence[str] | None = None,
    skip_unsupported: bool = False,
) -> dict[str, SubsetResult]:
    """Evaluate ``model`` on each channel subset; returns ``{subset name: SubsetResult}``.

    ``split_or_loader`` is a dataset (e.g. an ``ImageSplit``; read in order with
    ``batch_size``) or any iterable of ``(x, y)`` batches with ``x`` normalised
    ``(B, 3, H, W)``. ``device=None`` keeps the model where it is; otherwise the model is moved.
    A subset the model does not support raises :class:`ConfigError` unless
    ``skip_unsupported`` (then it is left out of the result).
    """
    wanted = [parse_channels(s) for s in subsets]
    if not wanted:
        raise ConfigError("evaluate needs at least one channel subset, e.g. ALL_SUBSETS")
    supported = evaluable_subsets(model, wanted)
    unsupported = [s.name for s in wanted if s not in supported]
    if unsupported and not skip_unsupported:
        raise ConfigError(
            f"{type(model).__name__} cannot be evaluated on {', '.join(unsupported)}; it "
            f"supports {', '.join(s.name for s in supported) or 'none of them'}. Pass "
            f"evaluable_subsets(model, subsets) or skip_unsupported=True."
        )
    if not supported:
        return {}
    mode = getattr(model, "input_mode", None)
    if mode not in ("drop", "zero"):
        raise ConfigError(f"{type(model).__name__} has input_mode={mode!r}; expected 'drop' or "
                          f"'zero' (build models with dynconv.zoo.build_model)")
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = resolve_device(device)
    model.to(device)

    if isinstance(split_or_loader, Dataset) and not isinstance(split_or_loader, DataLoader):
        loader: Iterable = DataLoader(split_or_loader, batch_size=batch_size, shuffle=False,
                                      num_workers=0)
    else:
        loader = split_or_loader

    was_training = model.training
    model.eval()
    preds: dict[str, list[torch.Tensor]] = {s.name: [] for s in supported}
    losses = dict.fromkeys(preds, 0.0)
    labels: list[torch.Tensor] = []
    num_classes = 0
    try:
        with torch.no_grad():
            for x, y in tqdm(loader, desc="evaluate", disable=not progress, leave=False):
                x, y = x.to(device), y.to(device)  # (B, 3, H, W), (B,)
                labels.append(y.cpu())
                for subset in supported:  # one pass over the data, every subset per batch
                    xs = apply_subset(x, subset, mode)  # (B, n, H, W) or (B, 3, H, W)
                    logits = model(xs, channels=subset)  # (B, C)
                    num_classes = logits.shape[1]
                    losses[subset.name] += F.cross_entropy(logits, y, reduction="sum").item()
                    preds[subset.name].append(logits.argmax(dim=1).cpu())
    finally:
        model.train(was_training)
    if not labels:
        raise ConfigError("evaluate got an empty dataset or loader")

    y_true = torch.cat(labels).numpy().astype(np.int64)
    if class_names is not None and len(class_names) != num_classes:
        raise ConfigError(f"{len(class_names)} class_names given but the model predicts "
                          f"{num_classes} classes")
    results = {}
    for subset in supported:
        y_pred = torch.cat(preds[subset.name]).numpy().astype(np.int64)
        confusion = confusion_matrix(y_true, y_pred, num_classes)
        results[subset.name] = SubsetResult(
            subset=subset.name,
            accuracy=float((y_true == y_pred).mean()),
            loss=losses[subset.name] / len(y_true),
            confusion=confusion,
            report=classification_report(confusion, class_names),
            predictions=y_pred,
            labels=y_true,
        )
    return results


def confusion_matrix(labels: np.ndarray, predictions: np.ndarray, num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; entry [i, j] = images of true class i predicted as j."""
    labels = np.asarray(labels, dtype=np.int64)
    predictions = np.asarray(predictions, dtype=np.int64)
    flat = labels * num_classes + predictions  # one bin per (true, predicted) pair
    counts = np.bincount(flat, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes)


def classification_report(confusion: np.ndarray,
                          class_names: Sequence[str] | None = None) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support from a confusion matrix, plus "macro avg"."""
    confusion = np.asarray(confusion, dtype=np.int64)
    tp = np.diag(confusion).astype(float)
    predicted = confusion.sum(axis=0).astype(float)  # column sums
    support = confusion.sum(axis=1)  # row sums
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    names = list(class_names) if class_names is not None else [str(i) for i in range(len(tp))]
    report = pd.DataFrame({"precision": precision, "recall": recall, "f1": f1,
                           "support": support}, index=pd.Index(names, name="class"))
    present = (support > 0) | (predicted > 0)  # scikit-learn's set of labels
    macro = report[present] if present.any() else report
    report.loc["macro avg"] = [macro["precision"].mean(), macro["recall"].mean(),
                               macro["f1"].mean(), int(support.sum())]
    report["support"] = report["support"].astype(np.int64)
    return report


def report_to_records(report: pd.DataFrame) -> list[dict[str, Any]]:
    """A report as a list of ``{"class", "precision", "recall", "f1", "support"}`` dicts."""
    return [
        {"class": str(name), "precision": float(row["precision"]), "recall": float(row["recall"]),
         "f1": float(row["f1"]), "support": int(row["support"])}
        for name, row in report.iterrows()
    ]


def accuracy_table(results_by_model: Mapping[str, Mapping[str, SubsetResult | float]]
                   ) -> pd.DataFrame:
    """Models x subsets table of test accuracies (NaN where a model was not evaluated).

    Values may be :class:`SubsetResult` or plain accuracies (e.g. read from results records).
    Columns follow the order RGB, RG, RB, GB, R, G, B, then any others.
    """
    rows = {}
    for model_name, by_subset in results_by_model.items():
        rows[model_name] = {
            parse_channels(s).name: (r.accuracy if isinstance(r, SubsetResult) else float(r))
            for s, r in by_subset.items()
        }
    table = pd.DataFrame.from_dict(rows, orient="index")
    order = [name for name in SUBSET_NAMES if name in table.columns]
    table = table.reindex(columns=order + [c for c in table.columns if c not in order])
    table.index.name = "model"
    return table
