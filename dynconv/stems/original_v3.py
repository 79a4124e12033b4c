"""The original study's v3 bugs, reproduced on purpose so the book can show them.

Chapter: ``11_errata`` (and ``05_v3``, which contrasts it with ``DynamicConvStem``).

Paper: Chen et al., "Dynamic Convolution: Attention over Convolution Kernels", CVPR 2020,
https://arxiv.org/abs/1912.03458 (the original report credits "Wu et al.").

``OriginalV3DynamicConv`` behaves like the original v3 layer, bugs included:

1. ``forward`` builds the attention's two layers anew, with fresh random weights, on every
   call: two calls on the same input give different outputs, and the attention has no
   parameters that persist, so it can never be trained (and parameter counters miss it).
2. Its hidden width is ``int(3 * 0.25) + 1 = 1`` unit.
3. The softmax temperature is 34 and never annealed: with logits of order 1 the weights
   are within a few percent of uniform (``softmax_entropy_at_temperature``), so the layer
   is in effect one static, averaged kernel.
4. It takes the first n input slices of the kernel bank whatever channels were given:
   GB uses the R and G slices (``original_kernel_slices``).

Nothing here is used for training in this book; ``dynconv.stems.v3.DynamicConvStem`` is the
corrected layer.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynconv.channels import ChannelSubset, parse_channels
from dynconv.stems.common import check_input, kernel_bank, per_sample_conv

__all__ = [
    "ORIGINAL_TEMPERATURE",
    "OriginalV3DynamicConv",
    "original_hidden_width",
    "original_kernel_slices",
    "identity_kernel_slices",
    "softmax_entropy_at_temperature",
]

ORIGINAL_TEMPERATURE = 34.0  # the original's start value; its "-3 per epoch" never ran


def original_hidden_width(in_channels: int = 3, ratio: float = 0.25) -> int:
    """The original attention's hidden width: ``int(in_channels * ratio) + 1`` (1 for RGB)."""
    return int(in_channels * ratio) + 1


def original_kernel_slices(channels: ChannelSubset | str) -> tuple[int, ...]:
    """Bank input slices the ORIGINAL v3 used: the first n, whatever the channels."""
    return tuple(range(parse_channels(channels).size))


def identity_kernel_slices(channels: ChannelSubset | str) -> tuple[int, ...]:
    """Bank input slices the corrected v3 uses: those of the present channels."""
    return parse_channels(channels).indices


def softmax_entropy_at_temperature(logits: Tensor, temperature: float) -> Tensor:
    """Entropy of ``softmax(logits / T)`` as a fraction of the uniform maximum log(K).

    1.0 means the weights are exactly uniform. logits: (..., K) -> (...).
    Example for the chapter: ``softmax_entropy_at_temperature(torch.randn(1000, 4), 34)``
    is above 0.999: at T = 34 the attention cannot prefer any kernel.
    """
    p = torch.softmax(logits / temperature, dim=-1)  # (..., K)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum(-1)  # (...)
    return entropy / math.log(logits.shape[-1])


class OriginalV3DynamicConv(nn.Module):
    """The original v3 first layer, bugs and all (for demonstration only).

    Bank of K kernels (K, 64, 3, 3, 3) (a real, trained parameter); per call a NEW
    ``Linear(n, 1) -> ReLU -> Linear(1, K)`` with random weights routes the pooled input,
    ``softmax(logits / 34)`` mixes the bank, and the first n input slices are used.
    Call signature ``(x, channels)`` with x holding the present channels (input mode
    "drop"), like the corrected stems; computed with the grouped-conv trick.
    """

    def __init__(self, *, num_kernels: int = 4, out_channels: int = 64, kernel_size: int = 3,
                 ratio: float = 0.25, temperature: float = ORIGINAL_TEMPERATURE) -> None:
        super().__init__()
        self.num_kernels = num_kernels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.hidden = original_hidden_width(3, ratio)
        self.temperature = temperature  # a plain float: never annealed
        self.bank = kernel_bank(num_kernels, out_channels, kernel_size)  # (K, 64, 3, 3, 3)

    def attention_weights(self, x: Tensor) -> Tensor:
        """Softmax weights (B, K) from attention layers created afresh on THIS call (bug 1)."""
        n = x.shape[1]
        # BUG (kept on purpose): new layers, new random weights, every call; they are
        # not registered, so no optimizer ever sees them.
        fc1 = nn.Linear(n, self.hidden, device=x.device, dtype=x.dtype)
        fc2 = nn.Linear(self.hidden, self.num_kernels, device=x.device, dtype=x.dtype)
        pooled = x.mean(dim=(2, 3))  # (B, n)
        logits = fc2(F.relu(fc1(pooled)))  # (B, K)
        return torch.softmax(logits / self.temperature, dim=1)  # near uniform at T = 34

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        check_input(x, channels, input_mode="drop")
        b, n = x.shape[:2]
        weights = self.attention_weights(x)  # (B, K)
        mixed = weights @ self.bank.view(self.num_kernels, -1)  # (B, 64*3*3*3)
        k = self.kernel_size
        mixed = mixed.view(b, self.out_channels, 3, k, k)  # (B, 64, 3, 3, 3)
        # BUG (kept on purpose): the first n input slices, whichever channels x holds.
        return per_sample_conv(x, mixed[:, :, :n])  # (B, 64, H, W)
