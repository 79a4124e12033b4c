"""Loading an image-classification dataset in the original study's list format.

A dataset is a folder with three list files, ``train.txt``, ``val.txt`` and ``test.txt`` (LF or
CRLF line endings), one image per line::

    images/n01440764/n01440764_10026.JPEG 0

i.e. ``<path relative to the folder> <integer label>``. An optional ``classes.txt`` (``<label>
<name>`` per line) gives class names. :func:`load_dataset` reads such a folder in four steps:

1. **Validate everything before decoding anything** (:class:`~dynconv.errors.DatasetError`
   with the file, line and a fix): missing folder or list file, unparsable lines, paths that
   leave the folder (absolute or ``..``), labels that are not exactly ``0..C-1``, empty splits,
   missing images. Blank lines are ignored; nothing else is skipped.
2. **Decode once** with PIL: every image is converted explicitly to RGB (greyscale, palette,
   RGBA, CMYK and 16-bit greyscale all accepted; 16-bit values are scaled to 8 bit, not
   clipped) and resized to ``image_size`` x ``image_size`` with PIL's bilinear filter, which
   antialiases when it shrinks.
3. **Cache** the decoded ``uint8`` tensors ``(N, 3, H, W)`` and labels in one file per dataset
   folder and image size (``torch.save``, written atomically, loaded with
   ``weights_only=True``), so no epoch and no later session decodes a JPEG again. The file
   stores the dataset's fingerprint (below); a mismatch or a damaged file triggers a rebuild.
4. **Normalise on the fly**: :class:`ImageSplit` returns float images normalised with the
   ImageNet mean and std, channels in R, G, B order, a whole batch per call
   (``ImageSplit.__getitems__``, which :class:`torch.utils.data.DataLoader` calls when a
   dataset has it): one indexing operation per batch instead of one Python call per image,
   about 3 times the images per second at 16 px. A loader over an ``ImageSplit`` needs
   :func:`collate_batch` (:func:`make_loader` sets it).

Two processes may load the same dataset at once (two runs on two GPUs, the ranks of a
``torchrun`` job): the built-in folder is generated and each cache file decoded by one of them
under a file lock (:func:`dynconv.fileio.file_lock`) while the other waits, then reads it.

``load_dataset(None)`` loads the built-in shapes dataset (:mod:`dynconv.data.shapes`), which is
generated once into the cache in the same list format and read by this same code.

**Identity and fingerprint.** :func:`data_identity` returns a dataset's name, folder, image
size and fingerprint *without decoding or loading any image* (milliseconds for the built-in
data, one read of each image's bytes for a folder), so a stored results record can be checked
against the data on disk cheaply. The fingerprint is a sha256 over everything that determines
the decoded pixels, and :func:`load_dataset` uses exactly the same one
(``bundle.fingerprint == data_identity(...).fingerprint``; ``bundle.identity``), for the decode
cache and for results records alike:

* always :data:`LOADER_VERSION` (bump it when decoding changes) and ``image_size``;
* the built-in data: :func:`dynconv.data.shapes.generator_spec` (generator version, seed, images
  per class and split, drawing constants). Nothing is generated or opened to compute it; a
  new generator version changes the fingerprint, regenerates the folder and rebuilds the
  cache;
* a folder: the bytes of ``train.txt``, ``val.txt`` and ``test.txt``, and for every listed
  image its path, size and the sha256 of its bytes. The contents, not the modification time:
  a copy of the folder (``cp`` without ``-p``, a fresh checkout, CI's copy of the photos) keeps
  its fingerprint, and a changed image changes it however its time was set. Hashing is cheap
  next to decoding (the 5,000 photos of mini-ImageNet-objects: well under a second; the 60,000
  images of mini-ImageNet: seconds, disk permitting), and within one process an image whose
  size and modification time have not changed is not read twice. ``classes.txt`` is not part
  of it (names do not change pixels).

The fingerprint does not include the Pillow version, so an upgrade that decodes or draws
differently is not detected; delete the cache file (``bundle.cache_path``) after one.

How this differs from the original study: the original read images with OpenCV, whose
channel order is B, G, R, and never swapped them, then normalised with the ImageNet *RGB* mean
and std; so its channel 0, which the report calls "R", was really blue. Here channel 0 is red.
It also resized twice (to 224 px into an ``.npz`` file, then to 84 px); here each image is
resized once, directly to ``image_size``. OpenCV also dropped the alpha channel of RGBA
images; so does this loader (no compositing onto a background).

Chapter: 01_data.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Literal, NamedTuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, Sampler, default_collate
from tqdm.auto import tqdm

from dynconv.data.shapes import (
    BUILTIN_NAME,
    builtin_dataset_dir,
    ensure_builtin_dataset,
    generator_spec,
)
from dynconv.errors import ConfigError, DatasetError, check_int
from dynconv.fileio import atomic_torch_save, file_lock
from dynconv.paths import default_cache_dir

__all__ = [
    "BUILTIN_NAME",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "LOADER_VERSION",
    "BUILTIN_SEED",
    "SPLITS",
    "Batch",
    "DataIdentity",
    "DatasetBundle",
    "ImageSplit",
    "ListEntry",
    "collate_batch",
    "data_identity",
    "default_cache_dir",
    "load_dataset",
    "make_loader",
    "read_split_list",
]

# ImageNet statistics in R, G, B order (the same constants the original study used).
IMAGENET_MEAN: tuple[float, float, float] = (0.485, 0.456, 0.406)
IMAGENET_STD: tuple[float, float, float] = (0.229, 0.224, 0.225)

# Part of the cache fingerprint: bump whenever decoding changes, so old caches are rebuilt.
LOADER_VERSION = "dynconv-loader-1"

BUILTIN_SEED = 0  # the built-in dataset's generator seed (load_dataset(None) uses this one)
SPLITS: tuple[str, str, str] = ("train", "val", "test")
Split = Literal["train", "val", "test"]

_MAX_SHOWN = 5  # how many offending entries an error message lists
# ImageSplit.__getitems__ normalises at most this many values per operation (PyTorch's
# at::internal::GRAIN_SIZE: smaller element-wise operations run on one thread).
_SERIAL_ELEMENTS = 32768


@dataclass(frozen=True)
class ListEntry:
    """One line of a list file: image path (as written, relative), label, 1-based line number."""

    path: str
    label: int
    line: int


@dataclass(frozen=True)
class DataIdentity:
    """What a dataset is, known without decoding any image (see :func:`data_identity`).

    Attributes:
        name: ``"builtin-shapes"`` or the dataset folder's name.
        root: the folder that holds ``train.txt`` etc. (for the built-in data: where it is or
            will be generated).
        image_size: the size images are resized to.
        fingerprint: sha256 hex digest of everything that determines the decoded pixels.
    """

    name: str
    root: Path
    image_size: int
    fingerprint: str


# ----------------------------------------------------------------------------- list files


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ConfigError(f"split must be one of {', '.join(SPLITS)}; got {split!r}.")


def _leaves_folder(path: str) -> bool:
    """True for absolute paths (POSIX or Windows) and paths with a ``..`` component."""
    posix, windows = PurePosixPath(path), PureWindowsPath(path)
    return (
        posix.is_absolute()
        or windows.is_absolute()
        or bool(windows.drive)
        or path.startswith(("\\", "/"))
        or ".." in posix.parts
        or ".." in windows.parts
    )


def _list_bytes(data_dir: Path, split: str) -> bytes:
    if not data_dir.is_dir():
        raise DatasetError(
            f"Dataset folder {data_dir} does not exist (or is not a folder). Pass the folder "
            f"that contains train.txt, val.txt and test.txt, or None for the built-in dataset."
        )
    list_file = data_dir / f"{split}.txt"
    if not list_file.is_file():
        raise DatasetError(
            f"List file {list_file} is missing. A dataset folder needs train.txt, val.txt and "
            f"test.txt, each with one '<relative path> <label>' line per image."
        )
    return list_file.read_bytes()


def read_split_list(data_dir: str | Path, split: Split) -> list[ListEntry]:
    """Parse ``<data_dir>/<split>.txt`` into entries, validating every line.

    Accepts LF and CRLF line endings (and a UTF-8 byte-order mark); ignores blank lines. The
    label is the last whitespace-separated field, so paths may contain spaces. Raises
    :class:`~dynconv.errors.DatasetError` for a missing folder or file, an unparsable line (the
    message names the file and line and shows the line), a path that leaves the folder, or a
    list with no entries. Image files are not opened here.
    """
    _check_split(split)
    root = Path(data_dir)
    return _parse_list(root, split, _list_bytes(root, split))


def _parse_list(root: Path, split: str, raw: bytes) -> list[ListEntry]:
    list_file = root / f"{split}.txt"
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise DatasetError(
            f"{list_file} is not UTF-8 text (byte {err.start} cannot be decoded). List files "
            f"must be plain text."
        ) from err
    entries: list[ListEntry] = []
    for number, line in enumerate(re.split(r"\r\n|\n|\r", text), start=1):
        if not line.strip():
            continue
        where = f"{list_file}, line {number}: {line!r}"
        fields = line.strip().rsplit(maxsplit=1)
        if len(fields) != 2:
            raise DatasetError(
                f"Cannot parse {where}. Expected '<relative path> <integer label>', e.g. "
                f"'images/cat/001.jpg 3'."
            )
        path, label_text = fields
        if not re.fullmatch(r"[0-9]+", label_text):
            raise DatasetError(
                f"Cannot parse {where}. The label {label_text!r} is not a non-negative integer; "
                f"expected '<relative path> <integer label>'."
            )
        if _leaves_folder(path):
            raise DatasetError(
                f"Bad image path in {where}. Paths must be relative to {root} and stay inside "
                f"it: no absolute paths and no '..'."
            )
        entries.append(ListEntry(path=path, label=int(label_text), line=number))
    if not entries:
        raise DatasetError(
            f"Split {split!r} is empty: {list_file} has no image lines. Every split needs at "
            f"least one '<relative path> <label>' line."
        )
    return entries


def _check_labels(root: Path, lists: dict[str, list[ListEntry]]) -> int:
    """Labels across all splits must be exactly 0..C-1; returns C."""
    labels = sorted({e.label for entries in lists.values() for e in entries})
    expected = list(range(len(labels)))
    if labels == expected:
        return len(labels)
    missing = sorted(set(range(labels[-1] + 1)) - set(labels))
    shown = ", ".join(map(str, missing[:20])) + (" ..." if len(missing) > 20 else "")
    raise DatasetError(
        f"Labels in {root} must be exactly 0..C-1 (C = number of distinct labels = "
        f"{len(labels)}), but the largest label is {labels[-1]}. Missing labels: {shown}. "
        f"Renumber the classes so that no label is skipped."
    )


def _check_images_exist(root: Path, lists: dict[str, list[ListEntry]]) -> None:
    missing = [
        (split, e)
        for split, entries in lists.items()
        for e in entries
        if not (root / e.path).is_file()
    ]
    if missing:
        _raise_missing(root, missing)


def _raise_missing(root: Path, missing: list[tuple[str, ListEntry]]) -> None:
    """Raise the DatasetError that lists (up to ``_MAX_SHOWN``) missing images."""
    lines = "\n".join(
        f"  {split}.txt line {e.line}: {e.path} (looked for {root / e.path})"
        for split, e in missing[:_MAX_SHOWN]
    )
    more = f"\n  ... and {len(missing) - _MAX_SHOWN} more" if len(missing) > _MAX_SHOWN else ""
    raise DatasetError(
        f"{len(missing)} image file(s) listed in {root} do not exist:\n{lines}{more}\n"
        f"Check that the images were unpacked next to the list files."
    )


def _read_class_names(root: Path, lists: dict[str, list[ListEntry]], num_classes: int) -> list[str]:
    """Names from ``classes.txt`` (``<label> <name>``), else each label's image folder name."""
    classes_file = root / "classes.txt"
    if not classes_file.is_file():
        folders: dict[int, Counter[str]] = {}
        for entries in lists.values():
            for e in entries:
                parent = PurePosixPath(e.path.replace("\\", "/")).parent.name
                folders.setdefault(e.label, Counter())[parent] += 1
        guessed = [folders[c].most_common(1)[0][0] for c in range(num_classes)]
        # Folder names only help if they tell classes apart; otherwise use the label itself.
        if len(set(guessed)) == num_classes and all(guessed):
            return guessed
        return [str(c) for c in range(num_classes)]
    names: dict[int, str] = {}
    text = classes_file.read_text(encoding="utf-8-sig")
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.strip().split(maxsplit=1)
        if len(fields) != 2 or not fields[0].isdigit():
            raise DatasetError(
                f"Cannot parse {classes_file}, line {number}: {line!r}. Expected "
                f"'<label> <class name>'."
            )
        names[int(fields[0])] = fields[1]
    if sorted(names) != list(range(num_classes)):
        raise DatasetError(
            f"{classes_file} must name every label 0..{num_classes - 1} exactly once (the list "
            f"files use {num_classes} labels); it names {len(names)} labels."
        )
    return [names[c] for c in range(num_classes)]


