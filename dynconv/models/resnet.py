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

from dynconv.channels import ChannelSubset
from dynconv.errors import ConfigError
from dynconv.stems.common import check_input
from dynconv.stems.sampling import ChannelSampler

__all__ = ["LAYERS", "STEMS", "DynamicStemResNet", "PlainResNet"]

STEMS: tuple[str, ...] = ("original", "torchvision")
LAYERS = {"resnet18": [2, 2, 2, 2], "resnet34": [3, 4, 6, 3]}


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
    (ChannelViT's zero-fill baseline). ``sampling`` (:mod:`dynconv.stems.sampling`) zero-fills
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
    ``sampling`` and ``drop_prob`` choose the training-time channel sampling
    (:mod:`dynconv.stems.sampling`: v4's dropping and Part III's rules alike).
    """

    input_mode = "drop"

    def __init__(self, stem: nn.Module, *, num_classes: int, keep_maxpool: bool = True,
                 sampling: str = "none", drop_prob: float = 0.5) -> None:
        super().__init__(BasicBlock, LAYERS["resnet18"], num_classes=num_classes)
        self.conv1 = stem  # replaces torchvision's 7x7 conv; bn1, relu, layer1.. unchanged
        self.sampler = ChannelSampler(sampling, drop_prob=drop_prob)  # in training only
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
