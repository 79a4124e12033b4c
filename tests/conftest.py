"""Shared fixtures: an isolated cache folder and a tiny list-format dataset on disk."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (``make test`` runs ``-n auto``), the workers share the cores: each
    gets its share of torch threads instead of all of them, so two workers on two cores do not
    fight over four threads."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if "PYTEST_XDIST_WORKER" in os.environ and workers > 1:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // workers))


@pytest.fixture(autouse=True)
def _fresh_model_module_cache():
    """dynconv.experiments.runner caches which modules each model is built from; a test that swaps
    the
    models for stand-ins must not leave its answer to the next test."""
    from dynconv.experiments import runner as experiment

    experiment._model_modules.cache_clear()
    yield
    experiment._model_modules.cache_clear()


@pytest.fixture
def tmp_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Point ``DYNCONV_CACHE_DIR`` at an empty temporary folder for this test."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(cache))
    return cache


def _class_colour(label: int) -> tuple[int, int, int]:
    """A distinct, easily checked colour per class."""
    return ((40 + 60 * label) % 256, (200 - 50 * label) % 256, (90 + 30 * label) % 256)


@pytest.fixture
def tiny_list_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Factory writing a small dataset in the original list format; returns its folder.

    ``make(num_classes=2, per_split=(2, 1, 1), size=8, newline="\\n", name="tiny")`` writes
    ``images/c<label>/<split><n>.png`` (a flat colour per class, see ``_class_colour``) and
    ``train.txt``, ``val.txt``, ``test.txt`` with the given line ending.
    """

    def make(
        *,
        num_classes: int = 2,
        per_split: tuple[int, int, int] = (2, 1, 1),
        size: int = 8,
        newline: str = "\n",
        name: str = "tiny",
    ) -> Path:
        root = tmp_path / name
        for split, count in zip(("train", "val", "test"), per_split, strict=True):
            lines = []
            for label in range(num_classes):
                folder = root / "images" / f"c{label}"
                folder.mkdir(parents=True, exist_ok=True)
                for n in range(count):
                    rel = f"images/c{label}/{split}{n}.png"
                    pixels = np.full((size, size, 3), _class_colour(label), dtype=np.uint8)
                    Image.fromarray(pixels).save(root / rel)
                    lines.append(f"{rel} {label}")
            (root / f"{split}.txt").write_bytes("".join(f"{x}{newline}" for x in lines).encode())
        return root

    return make


@pytest.fixture
def class_colour() -> Callable[[int], tuple[int, int, int]]:
    """The flat colour ``tiny_list_dataset`` paints class ``label`` with."""
    return _class_colour


@pytest.fixture
def one_thread():
    """One torch thread for the test (restored afterwards): tiny models train several times
    faster on one thread than on 2 shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
