"""The built-in shapes dataset: format, colour design and byte-for-byte determinism."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dynconv.data import shapes
from dynconv.data.datasets import read_split_list
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


def test_sizes_give_honest_test_intervals() -> None:
    assert shapes.GENERATOR_VERSION >= 2  # 2: 100 test images per class
    assert (shapes.TRAIN_PER_CLASS, shapes.VAL_PER_CLASS) == (200, 40)
    assert shapes.TEST_PER_CLASS >= 100
    n = len(shapes.BUILTIN_CLASS_NAMES) * shapes.TEST_PER_CLASS
    assert (0.25 / n) ** 0.5 < 0.0105  # the binomial standard error is at most about 1 point
    assert shapes.builtin_counts() == {"train": 200, "val": 40, "test": shapes.TEST_PER_CLASS}


def test_generator_json_records_the_spec(tmp_path: Path) -> None:
    root = shapes.generate_shapes_dataset(tmp_path / "d", seed=7, **SMALL)
    info = json.loads((root / "generator.json").read_text())
    spec = shapes.generator_spec(7, {"train": 2, "val": 1, "test": 1})
    assert info == spec
    assert info["generator_version"] == shapes.GENERATOR_VERSION and info["seed"] == 7
    assert json.loads(json.dumps(spec)) == spec  # JSON-plain: compares equal after a round trip


def test_folder_of_another_generator_is_regenerated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shapes, "TRAIN_PER_CLASS", 1)
    monkeypatch.setattr(shapes, "VAL_PER_CLASS", 1)
    monkeypatch.setattr(shapes, "TEST_PER_CLASS", 1)
    folder = shapes.ensure_builtin_dataset(tmp_path, seed=0, progress=False)
    counts = {"train": 1, "val": 1, "test": 1}
    # What generator version 1 wrote: regenerated although seed and counts match.
    old = {"generator_version": 1, "seed": 0, "per_class": counts}
    (folder / "generator.json").write_text(json.dumps(old))
    assert shapes.ensure_builtin_dataset(tmp_path, seed=0, progress=False) == folder
    assert json.loads((folder / "generator.json").read_text()) == shapes.generator_spec(0, counts)

    # A drawing constant that changes pixels changes the spec, so the folder is rebuilt too.
    png = folder / "images" / "red_circle" / "0000.png"
    before = png.read_bytes()
    monkeypatch.setattr(shapes, "_NOISE_STD", 0.0)
    shapes.ensure_builtin_dataset(tmp_path, seed=0, progress=False)
    assert png.read_bytes() != before
    assert json.loads((folder / "generator.json").read_text())["noise_std"] == 0.0
    assert [p.name for p in tmp_path.iterdir()] == ["builtin-shapes-seed0"]


def test_builtin_dataset_dir_creates_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert shapes.builtin_dataset_dir(tmp_path / "c", seed=3) == (
        tmp_path / "c" / "builtin-shapes-seed3"
    )
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(tmp_path / "env"))
    assert shapes.builtin_dataset_dir() == tmp_path / "env" / "builtin-shapes-seed0"
    assert not list(tmp_path.iterdir())


@pytest.mark.processes
def test_shapes_does_not_import_data() -> None:
    """No import cycle: ``dynconv.data.shapes`` (and what it imports) never loads
    ``dynconv.data.datasets``.

    The package's ``__init__`` imports ``dynconv.data.datasets`` for its public API, so the
    subprocess
    registers a bare ``dynconv`` package (same folder, no ``__init__`` code) before importing
    ``dynconv.data.shapes``: what is then loaded is what shapes itself pulls in.
    """
    package_dir = str(Path(shapes.__file__).resolve().parent)
    code = (
        "import sys, types\n"
        "package = types.ModuleType('dynconv')\n"
        f"package.__path__ = [{package_dir!r}]\n"
        "sys.modules['dynconv'] = package\n"
        "import dynconv.data.shapes\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('dynconv'))\n"
        "assert 'dynconv.data.shapes' in loaded, loaded\n"
        "assert 'dynconv.data.datasets' not in loaded, loaded\n"
        "print(' '.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "dynconv.paths" in done.stdout.split()


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="train_per_class must be an integer >= 1"):
        shapes.generate_shapes_dataset(tmp_path / "x", train_per_class=0)
    with pytest.raises(ConfigError, match="test_per_class must be an integer >= 1"):
        shapes.generate_shapes_dataset(tmp_path / "x", test_per_class=True)  # type: ignore[arg-type]
    assert not (tmp_path / "x").exists()
    (tmp_path / "exists").mkdir()
    with pytest.raises(ConfigError, match="already exists"):
        shapes.generate_shapes_dataset(tmp_path / "exists")
    with pytest.raises(ConfigError, match="circle"):
        shapes.render_shape_image(np.random.default_rng(0), "hexagon", "red")
