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

from dynconv.chammi import CHAMMI_DESIGNS
from dynconv.errors import ConfigError
from dynconv.resnet import (
    resnet18,
    resnet18_chammi,
    resnet18_v1,
    resnet18_v2,
    resnet18_v2_identity,
    resnet18_v3,
    resnet18_v4,
    resnet18_v5,
    resnet34,
)
from dynconv.small_net import small_attention_net

__all__ = ["MODEL_NAMES", "build_model", "model_options"]

MODEL_NAMES: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "v1",
    "v2",
    "v3",
    "v4",
    "small_k3s1",
    "small_k7s2",
    "v2_identity",
    "v5",
    "sliceparam",
    "templatemixing",
    "hypernet",
    "depthwise",
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
    "v2_identity": resnet18_v2_identity,
    "v5": resnet18_v5,
    **{design: partial(resnet18_chammi, design=design) for design in CHAMMI_DESIGNS},
}

_FIXED: dict[str, tuple[str, ...]] = {"small_k3s1": ("stem",), "small_k7s2": ("stem",),
                                      **{design: ("design",) for design in CHAMMI_DESIGNS}}

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
    model = _BUILDERS[name](num_classes=num_classes, **kwargs)
    # What rebuilds this model: fit() stores it in every checkpoint, so that
    # dynconv.train.load_model(path) needs nothing but the file.
    model.build_spec = {"name": name, "num_classes": num_classes, "kwargs": dict(kwargs)}
    return model
