"""What every first layer shares: the input check, the stem's width and kernel size, the
per-sample convolution, the base class of the stems that generate a kernel per image
(:class:`GeneratedKernelStem`) and the channel summary that tells a small network WHICH
channels it sees.

The shared trick: per-sample kernels in ONE convolution
-------------------------------------------------------
A per-sample kernel means each image has its own weight. Instead of a Python loop of B
convolutions (the original study's v1-v3), fold the batch into the channel axis and use a
grouped convolution with ``groups=B``: group b sees only image b's channels and only
image b's kernel (:func:`per_sample_conv`). :func:`per_sample_conv_loop` keeps the loop as the
reference, and the tests check both agree.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynconv.channels import RGB, ChannelSubset, InputMode, parse_channels
from dynconv.errors import ChannelSubsetError

STEM_CHANNELS = 64  # ResNet's stem width
KERNEL_SIZE = 3  # the original study's 3x3, stride 1, padding 1 stem


def check_input(
    x: Tensor, channels: ChannelSubset | str | None, *, input_mode: InputMode
) -> ChannelSubset:
    """Check that ``x`` fits ``channels`` for a model's input mode; return the subset.

    ``channels=None`` means RGB. ``"zero"``: x must be (B, 3, H, W) whatever the subset
    (absent channels zero-filled by the caller). ``"drop"``: x must be
    (B, len(channels), H, W). Raises ``ChannelSubsetError`` with what was expected.
    """
    subset = RGB if channels is None else parse_channels(channels)
    if x.dim() != 4:
        raise ChannelSubsetError(
            f"Expected a batch of images shaped (B, C, H, W), got a tensor of shape "
            f"{tuple(x.shape)}."
        )
    expected = 3 if input_mode == "zero" else subset.size
    if x.shape[1] != expected:
        if input_mode == "zero":
            hint = (
                "This model takes all three channels with the absent ones set to 0 (input "
                "mode 'zero'): use apply_subset(x, channels, 'zero')."
            )
        else:
            hint = (
                f"This model takes only the present channels (input mode 'drop'): for "
                f"{subset.name} x needs {subset.size} channel(s); use "
                f"apply_subset(x, channels, 'drop')."
            )
        raise ChannelSubsetError(
            f"Input has {x.shape[1]} channels but channels={subset.name} expects {expected}. {hint}"
        )
    return subset


def per_sample_conv(x: Tensor, weight: Tensor) -> Tensor:
    """Convolve image b with its own kernel ``weight[b]``, all in one grouped convolution.

    x: (B, n, H, W); weight: (B, O, n, k, k) -> (B, O, H, W) (stride 1, 'same' padding).
    """
    b, n, h, w = x.shape
    out_ch, k = weight.shape[1], weight.shape[-1]
    # Fold the batch into channels: one "image" with B*n channels, B groups of n.
    x = x.reshape(1, b * n, h, w)  # (1, B*n, H, W)
    weight = weight.reshape(b * out_ch, n, k, k)  # (B*O, n, k, k): group b = kernels of image b
    out = F.conv2d(x, weight, padding=k // 2, groups=b)  # (1, B*O, H, W)
    return out.view(b, out_ch, h, w)  # (B, O, H, W)


def per_sample_conv_loop(x: Tensor, weight: Tensor) -> Tensor:
    """Reference for ``per_sample_conv``: one convolution per image (the original's loop)."""
    k = weight.shape[-1]
    outs = [F.conv2d(x[i : i + 1], weight[i], padding=k // 2) for i in range(x.shape[0])]
    return torch.cat(outs, dim=0)  # (B, O, H, W)


def kernel_generator(n: int, out_channels: int, kernel_size: int) -> nn.Sequential:
    """Linear(n -> O*n*k*k) + Tanh: maps an image's n mean values to its (O, n, k, k) kernel."""
    return nn.Sequential(nn.Linear(n, out_channels * n * kernel_size**2), nn.Tanh())


def generated_kernels(generator: nn.Module, x: Tensor, out_channels: int, k: int) -> Tensor:
    """Per-sample kernels (B, O, n, k, k) from the global average of x (B, n, H, W)."""
    b, n = x.shape[:2]
    pooled = x.mean(dim=(2, 3))  # (B, n): each image's mean per present channel
    return generator(pooled).view(b, out_channels, n, k, k)  # (B, O, n, k, k)




def kernel_bank(num_kernels: int, out_channels: int, kernel_size: int) -> nn.Parameter:
    """A bank of K full kernels (K, O, 3, k, k), one input slice per colour channel, each
    kernel initialised as torchvision initialises a conv (Kaiming normal, fan out)."""
    k = kernel_size
    bank = nn.Parameter(torch.empty(num_kernels, out_channels, 3, k, k))
    for kernel in bank.data:  # each (O, 3, k, k)
        nn.init.kaiming_normal_(kernel, mode="fan_out", nonlinearity="relu")
    return bank


def identity_slices(full: Tensor, channels: ChannelSubset) -> Tensor:
    """The input slices of the present channels, chosen by channel IDENTITY: G and B use
    slices 1 and 2 whatever else is present. full: (B, O, 3, k, k) -> (B, O, n, k, k)."""
    index = torch.tensor(channels.indices, device=full.device)
    return full.index_select(2, index)


class GeneratedKernelStem(nn.Module):
    """The first layers that make one kernel per image: v1, v2 (so v4), v3 and v4 + identity.

    A subclass says how the kernels are made: ``kernels(x, channels)`` returns
    (B, O, n, k, k) for x (B, n, H, W). ``forward`` applies them with the grouped-convolution
    trick (:func:`per_sample_conv`), ``reference_forward`` with one convolution per image as
    the original did (:func:`per_sample_conv_loop`); the tests check that both agree.
    ``check`` is the input check of input mode "drop" (v1 adds its fixed subset).
    """

    def __init__(self, *, out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE
                 ) -> None:
        super().__init__()
        self.out_channels = out_channels
        self.kernel_size = kernel_size

    def check(self, x: Tensor, channels: ChannelSubset | None) -> ChannelSubset:
        """The subset x holds; raises ``ChannelSubsetError`` when x does not fit it."""
        return check_input(x, channels, input_mode="drop")

    def kernels(self, x: Tensor, channels: ChannelSubset) -> Tensor:
        """Per-sample kernels (B, O, n, k, k) for x (B, n, H, W) holding ``channels``."""
        raise NotImplementedError

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = self.check(x, channels)
        return per_sample_conv(x, self.kernels(x, subset))  # (B, O, H, W)

    def reference_forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """Same output as ``forward``, computed with one convolution per image."""
        subset = self.check(x, channels)
        return per_sample_conv_loop(x, self.kernels(x, subset))  # (B, O, H, W)


def placed_summary(x: Tensor, channels: ChannelSubset, num_channels: int = 3) -> Tensor:
    """(B, 2 * num_channels): each present channel's mean at its channel's position (0 where
    absent), then the presence mask. Tells a small network WHICH channels it sees."""
    b, idx = x.shape[0], list(channels.indices)
    placed = x.new_zeros(b, num_channels)  # (B, 3)
    placed[:, idx] = x.mean(dim=(2, 3))  # (B, 3): mean of channel c at position c
    mask = x.new_zeros(b, num_channels)  # (B, 3)
    mask[:, idx] = 1.0
    return torch.cat((placed, mask), dim=1)  # (B, 6)


