"""Every model of the book by name: ``build_model("v3", num_classes=50)``.

Chapters: all model chapters (``02_baseline`` ... ``09_part2``) build their model here.

Each name maps to a small public builder with keyword-only arguments (torchvision's
style); ``build_model`` forwards extra keyword arguments to it and rejects unknown ones
with the list of valid ones.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial
from typing import Any

from torch import nn

from dynconv.errors import ConfigError
from dynconv.resnet import (
    resnet18,
    resnet18_v1,
    resnet18_v2,
    resnet18_v3,
    resnet18_v4,
    resnet34,
)
from dynconv.small_net import small_attention_net

__all__ = ["MODEL_NAMES", "build_model", "describe_model", "model_options"]

MODEL_NAMES: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "v1",
    "v2",
    "v3",
    "v4",
    "small_k3s1",
    "small_k7s2",
)

_BUILDERS: dict[str, Callable[..., nn.Module]] = {
    "resnet18": resnet18,
    "resnet34": resnet34,
    "v1": resnet18_v1,
    "v2": resnet18_v2,
    "v3": resnet18_v3,
    "v4": resnet18_v4,
    "small_k3s1": partial(small_attention_net, stem="k3s1"),
    "small_k7s2": partial(small_attention_net, stem="k7s2"),
}

_FIXED: dict[str, tuple[str, ...]] = {"small_k3s1": ("stem",), "small_k7s2": ("stem",)}

_DESCRIPTIONS: dict[str, str] = {
    "resnet18": "ResNet18, 3x3/1 stem + maxpool, absent channels zero-filled (baseline)",
    "resnet34": "ResNet34, 3x3/1 stem + maxpool, absent channels zero-filled (Part II baseline)",
    "v1": "ResNet18, per-image kernel from a hypernetwork, one fixed channel subset",
    "v2": "ResNet18, per-image kernel, one hypernetwork per subset size (1, 2, 3)",
    "v3": "ResNet18, dynamic convolution stem (K=4 kernels, softmax routing, T 30->1)",
    "v4": "ResNet18, v2 stem + random channel dropping in training (p=0.5)",
    "small_k3s1": "Small attention net (SAGAN+SE, RRDB), 3x3/1 stem: attention at full size",
    "small_k7s2": "Small attention net (SAGAN+SE, RRDB), 7x7/2 stem: attention at half size",
}


def _check_name(name: str) -> None:
    if name not in _BUILDERS:
        raise ConfigError(f"Unknown model {name!r}; valid choices: {', '.join(MODEL_NAMES)}.")


def model_options(name: str) -> tuple[str, ...]:
    """The keyword arguments ``build_model(name, ...)`` accepts besides ``num_classes``."""
    _check_name(name)
    params = inspect.signature(_BUILDERS[name]).parameters
    return tuple(p for p in params if p not in ("num_classes", *_FIXED.get(name, ())))


def build_model(name: str, *, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build the model called ``name`` (one of ``MODEL_NAMES``) for ``num_classes`` classes.

    Extra keyword arguments go to the builder, e.g. ``build_model("v4", num_classes=50,
    drop_mode="sample")``. Unknown names or arguments raise ``ConfigError``.
    """
    _check_name(name)
    valid = model_options(name)
    unknown = sorted(set(kwargs) - set(valid))
    if unknown:
        choices = ", ".join(valid) if valid else "none"
        raise ConfigError(
            f"Model {name!r} does not take {', '.join(unknown)}; valid options: {choices}."
        )
    return _BUILDERS[name](num_classes=num_classes, **kwargs)


def describe_model(name: str) -> str:
    """One-line description of the model called ``name`` (for tables)."""
    _check_name(name)
    return _DESCRIPTIONS[name]
