"""v5 with a second training loss (dynconv.models.auxiliary): the loss hidden in the logits'
backward pass against the plain sum, the teacher's pass, the reconstruction's target."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dynconv.channels import RGB, parse_channels
from dynconv.errors import ConfigError
from dynconv.experiments.registry import EXPERIMENTS, V5_ABLATION
from dynconv.models.auxiliary import OBJECTIVES, AddAuxiliaryLoss, AuxiliaryObjectiveResNet
from dynconv.models.zoo import build_model, resnet18_v5
from dynconv.stems.v5 import ChannelEmbeddingStem

NUM_CLASSES = 5


def _model(objective: str, seed: int = 0) -> AuxiliaryObjectiveResNet:
    torch.manual_seed(seed)
    return build_model("v5_auxiliary", num_classes=NUM_CLASSES, objective=objective).train()


def _batch(n: int = 12, size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, size, size, generator=gen), torch.randint(0, NUM_CLASSES, (n,),
                                                                       generator=gen)


def _grads(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_add_auxiliary_loss_gives_the_gradients_of_the_sum():
    logits = torch.randn(4, 3, requires_grad=True)
    weight = torch.randn(3, requires_grad=True)
    target = torch.tensor([0, 2, 1, 1])
    auxiliary = (logits * weight).pow(2).mean()  # depends on both leaves
    F.cross_entropy(AddAuxiliaryLoss.apply(logits, auxiliary), target).backward()
    tricked = logits.grad.clone(), weight.grad.clone()
    logits.grad, weight.grad = None, None
    (F.cross_entropy(logits, target) + (logits * weight).pow(2).mean()).backward()
    torch.testing.assert_close(tricked, (logits.grad, weight.grad))


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_the_loops_one_loss_trains_the_labelled_images_plus_the_auxiliary_loss(objective):
    """What the training loop does (cross-entropy of the returned logits, backward) gives the
    same gradients as the objective written out: the labelled images' cross-entropy (a mean
    over all B) + weight x auxiliary."""
    x, y = _batch()
    model = _model(objective)
    model.weight = 0.7
    torch.manual_seed(3)  # the same channel draws in both passes
    F.cross_entropy(model(x, RGB), y).backward()
    looped = _grads(model)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(3)
    logits, auxiliary, labelled = model.training_outputs(x, RGB)
    assert auxiliary.item() > 0
    # in-place distillation: only the images that kept every channel learn from their label
    assert labelled.all() == (objective != "distill") and labelled.any()
    per_image = F.cross_entropy(logits, y, reduction="none")  # (B,)
    ((per_image * labelled).sum() / len(y) + 0.7 * auxiliary).backward()
    plain = _grads(model)
    assert looped.keys() == plain.keys()
    for name in plain:
        torch.testing.assert_close(looped[name], plain[name], msg=name)


@pytest.mark.parametrize("objective", OBJECTIVES)
def test_outside_training_it_is_v5(objective):
    """Same weights, same outputs as v5 on every subset once trained (the extra loss is gone)."""
    model = _model(objective).eval()
    torch.manual_seed(0)
    v5 = resnet18_v5(num_classes=NUM_CLASSES).eval()
    v5.load_state_dict(model.state_dict(), strict=False)
    x, _ = _batch(4)
    for name in ("R", "GB", "RGB"):
        subset = parse_channels(name)
        kept = x[:, list(subset.indices)]
        torch.testing.assert_close(model(kept, subset), v5(kept, subset))
    extra = set(model.state_dict()) - set(v5.state_dict())
    assert extra == ({"decoder.weight", "decoder.bias"} if objective == "reconstruct" else set())


def test_the_teachers_pass_leaves_the_running_statistics_to_the_sampled_batches():
    """In-place distillation runs the network on all channels as well; BatchNorm's running
    statistics must still be those of the sampled batch alone, as in v5."""
    x, _ = _batch()
    distilled = _model("distill")
    torch.manual_seed(0)
    plain = resnet18_v5(num_classes=NUM_CLASSES).train()
    plain.load_state_dict(distilled.state_dict())
    torch.manual_seed(3)
    distilled.training_outputs(x, RGB)
    torch.manual_seed(3)
    plain(x, RGB)
    for (name, ours), theirs in zip(distilled.named_buffers(), plain.buffers(), strict=True):
        if not name.endswith("num_batches_tracked"):
            torch.testing.assert_close(ours, theirs, msg=name)
    assert all(m.momentum == 0.1 for m in distilled.modules()
               if isinstance(m, torch.nn.BatchNorm2d))  # restored after the teacher's pass


def test_distillation_is_the_kl_to_the_networks_own_rgb_prediction_on_images_that_lost_a_channel():
    x, _ = _batch()
    model = _model("distill")
    draws = [RGB] * 6 + [parse_channels("R")] * 6
    model.sampler.draws = lambda present, batch: draws  # fixed draws: half keep RGB
    logits, auxiliary, labelled = model.training_outputs(x, RGB)
    assert labelled.tolist() == [True] * 6 + [False] * 6
    with torch.no_grad():
        model.eval()  # the teacher: the same weights on all channels, batch statistics
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.track_running_stats, m.running_mean, m.running_var = False, None, None
        teacher = model(x, RGB)
    kl = (F.softmax(teacher, 1) * (F.log_softmax(teacher, 1) - F.log_softmax(logits, 1))).sum(1)
    torch.testing.assert_close(auxiliary, kl[6:].sum() / 12)


def test_reconstruction_scores_the_dropped_channels_only():
    x, _ = _batch(2)
    model = _model("reconstruct")
    model.sampler.draws = lambda present, batch: [parse_channels("GB"), RGB]
    with torch.no_grad():
        model.decoder.weight.zero_()
        model.decoder.bias.copy_(torch.tensor([1.0, 2.0, 3.0]))  # predicts 1, 2, 3 everywhere
    _, auxiliary, labelled = model.training_outputs(x, RGB)
    assert labelled.all()
    red = F.adaptive_avg_pool2d(x[:1, :1], (8, 8))  # image 0 lost R; image 1 lost nothing
    torch.testing.assert_close(auxiliary, (red - 1.0).pow(2).mean())


def test_bad_settings_are_named():
    stem = ChannelEmbeddingStem()
    with pytest.raises(ConfigError, match="Unknown auxiliary objective 'mae'"):
        AuxiliaryObjectiveResNet(stem, num_classes=3, objective="mae")
    with pytest.raises(ConfigError, match="weight must be >= 0"):
        AuxiliaryObjectiveResNet(stem, num_classes=3, objective="distill", weight=-1.0)
    with pytest.raises(ConfigError, match="needs channels dropped"):
        AuxiliaryObjectiveResNet(stem, num_classes=3, objective="distill", sampling="none")


def test_the_objectives_are_v5_ablations():
    for name, objective in (("v5-distill", "distill"),
                            ("v5-distill-plus-labels", "distill-plus-labels"),
                            ("v5-reconstruct", "reconstruct")):
        assert name in V5_ABLATION
        spec = EXPERIMENTS[name]
        assert (spec.model, spec.model_kwargs) == ("v5_auxiliary", {"objective": objective})
