"""Switchable BatchNorm: one set of BatchNorm statistics and affine weights per channel subset.

Chapter: ``10_part3``.

Paper: Yu, Yang, Xu, Yang, Huang, "Slimmable Neural Networks", ICLR 2019,
https://arxiv.org/abs/1812.08928. A slimmable network shares its convolutions across widths
and keeps one BatchNorm per width, because the statistics of a feature change with the width
that produced it; with one shared BatchNorm the running statistics are those of no width at
all. Here the "widths" are the 7 channel subsets: what follows v5's first layer on R alone is
not distributed like what follows it on RGB.

How this differs from the paper and from v5:

* every ``BatchNorm2d`` of the ResNet18 body (``bn1`` after the first layer, both of every
  basic block, and every downsample's) becomes a :class:`SwitchableBatchNorm2d` with one
  ``BatchNorm2d`` per subset; convolutions and the classifier stay shared (the paper also
  keeps one classifier);
* the subset is drawn once per BATCH in training (``"hierarchical-batch"``: ChannelViT's
  hierarchical draw, :mod:`dynconv.stems.sampling`), so every BatchNorm normalises a batch of
  one subset with that subset's statistics, in training and at test time alike. v5 draws per
  image instead, so that its one BatchNorm sees the mixture in both (the sampling module
  measures why); this model needs no such compromise;
* at test time the model is told the subset (as every model of the book is) and switches to
  its BatchNorm. The cost: 7 times the BatchNorm parameters (57,600 more on ResNet18, six more
  copies of its 9,600; 0.5% of its 11.2 million), no extra arithmetic.

What it gives at the ``ci`` budget (chapter 10): far less than v5 on every incomplete subset.
Each single-channel BatchNorm is updated in about a ninth of the steps, so its running
statistics lag the weights; the paper avoids that by training every configuration in every
step, which costs seven forward passes per step and is not tried here.
"""

from __future__ import annotations

from torch import Tensor, nn

from dynconv.channels import RGB, SUBSET_NAMES, ChannelSubset
from dynconv.errors import ConfigError

# resnet's private helper: every dynamic-stem ResNet's forward after its first layer (it stays
# private there because renaming it would change the key of every record of such a network)
from dynconv.models.resnet import DynamicStemResNet, _forward_after_stem
from dynconv.stems.common import check_input
from dynconv.stems.sampling import positions

__all__ = ["PER_BATCH_SAMPLINGS", "SwitchableBatchNorm2d", "SwitchableBNResNet"]

# Samplings that keep one subset per batch (a batch of mixed subsets has no one BatchNorm).
PER_BATCH_SAMPLINGS: tuple[str, ...] = ("none", "hierarchical-batch", "v4-batch")


class SwitchableBatchNorm2d(nn.Module):
    """One ``BatchNorm2d`` per channel subset; ``active`` names the one in use.

    (B, C, H, W) -> (B, C, H, W), normalised by ``norms[active]`` alone: its running
    statistics are updated only by batches of that subset.
    """

    def __init__(self, num_features: int, subsets: tuple[str, ...] = SUBSET_NAMES) -> None:
        super().__init__()
        self.norms = nn.ModuleDict({name: nn.BatchNorm2d(num_features) for name in subsets})
        self.active = RGB.name

    @classmethod
    def like(cls, norm: nn.BatchNorm2d) -> SwitchableBatchNorm2d:
        """A switchable BatchNorm for ``norm``'s features, every subset starting as ``norm``
        (torchvision zero-initialises no BatchNorm by default: all start at weight 1, bias 0)."""
        switchable = cls(norm.num_features)
        for sub in switchable.norms.values():
            sub.load_state_dict(norm.state_dict())
        return switchable

    def forward(self, x: Tensor) -> Tensor:
        return self.norms[self.active](x)


def _switch_all(module: nn.Module) -> list[SwitchableBatchNorm2d]:
    """Replace every ``BatchNorm2d`` under ``module`` by a switchable one, in place."""
    switched = []
    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            new = SwitchableBatchNorm2d.like(child)
            setattr(module, name, new)
            switched.append(new)
        else:
            switched.extend(_switch_all(child))
    return switched


class SwitchableBNResNet(DynamicStemResNet):
    """``DynamicStemResNet`` with a :class:`SwitchableBatchNorm2d` in place of every
    BatchNorm after the first layer (the first layer's own, if any, is left alone).

    Input mode "drop", as every dynamic-stem ResNet. ``sampling`` must draw one subset per
    batch (:data:`PER_BATCH_SAMPLINGS`).
    """

    def __init__(self, stem: nn.Module, *, num_classes: int,
                 sampling: str = "hierarchical-batch") -> None:
        if sampling not in PER_BATCH_SAMPLINGS:
            raise ConfigError(f"switchable BatchNorm needs one subset per batch: sampling must "
                              f"be one of {', '.join(PER_BATCH_SAMPLINGS)}, got {sampling!r}.")
        super().__init__(stem, num_classes=num_classes, sampling=sampling)
        self.bn1 = SwitchableBatchNorm2d.like(self.bn1)
        blocks = [s for layer in (self.layer1, self.layer2, self.layer3, self.layer4)
                  for s in _switch_all(layer)]
        self.switchable = [self.bn1, *blocks]  # a plain list: they are registered above

    def switch(self, subset: ChannelSubset) -> None:
        """Make every switchable BatchNorm use ``subset``'s."""
        for norm in self.switchable:
            norm.active = subset.name

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        subset = check_input(x, channels, input_mode="drop")
        if self.training and self.sampler.active:
            kept = self.sampler.draws(subset, 1)[0]  # one draw for the whole batch
            x = x if kept == subset else x[:, positions(subset, kept)]  # (B, |kept|, H, W)
            subset = kept
        self.switch(subset)
        return _forward_after_stem(self, self.conv1(x, subset))  # (B, num_classes)
