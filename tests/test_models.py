"""Models: every model x every subset, gradients, parameter counts, the zoo (the stems' own
tricks are tests/test_stems.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dynconv.channels import ALL_SUBSETS, RGB, ChannelSubset, apply_subset, parse_channels
from dynconv.errors import ChannelSubsetError, ConfigError
from dynconv.models.small_net import SmallAttentionNet
from dynconv.models.zoo import (
    MODEL_NAMES,
    build_model,
    model_options,
    resnet18,
    resnet18_v1,
    resnet18_v4,
)
from dynconv.stems.v2 import SubsetSizeKernelStem

NUM_CLASSES = 5
RG, GB, R = parse_channels("RG"), parse_channels("GB"), parse_channels("R")

_CACHE: dict[str, nn.Module] = {}


def cached_model(name: str) -> nn.Module:
    """One model per name for the forward-only tests (building ResNets takes time)."""
    if name not in _CACHE:
        torch.manual_seed(0)
        _CACHE[name] = build_model(name, num_classes=NUM_CLASSES).eval()
    return _CACHE[name]


def model_input(model: nn.Module, subset: ChannelSubset, size=(32, 32), batch: int = 2):
    x = torch.randn(batch, 3, *size)  # (B, 3, H, W)
    return apply_subset(x, subset, model.input_mode)


def subsets_for(name: str) -> tuple[ChannelSubset, ...]:
    return (RGB,) if name == "v1" else ALL_SUBSETS  # v1 runs on its one fixed subset


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_forward_every_subset(name):
    torch.manual_seed(0)
    model = cached_model(name)
    for subset in subsets_for(name):
        with torch.no_grad():
            out = model(model_input(model, subset), subset)
        assert out.shape == (2, NUM_CLASSES), (name, subset.name)
        assert torch.isfinite(out).all(), (name, subset.name)


@pytest.mark.parametrize(
    ("name", "size"),
    [(n, (40, 56)) for n in MODEL_NAMES]
    + [("resnet18", (100, 100)), ("v2", (100, 100)), ("small_k7s2", (100, 100))]
    + [("v3", (84, 84)), ("small_k7s2", (84, 84))],
)
def test_forward_other_sizes(name, size):
    torch.manual_seed(0)
    model = cached_model(name)
    subset = RGB if name == "v1" else GB
    with torch.no_grad():
        out = model(model_input(model, subset, size=size, batch=1), subset)
    assert out.shape == (1, NUM_CLASSES)
    assert torch.isfinite(out).all()


def test_v1_other_fixed_subset_and_wrong_subset():
    torch.manual_seed(0)
    model = resnet18_v1(num_classes=NUM_CLASSES, channels="GB").eval()
    assert model.fixed_channels == GB and cached_model("v2").fixed_channels is None
    out = model(torch.randn(2, 2, 32, 32), GB)
    assert out.shape == (2, NUM_CLASSES)
    with pytest.raises(ConfigError, match="built for channels GB"):
        model(torch.randn(2, 2, 32, 32), RG)


def test_input_checks_are_clear():
    plain = cached_model("resnet18")
    with pytest.raises(ChannelSubsetError, match="zero"):
        plain(torch.randn(1, 2, 32, 32), RG)  # plain nets want zero-filled 3 channels
    dynamic = cached_model("v2")
    with pytest.raises(ChannelSubsetError, match="2 channel"):
        dynamic(torch.randn(1, 3, 32, 32), RG)
    with pytest.raises(ChannelSubsetError):
        dynamic(torch.randn(1, 2, 32, 32))  # channels=None means RGB
    assert isinstance(ChannelSubsetError("x"), ValueError)


def _set_gammas(model: nn.Module, value: float) -> None:
    """SAGAN's gamma starts at 0, which zeroes q/k/v gradients; open it for the test."""
    for name, p in model.named_parameters():
        if name.endswith("gamma"):
            p.data.fill_(value)


def _assert_all_grads(model: nn.Module, skip: tuple[str, ...] = ()) -> None:
    for name, p in model.named_parameters():
        if p.requires_grad and not name.startswith(skip):
            assert p.grad is not None, f"no gradient reached {name}"
            assert torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f"zero gradient at {name}"


# The subset sizes each model is trained on in the gradient test.
# (v5_switchable: each subset has its own BatchNorm, reached only by that subset's batches)
_GRAD_SUBSETS = {"v2": (RGB, RG, R), "v4": (RGB, RG, R), "v5_switchable": ALL_SUBSETS}
# Builder arguments for the gradient test: no random dropping, so every subset above is seen.
_GRAD_KWARGS = {"v4": {"drop_prob": 0.0}, "v5_switchable": {"sampling": "none"}}


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_gradients_reach_every_parameter(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=NUM_CLASSES, **_GRAD_KWARGS.get(name, {})).train()
    _set_gammas(model, 0.5)
    target = torch.tensor([0, 3])
    loss = 0.0
    for subset in _GRAD_SUBSETS.get(name, (RGB,)):
        loss = loss + F.cross_entropy(model(model_input(model, subset), subset), target)
    loss.backward()
    _assert_all_grads(model)


def test_gradients_dense_rrdb():
    torch.manual_seed(0)
    model = SmallAttentionNet(NUM_CLASSES, stem="k7s2", rrdb="dense").train()
    _set_gammas(model, 0.5)
    F.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.tensor([1, 2])).backward()
    _assert_all_grads(model)


def _generator_usage(stem: SubsetSizeKernelStem) -> list[int]:
    """Record the size of every generator call (forward hooks)."""
    used: list[int] = []
    for key, gen in stem.generators.items():
        gen.register_forward_hook(lambda *_, n=int(key): used.append(n))
    return used


