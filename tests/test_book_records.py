"""Tests of dynconv.booktools.records and .reproduce: the build's records, checked before any
chapter runs; the reproducibility check's comparison (nothing trained: stand-ins)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
from standins import make_record

import dynconv.booktools.records as records
from dynconv.booktools import book, reproduce
from dynconv.booktools.records import PlannedRun, StaleRecordsError, format_duration, prepare
from dynconv.errors import DatasetError

LABELS = [i % 3 for i in range(60)]


def _record(name: str, predictions: dict | None = None, **fields) -> object:
    """A stand-in record of experiment ``name`` (every prediction right unless given)."""
    preds = predictions or {s: list(LABELS) for s in ("RGB", "RG", "R")}
    return make_record(preds, LABELS, label=name, **fields)


def _planned(tmp_path: Path, *states: tuple[str, str | None]) -> list[PlannedRun]:
    return [PlannedRun(name, 42, tmp_path / "ci" / f"{name}-seed42-x.json", stale, 60.0)
            for name, stale in states]


@pytest.fixture
def fake_build(monkeypatch, tmp_path):
    """prepare() with stand-in data, a chosen plan and a counting run()."""
    calls: list[dict] = []
    state = {"plan": []}

    class Bundle:
        train = val = test = range(3)
        num_classes = 2

    monkeypatch.setattr(records, "load_dataset", lambda *a, **k: Bundle())
    monkeypatch.setattr(records, "plan", lambda *a, **k: state["plan"])
    # the shipped real-photo records are checked in tests/test_realphotos.py
    monkeypatch.setattr(records, "_check_real_photos", lambda *a, **k: None)

    def fake_run(name, **kwargs):
        calls.append({"name": name, **kwargs})
        kwargs["on_epoch"](1, 2, {"val_acc": 0.5})  # the progress line is printed
        return _record(name)

    monkeypatch.setattr(records, "run", fake_run)
    return state, calls


def test_shipped_records_that_are_stale_stop_the_build_and_say_how_to_refresh(
        fake_build, tmp_path):
    state, calls = fake_build
    state["plan"] = _planned(tmp_path, ("resnet18", None),
                             ("v5", "the code changed (stems/v5.py)"))
    for mode in ("auto", "check"):
        with pytest.raises(StaleRecordsError) as error:
            prepare(records=mode)
        text = str(error.value)
        assert "1 of the book's records" in text
        assert "v5, seed 42: the code changed (stems/v5.py)" in text
        assert 'make book RETRAIN="v5"' in text and "about 1 min 00 s" in text
    assert calls == []  # nothing trained


def test_train_mode_trains_only_what_is_stale_with_progress(fake_build, tmp_path, capsys):
    state, calls = fake_build
    state["plan"] = _planned(tmp_path, ("resnet18", None), ("v5", "no stored record"))
    prepare(records="train")
    assert [(c["name"], c["force"]) for c in calls] == [("v5", False)]
    out = capsys.readouterr().out
    assert "[train 1/1] v5, seed 42: no stored record" in out
    assert "[train 1/1] v5, seed 42: epoch 1/2, val_acc 0.500" in out


def test_auto_trains_a_dataset_the_book_has_no_record_of(fake_build, tmp_path):
    state, calls = fake_build
    state["plan"] = _planned(tmp_path, ("resnet18", "no stored record"),
                             ("v5", "no stored record"))
    prepare(records="auto")
    assert [c["name"] for c in calls] == ["resnet18", "v5"]


def test_force_and_retrain_train_current_records_again(fake_build, tmp_path):
    state, calls = fake_build
    state["plan"] = _planned(tmp_path, ("resnet18", None), ("v5", None))
    prepare(records="check", retrain=["v5"])
    assert [(c["name"], c["force"]) for c in calls] == [("v5", True)]
    calls.clear()
    prepare(records="check", force=True)
    assert [(c["name"], c["force"]) for c in calls] == [("resnet18", True), ("v5", True)]
    with pytest.raises(Exception, match="unknown experiments: nope"):
        prepare(retrain=["nope"])


def test_jobs_train_every_record_once_through_the_worker_pool(fake_build, tmp_path, capsys,
                                                              monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    state, calls = fake_build
    state["plan"] = _planned(tmp_path, *((name, "no stored record")
                                         for name in ("a", "b", "c", "d", "e")))
    pools = []

    def pool(jobs):  # threads stand in for the spawned processes (the fake run is local)
        pools.append(jobs)
        return ThreadPoolExecutor(max_workers=jobs)

    monkeypatch.setattr(records, "_worker_pool", pool)
    prepare(records="train", jobs=2)
    assert pools == [2]
    assert sorted(c["name"] for c in calls) == ["a", "b", "c", "d", "e"]
    out = capsys.readouterr().out
    assert "[book] training 5 records, 2 at a time" in out
    assert "[train 5/5] e, seed 42: done in" in out and "[book] trained 5 records in" in out
    calls.clear()
    prepare(records="train", jobs=1)  # one after another: no pool at all
    assert pools == [2] and [c["name"] for c in calls] == ["a", "b", "c", "d", "e"]


def test_a_failing_training_among_jobs_stops_the_build_with_its_error(fake_build, tmp_path,
                                                                       monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    state, _ = fake_build
    state["plan"] = _planned(tmp_path, ("a", "no stored record"), ("b", "no stored record"))

    def failing_run(name, **kwargs):
        raise RuntimeError(f"{name} diverged")

    monkeypatch.setattr(records, "run", failing_run)
    monkeypatch.setattr(records, "_worker_pool", lambda jobs: ThreadPoolExecutor(jobs))
    with pytest.raises(RuntimeError, match="a diverged"):
        prepare(records="train", jobs=2)


def test_the_worker_pool_spawns_processes_with_their_share_of_the_cores():
    pool = records._worker_pool(2)
    try:
        assert pool._mp_context.get_start_method() == "spawn"
        assert pool._initargs == (max(1, (os.cpu_count() or 1) // 2),)
    finally:
        pool.shutdown()


def test_a_corrupt_image_stops_the_build_before_any_chapter_naming_file_and_line(
        tiny_list_dataset, tmp_cache, monkeypatch, capsys):
    import papermill

    folder = tiny_list_dataset(num_classes=2, per_split=(2, 1, 1), size=8)
    listed = (folder / "test.txt").read_text().splitlines()[1].split()[0]
    (folder / listed).write_bytes(b"not an image")
    monkeypatch.setattr(papermill, "execute_notebook",
                        lambda *a, **k: pytest.fail("a chapter ran"))
    monkeypatch.setattr(records, "plan", lambda *a, **k: pytest.fail("records were planned"))
    with pytest.raises(DatasetError) as error:
        prepare(data_dir=str(folder))
    assert "test.txt, line 2" in str(error.value) and listed in str(error.value)
    assert "Replace the image, or delete that line" in str(error.value)

    root = Path(__file__).resolve().parents[1]  # the book: its notebooks are never executed
    assert book.main(["execute", "--root", str(root), "--data-dir", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    first = next(i for i, line in enumerate(err) if line.startswith("error: "))
    message = err[first:]
    assert message[0].startswith("error: DatasetError: Cannot decode image")
    assert len(message) == 2 and "line 2" in message[1]  # a few lines, no traceback


def test_durations_read_as_people_write_them():
    assert format_duration(42.4) == "42 s"
    assert format_duration(200) == "3 min 20 s"
    assert format_duration(3900) == "1 h 05 min"
    assert format_duration(None) == "?"


def test_reproduction_identical_or_no_difference_by_mcnemar():
    shipped = _record("a", hardware={"cpu": "X", "gpu": None})
    same = reproduce.compare(shipped, _record("a", hardware={"cpu": "X", "gpu": None}))
    assert same.identical and same.passed and same.verdict().startswith("identical")

    labels = shipped.test_labels
    flipped = {s: [(y + 1) % 3 if i < 2 else p for i, (y, p) in
                   enumerate(zip(labels, preds, strict=True))]
               for s, preds in shipped.predictions.items()}
    near = reproduce.compare(shipped, _record("a", flipped, hardware={"cpu": "Y", "gpu": None}))
    assert not near.identical and not near.same_cpu
    assert near.passed == all(p >= reproduce.ALPHA for _, _, p in near.subsets.values())
    assert "another CPU model" in near.verdict()


def test_on_another_cpu_a_difference_must_also_exceed_the_seed_spread():
    """Another CPU model's arithmetic makes the run again another draw: a gap McNemar finds
    counts only when it is larger than the seed spread (the book's rule); on the same CPU model
    McNemar alone decides."""
    gap = {"RGB": (0.60, 0.56, 0.001), "R": (0.30, 0.30, 1.0)}
    other = reproduce.Reproduction("x", 42, identical=False, same_cpu=False, subsets=gap,
                                   seconds=1.0, seed_spread=0.05)
    assert other.passed and other.differences() == []
    assert "none larger than the 5.0-point spread" in other.verdict()
    narrow = dataclasses.replace(other, seed_spread=0.03)
    assert not narrow.passed and narrow.differences() == ["RGB"]
    assert "DIFFERENCE on RGB" in narrow.verdict()
    unknown = dataclasses.replace(other, seed_spread=None)
    assert not unknown.passed  # no spread known: McNemar alone
    same = dataclasses.replace(other, same_cpu=True)
    assert not same.passed  # same CPU model: the spread is no excuse


def test_the_check_retrains_the_shortest_experiment_of_each_part():
    shipped = {name: _record(name, wall_time_s=seconds) for name, seconds in
               [("resnet18", 50.0), ("resnet18-on-B", 40.0), ("resnet34", 90.0),
                ("small-k7s2", 30.0), ("v5", 80.0), ("resnet18-sampled", 60.0)]}
    assert reproduce.choose_experiments(shipped) == ["resnet18-on-B", "small-k7s2",
                                                      "resnet18-sampled"]
