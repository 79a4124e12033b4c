"""v2: one kernel generator per subset SIZE (chapter ``04_v2``).

Differs from the original v2: one grouped convolution instead of a per-image loop. v4 is this
stem trained with v4's channel dropping (:mod:`dynconv.stems.v4`).
"""

from __future__ import annotations

from torch import Tensor, nn

from dynconv.channels import ChannelSubset
from dynconv.stems.common import (
    KERNEL_SIZE,
    STEM_CHANNELS,
    GeneratedKernelStem,
    generated_kernels,
    kernel_generator,
)


class SubsetSizeKernelStem(GeneratedKernelStem):
    """v2: one kernel generator per subset size n = 1, 2, 3 (``generators["1"]`` ... ``["3"]``).

    As v1, but the generator is chosen by how many channels are present, so one model
    runs on any subset. The generator learns only from the subset SIZE and the mean
    values, never from WHICH channels are present: R alone and B alone share generator
    "1". The original trained v2 on RGB only, so generators "1" and "2" stayed at their
    random initialisation, which is why it scored at chance on RG..B (chapter 04_v2).
    Differs from the original v2: grouped convolution instead of a per-sample loop
    (``reference_forward`` keeps the loop).
    """

    def __init__(
        self, *, out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE
    ) -> None:
        super().__init__(out_channels=out_channels, kernel_size=kernel_size)
        self.generators = nn.ModuleDict(
            {str(n): kernel_generator(n, out_channels, kernel_size) for n in (1, 2, 3)}
        )

    def kernels(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """Per-sample kernels (B, 64, n, 3, 3) from the generator for n = x.shape[1]."""
        generator = self.generators[str(x.shape[1])]
        return generated_kernels(generator, x, self.out_channels, self.kernel_size)
