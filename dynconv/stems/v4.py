"""v4: v2 plus random channel dropping during training (chapter ``06_v4``).

Channel dropping in the spirit of modality dropout (Neverova et al., "ModDrop", TPAMI 2016):
the network learns every subset from RGB images by forgetting channels at random. Differs
from the original v4: ``drop_mode="sample"`` draws a subset per image, not only per batch.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dynconv.channels import ChannelSubset
from dynconv.errors import ConfigError
from dynconv.stems.common import (
    KERNEL_SIZE,
    STEM_CHANNELS,
    check_input,
)
from dynconv.stems.sampling import ChannelSampler
from dynconv.stems.v2 import SubsetSizeKernelStem

DROP_MODES: tuple[str, ...] = ("batch", "sample")


class ChannelDropStem(SubsetSizeKernelStem):
    """v4: v2 plus random channel dropping during training.

    In training mode, with probability ``drop_prob`` the stem forgets some of the
    present channels: a subset is drawn by ``sample_subset`` (k uniform in 1..n, then k
    random channels) and only those channels reach the size-k generator. With
    ``drop_prob=0.5`` and RGB input 2/3 of batches keep all three channels.
    ``drop_mode="batch"``: one draw for the whole batch (as the original v4).
    ``drop_mode="sample"``: one draw per image; images are grouped by drawn subset, the
    stem runs once per group and outputs are put back in batch order.
    In eval mode nothing is dropped.

    Differs from the original v4: the per-sample mode and hierarchical sampling over the
    PRESENT channels (the original drew from all three); grouped convolution throughout.
    Like the original, the generator sees only the subset size, not which channels.
    """

    def __init__(
        self,
        *,
        drop_prob: float = 0.5,
        drop_mode: str = "batch",
        out_channels: int = STEM_CHANNELS,
        kernel_size: int = KERNEL_SIZE,
    ) -> None:
        super().__init__(out_channels=out_channels, kernel_size=kernel_size)
        if not 0.0 <= drop_prob <= 1.0:
            raise ConfigError(f"drop_prob must be between 0 and 1, got {drop_prob}.")
        if drop_mode not in DROP_MODES:
            raise ConfigError(
                f"Unknown drop_mode {drop_mode!r}; valid choices: {', '.join(DROP_MODES)}."
            )
        self.drop_prob = drop_prob
        self.drop_mode = drop_mode
        self._sampler = ChannelSampler("v4", drop_prob=drop_prob)  # v4's per-image rule

    def _draw(self, present: ChannelSubset) -> ChannelSubset:
        """One training draw: the kept subset (``present`` itself when nothing is dropped)."""
        return self._sampler.draw_one(present)

    def draw_frequencies(self, present: ChannelSubset, *, draws: int = 20_000,
                         seed: int = 0) -> dict[str, float]:
        """The fraction of ``draws`` training draws that keep each subset, measured by running
        this stem's own sampler (the global RNG is saved and restored).

        With ``drop_prob=0.5`` on RGB: RGB about 2/3 (1/2 kept + 1/2 x 1/3 drawn whole), every
        other subset about 1/18 = 5.6% (1/2 x 1/3 for its size x 1/3 among that size).
        """
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            counts: dict[str, int] = {}
            for _ in range(draws):
                name = self._draw(present).name
                counts[name] = counts.get(name, 0) + 1
        finally:
            torch.random.set_rng_state(state)
        return {name: counts[name] / draws for name in sorted(counts, key=len, reverse=True)}

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        present = check_input(x, channels, input_mode="drop")
        if not self.training or self.drop_prob == 0.0:
            return super().forward(x, present)
        if self.drop_mode == "batch":
            draws = [self._draw(present)] * x.shape[0]
        else:  # "sample": draw per image, run once per distinct subset
            draws = [self._draw(present) for _ in range(x.shape[0])]
        def stem(x_kept: Tensor, kept: ChannelSubset) -> Tensor:
            return SubsetSizeKernelStem.forward(self, x_kept, kept)

        return ChannelSampler.run_drop(x, present, draws, stem)  # (B, 64, H, W)


