"""v1: a kernel generated per image for ONE channel subset fixed at construction
(chapter ``03_v1``).

The original study's v1 generated each image's first-layer kernel from its mean colour with a
tiny hypernetwork (Ha et al., "HyperNetworks", ICLR 2017, is the general idea). Differs from
the original: one grouped convolution instead of a per-image loop.
"""

from __future__ import annotations

from torch import Tensor

from dynconv.channels import RGB, ChannelSubset, parse_channels
from dynconv.errors import ConfigError
from dynconv.stems.common import (
    KERNEL_SIZE,
    STEM_CHANNELS,
    GeneratedKernelStem,
    generated_kernels,
    kernel_generator,
)


class PerSampleKernelStem(GeneratedKernelStem):
    """v1: a kernel generated per image, for ONE channel subset fixed at construction.

    Each image's per-channel mean (global average pool, n values) goes through
    Linear(n -> 64*n*3*3) + Tanh; the result, reshaped to (64, n, 3, 3), is that image's
    first-layer kernel. Called with any other subset it raises ``ConfigError``.

    Differs from the original v1: the per-sample convolutions run as one grouped
    convolution (``per_sample_conv``) instead of a Python loop (kept as
    ``reference_forward``). The original also removed ResNet's maxpool after this stem,
    so layer1 ran at 84x84 and the network cost 3.7x the FLOPs of the baseline; that was
    the maxpool, not the dynamic kernel. The builder ``resnet18_v1`` keeps the maxpool
    unless ``keep_maxpool=False``.
    """

    def __init__(
        self,
        channels: ChannelSubset | str = RGB,
        *,
        out_channels: int = STEM_CHANNELS,
        kernel_size: int = KERNEL_SIZE,
    ) -> None:
        super().__init__(out_channels=out_channels, kernel_size=kernel_size)
        self.channels = parse_channels(channels)
        self.generator = kernel_generator(self.channels.size, out_channels, kernel_size)

    def check(self, x: Tensor, channels: ChannelSubset | None) -> ChannelSubset:
        """As every stem's check, and the subset must be the one this stem was built for."""
        subset = super().check(x, channels)
        if subset != self.channels:
            raise ConfigError(
                f"This v1 stem was built for channels {self.channels.name} and cannot run on "
                f"{subset.name}: v1 fixes its channel subset at construction. Build another "
                f"one (resnet18_v1(channels='{subset.name}', ...)) or use v2, v3 or v4."
            )
        return subset

    def kernels(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """The per-sample kernels (B, 64, n, 3, 3) generated for x (B, n, H, W)."""
        return generated_kernels(self.generator, x, self.out_channels, self.kernel_size)
