"""v5 with a second training objective: distillation from its own RGB view, or reconstruction of
the channels it was not shown.

Chapter: ``10_part3`` (what each idea is worth).

Two published ideas for a network that must serve every channel subset, each a second loss
beside the classification loss, in training only (at test time the model is v5):

* ``"distill"``: **in-place distillation** (Yu & Huang, "Universally Slimmable Networks and
  Improved Training Techniques", ICCV 2019, https://arxiv.org/abs/1903.05134). The network
  run on the whole image is the teacher of the same network run on fewer channels: an image
  that kept all its channels learns from its label, an image that lost one to the sampler
  learns from the class probabilities the network gives it with all its channels instead,
  KL(p_all || p_kept), as the paper's sub-networks learn from the full network and never
  from the labels. The teacher's pass runs without gradients (it is the target), in training
  mode, and leaves every BatchNorm's running statistics as they were (they stay those of the
  sampled mixture, as v5's). How it differs from distillation from a separately trained RGB
  model: the teacher is not a finished network but the one being trained, so no record
  depends on another record's weights, and the cost is one more forward pass per step, not a
  second training.
* ``"distill-plus-labels"``: the same, but the images that lost a channel learn from both,
  their label and the teacher (cross-entropy + KL), a common variant of knowledge
  distillation (Hinton et al., 2015, weigh the two).
* ``"reconstruct"``: **masked channel reconstruction** (ChA-MAEViT, NeurIPS 2025: whole
  channels masked, a decoder reconstructs them as an auxiliary task). Here a 3x3 convolution
  reads layer1's features (computed from the kept channels only) and predicts every channel
  of the image at layer1's resolution; the loss is the mean squared error on the channels
  the sampler dropped, the target the image's own (normalised) channel average-pooled to that
  grid. How it differs: ChA-MAEViT masks patches of a ViT and decodes with a transformer;
  here whole channels are dropped by v5's own hierarchical sampler, the decoder is one
  convolution, and its weights (1,731) are unused at test time.

No weight (1.0) was tuned: chapter 10 reports the first setting tried.

The training loop computes one loss, ``cross_entropy(logits, y)``. Rather than give the loop a
second term (which would change every record's code key, :mod:`dynconv.experiments.keys`), the
model returns its logits through :class:`AddAuxiliaryLoss`: the same numbers forward, and in the
backward pass the auxiliary loss receives gradient 1, so the loop's ``backward()`` computes the
gradients of ``cross_entropy + auxiliary`` (tested against that sum written out). The
``train_loss`` a record stores is the cross-entropy alone.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dynconv.channels import ChannelSubset
from dynconv.errors import ConfigError
from dynconv.models.resnet import DynamicStemResNet
from dynconv.stems.common import STEM_CHANNELS, check_input
from dynconv.stems.sampling import ChannelSampler

__all__ = ["OBJECTIVES", "AddAuxiliaryLoss", "AuxiliaryObjectiveResNet", "TrainingOutputs"]

OBJECTIVES: tuple[str, ...] = ("distill", "distill-plus-labels", "reconstruct")


class TrainingOutputs(NamedTuple):
    """One training step of :class:`AuxiliaryObjectiveResNet`, before the loop's loss."""

    logits: Tensor  # (B, K) on the channels the sampler kept
    auxiliary: Tensor  # () the second loss, not yet weighted
    labelled: Tensor  # (B,) bool: the images whose cross-entropy trains the network


class AddAuxiliaryLoss(torch.autograd.Function):
    """``apply(logits, loss)`` returns ``logits``; backward gives ``loss`` the gradient 1.

    Whatever scalar the caller then minimises, ``L(logits)``, its ``backward()`` yields the
    gradients of ``L + loss``, provided ``L`` is backpropagated with gradient 1, as
    ``training.loop`` does with its cross-entropy (no loss scaling: bfloat16 autocast needs
    none). The trick stores nothing: the extra term lives in the graph the loop already has.
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: Tensor,  # type: ignore[override]
                loss: Tensor) -> Tensor:
        ctx.loss_dtype = loss.dtype  # type: ignore[attr-defined]
        return logits.clone()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx,  # type: ignore[override]
                 grad_logits: Tensor) -> tuple[Tensor, Tensor]:
        one = torch.ones((), dtype=ctx.loss_dtype, device=grad_logits.device)  # type: ignore[attr-defined]
        return grad_logits, one


@contextmanager
def _running_statistics_frozen(model: nn.Module) -> Iterator[None]:
    """Inside: every BatchNorm normalises by its batch (training mode) but its running mean
    and variance stay as they were (momentum 0: running = 1 * running + 0 * batch)."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.momentum = 0.0
    try:
        yield
    finally:
        for norm, momentum in zip(norms, momenta, strict=True):
            norm.momentum = momentum