@pytest.mark.parametrize("drop_mode", ["batch", "sample"])
def test_v4_gradients_with_drop_prob_one(drop_mode):
    """With drop_prob=1 every batch is a random subset: the backbone and exactly the
    generators that were used get gradients."""
    torch.manual_seed(0)
    model = resnet18_v4(num_classes=NUM_CLASSES, drop_prob=1.0, drop_mode=drop_mode).train()
    used = _generator_usage(model.conv1)
    loss = 0.0
    for _ in range(3):
        loss = loss + F.cross_entropy(model(torch.randn(4, 3, 32, 32), RGB), torch.arange(4))
    loss.backward()
    _assert_all_grads(model, skip=("conv1.generators",))
    for key, gen in model.conv1.generators.items():
        has_grad = all(p.grad is not None for p in gen.parameters())
        assert has_grad == (int(key) in used), (key, used)


def test_v1_maxpool_option():
    assert isinstance(resnet18_v1(num_classes=3).maxpool, nn.MaxPool2d)
    model = resnet18_v1(num_classes=3, keep_maxpool=False).eval()
    assert isinstance(model.maxpool, nn.Identity)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 3)


def test_stems_of_plain_resnet():
    original = resnet18(num_classes=3)
    assert (original.conv1.kernel_size, original.conv1.stride) == ((3, 3), (1, 1))
    tv = resnet18(num_classes=3, stem="torchvision")
    assert (tv.conv1.kernel_size, tv.conv1.stride) == ((7, 7), (2, 2))
    with pytest.raises(ConfigError, match="original, torchvision"):
        resnet18(num_classes=3, stem="7x7")


def test_parameter_counts_match_the_original_report():
    """Pinned: with 50 classes the counts equal the report's (to its 4 printed digits)."""
    expected = {
        "resnet18": 11_194_482,  # report 11.1945 M
        "v1": 11_199_666,  # 11.1997 M
        "v2": 11_204_274,  # 11.2043 M
        "v4": 11_204_274,  # 11.2043 M
        "resnet34": 21_302_642,  # 21.3026 M
        "small_k3s1": 205_204,  # 205.204 K
        "small_k7s2": 212_884,  # 212.884 K
    }
    for name, count in expected.items():
        model = build_model(name, num_classes=50)
        assert sum(p.numel() for p in model.parameters()) == count, name


def test_small_net_honest_layer_count():
    def weight_layers(model):
        return sum(isinstance(m, nn.Conv2d | nn.Linear) for m in model.modules())

    assert weight_layers(SmallAttentionNet(5)) == 18
    assert weight_layers(SmallAttentionNet(5, rrdb="dense")) == 23


def test_zoo_errors():
    with pytest.raises(ConfigError, match="resnet18, resnet34, v1"):
        build_model("resnet50", num_classes=5)
    with pytest.raises(ConfigError, match="drop_prob, drop_mode"):
        build_model("v4", num_classes=5, drop_rate=0.5)
    with pytest.raises(ConfigError, match="rrdb, width"):
        build_model("small_k3s1", num_classes=5, stem="k7s2")
    assert model_options("v1") == ("channels", "keep_maxpool")
    assert cached_model("v4").input_mode == "drop" and cached_model("resnet18").input_mode == "zero"


def test_inspect_first_block_reports_what_the_network_computes():
    from dynconv.models.small_net import inspect_first_block, small_attention_net

    torch.manual_seed(0)
    net = small_attention_net(num_classes=5, stem="k7s2")
    net.attention.attention.gamma.data.fill_(0.25)
    net.train()
    x = torch.randn(3, 3, 16, 16)
    seen = inspect_first_block(net, x)
    assert net.training  # the mode is restored
    assert tuple(seen["size"].tolist()) == (8, 8)  # k7s2 halves the side
    assert seen["attention"].shape == (3, 64, 64) and seen["gates"].shape == (3, 64)
    assert float(seen["gamma"]) == 0.25
    net.eval()
    with torch.no_grad():  # the same gates as the block's own forward pass
        features = net.stem_features(x)
        expected = net.attention.se.gates(net.attention.attention(features))
    torch.testing.assert_close(seen["gates"], expected)


def test_compact_net_halves_the_map_twice_and_its_ablation_removes_only_attention():
    from dynconv.book.tables import count_weight_layers
    from dynconv.models.blocks import AttentionSE

    torch.manual_seed(0)
    model = build_model("compact", num_classes=NUM_CLASSES).eval()
    shapes: dict[str, tuple[int, ...]] = {}

    def record(name):
        def hook(_module, _inputs, out):
            shapes[name] = tuple(out.shape)  # returns None: the output is left as it is
        return hook

    for name in ("conv1", "conv2", "attention", "conv3", "conv4"):
        getattr(model, name).register_forward_hook(record(name))
    model(torch.randn(2, 3, 16, 16))
    assert shapes == {"conv1": (2, 64, 16, 16), "conv2": (2, 128, 16, 16),  # pooled after
                      "attention": (2, 128, 8, 8), "conv3": (2, 256, 8, 8),
                      "conv4": (2, 256, 4, 4)}
    assert count_weight_layers(model) == 10  # 4 convs, q k v, the SE pair, the classifier
    plain = build_model("compact", num_classes=NUM_CLASSES, attention=False)
    removed = sum(p.numel() for p in model.parameters()) - sum(
        p.numel() for p in plain.parameters())
    assert removed == sum(p.numel() for p in AttentionSE(128).parameters())
    with pytest.raises(ConfigError, match="width >= 8"):
        build_model("compact", num_classes=NUM_CLASSES, width=4)
