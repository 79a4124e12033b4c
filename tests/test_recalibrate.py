"""dynconv.evaluation.recalibrate: BatchNorm statistics re-estimated for one subset (AdaBN)."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import TensorDataset

from dynconv.channels import apply_subset, parse_channels
from dynconv.errors import ConfigError
from dynconv.evaluation.recalibrate import recalibrated
from dynconv.models.zoo import build_model

pytestmark = pytest.mark.usefixtures("one_thread")


def _images(n: int = 20, size: int = 8) -> TensorDataset:
    torch.manual_seed(1)
    return TensorDataset(torch.randn(n, 3, size, size) * 2 + 0.5, torch.zeros(n, dtype=torch.long))


@pytest.mark.parametrize("name", ["resnet18", "v5"])
def test_statistics_are_those_of_the_subset_and_nothing_else_changes(name):
    torch.manual_seed(0)
    model = build_model(name, num_classes=3).eval()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    images, rg = _images(), parse_channels("RG")
    net = recalibrated(model, images, rg, batch_size=5)  # 4 batches of 5: every image weighs alike
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())  # untouched
    params = dict(net.named_parameters())
    assert all(torch.equal(p, params[k]) for k, p in model.named_parameters())
    assert not net.training and not net.bn1.training
    # the first BatchNorm's mean is the mean of the stem's output over every image (per channel)
    x = apply_subset(images.tensors[0], rg, model.input_mode)
    with torch.no_grad():
        features = net.conv1(x, rg) if name == "v5" else net.conv1(x)  # (N, 64, H, W)
    assert torch.allclose(net.bn1.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-5)
    assert not torch.allclose(net.bn1.running_mean, model.bn1.running_mean)


def test_a_model_without_batchnorm_is_refused():
    net = torch.nn.Linear(3, 2)
    net.input_mode = "zero"
    with pytest.raises(ConfigError, match="no BatchNorm"):
        recalibrated(net, _images(), "RGB")
