"""Training configuration: one frozen dataclass, two named profiles.

Every chapter trains through :func:`dynconv.train.fit` with a :class:`TrainConfig`. The
configuration is a frozen dataclass with a comment per field (the style of nanoGPT's
``GPTConfig``); the two profiles are two *instances* of it, not two code paths:

* ``full``: the original study's settings (84 px, batch 64, up to 50 epochs, early stopping
  after 5 epochs without a better validation loss). Part II of the study used batch 16: that
  is a per-experiment override (``get_config("full", batch_size=16)``), not a third profile.
* ``ci``: a small version that trains a ResNet18 in a minute or two on a laptop CPU
  (32 px, 100 training and 20 validation images per class, every test image: 100 per class
  of the built-in data, at most 6 epochs). Continuous integration executes every chapter
  with it.

Per-experiment choices (Part II's batch 16 under ``full``, v3's annealing length, v4's
validation on all subsets) are not branches here: they are data of each experiment in
:mod:`dynconv.registry`.

A notebook's papermill ``parameters`` cell overrides a few fields by name through
:func:`get_config`; unknown profiles, unknown fields and bad values raise
:class:`dynconv.errors.ConfigError` with the valid choices.

How this differs from the original study:

* The original used the same hyper-parameters but hard-coded them in each notebook (and used
  patience 3 for v1-v3, val-accuracy monitoring for v4): here they are one object that the
  results record stores, and per-experiment differences are explicit overrides.
* Weight decay is Adam's *coupled* L2 penalty (``torch.optim.Adam(weight_decay=...)``), as in
  the original, not AdamW's decoupled decay.

Explained in chapter ``02_baseline``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch

from dynconv.errors import ConfigError, check_int, check_number

MONITORS = ("val_loss", "val_acc")
# "train": validate on the training channels; "all": the mean over every subset the model takes.
VAL_SUBSETS = ("train", "all")
LR_SCHEDULES = ("constant", "onecycle")

# Fields that change how fast a run goes but not what it computes: a checkpoint written with a
# different value may be resumed, and they do not enter a run's fingerprint.
RUNTIME_FIELDS = ("num_threads",)


@dataclass(frozen=True)
class TrainConfig:
    # Name of the profile this configuration started from ("ci", "full"); a label only: the
    # results of a profile are stored under results/<profile>/.
    profile: str = "ci"
    # Side of the square images in pixels. The original resized 224 px images to 84 px.
    image_size: int = 32
    # Mini-batch size for training and validation (64 in Part I, 16 in Part II of the original).
    batch_size: int = 64
    # Upper bound on the number of epochs; early stopping usually ends a run sooner.
    max_epochs: int = 6
    # Early stopping: stop after this many epochs in a row without a better `monitor` value.
    patience: int = 2
    # Validation metric that selects the best epoch: "val_loss" (lower is better, the
    # original's baselines) or "val_acc" (higher is better, the original's v4).
    monitor: str = "val_loss"
    # Which channels validation (and so early stopping and the best epoch) looks at: "train"
    # (the training channels, as the original) or "all" (the mean over every subset the model
    # accepts: for a model meant to serve any subset, selecting on RGB alone would pick the
    # epoch that is best on RGB, not the one that is best on the task).
    val_subsets: str = "train"
    # Adam learning rate: constant (as in the original), or the peak of a one-cycle schedule.
    lr: float = 1e-3
    # "constant" (the original) or "onecycle" (warm up to `lr` over the first 30% of the
    # steps of max_epochs, then cosine down: dynconv.train.one_cycle_lr). One-cycle reaches a
    # given accuracy in far fewer epochs, which a CPU run needs.
    lr_schedule: str = "constant"
    # Adam's coupled L2 penalty (added to the gradient), not AdamW's decoupled decay.
    weight_decay: float = 1e-4
    # Clip the global gradient norm to this value (None: no clipping; the original clipped at
    # 2.0 for the baselines, v4 and Part II, and not at all for v1-v3).
    grad_clip: float | None = 2.0
    # Seeds the model initialisation (done by the caller), the data subsampling and, as
    # seed + epoch, every random draw inside an epoch (shuffling, v4's channel dropping).
    seed: int = 42
    # Training images kept per class (None: all). Subsampling is stratified and seeded.
    max_train_per_class: int | None = 100
    # Validation images kept per class (None: all; the original had 9 per class).
    max_val_per_class: int | None = 20
    # Test images kept per class (None: all). Always the same images whatever the seed, so
    # that two runs can be compared image by image (paired tests, dynconv.stats).
    max_test_per_class: int | None = None
    # Training batches per epoch (None: the whole training set). Validation is always full.
    max_steps_per_epoch: int | None = None
    # "auto" = CUDA when available, else CPU; or any torch device string ("cpu", "cuda:0").
    device: str = "auto"
    # torch.set_num_threads for CPU training (None: leave PyTorch's default).
    num_threads: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str) or not self.profile:
            raise ConfigError(f"profile must be a non-empty string, got {self.profile!r}")
        for name in ("image_size", "batch_size", "max_epochs", "patience"):
            check_int(name, getattr(self, name))
        check_int("seed", self.seed, minimum=0)
        for name in ("max_train_per_class", "max_val_per_class", "max_test_per_class",
                     "max_steps_per_epoch", "num_threads"):
            check_int(name, getattr(self, name), optional=True)
        for name, choices in (("monitor", MONITORS), ("val_subsets", VAL_SUBSETS),
                              ("lr_schedule", LR_SCHEDULES)):
            if getattr(self, name) not in choices:
                raise ConfigError(f"{name} must be one of {', '.join(choices)}; "
                                  f"got {getattr(self, name)!r}")
        check_number("lr", self.lr)
        check_number("weight_decay", self.weight_decay, positive=False)
        check_number("grad_clip", self.grad_clip, optional=True)
        if not isinstance(self.device, str):
            raise ConfigError(f"device must be a string such as 'auto', 'cpu' or 'cuda:0', "
                              f"got {self.device!r}")
        if self.device != "auto":
            try:
                torch.device(self.device)
            except (RuntimeError, ValueError) as err:
                raise ConfigError(
                    f"device {self.device!r} is not a device PyTorch knows; use 'auto', "
                    f"'cpu', 'cuda' or 'cuda:<index>'"
                ) from err

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (JSON-ready: only str, int, float and None)."""
        return dataclasses.asdict(self)

    def fingerprint_dict(self) -> dict[str, Any]:
        """The fields that determine a run's numbers (``to_dict`` minus ``RUNTIME_FIELDS``)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS}


FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(TrainConfig))

# The original study's settings (Part I; Part II overrides batch_size=16).
FULL = TrainConfig(
    profile="full",
    image_size=84,
    batch_size=64,
    max_epochs=50,
    patience=5,
    monitor="val_loss",
    max_train_per_class=None,
    max_val_per_class=None,
    max_test_per_class=None,
)

# About a minute and a half per ResNet18 on a 2-core CPU: 24 classes x 100 images = 2,400
# training images, 38 steps per epoch at 32 px (15 s an epoch measured here), at most 6 epochs.
# Four epochs left ResNet18 at 28% (colour learned, shape barely): six let shapes start to show.
# Every test image (2,400 of the built-in data): evaluating costs seconds, and the standard
# error of an accuracy falls from 2.3 points (480 images) to about 1.
CI = TrainConfig(
    profile="ci",
    image_size=32,
    batch_size=64,
    max_epochs=6,
    patience=2,
    monitor="val_loss",
    max_train_per_class=100,
    max_val_per_class=20,
    max_test_per_class=None,
)

# Not a study: a few seconds per model, to check quickly that a chapter runs end to end while
# editing it (`make book PROFILE=smoke`). Its numbers mean nothing and the pages say so.
SMOKE = TrainConfig(
    profile="smoke",
    image_size=16,
    batch_size=16,
    max_epochs=1,
    patience=1,
    max_train_per_class=2,
    max_val_per_class=2,
    max_test_per_class=5,
    max_steps_per_epoch=2,
)

PROFILES: dict[str, TrainConfig] = {"ci": CI, "full": FULL, "smoke": SMOKE}


def get_config(profile: str | TrainConfig = "ci", **overrides: Any) -> TrainConfig:
    """Return the named profile with some fields replaced.

    >>> get_config("full", batch_size=16).batch_size
    16

    ``profile`` may also be a :class:`TrainConfig` (its fields are the starting point).
    Raises :class:`ConfigError` for an unknown profile, an unknown field or a bad value.
    """
    if isinstance(profile, TrainConfig):
        base = profile
    elif profile in PROFILES:
        base = PROFILES[profile]
    else:
        raise ConfigError(
            f"unknown profile {profile!r}; valid profiles: {', '.join(sorted(PROFILES))}"
        )
    unknown = sorted(set(overrides) - set(FIELD_NAMES))
    if unknown:
        raise ConfigError(
            f"unknown TrainConfig field(s) {', '.join(unknown)}; "
            f"valid fields: {', '.join(FIELD_NAMES)}"
        )
    return dataclasses.replace(base, **overrides)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """"auto" -> CUDA if available, else CPU; anything else -> ``torch.device(device)``."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
