"""The list-format loader: parsing, validation, identity, decoding, caching, splits, loaders."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from dynconv.data import datasets as data
from dynconv.data import shapes
from dynconv.data.datasets import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    DataIdentity,
    data_identity,
    default_cache_dir,
    load_dataset,
    make_loader,
    read_split_list,
)
from dynconv.errors import ConfigError, DatasetError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL_LISTS = SHARED / "seed" / "mini-imagenet-lists"
MINI_SAMPLE = SHARED / "data" / "mini-imagenet-sample"

MakeDataset = Callable[..., Path]


def _load(root: Path, cache: Path, image_size: int = 8) -> data.DatasetBundle:
    return load_dataset(root, image_size=image_size, cache_dir=cache, progress=False)


def _set_lines(root: Path, split: str, lines: list[str], newline: str = "\n") -> None:
    (root / f"{split}.txt").write_bytes("".join(x + newline for x in lines).encode())


def _small_builtin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the built-in dataset tiny (24 classes x 2/1/1 images): generated in a second."""
    monkeypatch.setattr(shapes, "TRAIN_PER_CLASS", 2)
    monkeypatch.setattr(shapes, "VAL_PER_CLASS", 1)
    monkeypatch.setattr(shapes, "TEST_PER_CLASS", 1)


def _forbid_decoding(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to decode, open or generate an image fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("an image was opened, decoded or generated")

    monkeypatch.setattr(data, "_decode_image", refuse)
    monkeypatch.setattr(Image, "open", refuse)
    monkeypatch.setattr(shapes, "generate_shapes_dataset", refuse)
    monkeypatch.setattr(shapes, "render_shape_image", refuse)


def _rewrite_later(path: Path, rgb: tuple[int, int, int]) -> None:
    """Overwrite the image at ``path`` with a flat colour, as a later write would.

    The new modification time is set one second past the old one, so the test does not depend
    on the file system's timestamp resolution (two writes within one clock tick).
    """
    before = path.stat()
    with Image.open(path) as img:
        size = img.size
    Image.new("RGB", size, rgb).save(path)
    later = before.st_mtime_ns + 1_000_000_000
    os.utime(path, ns=(later, later))


def _count_decodes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    calls: list[Path] = []
    real = data._decode_image

    def counting(path: Path, image_size: int) -> np.ndarray:
        calls.append(path)
        return real(path, image_size)

    monkeypatch.setattr(data, "_decode_image", counting)
    return calls


# ----------------------------------------------------------------------------- good data


def test_red_lands_in_channel_zero(tmp_path: Path) -> None:
    root = tmp_path / "red"
    (root / "images").mkdir(parents=True)
    Image.new("RGB", (5, 7), (255, 0, 0)).save(root / "images" / "red.png")
    Image.new("RGB", (5, 7), (0, 0, 255)).save(root / "images" / "blue.png")
    for split in ("train", "val", "test"):
        _set_lines(root, split, ["images/red.png 0", "images/blue.png 1"])
    bundle = _load(root, tmp_path / "cache")
    red = bundle.train.images[0]  # (3, 8, 8)
    assert red.shape == (3, 8, 8)
    assert torch.all(red[0] == 255) and torch.all(red[1:] == 0)
    assert torch.all(bundle.train.images[1, 2] == 255)
    x, label = bundle.train[0]
    assert label == 0 and x.dtype == torch.float32
    expected = [(1 - IMAGENET_MEAN[0]) / IMAGENET_STD[0], -IMAGENET_MEAN[1] / IMAGENET_STD[1]]
    assert x[0, 0, 0].item() == pytest.approx(expected[0], abs=1e-5)
    assert x[1, 0, 0].item() == pytest.approx(expected[1], abs=1e-5)
    assert torch.allclose(bundle.train.denormalised(0)[0], torch.ones(8, 8))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_lf_and_crlf_lists(
    tmp_path: Path, tiny_list_dataset: MakeDataset, class_colour: Callable, newline: str
) -> None:
    root = tiny_list_dataset(newline=newline, num_classes=3)
    entries = read_split_list(root, "train")
    assert [(e.path, e.label, e.line) for e in entries[:2]] == [
        ("images/c0/train0.png", 0, 1),
        ("images/c0/train1.png", 0, 2),
    ]
    bundle = _load(root, tmp_path / "cache")
    assert bundle.num_classes == 3 and len(bundle.train) == 6 and len(bundle.val) == 3
    assert bundle.class_names == ["c0", "c1", "c2"]  # no classes.txt: image folder names
    assert bundle.train.images[4, :, 0, 0].tolist() == list(class_colour(2))
    assert bundle.name == "tiny"


def test_blank_lines_and_classes_file(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    root = tiny_list_dataset()
    text = (root / "train.txt").read_text()
    (root / "train.txt").write_text("\n" + text + "\n   \n\n")
    (root / "classes.txt").write_text("0 first class\n1 second\n")
    bundle = _load(root, tmp_path / "cache")
    assert len(bundle.train) == 4
    assert bundle.class_names == ["first class", "second"]


def _write_mode_image(path: Path, mode: str) -> tuple[int, int, int]:
    """Write a 4x4 image in ``mode``; return the RGB value it must decode to."""
    if mode == "L":
        Image.new("L", (4, 4), 77).save(path)
        return (77, 77, 77)
    if mode == "RGBA":
        Image.new("RGBA", (4, 4), (10, 200, 30, 90)).save(path)
        return (10, 200, 30)  # alpha dropped, colour kept
    if mode == "P":
        img = Image.new("P", (4, 4), 1)
        img.putpalette([0, 0, 0, 12, 34, 250] + [0] * 762)
        img.save(path)
        return (12, 34, 250)
    if mode == "P-transparent":
        img = Image.new("P", (4, 4), 1)
        img.putpalette([0, 0, 0, 250, 34, 12] + [0] * 762)
        img.save(path, transparency=0)
        return (250, 34, 12)
    if mode == "CMYK":
        Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(path, format="TIFF")
        return (255, 0, 0)
    if mode == "I;16":
        Image.fromarray(np.full((4, 4), 257 * 200, dtype=np.uint16)).save(path)
        return (200, 200, 200)
    raise AssertionError(mode)


@pytest.mark.parametrize("mode", ["L", "RGBA", "P", "P-transparent", "CMYK", "I;16"])
def test_image_modes_decode_to_rgb(tmp_path: Path, mode: str) -> None:
    path = tmp_path / "image.png"
    expected = _write_mode_image(path, mode)
    if mode == "I;16":
        with Image.open(path) as img:
            assert img.mode.startswith("I")  # really a 16-bit file, not silently 8-bit
    out = data._decode_image(path, 4)  # (4, 4, 3)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert out[0, 0].tolist() == list(expected)


def test_sixteen_bit_uses_full_range(tmp_path: Path) -> None:
    values = np.array([[0, 257, 65535, 32896]], dtype=np.uint16)  # (1, 4)
    Image.fromarray(values).save(tmp_path / "ramp.png")
    out = data._decode_image(tmp_path / "ramp.png", 4)  # resized to (4, 4, 3)
    raw = data._to_rgb(Image.open(tmp_path / "ramp.png"))
    assert np.asarray(raw)[0, :, 0].tolist() == [0, 1, 255, 128]
    assert out.shape == (4, 4, 3)


def test_mixed_modes_through_the_loader(tmp_path: Path) -> None:
    root = tmp_path / "modes"
    (root / "images").mkdir(parents=True)
    modes = ["L", "RGBA", "P", "CMYK", "I;16"]
    lines, expected = [], []
    for label, mode in enumerate(modes):
        name = f"images/{label}.{'tif' if mode == 'CMYK' else 'png'}"
        expected.append(_write_mode_image(root / name, mode))
        lines.append(f"{name} {label}")
    for split in ("train", "val", "test"):
        _set_lines(root, split, lines, newline="\r\n")
    bundle = _load(root, tmp_path / "cache")
    assert bundle.test.images.shape == (5, 3, 8, 8)
    assert [tuple(bundle.test.images[i, :, 0, 0].tolist()) for i in range(5)] == expected


# ----------------------------------------------------------------------------- bad data


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        _load(tmp_path / "nowhere", tmp_path / "cache")
    with pytest.raises(DatasetError, match="does not exist"):
        data_identity(tmp_path / "nowhere", image_size=8, cache_dir=tmp_path / "cache")


def test_missing_list_file(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    root = tiny_list_dataset()
    (root / "val.txt").unlink()
    with pytest.raises(DatasetError, match=r"val\.txt is missing"):
        _load(root, tmp_path / "cache")
    with pytest.raises(DatasetError, match=r"val\.txt is missing"):
        data_identity(root)


@pytest.mark.parametrize(
    ("line", "hint"),
    [
        ("images/c0/train0.png", "Expected '<relative path> <integer label>'"),
        ("images/c0/train0.png cat", "'cat' is not a non-negative integer"),
        ("images/c0/train0.png -1", "'-1' is not a non-negative integer"),
        ("images/c0/train0.png 1.0", "'1.0' is not a non-negative integer"),
    ],
)
def test_unparsable_line_names_file_and_line(
    tmp_path: Path, tiny_list_dataset: MakeDataset, line: str, hint: str
) -> None:
    root = tiny_list_dataset()
    _set_lines(root, "train", ["images/c0/train1.png 0", "", line, "images/c1/train0.png 1"])
    for attempt in (lambda: _load(root, tmp_path / "cache"), lambda: data_identity(root)):
        with pytest.raises(DatasetError) as info:
            attempt()
        message = str(info.value)
        assert "train.txt, line 3" in message and repr(line) in message and hint in message


@pytest.mark.parametrize(
    "path", ["../outside.png", "images/../../outside.png", "/etc/passwd", "C:\\x.png"]
)
def test_path_leaving_the_folder(tmp_path: Path, tiny_list_dataset: MakeDataset, path: str) -> None:
    root = tiny_list_dataset()
    _set_lines(root, "test", ["images/c0/test0.png 0", f"{path} 1"])
    with pytest.raises(DatasetError, match=r"test\.txt, line 2.*no absolute paths and no '\.\.'"):
        _load(root, tmp_path / "cache")


def test_missing_image_is_reported_before_decoding(
    tmp_path: Path, tiny_list_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tiny_list_dataset()
    (root / "images" / "c1" / "val0.png").unlink()
    calls = _count_decodes(monkeypatch)
    with pytest.raises(DatasetError) as info:
        _load(root, tmp_path / "cache")
    assert "1 image file(s)" in str(info.value)
    assert "val.txt line 2: images/c1/val0.png" in str(info.value)
    assert calls == []  # nothing decoded
    with pytest.raises(DatasetError, match="val.txt line 2: images/c1/val0.png"):
        data_identity(root)


def test_undecodable_image_names_the_file(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    root = tiny_list_dataset()
    (root / "images" / "c0" / "test0.png").write_bytes(b"this is not a png")
    with pytest.raises(DatasetError, match=r"Cannot decode image .*c0/test0\.png"):
        _load(root, tmp_path / "cache")
    assert not list((tmp_path / "cache").glob("decoded/*.pt"))  # nothing half-cached


def test_labels_must_be_contiguous(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    root = tiny_list_dataset(num_classes=3)
    for split in ("train", "val", "test"):
        text = (root / f"{split}.txt").read_text().replace(" 1\n", " 3\n")
        (root / f"{split}.txt").write_text(text)
    with pytest.raises(DatasetError, match="Missing labels: 1") as info:
        _load(root, tmp_path / "cache")
    assert "largest label is 3" in str(info.value)


def test_empty_split(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    root = tiny_list_dataset()
    (root / "val.txt").write_bytes(b"\r\n\r\n")
    with pytest.raises(DatasetError, match=r"Split 'val' is empty"):
        _load(root, tmp_path / "cache")


def test_bad_classes_file(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    root = tiny_list_dataset()
    (root / "classes.txt").write_text("0 only one\n")
    with pytest.raises(DatasetError, match=r"classes\.txt must name every label 0\.\.1"):
        _load(root, tmp_path / "cache")


# ----------------------------------------------------------------------------- cache


def test_cache_is_reused_then_rebuilt_when_stale(
    tmp_path: Path, tiny_list_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tiny_list_dataset()
    cache = tmp_path / "cache"
    calls = _count_decodes(monkeypatch)
    first = _load(root, cache)
    assert len(calls) == 8 and first.cache_path is not None and first.cache_path.is_file()

    calls.clear()
    second = _load(root, cache)
    assert calls == []  # every image came from the cache
    assert torch.equal(first.train.images, second.train.images)
    assert second.fingerprint == first.fingerprint

    calls.clear()
    _set_lines(root, "train", ["images/c1/train0.png 1", "images/c0/train0.png 0"])
    third = _load(root, cache)  # list changed: fingerprint differs, cache rebuilt
    assert len(calls) == 6 and third.fingerprint != first.fingerprint
    assert third.train.labels.tolist() == [1, 0]

    calls.clear()
    _load(root, cache, image_size=4)  # another size: its own cache file
    assert len(calls) == 6
    assert len(list(cache.glob("decoded/*.pt"))) == 2
    assert not list(cache.glob("decoded/*.tmp"))


def test_corrupt_cache_is_rebuilt(
    tmp_path: Path, tiny_list_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tiny_list_dataset()
    bundle = _load(root, tmp_path / "cache")
    assert bundle.cache_path is not None
    bundle.cache_path.write_bytes(b"garbage")
    calls = _count_decodes(monkeypatch)
    with pytest.warns(UserWarning, match="Rebuilding"):
        again = _load(root, tmp_path / "cache")
    assert len(calls) == 8 and torch.equal(again.train.images, bundle.train.images)


def test_builtin_generator_version_bump_regenerates_and_rebuilds_the_cache(
    tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_builtin(monkeypatch)
    old_identity = data_identity(None, image_size=16)
    old = load_dataset(None, image_size=16, progress=False)
    assert old.fingerprint == old_identity.fingerprint and old.cache_path is not None
    assert old.identity == old_identity

    # A new generator: its version is bumped and it draws other pixels (here: inverted ones).
    real_render = shapes.render_shape_image

    def new_render(rng: np.random.Generator, shape: str, colour: str) -> tuple:
        image, mask = real_render(rng, shape, colour)
        return 255 - image, mask

    monkeypatch.setattr(shapes, "render_shape_image", new_render)
    monkeypatch.setattr(shapes, "GENERATOR_VERSION", shapes.GENERATOR_VERSION + 1)
    new_identity = data_identity(None, image_size=16)
    assert new_identity.fingerprint != old_identity.fingerprint
    assert new_identity.root == old_identity.root == tmp_cache / "builtin-shapes-seed0"

    calls = _count_decodes(monkeypatch)
    new = load_dataset(None, image_size=16, progress=False)
    assert new.fingerprint == new_identity.fingerprint
    assert len(calls) == 24 * 4  # the folder was regenerated and every image decoded again
    assert new.cache_path == old.cache_path
    stored = torch.load(new.cache_path, map_location="cpu", weights_only=True)
    assert stored["fingerprint"] == new_identity.fingerprint  # cache rewritten
    # The new pixels, not the cached old ones (inversion commutes with bilinear resizing up
    # to rounding, so allow one grey level).
    assert not torch.equal(new.train.images, old.train.images)
    diff = new.train.images.int() - (255 - old.train.images.int())
    assert diff.abs().max() <= 1


def test_rewritten_image_changes_the_fingerprint_and_the_pixels(
    tmp_path: Path, tiny_list_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tiny_list_dataset()
    cache = tmp_path / "cache"
    first = _load(root, cache)
    assert first.test.images[0, :, 0, 0].tolist() != [1, 2, 3]

    _rewrite_later(root / "images" / "c0" / "test0.png", (1, 2, 3))  # list files untouched
    identity = data_identity(root, image_size=8, cache_dir=cache)
    assert identity.fingerprint != first.fingerprint

    calls = _count_decodes(monkeypatch)
    second = _load(root, cache)
    assert len(calls) == 8  # the stale cache was not used
    assert second.fingerprint == identity.fingerprint
    assert second.test.images[0, :, 0, 0].tolist() == [1, 2, 3]
    assert torch.equal(second.train.images, first.train.images)  # the rest is unchanged


def test_the_fingerprint_follows_contents_not_times(
    tmp_path: Path, tiny_list_dataset: MakeDataset
) -> None:
    """A copy without its times (CI's copy of the photos, ``cp`` without ``-p``) or a ``touch``
    keeps the fingerprint; a changed image of the very same size and time changes it."""
    root = tiny_list_dataset()
    before = data_identity(root, image_size=8).fingerprint
    assert data_identity(root, image_size=8).fingerprint == before  # stable
    image = root / "images" / "c1" / "train1.png"
    stamp = image.stat()
    later = stamp.st_mtime_ns + 5_000_000_000
    os.utime(image, ns=(later, later))  # same bytes, newer modification time
    assert data_identity(root, image_size=8).fingerprint == before
    copy = tmp_path / "copy" / root.name
    shutil.copytree(root, copy)  # copy2 keeps times: reset them all to now, as cp would
    for path in copy.rglob("*"):
        os.utime(path)
    assert data_identity(copy, image_size=8).fingerprint == before
    flipped = bytearray(image.read_bytes())
    flipped[-1] ^= 0xFF  # same size; and the old modification time put back
    image.write_bytes(bytes(flipped))
    os.utime(image, ns=(later, later))
    data._DIGESTS.clear()  # a new process: an unchanged (size, time) is not re-read within one
    assert data_identity(root, image_size=8).fingerprint != before
    assert len({data_identity(copy, image_size=n).fingerprint for n in (8, 16)}) == 2


def test_data_identity_decodes_nothing(
    tmp_path: Path, tiny_list_dataset: MakeDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tiny_list_dataset()
    _forbid_decoding(monkeypatch)
    cache = tmp_path / "cache"

    builtin = data_identity(None, image_size=32, cache_dir=cache)
    assert builtin.name == "builtin-shapes" and builtin.image_size == 32
    assert builtin.root == cache / "builtin-shapes-seed0"
    assert len(builtin.fingerprint) == 64
    assert not cache.exists()  # the built-in dataset was not generated (nor anything else)

    folder = data_identity(root, image_size=8, cache_dir=cache)
    assert folder == DataIdentity("tiny", root, 8, folder.fingerprint)
    assert len(folder.fingerprint) == 64
    assert not cache.exists()


@pytest.mark.parametrize("kind", ["builtin", "folder"])
def test_identity_is_what_load_dataset_uses(
    kind: str,
    tmp_cache: Path,
    tiny_list_dataset: MakeDataset,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _small_builtin(monkeypatch)
    data_dir = None if kind == "builtin" else tiny_list_dataset()
    identity = data_identity(data_dir, image_size=8)
    bundle = load_dataset(data_dir, image_size=8, progress=False)
    assert bundle.fingerprint == identity.fingerprint
    assert bundle.identity == identity
    assert data_identity(data_dir, image_size=8) == identity  # loading did not change it
    assert bundle.cache_path is not None
    stored = torch.load(bundle.cache_path, map_location="cpu", weights_only=True)
    assert stored["fingerprint"] == identity.fingerprint


def test_bad_sizes_raise_config_error(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    root = tiny_list_dataset()
    for size in (0, -3, 2.5, True):
        with pytest.raises(ConfigError, match="image_size must be an integer >= 1"):
            data_identity(root, image_size=size)  # type: ignore[arg-type]
        with pytest.raises(ConfigError, match="image_size must be an integer >= 1"):
            _load(root, tmp_path / "cache", image_size=size)  # type: ignore[arg-type]
    train = _load(root, tmp_path / "cache").train
    with pytest.raises(ConfigError, match="batch_size must be an integer >= 1"):
        make_loader(train, batch_size=0, shuffle=False)
    with pytest.raises(ConfigError, match="n must be an integer >= 1"):
        train.subset_per_class(0)


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DYNCONV_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "dynconv"


# ----------------------------------------------------------------------------- splits, loaders


def test_subset_per_class_and_loader(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    root = tiny_list_dataset(num_classes=3, per_split=(5, 1, 1))
    train = _load(root, tmp_path / "cache").train
    small = train.subset_per_class(2, seed=1)
    assert small.class_counts() == {0: 2, 1: 2, 2: 2}
    again = train.subset_per_class(2, seed=1)
    assert torch.equal(small.images, again.images) and torch.equal(small.labels, again.labels)
    assert small.labels.tolist() == sorted(small.labels.tolist())  # original order kept
    assert train.subset_per_class(100, seed=0).class_counts() == {0: 5, 1: 5, 2: 5}

    def order(seed: int) -> list[int]:
        loader = make_loader(train, batch_size=4, shuffle=True, seed=seed)
        return [int(v) for _, y in loader for v in y]

    assert order(3) == order(3)
    xb, yb = next(iter(make_loader(train, batch_size=4, shuffle=False)))
    assert xb.shape == (4, 3, 8, 8) and xb.dtype == torch.float32 and yb.dtype == torch.int64


class _PerItem(torch.utils.data.Dataset):
    """An ImageSplit read one image at a time (no __getitems__): the loader's old path."""

    def __init__(self, split: data.ImageSplit) -> None:
        self.split = split

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, index: int):
        return self.split[index]


def _random_split(n: int = 70, size: int = 16) -> data.ImageSplit:
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    return data.ImageSplit(images, torch.arange(n) % 5, name="train")


@pytest.mark.parametrize("num_workers", [0, 2])
def test_batches_are_bit_identical_to_the_per_item_path(num_workers: int) -> None:
    """ImageSplit.__getitems__ gives, batch by batch, exactly the old per-image values and
    order (default_collate over __getitem__, the same seeded shuffling), with or without
    worker processes; a subclass with its own __getitem__ keeps it."""
    split = _random_split()
    for seed in (0, 7):
        old = torch.utils.data.DataLoader(_PerItem(split), batch_size=16, shuffle=True,
                                          generator=torch.Generator().manual_seed(seed))
        new = make_loader(split, batch_size=16, shuffle=True, seed=seed,
                          num_workers=num_workers)
        pairs = list(zip(old, new, strict=True))
        assert len(pairs) == 5  # 70 images: 4 full batches and one of 6
        for (x_old, y_old), (x_new, y_new) in pairs:
            assert x_new.dtype == torch.float32 and y_new.dtype == torch.int64
            assert torch.equal(x_new, x_old) and torch.equal(y_new, y_old)  # bit for bit
    batch = split.__getitems__([3, 1, 4])
    assert isinstance(batch, data.Batch) and data.collate_batch(batch) is batch
    assert batch.x.shape == (3, 3, 16, 16) and batch.y.tolist() == [3, 1, 4]

    class Flipped(data.ImageSplit):
        def __getitem__(self, index: int):
            x, y = super().__getitem__(index)
            return x.flip(-1), y

    flipped = Flipped(split.images, split.labels)
    x, _ = next(iter(make_loader(flipped, batch_size=4, shuffle=False)))
    assert torch.equal(x[0], split[0][0].flip(-1))  # its __getitem__, collated as usual


def test_make_loader_takes_a_sampler_workers_and_pinning() -> None:
    split = _random_split(n=10)
    loader = make_loader(split, batch_size=3, shuffle=False, sampler=range(1, 10, 2))
    assert [y.tolist() for _, y in loader] == [[1, 3, 0], [2, 4]]  # labels are index % 5
    with pytest.raises(ConfigError, match="shuffle=False with a sampler"):
        make_loader(split, batch_size=3, shuffle=True, sampler=range(10))
    with pytest.raises(ConfigError, match="num_workers must be an integer >= 0"):
        make_loader(split, batch_size=3, shuffle=False, num_workers=-1)
    loader = make_loader(split, batch_size=3, shuffle=False, num_workers=2, pin_memory=False)
    assert (loader.num_workers, loader.pin_memory, loader.persistent_workers) == (2, False, False)


def test_describe(tmp_path: Path, tiny_list_dataset: MakeDataset) -> None:
    bundle = _load(tiny_list_dataset(), tmp_path / "cache")
    info = bundle.describe()
    assert info["name"] == "tiny" and info["image_size"] == 8 and info["num_classes"] == 2
    assert info["split_sizes"] == {"train": 4, "val": 2, "test": 2}
    assert len(info["fingerprint"]) == 64
    assert "tiny: 2 classes" in str(bundle)


def test_builtin_dataset_through_the_same_loader(
    tmp_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _small_builtin(monkeypatch)
    bundle = load_dataset(None, image_size=16, progress=False)
    assert bundle.name == "builtin-shapes" and bundle.num_classes == 24
    assert bundle.root == tmp_cache / "builtin-shapes-seed0"
    assert bundle.class_names[:2] == ["red circle", "yellow circle"]
    assert bundle.describe()["split_sizes"] == {"train": 48, "val": 24, "test": 24}


# ----------------------------------------------------------------------------- real files


@pytest.mark.skipif(not REAL_LISTS.is_dir(), reason=f"original list files not found: {REAL_LISTS}")
def test_original_list_files_parse() -> None:
    lists = {s: read_split_list(REAL_LISTS, s) for s in ("train", "val", "test")}
    assert [len(lists[s]) for s in ("train", "val", "test")] == [63_325, 450, 450]
    for entries in lists.values():
        assert {e.label for e in entries} == set(range(50))
    assert lists["train"][0].path.startswith("images/n")


@pytest.mark.skipif(
    not MINI_SAMPLE.is_dir(),
    reason=f"mini-ImageNet sample not found at {MINI_SAMPLE} (only in the authors' workspace)",
)
def test_real_photos(tmp_path: Path) -> None:
    bundle = load_dataset(MINI_SAMPLE, image_size=32, cache_dir=tmp_path, progress=False)
    assert bundle.name == "mini-imagenet-sample" and bundle.num_classes == 10
    assert [len(bundle.train), len(bundle.val), len(bundle.test)] == [480, 60, 60]
    assert bundle.class_names[0].startswith("n02089867")
    assert bundle.train.images.shape[1:] == (3, 32, 32)
    assert bundle.train.images.float().std() > 20  # real pixels, not a flat fill
