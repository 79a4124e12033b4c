"""Tests of dynconv.experiments.runner: records keyed by configuration, data and code (CPU, 8-16
px).

Most tests use the stand-ins of ``tests/standins.py`` (3 classes in memory, a 2-layer net);
the built-in-data tests shrink the generator to 24 classes x 2/1/1 images; the slow test edits
a copy of the package and trains a real ResNet18 in a subprocess.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from standins import TINY, TinyNet, patch_experiment, synthetic_bundle

import dynconv
import dynconv.data.datasets as data
import dynconv.data.shapes as shapes
import dynconv.experiments.runner as experiment
from dynconv.channels import SUBSET_NAMES
from dynconv.config import get_config
from dynconv.errors import ConfigError
from dynconv.experiments.keys import is_numeric
from dynconv.experiments.records import RECORD_FORMAT, Record, paired_tests
from dynconv.experiments.registry import EXPERIMENTS
from dynconv.experiments.runner import (
    experiment_code_key,
    experiment_modules,
    load_records,
    make_splits,
    run,
    run_experiment,
    run_seeds,
)
from dynconv.provenance import read_json, write_json
from dynconv.training.loop import load_checkpoint

PACKAGE_DIR = Path(dynconv.__file__).resolve().parent


# Tiny models: one torch thread (the conftest fixture), restored afterwards.
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture
def stand_ins(monkeypatch, tmp_path):
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(tmp_path / "cache"))
    return patch_experiment(monkeypatch)


def tiny_run(results_dir: Path, **kwargs) -> Record:
    return run_experiment("tiny", results_dir=results_dir, progress=False, **{**TINY, **kwargs})


# ----------------------------------------------------------------------------- train or load


def test_a_record_is_written_once_and_then_loaded(tmp_path, stand_ins):
    rec = tiny_run(tmp_path)
    assert rec.origin == "trained: no stored record"
    assert rec.name.startswith("adhoc-tiny-seed42-")
    assert len(rec.name) == len("adhoc-tiny-seed42-") + 10
    path = tmp_path / "ci" / f"{rec.name}.json"
    assert rec.path == str(path) and path.exists() and (tmp_path / "ci" / rec.checkpoint).exists()
    assert rec.model == rec.label == "tiny" and rec.experiment == "adhoc-tiny"
    assert rec.profile == "ci"
    assert rec.config["image_size"] == 8 and rec.config["train_channels"] == "RGB"
    assert rec.config["model_kwargs"] == {}
    assert rec.data["sizes"] == {"train": 18, "val": 12, "test": 12}
    assert rec.data["full_sizes"] == {"train": 30, "val": 15, "test": 18}
    assert rec.data["fingerprint"] == rec.key["data"] == "synthetic-v1-8"
    assert list(rec.test) == list(SUBSET_NAMES) == list(rec.predictions) == rec.subsets
    assert rec.num_test == 12 and all(len(p) == 12 for p in rec.predictions.values())
    assert all(rec.test[s] == rec.correct(s).mean() for s in rec.subsets)
    assert len(rec.history) == rec.epochs_run == 2 and rec.best_epoch in (1, 2)
    assert set(rec.key) == {"config", "data", "config_and_data", "code", "modules"}
    assert set(rec.key["modules"]) == {*experiment_modules("tiny"), "builder:tiny"}
    assert rec.costs["params"] > 0 and rec.costs["image_size"] == 8
    assert len(stand_ins["fits"]) == 1 and stand_ins["load"] == 1

    # The checkpoint carries the same key, and the model's builder arguments.
    ckpt = load_checkpoint(tmp_path / "ci" / rec.checkpoint)
    assert ckpt["run_key"] == rec.key

    # Same configuration again: the stored record, no training, no data loaded.
    again = tiny_run(tmp_path)
    assert again == rec and again.origin == "loaded: its key matches"
    assert len(stand_ins["fits"]) == 1 and stand_ins["load"] == 1

    # force=True trains again; another setting or seed is another record.
    forced = tiny_run(tmp_path, force=True)
    assert forced.origin == "trained: force=True" and forced.name == rec.name
    assert len(stand_ins["fits"]) == 2 and stand_ins["fits"][-1].resumed_from_epoch == 0
    other = tiny_run(tmp_path, lr=3e-3)
    rg = tiny_run(tmp_path, train_channels="gr")
    seed = tiny_run(tmp_path, seed=7)
    assert len({rec.name, other.name, rg.name, seed.name}) == 4
    assert rg.config["train_channels"] == "RG" and seed.name.startswith("adhoc-tiny-seed7-")

    records = load_records("ci", results_dir=tmp_path)
    assert [r.name for r in records] == sorted([rec.name, other.name, rg.name, seed.name])
    assert all(r.origin == "loaded" for r in records)
    assert load_records("full", results_dir=tmp_path) == []


def test_load_records_skips_records_of_another_format(tmp_path, stand_ins):
    rec = tiny_run(tmp_path)
    write_json(tmp_path / "ci" / "old.json", {"name": "old", "format": 1, "test": {}})
    with pytest.warns(UserWarning, match="skipping old.json"):
        records = load_records("ci", results_dir=tmp_path)
    assert [r.name for r in records] == [rec.name]


def test_an_unreadable_record_is_retrained(tmp_path, stand_ins):
    rec = tiny_run(tmp_path)
    Path(rec.path).write_text(json.dumps({**rec.to_json(), "format": 1}))
    again = tiny_run(tmp_path)
    assert again.origin.startswith("retrained: the stored record could not be read")
    assert len(stand_ins["fits"]) == 2 and read_json(rec.path)["format"] == RECORD_FORMAT


def test_fixed_subset_model_is_tested_on_its_subset_only(tmp_path, stand_ins):
    rec = tiny_run(tmp_path, model_kwargs={"fixed": "RGB"})
    assert list(rec.test) == ["RGB"] and rec.config["model_kwargs"] == {"fixed": "RGB"}
    with pytest.raises(ConfigError, match="cannot take RG"):
        tiny_run(tmp_path, model_kwargs={"fixed": "RGB"}, train_channels="RG")
    assert len(stand_ins["fits"]) == 1  # the error came before any training


def test_bad_arguments_fail_before_any_work(tmp_path, stand_ins):
    with pytest.raises(ConfigError, match="valid fields"):
        run_experiment("tiny", results_dir=tmp_path, epochs=3)
    with pytest.raises(ConfigError, match="valid profiles"):
        run_experiment("tiny", profile="huge", results_dir=tmp_path)
    with pytest.raises(ConfigError, match="unknown experiment 'v9'; valid: resnet18, v1"):
        run("v9", results_dir=tmp_path)
    assert stand_ins["load"] == stand_ins["identity"] == 0 and not stand_ins["fits"]


def test_eval_splits_do_not_depend_on_the_training_seed():
    bundle = synthetic_bundle(8)
    a = make_splits(bundle, get_config("ci", max_train_per_class=4, max_val_per_class=2,
                                       max_test_per_class=3, seed=1))
    b = make_splits(bundle, get_config("ci", max_train_per_class=4, max_val_per_class=2,
                                       max_test_per_class=3, seed=2))
    assert [len(s) for s in a] == [12, 6, 9]
    assert not torch.equal(a[0].images, b[0].images)  # training images follow the seed
    for eval_a, eval_b in zip(a[1:], b[1:], strict=True):  # validation and test images do not
        assert torch.equal(eval_a.images, eval_b.images)
        assert torch.equal(eval_a.labels, eval_b.labels)
    full = make_splits(bundle, get_config("ci", max_train_per_class=None,
                                          max_val_per_class=None, max_test_per_class=None))
    assert [len(s) for s in full] == [30, 15, 18]


def test_run_seeds_gives_one_record_per_seed_on_the_same_test_images(tmp_path, stand_ins):
    spec = experiment.get_experiment("resnet18")
    records = run_seeds("resnet18", profile="smoke", results_dir=tmp_path, progress=False)
    assert [r.seed for r in records] == [42, 43, 44] == spec.seeds("smoke")
    assert len({r.name for r in records}) == 3
    assert all(r.experiment == "resnet18" and r.label == "ResNet18 (zero-fill)"
               for r in records)
    assert len(paired_tests(records[0], records[2])) == 7  # same test images: pairable


# ----------------------------------------------------------------------------- code changes


def _digest_with_changed(real: dict, part: str):
    modules = {**real["modules"], part: "0" * 64}
    return {"code": experiment.config_fingerprint(modules, length=16), "modules": modules}


def test_changed_code_retrains_and_does_not_resume(tmp_path, stand_ins, monkeypatch):
    rec = tiny_run(tmp_path)
    ckpt = tmp_path / "ci" / rec.checkpoint

    changed = _digest_with_changed(rec.key, "dynconv.stems.common")
    monkeypatch.setattr(experiment, "experiment_code_key", lambda *args, **kwargs: changed)
    new = tiny_run(tmp_path)
    assert new.origin == "retrained: the code changed (stems/common.py)"
    assert new.name == rec.name and new.key["code"] == changed["code"] != rec.key["code"]
    # The stale checkpoint was deleted, not resumed: fit started from epoch 0.
    assert stand_ins["fit_ckpt_existed"] == [False, False]
    assert stand_ins["fits"][-1].resumed_from_epoch == 0 and new.epochs_run == 2
    assert load_checkpoint(ckpt)["run_key"] == new.key
    assert tiny_run(tmp_path).origin == "loaded: its key matches"

    # A run killed after its checkpoint but before its record: resumed only with the same key.
    Path(new.path).unlink()
    resumed = tiny_run(tmp_path)
    assert stand_ins["fit_ckpt_existed"][-1] and stand_ins["fits"][-1].resumed_from_epoch == 2
    assert resumed.predictions == new.predictions
    Path(resumed.path).unlink()
    monkeypatch.setattr(experiment, "experiment_code_key", experiment_code_key)  # real: stale
    fresh = tiny_run(tmp_path)
    assert fresh.origin == "trained: no stored record" and fresh.key == rec.key
    assert not stand_ins["fit_ckpt_existed"][-1]
    assert stand_ins["fits"][-1].resumed_from_epoch == 0


def _copy_package(tmp_path: Path) -> Path:
    """A copy of the dynconv package under ``tmp_path/pkg``; returns ``tmp_path/pkg``."""
    root = tmp_path / "pkg"
    shutil.copytree(PACKAGE_DIR, root / "dynconv",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return root


def _python(code_or_script: str | Path, *args: str, pythonpath: Path | None = None,
            cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 120) -> str:
    """Run Python in a fresh process; returns stdout, fails the test on a non-zero exit."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("DYNCONV_RESULTS_DIR", None)
    if pythonpath is not None:
        full_env["PYTHONPATH"] = str(pythonpath)
    command = ([sys.executable, str(code_or_script)] if isinstance(code_or_script, Path)
               else [sys.executable, "-c", code_or_script])
    done = subprocess.run([*command, *args], capture_output=True, text=True, cwd=cwd,
                          env=full_env, timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def fresh_process(tmp_path_factory) -> dict:
    """What a fresh process on a copy of the package sees: the dynconv modules that importing
    dynconv.experiments.runner and dynconv.evaluation.costs loads, and v5's code key before any
    edit, after a
    comment is appended to stems/common.py, after code is appended to book/plots.py and
    book/widgets.py, and after code is appended to stems/common.py (one process: 5 s)."""
    pkg = _copy_package(tmp_path_factory.mktemp("copy"))
    script = textwrap.dedent("""
        import json, sys
        from pathlib import Path
        import dynconv.experiments.runner, dynconv.evaluation.costs
        from dynconv.experiments.runner import experiment_code_key
        loaded = sorted(m for m in sys.modules if m == "dynconv" or m.startswith("dynconv."))
        folder = Path(dynconv.__file__).parent
        digests = [experiment_code_key("v5")]
        for edit in sys.argv[1:]:
            name, text = edit.split("=", 1)
            with open(folder / name, "a") as f:
                f.write("\\n" + text + "\\n")
            digests.append(experiment_code_key("v5"))
        print(json.dumps({"where": str(folder), "loaded": loaded, "digests": digests}))
    """)
    out = _python(script, "stems/common.py=# a comment", "book/plots.py=_EDITED = 1",
                  "book/widgets.py=_EDITED = 1", "stems/common.py=_EDITED = 1",
                  pythonpath=pkg, cwd=pkg)
    return {"pkg": pkg, **json.loads(out.strip().splitlines()[-1])}


@pytest.mark.processes
def test_code_key_follows_the_code_a_run_uses(fresh_process):
    """A comment keeps the key; editing plotting modules keeps it; editing a model module
    changes only its entry (a copy of the package is edited, in a fresh process)."""
    assert fresh_process["where"] == str(fresh_process["pkg"] / "dynconv")  # not the checkout
    first, comment, plots, widgets, stems = fresh_process["digests"]
    assert first == experiment_code_key("v5")  # the copy reads like the checkout
    assert comment == first and plots == first and widgets == first
    assert stems["code"] != first["code"]
    assert [m for m in first["modules"] if stems["modules"][m] != first["modules"][m]] == [
        "dynconv.stems.common"]


@pytest.mark.processes
def test_every_module_a_run_imports_is_keyed_or_declared_without_effect(fresh_process):
    loaded = set(fresh_process["loaded"])
    keyed = {m for spec in EXPERIMENTS.values()
             for m in experiment_modules(spec.model, spec.build_kwargs("ci"))}
    unlisted = sorted(m for m in loaded - keyed if is_numeric(m) and m != "dynconv.models.zoo")
    assert unlisted == [], f"{unlisted}: numeric by the layout, yet in no record's key"
    for name in ("dynconv.booktools", "dynconv.book.plots", "dynconv.book.widgets",
                 "dynconv.book.chapter"):
        assert name not in loaded
    assert {"dynconv.stems.common", "dynconv.training.loop", "dynconv.data.datasets",
            "dynconv.data.shapes", "dynconv.evaluation.evaluate", "dynconv.evaluation.costs",
            } <= set(experiment_modules("resnet18"))


@pytest.mark.processes
@pytest.mark.slow
def test_editing_a_model_module_retrains_the_record(tmp_path, tiny_list_dataset):
    """End to end, in fresh processes on a copy of the package, nothing patched: a real
    ResNet18 on a small image folder is trained, retrained after stems/common.py is edited, then
    loaded (about 35 s: most of it is importing and measuring costs)."""
    pkg = _copy_package(tmp_path)
    data_dir = tiny_list_dataset(num_classes=3, per_split=(4, 2, 2), size=8)
    script = tmp_path / "run_once.py"
    script.write_text(textwrap.dedent("""
        import sys

        def main():
            import dynconv
            from dynconv.experiments.runner import run_experiment

            record = run_experiment(
                "resnet18", profile="smoke", data_dir=sys.argv[2], results_dir=sys.argv[1],
                image_size=8, model_kwargs={"stem": "torchvision"}, device="cpu",
                progress=False)
            print(dynconv.__file__)
            print(record.name)
            print(record.origin)

        if __name__ == "__main__":  # measure_costs spawns a process that imports this file
            main()
    """))
    results = tmp_path / "results"

    def run_once() -> list[str]:
        out = _python(script, str(results), str(data_dir), pythonpath=pkg, cwd=tmp_path,
                      env={"DYNCONV_CACHE_DIR": str(tmp_path / "cache")}, timeout=300)
        return out.strip().splitlines()[-3:]

    where, name, origin = run_once()
    assert where == str(pkg / "dynconv" / "__init__.py") and origin.startswith("trained")
    with open(pkg / "dynconv" / "stems" / "common.py", "a") as f:
        f.write("\n_EDITED_BY_A_TEST = 1  # code (a comment alone keeps the key)\n")
    _, name2, origin2 = run_once()
    assert name2 == name
    assert origin2.startswith("retrained") and "stems/common.py" in origin2, origin2
    _, name3, origin3 = run_once()
    assert name3 == name and origin3.startswith("loaded"), origin3
    record = Record.load(results / "smoke" / f"{name}.json")
    assert record.data["sizes"] == {"train": 6, "val": 6, "test": 6}
    assert record.model == "resnet18" and record.costs["params"] > 10_000_000


# ----------------------------------------------------------------------------- built-in data


@pytest.fixture
def tiny_builtin(tmp_cache, monkeypatch):
    """The built-in generator at 24 classes x 2/1/1 images, TinyNet for every model, no costs;
    returns the list of decoded image paths (appended to as images are decoded)."""
    monkeypatch.setattr(shapes, "TRAIN_PER_CLASS", 2)
    monkeypatch.setattr(shapes, "VAL_PER_CLASS", 1)
    monkeypatch.setattr(shapes, "TEST_PER_CLASS", 1)
    monkeypatch.setattr(experiment, "build_model",
                        lambda name, *, num_classes, **kw: TinyNet(num_classes))
    monkeypatch.setattr(experiment, "builder", lambda name: TinyNet)
    monkeypatch.setattr(experiment, "_measure_costs", lambda model, **kw: {"params": 1})
    decoded: list[Path] = []
    real_decode = data._decode_image

    def counting(path, image_size):
        decoded.append(path)
        return real_decode(path, image_size)

    monkeypatch.setattr(data, "_decode_image", counting)
    return decoded


def builtin_run(results_dir: Path) -> Record:
    return run_experiment("tiny", profile="smoke", results_dir=results_dir, image_size=8,
                          device="cpu", progress=False)


def test_a_new_generator_version_gives_new_records(tmp_path, tiny_builtin, monkeypatch):
    old = builtin_run(tmp_path / "results")
    assert old.data["name"] == "builtin-shapes" and old.num_test == 24
    assert len(tiny_builtin) == 24 * 4  # every image decoded once

    monkeypatch.setattr(shapes, "GENERATOR_VERSION", shapes.GENERATOR_VERSION + 1)
    new = builtin_run(tmp_path / "results")
    # The data fingerprint is part of the record's name: a new record, trained now.
    assert new.origin == "trained: no stored record"
    assert new.name != old.name and new.key["data"] != old.key["data"]
    assert new.data["fingerprint"] == data.data_identity(None, image_size=8).fingerprint
    assert new.key["config"] == old.key["config"] and new.key["code"] == old.key["code"]
    # The folder was regenerated and the decode cache rebuilt.
    assert len(tiny_builtin) == 2 * 24 * 4
    cache_file = next((tmp_path / "cache" / "decoded").glob("builtin-shapes-8px-*.pt"))
    stored = torch.load(cache_file, map_location="cpu", weights_only=True)
    assert stored["fingerprint"] == new.data["fingerprint"]
    assert builtin_run(tmp_path / "results").name == new.name  # the old record is not reused


def test_a_stored_record_loads_no_image(tmp_path, tiny_builtin, monkeypatch):
    first = run("resnet18", profile="smoke", results_dir=tmp_path, progress=False)
    assert first.origin.startswith("trained") and len(tiny_builtin) == 24 * 4

    def refuse(*args, **kwargs):
        raise AssertionError("an image was loaded, decoded or generated")

    for module, name in ((experiment, "load_dataset"), (data, "load_dataset"),
                         (data, "_decode_image"), (shapes, "generate_shapes_dataset"),
                         (shapes, "render_shape_image"), (experiment, "fit")):
        monkeypatch.setattr(module, name, refuse)
    again = run("resnet18", profile="smoke", results_dir=tmp_path, progress=False)
    assert again.origin.startswith("loaded") and again == first


def test_trained_and_loaded_records_are_equal(tmp_path, stand_ins):
    rec = tiny_run(tmp_path)
    loaded = Record.load(rec.path)
    assert loaded == rec and loaded.to_json() == rec.to_json()
    assert np.isfinite(list(loaded.test_loss.values())).all()


def test_costs_are_measured_once_per_architecture_and_setting(tmp_path, monkeypatch):
    from dynconv.models.zoo import build_model

    calls = []

    def fake_measure(model, **kw):
        calls.append(kw["channels"])
        return {"params": sum(p.numel() for p in model.parameters()), "channels": "?"}

    monkeypatch.setattr(experiment, "measure_costs", fake_measure)
    settings = dict(image_size=16, batch_size=8, device="cpu")
    plain = build_model("resnet18", num_classes=3)
    settings = {**settings, "code": "the run key's code digest"}
    first = experiment._measure_costs(plain, cache_dir=tmp_path, channels="RGB", **settings)
    # another seed, or another subset zero-filled: the same network, measured once
    again = experiment._measure_costs(build_model("resnet18", num_classes=3),
                                      cache_dir=tmp_path, channels="R", **settings)
    assert calls == ["RGB"] and again["params"] == first["params"]
    assert (first["channels"], again["channels"]) == ("RGB", "R")
    # a dynamic stem takes only the present channels: each subset is its own measurement
    v2 = build_model("v2", num_classes=3)
    experiment._measure_costs(v2, cache_dir=tmp_path, channels="RG", **settings)
    experiment._measure_costs(v2, cache_dir=tmp_path, channels="R", **settings)
    experiment._measure_costs(plain, cache_dir=tmp_path, channels="RGB", image_size=32,
                              batch_size=8, device="cpu", code=settings["code"])  # other size
    assert calls == ["RGB", "RG", "R", "RGB"]
