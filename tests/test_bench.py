"""The benchmark: its rows, targets, stored results and study estimate (tiny settings)."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch

from dynconv.bench import benchmark as bench
from dynconv.errors import ConfigError
from dynconv.experiments.registry import PART1, PART2, SUBSET_TRAINED, get_experiment

TINY = dict(image_size=16, batch_size=4, repeats=1, warmup=0, attention_size=6,
            attention_batch=2, attention_repeats=1, device="cpu")


def test_cli_writes_rows_with_exactly_the_documented_keys(tmp_path, capsys):
    out = tmp_path / "bench.json"
    code = bench.main(["--device", "cpu", "--image-size", "16", "--batch-size", "4",
                       "--repeats", "1", "--attention-size", "6", "--attention-batch", "2",
                       "--parts", "attention,loader", "--json", str(out)])
    assert code == 0
    rows = json.loads(out.read_text())
    assert {(r["name"], r["metric"]) for r in rows} == {
        ("attention/sdpa", "train_step_s"), ("attention/sdpa", "peak_mem_mb"),
        ("loader", "img_per_s")}
    for row in rows:
        assert set(row) == set(bench.ROW_KEYS)
        assert row["ratio"] == pytest.approx(row["value"] / row["baseline_value"])
        assert row["value"] > 0 and row["baseline_value"] > 0
    printed = capsys.readouterr().out
    assert "Targets:" in printed and "attention/sdpa" in printed


def test_unknown_part_is_a_named_error():
    with pytest.raises(ConfigError, match="unknown benchmark part"):
        bench.BenchSettings(parts=("stems", "gpu"))


def test_plain_stem_swap_computes_the_same_network():
    """loop/<variant> must time the same function as stem/<variant>, only computed plainly."""
    x = torch.randn(3, 3, 10, 10)
    for name in bench.LOOP_VARIANTS:
        model = bench._build(name).eval()
        plain = bench._build(name).eval()
        plain.conv1 = bench._PlainStem(plain.conv1)
        with torch.no_grad():
            torch.testing.assert_close(model(x), plain(x), atol=1e-4, rtol=1e-4)


def test_check_targets_reads_each_direction():
    table = pd.DataFrame([
        bench._row("stem/a", "train_step_s", 1.04, "resnet18", 1.0),
        bench._row("stem/b", "train_step_s", 1.10, "resnet18", 1.0),
        bench._row("loader", "img_per_s", 600.0, "train", 100.0),
        bench._row("attention/sdpa", "peak_mem_mb", 10.0, "attention/explicit", 100.0),
    ])
    targets = bench.check_targets(table).set_index("name")
    assert targets.loc["stem/a", "met"] and not targets.loc["stem/b", "met"]
    assert targets.loc["loader", "met"]
    assert not targets.loc["attention/sdpa", "met"]  # 1/10 is not 1/20
    sentence = bench.targets_sentence(bench.check_targets(table), "cpu")
    assert "2 of 4 targets met" in sentence and "stem/b" in sentence


def test_stored_benchmark_is_reused_only_for_the_same_settings(tmp_path):
    settings = bench.BenchSettings(**TINY, parts=("loader",))
    first = bench.cached_benchmark(settings, study=False, results_dir=tmp_path, progress=False)
    again = bench.cached_benchmark(settings, study=False, results_dir=tmp_path, progress=False)
    assert first.attrs["origin"] == "measured now"
    assert again.attrs["origin"].startswith("loaded")
    pd.testing.assert_frame_equal(first.reset_index(drop=True), again.reset_index(drop=True))
    other = bench.BenchSettings(**{**TINY, "batch_size": 8}, parts=("loader",))
    third = bench.cached_benchmark(other, study=False, results_dir=tmp_path, progress=False)
    assert third.attrs["origin"] == "measured now"
    assert len(list((tmp_path / "bench").glob("bench-*.json"))) == 2


def test_two_chapters_asking_at_once_measure_the_benchmark_once(tmp_path, monkeypatch):
    import threading
    import time

    settings = bench.BenchSettings(**TINY, parts=("loader",))
    real, calls = bench.benchmark, []

    def slow_benchmark(*args, **kwargs):
        calls.append(1)
        time.sleep(0.5)  # the second caller arrives while the first one measures
        return real(*args, **kwargs)

    monkeypatch.setattr(bench, "benchmark", slow_benchmark)
    origins = []

    def ask():
        table = bench.cached_benchmark(settings, study=False, results_dir=tmp_path,
                                       progress=False)
        origins.append(table.attrs["origin"])

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert sorted(o.split(" ")[0] for o in origins) == ["loaded", "measured"]


@pytest.mark.parametrize("module", ["dynconv.bench.benchmark", "dynconv.training.loop",
                                    "dynconv.stems.v5"])
def test_the_stored_benchmark_is_stale_once_the_code_it_measures_with_changes(
        monkeypatch, module):
    from dynconv.experiments import keys

    settings = bench.BenchSettings(**TINY, parts=("loader",))
    before = bench._cache_key(settings, study=True)
    real = keys.read_source
    monkeypatch.setattr(keys, "read_source",
                        lambda name: real(name) + "\n_EDITED = 1\n" if name == module
                        else real(name))
    keys.clear_caches()
    try:
        assert bench._cache_key(settings, study=True) != before
    finally:
        monkeypatch.undo()
        keys.clear_caches()
    assert bench._cache_key(settings, study=True) == before


def test_study_estimate_counts_every_training_and_step():
    step = {("resnet18", 64): 2.0, ("resnet34", 16): 1.0, ("small_k3s1", 16): 3.0,
            ("small_k7s2", 16): 0.5, ("compact", 16): 0.4}
    flops = {"resnet18": 1e9, "resnet34": 2e9, "small_k3s1": 3e9, "small_k7s2": 1e9,
             "compact": 1e9}
    estimate = bench.study_estimate(step, flops, epochs=2, train_images=640)
    names = dict.fromkeys((*PART1, *SUBSET_TRAINED.values(), *PART2))
    assert len(estimate) == sum(len(get_experiment(n).seeds("full")) for n in names)
    v4 = estimate[estimate["experiment"] == "v4-sample"].iloc[0]
    assert v4["measured_as"] == "resnet18" and v4["steps"] == 2 * math.ceil(640 / 64)
    assert v4["hours"] == pytest.approx(v4["steps"] * 2.0 / 3600)
    small = estimate[estimate["model"] == "small_k3s1"].iloc[0]
    assert small["train_tflop"] == pytest.approx(3 * 3e9 * 2 * 640 / 1e12)
    with pytest.raises(ConfigError, match="no measured step time"):
        bench.study_estimate({("resnet18", 64): 1.0})


def test_full_epoch_extrapolates_a_cut_epoch_and_says_so():
    result = bench.full_epoch(device="cpu", max_steps=1, train_images=80, progress=False)
    assert result["extrapolated"] and result["steps_run"] == 1
    assert result["steps_per_epoch"] == 2  # 80 images, batch 64
    assert result["epoch_s"] == pytest.approx(2 * result["seconds"])
