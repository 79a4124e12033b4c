"""Every experiment of the book, declared once, by name.

Chapters never spell out a model's arguments or a profile's exceptions: they ask for an
experiment by name (``ch.run("v4-sample")``), and this module says what that is. A chapter that
compares with an earlier chapter's model asks for the same name and gets the same stored
record (:mod:`dynconv.experiments.runner` keys records by everything that determines them).

Per-profile choices are *data* of an experiment, not branches in a chapter:

* Part II trains with batch 16 under ``full`` (as the original); under ``ci`` its three networks
  get 12 epochs each (Part I: 6), because the small networks learn more slowly than ResNet34;
* v3 anneals its temperature 30 -> 1 over 10 epochs (Chen et al.) under ``full`` and over the
  first 3 of the 6 epochs under ``ci``, so that it reaches 1 within the run;
* v4 is validated (early stopping, best epoch) on the mean over all seven subsets, because it is
  meant to serve every subset; the original selected it on RGB. So is every Part III model;
* Part III (chapter 10) trains its models with one channel-sampling rule (hierarchical, drawn per
  image: :mod:`dynconv.stems.sampling`) and scores them against :data:`SUBSET_TRAINED`, a plain
  ResNet18 trained on each subset alone.

``num_seeds`` runs an experiment with seeds ``seed, seed + 1, ...``: the zero-fill control and
the dynamic layer with the best subset accuracy are repeated so that the book can show how far a
result moves from seed to seed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from dynconv.channels import INCOMPLETE_SUBSETS, parse_channels
from dynconv.config import CI, FULL, PROFILES, TrainConfig, get_config
from dynconv.errors import ConfigError
from dynconv.experiments.inspection import INSPECTIONS
from dynconv.models.zoo import MODEL_NAMES, model_options


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment: a model, its builder arguments, its training channels and settings."""

    # Stable identifier; the record file starts with it ("v4-sample-seed42-...").
    name: str
    # What tables and plots call it.
    label: str
    # A dynconv.models.zoo model name.
    model: str
    # build_model keyword arguments for every profile.
    model_kwargs: Mapping[str, Any] = field(default_factory=dict)
    # Channels it is trained (and, with val_subsets="train", validated) on.
    train_channels: str = "RGB"
    # TrainConfig fields for every profile.
    overrides: Mapping[str, Any] = field(default_factory=dict)
    # Profile name -> TrainConfig fields (applied after `overrides`).
    profile_overrides: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Profile name -> build_model arguments (applied after `model_kwargs`).
    profile_model_kwargs: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Profile name -> why this experiment departs from the profile there (required for every
    # profile other than "full" that has profile_overrides or profile_model_kwargs).
    profile_reasons: Mapping[str, str] = field(default_factory=dict)
    # How many seeds the book runs (seed, seed + 1, ...).
    num_seeds: int = 1
    # One sentence on why the experiment is in the book.
    purpose: str = ""
    # What a chapter shows of the trained model, stored in its record
    # (dynconv.experiments.inspection).
    inspect: str | None = None

    def __post_init__(self) -> None:
        # frozen dataclass: normalise through object.__setattr__ (read-only mappings)
        for name in ("model_kwargs", "overrides", "profile_reasons"):
            object.__setattr__(self, name, _frozen(getattr(self, name)))
        for name in ("profile_overrides", "profile_model_kwargs"):
            value = {p: _frozen(m) for p, m in (getattr(self, name) or {}).items()}
            object.__setattr__(self, name, MappingProxyType(value))
        object.__setattr__(self, "train_channels", parse_channels(self.train_channels).name)
        if self.model not in MODEL_NAMES:
            raise ConfigError(f"experiment {self.name!r}: unknown model {self.model!r}; "
                              f"valid: {', '.join(MODEL_NAMES)}")
        options = set(model_options(self.model))
        kwargs = [*self.model_kwargs, *(k for m in self.profile_model_kwargs.values() for k in m)]
        unknown = sorted(set(kwargs) - options)
        if unknown:
            raise ConfigError(f"experiment {self.name!r}: {self.model} does not take "
                              f"{', '.join(unknown)}; valid: {', '.join(sorted(options))}")
        unexplained = sorted(p for p in {*self.profile_overrides, *self.profile_model_kwargs}
                             if p != "full" and not self.profile_reasons.get(p))
        if unexplained:
            raise ConfigError(f"experiment {self.name!r}: say why it departs from profile(s) "
                              f"{', '.join(unexplained)} in profile_reasons")
        if self.inspect is not None and self.inspect not in INSPECTIONS:
            raise ConfigError(f"experiment {self.name!r}: unknown inspection {self.inspect!r}; "
                              f"valid: {', '.join(INSPECTIONS)}")
        if self.num_seeds < 1:
            raise ConfigError(f"experiment {self.name!r}: num_seeds must be >= 1")
        for profile, fields in self.profile_overrides.items():  # bad fields fail here, not later
            get_config(profile if profile in PROFILES else "ci", **{**self.overrides, **fields})
        get_config("ci", **self.overrides)

    def config(self, profile: str | TrainConfig = "ci", **overrides: Any) -> TrainConfig:
        """The TrainConfig this experiment trains with under ``profile`` (plus ``overrides``)."""
        base = get_config(profile)
        fields = {**self.overrides, **self.profile_overrides.get(base.profile, {}), **overrides}
        return get_config(base, **fields)

    def build_kwargs(self, profile: str) -> dict[str, Any]:
        """build_model keyword arguments under ``profile``."""
        return {**self.model_kwargs, **self.profile_model_kwargs.get(profile, {})}

    def seeds(self, profile: str | TrainConfig = "ci") -> list[int]:
        """The seeds the book runs: the profile's seed and the next ``num_seeds - 1``."""
        first = self.config(profile).seed
        return [first + i for i in range(self.num_seeds)]


def _specs(*specs: ExperimentSpec) -> Mapping[str, ExperimentSpec]:
    names = [s.name for s in specs]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ConfigError(f"experiment names declared twice: {', '.join(duplicates)}")
    return MappingProxyType({s.name: s for s in specs})


# Part II's shared per-profile settings (see the module docstring).
_PART2 = {"full": {"batch_size": 16}, "ci": {"max_epochs": 12}}
_PART2_REASON = (
    "the small networks learn more slowly than ResNet34: in 6 epochs the k7s2 network reached "
    "54% on RGB against ResNet34's 84% (measured here, this profile); all three get twice "
    "Part I's epochs, the same budget each"
)
_PART2_REASONS = {"ci": _PART2_REASON}
# Part II again at 32 px: on the real photos at the ci profile's 16 px ResNet34 falls below
# ResNet18, so a comparison with ResNet34 there says little; at 32 px it does not (chapter 9).
_PART2_32PX = {"full": {**_PART2["full"], "image_size": 32},
               "ci": {**_PART2["ci"], "image_size": 32}}
# Three seeds each, as every network of a headline comparison (a 32 px ResNet34 trains for
# 10-14 min here, on each dataset)
_PART2_32PX_SEEDS = 3
_PART2_32PX_REASONS = {"ci": _PART2_REASON + "; 32 px instead of the profile's 16, the size at "
                             "which ResNet34 is not below ResNet18 on the real photos"}

_ALL_SUBSETS = {"val_subsets": "all"}  # validate on the mean over the seven subsets
# v5's longer budget: three times each oracle's epochs, the learning-rate cycle stretched to
# match and no early stop before its end (under full: three times the epoch cap, early
# stopping on validation as every full run; under smoke: the profile's own single epoch)
_LONG = {"max_epochs": 3 * FULL.max_epochs}
_LONG_CI = {"max_epochs": 3 * CI.max_epochs, "patience": 3 * CI.max_epochs}
_LONG_REASON = ("three times the profile's 6 epochs, one one-cycle schedule over all 18, and no "
                "early stop before the cycle ends (the profile's own reason for its patience)")
# v5-long's budget, as ExperimentSpec arguments (v5-long and the oracles trained as long)
_LONG_BUDGET = {"profile_overrides": {"full": _LONG, "ci": _LONG_CI},
                "profile_reasons": {"ci": _LONG_REASON}}
# CHAMMI's four first layers (dynconv.stems.chammi), by model name.
PUBLISHED_LABELS = {"sliceparam": "SliceParam", "templatemixing": "TemplateMixing",
                    "hypernet": "HyperNet", "depthwise": "Depthwise"}
# The published design repeated over 3 seeds. First picked by its worst-subset ratio to the
# oracles on TEST images in a first single-seed run of all four (ci profile, built-in data);
# a choice must be made on validation data, and on validation (best validation accuracy, mean
# over the seven subsets) it is also the best of the four: chapter 10 computes that check from
# the records and says so if it stops holding.
BEST_PUBLISHED = "templatemixing"

# v5's ablations: (name, label, what differs in build_model's arguments, what it tests).
_V5_ABLATIONS = (
    ("v5-no-identity", "v5 without identity", {"identity": False},
     "no channel-identity embedding"),
    ("v5-v4-sampling", "v5 with v4's sampling", {"sampling": "v4"},
     "v4's per-image dropping (2/3 RGB) instead of hierarchical sampling"),
    ("v5-batch-sampling", "v5 with per-batch sampling", {"sampling": "hierarchical-batch"},
     "ChannelViT's hierarchical sampling drawn once per batch instead of per image"),
    ("v5-zero-fill", "v5 with zero-fill", {"missing": "zero"},
     "absent channels enter as zero maps instead of being dropped"),
)

# v5 with a second loss in training (dynconv.models.auxiliary): (name, label, objective, what).
_V5_OBJECTIVES = (
    ("v5-distill", "v5 + in-place distillation", "distill",
     "in-place distillation, the network on all channels teaching itself on fewer, whose "
     "images learn from it instead of their labels (Yu & Huang, ICCV 2019)"),
    ("v5-distill-plus-labels", "v5 + distillation and labels", "distill-plus-labels",
     "in-place distillation with the labels kept: an image that lost a channel learns from "
     "both"),
    ("v5-reconstruct", "v5 + reconstruction", "reconstruct",
     "the dropped channels reconstructed from layer1's features (after ChA-MAEViT, "
     "NeurIPS 2025)"),
)

# v5 with a second loss that needs a model of its own: (name, label, model, what it tests).
_V5_LOSS_MODELS = (
    ("v5-diverse", "v5 + diverse channels", "v5_diverse",
     "DiChaViT's two losses (NeurIPS 2024), each channel's features kept apart from the "
     "others' and each channel's embedding told apart"),
    ("v5-rgb-teacher", "v5 + RGB teacher", "v5_rgb_teacher",
     "distillation from a plain ResNet18 on RGB trained beside it, with in-place "
     "distillation's rule (only the teacher differs)"),
)

EXPERIMENTS: Mapping[str, ExperimentSpec] = _specs(
    # ---- Part I: a first layer for any channel subset (chapters 2-7)
    ExperimentSpec(
        "resnet18", "ResNet18 (zero-fill)", "resnet18", num_seeds=3,
        purpose="The control: a plain ResNet18 trained on RGB, missing channels zero-filled.",
    ),
    ExperimentSpec("v1", "v1", "v1", purpose="A kernel generated per image, RGB only.",
                   inspect="v1_kernels"),
    ExperimentSpec(
        "v2", "v2", "v2",
        purpose="One kernel generator per subset size, trained on RGB only.",
        inspect="v2_generators",
    ),
    ExperimentSpec(
        "v3", "v3", "v3",
        profile_model_kwargs={"ci": {"anneal_epochs": 3}},
        profile_reasons={"ci": "the ci run has 6 epochs: annealing over 10 would leave its "
                               "last epoch at T = 15.5, far from the T = 1 of Chen et al."},
        purpose="Dynamic convolution: attention over a kernel bank sliced by channel.",
        inspect="v3_routing",
    ),
    ExperimentSpec(
        "v4-batch", "v4 per batch", "v4",
        model_kwargs={"drop_mode": "batch"}, overrides={"val_subsets": "all"},
        purpose="v2 trained with random channel dropping, one subset per batch.",
    ),
    ExperimentSpec(
        "v4-sample", "v4 per sample", "v4",
        model_kwargs={"drop_mode": "sample"}, overrides={"val_subsets": "all"}, num_seeds=3,
        purpose="v2 trained with random channel dropping, one subset per image.",
    ),
    # ---- A plain ResNet18 trained on one incomplete subset alone (chapter 2): per subset, what
    # a network of this size reaches when it never has to serve any other subset
    *(ExperimentSpec(
        f"resnet18-on-{subset}", f"ResNet18 trained on {subset}", "resnet18",
        train_channels=subset,
        purpose=f"The best a ResNet18 reaches on {subset}: trained and tested on {subset} only.",
    ) for subset in INCOMPLETE_SUBSETS),
    # ---- Part III: one first layer for any subset (chapter 10). All serve every subset, so all
    # are validated on the mean over the seven subsets, and all but control (a) are trained with
    # the same hierarchical channel sampling, drawn per image (dynconv.stems.sampling), unless the
    # name says otherwise.
    ExperimentSpec(
        "resnet18-sampled", "ResNet18 (zero-fill + rescale, sampled)", "resnet18",
        model_kwargs={"sampling": "hierarchical", "rescale": True}, overrides=_ALL_SUBSETS,
        num_seeds=3,
        purpose="Control (b): a plain ResNet18 trained on zero-filled random subsets, present "
                "channels scaled by 3/n (ChannelViT's zero-fill baseline).",
    ),
    ExperimentSpec(
        "v5", "v5", "v5", overrides=_ALL_SUBSETS, num_seeds=3, inspect="v5_embedding",
        purpose="This book's design: shared filter bank + channel-identity embedding + mean "
                "over the present channels.",
    ),
    *(ExperimentSpec(
        design, label, design, overrides=_ALL_SUBSETS,
        num_seeds=3 if design == BEST_PUBLISHED else 1,
        purpose=f"CHAMMI's {label} first layer (Chen, Pham et al., NeurIPS 2023).",
    ) for design, label in PUBLISHED_LABELS.items()),
    ExperimentSpec(
        "v5-long", "v5, 3x budget", "v5", overrides=_ALL_SUBSETS, **_LONG_BUDGET,
        num_seeds=3,
        purpose="v5 trained three times as long as each oracle (the seven oracles together "
                "train seven times as long as one network).",
    ),
    # ---- The oracles again at v5-long's budget (chapter 10): at the profile's budget most of them
    # are still rising at their last epoch, so v5-long against them measures the budget too.
    # Three seeds each: the ratios that decide v5's targets at this budget divide by them.
    ExperimentSpec(
        "resnet18-long", "ResNet18, 3x budget", "resnet18", **_LONG_BUDGET, num_seeds=3,
        purpose="The oracle of RGB (Part I's control) trained as long as v5-long.",
    ),
    *(ExperimentSpec(
        f"resnet18-on-{subset}-long", f"ResNet18 trained on {subset}, 3x budget", "resnet18",
        train_channels=subset, **_LONG_BUDGET, num_seeds=3,
        purpose=f"The oracle of {subset} trained as long as v5-long.",
    ) for subset in INCOMPLETE_SUBSETS),
    # ---- Part I's dynamic layers again at the same budget (chapter 7): at the profile's budget
    # most of them are still rising at their last epoch; with resnet18-long as their control.
    ExperimentSpec("v1-long", "v1, 3x budget", "v1", **_LONG_BUDGET,
                   purpose="v1 trained three times as long, to see if Part I's ranking holds."),
    ExperimentSpec("v2-long", "v2, 3x budget", "v2", **_LONG_BUDGET,
                   purpose="v2 trained three times as long, to see if Part I's ranking holds."),
    ExperimentSpec(
        "v3-long", "v3, 3x budget", "v3",
        profile_overrides=_LONG_BUDGET["profile_overrides"],
        # the temperature's annealing stretched with the run, as the learning-rate cycle is
        profile_model_kwargs={"full": {"anneal_epochs": 3 * 10}, "ci": {"anneal_epochs": 3 * 3}},
        profile_reasons={"ci": _LONG_REASON + "; the temperature anneals over the first 9 of "
                               "the 18 epochs, the share of the run v3 anneals over under ci"},
        purpose="v3 trained three times as long, to see if Part I's ranking holds.",
    ),
    ExperimentSpec(
        "v4-batch-long", "v4 per batch, 3x budget", "v4",
        model_kwargs={"drop_mode": "batch"}, overrides=_ALL_SUBSETS, **_LONG_BUDGET,
        purpose="v4 per batch trained three times as long, to see if Part I's ranking holds.",
    ),
    ExperimentSpec(
        "v4-sample-long", "v4 per sample, 3x budget", "v4",
        model_kwargs={"drop_mode": "sample"}, overrides=_ALL_SUBSETS, **_LONG_BUDGET,
        purpose="v4 per sample trained three times as long, to see if Part I's ranking holds.",
    ),
    ExperimentSpec(
        "v5-switchable-bn", "v5 + switchable BN", "v5_switchable", overrides=_ALL_SUBSETS,
        purpose="v5's first layer with one BatchNorm per channel subset (Yu et al., "
                "slimmable networks), the subset drawn once per batch.",
    ),
    ExperimentSpec(
        "v4-identity", "v4 + identity", "v4_identity", overrides=_ALL_SUBSETS,
        purpose="v4 per sample's kernel generator told WHICH channels are present (v4 knows "
                "only how many), with v4's own per-image dropping.",
    ),
    *(ExperimentSpec(name, label, "v5", model_kwargs=kwargs, overrides=_ALL_SUBSETS,
                     purpose=f"v5's ablation: {what}.")
      for name, label, kwargs, what in _V5_ABLATIONS),
    *(ExperimentSpec(name, label, "v5_auxiliary", model_kwargs={"objective": objective},
                     overrides=_ALL_SUBSETS, purpose=f"v5's ablation: {what}.")
      for name, label, objective, what in _V5_OBJECTIVES),
    *(ExperimentSpec(name, label, model, overrides=_ALL_SUBSETS,
                     purpose=f"v5's ablation: {what}.")
      for name, label, model, what in _V5_LOSS_MODELS),
    ExperimentSpec(
        "v5-distill-long", "v5 + in-place distillation, 3x budget", "v5_auxiliary",
        model_kwargs={"objective": "distill"}, overrides=_ALL_SUBSETS, **_LONG_BUDGET,
        num_seeds=3,
        purpose="In-place distillation trained as long as v5-long: is its loss at the "
                "profile's budget that of a teacher still early in its training?",
    ),
    # ---- Part II: a small network against ResNet34 (chapter 9)
    ExperimentSpec(
        "resnet34", "ResNet34", "resnet34", num_seeds=3,
        profile_overrides=_PART2, profile_reasons=_PART2_REASONS,
        purpose="Part II's reference network.",
    ),
    ExperimentSpec(
        "small-k3s1", "small k3s1", "small_k3s1",
        profile_overrides=_PART2, profile_reasons=_PART2_REASONS,
        purpose="The small attention network with the 3x3/1 stem (attention at full size).",
    ),
    ExperimentSpec(
        "small-k7s2", "small k7s2", "small_k7s2",
        profile_overrides=_PART2, profile_reasons=_PART2_REASONS,
        purpose="The small attention network with the 7x7/2 stem (attention at half size).",
        inspect="part2_first_block",
    ),
    ExperimentSpec(
        "compact", "compact", "compact", num_seeds=3,
        profile_overrides=_PART2, profile_reasons=_PART2_REASONS,
        purpose="This book's Part II network: four 3x3 convolutions with two max-pools and "
                "one attention + SE block where the map is small.",
    ),
    ExperimentSpec(
        "compact-no-attention", "compact without attention", "compact",
        model_kwargs={"attention": False},
        profile_overrides=_PART2, profile_reasons=_PART2_REASONS,
        purpose="The compact network's ablation: its attention + SE block removed.",
    ),
    # ---- Part II at 32 px (chapter 9): the reference, the check of the image size, the network
    ExperimentSpec(
        "resnet34-32px", "ResNet34, 32 px", "resnet34", num_seeds=_PART2_32PX_SEEDS,
        profile_overrides=_PART2_32PX, profile_reasons=_PART2_32PX_REASONS,
        purpose="Part II's reference network at 32 px.",
    ),
    ExperimentSpec(
        "resnet18-32px", "ResNet18, 32 px", "resnet18", num_seeds=_PART2_32PX_SEEDS,
        profile_overrides=_PART2_32PX, profile_reasons=_PART2_32PX_REASONS,
        purpose="The check of the image size: a comparison with ResNet34 means something only "
                "where ResNet34 is not below ResNet18 (same budget, same size).",
    ),
    ExperimentSpec(
        "compact-32px", "compact, 32 px", "compact", num_seeds=_PART2_32PX_SEEDS,
        profile_overrides=_PART2_32PX, profile_reasons=_PART2_32PX_REASONS,
        purpose="This book's Part II network at 32 px.",
    ),
)

# The chapters' groups, in the order the book introduces them.
PART1: tuple[str, ...] = ("resnet18", "v1", "v2", "v3", "v4-batch", "v4-sample")
# Part I again at three times the budget (v5-long's), its control the RGB oracle as long
PART1_LONG: tuple[str, ...] = ("resnet18-long", "v1-long", "v2-long", "v3-long",
                               "v4-batch-long", "v4-sample-long")
PART2: tuple[str, ...] = ("resnet34", "small-k3s1", "small-k7s2", "compact")
# Part II at 32 px: ResNet34, the check that it is not below ResNet18, the compact network
PART2_32PX: tuple[str, ...] = ("resnet34-32px", "resnet18-32px", "compact-32px")
# Part II's own network and its ablation (chapter 9)
COMPACT_ABLATION: tuple[str, ...] = ("compact", "compact-no-attention")
# Subset -> the plain ResNet18 trained on that subset alone (on RGB: the control itself).
SUBSET_TRAINED: Mapping[str, str] = MappingProxyType(
    {"RGB": "resnet18", **{s: f"resnet18-on-{s}" for s in INCOMPLETE_SUBSETS}})
# The same oracles at three times the budget, v5-long's (chapter 10).
SUBSET_TRAINED_LONG: Mapping[str, str] = MappingProxyType(
    {"RGB": "resnet18-long", **{s: f"resnet18-on-{s}-long" for s in INCOMPLETE_SUBSETS}})
# Part III (chapter 10): v5, the published designs, the two controls (a = the Part I control).
PUBLISHED: tuple[str, ...] = tuple(PUBLISHED_LABELS)
# (v5-long: v5 with three times the epochs, the one Part III model off the oracles' budget)
PART3: tuple[str, ...] = ("v5", "v5-long", *PUBLISHED, "resnet18", "resnet18-sampled")
# What identity adds to v4: v4 per sample (Part I, 3 seeds) against the same generator and the
# same dropping told which channels are present; and v5's own ablation.
IDENTITY_PAIR: tuple[str, ...] = ("v4-sample", "v4-identity")
# Measured again after training with BatchNorm statistics re-estimated per subset (AdaBN, at no
# training cost: dynconv.experiments.posthoc), every seed: v5 at the oracles' budget and at 3x.
ADABN: tuple[str, ...] = ("v5", "v5-long")
V5_ABLATION: tuple[str, ...] = ("v5", "v5-no-identity", "v5-batch-sampling", "v5-v4-sampling",
                                 "v5-zero-fill", "v5-switchable-bn",
                                 *(name for name, *_ in _V5_OBJECTIVES),
                                 *(name for name, *_ in _V5_LOSS_MODELS))
# In-place distillation against v5, both trained three times as long (chapter 10).
DISTILL_LONG: tuple[str, ...] = ("v5-distill-long", "v5-long")
# The dynamic first layers (Part I minus the control).
DYNAMIC_LAYERS: tuple[str, ...] = ("v1", "v2", "v3", "v4-batch", "v4-sample")
DYNAMIC_LAYERS_LONG: tuple[str, ...] = PART1_LONG[1:]


def experiment_departures(profile: str = "ci") -> list[tuple[str, str, Any, Any, str]]:
    """``(experiment, setting, value elsewhere, value under profile, reason)`` for every
    experiment whose settings under ``profile`` differ from its settings under ``full``."""
    rows = []
    for spec in EXPERIMENTS.values():
        reason = spec.profile_reasons.get(profile, "")
        for name, value in spec.profile_model_kwargs.get(profile, {}).items():
            elsewhere = spec.build_kwargs("full").get(name, "default")
            rows.append((spec.name, name, elsewhere, value, reason))
        for name, value in spec.profile_overrides.get(profile, {}).items():
            rows.append((spec.name, name, getattr(spec.config("full"), name), value, reason))
    return [row for row in rows if row[2] != row[3]]


def get_experiment(name: str | ExperimentSpec) -> ExperimentSpec:
    """The experiment called ``name``; unknown names raise ConfigError with the valid ones."""
    if isinstance(name, ExperimentSpec):
        return name
    try:
        return EXPERIMENTS[name]
    except KeyError:
        raise ConfigError(f"unknown experiment {name!r}; valid: {', '.join(EXPERIMENTS)}"
                          ) from None


def label(name: str) -> str:
    """The table label of experiment ``name``."""
    return get_experiment(name).label
