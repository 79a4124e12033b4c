"""v5, this book's first layer for any channel subset: a shared per-channel filter bank, a
learned embedding of each channel's identity, and a mean over the channels present.

Chapter: ``10_part3``.

For each present channel c (x_c is one (H, W) map):

    u_c = ReLU(scale[c] * (W * x_c) + shift[c])      (B, 64, H, W)
    out = mean over the present channels of u_c      (B, 64, H, W)

``W`` is ONE bank of 64 single-channel 3x3 filters shared by R, G and B; ``scale[c]`` and
``shift[c]`` (64 values each) are channel c's identity embedding, applied FiLM-style.

What it draws on:

* ChannelViT (Bao et al., ICLR 2024, https://arxiv.org/abs/2309.16108): each channel
  through the SAME projection plus a learned embedding of its identity; missing channels
  are simply absent, never zero-filled; Hierarchical Channel Sampling in training
  (:mod:`dynconv.stems.sampling`: a size uniform in 1..3, then the channels), drawn here per image
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
  (its Depthwise design, :mod:`dynconv.stems.chammi`, pools LINEAR per-channel maps).

How it differs from ChannelViT: a 3x3/1 conv stem instead of patch tokens, and the channels
are combined by the mean at once instead of by attention over per-channel tokens (no
transformer follows). ``identity=False`` (no embedding) and ``missing="zero"`` (absent
channels enter as zero maps and the mean is over all three) are the ablations of chapter 10.
Cost on RGB: the bank runs once per channel, the multiply-adds of a 3 -> 64 conv. What
costs time is memory, not arithmetic: the n per-channel maps are n times the stem's output,
written, rectified, averaged and, for the backward pass, kept. On a CPU ``forward`` therefore
runs :class:`ReluMeanConv` (a few images at a time, so the maps stay in the cache, and the maps
recomputed in the backward pass instead of stored); ``reference_forward`` is the plain
per-channel computation it is tested against, and ``channel_maps`` the maps themselves.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynconv.channels import CHANNEL_NAMES, RGB, ChannelSubset
from dynconv.errors import ConfigError
from dynconv.stems.common import KERNEL_SIZE, STEM_CHANNELS, check_input

__all__ = ["MISSING_MODES", "ChannelEmbeddingStem", "ReluMeanConv", "relu_mean_conv"]

MISSING_MODES: tuple[str, ...] = ("drop", "zero")
# ReluMeanConv works on as many images at a time as keep their n per-channel maps within
# this many bytes (about the CPU's L2 + a share of L3: 4 images at 32 px, 1 at 84 px).
CHUNK_BYTES = 3 * 2**20


def _chunk_size(x: Tensor, out_channels: int) -> int:
    per_image = x.shape[1] * out_channels * x.shape[2] * x.shape[3] * x.element_size()
    return max(1, CHUNK_BYTES // per_image)


class ReluMeanConv(torch.autograd.Function):
    """mean_c ReLU(conv(x_c, weight_c) + bias_c), a few images at a time, maps never stored.

    x: (B, n, H, W); weight: (n*O, 1, k, k) (group c = channel c's O filters); bias: (n*O,)
    -> (B, O, H, W). The same numbers as ``F.relu(F.conv2d(x, weight, bias, groups=n))
    .view(B, n, O, H, W).mean(1)`` and its autograd gradients (tested), but:

    * forward: the grouped conv, the ReLU and the mean run on ``chunk`` images at a time, so
      the (chunk, n*O, H, W) maps stay in the CPU's cache instead of making three round
      trips through memory at n times the output's size;
    * backward: the maps are recomputed from x (a 3 -> n*O conv, cheap) instead of being
      saved, and only their sign is used: d maps = [maps > 0] * grad_out / n.

    On this 2-core CPU it cut v5's training step from 1.12x to about 1.0x ResNet18's
    (``python -m dynconv.bench.benchmark``). On CUDA the plain path is used: many small kernels lose
    there what they win here.
    """

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, groups: int,
                chunk: int) -> Tensor:
        ctx.save_for_backward(x, weight, bias)
        ctx.groups, ctx.chunk = groups, chunk
        outs = []
        for part in x.split(chunk):  # (b, n, H, W), b <= chunk
            maps = F.conv2d(part, weight, bias, padding=weight.shape[-1] // 2, groups=groups)
            b, _, h, w = maps.shape
            outs.append(maps.relu_().view(b, groups, -1, h, w).sum(dim=1).div_(groups))
        return torch.cat(outs)  # (B, O, H, W)

    @staticmethod
    def backward(ctx, grad_out: Tensor):
        x, weight, bias = ctx.saved_tensors
        n, k = ctx.groups, weight.shape[-1]
        grad_w = torch.zeros_like(weight)
        grad_b = torch.zeros_like(bias) if bias is not None else None
        bias_sizes = [weight.shape[0]] if bias is not None else None
        for part, grad in zip(x.split(ctx.chunk), grad_out.split(ctx.chunk), strict=True):
            maps = F.conv2d(part, weight, bias, padding=k // 2, groups=n)  # recomputed
            b, _, h, w = maps.shape
            # d maps = [maps > 0] * grad_out / n, for each channel's O maps
            grad_maps = (maps > 0).view(b, n, -1, h, w).mul(grad.unsqueeze(1) / n)
            _, gw, gb = torch.ops.aten.convolution_backward(
                grad_maps.view(b, -1, h, w), part, weight, bias_sizes, [1, 1], [k // 2] * 2,
                [1, 1], False, [0, 0], n, [False, True, bias is not None])
            grad_w += gw
            if grad_b is not None:
                grad_b += gb
        return None, grad_w, grad_b, None, None


def relu_mean_conv(x: Tensor, weight: Tensor, bias: Tensor | None, groups: int) -> Tensor:
    """mean over the ``groups`` channels of ReLU(grouped conv): the fused path on a CPU."""
    # The fused path gives no gradient for x (a first layer needs none): plain path if asked.
    if x.device.type == "cpu" and not x.requires_grad and not torch.compiler.is_compiling():
        chunk = _chunk_size(x, weight.shape[0] // groups)
        return ReluMeanConv.apply(x, weight, bias, groups, chunk)
    maps = F.conv2d(x, weight, bias, padding=weight.shape[-1] // 2, groups=groups)
    b, _, h, w = maps.shape
    return F.relu(maps).view(b, groups, -1, h, w).mean(dim=1)  # (B, O, H, W)


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

    def folded_filters(self, x: Tensor, channels: ChannelSubset
                       ) -> tuple[Tensor, Tensor | None]:
        """The filters (n*64, 1, k, k) and bias (n*64,) of the present channels, FiLM folded."""
        n, o, k = channels.size, self.out_channels, self.kernel_size
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
        return weight, bias

    def channel_maps(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        """u_c for each channel of x: (B, n, 64, H, W), before the mean."""
        b, n, h, w = x.shape
        weight, bias = self.folded_filters(x, channels)
        maps = F.conv2d(x, weight, bias, padding=self.kernel_size // 2, groups=n)
        return F.relu(maps).view(b, n, self.out_channels, h, w)  # (B, n, 64, H, W)

    def _present(self, x: Tensor, channels: ChannelSubset | None) -> tuple[Tensor, ChannelSubset]:
        subset = check_input(x, channels, input_mode="drop")
        if self.missing == "zero" and subset != RGB:  # ablation: zero maps for absent channels
            full = x.new_zeros(x.shape[0], len(CHANNEL_NAMES), *x.shape[2:])  # (B, 3, H, W)
            full[:, list(subset.indices)] = x
            return full, RGB
        return x, subset

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        x, subset = self._present(x, channels)
        weight, bias = self.folded_filters(x, subset)
        return relu_mean_conv(x, weight, bias, subset.size)  # (B, 64, H, W)

    def reference_forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """Same output as ``forward``, one channel at a time (the plain computation)."""
        x, subset = self._present(x, channels)
        maps = []
        for i, c in enumerate(subset.indices):
            response = F.conv2d(x[:, i:i + 1], self.bank, padding=self.kernel_size // 2)
            if self.identity:  # channel c's FiLM: scale[c] * response + shift[c]
                response = (response * self.scale[c].view(1, -1, 1, 1)
                            + self.shift[c].view(1, -1, 1, 1))
            maps.append(F.relu(response))  # (B, 64, H, W)
        return torch.stack(maps).mean(dim=0)  # (B, 64, H, W)