# ----------------------------------------------------------------------------- identity


def _hash_start(kind: str, image_size: int) -> Any:
    """A sha256 object that has already absorbed the loader version, image size and kind."""
    h = hashlib.sha256()
    h.update(f"{LOADER_VERSION}\nimage_size={image_size}\nkind={kind}\n".encode())
    return h


def _builtin_fingerprint(spec: dict[str, Any], image_size: int) -> str:
    """sha256 of the loader version, image size and the generator's spec (canonical JSON)."""
    h = _hash_start("builtin", image_size)
    h.update(json.dumps(spec, sort_keys=True, separators=(",", ":")).encode())
    return h.hexdigest()


def _folder_fingerprint(
    root: Path, raw: dict[str, bytes], lists: dict[str, list[ListEntry]], image_size: int
) -> str:
    """sha256 of the loader version, image size, list files' bytes and each image's size and sha256.

    Raises :class:`~dynconv.errors.DatasetError` (as :func:`load_dataset` does) if a listed
    image is missing. Each image is read once, never decoded.
    """
    h = _hash_start("folder", image_size)
    for split in SPLITS:
        data = raw[split]
        h.update(f"{split}.txt {len(data)}\n".encode())  # length prefix: no ambiguity
        h.update(data)
    seen: dict[str, tuple[int, str] | None] = {}  # an image listed twice is read once
    missing: list[tuple[str, ListEntry]] = []
    for split in SPLITS:
        for e in lists[split]:
            if e.path not in seen:
                seen[e.path] = _size_and_digest(root / e.path)
            size_digest = seen[e.path]
            if size_digest is None:
                missing.append((split, e))
                continue
            size, digest = size_digest
            path = e.path.encode()
            h.update(f"{split} {len(path)} ".encode() + path + f" {size} {digest}\n".encode())
    if missing:
        _raise_missing(root, missing)
    return h.hexdigest()


