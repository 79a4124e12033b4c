"""Small measurements the chapters show about a layer, each one a tested function.

A chapter cell calls one of these and shows what it returns; the computation is here, tested
in ``tests/test_demos.py``, not in the notebook. None of them trains or reads a record: they
build an untrained layer (seeded, so a page shows the same numbers at every build) and run it
on a few test images.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import Tensor

from dynconv.channels import ALL_SUBSETS, RGB, apply_subset, parse_channels
from dynconv.data.datasets import load_dataset
from dynconv.errors import DatasetError
from dynconv.models.zoo import build_model
from dynconv.stems.original_v3 import (
    OriginalV3DynamicConv,
    identity_kernel_slices,
    original_hidden_width,
    original_kernel_slices,
    softmax_entropy_at_temperature,
)

__all__ = ["channel_order", "empty_folder_error", "grouped_vs_loop", "original_v3_facts",
           "original_v3_repeat", "subset_shapes", "temperature_table"]


def grouped_vs_loop(images: Tensor, num_classes: int, *, seed: int = 0) -> str:
    """v1's batched per-image convolution against the plain loop, one image at a time
    (chapter 3): the output shape and the largest difference between the two."""
    torch.manual_seed(seed)
    stem = build_model("v1", num_classes=num_classes).eval().conv1
    x = apply_subset(images, RGB, "drop")
    with torch.no_grad():
        fast = stem(x, RGB)  # (B, 64, H, W): one grouped convolution
        loop = stem.reference_forward(x, RGB)  # the same, one convolution per image
    gap = (fast - loop).abs().max().item()
    return f"output {tuple(fast.shape)} | max |grouped - loop| = {gap:.2e}"


def original_v3_repeat(images: Tensor, trained: Mapping[str, Any], *, seed: int = 0
                       ) -> pd.DataFrame:
    """The original's v3 layer called twice on the same images, beside this book's trained v3
    (its record's ``same_input_twice``, :func:`dynconv.experiments.inspection.v3_routing`), and the
    trainable parameters of the original's attention (chapter 5)."""
    torch.manual_seed(seed)
    buggy = OriginalV3DynamicConv()
    x = apply_subset(images, RGB, "drop")
    with torch.no_grad():
        twice = (buggy(x, RGB) - buggy(x, RGB)).abs().max().item()
    attention = sum(p.numel() for p in buggy.parameters()) - buggy.bank.numel()
    return pd.DataFrame.from_dict({
        "original layer: max difference, same input twice": f"{twice:.3g}",
        "this book's trained layer: max difference, same input twice":
            f"{float(trained['same_input_twice']):.3g}",
        "trainable parameters in the original's attention": f"{attention:,}",
    }, orient="index", columns=["value"])


def channel_order() -> pd.DataFrame:
    """A pure red image as this book decodes it (PIL: R, G, B) and as the original's
    ``cv2.imread`` returns it (B, G, R): the mean of each channel index (chapter 11)."""
    red = np.asarray(Image.new("RGB", (8, 8), (255, 0, 0)))  # (8, 8, 3), as PIL decodes
    opencv = red[..., ::-1]  # what cv2.imread returns for the same file
    rows = {"this book (PIL)": red, "the original (cv2.imread)": opencv}
    table = pd.DataFrame({name: image.mean(axis=(0, 1)) for name, image in rows.items()},
                         index=["channel 0", "channel 1", "channel 2"]).T
    table["channel 0, called 'R', is"] = ["red", "blue"]
    return table


def temperature_table(temperatures: tuple[float, ...] = (34.0, 1.0), *, seed: int = 0
                      ) -> pd.DataFrame:
    """What the original v3's temperature does to its routing softmax (chapter 11): the
    largest weight the most one-sided logits in [-1, 1] can get (uniform: 1/K), and the mean
    entropy of random logits over log K (1 = uniform)."""
    extreme = torch.tensor([1.0, -1.0, -1.0, -1.0])  # the most one-sided logits in [-1, 1]
    logits = torch.randn(1000, 4, generator=torch.Generator().manual_seed(seed))
    rows = {f"T = {t:g}": {
        "largest weight": torch.softmax(extreme / t, dim=0).max().item(),
        "uniform weight": 1 / len(extreme),
        "entropy / log K (random logits)": softmax_entropy_at_temperature(logits, t)
        .mean().item()} for t in temperatures}
    return pd.DataFrame.from_dict(rows, orient="index")


def original_v3_facts() -> str:
    """The original v3's hidden width and the kernel slices it uses for GB, against this
    book's identity slices (chapter 11)."""
    gb = parse_channels("GB")
    return (f"original hidden width: {original_hidden_width()}; GB uses kernel slices "
            f"{original_kernel_slices(gb)} in the original, {identity_kernel_slices(gb)} here")


def empty_folder_error(image_size: int) -> str:
    """The named error :func:`dynconv.data.datasets.load_dataset` gives for a folder with no list
    files (chapter 1)."""
    with tempfile.TemporaryDirectory() as empty:
        try:
            load_dataset(empty, image_size=image_size)
        except DatasetError as err:
            return f"DatasetError: {err}"
    raise AssertionError("an empty folder was accepted as a dataset")


def subset_shapes(images: Tensor, subset: str = "gr") -> pd.DataFrame:
    """The shape a batch takes for one subset (any order and case of letters) in each input
    mode of :func:`dynconv.channels.apply_subset` (chapter 1)."""
    chosen = parse_channels(subset)
    rows = {"the batch": tuple(images.shape)}
    rows.update({f"{chosen.name} as {mode!r}": tuple(apply_subset(images, chosen, mode).shape)
                 for mode in ("drop", "zero")})
    table = pd.DataFrame({"shape": pd.Series(rows)})
    table.attrs["subsets"] = ", ".join(s.name for s in ALL_SUBSETS)
    return table
