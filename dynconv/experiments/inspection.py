"""What a chapter shows of a trained network, stored in its record instead of its weights.

Records ship with the book; checkpoints do not (a ResNet18's weights are 45 MB). So the few
chapters that look *inside* a trained model (v1's per-image kernels, v2's generators, v3's
routing, the Part II block, v5's channel embedding) get what they plot from the record's
``inspection`` field, computed once, right after training, by the function the experiment
names in :mod:`dynconv.experiments.registry` (``ExperimentSpec.inspect``). Each function takes the
trained
model (eval mode, CPU), the test split and the run's seed, and returns plain JSON values.

The source of the function an experiment uses is part of its code key
(:mod:`dynconv.experiments.keys`): editing it retrains that experiment, and no other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from dynconv.channels import ALL_SUBSETS, RGB, apply_subset, parse_channels
from dynconv.data.datasets import ImageSplit
from dynconv.models.small_net import inspect_first_block
from dynconv.models.zoo import build_model
from dynconv.provenance import to_jsonable
from dynconv.stems.common import per_sample_conv

__all__ = ["INSPECTIONS", "inspect_model"]

Inspection = Callable[[nn.Module, ImageSplit, int], dict[str, Any]]


def _first_images(split: ImageSplit, n: int) -> torch.Tensor:
    """The first ``n`` test images, normalised (B, 3, H, W): the order of every record."""
    return split.__getitems__(list(range(min(n, len(split))))).x


@torch.no_grad()
def v1_kernels(model: nn.Module, split: ImageSplit, seed: int) -> dict[str, Any]:
    """v1: how much the generated kernel varies from image to image (first 8 test images)."""
    kernels = model.conv1.kernels(apply_subset(_first_images(split, 8), RGB, "drop"))
    spread = kernels.std(dim=0).mean() / kernels.abs().mean()  # (B, 64, 3, 3, 3) -> scalar
    return {"kernel_shape": list(kernels.shape), "kernel_spread": float(spread)}


@torch.no_grad()
def v2_generators(model: nn.Module, split: ImageSplit, seed: int) -> dict[str, Any]:
    """v2: how far each kernel generator moved from its initial weights (rebuilt from the seed
    the run initialised its model with)."""
    spec = model.build_spec
    torch.manual_seed(seed)
    initial = build_model(spec["name"], num_classes=spec["num_classes"], **spec["kwargs"])
    change = {}
    for size in ("1", "2", "3"):
        pairs = zip(initial.conv1.generators[size].parameters(),
                    model.conv1.generators[size].parameters(), strict=True)
        change[size] = max(float((after - before).abs().max()) for before, after in pairs)
    return {"generator_change": change}


@torch.no_grad()
def v3_routing(model: nn.Module, split: ImageSplit, seed: int) -> dict[str, Any]:
    """v3: routing weights on four subsets, the slicing proof, and whether the layer is
    deterministic (the original's was not), on the first 128 test images."""
    stem = model.conv1
    images = _first_images(split, 128)
    weights = {}
    for name in ("RGB", "RG", "GB", "B"):
        s = parse_channels(name)
        weights[name] = stem.attention(apply_subset(images, s, "drop"), s)  # (B, K)
    differences = {}
    for s in ALL_SUBSETS:
        dropped = apply_subset(images, s, "drop")  # (B, |S|, H, W)
        zeroed = apply_subset(images, s, "zero")  # (B, 3, H, W)
        kernel = stem.kernels(zeroed, RGB)  # (B, 64, 3, 3, 3), used for both
        sliced = per_sample_conv(dropped, kernel[:, :, list(s.indices)])
        differences[s.name] = {
            "same mixed kernel": float((sliced - per_sample_conv(zeroed, kernel)).abs().max()),
            "routing weights": float((stem.attention(dropped, s)
                                      - stem.attention(zeroed, RGB)).abs().max()),
            "whole stem": float((stem(dropped, s) - stem(zeroed, RGB)).abs().max()),
        }
    x = apply_subset(images[:4], RGB, "drop")
    repeat = float((stem(x, RGB) - stem(x, RGB)).abs().max())
    return {"num_images": len(images), "routing": to_jsonable(weights),
            "drop_vs_zero": differences, "same_input_twice": repeat}


@torch.no_grad()
def part2_first_block(model: nn.Module, split: ImageSplit, seed: int) -> dict[str, Any]:
    """Part II: what the first AttentionSE block does on four test images drawn with the seed:
    the attention each position receives (mean over queries), the SE gates, gamma."""
    generator = torch.Generator().manual_seed(seed)
    indices = torch.randperm(len(split), generator=generator)[:4].tolist()
    found = inspect_first_block(model, split.__getitems__(indices).x)
    received = found["attention"].mean(dim=1)  # (B, N, N) -> (B, N): attention received
    return {"indices": indices, "received": to_jsonable(received),
            "gates": to_jsonable(found["gates"]), "gamma": float(found["gamma"]),
            "size": [int(v) for v in found["size"]]}


@torch.no_grad()
def v5_embedding(model: nn.Module, split: ImageSplit, seed: int) -> dict[str, Any]:
    """v5: the learned channel-identity embedding (scale and shift, (3, 64) each)."""
    stem = model.conv1
    return {"scale": to_jsonable(stem.scale), "shift": to_jsonable(stem.shift)}


INSPECTIONS: dict[str, Inspection] = {
    "v1_kernels": v1_kernels,
    "v2_generators": v2_generators,
    "v3_routing": v3_routing,
    "part2_first_block": part2_first_block,
    "v5_embedding": v5_embedding,
}


def inspect_model(name: str | None, model: nn.Module, split: ImageSplit, seed: int
                  ) -> dict[str, Any]:
    """The ``inspection`` of a record: ``{}`` when the experiment names none."""
    if name is None:
        return {}
    was_training = model.training
    model.eval()
    try:
        return INSPECTIONS[name](model, split, seed)
    finally:
        model.train(was_training)
