"""v5 with DiChaViT's diversity losses (dynconv.models.diverse): the token loss's sum trick
against the plain matrix of cosines, the channel loss, the loss reaching the loop's backward
pass, and v5 outside training."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from standins import DRAWS_SEED, loop_gradients

from dynconv.channels import RGB, parse_channels
from dynconv.errors import ConfigError
from dynconv.experiments.registry import EXPERIMENTS, V5_ABLATION
from dynconv.models.diverse import (
    DiverseChannelResNet,
    channel_diversification_loss,
    token_diversification_loss,
)
from dynconv.models.zoo import build_model
from dynconv.stems.v5 import ChannelEmbeddingStem

NUM_CLASSES = 5


def _plain_token_loss(tokens: torch.Tensor, same_weight: float, other_weight: float
                      ) -> torch.Tensor:
    """TDL written out: every pair of an image's tokens, a mask for same / other channel."""
    b, n, p, d = tokens.shape
    unit = F.normalize(tokens, dim=-1).reshape(b, n * p, d)
    cosines = unit @ unit.transpose(1, 2)  # (B, nP, nP)
    channel = torch.arange(n).repeat_interleave(p)
    same = (channel[:, None] == channel[None, :]) & ~torch.eye(n * p, dtype=torch.bool)
    other = channel[:, None] != channel[None, :]
    same_mean = (cosines * same).sum(dim=(1, 2)) / same.sum()
    other_mean = (cosines * other).sum(dim=(1, 2)) / other.sum()
    return (same_weight * (1 - same_mean) + other_weight * other_mean).mean()


@pytest.mark.parametrize("shape", [(2, 3, 5, 4), (3, 2, 7, 6), (1, 3, 16, 64)])
def test_the_sum_trick_equals_the_matrix_of_cosines(shape):
    tokens = torch.randn(*shape, dtype=torch.float64)
    tokens[0, 0, 1] = 0.0  # a dead token (every feature 0 after a ReLU) counts as 0
    torch.testing.assert_close(token_diversification_loss(tokens, same_weight=1.0,
                                                          other_weight=0.5).double(),
                               _plain_token_loss(tokens, 1.0, 0.5), rtol=1e-5, atol=1e-6)


def test_the_token_loss_is_smallest_for_alike_channels_kept_orthogonal():
    basis = torch.eye(4)
    apart = torch.stack([basis[0].expand(6, 4), basis[1].expand(6, 4)])[None]  # (1, 2, 6, 4)
    mixed = torch.randn(1, 2, 6, 4)
    assert token_diversification_loss(apart).item() == pytest.approx(0.0, abs=1e-6)
    assert token_diversification_loss(mixed) > 0.1
    with pytest.raises(ConfigError, match="2 channels"):
        token_diversification_loss(torch.randn(1, 1, 6, 4))


def test_the_channel_loss_tells_embeddings_apart():
    proxies = torch.eye(3, 8)
    near_own = proxies + 0.01 * torch.randn(3, 8)
    swapped = proxies[[1, 2, 0]]
    assert channel_diversification_loss(near_own, proxies) < 0.01
    assert channel_diversification_loss(swapped, proxies) > 5.0


def test_the_loops_one_loss_trains_the_labels_plus_the_diversity_losses():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(8, 3, 12, 12, generator=gen), torch.randint(0, NUM_CLASSES, (8,),
                                                                   generator=gen)
    torch.manual_seed(0)
    model = build_model("v5_diverse", num_classes=NUM_CLASSES, weight=0.7).train()
    looped = loop_gradients(model, x, y, RGB)
    torch.manual_seed(DRAWS_SEED)  # the same channel draws as the loop's step
    logits = super(DiverseChannelResNet, model).forward(x, RGB)
    (F.cross_entropy(logits, y) + 0.7 * model.diversity_loss(x, RGB)).backward()
    for name, param in model.named_parameters():
        torch.testing.assert_close(looped[name], param.grad, msg=name)
    assert looped["proxies"].abs().sum() > 0 and looped["conv1.shift"].abs().sum() > 0


def test_outside_training_it_is_v5_with_v5s_initial_weights():
    torch.manual_seed(0)
    v5 = build_model("v5", num_classes=NUM_CLASSES).eval()
    torch.manual_seed(0)
    diverse = build_model("v5_diverse", num_classes=NUM_CLASSES).eval()
    own = diverse.state_dict()
    assert set(own) - set(v5.state_dict()) == {"proxies"}
    for name, value in v5.state_dict().items():
        assert torch.equal(own[name], value), name
    x = torch.randn(4, 2, 12, 12)
    torch.testing.assert_close(diverse(x, parse_channels("RB")), v5(x, parse_channels("RB")))
    diverse.train()
    assert diverse.diversity_loss(x[:, :1], parse_channels("G")).item() == 0.0


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="channel embedding"):
        DiverseChannelResNet(ChannelEmbeddingStem(identity=False), num_classes=NUM_CLASSES)
    with pytest.raises(ConfigError, match="zero-filled"):
        DiverseChannelResNet(ChannelEmbeddingStem(missing="zero"), num_classes=NUM_CLASSES)
    with pytest.raises(ConfigError, match=">= 0"):
        build_model("v5_diverse", num_classes=NUM_CLASSES, weight=-1.0)


def test_it_is_a_v5_ablation():
    assert "v5-diverse" in V5_ABLATION
    assert EXPERIMENTS["v5-diverse"].model == "v5_diverse"
