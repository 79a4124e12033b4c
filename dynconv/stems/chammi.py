"""The channel-adaptive first layers of the CHAMMI benchmark, as ResNet18 stems.

Chapter: ``10_part3``.

Paper: Chen, Pham et al., "CHAMMI: A benchmark for channel-adaptive models in microscopy
imaging", NeurIPS 2023 Datasets and Benchmarks, https://arxiv.org/abs/2310.19224. Its
baselines replace only the first layer of a ConvNeXt-Tiny with a layer that takes a list of
channel indices with every input; its public code also tried them on CIFAR's RGB channels in
a ResNet sandbox. Here each is written fresh as a ResNet18 stem with the book's call
``stem(x, channels) -> (B, 64, H, W)``: x holds only the present channels (input mode
"drop"), 3x3, stride 1, padding 1, no bias, like the original study's stem.

* ``SliceParamStem``: one (64, 3, 3, 3) kernel; the input slices of the present channels
  are used. NOTE: this is mathematically a plain conv on zero-filled input (the absent
  slices multiply zeros); ``tests/test_part3.py`` checks it. What makes it channel-adaptive
  is only the channel sampling it is trained with.
* ``TemplateMixingStem``: T shared single-channel kernel templates (T, 64, 3, 3); channel c's
  kernel is a learned mix of them with its own T coefficients.
* ``HyperNetStem``: a learned embedding per channel -> a small MLP -> that channel's kernel.
* ``DepthwiseStem``: each present channel convolved with its own 64 depthwise kernels, the
  n results averaged (so any count works), then a 1x1 conv 64 -> 64.

How this differs from CHAMMI: a 3x3/1 ResNet stem instead of ConvNeXt's 4x4/4 patchify
stem; Depthwise pools by the mean (CHAMMI also tried sum, weighted and attention pooling) and
has no per-subset BatchNorm; template count and embedding sizes are this book's choices
(``TEMPLATES``, ``EMBEDDING_DIM``), small because a stem here has 1,728 weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynconv.channels import CHANNEL_NAMES, ChannelSubset
from dynconv.errors import ConfigError
from dynconv.stems.common import KERNEL_SIZE, STEM_CHANNELS, check_input

__all__ = ["CHAMMI_DESIGNS", "SliceParamStem", "TemplateMixingStem", "HyperNetStem",
           "DepthwiseStem", "chammi_stem"]

NUM_CHANNELS = len(CHANNEL_NAMES)
TEMPLATES = 8  # TemplateMixing's shared templates
EMBEDDING_DIM = 16  # HyperNet's channel embedding
HIDDEN = 64  # HyperNet's MLP width


def _index(channels: ChannelSubset, like: Tensor) -> Tensor:
    return torch.tensor(channels.indices, device=like.device)


def _kaiming(*shape: int) -> Tensor:
    """A (O, n, k, k)-style tensor initialised as torchvision initialises a conv (fan_out)."""
    weight = torch.empty(*shape)
    nn.init.kaiming_normal_(weight, mode="fan_out", nonlinearity="relu")
    return weight


class SliceParamStem(nn.Module):
    """SliceParam: a (64, 3, 3, 3) kernel sliced by channel identity."""

    def __init__(self, *, out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE
                 ) -> None:
        super().__init__()
        k = kernel_size
        self.weight = nn.Parameter(_kaiming(out_channels, NUM_CHANNELS, k, k))

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        weight = self.weight.index_select(1, _index(subset, x))  # (64, n, 3, 3)
        return F.conv2d(x, weight, padding=weight.shape[-1] // 2)  # (B, 64, H, W)


class TemplateMixingStem(nn.Module):
    """TemplateMixing: channel c's kernel = sum_t coefficients[c, t] * templates[t]."""

    def __init__(self, *, templates: int = TEMPLATES, out_channels: int = STEM_CHANNELS,
                 kernel_size: int = KERNEL_SIZE) -> None:
        super().__init__()
        k = kernel_size
        self.templates = nn.Parameter(_kaiming(templates, out_channels, k, k))  # (T, 64, k, k)
        # N(0, 1/T) coefficients: a mixed kernel starts with a template's variance
        coefficients = torch.randn(NUM_CHANNELS, templates) / math.sqrt(templates)
        self.coefficients = nn.Parameter(coefficients)  # (3, T)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        coefficients = self.coefficients.index_select(0, _index(subset, x))  # (n, T)
        weight = torch.einsum("nt,tokl->onkl", coefficients, self.templates)  # (64, n, k, k)
        return F.conv2d(x, weight, padding=weight.shape[-1] // 2)  # (B, 64, H, W)


class HyperNetStem(nn.Module):
    """HyperNet: embedding[c] -> Linear -> ReLU -> Linear -> channel c's (64, k, k) kernel."""

    def __init__(self, *, embedding_dim: int = EMBEDDING_DIM, hidden: int = HIDDEN,
                 out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE) -> None:
        super().__init__()
        self.out_channels, self.kernel_size = out_channels, kernel_size
        self.embedding = nn.Embedding(NUM_CHANNELS, embedding_dim)
        self.mlp = nn.Sequential(nn.Linear(embedding_dim, hidden), nn.ReLU(inplace=True),
                                 nn.Linear(hidden, out_channels * kernel_size**2))

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        k = self.kernel_size
        kernels = self.mlp(self.embedding(_index(subset, x)))  # (n, 64*k*k)
        weight = kernels.view(subset.size, self.out_channels, k, k).transpose(0, 1)
        return F.conv2d(x, weight, padding=k // 2)  # weight (64, n, k, k) -> (B, 64, H, W)


class DepthwiseStem(nn.Module):
    """Depthwise: per-channel depthwise kernels, mean over the present channels, 1x1 conv."""

    def __init__(self, *, out_channels: int = STEM_CHANNELS, kernel_size: int = KERNEL_SIZE
                 ) -> None:
        super().__init__()
        k = kernel_size
        self.out_channels = out_channels
        # channel c's 64 depthwise kernels: depthwise[c] (64, 1, k, k)
        self.depthwise = nn.Parameter(_kaiming(NUM_CHANNELS, out_channels, 1, k, k))
        self.pointwise = nn.Conv2d(out_channels, out_channels, kernel_size=1, bias=False)

    def folded_kernel(self, channels: ChannelSubset, like: Tensor) -> Tensor:
        """The one (64, n, k, k) kernel equal to depthwise, mean and 1x1 together."""
        depthwise = self.depthwise.index_select(0, _index(channels, like))  # (n, 64, 1, k, k)
        pointwise = self.pointwise.weight[:, :, 0, 0]  # (64 out, 64 in)
        # The trick: all three steps are linear, so they fold into ONE ordinary conv:
        # out_o = sum_m P[o, m] * mean_i (D_i[m] * x_i) = sum_i ((P[o, m] D_i[m]) / n) * x_i.
        # The stem then costs exactly ResNet18's 3 -> 64 conv (the n*64 maps, the mean and
        # the 1x1 conv at full resolution cost 1.15x its training step on this CPU).
        # reference_forward is the three steps written out; a test checks they agree.
        kernel = torch.einsum("om,imxy->oixy", pointwise, depthwise[:, :, 0])  # (64, n, k, k)
        return kernel / channels.size

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        kernel = self.folded_kernel(subset, x)
        return F.conv2d(x, kernel, padding=kernel.shape[-1] // 2)  # (B, 64, H, W)

    def reference_forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """Same output as ``forward``: per-channel depthwise convs, their mean, the 1x1 conv."""
        subset = check_input(x, channels, input_mode="drop")
        b, n, h, w = x.shape
        weight = self.depthwise.index_select(0, _index(subset, x))  # (n, 64, 1, k, k)
        weight = weight.reshape(n * self.out_channels, 1, *weight.shape[-2:])  # (n*64, 1, k, k)
        # groups=n: input channel i meets only its own 64 kernels
        per_channel = F.conv2d(x, weight, padding=weight.shape[-1] // 2, groups=n)  # (B, n*64, ..)
        pooled = per_channel.view(b, n, self.out_channels, h, w).mean(dim=1)  # (B, 64, H, W)
        return self.pointwise(pooled)  # (B, 64, H, W)


CHAMMI_DESIGNS: dict[str, type[nn.Module]] = {
    "sliceparam": SliceParamStem,
    "templatemixing": TemplateMixingStem,
    "hypernet": HyperNetStem,
    "depthwise": DepthwiseStem,
}


def chammi_stem(design: str) -> nn.Module:
    """A CHAMMI stem by name (one of ``CHAMMI_DESIGNS``)."""
    if design not in CHAMMI_DESIGNS:
        raise ConfigError(f"Unknown CHAMMI design {design!r}; valid choices: "
                          f"{', '.join(CHAMMI_DESIGNS)}.")
    return CHAMMI_DESIGNS[design]()
