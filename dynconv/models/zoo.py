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

from dynconv.channels import RGB, ChannelSubset
from dynconv.errors import ConfigError, check_int
from dynconv.models.auxiliary import AuxiliaryObjectiveResNet
from dynconv.models.codistill import RGBTeacherResNet
from dynconv.models.compact_net import compact_net
from dynconv.models.diverse import DiverseChannelResNet
from dynconv.models.resnet import LAYERS, DynamicStemResNet, PlainResNet
from dynconv.models.small_net import small_attention_net
from dynconv.models.switchable import SwitchableBNResNet
from dynconv.stems.chammi import CHAMMI_DESIGNS, chammi_stem
from dynconv.stems.v1 import PerSampleKernelStem
from dynconv.stems.v2 import SubsetSizeKernelStem
from dynconv.stems.v3 import DynamicConvStem
from dynconv.stems.v4 import IdentityKernelStem, v4_sampling
from dynconv.stems.v5 import ChannelEmbeddingStem

__all__ = [
    "MODEL_NAMES", "build_model", "builder", "model_options", "resnet18", "resnet18_chammi",
    "resnet18_v1", "resnet18_v2", "resnet18_v3", "resnet18_v4", "resnet18_v4_identity",
    "resnet18_v5", "resnet18_v5_auxiliary", "resnet18_v5_diverse", "resnet18_v5_rgb_teacher",
    "resnet18_v5_switchable", "resnet34",
]

# ---- the builders: one public function per model (torchvision's style) -----------------

def _check_num_classes(num_classes: int) -> None:
    check_int("num_classes", num_classes)


def resnet18(*, num_classes: int, stem: str = "original", sampling: str = "none",
             rescale: bool = False) -> PlainResNet:
    """Plain ResNet18 (input mode "zero"); ``stem`` is "original" (3x3/1) or "torchvision".

    ``sampling="hierarchical", rescale=True`` is Part III's control (b): zero-filled random
    subsets in training, present channels scaled by 3/n in training and test.
    """
    _check_num_classes(num_classes)
    return PlainResNet(LAYERS["resnet18"], num_classes=num_classes, stem=stem,
                       sampling=sampling, rescale=rescale)


def resnet34(*, num_classes: int, stem: str = "original") -> PlainResNet:
    """Plain ResNet34 (input mode "zero"), Part II's baseline; stems as ``resnet18``."""
    _check_num_classes(num_classes)
    return PlainResNet(LAYERS["resnet34"], num_classes=num_classes, stem=stem)


def resnet18_v1(
    *, num_classes: int, channels: ChannelSubset | str = RGB, keep_maxpool: bool = True
) -> DynamicStemResNet:
    """v1: ResNet18 with ``PerSampleKernelStem`` for one fixed channel subset.

    ``keep_maxpool=False`` reproduces the original v1, which dropped the maxpool and so
    cost 3.7x the FLOPs of the baseline.
    """
    _check_num_classes(num_classes)
    stem = PerSampleKernelStem(channels)
    return DynamicStemResNet(stem, num_classes=num_classes, keep_maxpool=keep_maxpool)


def resnet18_v2(*, num_classes: int) -> DynamicStemResNet:
    """v2: ResNet18 with ``SubsetSizeKernelStem`` (one kernel generator per subset size)."""
    _check_num_classes(num_classes)
    return DynamicStemResNet(SubsetSizeKernelStem(), num_classes=num_classes)


def resnet18_v3(*, num_classes: int, anneal_epochs: int = 10) -> DynamicStemResNet:
    """v3: ResNet18 with ``DynamicConvStem`` (Chen et al. 2020; K = 4 kernels, temperature
    30 -> 1 over ``anneal_epochs``)."""
    _check_num_classes(num_classes)
    return DynamicStemResNet(DynamicConvStem(anneal_epochs=anneal_epochs), num_classes=num_classes)


def resnet18_v4(
    *, num_classes: int, drop_prob: float = 0.5, drop_mode: str = "batch"
) -> DynamicStemResNet:
    """v4: v2's ResNet18 trained with v4's channel dropping (:mod:`dynconv.stems.v4`):
    ``drop_prob`` per draw, one draw per batch (``drop_mode="batch"``) or per image."""
    _check_num_classes(num_classes)
    return DynamicStemResNet(SubsetSizeKernelStem(), num_classes=num_classes,
                             sampling=v4_sampling(drop_mode), drop_prob=drop_prob)


def resnet18_v4_identity(*, num_classes: int, drop_prob: float = 0.5) -> DynamicStemResNet:
    """v4 + identity: v4 per image with a generator told WHICH channels are present
    (``IdentityKernelStem``)."""
    _check_num_classes(num_classes)
    return DynamicStemResNet(IdentityKernelStem(), num_classes=num_classes,
                             sampling=v4_sampling("sample"), drop_prob=drop_prob)


