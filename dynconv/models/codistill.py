"""v5 taught by a ResNet18 that sees RGB: distillation from the RGB model, trained beside it.

Chapter: ``10_part3`` (what each idea is worth).

Knowledge distillation (Hinton, Vinyals & Dean, "Distilling the Knowledge in a Neural Network",
2015, https://arxiv.org/abs/1503.02531): a student learns from the class probabilities of a
teacher. The teacher here is a plain ResNet18 (the book's RGB oracle, original 3x3/1 stem) that
always sees all three channels and learns from the labels alone; the student is v5, and it
follows in-place distillation's rule (:mod:`dynconv.models.auxiliary`, ``"distill"``): an image
that kept every channel learns from its label, one that lost a channel to the sampler learns
from KL(p_teacher || p_kept) instead. So the one difference from *v5 + in-place distillation*
is who teaches: a separate network that never loses a channel, rather than the student itself
run on all channels.

How it differs from distilling a finished RGB model: the teacher trains in the same run, step by
step with the student (online distillation; in codistillation, Anil et al., ICLR 2018,
https://arxiv.org/abs/1804.03235, the networks teach each other, here teaching goes one way),
so early in the run it is as poor as any ResNet18 after that many steps, and it ends as good as
the RGB oracle of the same budget. A finished teacher would need one record's weights as
another record's input, which the records' keys (:mod:`dynconv.experiments.keys`) do not
express. The record's parameter count and training step include the teacher's (11.2 M
parameters, one more ResNet18 step); at test time the model is v5 and the teacher is unused.

The trick, commented once: the teacher's cross-entropy needs the labels, and a model's forward
never sees them. The training loop minimises the mean cross-entropy of the logits the model
returns; row i of its gradient with respect to them is ``(softmax(z_i) - onehot(y_i)) / B``,
negative at exactly one entry, the label. :class:`TeachFromLabels` returns the student's
logits unchanged and, in the backward pass, reads each image's label off that gradient (a row
with no negative entry means the student gave its label probability 1, so the label is the
student's own top class) and gives the teacher's logits the gradient of their own
cross-entropy, ``(softmax(t_i) - onehot(y_i)) / B``. Like
:class:`~dynconv.models.auxiliary.AddAuxiliaryLoss` it assumes the loop's loss is that mean
cross-entropy backpropagated with gradient 1, as :mod:`dynconv.training.loop` does; tests
check the gradients against the teacher's loss written out.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dynconv.channels import RGB, ChannelSubset
from dynconv.errors import ConfigError
from dynconv.models.auxiliary import AddAuxiliaryLoss
from dynconv.models.resnet import LAYERS, DynamicStemResNet, PlainResNet, _forward_after_stem
from dynconv.stems.common import check_input
from dynconv.stems.sampling import ChannelSampler

__all__ = ["RGBTeacherResNet", "TeachFromLabels", "labels_from_gradient"]


def labels_from_gradient(grad: Tensor, logits: Tensor) -> Tensor:
    """The labels (B,) behind ``grad`` (B, K), the gradient of a mean cross-entropy with
    respect to ``logits`` (B, K): each row's one negative entry, or the row's top logit where
    the row has none (the label's probability rounded to 1, every entry 0)."""
    negative = grad.min(dim=1).values < 0
    return torch.where(negative, grad.argmin(dim=1), logits.argmax(dim=1))


class TeachFromLabels(torch.autograd.Function):
    """``apply(student, teacher)`` returns ``student``; backward passes the loop's gradient to
    the student and gives ``teacher`` the gradient of its mean cross-entropy on the labels
    read off that gradient (module docstring)."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, student: Tensor,  # type: ignore[override]
                teacher: Tensor) -> Tensor:
        ctx.save_for_backward(student, teacher)
        return student.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,  # type: ignore[override]
                 grad: Tensor) -> tuple[Tensor, Tensor]:
        student, teacher = ctx.saved_tensors  # type: ignore[attr-defined]
        labels = labels_from_gradient(grad, student)  # (B,)
        probabilities = F.softmax(teacher.float(), dim=1)  # (B, K)
        onehot = F.one_hot(labels, teacher.shape[1]).to(probabilities.dtype)
        grad_teacher = (probabilities - onehot) / teacher.shape[0]  # d mean CE / d teacher
        return grad, grad_teacher.to(teacher.dtype)


class RGBTeacherResNet(DynamicStemResNet):
    """v5's ResNet18 (the student) with a plain ResNet18 on RGB as its teacher, both trained
    in the same steps; ``weight`` scales the KL term. Outside training it is the student."""

    def __init__(self, stem: torch.nn.Module, *, num_classes: int, weight: float = 1.0,
                 sampling: str = "hierarchical") -> None:
        if not weight >= 0.0:
            raise ConfigError(f"The distillation loss's weight must be >= 0, got {weight}.")
        super().__init__(stem, num_classes=num_classes, sampling=sampling)
        if not self.sampler.active:
            raise ConfigError("Distillation needs channels dropped in training; sampling "
                              f"{sampling!r} drops none.")
        self.weight = weight
        # built after the student, so that the student starts from v5's initial weights
        self.teacher = PlainResNet(LAYERS["resnet18"], num_classes=num_classes)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        if not (self.training and torch.is_grad_enabled()):
            return super().forward(x, channels)
        subset = check_input(x, channels, input_mode="drop")
        if subset != RGB:
            raise ConfigError("The RGB teacher trains on images with all three channels; "
                              f"this batch holds {subset.name}.")
        draws = self.sampler.draws(subset, x.shape[0])
        stem = ChannelSampler.run_drop(x, subset, draws, self.conv1)  # (B, 64, H, W)
        logits = _forward_after_stem(self, stem)  # (B, K): the student on the kept channels
        teacher = self.teacher(x, RGB)  # (B, K)
        lost = torch.tensor([kept.size < subset.size for kept in draws], device=x.device)
        kl = F.kl_div(F.log_softmax(logits.float(), dim=1),
                      F.log_softmax(teacher.detach().float(), dim=1),
                      log_target=True, reduction="none").sum(dim=1)  # (B,)
        distillation = (kl * lost).sum() / x.shape[0]
        # an image that lost a channel learns from the teacher alone: its logits are constants
        # to the loop's cross-entropy
        logits = torch.where(lost[:, None], logits.detach(), logits)
        logits = AddAuxiliaryLoss.apply(logits, self.weight * distillation)
        # outermost, so that its backward sees the loop's gradient for every image
        return TeachFromLabels.apply(logits, teacher)
