"""Tests of dynconv.provenance (JSON, hardware, versions, fingerprints) and one end-to-end run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from dynconv.channels import SUBSET_NAMES, parse_channels
from dynconv.experiments.records import Record
from dynconv.experiments.runner import run
from dynconv.provenance import (
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
    assert set(v) == {"python", "torch", "torchvision", "numpy", "dynconv", "calflops",
                      "scikit-learn", "statsmodels"}
    assert v["torch"].startswith(torch.__version__.split("+")[0])
    json.dumps(hw), json.dumps(v)


def test_config_fingerprint():
    a = config_fingerprint({"lr": 1e-3, "model": "v4"})
    assert a == config_fingerprint({"model": "v4", "lr": 0.001}) and len(a) == 10
    assert a != config_fingerprint({"lr": 1e-3, "model": "v3"})
    assert len(config_fingerprint({"x": 1}, length=16)) == 16
    # what a record is keyed by: channel subsets by name, tuples as lists
    assert config_fingerprint({"c": parse_channels("gr"), "t": (1, 2)}) == config_fingerprint(
        {"c": "RG", "t": [1, 2]})


# ----------------------------------------------------------------------------- end to end


@pytest.mark.slow
def test_end_to_end_on_builtin_data(tmp_path, tmp_path_factory, monkeypatch):
    """Real data, a real ResNet18, fit, evaluate and costs: the smoke profile (16 px)."""
    cache = tmp_path_factory.getbasetemp() / "dynconv-cache"  # shared by this session's tests
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(cache))
    rec = run("resnet18", profile="smoke", results_dir=tmp_path, progress=False)
    assert rec.origin == "trained: no stored record" and rec.experiment == "resnet18"
    assert [p.name for p in sorted((tmp_path / "smoke").iterdir())] == [
        "costs", f"{rec.name}.json", f"{rec.name}.pt"]
    assert len(list((tmp_path / "smoke" / "costs").glob("*.json"))) == 1  # measured once
    assert rec.data["name"] == "builtin-shapes" and rec.data["num_classes"] == 24
    assert rec.data["sizes"] == {"train": 48, "val": 48, "test": 120}
    assert rec.subsets == list(SUBSET_NAMES) and rec.num_test == 120
    for subset in SUBSET_NAMES:
        low, high = rec.interval(subset)
        assert 0 <= low <= rec.test[subset] <= high <= 1 and low < high
        assert math.isfinite(rec.test_loss[subset])
    assert rec.costs["params"] > 10_000_000 and rec.epochs_run == 1
    assert pd.DataFrame(rec.history).shape[0] == 1 and rec.hardware["cpu"]
    assert Record.load(rec.path) == rec
    again = run("resnet18", profile="smoke", results_dir=tmp_path, progress=False)
    assert again == rec and again.origin.startswith("loaded")
