"""v5 trained to keep its channels apart: DiChaViT's two diversity losses on v5's first layer.

Chapter: ``10_part3`` (what each idea is worth).

DiChaViT (Pham & Plummer, "Enhancing Feature Diversity Boosts Channel-Adaptive Vision
Transformers", NeurIPS 2024, https://arxiv.org/abs/2405.16419) observes that a network fed every
channel through one shared projection learns the same features from every channel, and adds two
losses to the classification loss so that each channel brings something of its own:

* **Token Diversification Loss** (TDL): inside one image, the tokens (feature vectors) a
  channel produces at different positions should be alike, and tokens of two different
  channels orthogonal::

      TDL = gamma_s * (1 - mean cos(same channel, two positions))
            + gamma_d * mean cos(two channels, any positions)

  (cosine similarity of the tokens; DiChaViT's defaults gamma_s = 1, gamma_d = 0.5).
* **Channel Diversification Loss** (CDL): each channel's learned embedding must be
  recognisable as its own channel: a learned proxy per channel, and a cross-entropy over the
  channels whose logits are minus the squared distances between the L2-normalised embedding
  and the proxies, both scaled by sqrt(1 / 0.11) (temperature 0.11; the authors' code
  defaults to 1/9).

Here the tokens are v5's per-channel maps ``u_c = ReLU(scale[c] * (W * x_c) + shift[c])``
(:meth:`dynconv.stems.v5.ChannelEmbeddingStem.channel_maps`): a 64-vector per pixel and channel,
the maps v5 averages over the present channels. That is why the losses may matter more to v5
than to a ViT: a mean keeps which channel said what only if the channels answer with different
features. Channel c's embedding is its FiLM, ``scale[c]`` and ``shift[c]`` joined (128 values).

How it differs from DiChaViT: the tokens are the first layer's pixel features after each
channel's embedding and ReLU (DiChaViT's are patch tokens before the channel embedding is
added, fed to a transformer); they are taken on every channel of the image, not only the
channels the sampler kept; DiChaViT's third part, diverse channel sampling, is left out (with
three channels a "diverse" draw can differ little from hierarchical sampling, which v5 keeps);
and no weight was tuned: both losses enter with weight 1 (chapter 10 reports this first
setting). The proxies (3 x 128 values) are unused at test time, where the model is v5.

The loss reaches the training loop's one ``backward()`` through
:class:`dynconv.models.auxiliary.AddAuxiliaryLoss`, as the other second losses do.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynconv.channels import CHANNEL_NAMES, ChannelSubset
from dynconv.errors import ConfigError
from dynconv.models.auxiliary import AddAuxiliaryLoss
from dynconv.models.resnet import DynamicStemResNet
from dynconv.stems.common import check_input
from dynconv.stems.v5 import ChannelEmbeddingStem

__all__ = ["DiverseChannelResNet", "channel_diversification_loss", "token_diversification_loss"]

# DiChaViT's defaults: the weight of "alike within a channel" and of "apart across channels"
SAME_CHANNEL_WEIGHT = 1.0
OTHER_CHANNEL_WEIGHT = 0.5
# The proxies' temperature (DiChaViT's code defaults to 1/9); both sides are scaled by 1/sqrt(t)
PROXY_TEMPERATURE = 0.11


def token_diversification_loss(tokens: Tensor, *, same_weight: float = SAME_CHANNEL_WEIGHT,
                               other_weight: float = OTHER_CHANNEL_WEIGHT) -> Tensor:
    """TDL of ``tokens`` (B, n, P, D): n channels, P positions, D features; mean over B.

    The plain computation compares every pair of the n*P tokens of an image (a (nP, nP)
    matrix of cosines, 590,000 entries per image at 16 px). The trick: for unit vectors, the
    sum of the dot products over a set of pairs is a dot product of sums,
    ``sum_{p,q} <z_p, z'_q> = <sum_p z_p, sum_q z'_q>``, so both means need only each
    channel's sum S_c of its unit tokens:

    * same channel, p != q: ``(|S_c|^2 - sum_p |z_cp|^2) / (P (P - 1))``, averaged over c;
    * two channels c != d: ``(|sum_c S_c|^2 - sum_c |S_c|^2) / (n (n - 1) P^2)``.

    (``|z|^2`` is 1, or 0 for a token whose every feature is 0, which ``F.normalize`` leaves
    at 0, as the plain version does.) :func:`tests.test_diverse` checks it against the matrix.
    """
    b, n, p, _ = tokens.shape
    if n < 2 or p < 2:
        raise ConfigError(f"token diversification needs >= 2 channels and >= 2 positions, got "
                          f"{n} channels and {p} positions")
    unit = F.normalize(tokens.float(), dim=-1)  # (B, n, P, D)
    sums = unit.sum(dim=2)  # (B, n, D): S_c
    norms = unit.pow(2).sum(dim=(2, 3))  # (B, n): sum_p |z_cp|^2
    same = ((sums.pow(2).sum(-1) - norms) / (p * (p - 1))).mean(dim=1)  # (B,)
    total = sums.sum(dim=1).pow(2).sum(-1)  # (B,): |sum_c S_c|^2
    other = (total - sums.pow(2).sum(dim=(1, 2))) / (n * (n - 1) * p * p)  # (B,)
    return (same_weight * (1.0 - same) + other_weight * other).mean()


def channel_diversification_loss(embeddings: Tensor, proxies: Tensor, *,
                                 temperature: float = PROXY_TEMPERATURE) -> Tensor:
    """CDL: cross-entropy of each channel's embedding (n, E) over the n proxies (n, E),
    channel i's own proxy being row i; logits = -|a e_i - a p_k|^2 on unit vectors,
    a = 1 / sqrt(temperature)."""
    scale = 1.0 / math.sqrt(temperature)
    e = scale * F.normalize(embeddings.float(), dim=-1)  # (n, E)
    q = scale * F.normalize(proxies.float(), dim=-1)  # (n, E)
    logits = -torch.cdist(e, q).pow(2)  # (n, n)
    return F.cross_entropy(logits, torch.arange(len(e), device=e.device))


class DiverseChannelResNet(DynamicStemResNet):
    """v5's ResNet18 trained with DiChaViT's two losses, ``weight`` times each. Outside
    training it is the plain network (the proxies are not used)."""

    def __init__(self, stem: ChannelEmbeddingStem, *, num_classes: int, weight: float = 1.0,
                 sampling: str = "hierarchical") -> None:
        if not isinstance(stem, ChannelEmbeddingStem) or not stem.identity:
            raise ConfigError("DiChaViT's losses need v5's stem with its channel embedding "
                              "(ChannelEmbeddingStem(identity=True)).")
        if stem.missing != "drop":
            raise ConfigError("DiChaViT's losses need the absent channels dropped, not "
                              f"zero-filled (missing={stem.missing!r}).")
        if not weight >= 0.0:
            raise ConfigError(f"The diversity losses' weight must be >= 0, got {weight}.")
        super().__init__(stem, num_classes=num_classes, sampling=sampling)
        self.weight = weight
        # one learned proxy per channel, after the network's own initial weights (the same
        # draws as v5's for the same seed); DiChaViT draws them as randn / 8
        embedding_size = 2 * stem.out_channels  # scale[c] and shift[c]
        self.proxies = nn.Parameter(torch.randn(len(CHANNEL_NAMES), embedding_size) / 8)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        logits = super().forward(x, channels)  # (B, K), with the sampler's draws in training
        if not (self.training and torch.is_grad_enabled()):
            return logits
        return AddAuxiliaryLoss.apply(logits, self.weight * self.diversity_loss(x, channels))

    def diversity_loss(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        """TDL + CDL on ``x`` (B, n, H, W) holding ``channels`` (all of them, whatever the
        sampler keeps); 0 when x holds a single channel (nothing to keep apart)."""
        subset = check_input(x, channels, input_mode="drop")
        if subset.size < 2:
            return x.new_zeros(())
        maps = self.conv1.channel_maps(x, subset)  # (B, n, 64, H, W)
        tokens = maps.flatten(3).transpose(2, 3)  # (B, n, H*W, 64)
        index = torch.tensor(subset.indices, device=x.device)
        embeddings = torch.cat([self.conv1.scale, self.conv1.shift], dim=1)  # (3, 128)
        cdl = channel_diversification_loss(embeddings.index_select(0, index),
                                           self.proxies.index_select(0, index))
        return token_diversification_loss(tokens) + cdl
