"""v3: dynamic convolution as the first layer (chapter ``05_v3``).

Chen et al., "Dynamic Convolution: Attention over Convolution Kernels", CVPR 2020
(https://arxiv.org/abs/1912.03458): a bank of K kernels mixed per image by a routing module.
Differs from the paper: the routing reads the present channels' means placed at their
channel's position and the presence mask, so one bank serves every channel subset; from the
original study's v3, see :mod:`dynconv.stems.original_v3` for the bugs this version fixes.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from dynconv.channels import ChannelSubset
from dynconv.errors import ConfigError
from dynconv.stems.common import (
    KERNEL_SIZE,
    STEM_CHANNELS,
    GeneratedKernelStem,
    identity_slices,
    kernel_bank,
    placed_summary,
)


class KernelAttention(nn.Module):
    """Routing of v3: per-image softmax weights over the K kernels of the bank.

    Input (6 values per image): the mean of each present channel placed at its channel's
    position in an (R, G, B) 3-vector (0 where absent), plus the 3-dim presence mask, so
    the same routing serves every subset and knows WHICH channels it sees.
    MLP: Linear(6, hidden) -> ReLU -> Linear(hidden, K), hidden = max(4, int(6 * ratio)),
    then ``softmax(logits / temperature)``. ``forward`` returns the weights (B, K) so a
    chapter can plot them.

    Temperature: Chen et al. anneal it from 30 to 1 over the first epochs: at T = 30 the
    weights are near uniform, so every kernel receives gradient early on. Here
    ``set_epoch(epoch)`` (called by ``fit`` at each epoch start, 0-based) sets it linearly
    from ``initial_temperature`` at epoch 0 to 1 at epoch ``anneal_epochs`` and keeps 1
    after. It is stored in a buffer (``_temperature``), so checkpoints keep it;
    ``temperature`` reads it as a float.

    Softmax vs sigmoid: timm's CondConv (Yang et al., NeurIPS 2019) routes with a sigmoid,
    so each kernel's weight is independent and their sum is free. Chen et al.'s softmax
    keeps the mixed kernel a convex combination of the bank (weights sum to 1), which with
    the temperature schedule trains all kernels evenly at first; this book follows Chen et al.
    """

    def __init__(
        self,
        *,
        num_kernels: int = 4,
        num_channels: int = 3,
        ratio: float = 0.25,
        initial_temperature: float = 30.0,
        anneal_epochs: int = 10,
    ) -> None:
        super().__init__()
        if anneal_epochs < 0:
            raise ConfigError(f"anneal_epochs must be >= 0, got {anneal_epochs}.")
        if initial_temperature < 1:
            raise ConfigError(f"initial_temperature must be >= 1, got {initial_temperature}.")
        in_features = 2 * num_channels  # placed means + presence mask
        # Chen et al. reduce by 4 (ratio 0.25); with only 6 inputs keep at least 4 units
        # (the original's int(3 * 0.25) + 1 = 1 unit could not route anything).
        hidden = max(4, int(in_features * ratio))
        self.num_channels = num_channels
        self.initial_temperature = float(initial_temperature)
        self.anneal_epochs = anneal_epochs
        self.fc1 = nn.Linear(in_features, hidden)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, num_kernels)
        self.register_buffer("_temperature", torch.tensor(float(initial_temperature)))

    @property
    def temperature(self) -> float:
        """The current softmax temperature."""
        return float(self._temperature)

    def temperature_at(self, epoch: int) -> float:
        """Softmax temperature at the start of ``epoch`` (0-based): linear, then 1."""
        if self.anneal_epochs == 0 or epoch >= self.anneal_epochs:
            return 1.0
        t0 = self.initial_temperature
        return t0 + (1.0 - t0) * max(epoch, 0) / self.anneal_epochs

    def set_epoch(self, epoch: int) -> None:
        """Anneal the temperature (called by ``fit`` at the start of every epoch)."""
        self._temperature.fill_(self.temperature_at(epoch))

    def forward(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        summary = placed_summary(x, channels, self.num_channels)  # (B, 6)
        logits = self.fc2(self.relu(self.fc1(summary)))  # (B, K)
        return torch.softmax(logits / self._temperature, dim=1)  # (B, K), rows sum to 1


class DynamicConvStem(GeneratedKernelStem):
    """v3: dynamic convolution (Chen et al., "Dynamic Convolution: Attention over
    Convolution Kernels", CVPR 2020, https://arxiv.org/abs/1912.03458) as the first layer.

    A bank of K = 4 kernels (K, 64, 3, 3, 3), one input slice per colour channel; per image
    the routing module ``attention`` (``KernelAttention``) gives weights (B, K), the bank
    is mixed into one (64, 3, 3, 3) kernel per image, and only the input slices of the
    present channels (by channel IDENTITY: G and B use slices 1 and 2) are used.

    Differs from Chen et al.: they make every conv of the network dynamic and keep the
    7x7 stem static; here only the first layer is dynamic. Routing input also carries a
    channel-presence mask. No per-kernel bias.
    Differs from the original v3 (the report credits "Wu et al."; see
    ``dynconv.stems.original_v3``):
    the routing layers are built once and trained (the original rebuilt them at random
    every call), the hidden width is max(4, ...) not 1, the temperature is annealed
    30 -> 1 (the original kept 34, a near-uniform softmax), and input slices are chosen
    by channel identity (the original took the first n slices whatever the channels).
    """

    def __init__(
        self,
        *,
        num_kernels: int = 4,
        out_channels: int = STEM_CHANNELS,
        kernel_size: int = KERNEL_SIZE,
        initial_temperature: float = 30.0,
        anneal_epochs: int = 10,
    ) -> None:
        super().__init__(out_channels=out_channels, kernel_size=kernel_size)
        self.bank = kernel_bank(num_kernels, out_channels, kernel_size)  # (K, 64, 3, 3, 3)
        self.attention = KernelAttention(
            num_kernels=num_kernels,
            initial_temperature=initial_temperature,
            anneal_epochs=anneal_epochs,
        )

    def set_epoch(self, epoch: int) -> None:
        """Anneal the routing temperature (same as ``self.attention.set_epoch``)."""
        self.attention.set_epoch(epoch)

    def kernels(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        """Per-sample mixed kernels (B, 64, n, 3, 3) for the present channels."""
        weights = self.attention(x, channels)  # (B, K)
        num_kernels = self.bank.shape[0]
        mixed = weights @ self.bank.view(num_kernels, -1)  # (B, 64*3*3*3)
        mixed = mixed.view(x.shape[0], self.out_channels, 3, self.kernel_size, self.kernel_size)
        return identity_slices(mixed, channels)  # (B, 64, n, 3, 3)
