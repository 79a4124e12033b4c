"""Channel sampling in training: which channels the first layer sees at each step.

Chapters: ``06_v4`` (v4's dropping), ``10_part3`` (every model of Part III).

A model meant to serve every channel subset must meet every subset in training. Three rules:

* ``"hierarchical"`` (Part III's rule): ChannelViT's Hierarchical Channel Sampling (Bao et
  al., ICLR 2024, https://arxiv.org/abs/2309.16108) drawn per IMAGE: a subset size k uniform
  in 1..n, then k of the n present channels uniformly. Every size is trained equally often:
  on RGB each single channel gets 1/9 of the images, each pair 1/9, RGB itself 1/3.
* ``"hierarchical-batch"``: the same draw once per BATCH, as ChannelViT does. With
  BatchNorm it trains badly here: a batch of R alone is normalised with R's statistics in
  training, but at test time every subset meets the running statistics of the MIXTURE of
  subsets. Measured in this book's first Part III runs (ci profile, built-in data): v5 gave
  94.2% and then 72.6% on RGB for two initialisations with per-batch draws, and 95.5% with
  per-image draws, its worst subset ratio to the oracles rising from 0.82 to 0.90. Drawn per
  image, every batch holds the mixture, so training and test normalise alike. Kept as
  v5's ablation (chapter 10).
* ``"v4"``: the study's own v4 rule (:mod:`dynconv.stems.v4`, ``drop_mode="sample"``), one
  draw per image: with probability ``drop_prob`` the image keeps a hierarchical draw,
  otherwise all its channels. With 0.5 on RGB, 2/3 of the images keep RGB and every other
  subset gets 1/18.
* ``"v4-batch"``: the same rule drawn once per BATCH, as the original v4 (``drop_mode="batch"``).

``ChannelSampler.draws`` makes the draws (torch's global RNG, which ``fit`` seeds per epoch);
``run_drop`` and ``zero_mask`` apply them to a model's input in its input mode
(:mod:`dynconv.channels`): a dropped-channel model runs its first layer once per distinct
drawn subset, a zero-filled one multiplies by a per-image presence mask.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from dynconv.channels import CHANNEL_NAMES, ChannelSubset
from dynconv.errors import ConfigError

__all__ = ["SAMPLINGS", "ChannelSampler", "sample_subset"]

SAMPLINGS: tuple[str, ...] = ("none", "hierarchical", "hierarchical-batch", "v4", "v4-batch")


def sample_subset(present: ChannelSubset) -> ChannelSubset:
    """Hierarchical channel sampling (as ChannelViT's HCS): k ~ U{1..n}, then k random
    channels among the n present ones. Uses torch's global RNG (``fit`` seeds it).

    Every subset SIZE is equally likely, unlike independent per-channel dropout which
    rarely keeps a single channel.
    """
    n = present.size
    k = int(torch.randint(1, n + 1, ()).item())
    chosen = torch.randperm(n)[:k].tolist()
    return ChannelSubset(tuple(sorted(present.indices[i] for i in chosen)))


def positions(present: ChannelSubset, kept: ChannelSubset) -> list[int]:
    """Positions in a dropped-channel tensor holding ``present`` of the ``kept`` channels."""
    return [present.indices.index(c) for c in kept.indices]


class ChannelSampler:
    """Draws the training subsets of one batch (see the module docstring for the rules)."""

    def __init__(self, mode: str = "none", *, drop_prob: float = 0.5) -> None:
        if mode not in SAMPLINGS:
            raise ConfigError(f"Unknown channel sampling {mode!r}; valid choices: "
                              f"{', '.join(SAMPLINGS)}.")
        if not 0.0 <= drop_prob <= 1.0:
            raise ConfigError(f"drop_prob must be between 0 and 1, got {drop_prob}.")
        self.mode = mode
        self.drop_prob = drop_prob

    def __repr__(self) -> str:
        return f"ChannelSampler({self.mode!r}, drop_prob={self.drop_prob})"

    @property
    def active(self) -> bool:
        """False when nothing is ever dropped (mode "none", or v4's rule with drop_prob 0)."""
        hierarchical = self.mode.startswith("hierarchical")
        return hierarchical or (self.mode.startswith("v4") and self.drop_prob > 0)

    def draw_one(self, present: ChannelSubset) -> ChannelSubset:
        """One v4 draw: a hierarchical draw with probability ``drop_prob``, else ``present``."""
        if torch.rand(()).item() < self.drop_prob:
            return sample_subset(present)
        return present

    def draws(self, present: ChannelSubset, batch: int) -> list[ChannelSubset]:
        """The kept subset of each of ``batch`` images (one shared draw per batch under
        "hierarchical-batch")."""
        if self.mode == "hierarchical":
            return [sample_subset(present) for _ in range(batch)]
        if self.mode == "hierarchical-batch":
            return [sample_subset(present)] * batch
        if self.mode == "v4":
            return [self.draw_one(present) for _ in range(batch)]
        if self.mode == "v4-batch":
            return [self.draw_one(present)] * batch
        return [present] * batch

    def draw_frequencies(self, present: ChannelSubset, *, draws: int = 20_000,
                         seed: int = 0) -> dict[str, float]:
        """The share of ``draws`` training draws (images, or batches under a "-batch" rule)
        that keep each subset, measured by running this sampler (torch's global RNG is saved
        and restored), largest subsets first.

        v4's rule with ``drop_prob=0.5`` on RGB: RGB about 2/3 (1/2 kept + 1/2 x 1/3 drawn
        whole), every other subset about 1/18 = 5.6% (1/2 x 1/3 for its size x 1/3 among it).
        """
        state = torch.random.get_rng_state()
        try:
            torch.manual_seed(seed)
            kept = [self.draws(present, 1)[0].name for _ in range(draws)]
        finally:
            torch.random.set_rng_state(state)
        shares = {name: kept.count(name) / draws for name in set(kept)}
        return dict(sorted(shares.items(), key=lambda item: (-len(item[0]), item[0])))

    @staticmethod
    def run_drop(x: Tensor, present: ChannelSubset, draws: Sequence[ChannelSubset],
                 fn: Callable[[Tensor, ChannelSubset], Tensor]) -> Tensor:
        """``fn(x_kept, kept)`` once per distinct drawn subset, outputs back in batch order.

        x: (B, n, H, W) holding ``present``; fn returns (b, ...) for b images.
        """
        distinct = sorted(set(draws), key=lambda s: s.indices)
        if len(distinct) == 1:  # one draw for the whole batch: no gather, no scatter
            kept = distinct[0]
            return fn(x if kept == present else x[:, positions(present, kept)], kept)
        out: Tensor | None = None
        for kept in distinct:
            rows = torch.tensor([i for i, d in enumerate(draws) if d == kept], device=x.device)
            y = fn(x[rows][:, positions(present, kept)], kept)  # (b_kept, ...)
            if out is None:
                out = y.new_empty(x.shape[0], *y.shape[1:])
            out[rows] = y
        assert out is not None
        return out

    @staticmethod
    def zero_mask(draws: Sequence[ChannelSubset], *, rescale: bool, device: torch.device,
                  dtype: torch.dtype) -> Tensor:
        """(B, 3, 1, 1) per-image multiplier: 0 for dropped channels; with ``rescale`` the kept
        ones are scaled by 3/k (as ChannelViT's zero-fill baseline), else 1."""
        mask = torch.zeros(len(draws), len(CHANNEL_NAMES), dtype=dtype)
        for row, kept in enumerate(draws):
            mask[row, list(kept.indices)] = len(CHANNEL_NAMES) / kept.size if rescale else 1.0
        return mask.to(device).view(len(draws), len(CHANNEL_NAMES), 1, 1)
