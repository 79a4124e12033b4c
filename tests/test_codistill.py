"""v5 distilled from an RGB ResNet18 trained beside it (dynconv.models.codistill): the labels
read off the loop's gradient, the teacher's and the student's gradients against the objective
written out, and v5 outside training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from standins import DRAWS_SEED, loop_gradients

from dynconv.channels import RGB, parse_channels
from dynconv.errors import ConfigError
from dynconv.experiments.registry import EXPERIMENTS, V5_ABLATION
from dynconv.models.codistill import RGBTeacherResNet, labels_from_gradient
from dynconv.models.zoo import build_model
from dynconv.stems.v5 import ChannelEmbeddingStem

NUM_CLASSES = 5


def test_the_labels_are_read_off_a_mean_cross_entropys_gradient():
    logits = torch.randn(64, 7) * 3
    logits[0] = torch.tensor([0.0, 200.0, 0, 0, 0, 0, 0])  # certain: its gradient row is 0
    labels = torch.randint(0, 7, (64,))
    labels[0] = 1
    logits.requires_grad_(True)
    F.cross_entropy(logits, labels).backward()
    assert logits.grad[0].abs().max() == 0.0
    assert torch.equal(labels_from_gradient(logits.grad, logits.detach()), labels)


def test_the_loops_one_loss_trains_student_and_teacher_as_written_out():
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(16, 3, 12, 12, generator=gen)
    y = torch.randint(0, NUM_CLASSES, (16,), generator=gen)
    torch.manual_seed(0)
    model = build_model("v5_rgb_teacher", num_classes=NUM_CLASSES, weight=0.7).train()
    looped = loop_gradients(model, x, y, RGB)

    torch.manual_seed(DRAWS_SEED)  # the same channel draws as the loop's step
    draws = model.sampler.draws(RGB, x.shape[0])
    lost = torch.tensor([kept.size < 3 for kept in draws])
    torch.manual_seed(DRAWS_SEED)  # forward draws them again: the same ones
    student = super(RGBTeacherResNet, model).forward(x, RGB)
    teacher = model.teacher(x, RGB)
    kl = F.kl_div(F.log_softmax(student, 1), F.log_softmax(teacher.detach(), 1),
                  log_target=True, reduction="none").sum(1)
    labelled_ce = (F.cross_entropy(student, y, reduction="none") * ~lost).sum() / len(y)
    objective = labelled_ce + 0.7 * (kl * lost).sum() / len(y) + F.cross_entropy(teacher, y)
    objective.backward()
    assert 0 < lost.sum() < len(y)
    for name, param in model.named_parameters():
        torch.testing.assert_close(looped[name], param.grad, msg=name)
    assert looped["teacher.fc.weight"].abs().sum() > 0


def test_outside_training_it_is_v5_with_v5s_initial_weights():
    torch.manual_seed(0)
    v5 = build_model("v5", num_classes=NUM_CLASSES).eval()
    torch.manual_seed(0)
    taught = build_model("v5_rgb_teacher", num_classes=NUM_CLASSES).eval()
    own = taught.state_dict()
    assert {n.split(".")[0] for n in set(own) - set(v5.state_dict())} == {"teacher"}
    for name, value in v5.state_dict().items():
        assert torch.equal(own[name], value), name
    x = torch.randn(4, 2, 12, 12)
    torch.testing.assert_close(taught(x, parse_channels("GB")), v5(x, parse_channels("GB")))


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match=">= 0"):
        build_model("v5_rgb_teacher", num_classes=NUM_CLASSES, weight=-0.5)
    with pytest.raises(ConfigError, match="drops none"):
        RGBTeacherResNet(ChannelEmbeddingStem(), num_classes=NUM_CLASSES, sampling="none")
    model = build_model("v5_rgb_teacher", num_classes=NUM_CLASSES).train()
    with pytest.raises(ConfigError, match="all three channels"):
        model(torch.randn(2, 2, 8, 8), parse_channels("RG"))


def test_it_is_a_v5_ablation():
    assert "v5-rgb-teacher" in V5_ABLATION
    assert EXPERIMENTS["v5-rgb-teacher"].model == "v5_rgb_teacher"
