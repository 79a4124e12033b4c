"""ResNet18/34 as in the original study, and ResNet18 with a dynamic first layer.

Chapters: ``02_baseline`` (plain ResNet18, zero-filled channels), ``03_v1`` ... ``06_v4``
(dynamic stems), ``09_part2`` (ResNet34).

Paper: He, Zhang, Ren, Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
https://arxiv.org/abs/1512.03385. The residual stages are torchvision's ``ResNet`` and
``BasicBlock``, unchanged; only the stem differs.

.. note::
   How this differs from the paper and torchvision: the default stem is the original
   study's 3x3 conv, stride 1, padding 1 (+ BN + ReLU + 3x3/2 maxpool) instead of the
   paper's 7x7/2 conv. At 84 px that keeps 4x more positions in layer1, which is why the
   original's FLOPs are ~3.6x those of torchvision's stem. ``stem="torchvision"`` gives
   the 7x7/2 stem. With 50 classes the parameter counts match the report exactly
   (ResNet18 11,194,482; ResNet34 21,302,642).

How this differs from the original study: the original wrote ResNet18 by hand; here
torchvision's classes are reused and the stem is swapped by attribute name (``conv1``,
``bn1``, ``relu``, ``maxpool``), as torchvision's own ``resnet.py`` lays them out.

Two input modes (see ``dynconv.channels``): plain networks (``input_mode = "zero"``)
always take (B, 3, H, W) with absent channels zero-filled by the caller; dynamic ones
(``input_mode = "drop"``) take only the present channels, (B, len(channels), H, W).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock, ResNet

from dynconv.chammi import chammi_stem
from dynconv.channels import RGB, ChannelSubset
from dynconv.embedding_stem import ChannelEmbeddingStem
from dynconv.errors import ConfigError, check_int
from dynconv.sampling import ChannelSampler
from dynconv.stems import (
    ChannelDropStem,
    DynamicConvStem,
    IdentityKernelStem,
    PerSampleKernelStem,
    SubsetSizeKernelStem,
    check_input,
)

__all__ = [
    "STEMS",
    "PlainResNet",
    "DynamicStemResNet",
    "resnet18",
    "resnet34",
    "resnet18_v1",
    "resnet18_v2",
    "resnet18_v3",
    "resnet18_v4",
    "resnet18_v2_identity",
    "resnet18_v5",
    "resnet18_chammi",
]

STEMS: tuple[str, ...] = ("original", "torchvision")
_LAYERS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}


def _original_stem_conv() -> nn.Conv2d:
    """The original study's stem conv: 3x3, stride 1, padding 1, 3 -> 64, no bias."""
    conv = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
    # Same init torchvision gives its own stem.
    nn.init.kaiming_normal_(conv.weight, mode="fan_out", nonlinearity="relu")
    return conv


def _forward_after_stem(net: ResNet, x: Tensor) -> Tensor:
    """torchvision's ``ResNet._forward_impl`` after ``conv1`` (bn1 ... fc), step for step.

    Needed because a dynamic ``conv1`` takes two arguments (x, channels).
    """
    x = net.relu(net.bn1(x))  # (B, 64, H, W)
    x = net.maxpool(x)  # (B, 64, H/2, W/2) (Identity when the maxpool is removed)
    x = net.layer4(net.layer3(net.layer2(net.layer1(x))))  # (B, 512, H/16, W/16)
    x = torch.flatten(net.avgpool(x), 1)  # (B, 512)
    return net.fc(x)  # (B, num_classes)


class PlainResNet(ResNet):
    """torchvision's ResNet with a choice of stem and the ``(x, channels)`` call.

    ``input_mode = "zero"``: x is always (B, 3, H, W); ``channels`` names which channels the
    caller zero-filled. It is only checked, unless ``rescale=True``: then the present channels
    are multiplied by 3/n (n present), so a subset reaches the stem with RGB's total scale
    (ChannelViT's zero-fill baseline). ``sampling`` (:mod:`dynconv.sampling`) zero-fills
    random subsets in training; with "none" (the default) the network sees what it is given.
    """

    input_mode = "zero"

    def __init__(self, layers: list[int], *, num_classes: int, stem: str = "original",
                 sampling: str = "none", rescale: bool = False) -> None:
        if stem not in STEMS:
            raise ConfigError(f"Unknown stem {stem!r}; valid choices: {', '.join(STEMS)}.")
        super().__init__(BasicBlock, layers, num_classes=num_classes)
        self.stem = stem
        self.sampler = ChannelSampler(sampling)
        self.rescale = rescale
        if stem == "original":
            self.conv1 = _original_stem_conv()
        # stem == "torchvision": keep ResNet's 7x7/2 conv1 and 3x3/2 maxpool.

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="zero")
        if self.training and self.sampler.active:
            draws = self.sampler.draws(subset, x.shape[0])
            x = x * ChannelSampler.zero_mask(draws, rescale=self.rescale, device=x.device,
                                             dtype=x.dtype)  # (B, 3, H, W), dropped = 0
        elif self.rescale and subset.size < 3:
            x = x * (3 / subset.size)
        return self._forward_impl(x)  # torchvision's forward, unchanged


