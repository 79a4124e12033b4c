"""Part III: v5, the CHAMMI stems, channel sampling, and each trick against its plain version."""

from __future__ import annotations

from collections import Counter

import pytest
import torch
import torch.nn.functional as F

from dynconv.channels import ALL_SUBSETS, RGB, apply_subset, parse_channels
from dynconv.errors import ConfigError
from dynconv.experiments.registry import (
    EXPERIMENTS,
    IDENTITY_PAIR,
    PART3,
    PUBLISHED,
    V5_ABLATION,
)
from dynconv.models.zoo import build_model, resnet18, resnet18_v5
from dynconv.stems.chammi import (
    DepthwiseStem,
    HyperNetStem,
    SliceParamStem,
    TemplateMixingStem,
    chammi_stem,
)
from dynconv.stems.sampling import ChannelSampler, sample_subset
from dynconv.stems.v4 import IdentityKernelStem
from dynconv.stems.v5 import ChannelEmbeddingStem

R, G, B, RG, GB = (parse_channels(s) for s in ("R", "G", "B", "RG", "GB"))


def images(n: int = 4, size: int = 8, seed: int = 0) -> torch.Tensor:
    return torch.randn(n, 3, size, size, generator=torch.Generator().manual_seed(seed))


# ---- each stem against the plain computation it stands for -----------------------------------
@pytest.mark.parametrize("subset", ALL_SUBSETS, ids=lambda s: s.name)
def test_sliceparam_is_a_plain_conv_on_zero_filled_input(subset):
    torch.manual_seed(0)
    stem = SliceParamStem()
    x = images()
    plain = F.conv2d(apply_subset(x, subset, "zero"), stem.weight, padding=1)
    torch.testing.assert_close(stem(apply_subset(x, subset, "drop"), subset), plain)


def test_templatemixing_kernel_is_the_weighted_sum_of_templates():
    torch.manual_seed(0)
    stem = TemplateMixingStem(templates=3)
    x = apply_subset(images(), GB, "drop")
    kernels = [sum(stem.coefficients[c, t] * stem.templates[t] for t in range(3)) for c in (1, 2)]
    weight = torch.stack(kernels, dim=1)  # (64, 2, 3, 3)
    torch.testing.assert_close(stem(x, GB), F.conv2d(x, weight, padding=1))


def test_hypernet_generates_each_channel_kernel_from_its_embedding():
    torch.manual_seed(0)
    stem = HyperNetStem()
    x = apply_subset(images(), RG, "drop")
    kernels = [stem.mlp(stem.embedding.weight[c]).view(64, 3, 3) for c in (0, 1)]
    torch.testing.assert_close(stem(x, RG), F.conv2d(x, torch.stack(kernels, 1), padding=1))


def test_depthwise_grouped_conv_equals_a_loop_over_channels():
    torch.manual_seed(0)
    stem = DepthwiseStem()
    x = apply_subset(images(), GB, "drop")
    per_channel = [F.conv2d(x[:, i:i + 1], stem.depthwise[c], padding=1)
                   for i, c in enumerate((1, 2))]
    expected = stem.pointwise(torch.stack(per_channel).mean(dim=0))
    torch.testing.assert_close(stem(x, GB), expected)


@pytest.mark.parametrize("subset", [RGB, RG, B], ids=lambda s: s.name)
def test_v5_is_the_mean_of_per_channel_maps(subset):
    torch.manual_seed(0)
    stem = ChannelEmbeddingStem()
    with torch.no_grad():  # make identities differ, as after training
        stem.scale.normal_()
        stem.shift.normal_()
    x = apply_subset(images(), subset, "drop")
    maps = []
    for i, c in enumerate(subset.indices):  # plain: one channel at a time
        response = F.conv2d(x[:, i:i + 1], stem.bank, padding=1)
        maps.append(F.relu(response * stem.scale[c].view(1, -1, 1, 1)
                           + stem.shift[c].view(1, -1, 1, 1)))
    torch.testing.assert_close(stem(x, subset), torch.stack(maps).mean(dim=0))


def test_v5_is_a_set_function_over_channels():
    """Two channels give the mean of what each gives alone: any count, any combination."""
    torch.manual_seed(0)
    stem = ChannelEmbeddingStem()
    with torch.no_grad():
        stem.shift.normal_()
    x = images()
    both = stem(apply_subset(x, RG, "drop"), RG)
    alone = (stem(x[:, :1], R) + stem(x[:, 1:2], G)) / 2
    torch.testing.assert_close(both, alone)


