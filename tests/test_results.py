"""Tests of dynconv.results and dynconv.experiment (CPU; stand-in data and model, 8-16 px)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import dynconv.experiment as experiment
from dynconv.channels import ALL_SUBSETS, parse_channels
from dynconv.config import get_config
from dynconv.data import DatasetBundle, ImageSplit
from dynconv.errors import ConfigError
from dynconv.experiment import (
    Experiment,
    load_records,
    make_splits,
    records_to_frame,
    run_experiment,
    sample_indices,
)
from dynconv.results import (
    config_fingerprint,
    default_results_dir,
    hardware,
    read_json,
    resolve_results_dir,
    to_jsonable,
    versions,
    write_json,
)

# ----------------------------------------------------------------------------- results.py


def test_json_round_trip_is_sorted_atomic_and_plain(tmp_path):
    obj = {
        "b": (1, 2.5, None),
        "a": {"n": np.int64(3), "x": np.float32(0.5), "arr": np.arange(3), "t": torch.tensor(2.0)},
        "nan": float("nan"),
        "path": Path("/x/y"),
        "subset": parse_channels("gr"),
    }
    path = write_json(tmp_path / "sub" / "r.json", obj)
    back = read_json(path)
    assert back == to_jsonable(obj) == {
        "a": {"arr": [0, 1, 2], "n": 3, "t": 2.0, "x": 0.5},
        "b": [1, 2.5, None],
        "nan": None,
        "path": "/x/y",
        "subset": "RG",
    }
    text = path.read_text()
    assert text.index('"a"') < text.index('"b"') and "\n  " in text  # sorted, indented
    assert [p.name for p in path.parent.iterdir()] == ["r.json"]  # no temporary file left
    assert write_json(path, back) and read_json(path) == back  # a record round-trips exactly


def test_failed_write_keeps_the_old_file(tmp_path):
    path = write_json(tmp_path / "r.json", {"ok": 1})
    with pytest.raises(TypeError, match="JSON record"):
        write_json(path, {"bad": object()})
    assert read_json(path) == {"ok": 1} and len(list(tmp_path.iterdir())) == 1


def test_results_dir_default_and_env(tmp_path, monkeypatch):
    monkeypatch.delenv("DYNCONV_RESULTS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    assert default_results_dir() == tmp_path / "results"
    monkeypatch.setenv("DYNCONV_RESULTS_DIR", str(tmp_path / "elsewhere"))
    assert default_results_dir() == tmp_path / "elsewhere"
    assert resolve_results_dir(None) == tmp_path / "elsewhere"
    assert resolve_results_dir("r") == Path("r")


def test_hardware_and_versions():
    hw = hardware()
    assert {"cpu", "logical_cores", "torch_threads", "gpu", "platform"} <= set(hw)
    assert hw["torch_threads"] == torch.get_num_threads()
    v = versions()
    assert set(v) == {"python", "torch", "torchvision", "numpy", "dynconv", "calflops"}
    assert v["torch"].startswith(torch.__version__.split("+")[0])
    json.dumps(hw), json.dumps(v)


def test_config_fingerprint():
    a = config_fingerprint({"lr": 1e-3, "model": "v4"})
    assert a == config_fingerprint({"model": "v4", "lr": 0.001}) and len(a) == 10
    assert a != config_fingerprint({"lr": 1e-3, "model": "v3"})


# ----------------------------------------------------------------------------- experiment.py

NUM_CLASSES = 3


class TinyNet(nn.Module):
    input_mode = "zero"

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)

    def forward(self, x, channels=None):
        return self.fc(torch.relu(self.conv(x)).mean(dim=(2, 3)))  # (B, num_classes)


def synthetic_bundle(image_size: int) -> DatasetBundle:
    def split(n_per_class: int, seed: int, name: str) -> ImageSplit:
        g = torch.Generator().manual_seed(seed)
        labels = torch.arange(NUM_CLASSES).repeat_interleave(n_per_class)
        images = torch.randint(0, 100, (len(labels), 3, image_size, image_size), generator=g)
        images[torch.arange(len(labels)), labels] += 120  # class k: channel k brighter
        return ImageSplit(images.to(torch.uint8), labels, name=name)

    return DatasetBundle(
        name="synthetic", root=Path("/nowhere"), image_size=image_size, num_classes=NUM_CLASSES,
        class_names=["red", "green", "blue"], fingerprint=f"synthetic-{image_size}",
        train=split(10, 0, "train"), val=split(5, 1, "val"), test=split(6, 2, "test"),
    )


@pytest.fixture
def stand_ins(monkeypatch):
    """Replace data loading, the model zoo and cost measurement with tiny stand-ins."""
    calls = {"fit": 0, "load": 0}
    real_fit = experiment.fit

    def load_dataset(data_dir, *, image_size, progress=True):
        calls["load"] += 1
        return synthetic_bundle(image_size)

    def build_model(name, *, num_classes, **kwargs):
        model = TinyNet(num_classes)
        if "fixed" in kwargs:
            model.fixed_channels = parse_channels(kwargs["fixed"])
        return model

    def counting_fit(*args, **kwargs):
        calls["fit"] += 1
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(experiment, "load_dataset", load_dataset)
    monkeypatch.setattr(experiment, "build_model", build_model)
    monkeypatch.setattr(experiment, "_measure_costs",
                        lambda model, **kw: {"params": sum(p.numel() for p in model.parameters()),
                                             **kw})
    monkeypatch.setattr(experiment, "fit", counting_fit)
    return calls


TINY = dict(image_size=8, batch_size=8, max_epochs=2, max_train_per_class=6,
            max_eval_per_class=4, device="cpu", progress=False)


def test_run_experiment_writes_one_record_and_reuses_it(tmp_path, stand_ins, monkeypatch):
    rec = run_experiment("tiny", results_dir=tmp_path, **TINY)
    name = rec["name"]
    assert name.startswith("tiny-RGB-") and len(name) == len("tiny-RGB-") + 10
    path = tmp_path / "ci" / f"{name}.json"
    assert read_json(path) == rec and (tmp_path / "ci" / f"{name}.pt").exists()

    assert rec["model"] == "tiny" and rec["profile"] == "ci"
    assert rec["config"]["image_size"] == 8 and rec["config"]["train_channels"] == "RGB"
    assert rec["config"]["model_kwargs"] == {}
    assert rec["data"]["sizes"] == {"train": 18, "val": 12, "test": 12}
    assert rec["data"]["fingerprint"] == "synthetic-8"
    assert list(rec["test"]) == [s.name for s in ALL_SUBSETS] == list(rec["test_loss"])
    assert all(0.0 <= acc <= 1.0 for acc in rec["test"].values())
    assert np.array(rec["confusion"]["RG"]).sum() == 12
    assert rec["report"]["RGB"][-1]["class"] == "macro avg"
    assert len(rec["samples"]["B"]) == 12 and set(rec["samples"]["B"][0]) == {
        "index", "label", "predicted"}
    assert len(rec["history"]) == rec["epochs_run"] == 2 and rec["best_epoch"] in (1, 2)
    assert rec["costs"]["params"] > 0 and rec["costs"]["image_size"] == 8
    assert {"hardware", "versions", "wall_time_s", "created"} <= set(rec)
    assert stand_ins["fit"] == 1

    # Same configuration again: the stored record, no training.
    def refuse(*args, **kwargs):
        raise AssertionError("fit must not be called for a stored configuration")

    counting_fit = experiment.fit
    monkeypatch.setattr(experiment, "fit", refuse)
    again = run_experiment("tiny", results_dir=tmp_path, **{**TINY, "progress": True})
    assert again == rec

    # force=True trains again (and replaces the record); another config gets another name.
    monkeypatch.setattr(experiment, "fit", counting_fit)
    forced = run_experiment("tiny", results_dir=tmp_path, force=True, **TINY)
    assert forced["name"] == name and forced["created"] >= rec["created"]
    assert stand_ins["fit"] == 2
    other = run_experiment("tiny", results_dir=tmp_path, **{**TINY, "lr": 3e-3})
    rg = run_experiment("tiny", results_dir=tmp_path, train_channels="gr", **TINY)
    assert len({name, other["name"], rg["name"]}) == 3 and rg["name"].startswith("tiny-RG-")

    records = load_records("ci", results_dir=tmp_path)
    assert [r["name"] for r in records] == sorted([name, other["name"], rg["name"]])
    frame = records_to_frame(records)
    assert list(frame.columns) == ["model", "train_channels", "model_kwargs"] + [
        s.name for s in ALL_SUBSETS]
    assert frame.loc[rg["name"], "train_channels"] == "RG"
    assert frame.loc[name, "RGB"] == forced["test"]["RGB"]
    assert load_records("full", results_dir=tmp_path) == []


def test_fixed_subset_model_is_tested_on_its_subset_only(tmp_path, stand_ins):
    rec = run_experiment("tiny", results_dir=tmp_path, model_kwargs={"fixed": "RGB"}, **TINY)
    assert list(rec["test"]) == ["RGB"] and rec["config"]["model_kwargs"] == {"fixed": "RGB"}
    assert rec["config"]["eval_subsets"] is None
    with pytest.raises(ConfigError, match="cannot take RG"):
        run_experiment("tiny", results_dir=tmp_path, model_kwargs={"fixed": "RGB"},
                       train_channels="RG", **TINY)
    with pytest.raises(ConfigError, match="cannot be evaluated on B"):
        run_experiment("tiny", results_dir=tmp_path, model_kwargs={"fixed": "RGB"},
                       eval_subsets=["RGB", "B"], **TINY)
    assert stand_ins["fit"] == 1  # both errors came before any training


def test_splits_and_sample_indices():
    bundle = synthetic_bundle(8)
    train, val, test = make_splits(bundle, get_config("ci", max_train_per_class=4,
                                                      max_eval_per_class=None))
    assert (len(train), len(val), len(test)) == (12, 15, 18)
    idx = sample_indices(48)
    assert len(idx) == 16 and idx[0] == 0 and idx[-1] == 47 and idx == sorted(set(idx))
    assert sample_indices(5) == [0, 1, 2, 3, 4]


def test_bad_overrides_fail_before_any_work(tmp_path, stand_ins):
    with pytest.raises(ConfigError, match="valid fields"):
        run_experiment("tiny", results_dir=tmp_path, epochs=3)
    with pytest.raises(ConfigError, match="valid profiles"):
        run_experiment("tiny", profile="huge", results_dir=tmp_path)
    assert stand_ins["load"] == 0


def test_experiment_value(monkeypatch):
    a = Experiment("v4", model_kwargs={"drop_prob": 0.5, "drop_mode": "batch"},
                   overrides={"monitor": "val_acc"}, train_channels="bgr")
    b = Experiment("v4", model_kwargs={"drop_mode": "batch", "drop_prob": 0.5},
                   overrides={"monitor": "val_acc"})
    assert a == b and hash(a) == hash(b) and a.train_channels == "RGB"
    assert a.model_kwargs == (("drop_mode", "batch"), ("drop_prob", 0.5))
    assert Experiment("v1", eval_subsets=["rgb"]).eval_subsets == ("RGB",)

    seen = {}
    monkeypatch.setattr(experiment, "run_experiment", lambda model, **kw: seen.update(kw, m=model))
    a.run(profile="full", results_dir="r", progress=False)
    assert seen["m"] == "v4" and seen["profile"] == "full" and seen["monitor"] == "val_acc"
    assert seen["model_kwargs"] == {"drop_mode": "batch", "drop_prob": 0.5}


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_end_to_end_on_builtin_data(tmp_path, tmp_path_factory, monkeypatch):
    """Real data, zoo model, fit, evaluate and costs: one ResNet18 step at 16 px."""
    cache = tmp_path_factory.getbasetemp() / "dynconv-cache"  # shared by this session's tests
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(cache))
    kw = dict(image_size=16, batch_size=16, max_epochs=1, max_train_per_class=1,
              max_eval_per_class=1, device="cpu", progress=False, results_dir=tmp_path,
              model_kwargs={"stem": "torchvision"})
    rec = run_experiment("resnet18", **kw)
    assert rec["data"]["name"] == "builtin-shapes" and rec["data"]["num_classes"] == 24
    assert rec["data"]["sizes"] == {"train": 24, "val": 24, "test": 24}
    assert list(rec["test"]) == [s.name for s in ALL_SUBSETS]
    assert rec["costs"]["params"] > 10_000_000 and rec["epochs_run"] == 1
    assert not math.isnan(rec["test_loss"]["RGB"])
    assert pd.DataFrame(rec["history"]).shape[0] == 1
    assert run_experiment("resnet18", **kw) == rec