def resnet18_v5(*, num_classes: int, identity: bool = True, missing: str = "drop",
                sampling: str = "hierarchical") -> DynamicStemResNet:
    """v5: ResNet18 with ``ChannelEmbeddingStem`` (shared bank + identity embedding + mean),
    trained with hierarchical channel sampling. The other arguments are its ablations."""
    _check_num_classes(num_classes)
    stem = ChannelEmbeddingStem(identity=identity, missing=missing)
    return DynamicStemResNet(stem, num_classes=num_classes, sampling=sampling)


def resnet18_v5_auxiliary(*, num_classes: int, objective: str = "distill",
                          weight: float = 1.0) -> AuxiliaryObjectiveResNet:
    """v5 trained with a second loss (:mod:`dynconv.models.auxiliary`): ``"distill"`` from its
    own prediction on all channels, or ``"reconstruct"`` the channels it was not shown."""
    _check_num_classes(num_classes)
    return AuxiliaryObjectiveResNet(ChannelEmbeddingStem(), num_classes=num_classes,
                                    objective=objective, weight=weight)


def resnet18_v5_diverse(*, num_classes: int, weight: float = 1.0) -> DiverseChannelResNet:
    """v5 trained with DiChaViT's two diversity losses (:mod:`dynconv.models.diverse`): its
    channels' features kept apart, its channels' embeddings told apart."""
    _check_num_classes(num_classes)
    return DiverseChannelResNet(ChannelEmbeddingStem(), num_classes=num_classes, weight=weight)


def resnet18_v5_rgb_teacher(*, num_classes: int, weight: float = 1.0) -> RGBTeacherResNet:
    """v5 distilled from a plain ResNet18 on RGB trained beside it
    (:mod:`dynconv.models.codistill`), with in-place distillation's rule."""
    _check_num_classes(num_classes)
    return RGBTeacherResNet(ChannelEmbeddingStem(), num_classes=num_classes, weight=weight)


def resnet18_v5_switchable(*, num_classes: int, identity: bool = True,
                           sampling: str = "hierarchical-batch") -> SwitchableBNResNet:
    """v5's first layer in a ResNet18 with one BatchNorm per channel subset (switchable
    BatchNorm, :mod:`dynconv.models.switchable`), the subset drawn once per batch."""
    _check_num_classes(num_classes)
    return SwitchableBNResNet(ChannelEmbeddingStem(identity=identity), num_classes=num_classes,
                              sampling=sampling)


def resnet18_chammi(*, num_classes: int, design: str,
                    sampling: str = "hierarchical") -> DynamicStemResNet:
    """ResNet18 with a CHAMMI first layer (``dynconv.stems.chammi``), same sampling as v5."""
    _check_num_classes(num_classes)
    return DynamicStemResNet(chammi_stem(design), num_classes=num_classes, sampling=sampling)


# ---- by name -------------------------------------------------------------------------------

MODEL_NAMES: tuple[str, ...] = (
    "resnet18",
    "resnet34",
    "v1",
    "v2",
    "v3",
    "v4",
    "small_k3s1",
    "small_k7s2",
    "v4_identity",
    "v5",
    "sliceparam",
    "templatemixing",
    "hypernet",
    "depthwise",
    "v5_switchable",
    "v5_auxiliary",
    "v5_diverse",
    "v5_rgb_teacher",
    "compact",
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
    "v4_identity": resnet18_v4_identity,
    "v5": resnet18_v5,
    "v5_switchable": resnet18_v5_switchable,
    "v5_auxiliary": resnet18_v5_auxiliary,
    "v5_diverse": resnet18_v5_diverse,
    "v5_rgb_teacher": resnet18_v5_rgb_teacher,
    **{design: partial(resnet18_chammi, design=design) for design in CHAMMI_DESIGNS},
    "compact": compact_net,
}

_FIXED: dict[str, tuple[str, ...]] = {"small_k3s1": ("stem",), "small_k7s2": ("stem",),
                                      **{design: ("design",) for design in CHAMMI_DESIGNS}}

def _check_name(name: str) -> None:
    if name not in _BUILDERS:
        raise ConfigError(f"Unknown model {name!r}; valid choices: {', '.join(MODEL_NAMES)}.")


def builder(name: str) -> Callable[..., nn.Module]:
    """The builder function of model ``name`` (a ``functools.partial`` for fixed arguments)."""
    _check_name(name)
    return _BUILDERS[name]


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
    # dynconv.training.loop.load_model(path) needs nothing but the file.
    model.build_spec = {"name": name, "num_classes": num_classes, "kwargs": dict(kwargs)}
    return model
