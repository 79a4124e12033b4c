"""BatchNorm statistics re-estimated for one channel subset after training (AdaBN).

Li, Wang, Shi, Liu and Hou, "Revisiting Batch Normalization For Practical Domain Adaptation"
(ICLR workshop 2017; https://arxiv.org/abs/1603.04779): a network trained on one domain is
adapted to another at no training cost by replacing every BatchNorm layer's running mean and
variance with those of the new domain's images; no weight changes. Here a "domain" is a channel
subset: a first layer for any subset (v5) feeds the same ResNet body features whose statistics
differ from subset to subset, while its BatchNorm layers hold one running average over the
subsets it was trained on. :func:`recalibrated` gives a copy of the model whose statistics are
those of the training images seen through one subset.

How this differs from the paper: the statistics are re-estimated from training images (the
paper used the target domain's unlabelled test images; here the test images stay unseen), and
the "domains" are channel subsets of the same images.

Not on any record's training path: a record's numbers are unchanged by this module, and a
chapter or a study that uses it says so.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from dynconv.channels import ChannelSubset, apply_subset, model_input_mode, parse_channels
from dynconv.data.datasets import collate_batch
from dynconv.errors import ConfigError, check_int

__all__ = ["recalibrated"]


def _batchnorms(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    return [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]


@torch.no_grad()
def recalibrated(model: nn.Module, images: Dataset, subset: ChannelSubset | str, *,
                 batch_size: int = 256, max_batches: int | None = None, seed: int = 0
                 ) -> nn.Module:
    """A copy of ``model`` whose BatchNorm running statistics are those of ``images`` seen
    through ``subset``; ``model`` is not changed. The statistics are cumulative averages of the
    batches' statistics (``momentum=None``), so with equal batches every image weighs alike.

    Only the BatchNorm layers run in training mode, so no channel sampling, dropout or
    temperature schedule of the model's own training mode acts; no parameter changes.
    ``images`` yields ``(x, y)`` with ``x`` normalised ``(3, H, W)`` (an ``ImageSplit``); they
    are read in an order shuffled with ``seed``, so that ``max_batches`` of a split stored
    class by class still sees every class.
    """
    check_int("batch_size", batch_size)
    kept = parse_channels(subset)
    net = copy.deepcopy(model)
    norms = _batchnorms(net)
    if not norms:
        raise ConfigError(f"{type(model).__name__} has no BatchNorm layer to recalibrate.")
    mode = model_input_mode(net)
    device = next(net.parameters()).device
    net.eval()
    for bn in norms:
        bn.reset_running_stats()
        bn.momentum = None  # cumulative moving average: every batch weighs the same
        bn.train()
    order = torch.Generator().manual_seed(seed)
    loader = DataLoader(images, batch_size=batch_size, shuffle=True, generator=order,
                        collate_fn=collate_batch)
    for i, (x, _) in enumerate(loader):
        if max_batches is not None and i >= max_batches:
            break
        net(apply_subset(x.to(device), kept, mode), kept)  # (B, 3 or n, H, W) in
    net.eval()
    return net