class AuxiliaryObjectiveResNet(DynamicStemResNet):
    """A dynamic-stem ResNet18 (v5's, as built by the zoo) trained with the second loss
    ``objective``, ``weight`` times. Outside training it is the plain network."""

    def __init__(self, stem: nn.Module, *, num_classes: int, objective: str,
                 weight: float = 1.0, sampling: str = "hierarchical") -> None:
        if objective not in OBJECTIVES:
            raise ConfigError(f"Unknown auxiliary objective {objective!r}; valid choices: "
                              f"{', '.join(OBJECTIVES)}.")
        if not weight >= 0.0:
            raise ConfigError(f"The auxiliary loss's weight must be >= 0, got {weight}.")
        super().__init__(stem, num_classes=num_classes, sampling=sampling)
        if not self.sampler.active:
            raise ConfigError("An auxiliary objective needs channels dropped in training; "
                              f"sampling {sampling!r} drops none.")
        self.objective = objective
        self.weight = weight
        if objective == "reconstruct":
            # layer1's features -> one map per channel of the image (R, G, B)
            self.decoder = nn.Conv2d(STEM_CHANNELS, 3, kernel_size=3, padding=1)

    def forward(self, x: Tensor, channels: ChannelSubset | None = None) -> Tensor:
        if not (self.training and torch.is_grad_enabled()):
            return super().forward(x, channels)
        logits, auxiliary, labelled = self.training_outputs(x, channels)
        # The loop's cross-entropy still averages over all B images, but only the labelled
        # ones pass a gradient back (the others' logits are constants to it).
        logits = torch.where(labelled[:, None], logits, logits.detach())
        return AddAuxiliaryLoss.apply(logits, self.weight * auxiliary)

    def training_outputs(self, x: Tensor,
                         channels: ChannelSubset | None = None) -> TrainingOutputs:
        """One training step on ``x`` (B, n, H, W) holding ``channels``: what the network
        minimises is ``mean over the B images of [labelled] * cross-entropy + weight *
        auxiliary`` (``forward`` hands exactly that to the loop; tests check it)."""
        subset = check_input(x, channels, input_mode="drop")
        draws = self.sampler.draws(subset, x.shape[0])
        stem = ChannelSampler.run_drop(x, subset, draws, self.conv1)  # (B, 64, H, W)
        features = self.layer1(self.maxpool(self.relu(self.bn1(stem))))  # (B, 64, H/2, W/2)
        logits = self._classify(features)  # (B, K)
        # (B, n): 1 where the image's channel was dropped (n = the channels x holds)
        dropped = torch.tensor([[c not in kept.indices for c in subset.indices] for kept in draws],
                               dtype=torch.float32, device=x.device)
        lost = dropped.amax(dim=1)  # (B,) 1 if any channel was dropped
        every_image = torch.ones_like(lost, dtype=torch.bool)
        if self.objective == "reconstruct":
            auxiliary = self._reconstruction_loss(x, subset, features, dropped)
            return TrainingOutputs(logits, auxiliary, every_image)
        auxiliary = self._distillation_loss(x, subset, logits, lost)
        # in-place distillation: an image that lost a channel learns from the teacher alone
        labelled = lost == 0 if self.objective == "distill" else every_image
        return TrainingOutputs(logits, auxiliary, labelled)

    def _classify(self, features: Tensor) -> Tensor:
        """layer2 ... fc, as :func:`dynconv.models.resnet._forward_after_stem` after layer1."""
        x = self.layer4(self.layer3(self.layer2(features)))  # (B, 512, H/16, W/16)
        return self.fc(torch.flatten(self.avgpool(x), 1))  # (B, K)

    def _distillation_loss(self, x: Tensor, subset: ChannelSubset, logits: Tensor,
                           lost: Tensor) -> Tensor:
        """Mean over the batch of KL(p_all || p_kept) on the images that lost a channel (0 for
        the others), so that one image weighs as much here as in the cross-entropy."""
        with torch.no_grad(), _running_statistics_frozen(self):
            stem = self.conv1(x, subset)  # (B, 64, H, W): every image with all its channels
            teacher = self._classify(self.layer1(self.maxpool(self.relu(self.bn1(stem)))))
        kl = F.kl_div(F.log_softmax(logits.float(), dim=1), F.log_softmax(teacher.float(), dim=1),
                      log_target=True, reduction="none").sum(dim=1)  # (B,)
        return (kl * lost).sum() / x.shape[0]

    def _reconstruction_loss(self, x: Tensor, subset: ChannelSubset, features: Tensor,
                             dropped: Tensor) -> Tensor:
        """Mean squared error of the predicted channel maps, over the dropped channels only."""
        predicted = self.decoder(features)[:, list(subset.indices)]  # (B, n, h, w)
        target = F.adaptive_avg_pool2d(x, features.shape[-2:])  # (B, n, h, w)
        error = (predicted.float() - target.float()).pow(2).mean(dim=(2, 3))  # (B, n)
        return (error * dropped).sum() / dropped.sum().clamp(min=1.0)