# (resolved path, size, mtime_ns) -> sha256 of the bytes: an unchanged file is read once per
# process (every record lookup of a folder dataset fingerprints it).
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _size_and_digest(path: Path) -> tuple[int, str] | None:
    """``(st_size, sha256 of the bytes)`` of a regular file (links followed); None if there is
    none."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    memo = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if memo not in _DIGESTS:
        _DIGESTS[memo] = hashlib.sha256(path.read_bytes()).hexdigest()
    return st.st_size, _DIGESTS[memo]


def _read_lists(root: Path) -> tuple[dict[str, bytes], dict[str, list[ListEntry]], int]:
    """Read and validate the three list files: raw bytes, parsed entries, number of classes."""
    raw = {split: _list_bytes(root, split) for split in SPLITS}  # every file read once
    lists = {split: _parse_list(root, split, raw[split]) for split in SPLITS}
    return raw, lists, _check_labels(root, lists)


def _builtin_identity(cache: Path, image_size: int) -> DataIdentity:
    spec = generator_spec(BUILTIN_SEED)
    return DataIdentity(
        name=BUILTIN_NAME,
        root=builtin_dataset_dir(cache, seed=BUILTIN_SEED),
        image_size=image_size,
        fingerprint=_builtin_fingerprint(spec, image_size),
    )


def _cache_root(cache_dir: str | Path | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def data_identity(
    data_dir: str | Path | None = None,
    *,
    image_size: int = 84,
    cache_dir: str | Path | None = None,
) -> DataIdentity:
    """The dataset's name, folder, image size and fingerprint, without decoding any image.

    Takes the same arguments as :func:`load_dataset` (less ``progress``) and returns the
    identity it would load: ``load_dataset(...).fingerprint`` is this ``fingerprint``. For the
    built-in data (``data_dir=None``) nothing is generated or read: the fingerprint comes from
    :func:`dynconv.data.shapes.generator_spec`. For a folder the list files are read and
    validated as :func:`load_dataset` does (missing folder or list file, unparsable line, labels
    not ``0..C-1``, missing image: :class:`~dynconv.errors.DatasetError`) and every listed
    image's bytes are hashed, never decoded. See the module docstring for the exact recipe.
    """
    check_int("image_size", image_size)
    if data_dir is None:
        return _builtin_identity(_cache_root(cache_dir), image_size)
    return _scan_folder(Path(data_dir).expanduser(), image_size)[0]


def _scan_folder(
    root: Path, image_size: int
) -> tuple[DataIdentity, dict[str, list[ListEntry]], int]:
    """Identity, parsed lists and number of classes of a folder, reading each list file once."""
    raw, lists, num_classes = _read_lists(root)
    identity = DataIdentity(
        name=root.resolve().name,
        root=root,
        image_size=image_size,
        fingerprint=_folder_fingerprint(root, raw, lists, image_size),
    )
    return identity, lists, num_classes


# ----------------------------------------------------------------------------- decoding

_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I")


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any supported PIL mode to 8-bit RGB."""
    if img.mode == "RGB":
        return img
    if img.mode in _SIXTEEN_BIT_MODES:
        # PIL's own convert() clips 16-bit values at 255 (almost everything turns white);
        # scale 0..65535 to 0..255 instead (x / 257 maps 65535 to 255 exactly). 32-bit "I"
        # images are read the same way: PIL uses that mode for 16-bit greyscale files.
        values = np.asarray(img).astype(np.float64)  # (H, W)
        grey = np.clip(np.rint(values / 257.0), 0, 255).astype(np.uint8)
        return Image.fromarray(grey, mode="L").convert("RGB")
    if img.mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")  # avoids PIL's warning; the alpha is then dropped
    return img.convert("RGB")  # L, LA, 1, P, PA, RGBA (alpha dropped), CMYK, YCbCr, ...


