"""Switchable BatchNorm (dynconv.models.switchable): one BatchNorm per channel subset."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dynconv.channels import RGB, SUBSET_NAMES, apply_subset, parse_channels
from dynconv.errors import ConfigError
from dynconv.models.switchable import SwitchableBatchNorm2d, SwitchableBNResNet
from dynconv.models.zoo import build_model, resnet18_v5
from dynconv.stems.v5 import ChannelEmbeddingStem

R, GB = parse_channels("R"), parse_channels("GB")


def test_a_switchable_norm_is_the_plain_norm_of_its_active_subset():
    torch.manual_seed(0)
    switchable = SwitchableBatchNorm2d(4).train()
    x = torch.randn(8, 4, 5, 5) * 3 + 1  # (B, C, H, W)
    switchable.active = "GB"
    plain = nn.BatchNorm2d(4).train()
    torch.testing.assert_close(switchable(x), plain(x))
    # only GB's statistics moved
    torch.testing.assert_close(switchable.norms["GB"].running_mean, plain.running_mean)
    untouched = [n for n in SUBSET_NAMES if n != "GB"]
    for name in untouched:
        assert int(switchable.norms[name].num_batches_tracked) == 0
        assert torch.equal(switchable.norms[name].running_mean, torch.zeros(4))


def test_every_norm_after_the_first_layer_is_switchable_and_starts_like_the_plain_one():
    torch.manual_seed(0)
    model = build_model("v5_switchable", num_classes=5)
    plain = [m for m in model.modules() if type(m) is nn.BatchNorm2d
             and not any(m is n for s in model.switchable for n in s.norms.values())]
    assert plain == []  # v5's first layer has no BatchNorm of its own: nothing left plain
    assert len(model.switchable) == 1 + 2 * 8 + 3  # bn1, two per basic block, 3 downsamples
    extra = sum(p.numel() for p in model.parameters()) - sum(
        p.numel() for p in resnet18_v5(num_classes=5).parameters())
    per_subset = sum(n.norms["RGB"].weight.numel() * 2 for n in model.switchable)
    assert extra == per_subset * (len(SUBSET_NAMES) - 1)  # six more copies of every BatchNorm


def test_the_model_switches_to_the_subset_it_is_given():
    torch.manual_seed(0)
    model = build_model("v5_switchable", num_classes=5).eval()
    x = torch.randn(2, 3, 16, 16)
    model(apply_subset(x, R, "drop"), R)
    assert {n.active for n in model.switchable} == {"R"}
    # another subset's statistics change R's output, not GB's
    before_r = model(apply_subset(x, R, "drop"), R)
    before_gb = model(apply_subset(x, GB, "drop"), GB)
    for norm in model.switchable:
        norm.norms["GB"].running_mean.add_(0.5)
    torch.testing.assert_close(model(apply_subset(x, R, "drop"), R), before_r)
    assert not torch.allclose(model(apply_subset(x, GB, "drop"), GB), before_gb)


def test_training_draws_one_subset_per_batch_and_updates_only_its_statistics():
    torch.manual_seed(3)
    model = build_model("v5_switchable", num_classes=5).train()
    model(torch.randn(4, 3, 16, 16), RGB)
    (drawn,) = {n.active for n in model.switchable}
    counts = {name: int(model.bn1.norms[name].num_batches_tracked) for name in SUBSET_NAMES}
    assert counts == {name: int(name == drawn) for name in SUBSET_NAMES}


def test_a_per_image_sampling_is_refused():
    with pytest.raises(ConfigError, match="one subset per batch"):
        SwitchableBNResNet(ChannelEmbeddingStem(), num_classes=5, sampling="hierarchical")
