"""Part II blocks: SE, SAGAN attention (fused == explicit), RRDBs."""

from __future__ import annotations

import copy

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

from dynconv.models.blocks import (
    RRDB,
    AttentionSE,
    DenseBlock,
    OriginalRRDB,
    SEBlock,
    SelfAttention,
    explicit_attention,
    fused_attention,
)


def test_se_block():
    torch.manual_seed(0)
    assert SEBlock(64).fc1.out_features == 4  # reduction 16
    assert SEBlock(8).fc1.out_features == 1  # at least one hidden unit
    se = SEBlock(16)
    assert se.fc1.bias is None and se.fc2.bias is None
    x = torch.rand(2, 16, 5, 6) + 0.1
    ratio = se(x) / x  # the per-channel gate, constant over space, in (0, 1)
    assert ratio.shape == (2, 16, 5, 6)
    assert torch.allclose(ratio, ratio[..., :1, :1].expand_as(ratio), atol=1e-6)
    assert ((ratio > 0) & (ratio < 1)).all()


def test_self_attention_starts_as_identity():
    torch.manual_seed(0)
    block = SelfAttention(16)
    assert block.query.out_channels == 2 and block.value.out_channels == 16  # C/8 and C
    x = torch.randn(2, 16, 5, 7)
    torch.testing.assert_close(block(x), x)  # gamma = 0


def test_fused_attention_function_equals_explicit():
    torch.manual_seed(0)
    q, k = torch.randn(2, 30, 4), torch.randn(2, 30, 4)  # d = C/8
    v = torch.randn(2, 30, 32)
    torch.testing.assert_close(
        fused_attention(q, k, v), explicit_attention(q, k, v), atol=1e-5, rtol=1e-5
    )


def test_fused_module_equals_explicit_values_and_grads():
    torch.manual_seed(0)
    fused = SelfAttention(16)
    fused.gamma.data.fill_(0.7)
    explicit = copy.deepcopy(fused)
    explicit.fused = False
    x1 = torch.randn(2, 16, 6, 7, requires_grad=True)
    x2 = x1.detach().clone().requires_grad_(True)
    out1, out2 = fused(x1), explicit(x2)
    torch.testing.assert_close(out1, out2, atol=1e-5, rtol=1e-5)
    weight = torch.randn_like(out1)
    (out1 * weight).sum().backward()
    (out2 * weight).sum().backward()
    torch.testing.assert_close(x1.grad, x2.grad, atol=1e-5, rtol=1e-5)
    for (name, p1), p2 in zip(fused.named_parameters(), explicit.parameters(), strict=True):
        torch.testing.assert_close(p1.grad, p2.grad, atol=1e-5, rtol=1e-4, msg=name)


class _LargestTensor(TorchDispatchMode):
    """Records the largest tensor any ATen op returns (forward and backward)."""

    def __init__(self) -> None:
        super().__init__()
        self.largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self.largest = max(self.largest, t.numel())
        return out


@pytest.mark.parametrize("fused", [True, False])
def test_fused_path_never_builds_the_attention_matrix(fused):
    torch.manual_seed(0)
    block = SelfAttention(16, fused=fused)
    block.gamma.data.fill_(0.5)
    x = torch.randn(1, 16, 20, 20, requires_grad=True)  # N = 400 positions, N^2 = 160,000
    with _LargestTensor() as mode:
        block(x).sum().backward()
    n = 20 * 20
    if fused:
        assert mode.largest < n * n // 10, mode.largest  # only O(N * C) tensors
    else:
        assert mode.largest >= n * n  # the explicit path materialises (B, N, N)


def test_attention_se_and_original_rrdb():
    torch.manual_seed(0)
    x = torch.randn(2, 16, 6, 5)
    assert AttentionSE(16)(x).shape == x.shape
    block = OriginalRRDB(16)
    assert block(x).shape == x.shape
    # Not dense: every conv sees only the previous conv's C channels.
    assert [c.in_channels for c in (block.conv1, block.conv2, block.conv3)] == [16, 16, 16]


def test_dense_block_and_rrdb():
    torch.manual_seed(0)
    block = DenseBlock(16, growth=8)
    ins = [getattr(block, f"conv{i}").in_channels for i in range(1, 6)]
    assert ins == [16, 24, 32, 40, 48]  # dense links: C + (i - 1) * growth
    assert block.conv5.out_channels == 16
    x = torch.randn(2, 16, 6, 5)
    assert block(x).shape == x.shape
    out = RRDB(16, growth=8)(x)
    assert out.shape == x.shape and torch.isfinite(out).all()


def test_se_gates_are_what_forward_multiplies_by():
    torch.manual_seed(0)
    se = SEBlock(16)
    x = torch.rand(3, 16, 4, 5) + 0.1
    gates = se.gates(x)  # (B, C)
    assert gates.shape == (3, 16)
    torch.testing.assert_close(se(x), x * gates[:, :, None, None])


def test_attention_weights_are_the_explicit_softmax_that_forward_applies():
    torch.manual_seed(0)
    block = SelfAttention(16)
    block.gamma.data.fill_(0.5)
    x = torch.randn(2, 16, 4, 6)
    weights = block.attention_weights(x)  # (B, HW, HW)
    assert weights.shape == (2, 24, 24)
    torch.testing.assert_close(weights.sum(-1), torch.ones(2, 24))
    v = block.value(x).flatten(2).transpose(1, 2)  # (B, HW, C)
    by_hand = (weights @ v).transpose(1, 2).reshape(2, 16, 4, 6)
    torch.testing.assert_close(block(x), 0.5 * by_hand + x, atol=1e-5, rtol=1e-5)
