"""This book's answer to Part II: four convolutions, one attention block, a classifier.

Chapter: ``09_part2``.

The course asked for a network of "2 to 4 layers" within 10% of ResNet34. The original study's
network (:mod:`dynconv.models.small_net`) keeps the full image size through every block, so its
receptive field stays small (about 11 px through its five 3x3 convs at stem k3s1) and its
attention runs over every position. ``CompactNet`` is the plain alternative: a VGG-style stack
(Simonyan & Zisserman, ICLR 2015, https://arxiv.org/abs/1409.1556) of four 3x3 convs, each with
BN + ReLU, the width doubling as a 2x2 max-pool halves the size, and the same AttentionSE block
as the original (SAGAN self-attention + squeeze-and-excitation, :mod:`dynconv.models.blocks`),
placed where the map is small:

    conv3x3(3 -> w)           + BN + ReLU                  (B, w,  H,   W)
    conv3x3(w -> 2w)          + BN + ReLU + maxpool 2x2    (B, 2w, H/2, W/2)
    AttentionSE(2w)           (every position attends to every other: global context)
    conv3x3(2w -> 4w)         + BN + ReLU + maxpool 2x2    (B, 4w, H/4, W/4)
    conv3x3(4w -> 4w)         + BN + ReLU                  (B, 4w, H/4, W/4)
    global average pool, Linear(4w -> num_classes)

Counted honestly (as :class:`~dynconv.models.small_net.SmallAttentionNet` is): 4 convolutions,
one attention block (q, k, v 1x1 convs and an SE pair, run beside the main path), one linear
classifier. ``attention=False`` removes the attention block (the ablation of chapter 09).
Input mode "zero": x is always (B, 3, H, W).
"""

from __future__ import annotations

from torch import Tensor, nn

from dynconv.channels import ChannelSubset
from dynconv.errors import ConfigError
from dynconv.models.blocks import AttentionSE
from dynconv.stems.common import check_input

__all__ = ["CompactNet", "compact_net"]


def _conv_bn_relu(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),  # BN follows: no bias
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class CompactNet(nn.Module):
    """Four 3x3 convs (width w, 2w, 4w, 4w), two 2x2 max-pools, AttentionSE after the second
    conv, a linear classifier. See the module docstring for the layout and its sources."""

    input_mode = "zero"

    def __init__(self, num_classes: int, *, width: int = 64, attention: bool = True) -> None:
        super().__init__()
        if num_classes < 1 or width < 8:
            raise ConfigError(
                f"num_classes must be >= 1 and width >= 8, got {num_classes} and {width}."
            )
        self.conv1 = _conv_bn_relu(3, width)
        self.conv2 = _conv_bn_relu(width, 2 * width)
        self.pool = nn.MaxPool2d(2)
        self.attention = AttentionSE(2 * width) if attention else nn.Identity()
        self.conv3 = _conv_bn_relu(2 * width, 4 * width)
        self.conv4 = _conv_bn_relu(4 * width, 4 * width)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        check_input(x, channels, input_mode="zero")
        x = self.conv1(x)  # (B, w, H, W)
        x = self.pool(self.conv2(x))  # (B, 2w, H/2, W/2)
        x = self.attention(x)  # (B, 2w, H/2, W/2)
        x = self.pool(self.conv3(x))  # (B, 4w, H/4, W/4)
        x = self.conv4(x)  # (B, 4w, H/4, W/4)
        return self.fc(self.avgpool(x).flatten(1))  # (B, num_classes)


def compact_net(*, num_classes: int, width: int = 64, attention: bool = True) -> CompactNet:
    """Build ``CompactNet`` (this book's Part II network)."""
    return CompactNet(num_classes, width=width, attention=attention)