class DynamicStemResNet(ResNet):
    """ResNet18 whose ``conv1`` is a dynamic stem called as ``conv1(x, channels)``.

    Everything after the stem is torchvision's. ``input_mode = "drop"``: x holds only the
    present channels, (B, len(channels), H, W); ``channels=None`` means RGB.
    ``keep_maxpool=False`` replaces the maxpool by the identity (the original v1 did).
    """

    input_mode = "drop"

    def __init__(self, stem: nn.Module, *, num_classes: int, keep_maxpool: bool = True,
                 sampling: str = "none") -> None:
        super().__init__(BasicBlock, _LAYERS["resnet18"], num_classes=num_classes)
        self.conv1 = stem  # replaces torchvision's 7x7 conv; bn1, relu, layer1.. unchanged
        self.sampler = ChannelSampler(sampling)  # training-time channel sampling (Part III)
        self.keep_maxpool = keep_maxpool
        if not keep_maxpool:
            self.maxpool = nn.Identity()

    @property
    def fixed_channels(self) -> ChannelSubset | None:
        """The one subset this model runs on (v1), or None if it runs on any subset."""
        fixed = getattr(self.conv1, "channels", None)
        return fixed if isinstance(fixed, ChannelSubset) else None

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        if self.training and self.sampler.active:
            draws = self.sampler.draws(subset, x.shape[0])
            return _forward_after_stem(self, ChannelSampler.run_drop(x, subset, draws, self.conv1))
        return _forward_after_stem(self, self.conv1(x, subset))


def _check_num_classes(num_classes: int) -> None:
    check_int("num_classes", num_classes)


def resnet18(*, num_classes: int, stem: str = "original", sampling: str = "none",
             rescale: bool = False) -> PlainResNet:
    """Plain ResNet18 (input mode "zero"); ``stem`` is "original" (3x3/1) or "torchvision".

    ``sampling="hierarchical", rescale=True`` is Part III's control (b): zero-filled random
    subsets in training, present channels scaled by 3/n in training and test.
    """
    _check_num_classes(num_classes)
    return PlainResNet(_LAYERS["resnet18"], num_classes=num_classes, stem=stem,
                       sampling=sampling, rescale=rescale)


def resnet34(*, num_classes: int, stem: str = "original") -> PlainResNet:
    """Plain ResNet34 (input mode "zero"), Part II's baseline; stems as ``resnet18``."""
    _check_num_classes(num_classes)
    return PlainResNet(_LAYERS["resnet34"], num_classes=num_classes, stem=stem)


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


def resnet18_v2(*, num_classes: int, sampling: str = "none") -> DynamicStemResNet:
    """v2: ResNet18 with ``SubsetSizeKernelStem`` (one kernel generator per subset size).

    ``sampling="hierarchical"``: v2 trained with Part III's channel sampling (no identity).
    """
    _check_num_classes(num_classes)
    return DynamicStemResNet(SubsetSizeKernelStem(), num_classes=num_classes, sampling=sampling)


def resnet18_v3(
    *,
    num_classes: int,
    num_kernels: int = 4,
    initial_temperature: float = 30.0,
    anneal_epochs: int = 10,
) -> DynamicStemResNet:
    """v3: ResNet18 with ``DynamicConvStem`` (Chen et al. 2020; temperature 30 -> 1)."""
    _check_num_classes(num_classes)
    stem = DynamicConvStem(
        num_kernels=num_kernels,
        initial_temperature=initial_temperature,
        anneal_epochs=anneal_epochs,
    )
    return DynamicStemResNet(stem, num_classes=num_classes)


def resnet18_v4(
    *, num_classes: int, drop_prob: float = 0.5, drop_mode: str = "batch"
) -> DynamicStemResNet:
    """v4: ResNet18 with ``ChannelDropStem`` (v2 + random channel dropping in training)."""
    _check_num_classes(num_classes)
    stem = ChannelDropStem(drop_prob=drop_prob, drop_mode=drop_mode)
    return DynamicStemResNet(stem, num_classes=num_classes)


def resnet18_v2_identity(*, num_classes: int, sampling: str = "hierarchical"
                         ) -> DynamicStemResNet:
    """v2/v4's kernel generator given the channel identity (``IdentityKernelStem``)."""
    _check_num_classes(num_classes)
    return DynamicStemResNet(IdentityKernelStem(), num_classes=num_classes, sampling=sampling)


def resnet18_v5(*, num_classes: int, identity: bool = True, missing: str = "drop",
                sampling: str = "hierarchical") -> DynamicStemResNet:
    """v5: ResNet18 with ``ChannelEmbeddingStem`` (shared bank + identity embedding + mean),
    trained with hierarchical channel sampling. The other arguments are its ablations."""
    _check_num_classes(num_classes)
    stem = ChannelEmbeddingStem(identity=identity, missing=missing)
    return DynamicStemResNet(stem, num_classes=num_classes, sampling=sampling)


def resnet18_chammi(*, num_classes: int, design: str,
                    sampling: str = "hierarchical") -> DynamicStemResNet:
    """ResNet18 with a CHAMMI first layer (``dynconv.chammi``), same sampling as v5."""
    _check_num_classes(num_classes)
    return DynamicStemResNet(chammi_stem(design), num_classes=num_classes, sampling=sampling)
