"""Tests of dynconv.experiments.registry: every experiment of the book, declared once (no
training)."""

from __future__ import annotations

import pytest

from dynconv.channels import SUBSET_NAMES
from dynconv.config import get_config
from dynconv.errors import ConfigError
from dynconv.experiments.registry import (
    DYNAMIC_LAYERS,
    EXPERIMENTS,
    PART1,
    PART1_LONG,
    PART2,
    SUBSET_TRAINED,
    SUBSET_TRAINED_LONG,
    ExperimentSpec,
    _specs,
    get_experiment,
    label,
)
from dynconv.models.zoo import build_model

PROFILES = ("ci", "full", "smoke")


def test_every_spec_builds_under_every_profile():
    built = set()
    for spec in EXPERIMENTS.values():
        for profile in PROFILES:
            kwargs = spec.build_kwargs(profile)
            key = (spec.model, tuple(sorted(kwargs.items())))
            if key not in built:  # build each distinct model once (they take ~0.1 s each)
                model = build_model(spec.model, num_classes=3, **kwargs)
                assert model.build_spec == {"name": spec.model, "num_classes": 3,
                                            "kwargs": kwargs}
                built.add(key)
            config = spec.config(profile)
            assert config.profile == profile
    # experiments that differ only in their training channels share a model
    assert len(built) == len({(s.model, tuple(sorted(s.build_kwargs(p).items())))
                              for s in EXPERIMENTS.values() for p in PROFILES})


def test_names_groups_and_labels():
    assert all(name == spec.name for name, spec in EXPERIMENTS.items())
    labels = [spec.label for spec in EXPERIMENTS.values()]
    assert len(set(labels)) == len(labels)
    assert set(PART1) | set(PART2) <= set(EXPERIMENTS) and not set(PART1) & set(PART2)
    assert set(DYNAMIC_LAYERS) == set(PART1) - {"resnet18"}
    assert label("v4-sample") == "v4 per sample" and get_experiment("v3").model == "v3"
    spec = EXPERIMENTS["v1"]
    assert get_experiment(spec) is spec
    with pytest.raises(ConfigError, match="declared twice: a"):
        _specs(ExperimentSpec("a", "A", "v1"), ExperimentSpec("a", "B", "v2"))


def test_part2_trains_with_batch_16_under_full_and_one_budget_under_ci():
    budgets = set()
    for name in PART2:
        spec = get_experiment(name)
        assert spec.config("full").batch_size == 16
        assert spec.config("full").max_epochs == get_config("full").max_epochs
        ci = spec.config("ci")
        assert ci == get_config("ci", max_epochs=12)  # twice Part I's epochs, nothing else
        budgets.add(ci)
    assert len(budgets) == 1  # the same budget for all three
    for name in PART1:  # Part I keeps the profiles' settings
        assert get_experiment(name).config("full").batch_size == 64


def test_one_resnet18_per_subset_trains_on_that_subset_only():
    assert set(SUBSET_TRAINED) == set(SUBSET_NAMES)
    assert SUBSET_TRAINED["RGB"] == "resnet18"  # on RGB, the control itself
    for subset, name in SUBSET_TRAINED.items():
        spec = get_experiment(name)
        assert (spec.model, spec.train_channels) == ("resnet18", subset)
        assert spec.config("ci") == get_experiment("resnet18").config("ci")
        assert spec.build_kwargs("ci") == {}


def test_v3_anneals_within_the_ci_run_and_v4_validates_on_all_subsets():
    v3 = get_experiment("v3")
    assert v3.build_kwargs("ci")["anneal_epochs"] <= v3.config("ci").max_epochs
    assert "anneal_epochs" not in v3.build_kwargs("full")  # Chen et al.'s 10 epochs
    for name in ("v4-batch", "v4-sample"):
        spec = get_experiment(name)
        assert all(spec.config(p).val_subsets == "all" for p in PROFILES)
    assert {get_experiment(n).build_kwargs("ci")["drop_mode"]
            for n in ("v4-batch", "v4-sample")} == {"batch", "sample"}
    assert get_experiment("resnet18").config("ci").val_subsets == "train"


def test_seeds_are_consecutive_and_overrides_apply_last():
    for spec in EXPERIMENTS.values():
        first = get_config("ci").seed
        assert spec.seeds() == list(range(first, first + spec.num_seeds))
    assert len(get_experiment("resnet18").seeds()) == 3 > len(get_experiment("v1").seeds())
    spec = get_experiment("small-k3s1")
    assert spec.seeds(get_config("ci", seed=7)) == [7]
    assert spec.config("full", batch_size=8).batch_size == 8  # a caller's override wins
    assert spec.config(get_config("full")).batch_size == 16