def _decode_image(path: Path, image_size: int) -> np.ndarray:
    """Decode one file to ``(image_size, image_size, 3)`` uint8 in R, G, B order."""
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            rgb = None if mode == "F" else _to_rgb(img)
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        OSError,
        ValueError,
        SyntaxError,
    ) as err:
        raise DatasetError(
            f"Cannot decode image {path}: {err}. The file may be damaged or not an image."
        ) from err
    if rgb is None:
        raise DatasetError(
            f"{path} is a floating-point image (PIL mode 'F'), which has no standard 8-bit "
            f"scale; convert it to an 8- or 16-bit image first."
        )
    if rgb.size != (image_size, image_size):
        # Bilinear, antialiased: PIL widens the filter by the shrink factor when downscaling.
        rgb = rgb.resize((image_size, image_size), Image.Resampling.BILINEAR)
    return np.array(rgb, dtype=np.uint8)  # (H, W, 3), a writable copy


def _decode_split(
    root: Path, split: str, entries: list[ListEntry], image_size: int, bar: tqdm
) -> tuple[Tensor, Tensor]:
    images = torch.empty(len(entries), 3, image_size, image_size, dtype=torch.uint8)
    for i, e in enumerate(entries):
        array = _decode_image(root / e.path, image_size)  # (H, W, 3)
        images[i] = torch.from_numpy(array).permute(2, 0, 1)  # (3, H, W)
        bar.update()
    labels = torch.tensor([e.label for e in entries], dtype=torch.int64)  # (N,)
    return images, labels


