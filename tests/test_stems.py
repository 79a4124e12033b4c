"""Stems: the first layers' tricks checked against plain versions, their sampling rules, v3's
routing and annealing, and the original v3's bugs reproduced (one layer at a time, 8-32 px)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dynconv.channels import ALL_SUBSETS, RGB, parse_channels
from dynconv.errors import ConfigError
from dynconv.models.resnet import DynamicStemResNet
from dynconv.models.zoo import build_model
from dynconv.stems.original_v3 import (
    OriginalV3DynamicConv,
    identity_kernel_slices,
    original_hidden_width,
    original_kernel_slices,
    softmax_entropy_at_temperature,
)
from dynconv.stems.sampling import ChannelSampler, sample_subset
from dynconv.stems.v1 import PerSampleKernelStem
from dynconv.stems.v2 import SubsetSizeKernelStem
from dynconv.stems.v3 import DynamicConvStem
from dynconv.stems.v4 import IdentityKernelStem, v4_sampling

NUM_CLASSES = 5
RG, GB, R = parse_channels("RG"), parse_channels("GB"), parse_channels("R")


@pytest.mark.parametrize(
    "stem",
    [PerSampleKernelStem(RGB), PerSampleKernelStem(GB), SubsetSizeKernelStem(), DynamicConvStem(),
     IdentityKernelStem()],
    ids=["v1-RGB", "v1-GB", "v2", "v3", "v4-identity"],
)
def test_grouped_conv_equals_loop(stem):
    torch.manual_seed(0)
    subsets = (stem.channels,) if isinstance(stem, PerSampleKernelStem) else ALL_SUBSETS
    for subset in subsets:
        x = torch.randn(3, subset.size, 11, 9)  # odd, non-square on purpose
        fast = stem(x, subset)
        slow = stem.reference_forward(x, subset)
        assert fast.shape == (3, 64, 11, 9)
        torch.testing.assert_close(fast, slow, atol=1e-5, rtol=1e-5)


def test_generator_of_the_right_size_is_used():
    torch.manual_seed(0)
    stem = SubsetSizeKernelStem()
    for subset in (RGB, RG, GB, R, parse_channels("B")):
        stem.zero_grad(set_to_none=True)
        stem(torch.randn(2, subset.size, 8, 8), subset).sum().backward()
        for key, gen in stem.generators.items():
            got = all(p.grad is not None for p in gen.parameters())
            assert got == (key == str(subset.size)), (subset.name, key)


# ---- v4: v2's stem inside a model whose sampler follows v4's rule ----------------------------
def _draws_seen(monkeypatch) -> list[list[str]]:
    """The list that fills, step by step, with the subsets a model's sampler hands its stem."""
    seen: list[list[str]] = []
    run_drop = ChannelSampler.run_drop

    def recording(x, present, draws, fn):
        seen.append([d.name for d in draws])
        return run_drop(x, present, draws, fn)

    monkeypatch.setattr(ChannelSampler, "run_drop", staticmethod(recording))
    return seen


# The draws the v4 stem (ChannelDropStem, which sampled inside the stem) made before v4 moved to
# the model-level sampler: torch.manual_seed(0), then per step a batch torch.rand(4, n, 8, 8)
# and a training forward. The move keeps every draw, so the v4 records keep their meaning.
PINNED_V4_DRAWS = {
    ("batch", "RGB"): ["RGB", "RGB", "RGB", "RGB", "RGB", "RG", "RGB", "G"],
    ("sample", "RGB"): ["RGB RGB RGB RGB", "RGB G R RGB", "RGB RGB RGB RGB", "RGB GB RGB GB"],
    ("sample", "RB"): ["RB RB RB B", "B B RB RB", "R RB B RB", "RB RB B RB"],
}


@pytest.mark.parametrize(("drop_mode", "present"), list(PINNED_V4_DRAWS))
def test_v4_draws_are_pinned_to_the_stems_before_the_move(drop_mode, present, monkeypatch):
    model = build_model("v4", num_classes=NUM_CLASSES, drop_mode=drop_mode).train()
    seen = _draws_seen(monkeypatch)
    subset = parse_channels(present)
    torch.manual_seed(0)
    for _ in PINNED_V4_DRAWS[drop_mode, present]:
        model(torch.rand(4, subset.size, 8, 8), subset)
    got = [" ".join(d) if drop_mode == "sample" else d[0] for d in seen]
    assert got == PINNED_V4_DRAWS[drop_mode, present]
    if drop_mode == "batch":
        assert all(len(set(d)) == 1 for d in seen)  # one draw for the whole batch


def test_v4_without_dropping_trains_as_v2(monkeypatch):
    torch.manual_seed(0)
    model = build_model("v4", num_classes=NUM_CLASSES, drop_prob=0.0)
    assert not model.sampler.active
    seen = _draws_seen(monkeypatch)
    model.train()(torch.randn(2, 3, 8, 8), RGB)
    assert seen == []  # the stem ran on what it was given
    assert type(model.conv1) is SubsetSizeKernelStem


def test_v4_sample_mode_puts_outputs_back_in_order():
    stem = SubsetSizeKernelStem()
    sampler = ChannelSampler(v4_sampling("sample"), drop_prob=1.0)
    x = torch.randn(6, 3, 8, 8)
    torch.manual_seed(3)
    draws = sampler.draws(RGB, 6)
    assert len(set(draws)) > 1, "seed should give several different subsets"
    out = ChannelSampler.run_drop(x, RGB, draws, stem)
    for i, kept in enumerate(draws):
        xi = x[i : i + 1, list(kept.indices)]  # (1, k, H, W)
        torch.testing.assert_close(out[i : i + 1], stem(xi, kept), atol=1e-5, rtol=1e-5)


