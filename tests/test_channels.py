"""Channel subsets: parsing names and indices, and the drop / zero input modes."""

from __future__ import annotations

import pytest
import torch

from dynconv.channels import (
    ALL_SUBSETS,
    RGB,
    ChannelSubset,
    apply_subset,
    parse_channels,
)
from dynconv.errors import ChannelSubsetError, ConfigError


def test_all_subsets_order_and_names() -> None:
    assert [s.name for s in ALL_SUBSETS] == ["RGB", "RG", "RB", "GB", "R", "G", "B"]
    assert [s.size for s in ALL_SUBSETS] == [3, 2, 2, 2, 1, 1, 1]
    assert RGB.indices == (0, 1, 2) and str(RGB) == "RGB"


@pytest.mark.parametrize(
    ("spec", "name"),
    [
        ("RGB", "RGB"),
        ("rgb", "RGB"),
        ("BGR", "RGB"),
        ("gr", "RG"),
        ("Rb", "RB"),
        ("bg", "GB"),
        (" g ", "G"),
        ("b", "B"),
        ([0, 2], "RB"),
        ((2, 1), "GB"),
        ([1], "G"),
        (range(3), "RGB"),
        (ChannelSubset((0,)), "R"),
    ],
)
def test_parse_valid(spec: object, name: str) -> None:
    subset = parse_channels(spec)  # type: ignore[arg-type]
    assert subset.name == name
    assert list(subset.indices) == sorted(subset.indices)


def test_parse_is_canonical() -> None:
    assert parse_channels("GR") == parse_channels([0, 1]) == ALL_SUBSETS[1]


@pytest.mark.parametrize(
    "spec", ["", "RGBA", "X", "RR", "red", [], [3], [-1], [0, 0], [0.0], [True], 5, None]
)
def test_parse_invalid_lists_valid_names(spec: object) -> None:
    with pytest.raises(ChannelSubsetError) as info:
        parse_channels(spec)  # type: ignore[arg-type]
    assert "RGB, RG, RB, GB, R, G, B" in str(info.value)


def test_constructor_requires_canonical_indices() -> None:
    with pytest.raises(ChannelSubsetError, match="parse_channels"):
        ChannelSubset((2, 0))


def test_drop_keeps_present_channels_in_index_order() -> None:
    x = torch.arange(2 * 3 * 2 * 2, dtype=torch.float32).view(2, 3, 2, 2)  # (B, 3, H, W)
    out = apply_subset(x, "BR", "drop")
    assert out.shape == (2, 2, 2, 2)
    assert torch.equal(out[:, 0], x[:, 0]) and torch.equal(out[:, 1], x[:, 2])
    assert apply_subset(x, [1], "drop").shape == (2, 1, 2, 2)


def test_zero_fills_absent_channels() -> None:
    x = torch.randn(2, 3, 4, 5)
    out = apply_subset(x, "G", "zero")
    assert out.shape == x.shape
    assert torch.equal(out[:, 1], x[:, 1])
    assert torch.count_nonzero(out[:, [0, 2]]) == 0


def test_rgb_is_returned_unchanged() -> None:
    x = torch.randn(1, 3, 4, 4)
    assert apply_subset(x, "RGB", "drop") is x
    assert apply_subset(x, RGB, "zero") is x


def test_single_image_without_batch_axis() -> None:
    assert apply_subset(torch.randn(3, 4, 4), "RG", "drop").shape == (2, 4, 4)


def test_bad_mode_and_bad_shape() -> None:
    with pytest.raises(ConfigError, match="drop, zero"):
        apply_subset(torch.randn(1, 3, 2, 2), "R", "mask")  # type: ignore[arg-type]
    with pytest.raises(ChannelSubsetError, match=r"\(B, 3, H, W\)"):
        apply_subset(torch.randn(1, 2, 2, 2), "R", "drop")
