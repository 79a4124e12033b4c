"""Tests of dynconv.experiments.inspection: what a record stores of its trained model, as plain
JSON."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dynconv.book import plots, sentences, tables
from dynconv.data.datasets import ImageSplit
from dynconv.experiments.inspection import INSPECTIONS, inspect_model
from dynconv.experiments.registry import EXPERIMENTS
from dynconv.models.zoo import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _split(n: int = 12, size: int = 8) -> ImageSplit:
    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8, generator=generator)
    return ImageSplit(images, torch.arange(n) % 3, name="test")


def _inspected(model_name: str, inspection: str, **kwargs) -> dict:
    torch.manual_seed(42)
    model = build_model(model_name, num_classes=3, **kwargs)
    found = inspect_model(inspection, model, _split(), seed=42)
    json.dumps(found)  # plain JSON values only
    assert model.training  # put back in the mode it was given
    return found


def test_every_inspection_the_registry_names_exists():
    named = {spec.inspect for spec in EXPERIMENTS.values()} - {None}
    assert named == set(INSPECTIONS)


def test_v1_kernels_vary_from_image_to_image():
    found = _inspected("v1", "v1_kernels")
    assert found["kernel_shape"] == [8, 64, 3, 3, 3] and found["kernel_spread"] > 0


def test_v2_generators_of_an_untrained_model_have_not_moved():
    found = _inspected("v2", "v2_generators")
    assert found["generator_change"] == {"1": 0.0, "2": 0.0, "3": 0.0}


def test_v3_routing_and_the_slicing_proof():
    found = _inspected("v3", "v3_routing")
    assert found["num_images"] == 12 and set(found["routing"]) == {"RGB", "RG", "GB", "B"}
    routing = np.asarray(found["routing"]["GB"])  # (B, K), rows sum to 1
    assert routing.shape == (12, 4) and np.allclose(routing.sum(axis=1), 1.0, atol=1e-5)
    table = tables.drop_vs_zero_table(found)
    assert list(table.index) == ["RGB", "RG", "RB", "GB", "R", "G", "B"]
    assert len(table) == 7 and float(table["same mixed kernel"].max()) < 1e-5
    assert found["same_input_twice"] == 0.0
    sentence = sentences.drop_vs_zero_sentence(table, found["num_images"])
    assert "on all 7 subsets and 12 test images" in sentence
    plots.plot_attention_weights(found["routing"])


def test_part2_block_on_four_test_images_drawn_with_the_seed():
    found = _inspected("small_k7s2", "part2_first_block", width=8)
    again = _inspected("small_k7s2", "part2_first_block", width=8)
    assert found == again and len(found["indices"]) == 4
    h, w = found["size"]
    assert np.asarray(found["received"]).shape == (4, h * w)
    assert np.asarray(found["gates"]).shape == (4, 8)
    assert "between these 4 images" in sentences.trained_block_sentence(found)
    images = _split().__getitems__(found["indices"]).x
    plots.plot_trained_blocks(images, found, ["a", "b", "c", "d"])


def test_v5_embedding_starts_at_scale_one_shift_zero():
    found = _inspected("v5", "v5_embedding")
    assert np.allclose(found["scale"], 1.0) and np.allclose(found["shift"], 0.0)
    assert np.asarray(found["scale"]).shape == (3, 64)
    plots.plot_channel_embedding(found)


def test_no_inspection_stores_nothing():
    assert inspect_model(None, torch.nn.Linear(1, 1), _split(), seed=0) == {}
