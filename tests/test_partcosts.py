"""The benchmark's rows and the study estimate split by part (dynconv.book.partcosts)."""

from __future__ import annotations

import pandas as pd

from dynconv.bench.benchmark import ASSUMED_GPU_TFLOPS, check_targets, ratio_summary
from dynconv.book import partcosts


def _result() -> pd.DataFrame:
    rows = []
    for layer in ("v1", "v3", "v5", "depthwise", "v4_identity"):
        for metric in ("flops_counter", "train_step_s"):
            rows.append({"name": f"stem/{layer}", "metric": metric, "value": 1.0,
                         "baseline": "stem/resnet18", "baseline_value": 1.0, "ratio": 1.01,
                         "spread": ""})
    for name, metric, ratio in (("loop/v1", "train_step_s", 1.2), ("loop/v5", "train_step_s", 1.3),
                                ("attention/sdpa", "peak_mem_mb", 0.04),
                                ("loader", "img_per_s", 9.0)):
        rows.append({"name": name, "metric": metric, "value": 1.0, "baseline": "x",
                     "baseline_value": 1.0, "ratio": ratio, "spread": ""})
    table = pd.DataFrame(rows)
    table.attrs.update(device="cpu", hardware={"cpu": "test CPU"}, threads=2)
    return table


def test_rows_follow_the_part_that_introduces_each_layer():
    result = _result()
    assert partcosts.row_part("stem/v3") == "I" and partcosts.row_part("loop/v5") == "III"
    assert partcosts.row_part("attention/sdpa") == "II" and partcosts.row_part("loader") == "I"
    summary = ratio_summary(result)
    assert list(partcosts.stem_ratios(summary, "I").index) == ["v1", "v3"]
    assert list(partcosts.stem_ratios(summary, "III").index) == ["v4_identity", "v5",
                                                                 "depthwise"]
    assert list(partcosts.other_rows(result, "I").index) == ["loop/v1", "loader"]
    assert list(partcosts.other_rows(result, "II").index) == ["attention/sdpa"]
    targets = check_targets(result)
    assert set(partcosts.targets_of_part(targets, "II")["name"]) == {"attention/sdpa"}
    assert "stem/v5" not in set(partcosts.targets_of_part(targets, "I")["name"])


def test_estimate_split_and_its_sentence_names_the_assumption():
    estimate = pd.DataFrame({
        "experiment": ["resnet18", "resnet18-on-R", "v4-sample", "compact", "resnet34"],
        "hours": [1.0, 2.0, 3.0, 10.0, 20.0],
        "train_tflop": [3600.0 * ASSUMED_GPU_TFLOPS] * 5,
        "assumed_gpu_hours": [1.0] * 5})
    part1 = partcosts.estimate_of_part(estimate, "I")
    assert list(part1["experiment"]) == ["resnet18", "resnet18-on-R", "v4-sample"]
    text = partcosts.estimate_sentence(part1, _result(), "I")
    assert "**3 trainings**" in text and "**6 hours (0.2 days) on cpu**" in text
    assert f"**ASSUMED** sustained {ASSUMED_GPU_TFLOPS:.0f} TFLOP/s: 3.0 hours" in text
    measured = _result()
    measured.attrs.update(full_epoch={"epoch_s": 36.0, "model": "resnet18"},
                          hardware={"cpu": "c", "gpu": "a GPU"})
    part2 = partcosts.estimate_of_part(estimate, "II")
    text = partcosts.estimate_sentence(part2, measured, "II")
    assert "On a GPU one `full` epoch of resnet18 took 36 s, measured" in text
    assert "ASSUMED" not in text