def test_v5_identity_embedding_tells_channels_apart_and_its_ablation_cannot():
    torch.manual_seed(0)
    x = images()[:, :1]
    with_id = ChannelEmbeddingStem()
    with torch.no_grad():
        with_id.shift.normal_()
    assert not torch.allclose(with_id(x, R), with_id(x, B))
    blind = ChannelEmbeddingStem(identity=False)
    torch.testing.assert_close(blind(x, R), blind(x, B))


def test_v5_zero_fill_ablation_averages_over_all_three_channels():
    torch.manual_seed(0)
    stem = ChannelEmbeddingStem(missing="zero")
    with torch.no_grad():
        stem.shift.normal_()
    x = images()
    filled = apply_subset(x, R, "zero")
    expected = stem.channel_maps(filled, RGB).mean(dim=1)
    torch.testing.assert_close(stem(x[:, :1], R), expected)
    assert not torch.allclose(stem(x[:, :1], R), ChannelEmbeddingStem()(x[:, :1], R))
    with pytest.raises(ConfigError, match="missing-channel mode"):
        ChannelEmbeddingStem(missing="mean")


def test_identity_kernel_stem_gives_different_kernels_to_different_channels():
    torch.manual_seed(0)
    stem = IdentityKernelStem()
    x = images()[:, :1]
    assert not torch.allclose(stem.kernels(x, R), stem.kernels(x, B))
    assert stem(x, R).shape == (4, 64, 8, 8)


def test_chammi_stem_names():
    assert isinstance(chammi_stem("hypernet"), HyperNetStem)
    with pytest.raises(ConfigError, match="valid choices: sliceparam"):
        chammi_stem("convnext")


# ---- channel sampling ------------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["hierarchical", "hierarchical-batch"])
def test_hierarchical_sampling_trains_every_size_equally_often(mode):
    torch.manual_seed(0)
    sampler = ChannelSampler(mode)
    counts = Counter(sampler.draws(RGB, 1)[0].size for _ in range(3000))
    for size in (1, 2, 3):
        assert abs(counts[size] / 3000 - 1 / 3) < 0.04
    batch = sampler.draws(RGB, 64)
    if mode == "hierarchical":  # one draw per image: a batch holds the mixture
        assert len(set(batch)) == 7
    else:  # one draw per batch
        assert len(set(batch)) == 1


def test_v4_sampling_draws_per_image_and_keeps_rgb_two_thirds_of_the_time():
    torch.manual_seed(0)
    draws = ChannelSampler("v4").draws(RGB, 6000)
    assert abs(sum(d == RGB for d in draws) / 6000 - 2 / 3) < 0.03
    assert len(set(draws)) == 7
    with pytest.raises(ConfigError, match="valid choices: none"):
        ChannelSampler("channelwise")


def test_run_drop_equals_running_each_image_alone():
    torch.manual_seed(0)
    stem = SliceParamStem()
    x = images(6)
    draws = [RGB, R, GB, R, B, RGB]
    out = ChannelSampler.run_drop(x, RGB, draws, stem)
    for i, kept in enumerate(draws):
        alone = stem(apply_subset(x[i:i + 1], kept, "drop"), kept)
        torch.testing.assert_close(out[i:i + 1], alone)


def test_zero_mask_rescales_kept_channels_by_three_over_k():
    mask = ChannelSampler.zero_mask([R, GB, RGB], rescale=True, device=torch.device("cpu"),
                                    dtype=torch.float32).view(3, 3)
    expected = torch.tensor([[3.0, 0, 0], [0, 1.5, 1.5], [1, 1, 1]])
    torch.testing.assert_close(mask, expected)


def test_control_b_rescales_in_test_as_in_training():
    torch.manual_seed(0)
    plain = resnet18(num_classes=3).eval()
    control = resnet18(num_classes=3, sampling="hierarchical", rescale=True).eval()
    control.load_state_dict(plain.state_dict())
    x = apply_subset(images(size=16), GB, "zero")
    torch.testing.assert_close(control(x, GB), plain(x * 1.5, GB))
    torch.testing.assert_close(control(images(size=16)), plain(images(size=16)))


def test_sampling_acts_in_training_only():
    torch.manual_seed(0)
    model = resnet18_v5(num_classes=3)
    seen = []
    original = model.conv1.forward
    model.conv1.forward = lambda x, channels=None: (seen.append(channels), original(x, channels))[1]
    model.train()
    for _ in range(30):
        model(images(size=16))
    assert {s.size for s in seen} == {1, 2, 3}
    seen.clear()
    model.eval()
    model(images(size=16))
    assert seen == [RGB]


def test_sample_subset_stays_inside_the_present_channels():
    torch.manual_seed(0)
    assert {sample_subset(GB) for _ in range(200)} == {GB, G, B}


