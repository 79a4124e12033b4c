"""Tests of dynconv.config: the profiles, their documented departures from the original, and
which settings change a record's fingerprint (no training)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from dynconv.config import (
    CI,
    FIELD_NAMES,
    FULL,
    PROFILES,
    RUNTIME_FIELDS,
    SMOKE,
    TrainConfig,
    get_config,
)
from dynconv.errors import ConfigError, DynconvError


def test_profiles_are_instances_with_the_documented_settings():
    assert PROFILES == {"ci": CI, "full": FULL, "smoke": SMOKE}
    assert (FULL.image_size, FULL.batch_size, FULL.max_epochs, FULL.patience) == (84, 64, 50, 5)
    assert FULL.monitor == "val_loss" and FULL.max_train_per_class is None
    assert (FULL.max_val_per_class, FULL.max_test_per_class) == (None, None)
    assert (CI.image_size, CI.max_train_per_class, CI.max_val_per_class) == (16, None, 20)
    assert CI.max_test_per_class is None  # every test image: intervals of about 1 point
    assert (CI.max_epochs, CI.patience, CI.lr_schedule) == (6, 6, "onecycle")
    assert (SMOKE.image_size, SMOKE.max_epochs, SMOKE.max_steps_per_epoch) == (16, 1, 2)
    assert all(p.val_subsets == "train" for p in PROFILES.values())
    assert {name: p.profile for name, p in PROFILES.items()} == {
        "ci": "ci", "full": "full", "smoke": "smoke"}
    assert (CI.lr, CI.weight_decay, CI.grad_clip, CI.seed) == (4e-3, 1e-4, 2.0, 42)
    assert (FULL.lr, FULL.lr_schedule) == (1e-3, "constant")
    with pytest.raises(dataclasses.FrozenInstanceError):
        CI.lr = 1.0  # type: ignore[misc]


def test_every_ci_departure_from_the_original_has_its_reason():
    from dynconv.config import CI_DEPARTURES, departures

    differing = {f for f in FIELD_NAMES
                 if f not in ("profile", *RUNTIME_FIELDS) and getattr(CI, f) != getattr(FULL, f)}
    assert differing == set(CI_DEPARTURES)  # every departure explained, and nothing else
    rows = departures("ci")
    assert [r[0] for r in rows] == [f for f in FIELD_NAMES if f in differing]  # field order
    assert all(r[3] == CI_DEPARTURES[r[0]] and len(r[3]) > 20 for r in rows)
    assert departures("full") == []
    assert [r[:3] for r in departures(get_config("full", lr=0.1))] == [("lr", 1e-3, 0.1)]
    assert {r[0] for r in departures("smoke")} >= {"image_size", "max_epochs"}


def test_get_config_overrides_and_to_dict():
    cfg = get_config("full", batch_size=16)
    assert cfg.batch_size == 16 and cfg.profile == "full" and FULL.batch_size == 64
    d = cfg.to_dict()
    assert tuple(d) == FIELD_NAMES and d["batch_size"] == 16
    assert TrainConfig(**d) == cfg
    assert "num_threads" not in cfg.fingerprint_dict()


@pytest.mark.parametrize(
    ("profile", "overrides", "fragment"),
    [
        ("fast", {}, "valid profiles: ci, full, smoke"),
        ("ci", {"max_eval_per_class": 4}, "unknown TrainConfig field"),
        ("ci", {"val_subsets": "some"}, "val_subsets must be one of train, all"),
        ("ci", {"max_test_per_class": 0}, "or None"),
        ("ci", {"learning_rate": 0.1}, "valid fields: profile, image_size"),
        ("ci", {"monitor": "accuracy"}, "val_loss, val_acc"),
        ("ci", {"batch_size": 0}, "batch_size must be an integer >= 1"),
        ("ci", {"max_epochs": 2.5}, "max_epochs"),
        ("ci", {"patience": True}, "patience"),
        ("ci", {"lr": -1.0}, "lr must be a finite number > 0"),
        ("ci", {"weight_decay": float("nan")}, "weight_decay"),
        ("ci", {"max_train_per_class": 0}, "or None"),
        ("ci", {"device": "gpu7"}, "device"),
        ("ci", {"amp": "fp16"}, "amp must be one of auto, bf16, off"),
        ("ci", {"channels_last": True}, "channels_last must be one of auto, on, off"),
        ("ci", {"pin_memory": "yes"}, "pin_memory must be one of auto, on, off"),
        ("ci", {"num_workers": -1}, "num_workers must be an integer >= 0 or None"),
        ("ci", {"compile": "yes"}, "compile must be True or False"),
    ],
)
def test_config_errors_name_the_valid_choices(profile, overrides, fragment):
    with pytest.raises(ConfigError, match=fragment) as info:
        get_config(profile, **overrides)
    assert isinstance(info.value, DynconvError) and isinstance(info.value, ValueError)


def test_gpu_settings_resolve_per_device_and_only_some_change_the_fingerprint():
    assert all((p.amp, p.channels_last, p.num_workers, p.pin_memory, p.compile)
               == ("auto", "auto", None, "auto", False) for p in PROFILES.values())
    cpu = {"amp": "off", "channels_last": False, "num_workers": 0, "pin_memory": False,
           "compile": False}
    cuda = {"amp": "bf16", "channels_last": True, "num_workers": 4, "pin_memory": True,
            "compile": False}
    resolved = CI.resolved("cpu")
    assert resolved == {"device": "cpu", **cpu, "num_threads": torch.get_num_threads()}
    assert CI.resolved("cuda:1") == {"device": "cuda:1", **cuda,
                                     "num_threads": torch.get_num_threads()}
    assert get_config("ci", device="cpu").resolved()["device"] == "cpu"  # self.device
    forced = get_config("ci", amp="bf16", channels_last="on", pin_memory="on", num_workers=2,
                        compile=True, num_threads=1)
    assert {k: forced.resolved("cpu")[k] for k in cpu} == {
        "amp": "bf16", "channels_last": True, "num_workers": 2,
        "pin_memory": False,  # nothing to pin for on a CPU
        "compile": True}
    off = get_config("ci", amp="off", channels_last="off", pin_memory="off")
    assert {k: off.resolved("cuda")[k] for k in ("amp", "channels_last", "pin_memory")} == {
        "amp": "off", "channels_last": False, "pin_memory": False}
    assert set(RUNTIME_FIELDS) == {"num_threads", "num_workers", "pin_memory", "compile"}
    assert {"amp", "channels_last"} <= set(CI.fingerprint_dict())  # they change numbers
    assert not set(RUNTIME_FIELDS) & set(CI.fingerprint_dict())


def test_optional_fields_accept_none():
    cfg = get_config("ci", grad_clip=None, max_steps_per_epoch=None, num_threads=None)
    assert cfg.grad_clip is None


# ----------------------------------------------------------------------------- fit
