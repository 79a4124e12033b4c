"""The built-in shapes dataset: format, colour design and byte-for-byte determinism."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

from dynconv import shapes
from dynconv.data import read_split_list
from dynconv.errors import ConfigError

SMALL = {"train_per_class": 2, "val_per_class": 1, "test_per_class": 1}


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes_other_seed_differs(tmp_path: Path) -> None:
    a = shapes.generate_shapes_dataset(tmp_path / "a", seed=3, **SMALL)
    b = shapes.generate_shapes_dataset(tmp_path / "b", seed=3, **SMALL)
    c = shapes.generate_shapes_dataset(tmp_path / "c", seed=4, **SMALL)
    ha, hb, hc = _hashes(a), _hashes(b), _hashes(c)
    assert len(ha) == 24 * 4 + 5  # images + three lists + classes.txt + generator.json
    assert ha == hb
    pngs = [k for k in ha if k.endswith(".png")]
    assert all(ha[k] != hc[k] for k in pngs)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folders


def test_list_format(tmp_path: Path) -> None:
    root = shapes.generate_shapes_dataset(tmp_path / "d", seed=0, **SMALL)
    assert b"\r" not in (root / "train.txt").read_bytes()
    train = read_split_list(root, "train")
    assert len(train) == 48 and len(read_split_list(root, "val")) == 24
    assert train[0].path == "images/red_circle/0000.png" and train[0].label == 0
    assert read_split_list(root, "test")[-1].path == "images/cyan_ring/0003.png"
    classes = (root / "classes.txt").read_text().splitlines()
    assert classes[0] == "0 red circle" and classes[23] == "23 cyan ring"
    assert len(set(shapes.BUILTIN_CLASS_NAMES)) == 24


@pytest.mark.parametrize("colour", list(shapes.COLOURS))
def test_shape_colour_follows_the_hi_lo_table(colour: str) -> None:
    for index in range(5):
        rng = np.random.default_rng((0, 99, index))
        image, mask = shapes.render_shape_image(rng, "square", colour)
        assert image.shape == (64, 64, 3) and image.dtype == np.uint8
        inside = image[mask > 0.99].astype(float)  # (P, 3) pixels fully covered by the shape
        median = np.median(inside, axis=0)
        for value, high in zip(median, shapes.COLOURS[colour], strict=True):
            assert (value > 130) if high else (value < 125), (colour, median)


def test_ensure_generates_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "TRAIN_PER_CLASS", 1)
    monkeypatch.setattr(shapes, "VAL_PER_CLASS", 1)
    monkeypatch.setattr(shapes, "TEST_PER_CLASS", 1)
    folder = shapes.ensure_builtin_dataset(tmp_path, seed=5, progress=False)
    assert folder == tmp_path / "builtin-shapes-seed5"
    stamp = (folder / "train.txt").stat().st_mtime_ns
    assert shapes.ensure_builtin_dataset(tmp_path, seed=5, progress=False) == folder
    assert (folder / "train.txt").stat().st_mtime_ns == stamp  # not regenerated

    monkeypatch.setattr(shapes, "GENERATOR_VERSION", shapes.GENERATOR_VERSION + 1)
    shapes.ensure_builtin_dataset(tmp_path, seed=5, progress=False)  # stale: replaced
    assert (
        f'"generator_version": {shapes.GENERATOR_VERSION}'
        in (folder / "generator.json").read_text()
    )
    assert [p.name for p in tmp_path.iterdir()] == ["builtin-shapes-seed5"]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="positive integer"):
        shapes.generate_shapes_dataset(tmp_path / "x", train_per_class=0)
    (tmp_path / "exists").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        shapes.generate_shapes_dataset(tmp_path / "exists")
    with pytest.raises(ConfigError, match="circle"):
        shapes.render_shape_image(np.random.default_rng(0), "hexagon", "red")
