"""v2: one kernel generator per subset SIZE (chapter ``04_v2``), and its identity variant
(Part III's ablation: the same generator told WHICH channels are present).

Differs from the original v2: one grouped convolution instead of a per-image loop; the
identity variant is this book's, not the original study's.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dynconv.channels import ChannelSubset
from dynconv.stems.common import (
    KERNEL_SIZE,
    STEM_CHANNELS,
    check_input,
    generated_kernels,
    kernel_generator,
    per_sample_conv,
    per_sample_conv_loop,
    placed_summary,
)


class SubsetSizeKernelStem(nn.Module):
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
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.generators = nn.ModuleDict(
            {str(n): kernel_generator(n, out_channels, kernel_size) for n in (1, 2, 3)}
        )

    def kernels(self, x: Tensor) -> Tensor:
        """Per-sample kernels (B, 64, n, 3, 3) from the generator for n = x.shape[1]."""
        generator = self.generators[str(x.shape[1])]
        return generated_kernels(generator, x, self.out_channels, self.kernel_size)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        check_input(x, channels, input_mode="drop")
        return per_sample_conv(x, self.kernels(x))  # (B, 64, H, W)

    def reference_forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """Same output as ``forward``, computed with one convolution per image."""
        check_input(x, channels, input_mode="drop")
        return per_sample_conv_loop(x, self.kernels(x))




class IdentityKernelStem(nn.Module):
    """v2's kernel generator given the channel IDENTITY (Part III's ablation of v2/v4).

    v2 and v4 generate an image's kernel from its n channel means with one generator per
    subset SIZE, so R alone and B alone look the same to them. Here ONE generator,
    Linear(6 -> 64*3*3*3) + Tanh, reads ``placed_summary`` (the means at their channel's
    position plus the presence mask, as v3's routing does) and generates a full
    (64, 3, 3, 3) kernel per image; the input slices of the present channels are used (by
    identity, as v3). Trained with the same channel sampling as the other Part III models,
    it isolates what knowing WHICH channels are present adds to v2/v4.
    """

    def __init__(
        self, *, out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE
    ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        # 6 summary values in, a kernel for all 3 input channels out
        self.generator = nn.Sequential(nn.Linear(6, out_channels * 3 * kernel_size**2), nn.Tanh())

    def kernels(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        """Per-sample kernels (B, 64, n, 3, 3) for the present channels."""
        k = self.kernel_size
        full = self.generator(placed_summary(x, channels))  # (B, 64*3*3*3)
        full = full.view(x.shape[0], self.out_channels, 3, k, k)  # (B, 64, 3, 3, 3)
        index = torch.tensor(channels.indices, device=x.device)
        return full.index_select(2, index)  # (B, 64, n, 3, 3): slices by channel identity

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        return per_sample_conv(x, self.kernels(x, subset))  # (B, 64, H, W)
