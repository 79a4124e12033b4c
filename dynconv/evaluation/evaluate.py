"""Test-set evaluation on every channel subset: accuracy, loss, confusion matrix, per-class report.

The study's question is how one trained network does when only some of the R, G, B channels
arrive, so a model is evaluated once per subset (RGB, RG, RB, GB, R, G, B) on the same images.
The confusion matrix and the per-class precision, recall, F1 and support come from
scikit-learn's metrics (``sklearn.metrics.confusion_matrix`` and
``precision_recall_fscore_support``), not from hand-written code: precision = TP / predicted,
recall = TP / true, F1 their harmonic mean, a class with nothing predicted (or no support)
gets 0 (``zero_division=0``); the macro average is scikit-learn's ``average="macro"``, the
unweighted mean over the classes that occur in the labels or the predictions. Both are also
available from stored predictions (:func:`confusion_from_predictions`, :func:`class_report`),
since results records keep only the labels and the per-subset predictions. Intervals and paired
tests between models are in :mod:`dynconv.stats`.

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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from dynconv.channels import (
    ALL_SUBSETS,
    ChannelSubset,
    apply_subset,
    model_input_mode,
    parse_channels,
)
from dynconv.config import resolve_device
from dynconv.data.datasets import collate_batch
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


def evaluable_subsets(model: nn.Module,
                      subsets: Iterable[ChannelSubset | str] = ALL_SUBSETS
                      ) -> tuple[ChannelSubset, ...]:
    """The members of ``subsets`` that ``model`` can be evaluated on, in the given order.

    A model (or any of its submodules) may fix itself to one subset with an attribute
    ``fixed_channels``; a submodule whose ``channels`` attribute is a :class:`ChannelSubset`
    (v1's stem) is fixed to it too. Every other model accepts all subsets.
    """
    wanted = [parse_channels(s) for s in subsets]
    allowed = set(wanted)
    for module in model.modules():
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
    Testing runs in float32 whatever precision training used (``TrainConfig.amp``), so test
    numbers do not depend on the GPU's autocast.
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
    mode = model_input_mode(model)
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else torch.device("cpu")
    device = resolve_device(device)
    model.to(device)

    if isinstance(split_or_loader, Dataset) and not isinstance(split_or_loader, DataLoader):
        loader: Iterable = DataLoader(split_or_loader, batch_size=batch_size, shuffle=False,
                                      num_workers=0, collate_fn=collate_batch)
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
    names = list(class_names) if class_names is not None else [str(i) for i in range(num_classes)]
    results = {}
    for subset in supported:
        y_pred = torch.cat(preds[subset.name]).numpy().astype(np.int64)
        results[subset.name] = SubsetResult(
            subset=subset.name,
            accuracy=float((y_true == y_pred).mean()),
            loss=losses[subset.name] / len(y_true),
            confusion=confusion_from_predictions(y_true, y_pred, num_classes),
            report=class_report(y_true, y_pred, names),
            predictions=y_pred,
            labels=y_true,
        )
    return results


def _class_indices(labels: Iterable[int] | np.ndarray, predictions: Iterable[int] | np.ndarray,
                   num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions as equal-length 1-D int64 arrays of class indices < num_classes."""
    y_true = np.asarray(labels, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(predictions, dtype=np.int64).reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ConfigError(f"{len(y_true)} labels but {len(y_pred)} predictions; they must be "
                          f"the same test images in the same order")
    if len(y_true) == 0:
        raise ConfigError("no labels or predictions to score (empty arrays)")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes}")
    for name, values in (("labels", y_true), ("predictions", y_pred)):
        if values.min() < 0 or values.max() >= num_classes:
            raise ConfigError(f"{name} must be class indices 0..{num_classes - 1}, got values "
                              f"from {values.min()} to {values.max()}")
    return y_true, y_pred


def confusion_from_predictions(labels: Iterable[int] | np.ndarray,
                               predictions: Iterable[int] | np.ndarray,
                               num_classes: int) -> np.ndarray:
    """(C, C) int64 counts; entry [i, j] = images of true class i predicted as j.

    ``sklearn.metrics.confusion_matrix`` with ``labels=range(num_classes)``, so classes that
    never occur still get their (zero) row and column.
    """
    y_true, y_pred = _class_indices(labels, predictions, num_classes)
    return confusion_matrix(y_true, y_pred, labels=range(num_classes)).astype(np.int64)


def class_report(labels: Iterable[int] | np.ndarray, predictions: Iterable[int] | np.ndarray,
                 class_names: Sequence[str]) -> pd.DataFrame:
    """Per-class precision, recall, F1 and support, then a "macro avg" row (scikit-learn).

    One row per class in ``class_names`` (class ``i`` is ``class_names[i]``), columns
    ``precision``, ``recall``, ``f1``, ``support``. Per-class values are
    ``precision_recall_fscore_support(labels=range(C), zero_division=0)``; the macro row is its
    ``average="macro"`` over the classes present in the labels or the predictions, and its
    support is the number of images.
    """
    names = [str(name) for name in class_names]
    y_true, y_pred = _class_indices(labels, predictions, len(names))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=range(len(names)), zero_division=0)
    report = pd.DataFrame({"precision": precision.astype(float), "recall": recall.astype(float),
                           "f1": f1.astype(float), "support": support.astype(np.int64)},
                          index=pd.Index(names, name="class"))
    macro_p, macro_r, macro_f1, _ = precision_recall_fscore_support(
        y_true, y_pred, average="macro", zero_division=0)
    report.loc["macro avg"] = [float(macro_p), float(macro_r), float(macro_f1), len(y_true)]
    report["support"] = report["support"].astype(np.int64)
    return report