def test_v4_options_are_checked():
    with pytest.raises(ConfigError, match="batch, sample"):
        build_model("v4", num_classes=NUM_CLASSES, drop_mode="channel")
    with pytest.raises(ConfigError, match="drop_prob"):
        build_model("v4", num_classes=NUM_CLASSES, drop_prob=1.5)


def test_v4_draw_frequencies_match_the_rule():
    shares = ChannelSampler("v4").draw_frequencies(RGB, draws=9_000)
    assert list(shares)[0] == "RGB" and abs(shares["RGB"] - 2 / 3) < 0.02
    assert all(abs(shares[s.name] - 1 / 18) < 0.012 for s in ALL_SUBSETS if s != RGB)
    state = torch.random.get_rng_state()
    ChannelSampler("hierarchical").draw_frequencies(RGB, draws=10)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global RNG is restored


def test_hierarchical_sampling():
    torch.manual_seed(0)
    draws = [sample_subset(RGB) for _ in range(3000)]
    sizes = torch.tensor([d.size for d in draws])
    for k in (1, 2, 3):
        assert abs((sizes == k).float().mean().item() - 1 / 3) < 0.04  # k ~ U{1, 2, 3}
    assert set(draws) == set(ALL_SUBSETS)
    assert {sample_subset(GB) for _ in range(200)} == {GB, parse_channels("G"), parse_channels("B")}


def test_v3_routing_is_trained():
    """Regression test for the original's bug: its attention was rebuilt every call."""
    torch.manual_seed(0)
    model = build_model("v3", num_classes=NUM_CLASSES).train()
    attention = model.conv1.attention
    names = {n for n, _ in model.named_parameters()}
    assert {"conv1.attention.fc1.weight", "conv1.attention.fc2.weight", "conv1.bank"} <= names
    before = {n: p.detach().clone() for n, p in attention.named_parameters()}
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = F.cross_entropy(model(torch.randn(2, 3, 32, 32), RGB), torch.tensor([0, 1]))
    loss.backward()
    optimizer.step()
    for name, p in attention.named_parameters():
        assert not torch.equal(p, before[name]), f"routing parameter {name} did not change"
    x = torch.randn(2, 3, 16, 16)
    model.eval()
    torch.testing.assert_close(model(x, RGB), model(x, RGB))  # deterministic


def test_v3_temperature_annealing():
    model = build_model("v3", num_classes=NUM_CLASSES)
    attention = model.conv1.attention
    assert attention.temperature == 30.0
    seen = []
    for epoch in range(13):
        for module in model.modules():  # what fit does at every epoch start
            if callable(getattr(module, "set_epoch", None)):
                module.set_epoch(epoch)
        seen.append(attention.temperature)
    assert seen[0] == 30.0 and seen[5] == pytest.approx(15.5) and seen[10] == 1.0
    assert seen[12] == 1.0
    assert all(a > b for a, b in zip(seen[:10], seen[1:11], strict=True))  # linear, falling
    assert float(model.state_dict()["conv1.attention._temperature"]) == 1.0  # checkpointed
    model.conv1.set_epoch(0)  # the stem forwards set_epoch to its routing module
    assert attention.temperature == 30.0
    weights = attention(torch.randn(4, 2, 8, 8), GB)
    assert weights.shape == (4, 4)
    torch.testing.assert_close(weights.sum(1), torch.ones(4))


def test_v3_slices_kernels_by_channel_identity():
    torch.manual_seed(0)
    stem = DynamicConvStem()
    stem(torch.randn(2, 2, 8, 8), GB).sum().backward()
    per_slice = stem.bank.grad.abs().sum(dim=(0, 1, 3, 4))  # (3,): one value per input slice
    assert per_slice[0] == 0 and per_slice[1] > 0 and per_slice[2] > 0
    assert identity_kernel_slices(GB) == (1, 2)


def test_original_v3_bugs_are_reproduced():
    torch.manual_seed(0)
    layer = OriginalV3DynamicConv()
    x = torch.randn(2, 2, 8, 8)
    first, second = layer(x, GB), layer(x, GB)
    assert first.shape == (2, 64, 8, 8)
    assert not torch.allclose(first, second)  # fresh random attention on every call
    assert [n for n, _ in layer.named_parameters()] == ["bank"]  # nothing else persists
    assert original_hidden_width() == 1
    layer.zero_grad()
    layer(x, GB).sum().backward()
    per_slice = layer.bank.grad.abs().sum(dim=(0, 1, 3, 4))
    assert per_slice[2] == 0 and per_slice[0] > 0  # GB used the R and G slices
    assert original_kernel_slices(GB) == (0, 1)
    entropy = softmax_entropy_at_temperature(torch.randn(1000, 4), 34.0)
    assert entropy.min() > 0.99  # near uniform at T = 34
    assert softmax_entropy_at_temperature(torch.randn(1000, 4) * 5, 1.0).mean() < 0.8
    model = DynamicStemResNet(OriginalV3DynamicConv(), num_classes=NUM_CLASSES).eval()
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, NUM_CLASSES)


