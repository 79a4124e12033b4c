"""The README's examples run as written (one namespace, in order, on the built-in data)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

README = Path(__file__).resolve().parents[1] / "README.md"


def readme_python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_an_example_for_each_part_of_the_package():
    code = "\n".join(readme_python_blocks())
    for call in ("load_dataset(", "read_split_list(", "make_loader(", "apply_subset(",
                 "build_model(", "fit(", "evaluate(", "calflops_per_image(",
                 "counted_flops_per_image(", "time_models(", "run_experiment("):
        assert call in code, f"README has no example of {call}"


@pytest.mark.slow
def test_readme_examples_run(tmp_cache, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # fit writes run.pt, run_experiment writes results/
    monkeypatch.setenv("DYNCONV_RESULTS_DIR", str(tmp_path / "results"))
    threads = torch.get_num_threads()
    namespace: dict = {}
    try:
        for block in readme_python_blocks():
            exec(compile(block, str(README), "exec"), namespace)  # noqa: S102
    finally:
        torch.set_num_threads(threads)
    assert set(namespace["record"].test) == {"RGB", "RG", "RB", "GB", "R", "G", "B"}
    assert (tmp_path / "run.pt").exists()
