"""Tests of dynconv.book.realphotos: records of a dataset that is not on this machine, found by the
identity their own data field gives, checked against this code, shown or refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from standins import patch_experiment

import dynconv.booktools.records as book_records
import dynconv.experiments.runner as experiment
from dynconv.book import chapter, realphotos
from dynconv.book.realphotos import PhotosUnavailable, RealPhotos, find, shipped_identity
from dynconv.booktools.records import StaleRecordsError
from dynconv.errors import ConfigError
from dynconv.experiments.registry import PART1
from dynconv.paths import RESULTS_IN_BOOK


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
        modules = {**key["modules"], "dynconv.stems.v1": "edited"}
        return {"code": "edited", "modules": modules}

    monkeypatch.setattr(experiment, "experiment_code_key", edited)
    why = photos.stale(["v1"])["v1, seed 42"]
    assert "stems/v1.py" in why
    with pytest.raises(PhotosUnavailable, match="stems/v1.py"):
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
    with pytest.raises(PhotosUnavailable, match="2 versions of synthetic at"):
        shipped_identity("synthetic", profile="smoke", results_dir=results)


def test_records_at_two_image_sizes_are_two_identities_not_two_versions(shipped):
    trained, results = shipped
    size = trained.data["image_size"]
    other = json.loads((results / "smoke" / Path(trained.path).name).read_text())
    other["data"].update(fingerprint="f" * 64, image_size=2 * size)
    (results / "smoke" / "v1-seed42-larger.json").write_text(json.dumps(other))
    identities = realphotos.shipped_identities("synthetic", profile="smoke", results_dir=results)
    assert {s: i.fingerprint for s, i in identities.items()} == {
        size: trained.data["fingerprint"], 2 * size: "f" * 64}
    assert shipped_identity("synthetic", profile="smoke", results_dir=results,
                            image_size=2 * size).fingerprint == "f" * 64
    with pytest.raises(PhotosUnavailable, match=f"no record of synthetic at {3 * size} px"):
        shipped_identity("synthetic", profile="smoke", results_dir=results, image_size=3 * size)
    photos = RealPhotos(identities[size], "smoke", results, by_size=identities)
    assert photos.identity_of("v1") is identities[size]  # v1 trains at the profile's size
    assert photos.stale(["v1"]) == {}


def test_a_chapter_says_why_a_section_is_not_shown(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("DYNCONV_RESULTS_DIR", str(tmp_path))
    shown = []
    monkeypatch.setattr(chapter, "display", lambda obj: shown.append(getattr(obj, "data", obj)))
    ch = chapter.start("smoke", show=False)
    ch.real_photos("part3")
    assert len(shown) == 1 and "not shown in this build" in shown[0]
    assert "no record of mini-imagenet-objects" in shown[0]
    with pytest.raises(ConfigError, match="known: errata, part2, part2_32px, part3"):
        ch.real_photos("part4")


def test_the_build_check_stops_on_unusable_photo_records_and_only_warns_otherwise(
        monkeypatch, tmp_path, capsys):
    def missing(**kwargs):
        raise PhotosUnavailable("there is no record of mini-imagenet-objects under x")

    monkeypatch.setattr(realphotos, "find", missing)
    with pytest.raises(StaleRecordsError, match="real-photo records are not current"):
        book_records._check_real_photos("check", tmp_path)
    book_records._check_real_photos("auto", tmp_path)
    assert "real-photo sections will not be shown" in capsys.readouterr().out


@pytest.fixture(scope="module")
def book_photos():
    """The real-photo records that ship in book/results (skipped where they are stale: the
    build's check, `make book RECORDS=check`, fails on them then)."""
    try:
        return find(results_dir=Path(__file__).parents[1] / RESULTS_IN_BOOK)
    except PhotosUnavailable as why:
        pytest.skip(f"the shipped real-photo records are not usable: {why}")


@pytest.mark.parametrize("section", ["zero_fill", "v4", "ranking", "part2", "part2_32px",
                                     "part3"])
def test_every_section_computes_from_the_shipped_records(book_photos, section, monkeypatch):
    shown = []
    monkeypatch.setattr(realphotos, "display", lambda obj: shown.append(obj))
    monkeypatch.setattr(realphotos.plots, "plot_accuracy_heatmap", lambda *a, **k: plt.figure())
    used = getattr(realphotos, f"{section}_section")(book_photos)
    assert used and all(r.data["name"] == "mini-imagenet-objects" for r in used.values())
    assert all(r.origin.startswith("loaded") for r in used.values())
    texts = [o.data for o in shown if hasattr(o, "data") and isinstance(o.data, str)]
    assert texts, "a section states its result in words"
    tables_shown = [o for o in shown if hasattr(o, "index") or hasattr(o, "data")
                    and hasattr(o.data, "index")]
    assert tables_shown, "and shows the numbers it is computed from"


def test_the_errata_section_names_the_best_layer_on_each_dataset(book_photos, monkeypatch):
    shown = []
    monkeypatch.setattr(realphotos, "display", lambda obj: shown.append(obj))
    builtin = book_photos.records(*PART1)  # stands in for the built-in data's records
    realphotos.errata_section(book_photos, builtin)
    table = next(o for o in shown if hasattr(o, "loc"))
    assert "oracle (trained on the subset)" in table.index
    sentence = next(o.data for o in shown if hasattr(o, "data"))
    assert sentence.count("Highest mean accuracy") == 2
