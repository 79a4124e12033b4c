"""v4: v2's stem trained with random channel dropping (chapter ``06_v4``), and v4 + identity,
the same generator told WHICH channels are present (Part III, chapter ``10_part3``).

Channel dropping in the spirit of modality dropout (Neverova et al., "ModDrop", TPAMI 2016):
the network learns every subset from RGB images by forgetting channels at random. v4 has no
layer of its own: it is v2's ``SubsetSizeKernelStem`` inside a model whose channel sampler
(:mod:`dynconv.stems.sampling`, the same mechanism as every Part III model) follows v4's rule:
with probability ``drop_prob`` an image keeps a hierarchical draw of its present channels,
otherwise all of them. ``drop_mode`` says how often that rule is drawn (:func:`v4_sampling`).

Differs from the original v4: the per-image mode and hierarchical sampling over the PRESENT
channels (the original drew one subset per batch, from all three); the dropping happens in the
model, not inside the stem; grouped convolution throughout. Like the original, v2's generator
sees only the subset size, not which channels; :class:`IdentityKernelStem` is this book's.
"""

from __future__ import annotations

from torch import Tensor, nn

from dynconv.channels import ChannelSubset
from dynconv.errors import ConfigError
from dynconv.stems.common import (
    KERNEL_SIZE,
    STEM_CHANNELS,
    GeneratedKernelStem,
    identity_slices,
    placed_summary,
)

__all__ = ["DROP_MODES", "IdentityKernelStem", "v4_sampling"]

# "batch": one draw for the whole batch (as the original v4); "sample": one draw per image.
DROP_MODES: dict[str, str] = {"batch": "v4-batch", "sample": "v4"}


def v4_sampling(drop_mode: str) -> str:
    """The channel sampling (:data:`dynconv.stems.sampling.SAMPLINGS`) of v4's ``drop_mode``."""
    if drop_mode not in DROP_MODES:
        raise ConfigError(
            f"Unknown drop_mode {drop_mode!r}; valid choices: {', '.join(DROP_MODES)}."
        )
    return DROP_MODES[drop_mode]


class IdentityKernelStem(GeneratedKernelStem):
    """v4 + identity: v2's kernel generator given the channel IDENTITY (Part III's ablation).

    v2 and v4 generate an image's kernel from its n channel means with one generator per
    subset SIZE, so R alone and B alone look the same to them. Here ONE generator,
    Linear(6 -> 64*3*3*3) + Tanh, reads ``placed_summary`` (the means at their channel's
    position plus the presence mask, as v3's routing does) and generates a full
    (64, 3, 3, 3) kernel per image; the input slices of the present channels are used (by
    identity, as v3). Trained with v4's per-image rule, it isolates what knowing WHICH
    channels are present adds to v4.
    """

    def __init__(
        self, *, out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE
    ) -> None:
        super().__init__(out_channels=out_channels, kernel_size=kernel_size)
        # 6 summary values in, a kernel for all 3 input channels out
        self.generator = nn.Sequential(nn.Linear(6, out_channels * 3 * kernel_size**2), nn.Tanh())

    def kernels(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        """Per-sample kernels (B, 64, n, 3, 3) for the present channels."""
        k = self.kernel_size
        full = self.generator(placed_summary(x, channels))  # (B, 64*3*3*3)
        full = full.view(x.shape[0], self.out_channels, 3, k, k)  # (B, 64, 3, 3, 3)
        return identity_slices(full, channels)  # (B, 64, n, 3, 3)
