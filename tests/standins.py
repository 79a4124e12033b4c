"""Tiny stand-ins shared by the experiment, records and tables tests (not a test module).

* :func:`synthetic_bundle`: a 3-class dataset in memory (class k: channel k brighter), 8 px;
* :class:`TinyNet`: a conv + linear network that trains in milliseconds;
* :func:`patch_experiment`: swaps data loading, the model zoo and cost measurement of
  :mod:`dynconv.experiments.runner` for those stand-ins and counts the calls;
* :func:`make_record`: a :class:`~dynconv.experiments.records.Record` with given predictions, no
training;
* :func:`loop_gradients`: the gradients one step of the training loop computes (a model with a
  second loss is tested against that loss written out).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import dynconv.experiments.runner as experiment
from dynconv.channels import SUBSET_NAMES, parse_channels
from dynconv.data.datasets import DataIdentity, DatasetBundle, ImageSplit
from dynconv.experiments.records import Record

NUM_CLASSES = 3
# The seed of the channel draws in loop_gradients: a test draws the same ones with it again.
DRAWS_SEED = 3


def loop_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                   channels: Any = None) -> dict[str, torch.Tensor]:
    """{parameter: gradient} after what ``training.loop`` does in one step (cross-entropy of
    the returned logits, backward), the channel draws seeded with :data:`DRAWS_SEED`; the
    model's gradients are cleared again afterwards."""
    torch.manual_seed(DRAWS_SEED)
    nn.functional.cross_entropy(model(x, channels), y).backward()
    grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}
    model.zero_grad(set_to_none=True)
    return grads

# A run in seconds (or less): 8 px, 2 epochs of 6 training images per class.
TINY = dict(image_size=8, batch_size=8, max_epochs=2, max_train_per_class=6,
            max_val_per_class=4, max_test_per_class=4, device="cpu")


class TinyNet(nn.Module):
    input_mode = "zero"

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x, channels=None):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))  # (B, num_classes)


def synthetic_bundle(image_size: int, fingerprint: str | None = None) -> DatasetBundle:
    def split(n_per_class: int, seed: int, name: str) -> ImageSplit:
        g = torch.Generator().manual_seed(seed)
        labels = torch.arange(NUM_CLASSES).repeat_interleave(n_per_class)
        images = torch.randint(0, 100, (len(labels), 3, image_size, image_size), generator=g)
        images[torch.arange(len(labels)), labels] += 120  # class k: channel k brighter
        return ImageSplit(images.to(torch.uint8), labels, name=name)

    return DatasetBundle(
        name="synthetic", root=Path("/nowhere"), image_size=image_size, num_classes=NUM_CLASSES,
        class_names=["red", "green", "blue"],
        fingerprint=fingerprint or f"synthetic-{image_size}",
        train=split(10, 0, "train"), val=split(5, 1, "val"), test=split(6, 2, "test"),
    )


def patch_experiment(monkeypatch: pytest.MonkeyPatch, *, real_models: bool = False
                     ) -> dict[str, Any]:
    """Stand-in data (and, unless ``real_models``, TinyNet for every model) in
    :mod:`dynconv.experiments.runner`; returns call counters and the data version knob.

    ``state["version"]`` is part of the stand-in data's fingerprint: change it to simulate new
    data. ``state["fits"]`` lists each fit's result; ``state["fit_ckpt_existed"]`` whether a
    checkpoint was there when fit started.
    """
    state: dict[str, Any] = {"load": 0, "identity": 0, "fits": [], "fit_ckpt_existed": [],
                             "version": "v1"}
    real_fit = experiment.fit

    def fingerprint(image_size: int) -> str:
        return f"synthetic-{state['version']}-{image_size}"

    def data_identity(data_dir=None, *, image_size, cache_dir=None):
        state["identity"] += 1
        return DataIdentity(name="synthetic", root=Path("/nowhere"), image_size=image_size,
                            fingerprint=fingerprint(image_size))

    def load_dataset(data_dir=None, *, image_size, cache_dir=None, progress=True):
        state["load"] += 1
        return synthetic_bundle(image_size, fingerprint=fingerprint(image_size))

    def build_model(name, *, num_classes, **kwargs):
        model = TinyNet(num_classes)
        if "fixed" in kwargs:
            model.fixed_channels = parse_channels(kwargs["fixed"])
        return model

    def counting_fit(*args, **kwargs):
        path = kwargs.get("checkpoint_path")
        state["fit_ckpt_existed"].append(path is not None and Path(path).exists())
        result = real_fit(*args, **kwargs)
        state["fits"].append(result)
        return result

    monkeypatch.setattr(experiment, "data_identity", data_identity)
    monkeypatch.setattr(experiment, "load_dataset", load_dataset)
    if not real_models:
        monkeypatch.setattr(experiment, "build_model", build_model)
        monkeypatch.setattr(experiment, "builder", lambda name: build_model)
    monkeypatch.setattr(experiment, "_measure_costs",
                        lambda model, **kw: {"params": sum(p.numel() for p in model.parameters()),
                                             **kw})
    monkeypatch.setattr(experiment, "fit", counting_fit)
    return state