# ----------------------------------------------------------------------------- cache


def _cache_path(cache_dir: Path, name: str, root: Path, image_size: int) -> Path:
    # One file per dataset folder and image size; the fingerprint inside says if it is current.
    # The folder's absolute path is in the name so that two folders with identical list files
    # (e.g. stand-in images and the real ones) never share decoded pixels.
    where = hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name) or "dataset"
    return cache_dir / "decoded" / f"{safe}-{image_size}px-{where}.pt"


def _load_cache(
    path: Path, fingerprint: str, lists: dict[str, list[ListEntry]], image_size: int
) -> dict[str, Any] | None:
    """Return the cached tensors if the file exists, is readable and is current; else None."""
    if not path.is_file():
        return None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
        if data.get("fingerprint") != fingerprint:
            return None
        for split in SPLITS:
            images, labels = data[split]["images"], data[split]["labels"]
            n = len(lists[split])
            want = torch.tensor([e.label for e in lists[split]], dtype=torch.int64)
            if (
                images.dtype != torch.uint8
                or tuple(images.shape) != (n, 3, image_size, image_size)
                or not torch.equal(labels, want)
            ):
                raise ValueError(f"cached {split} split does not match the list file")
        return data
    except Exception as err:  # any damage at all: rebuild rather than fail
        warnings.warn(f"Rebuilding the damaged dataset cache {path} ({err}).", stacklevel=3)
        return None


