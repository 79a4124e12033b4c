"""Tests of dynconv.realphotos: records of a dataset that is not on this machine, found by the
identity their own data field gives, checked against this code, shown or refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from standins import patch_experiment

import dynconv.booktools.records as book_records
import dynconv.experiment as experiment
from dynconv import chapter, realphotos
from dynconv.booktools.records import StaleRecordsError
from dynconv.realphotos import PhotosUnavailable, RealPhotos, find, shipped_identity


@pytest.fixture(scope="module")
def trained_once(tmp_path_factory):
    """One real record of v1 (the real model on stand-in data "synthetic", smoke profile),
    trained once for this module; then the data is taken away: only its record is left."""
    folder = tmp_path_factory.mktemp("shipped")
    with pytest.MonkeyPatch.context() as patch:
        patch_experiment(patch, real_models=True)
        trained = experiment.run("v1", profile="smoke", results_dir=folder, progress=False)
    return trained, folder


@pytest.fixture
def shipped(trained_once, tmp_path):
    """A copy of that results folder per test: (the record as trained, the folder)."""
    trained, folder = trained_once
    shutil.copytree(folder, tmp_path / "results")
    return trained, tmp_path / "results"


def test_the_dataset_identity_comes_from_the_records(shipped):
    trained, results = shipped
    identity = shipped_identity("synthetic", profile="smoke", results_dir=results)
    assert identity.fingerprint == trained.data["fingerprint"]
    assert identity.image_size == trained.data["image_size"]


def test_a_current_record_is_loaded_without_its_data(shipped):
    trained, results = shipped
    photos = RealPhotos(shipped_identity("synthetic", profile="smoke", results_dir=results),
                        "smoke", results)
    assert photos.stale(["v1"]) == {}
    loaded = photos.run("v1")
    assert loaded.predictions == trained.predictions
    assert loaded.origin.startswith("loaded")
    assert photos.chance == pytest.approx(1 / trained.data["num_classes"])
    assert "synthetic" in photos.header()


def test_a_record_of_other_code_is_stale_and_never_shown(shipped, monkeypatch):
    _, results = shipped
    photos = RealPhotos(shipped_identity("synthetic", profile="smoke", results_dir=results),
                        "smoke", results)
    real_key = experiment.experiment_code_key

    def edited(model, kwargs=None, inspect=None):
        key = real_key(model, kwargs, inspect)
        modules = {**key["modules"], "dynconv.stems": "edited"}
        return {"code": "edited", "modules": modules}

    monkeypatch.setattr(experiment, "experiment_code_key", edited)
    why = photos.stale(["v1"])["v1, seed 42"]
    assert "stems.py" in why
    with pytest.raises(PhotosUnavailable, match="stems.py"):
        photos.run("v1")


def test_find_names_what_is_missing_and_how_to_retrain(shipped):
    _, results = shipped
    with pytest.raises(PhotosUnavailable) as error:
        find("synthetic", profile="smoke", results_dir=results)  # only v1 is there
    text = str(error.value)
    assert "no stored record" in text and "make records DATA_DIR=" in text


def test_no_record_and_two_versions_are_named_errors(shipped, tmp_path):
    trained, results = shipped
    with pytest.raises(PhotosUnavailable, match="no record of mini-imagenet-objects"):
        shipped_identity(profile="smoke", results_dir=results)
    other = json.loads((results / "smoke" / Path(trained.path).name).read_text())
    other["data"]["fingerprint"] = "f" * 64
    (results / "smoke" / "v1-seed42-other.json").write_text(json.dumps(other))
    with pytest.raises(PhotosUnavailable, match="2 versions of synthetic"):
        shipped_identity("synthetic", profile="smoke", results_dir=results)


def test_a_chapter_says_why_a_section_is_not_shown(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DYNCONV_RESULTS_DIR", str(tmp_path))
    shown = []
    monkeypatch.setattr(chapter, "display", lambda obj: shown.append(getattr(obj, "data", obj)))
    ch = chapter.start("smoke", show=False)
    ch.real_photos(lambda photos: pytest.fail("the section must not run"))
    assert len(shown) == 1 and "not shown in this build" in shown[0]
    assert "no record of mini-imagenet-objects" in shown[0]


def test_the_build_check_stops_on_unusable_photo_records_and_only_warns_otherwise(
        monkeypatch, tmp_path, capsys):
    def missing(**kwargs):
        raise PhotosUnavailable("there is no record of mini-imagenet-objects under x")

    monkeypatch.setattr(realphotos, "find", missing)
    with pytest.raises(StaleRecordsError, match="real-photo records are not current"):
        book_records._check_real_photos("check", tmp_path)
    book_records._check_real_photos("auto", tmp_path)
    assert "real-photo sections will not be shown" in capsys.readouterr().out