def make_record(
    predictions: Mapping[str, Sequence[int]],
    labels: Sequence[int],
    *,
    label: str = "model",
    seed: int = 42,
    fingerprint: str = "data-1",
    num_classes: int = NUM_CLASSES,
    origin: str = "",
    **fields: Any,
) -> Record:
    """A record with the given per-subset predictions on test images with ``labels``."""
    labels = [int(v) for v in labels]
    preds = {s: [int(v) for v in predictions[s]] for s in SUBSET_NAMES if s in predictions}
    test = {s: sum(p == t for p, t in zip(p_s, labels, strict=True)) / len(labels)
            for s, p_s in preds.items()}
    values: dict[str, Any] = dict(
        name=f"{label}-seed{seed}-0123456789",
        experiment=label,
        label=label,
        model="resnet18",
        profile="ci",
        seed=seed,
        config={"image_size": 8, "val_subsets": "train", "model_kwargs": {},
                "train_channels": "RGB"},
        key={"config": "c", "data": fingerprint, "config_and_data": "cd", "code": "x",
             "modules": {}},
        data={"name": "synthetic", "fingerprint": fingerprint, "root": "/nowhere",
              "image_size": 8, "num_classes": num_classes,
              "class_names": [f"class{i}" for i in range(num_classes)],
              "test_split": {"max_test_per_class": None, "seed": 0, "size": len(labels)},
              "sizes": {"train": 30, "val": 15, "test": len(labels)},
              "full_sizes": {"train": 30, "val": 15, "test": len(labels)}},
        test=test,
        test_loss=dict.fromkeys(preds, 1.0),
        test_labels=labels,
        predictions=preds,
        history=[{"epoch": 1, "train_loss": 1.0, "val_loss": 1.0, "val_acc": 0.5, "seconds": 0.5}],
        best_epoch=1,
        best_metric=1.0,
        monitor="val_loss",
        epochs_run=1,
        stopped_early=False,
        checkpoint=f"{label}.pt",
        costs={"params": 10},
        inspection={},
        device="cpu",
        hardware={"cpu": "test CPU", "gpu": None},
        versions={"python": "3"},
        train_time_s=0.5,
        wall_time_s=1.0,
        created="2024-01-02T03:04:05+00:00",
        origin=origin,
    )
    values.update(fields)
    return Record(**values)


# Hand-made records with chosen accuracies (tests of dynconv.book.tables and
# dynconv.book.robustness).
ACCURACY_TEST_SIZE = 200
ACCURACY_LABELS = [i % 4 for i in range(ACCURACY_TEST_SIZE)]


def with_accuracy(fractions: Mapping[str, float], *, label: str = "m", **kw: Any) -> Record:
    """A 4-class record whose first ``fraction * 200`` predictions per subset are right, the
    rest wrong."""
    preds = {}
    for subset, fraction in fractions.items():
        k = round(fraction * ACCURACY_TEST_SIZE)
        preds[subset] = [y if i < k else (y + 1) % 4 for i, y in enumerate(ACCURACY_LABELS)]
    return make_record(preds, ACCURACY_LABELS, label=label, num_classes=4, **kw)