def _save_cache(path: Path, data: dict[str, Any]) -> None:
    """torch.save to a temporary file in the same folder, then rename: never half-written."""
    atomic_torch_save(path, data)


# ----------------------------------------------------------------------------- datasets


class ImageSplit(Dataset):
    """One split held in memory as uint8 images, normalised when an item is read.

    Attributes:
        images: ``(N, 3, H, W)`` uint8, channels R, G, B.
        labels: ``(N,)`` int64.
        name: ``"train"``, ``"val"`` or ``"test"`` (for messages and plots).
    """

    def __init__(self, images: Tensor, labels: Tensor, *, name: str = "split") -> None:
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[1] != 3:
            raise DatasetError(
                f"images must be uint8 (N, 3, H, W), got {images.dtype} {tuple(images.shape)}."
            )
        if labels.shape != (images.shape[0],):
            raise DatasetError(
                f"labels must be shaped ({images.shape[0]},), got {tuple(labels.shape)}."
            )
        self.images = images
        self.labels = labels.to(torch.int64)
        self.name = name
        self._mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)  # (3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD).view(3, 1, 1)  # (3, 1, 1)

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        x = self.images[index].float().div_(255.0)  # (3, H, W) in [0, 1]
        x = (x - self._mean) / self._std  # (3, H, W), ImageNet-normalised
        return x, int(self.labels[index])

    def __getitems__(self, indices: Sequence[int]) -> Batch | list[tuple[Tensor, int]]:
        """The images at ``indices`` as one normalised :class:`Batch` (DataLoader calls this).

        The same elementwise operations as :meth:`__getitem__` on the whole batch, so the
        values are bit for bit those of stacking ``self[i]``. A subclass that overrides
        ``__getitem__`` gets a list of its own items instead (which :func:`collate_batch`
        stacks as usual).
        """
        if type(self).__getitem__ is not ImageSplit.__getitem__:
            return [self[i] for i in indices]
        index = torch.as_tensor(indices, dtype=torch.int64)  # (B,)
        _, channels, h, w = self.images.shape
        x = torch.empty(len(index), channels, h, w)  # (B, 3, H, W) float32
        # In place, a few images at a time: each operation stays below PyTorch's threshold
        # for splitting work over threads (2**15 elements) and in the CPU's cache. Measured
        # here, batch-wide operations were twice as fast on one free core but up to 20 times
        # slower on 2 threads with the other core busy (a thread waits for the descheduled one).
        step = max(1, _SERIAL_ELEMENTS // (channels * h * w))
        for start in range(0, len(index), step):
            part = x[start:start + step]  # (b, 3, H, W), a view
            part.copy_(self.images.index_select(0, index[start:start + step]))  # uint8 -> float
            part.div_(255.0).sub_(self._mean).div_(self._std)  # __getitem__'s operations
        return Batch(x, self.labels.index_select(0, index))

    def denormalised(self, index: int) -> Tensor:
        """Image ``index`` as float ``(3, H, W)`` in [0, 1], for plotting."""
        return self.images[index].float() / 255.0

    def class_counts(self) -> dict[int, int]:
        """Number of images per label."""
        values, counts = torch.unique(self.labels, return_counts=True)
        return {int(v): int(c) for v, c in zip(values, counts, strict=True)}

    def subset_per_class(self, n: int, seed: int = 0) -> ImageSplit:
        """At most ``n`` images per class, chosen at random but reproducibly from ``seed``.

        Classes with fewer than ``n`` images keep all of them. The chosen images keep their
        original order. Used by the fast ``ci`` profile to train on a balanced sample.
        """
        check_int("subset_per_class: n", n)
        generator = torch.Generator().manual_seed(seed)
        keep = []
        for label in torch.unique(self.labels):  # sorted labels: a fixed order of draws
            idx = torch.nonzero(self.labels == label).flatten()
            order = torch.randperm(len(idx), generator=generator)
            keep.append(idx[order[:n]])
        chosen = torch.sort(torch.cat(keep)).values
        return ImageSplit(self.images[chosen], self.labels[chosen], name=self.name)

    def __repr__(self) -> str:
        n, _, h, w = self.images.shape
        return f"ImageSplit(name={self.name!r}, images={n}, size={h}x{w})"


class Batch(NamedTuple):
    """A batch fetched in one call (:meth:`ImageSplit.__getitems__`); unpacks as ``x, y``."""

    x: Tensor  # (B, 3, H, W) float32, normalised
    y: Tensor  # (B,) int64


def collate_batch(data: Batch | list[Any]) -> Any:
    """DataLoader ``collate_fn``: a :class:`Batch` passes through as it is; a list of single
    samples (another dataset, a subclass) is stacked by torch's ``default_collate``."""
    if isinstance(data, Batch):
        return data
    return default_collate(data)


@dataclass
class DatasetBundle:
    """A loaded dataset: the three splits plus what is needed to describe where they came from."""

    name: str
    root: Path
    image_size: int
    num_classes: int
    class_names: list[str]
    fingerprint: str
    train: ImageSplit
    val: ImageSplit
    test: ImageSplit
    cache_path: Path | None = field(default=None)  # decoded-tensor cache file (delete to rebuild)

    @property
    def identity(self) -> DataIdentity:
        """Name, folder, image size and fingerprint (what :func:`data_identity` returns)."""
        return DataIdentity(
            name=self.name,
            root=self.root,
            image_size=self.image_size,
            fingerprint=self.fingerprint,
        )

    def split(self, name: Split) -> ImageSplit:
        """The split called ``"train"``, ``"val"`` or ``"test"``."""
        _check_split(name)
        return getattr(self, name)

    def describe(self) -> dict[str, Any]:
        """Short provenance record: name, root, image size, classes, split sizes, fingerprint."""
        return {
            "name": self.name,
            "root": str(self.root),
            "image_size": self.image_size,
            "num_classes": self.num_classes,
            "split_sizes": {s: len(self.split(s)) for s in SPLITS},
            "fingerprint": self.fingerprint,
        }

    def __str__(self) -> str:
        sizes = ", ".join(f"{s} {len(self.split(s)):,}" for s in SPLITS)
        return (
            f"{self.name}: {self.num_classes} classes, {self.image_size} px, {sizes} "
            f"(fingerprint {self.fingerprint[:12]}, from {self.root})"
        )


def load_dataset(
    data_dir: str | Path | None = None,
    *,
    image_size: int = 84,
    cache_dir: str | Path | None = None,
    progress: bool = True,
) -> DatasetBundle:
    """Load a list-format dataset folder (or the built-in one) as decoded, cached tensors.

    Args:
        data_dir: folder with ``train.txt``, ``val.txt``, ``test.txt`` and the images; ``None``
            for the built-in shapes dataset (generated into the cache on first use).
        image_size: images are resized to ``image_size`` x ``image_size`` (84 as in the study).
        cache_dir: where decoded tensors (and the built-in dataset) live; default
            :func:`default_cache_dir`.
        progress: show tqdm progress bars while generating or decoding.

    Every check runs before the first image is decoded; problems raise
    :class:`~dynconv.errors.DatasetError`. ``bundle.fingerprint`` is
    ``data_identity(data_dir, image_size=..., cache_dir=...).fingerprint``, and the decode
    cache is rebuilt whenever the fingerprint it stores differs.
    """
    check_int("image_size", image_size)
    cache = _cache_root(cache_dir)

    # 1. Identify and validate (no image is opened here).
    if data_dir is None:
        identity = _builtin_identity(cache, image_size)
        root = ensure_builtin_dataset(cache, seed=BUILTIN_SEED, progress=progress)
        _, lists, num_classes = _read_lists(root)
        _check_images_exist(root, lists)
    else:
        identity, lists, num_classes = _scan_folder(Path(data_dir).expanduser(), image_size)
        root = identity.root
    name, fingerprint = identity.name, identity.fingerprint
    class_names = _read_class_names(root, lists, num_classes)

    # 2-3. Decoded tensors from the cache, or decode once and cache. A current cache is read
    # without a lock (it is written atomically); building one takes the file's lock, so that
    # a second process starting at the same time waits and then reads it.
    cache_path = _cache_path(cache, name, root, image_size)
    data = _load_cache(cache_path, fingerprint, lists, image_size)
    if data is None:
        with file_lock(cache_path.with_name(cache_path.name + ".lock"),
                       waiting=f"another process is decoding {name} at {image_size} px"):
            data = _load_cache(cache_path, fingerprint, lists, image_size)
            if data is None:
                data = _decode_all(root, lists, name=name, fingerprint=fingerprint,
                                   image_size=image_size, progress=progress)
                _save_cache(cache_path, data)

    splits = {s: ImageSplit(data[s]["images"], data[s]["labels"], name=s) for s in SPLITS}
    return DatasetBundle(
        name=name,
        root=root,
        image_size=image_size,
        num_classes=num_classes,
        class_names=class_names,
        fingerprint=fingerprint,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        cache_path=cache_path,
    )


def _decode_all(root: Path, lists: dict[str, list[ListEntry]], *, name: str, fingerprint: str,
                image_size: int, progress: bool) -> dict[str, Any]:
    """Decode every split: the cache file's content."""
    total = sum(len(entries) for entries in lists.values())
    desc = f"decoding {name} at {image_size} px"
    with tqdm(total=total, desc=desc, disable=not progress) as bar:
        data: dict[str, Any] = {"fingerprint": fingerprint, "loader_version": LOADER_VERSION}
        for split in SPLITS:
            images, labels = _decode_split(root, split, lists[split], image_size, bar)
            data[split] = {"images": images, "labels": labels}
    return data


def make_loader(
    split: Dataset,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int = 0,
    num_workers: int = 0,
    pin_memory: bool = False,
    sampler: Sampler | Iterable[int] | None = None,
) -> DataLoader:
    """A DataLoader whose order is fixed by ``seed`` (or by ``sampler``).

    Batches are ``(B, 3, H, W)`` float32 and ``(B,)`` int64, fetched a whole batch at a time
    from an :class:`ImageSplit` (:func:`collate_batch`). ``num_workers=0`` (the default) reads
    in this process: the data is already decoded in memory, so on a CPU workers only add
    start-up time. On a GPU, ``num_workers`` processes (``TrainConfig.num_workers``, 4) prepare
    the next batches while it computes, and ``pin_memory`` lets their copies to it overlap too.
    Neither changes a batch or the order: the order comes from this process's generator
    (``seed``, which :func:`dynconv.training.loop.fit` re-seeds every epoch) or from ``sampler``
    (then
    ``shuffle`` must be False), and workers are started afresh each epoch (persistent workers
    would skip the seed draw an epoch's iterator makes, and so change the next orders).
    """
    check_int("batch_size", batch_size)
    check_int("num_workers", num_workers, minimum=0)
    if sampler is not None and shuffle:
        raise ConfigError("make_loader: pass shuffle=False with a sampler (the sampler decides "
                          "the order)")
    generator = torch.Generator().manual_seed(seed)
    return DataLoader(
        split, batch_size=batch_size, shuffle=shuffle, sampler=sampler,
        num_workers=num_workers, pin_memory=pin_memory, generator=generator,
        collate_fn=collate_batch,
    )
