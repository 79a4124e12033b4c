"""Channel subsets: which of the R, G, B input channels a model is given.

The study asks how well a network copes when only some colour channels reach it. A
:class:`ChannelSubset` names such a selection ("RGB", "RG", ..., "B") and
:func:`apply_subset` turns a full batch ``(B, 3, H, W)`` into what the model sees, in one of two
ways (an :data:`InputMode`):

- ``"drop"``: keep only the present channels, in index order R, G, B. The tensor has
  ``len(subset)`` channels. This is what the dynamic stems (v1 to v4) receive.
- ``"zero"``: keep three channels and set the absent ones to 0. Batches are normalised with
  ImageNet's mean and std before this step (the original's constants, for every dataset), so
  0 means "this channel sits at ImageNet's mean value" (124, 116, 104 of 255 for R, G, B), not
  black and not this dataset's mean. This is the obvious control the original study never
  ran: a plain ResNet18 fed zero-filled channels.

How this differs from the original study: the original passed index lists such as ``[0, 1]`` and
called index 0 "R", but it read images with OpenCV, whose channel order is B, G, R, so its "R" was
really blue. Here index 0 is red (the loader in :mod:`dynconv.data.datasets` keeps PIL's R, G, B
order) and subsets are named by letter as well as by index.

Chapter: 01_data (subsets and the two input modes), 02_baseline (the zero-fill control).
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import torch
from torch import Tensor

from dynconv.errors import ChannelSubsetError, ConfigError

__all__ = [
    "model_input_mode",
    "ALL_SUBSETS",
    "CHANNEL_NAMES",
    "RGB",
    "ChannelSubset",
    "InputMode",
    "apply_subset",
    "parse_channels",
]

CHANNEL_NAMES: tuple[str, str, str] = ("R", "G", "B")  # index 0, 1, 2 of every image tensor

InputMode = Literal["drop", "zero"]
_INPUT_MODES: tuple[str, ...] = get_args(InputMode)

_VALID_NAMES_HINT = (
    "Valid subsets are RGB, RG, RB, GB, R, G, B (letters in any order and any case, "
    "e.g. 'bgr' or 'gr'), or a list of distinct channel indices such as [0, 2] "
    "(0 = R, 1 = G, 2 = B)."
)


@dataclass(frozen=True)
class ChannelSubset:
    """A non-empty set of input channels, stored as sorted indices into (R, G, B).

    Build one with :func:`parse_channels` (which accepts names in any order and case); the
    constructor itself insists on the canonical form: sorted, unique indices from (0, 1, 2).
    """

    indices: tuple[int, ...]

    def __post_init__(self) -> None:
        idx = self.indices
        ok = (
            isinstance(idx, tuple)
            and len(idx) > 0
            and all(isinstance(i, int) and not isinstance(i, bool) for i in idx)
            and all(0 <= i < len(CHANNEL_NAMES) for i in idx)
            and list(idx) == sorted(set(idx))
        )
        if not ok:
            raise ChannelSubsetError(
                f"ChannelSubset needs sorted, distinct indices from (0, 1, 2), got {idx!r}. "
                f"Use parse_channels(...) to build one from a name or an unsorted list. "
                f"{_VALID_NAMES_HINT}"
            )

    @property
    def name(self) -> str:
        """Canonical name with letters in R, G, B order, e.g. ``"GB"``."""
        return "".join(CHANNEL_NAMES[i] for i in self.indices)

    @property
    def size(self) -> int:
        """Number of channels in the subset (1, 2 or 3)."""
        return len(self.indices)

    def __str__(self) -> str:
        return self.name


RGB = ChannelSubset((0, 1, 2))

# Every non-empty subset, the full image first, then pairs, then single channels.
ALL_SUBSETS: tuple[ChannelSubset, ...] = (
    RGB,
    ChannelSubset((0, 1)),  # RG
    ChannelSubset((0, 2)),  # RB
    ChannelSubset((1, 2)),  # GB
    ChannelSubset((0,)),  # R
    ChannelSubset((1,)),  # G
    ChannelSubset((2,)),  # B
)
# Their names in that order, and the six that miss at least one channel.
SUBSET_NAMES: tuple[str, ...] = tuple(s.name for s in ALL_SUBSETS)
INCOMPLETE_SUBSETS: tuple[str, ...] = SUBSET_NAMES[1:]


def _from_indices(indices: list[int], spec: object) -> ChannelSubset:
    if not indices:
        raise ChannelSubsetError(f"Channel subset {spec!r} is empty. {_VALID_NAMES_HINT}")
    if len(set(indices)) != len(indices):
        raise ChannelSubsetError(
            f"Channel subset {spec!r} names a channel more than once. {_VALID_NAMES_HINT}"
        )
    return ChannelSubset(tuple(sorted(indices)))


def parse_channels(spec: str | ChannelSubset | Sequence[int]) -> ChannelSubset:
    """Turn a channel name or index list into a :class:`ChannelSubset`.

    >>> parse_channels("gr").name, parse_channels("BGR").name, parse_channels([2, 0]).name
    ('RG', 'RGB', 'RB')

    Raises :class:`~dynconv.errors.ChannelSubsetError` (listing the valid names) for anything
    else: unknown letters, repeated channels, an empty subset, indices outside 0..2.
    """
    if isinstance(spec, ChannelSubset):
        return spec
    if isinstance(spec, str):
        letters = spec.strip().upper()
        unknown = sorted({c for c in letters if c not in CHANNEL_NAMES})
        if unknown:
            raise ChannelSubsetError(
                f"Unknown channel subset {spec!r} (letters {', '.join(map(repr, unknown))} are "
                f"not R, G or B). {_VALID_NAMES_HINT}"
            )
        return _from_indices([CHANNEL_NAMES.index(c) for c in letters], spec)
    if isinstance(spec, Sequence):
        items = list(spec)
        if not all(isinstance(i, numbers.Integral) and not isinstance(i, bool) for i in items):
            raise ChannelSubsetError(
                f"Channel indices must be integers, got {spec!r}. {_VALID_NAMES_HINT}"
            )
        indices = [int(i) for i in items]
        bad = [i for i in indices if not 0 <= i < len(CHANNEL_NAMES)]
        if bad:
            raise ChannelSubsetError(
                f"Channel indices {bad} in {spec!r} are outside 0..2. {_VALID_NAMES_HINT}"
            )
        return _from_indices(indices, spec)
    raise ChannelSubsetError(
        f"Cannot read a channel subset from {spec!r} (type {type(spec).__name__}). "
        f"{_VALID_NAMES_HINT}"
    )


def apply_subset(x: Tensor, subset: str | ChannelSubset | Sequence[int], mode: InputMode) -> Tensor:
    """Keep only the channels in ``subset``, dropping or zero-filling the others.

    Args:
        x: normalised images ``(B, 3, H, W)`` (a single image ``(3, H, W)`` also works: the
            channel axis is the third from the end).
        subset: anything :func:`parse_channels` accepts.
        mode: ``"drop"`` returns ``(B, len(subset), H, W)`` with the kept channels in index
            order R, G, B; ``"zero"`` returns ``(B, 3, H, W)`` with the absent channels set to 0.
            Because ``x`` is already normalised, 0 stands for the normalisation mean of that
            channel: ImageNet's mean (0.485, 0.456, 0.406, kept from the original study), not
            this dataset's mean and not black. On the built-in data a zero-filled B is 104/255,
            inside the "low" band of the colour design, so it reads as "B low".

    For the full subset RGB the input is returned unchanged (no copy).
    """
    if mode not in _INPUT_MODES:
        raise ConfigError(f"Input mode must be one of {', '.join(_INPUT_MODES)}; got {mode!r}.")
    channels = parse_channels(subset)
    if x.dim() < 3 or x.shape[-3] != len(CHANNEL_NAMES):
        raise ChannelSubsetError(
            f"apply_subset expects images shaped (B, 3, H, W) with all three channels, got "
            f"{tuple(x.shape)}."
        )
    if channels == RGB:
        return x
    if mode == "drop":
        index = torch.tensor(channels.indices, device=x.device)
        return x.index_select(-3, index)  # (B, n, H, W)
    mask = torch.zeros(len(CHANNEL_NAMES), 1, 1, dtype=x.dtype, device=x.device)  # (3, 1, 1)
    mask[list(channels.indices)] = 1
    return x * mask  # (B, 3, H, W), absent channels = 0 = ImageNet's mean


def model_input_mode(model: object) -> InputMode:
    """The input mode a model declares (its ``input_mode`` attribute): ``"drop"`` for the
    dynamic stems, ``"zero"`` for plain networks. The one check training, evaluation and the
    cost measurements share; anything else raises :class:`~dynconv.errors.ConfigError`."""
    mode = getattr(model, "input_mode", None)
    if mode not in ("drop", "zero"):
        raise ConfigError(
            f"{type(model).__name__} has input_mode={mode!r}; every dynconv model declares "
            f"input_mode 'drop' (dynamic stems) or 'zero' (plain networks); build models with "
            f"dynconv.models.zoo.build_model"
        )
    return mode
