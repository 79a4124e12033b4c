"""Costs: the two FLOP counters, per-image normalisation, memory and timing."""

from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dynconv.errors import ConfigError
from dynconv.evaluation.costs import (
    calflops_per_image,
    count_parameters,
    counted_flops_per_image,
    interleaved_timings,
    measure_costs,
    time_models,
)
from dynconv.models.blocks import SelfAttention
from dynconv.models.zoo import build_model


class ConvLinear(nn.Module):
    """A plain conv net: conv (no bias) -> flatten -> linear (no bias)."""

    input_mode = "zero"

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.fc = nn.Linear(8 * 16 * 16, 5, bias=False)

    def forward(self, x, channels=None):
        return self.fc(self.conv(x).flatten(1))


class AttentionOnly(nn.Module):
    input_mode = "zero"

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, channels, 1, bias=False)
        self.attention = SelfAttention(channels)

    def forward(self, x, channels=None):
        return self.attention(self.proj(x)).mean((2, 3))


def test_counters_agree_on_a_plain_conv_net():
    model = ConvLinear()
    cal = calflops_per_image(model, image_size=16)
    counted = counted_flops_per_image(model, image_size=16)
    hand = 2 * (16 * 16 * 8 * 3 * 9) + 2 * (8 * 16 * 16 * 5)
    assert cal["flops"] == pytest.approx(hand, rel=0.01)
    assert counted["flops"] == pytest.approx(hand, rel=0.01)
    assert cal["params"] == count_parameters(model) == 8 * 3 * 9 + 8 * 16 * 16 * 5


def test_counter_sees_attention_that_calflops_misses():
    model = AttentionOnly(16)
    n, c = 16 * 16, 16
    cal = calflops_per_image(model, image_size=16)
    counted = counted_flops_per_image(model, image_size=16)
    attention = 2 * 2 * n * n * c  # q.k (padded to C features) and attn @ v
    assert counted["flops"] - cal["flops"] == pytest.approx(attention, rel=0.02)
    assert any("attention" in op for op in counted["by_op"])


@pytest.mark.parametrize("name", ["resnet18", "v1", "v3"])
def test_flops_per_image_do_not_depend_on_batch(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=5)
    one = calflops_per_image(model, image_size=32, batch_size=1)
    three = calflops_per_image(model, image_size=32, batch_size=3)
    assert three["flops"] == pytest.approx(one["flops"], rel=1e-9)
    assert three["macs"] == pytest.approx(one["macs"], rel=1e-9)
    counted_one = counted_flops_per_image(model, image_size=32, batch_size=1)
    counted_three = counted_flops_per_image(model, image_size=32, batch_size=3)
    assert counted_three["flops"] == pytest.approx(counted_one["flops"], rel=1e-9)


def test_v1_without_maxpool_costs_about_3_7_times_more():
    v1 = calflops_per_image(build_model("v1", num_classes=50), image_size=84)
    original_v1 = calflops_per_image(
        build_model("v1", num_classes=50, keep_maxpool=False), image_size=84
    )
    baseline = calflops_per_image(build_model("resnet18", num_classes=50), image_size=84)
    assert v1["flops"] == pytest.approx(baseline["flops"], rel=1e-3)
    assert original_v1["flops"] / baseline["flops"] == pytest.approx(3.7, abs=0.05)
    assert baseline["flops"] == pytest.approx(135.887e9 / 64, rel=1e-3)  # the report, per image


class Broken(nn.Module):
    input_mode = "zero"

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x, channels=None):
        raise RuntimeError("boom")


def test_calflops_restores_torch_and_model_state():
    conv2d, linear = F.conv2d, F.linear
    model = ConvLinear().train()
    calflops_per_image(model, image_size=16)
    assert model.training
    with pytest.raises(RuntimeError, match="boom"):
        calflops_per_image(Broken(), image_size=8)
    assert F.conv2d is conv2d and F.linear is linear  # calflops' patches removed
    assert not any(hasattr(m, "__flops__") for m in model.modules())


def test_time_models_table():
    torch.manual_seed(0)
    models = {
        "resnet18": build_model("small_k7s2", num_classes=5, width=8),
        "other": ConvLinear(),
    }
    table = time_models(models, image_size=16, batch_size=2, steps=2, warmup=1, device="cpu")
    assert list(table.index) == ["resnet18", "other"]
    assert {"train_step_s", "inference_s", "train_step_ratio", "inference_ratio"} <= set(table)
    assert table.loc["resnet18", "train_step_ratio"] == 1.0
    assert (table[["train_step_s", "inference_s"]] > 0).all().all()
    with pytest.raises(ConfigError, match="Baseline"):
        time_models(models, image_size=16, batch_size=2, device="cpu", baseline="resnet34")


@pytest.mark.processes
def test_measure_costs_record_and_cpu_memory():
    torch.manual_seed(0)
    model = build_model("small_k7s2", num_classes=5, width=8)
    record = measure_costs(model, image_size=32, batch_size=4, channels="RG", device="cpu")
    json.dumps(record)  # JSON-ready
    assert record["params"] == count_parameters(model)
    assert record["channels"] == "RG" and record["memory_method"] == "cpu_rss_spawn_subprocess"
    weights_mb = record["params"] * 4 / 2**20
    assert weights_mb < record["peak_train_memory_mb"] < 2048
    assert record["counted_flops_per_image"] > record["calflops_flops_per_image"] / 2


def test_interleaved_timings_rotate_whole_groups_and_drop_the_warmup():
    calls: list[str] = []
    steps = {name: (lambda n=name: calls.append(n)) for name in ("a1", "a2", "b1", "b2")}
    times = interleaved_timings(steps, repeats=3, warmup=1, device=torch.device("cpu"),
                                group=2)
    assert calls == ["a1", "a2", "b1", "b2", "b1", "b2", "a1", "a2",
                     "a1", "a2", "b1", "b2", "b1", "b2", "a1", "a2"]
    assert {name: len(t) for name, t in times.items()} == dict.fromkeys(steps, 3)
    assert all(t >= 0 for ts in times.values() for t in ts)
    with pytest.raises(ConfigError, match="groups of 2"):
        interleaved_timings({"a": lambda: None}, repeats=1, warmup=0,
                            device=torch.device("cpu"), group=2)