def test_unknown_names_and_arguments_raise_config_errors():
    with pytest.raises(ConfigError, match="unknown experiment 'v9'; valid: resnet18, v1, v2"):
        get_experiment("v9")
    with pytest.raises(ConfigError, match="v4 does not take drop_rate; valid: drop_mode"):
        ExperimentSpec("x", "x", "v4", model_kwargs={"drop_rate": 0.5})
    with pytest.raises(ConfigError, match="v3 does not take anneal"):
        ExperimentSpec("x", "x", "v3", profile_model_kwargs={"ci": {"anneal": 3}})
    with pytest.raises(ConfigError, match="unknown model 'v7'"):
        ExperimentSpec("x", "x", "v7")
    with pytest.raises(ConfigError, match="num_seeds"):
        ExperimentSpec("x", "x", "v1", num_seeds=0)
    with pytest.raises(ConfigError, match="valid fields"):
        ExperimentSpec("x", "x", "v1", overrides={"epochs": 3}).config("ci")


def test_specs_are_read_only():
    spec = get_experiment("v4-sample")
    with pytest.raises(TypeError):
        spec.model_kwargs["drop_mode"] = "batch"  # type: ignore[index]
    with pytest.raises(TypeError):
        spec.profile_overrides["ci"] = {}  # type: ignore[index]
    assert ExperimentSpec("x", "x", "v1", train_channels="gr").train_channels == "RG"


def test_every_per_profile_departure_says_why():
    from dynconv.experiments.registry import experiment_departures

    rows = experiment_departures("ci")
    long_oracles = [(n, field, 18) for n in SUBSET_TRAINED_LONG.values()
                    for field in ("max_epochs", "patience")]
    # Part I at 3x (resnet18-long is among the oracles); v3 anneals over as much of its run
    long_part1 = [(n, field, 18) for n in PART1_LONG[1:] for field in ("max_epochs", "patience")]
    long_part1.insert(4, ("v3-long", "anneal_epochs", 9))
    assert [(r[0], r[1], r[3]) for r in rows] == [
        ("v3", "anneal_epochs", 3), ("v5-long", "max_epochs", 18), ("v5-long", "patience", 18),
        *long_oracles, *long_part1, ("v5-distill-long", "max_epochs", 18),
        ("v5-distill-long", "patience", 18), ("resnet34", "max_epochs", 12),
        ("small-k3s1", "max_epochs", 12),
        ("small-k7s2", "max_epochs", 12), ("compact", "max_epochs", 12),
        ("compact-no-attention", "max_epochs", 12), ("resnet34-32px", "max_epochs", 12),
        ("resnet18-32px", "max_epochs", 12), ("compact-32px", "max_epochs", 12)]
    # Part II at 32 px: the same budget as Part II, at 32 px under every profile but smoke
    for name in ("resnet34-32px", "resnet18-32px", "compact-32px"):
        for profile in ("ci", "full"):
            assert get_experiment(name).config(profile).image_size == 32
            assert get_experiment(name).config(profile).max_epochs == get_experiment(
                "resnet34").config(profile).max_epochs
    # v5-long is three times v5's budget under every profile
    assert get_experiment("v5-long").config("ci").max_epochs == 3 * get_experiment(
        "v5").config("ci").max_epochs
    assert get_experiment("v5-long").config("full").max_epochs == 3 * get_experiment(
        "v5").config("full").max_epochs
    # the oracles at three times the budget: v5-long's budget, each on its own subset
    for subset, name in SUBSET_TRAINED_LONG.items():
        spec = get_experiment(name)
        assert spec.train_channels == get_experiment(SUBSET_TRAINED[subset]).train_channels
        for profile in ("ci", "full", "smoke"):
            mine, v5_long = spec.config(profile), get_experiment("v5-long").config(profile)
            assert (mine.max_epochs, mine.patience) == (v5_long.max_epochs, v5_long.patience)
    # Part I at 3x: the same model, arguments and channels as at the profile's budget
    for short, long in zip(PART1, PART1_LONG, strict=True):
        a, b = get_experiment(short), get_experiment(long)
        assert (a.model, a.train_channels, a.overrides) == (b.model, b.train_channels,
                                                            b.overrides)
        for profile in ("ci", "full"):
            kwargs = [{k: v for k, v in spec.build_kwargs(profile).items()
                       if k != "anneal_epochs"} for spec in (a, b)]
            assert kwargs[0] == kwargs[1]
            assert b.config(profile).max_epochs == get_experiment("v5-long").config(
                profile).max_epochs
    assert get_experiment("v3-long").build_kwargs("full") == {"anneal_epochs": 30}
    assert "T = 15.5" in rows[0][4]  # 30 - 29 * 5 / 10 in the last (6th) epoch
    assert all(len(r[4]) > 20 for r in rows)
    assert experiment_departures("full") == []
    with pytest.raises(ConfigError, match="say why it departs from profile"):
        ExperimentSpec("x", "X", "v3", profile_model_kwargs={"ci": {"anneal_epochs": 2}})
    ExperimentSpec("x", "X", "v3", profile_model_kwargs={"full": {"anneal_epochs": 2}})
