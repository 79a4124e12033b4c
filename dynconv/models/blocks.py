"""Building blocks of Part II: squeeze-and-excitation, SAGAN self-attention and RRDB.

Chapter: ``09_part2`` (the small attention network against ResNet34).

Each class is one box of its paper's figure, written flat (as BasicSR's
``archs/rrdbnet_arch.py`` does), with every constant commented where it is used.

Papers
------
* SE: Hu, Shen, Sun, "Squeeze-and-Excitation Networks", CVPR 2018,
  https://arxiv.org/abs/1709.01507
* SAGAN: Zhang, Goodfellow, Metaxas, Odena, "Self-Attention Generative Adversarial
  Networks", ICML 2019, https://arxiv.org/abs/1805.08318
* ESRGAN / RRDB: Wang et al., "ESRGAN: Enhanced Super-Resolution Generative Adversarial
  Networks", ECCV Workshops 2018, https://arxiv.org/abs/1809.00219

How this code differs from the papers
-------------------------------------
* ``SEBlock``: the hidden width is ``max(1, C // reduction)``; with C = 64 and the
  paper's reduction 16 only 4 hidden units remain (SE nets for small inputs often use 4-8).
* ``SelfAttention``: SAGAN's attention, computed with
  ``torch.nn.functional.scaled_dot_product_attention`` instead of an explicit
  (HW x HW) matrix. To let PyTorch pick its fused (memory-efficient) kernel, query and
  key (C/8 features) are zero-padded to the value's C features: the zeros add nothing to
  any dot product, so the result is exactly SAGAN's. SAGAN does not scale the scores by
  1/sqrt(d), so ``scale=1.0`` is passed. The explicit path is kept
  (``explicit_attention``, ``SelfAttention(fused=False)``) and tested equal.
  Cost of the trick: the fused kernel multiplies the padded zeros too, so the q.k part
  costs 2*(HW)^2*C FLOPs instead of 2*(HW)^2*C/8; in exchange memory is O(HW), not
  O((HW)^2).
* ``DenseBlock``/``RRDB``: ESRGAN's blocks (5 convs, growth 32, LeakyReLU 0.2, residual
  scale 0.2, init scale 0.1) for 64 channels of a classifier instead of a super-resolution
  trunk.

How the original study differs (see ``original-code-notes``)
------------------------------------------------------------
* The original's ``SelfAttention`` class ended with an ``SEBlock``; that pair is
  ``AttentionSE`` here (the original's "layer 2").
* The original's "RRDB" has no dense connections at all: three plain 3x3 convs, then
  attention + SE, then another SE, then ``out * 0.2 + x``. It is kept, under the honest
  name ``OriginalRRDB``; the real ESRGAN ``RRDB`` is available as an option.
* The original built the full (HW)^2 attention matrix: at 84 px and batch 16 one fp32
  map is 16 * 7056^2 * 4 B = 3.2 GB.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "SEBlock",
    "SelfAttention",
    "explicit_attention",
    "fused_attention",
    "AttentionSE",
    "OriginalRRDB",
    "DenseBlock",
    "RRDB",
]


class SEBlock(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018): rescale each channel by a learned gate.

    squeeze (global average pool) -> Linear(C, C/r) -> ReLU -> Linear(C/r, C) -> sigmoid
    -> multiply. Both linear layers are bias-free, as in the paper and the original study.
    """

    def __init__(self, channels: int, reduction: int = 16) -> None:
        super().__init__()
        # reduction 16 is the paper's default; keep at least one hidden unit.
        hidden = max(1, channels // reduction)
        self.squeeze = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Linear(channels, hidden, bias=False)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(hidden, channels, bias=False)
        self.gate = nn.Sigmoid()

    def gates(self, x: Tensor) -> Tensor:
        """The per-image channel gates s: (B, C, H, W) -> (B, C), each in (0, 1)."""
        s = self.squeeze(x).flatten(1)  # (B, C)
        return self.gate(self.fc2(self.relu(self.fc1(s))))  # (B, C)

    def forward(self, x: Tensor) -> Tensor:
        b, c = x.shape[:2]
        return x * self.gates(x).view(b, c, 1, 1)  # (B, C, H, W)


def explicit_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """SAGAN attention written out: softmax(q k^T) v, building the (N x N) matrix.

    q, k: (B, N, d); v: (B, N, C) -> (B, N, C). No 1/sqrt(d) scaling (as in SAGAN).
    Memory grows as N^2: at 84x84 px, N = 7056 and one fp32 map per image is 199 MB.
    """
    scores = torch.bmm(q, k.transpose(1, 2))  # (B, N, N): scores[b, j, i] = q_j . k_i
    # F.softmax (not torch.softmax) so calflops counts it, as it did for the original.
    attn = F.softmax(scores, dim=-1)  # (B, N, N), each row sums to 1 over positions i
    return torch.bmm(attn, v)  # (B, N, C)


def fused_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """The same result as ``explicit_attention`` without materialising the (N x N) matrix.

    q, k: (B, N, d) with d <= C; v: (B, N, C) -> (B, N, C).
    PyTorch's fused kernels need one head size for q, k and v (and contiguous features);
    otherwise it silently falls back to the explicit matrix. Zero-padding q and k to C
    features is exact: the extra zeros add nothing to any dot product q_j . k_i.
    """
    c = v.shape[-1]
    pad = c - q.shape[-1]
    q = F.pad(q, (0, pad))  # (B, N, C), last C - d features are 0
    k = F.pad(k, (0, pad))  # (B, N, C)
    # The fused kernels also need contiguous features (stride 1 on the last dim); a
    # transposed view falls back to the explicit matrix just as silently.
    q, k, v = (t.contiguous()[:, None] for t in (q, k, v))  # one head: (B, 1, N, C)
    # scale=1.0 because SAGAN does not divide the scores by sqrt(d).
    out = F.scaled_dot_product_attention(q, k, v, scale=1.0)  # (B, 1, N, C)
    return out[:, 0]  # (B, N, C)


class SelfAttention(nn.Module):
    """SAGAN self-attention (Zhang et al., ICML 2019) over all H*W positions.

    query/key: 1x1 convs to C/8 features; value: 1x1 conv to C features;
    out = gamma * attention(x) + x, with gamma initialised to 0 so the block starts as
    the identity and learns how much attention to mix in.

    ``fused=True`` (default) uses ``fused_attention`` (memory O(HW)); ``fused=False`` the
    explicit (HW x HW) matrix of the original study. Both give the same numbers.
    """

    def __init__(self, channels: int, *, fused: bool = True) -> None:
        super().__init__()
        # SAGAN projects query and key to C/8 features.
        qk_channels = max(1, channels // 8)
        self.query = nn.Conv2d(channels, qk_channels, kernel_size=1)
        self.key = nn.Conv2d(channels, qk_channels, kernel_size=1)
        self.value = nn.Conv2d(channels, channels, kernel_size=1)
        # gamma = 0 at init: the block is the identity until it learns to attend.
        self.gamma = nn.Parameter(torch.zeros(1))
        self.fused = fused

    def _queries_keys(self, x: Tensor) -> tuple[Tensor, Tensor]:
        q = self.query(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        k = self.key(x).flatten(2).transpose(1, 2)  # (B, HW, C/8)
        return q, k

    def attention_weights(self, x: Tensor) -> Tensor:
        """The explicit softmax matrix, for looking at it: (B, C, H, W) -> (B, HW, HW).

        Row j is where query position j attends (it sums to 1 over the key positions).
        Builds the (HW)^2 matrix that ``forward`` avoids: for small feature maps only.
        """
        q, k = self._queries_keys(x)
        return F.softmax(torch.bmm(q, k.transpose(1, 2)), dim=-1)  # (B, HW, HW)

    def forward(self, x: Tensor) -> Tensor:
        b, c, h, w = x.shape
        q, k = self._queries_keys(x)  # (B, HW, C/8) each
        v = self.value(x).flatten(2).transpose(1, 2)  # (B, HW, C)
        attend = fused_attention if self.fused else explicit_attention
        out = attend(q, k, v)  # (B, HW, C)
        out = out.transpose(1, 2).reshape(b, c, h, w)  # (B, C, H, W)
        # x + gamma * out in one op: the product is never stored (80 MB less peak memory for
        # a training step at 84 x 84 tokens, batch 16; measured by dynconv.bench.benchmark)
        return torch.addcmul(x, self.gamma, out)


class AttentionSE(nn.Module):
    """SelfAttention followed by an SEBlock: the original study's "layer 2".

    The original coded this pair as one ``SelfAttention`` class; it is split here so each
    block matches its own paper, and recombined under an explicit name.
    """

    def __init__(self, channels: int, *, reduction: int = 16, fused: bool = True) -> None:
        super().__init__()
        self.attention = SelfAttention(channels, fused=fused)
        self.se = SEBlock(channels, reduction)

    def forward(self, x: Tensor) -> Tensor:
        return self.se(self.attention(x))  # (B, C, H, W)


class OriginalRRDB(nn.Module):
    """The original study's "RRDB": NOT a residual-in-residual DENSE block.

    Three plain 3x3 convs C->C, each followed by ReLU (no dense concatenation, no inner
    residuals), then AttentionSE, then another SEBlock, then ``out * 0.2 + x``.
    Only the last line resembles ESRGAN. See ``RRDB`` for the real block.
    """

    def __init__(self, channels: int, *, reduction: int = 16, fused: bool = True) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1)
        self.conv3 = nn.Conv2d(channels, channels, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        self.attention = AttentionSE(channels, reduction=reduction, fused=fused)
        self.se = SEBlock(channels, reduction)

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.conv1(x))  # (B, C, H, W)
        out = self.relu(self.conv2(out))
        out = self.relu(self.conv3(out))
        out = self.se(self.attention(out))
        # Residual scale 0.2, copied from ESRGAN.
        return out * 0.2 + x


def _scaled_kaiming_(module: nn.Module, scale: float) -> None:
    """Kaiming-normal init of every conv in ``module``, multiplied by ``scale``, zero bias."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
            m.weight.data.mul_(scale)
            if m.bias is not None:
                m.bias.data.zero_()


class DenseBlock(nn.Module):
    """ESRGAN's residual dense block: five 3x3 convs with dense links.

    Conv i sees the block input concatenated with the outputs of all earlier convs
    (growth ``growth`` channels each); conv 5 maps back to C channels. LeakyReLU(0.2)
    after convs 1-4, none after conv 5, and ``out * 0.2 + x``.
    """

    def __init__(self, channels: int = 64, growth: int = 32) -> None:
        super().__init__()
        c, g = channels, growth
        self.conv1 = nn.Conv2d(c, g, 3, padding=1)
        self.conv2 = nn.Conv2d(c + g, g, 3, padding=1)
        self.conv3 = nn.Conv2d(c + 2 * g, g, 3, padding=1)
        self.conv4 = nn.Conv2d(c + 3 * g, g, 3, padding=1)
        self.conv5 = nn.Conv2d(c + 4 * g, c, 3, padding=1)
        # LeakyReLU slope 0.2, as in ESRGAN.
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        # ESRGAN initialises with Kaiming * 0.1 so the residual branches start small.
        _scaled_kaiming_(self, 0.1)

    def forward(self, x: Tensor) -> Tensor:
        x1 = self.lrelu(self.conv1(x))  # (B, G, H, W)
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))  # (B, G, H, W)
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))  # (B, C, H, W)
        # Residual scale 0.2 (ESRGAN).
        return x5 * 0.2 + x


class RRDB(nn.Module):
    """ESRGAN's residual-in-residual dense block: three DenseBlocks and an outer residual."""

    def __init__(self, channels: int = 64, growth: int = 32) -> None:
        super().__init__()
        self.rdb1 = DenseBlock(channels, growth)
        self.rdb2 = DenseBlock(channels, growth)
        self.rdb3 = DenseBlock(channels, growth)

    def forward(self, x: Tensor) -> Tensor:
        out = self.rdb3(self.rdb2(self.rdb1(x)))  # (B, C, H, W)
        # Residual scale 0.2 around the whole block (ESRGAN).
        return out * 0.2 + x
