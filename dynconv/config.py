"""Training configuration: one frozen dataclass, two named profiles.

Every chapter trains through :func:`dynconv.training.loop.fit` with a :class:`TrainConfig`. The
configuration is a frozen dataclass with a comment per field (the style of nanoGPT's
``GPTConfig``); the two profiles are two *instances* of it, not two code paths:

* ``full``: the original study's settings (84 px, batch 64, up to 50 epochs, early stopping
  after 5 epochs without a better validation loss). Part II of the study used batch 16: that
  is a per-experiment override (``get_config("full", batch_size=16)``), not a third profile.
* ``ci``: a small version in which a ResNet18 learns the built-in task in about a minute on a
  2-core CPU (16 px, batch 128, 6 epochs of a one-cycle schedule, every training and test
  image, 20 validation images per class). Continuous integration executes every chapter
  with it. Each departure from ``full`` is a field with its reason in :data:`CI_DEPARTURES`
  (:func:`departures` lists them; chapter 02 shows the table).

Per-experiment choices (Part II's batch 16 under ``full``, v3's annealing length, v4's
validation on all subsets) are not branches here: they are data of each experiment in
:mod:`dynconv.experiments.registry`.

How fast a run goes on a GPU is five more fields, every profile with the same values:
``amp`` (bfloat16 autocast), ``channels_last``, ``num_workers``, ``pin_memory`` and ``compile``.
Their ``"auto"``/``None`` defaults switch the first four on for CUDA and leave a CPU run as it
was; :meth:`TrainConfig.resolved` says what they meant on a device, and every record keeps that
(``record.hardware["runtime"]``). ``amp`` and ``channels_last`` may change the numbers, so they
are part of a run's fingerprint; the other three (with ``num_threads``) are
:data:`RUNTIME_FIELDS`, which a checkpoint resumes across.

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
# Mixed precision: "auto" (bfloat16 on CUDA, none on a CPU), "bf16" (anywhere), "off".
AMP_MODES = ("auto", "bf16", "off")
# channels_last and pin_memory: "auto" (on for CUDA, off on a CPU), "on", "off".
SWITCHES = ("auto", "on", "off")

# Fields that change how fast a run goes but not what it computes: a checkpoint written with a
# different value may be resumed, and they do not enter a run's fingerprint. (amp and
# channels_last are not among them: bfloat16 changes the numbers, and so can the convolution
# kernels another memory layout selects.)
RUNTIME_FIELDS = ("num_threads", "num_workers", "pin_memory", "compile")


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
    # steps of max_epochs, then cosine down: dynconv.training.loop.one_cycle_lr). One-cycle
    # reaches a
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
    # Mixed precision of the forward pass and loss in training and validation: "auto" =
    # bfloat16 autocast on CUDA and none on a CPU, "bf16", "off". bfloat16 keeps float32's
    # exponent range, so no loss scaling is needed; testing (dynconv.evaluation.evaluate) stays
    # float32.
    amp: str = "auto"
    # Memory layout of the model and its input batches: "auto" = channels_last on CUDA (what
    # tensor-core convolutions read fastest), the default layout on a CPU; "on"; "off".
    channels_last: str = "auto"
    # DataLoader worker processes (None: 4 on CUDA, 0 on a CPU, where the images are already
    # decoded in memory and a batch is one indexing operation).
    num_workers: int | None = None
    # Page-locked batches for asynchronous copies to the GPU: "auto" = on for CUDA; "on";
    # "off". Off on a CPU whatever the setting (there is no copy).
    pin_memory: str = "auto"
    # torch.compile the model in fit. Where it helps: CUDA, the full profile (minutes of
    # compilation repaid over hours of training); not on this book's 2-core CPU runs.
    compile: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.profile, str) or not self.profile:
            raise ConfigError(f"profile must be a non-empty string, got {self.profile!r}")
        for name in ("image_size", "batch_size", "max_epochs", "patience"):
            check_int(name, getattr(self, name))
        check_int("seed", self.seed, minimum=0)
        for name in ("max_train_per_class", "max_val_per_class", "max_test_per_class",
                     "max_steps_per_epoch", "num_threads"):
            check_int(name, getattr(self, name), optional=True)
        check_int("num_workers", self.num_workers, minimum=0, optional=True)
        if not isinstance(self.compile, bool):
            raise ConfigError(f"compile must be True or False, got {self.compile!r}")
        for name, choices in (("monitor", MONITORS), ("val_subsets", VAL_SUBSETS),
                              ("lr_schedule", LR_SCHEDULES), ("amp", AMP_MODES),
                              ("channels_last", SWITCHES), ("pin_memory", SWITCHES)):
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

    def resolved(self, device: str | torch.device | None = None) -> dict[str, Any]:
        """What the ``"auto"`` settings mean on ``device`` (default: ``self.device`` resolved).

        ``{"device": "cuda:0", "amp": "bf16" or "off", "channels_last": bool, "num_workers":
        int, "pin_memory": bool, "compile": bool, "num_threads": int}``: the values a run
        actually used, for its history and record (``num_threads``: torch's count now).
        """
        dev = resolve_device(self.device if device is None else device)
        cuda = dev.type == "cuda"
        return {
            "device": str(dev),
            "amp": "bf16" if self.amp == "bf16" or (self.amp == "auto" and cuda) else "off",
            "channels_last": self.channels_last == "on" or (self.channels_last == "auto"
                                                            and cuda),
            "num_workers": (4 if cuda else 0) if self.num_workers is None else self.num_workers,
            "pin_memory": cuda and self.pin_memory != "off",
            "compile": self.compile,
            "num_threads": (torch.get_num_threads() if self.num_threads is None
                            else self.num_threads),
        }


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

# About a minute per ResNet18 on a 2-core CPU, in which the models learn the task: every field
# where it departs from FULL is explained in CI_DEPARTURES (shown in chapter 02 and checked by
# a test). Measured here (generator version 3, seed 42): ResNet18 88.8% RGB test accuracy
# after 59 s of training; 32 px, batch 64, constant Adam, 100 images per class and 6 epochs
# (this profile before) gave 35% on the same task's previous version.
CI = dataclasses.replace(
    FULL, profile="ci", image_size=16, batch_size=128, max_epochs=6, patience=6, lr=4e-3,
    lr_schedule="onecycle", max_val_per_class=20,
)

# Why the ci profile departs from the original's settings (FULL), field by field. A test checks
# that every field in which CI differs from FULL has its reason here, and no other.
CI_DEPARTURES: dict[str, str] = {
    "image_size": (
        "16 px instead of 84: a ResNet18 training step costs about 26 times less (0.17 s "
        "against 4.4 s per batch of 64, measured here), and the built-in shapes (4 to 7 px "
        "in radius at 16 px) stay readable; real photos lose much of their detail"
    ),
    "batch_size": (
        "128 instead of 64: at 16 px a step's fixed overhead matters, and a ResNet18 epoch "
        "took 9.6 s instead of 10.7 s (measured here)"
    ),
    "max_epochs": (
        "6 instead of 50: one short one-cycle schedule; measured here, ResNet18 reaches 89% "
        "on RGB in 6 epochs (94% in 8, at a third more time)"
    ),
    "patience": (
        "6 (no early stop) instead of 5: a one-cycle run must finish its cycle, its learning "
        "rate only falls at the end; the best epoch is still chosen on validation"
    ),
    "lr": (
        "4e-3 instead of 1e-3, as the peak of the one-cycle schedule (a warm-up allows a "
        "larger peak than a constant rate)"
    ),
    "lr_schedule": (
        "one-cycle (Smith & Topin 2019) instead of constant: in 6 epochs, measured here, "
        "ResNet18 reached 88.8% on RGB with it and 69.9% with a constant 1e-3"
    ),
    "max_val_per_class": (
        "20 instead of all 40 validation images per class: v4 validates on all 7 subsets "
        "every epoch, and 480 images suffice to choose an epoch"
    ),
}

# Not a study: a few seconds per model, to check quickly that a chapter runs end to end while
# editing it (`make book PROFILE=smoke`). Its numbers mean nothing and the pages say so.
SMOKE = TrainConfig(
    profile="smoke", image_size=16, batch_size=16, max_epochs=1, patience=1,
    max_train_per_class=2, max_val_per_class=2, max_test_per_class=5, max_steps_per_epoch=2,
)

PROFILES: dict[str, TrainConfig] = {"ci": CI, "full": FULL, "smoke": SMOKE}
# Why each profile departs from FULL (the smoke profile's numbers mean nothing at all).
DEPARTURES: dict[str, dict[str, str]] = {"full": {}, "ci": CI_DEPARTURES}


def departures(profile: str | TrainConfig = "ci") -> list[tuple[str, Any, Any, str]]:
    """``(field, original value, this profile's value, reason)`` for every field where
    ``profile`` departs from the original's settings (``FULL``), in field order."""
    config = get_config(profile)
    reasons = DEPARTURES.get(config.profile, {})
    rows = []
    for name in FIELD_NAMES:
        original, value = getattr(FULL, name), getattr(config, name)
        if name in ("profile", *RUNTIME_FIELDS) or original == value:
            continue
        reason = reasons.get(name, "a quick check, not a study: its numbers mean nothing"
                             if config.profile == "smoke" else "set by the caller")
        rows.append((name, original, value, reason))
    return rows


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
