"""v5, this book's first layer for any channel subset: a shared per-channel filter bank, a
learned embedding of each channel's identity, and a mean over the channels present.

Chapter: ``11_part3``.

For each present channel c (x_c is one (H, W) map):

    u_c = ReLU(scale[c] * (W * x_c) + shift[c])      (B, 64, H, W)
    out = mean over the present channels of u_c      (B, 64, H, W)

``W`` is ONE bank of 64 single-channel 3x3 filters shared by R, G and B; ``scale[c]`` and
``shift[c]`` (64 values each) are channel c's identity embedding, applied FiLM-style.

What it draws on:

* ChannelViT (Bao et al., ICLR 2024, https://arxiv.org/abs/2309.16108): each channel
  through the SAME projection plus a learned embedding of its identity; missing channels
  are simply absent, never zero-filled; Hierarchical Channel Sampling in training
  (:mod:`dynconv.sampling`: a size uniform in 1..3, then the channels), drawn here per image
  rather than per batch, because of BatchNorm (the sampling module says why, with numbers).
* FiLM (Perez et al., AAAI 2018, https://arxiv.org/abs/1709.07871): the embedding acts as a
  per-feature scale and shift, so the same filter can answer differently to R and to B.
* DeepSets (Zaheer et al., NeurIPS 2017, https://arxiv.org/abs/1703.06114): a function of a
  SET that works for any set size has the form rho(sum_c phi(x_c, c)). Here phi is the
  filter bank, the embedding and the ReLU; the mean (a sum divided by n, so the output's
  scale does not depend on how many channels are present) combines; rho is the rest of
  ResNet18. The ReLU before the mean matters: without it the mean of linear maps would be a
  single filter applied to the mean colour, and colour would be lost.
* CHAMMI (Chen, Pham et al., NeurIPS 2023): per-channel first layers pooled over channels
  (its Depthwise design, :mod:`dynconv.chammi`, pools LINEAR per-channel maps).

How it differs from ChannelViT: a 3x3/1 conv stem instead of patch tokens, and the channels
are combined by the mean at once instead of by attention over per-channel tokens (no
transformer follows). ``identity=False`` (no embedding) and ``missing="zero"`` (absent
channels enter as zero maps and the mean is over all three) are the ablations of chapter 11.
Cost on RGB: the bank runs once per channel, the multiply-adds of a 3 -> 64 conv.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynconv.channels import CHANNEL_NAMES, RGB, ChannelSubset
from dynconv.errors import ConfigError
from dynconv.stems import KERNEL_SIZE, STEM_CHANNELS, check_input

__all__ = ["MISSING_MODES", "ChannelEmbeddingStem"]

MISSING_MODES: tuple[str, ...] = ("drop", "zero")


class ChannelEmbeddingStem(nn.Module):
    """v5: shared filter bank + channel-identity embedding + mean over present channels."""

    def __init__(self, *, identity: bool = True, missing: str = "drop",
                 out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE) -> None:
        super().__init__()
        if missing not in MISSING_MODES:
            raise ConfigError(f"Unknown missing-channel mode {missing!r}; valid choices: "
                              f"{', '.join(MISSING_MODES)}.")
        self.identity = identity
        self.missing = missing
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        # W: ONE bank of single-channel filters, shared by R, G and B
        self.bank = nn.Parameter(torch.empty(out_channels, 1, kernel_size, kernel_size))
        nn.init.kaiming_normal_(self.bank, mode="fan_out", nonlinearity="relu")
        if identity:
            # channel c's embedding: scale[c], shift[c]; starts as the identity FiLM
            self.scale = nn.Parameter(torch.ones(len(CHANNEL_NAMES), out_channels))
            self.shift = nn.Parameter(torch.zeros(len(CHANNEL_NAMES), out_channels))

    def channel_maps(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        """u_c for each channel of x: (B, n, 64, H, W), before the mean."""
        b, n, h, w = x.shape
        o, k = self.out_channels, self.kernel_size
        # The trick: scale[c] * (W * x_c) + shift[c] = (scale[c] W) * x_c + shift[c], so the
        # embedding folds into the filters and a bias, and all n channels run as ONE grouped
        # convolution (groups=n: channel i meets only its own 64 scaled filters). About twice
        # as fast on a CPU as filtering B*n one-channel images and then scaling the maps;
        # tests/test_part3.py checks it against that plain per-channel computation.
        if self.identity:
            index = torch.tensor(channels.indices, device=x.device)
            scale = self.scale.index_select(0, index).view(n, o, 1, 1, 1)  # (n, 64, 1, 1, 1)
            weight = (scale * self.bank).reshape(n * o, 1, k, k)  # (n*64, 1, k, k)
            bias = self.shift.index_select(0, index).reshape(n * o)  # (n*64,)
        else:
            weight, bias = self.bank.repeat(n, 1, 1, 1), None  # (n*64, 1, k, k)
        maps = F.conv2d(x, weight, bias, padding=k // 2, groups=n)  # (B, n*64, H, W)
        return F.relu(maps).view(b, n, o, h, w)  # (B, n, 64, H, W)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        if self.missing == "zero" and subset != RGB:  # ablation: zero maps for absent channels
            full = x.new_zeros(x.shape[0], len(CHANNEL_NAMES), *x.shape[2:])  # (B, 3, H, W)
            full[:, list(subset.indices)] = x
            x, subset = full, RGB
        return self.channel_maps(x, subset).mean(dim=1)  # (B, 64, H, W)