# ---- the registry's Part III ------------------------------------------------------------------
def test_part3_experiments_share_the_sampling_and_the_validation():
    for name in (*PART3, *V5_ABLATION, "v4-identity"):
        spec = EXPERIMENTS[name]
        if name == "resnet18":  # control (a): the Part I control, trained on RGB
            continue
        assert spec.overrides["val_subsets"] == "all"
        model = build_model(spec.model, num_classes=3, **spec.model_kwargs)
        expected = {"v5-v4-sampling": "v4", "v4-identity": "v4",
                    "v5-batch-sampling": "hierarchical-batch",
                    "v5-switchable-bn": "hierarchical-batch"}.get(name, "hierarchical")
        assert model.sampler.mode == expected, name
    # the identity pair differs in the identity only: same dropping rule and probability
    v4 = build_model("v4", num_classes=3, **EXPERIMENTS[IDENTITY_PAIR[0]].model_kwargs)
    v4_id = build_model("v4_identity", num_classes=3, **EXPERIMENTS[IDENTITY_PAIR[1]].model_kwargs)
    assert repr(v4.sampler) == repr(v4_id.sampler) == "ChannelSampler('v4', drop_prob=0.5)"
    assert type(v4.conv1).__name__ == "SubsetSizeKernelStem"
    assert len(PUBLISHED) == 4
    assert [EXPERIMENTS[n].num_seeds for n in ("v5", "v5-long", "resnet18-sampled")] == [3, 3, 3]
    assert sum(EXPERIMENTS[n].num_seeds == 3 for n in PUBLISHED) == 1


def test_embedding_plot_shows_departures_from_the_start():
    from dynconv.book.plots import plot_channel_embedding

    stem = ChannelEmbeddingStem()
    # what a record stores (dynconv.experiments.inspection.v5_embedding), or the stem's own tensors
    fig = plot_channel_embedding({"scale": stem.scale, "shift": stem.shift})  # 0 after "- 1"
    image = fig.axes[0].images[0].get_array()
    assert image.shape == (3, 64) and float(abs(image).max()) == 0.0


@pytest.mark.parametrize("subset", [RGB, GB, B], ids=lambda s: s.name)
def test_depthwise_folded_kernel_equals_its_three_steps(subset):
    """Depthwise convs, mean and 1x1 are linear: one conv gives the same output and gradients."""
    torch.manual_seed(0)
    stem = DepthwiseStem()
    x = apply_subset(images(), subset, "drop")
    fast, plain = stem(x, subset), stem.reference_forward(x, subset)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-4)
    grads = [torch.autograd.grad(out.square().sum(), list(stem.parameters()))
             for out in (fast, plain)]
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("subset", [RGB, RG, B], ids=lambda s: s.name)
@pytest.mark.parametrize("identity", [True, False])
def test_v5_fused_relu_mean_equals_the_plain_computation(subset, identity):
    """ReluMeanConv (chunked, maps recomputed in backward) against reference_forward:
    same output and same gradients for every parameter, with a batch split into chunks."""
    from dynconv.stems import v5 as embedding_stem

    torch.manual_seed(0)
    stem = ChannelEmbeddingStem(identity=identity)
    with torch.no_grad():
        for p in stem.parameters():
            p.add_(0.3 * torch.randn_like(p))
    x = apply_subset(torch.randn(9, 3, 12, 10), subset, "drop")
    old = embedding_stem.CHUNK_BYTES
    embedding_stem.CHUNK_BYTES = 4 * 64 * subset.size * 12 * 10 * 2  # 2 images per chunk
    try:
        assert embedding_stem._chunk_size(x, 64) == 2
        fast = stem(x, subset)
    finally:
        embedding_stem.CHUNK_BYTES = old
    plain = stem.reference_forward(x, subset)
    torch.testing.assert_close(fast, plain, atol=1e-5, rtol=1e-4)
    weight = torch.randn_like(plain)
    grads = [torch.autograd.grad((out * weight).sum(), list(stem.parameters()))
             for out in (fast, plain)]
    for got, want in zip(*grads, strict=True):
        torch.testing.assert_close(got, want, atol=1e-4, rtol=1e-4)


def test_v5_fused_path_is_skipped_when_the_input_needs_a_gradient():
    torch.manual_seed(0)
    stem = ChannelEmbeddingStem()
    x = images().requires_grad_()
    (grad,) = torch.autograd.grad(stem(x, RGB).sum(), [x])
    (want,) = torch.autograd.grad(stem.reference_forward(x, RGB).sum(), [x])
    torch.testing.assert_close(grad, want, atol=1e-5, rtol=1e-4)
