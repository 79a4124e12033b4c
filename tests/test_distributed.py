"""Several processes: torchrun (2 CPU processes, gloo), concurrent runs on one results folder,
and the file lock behind them.

The subprocess tests run ``python -m dynconv.experiments.launch``'s ``main`` through a small
helper script
that makes a run fast (a 24-class built-in dataset of 2/2/5 images per class, no cost
measurement) and writes what each process saw (its fit history, the record it returned) to a
folder; a start barrier makes concurrent processes start together after their imports.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

import dynconv.experiments.runner as experiment
from dynconv.channels import SUBSET_NAMES
from dynconv.experiments.records import Record
from dynconv.fileio import file_lock
from dynconv.training.loop import load_checkpoint

pytestmark = [pytest.mark.processes,
              pytest.mark.skipif(not torch.distributed.is_available(),
                                 reason="this PyTorch has no torch.distributed")]

HELPER = textwrap.dedent('''
    """python -m dynconv.experiments.launch's main() with a test's speed-ups
    (tests/test_distributed.py)."""
    import importlib
    import json
    import os
    import sys
    import time
    from pathlib import Path


    def main():
        import dynconv.data.datasets as data
        import dynconv.experiments.runner as experiment
        import dynconv.data.shapes as shapes

        cli = importlib.import_module("dynconv.experiments.launch")
        out = Path(os.environ["HELPER_OUT"])
        tag = f"{os.environ.get('HELPER_TAG', 'run')}-rank{os.environ.get('RANK', '0')}"
        shapes.TRAIN_PER_CLASS, shapes.VAL_PER_CLASS, shapes.TEST_PER_CLASS = 2, 2, 5
        experiment._measure_costs = lambda model, **kw: {
            "params": sum(p.numel() for p in model.parameters())}
        real_fit, real_run = experiment.fit, cli.run_experiment_by_name
        real_write, real_decode = shapes._write_dataset, data._decode_all

        def fit(*args, **kwargs):
            result = real_fit(*args, **kwargs)
            history = result.history.drop(columns="seconds").to_dict(orient="list")
            (out / f"fit-{tag}.json").write_text(json.dumps(
                {"history": history, "runtime": result.runtime}))
            time.sleep(float(os.environ.get("HELPER_HOLD_S", "0")))  # holding the run's lock
            return result

        def run(*args, **kwargs):
            record = real_run(*args, **kwargs)
            (out / f"record-{tag}.json").write_text(json.dumps(record.to_json()))
            return record

        def write_dataset(*args, **kwargs):
            (out / f"generated-{tag}").touch()
            time.sleep(float(os.environ.get("HELPER_HOLD_S", "0")))  # holding the data's lock
            return real_write(*args, **kwargs)

        def decode_all(*args, **kwargs):
            (out / f"decoded-{tag}").touch()
            return real_decode(*args, **kwargs)

        experiment.fit, cli.run_experiment_by_name = fit, run
        shapes._write_dataset, data._decode_all = write_dataset, decode_all
        ready = os.environ.get("HELPER_READY")
        if ready:  # start together: every process has imported everything by now
            Path(ready, tag).touch()
            while len(os.listdir(ready)) < int(os.environ["HELPER_COUNT"]):
                time.sleep(0.02)
        return cli.main(sys.argv[1:])


    if __name__ == "__main__":
        sys.exit(main())
''')


def _helper(tmp_path: Path) -> Path:
    script = tmp_path / "helper.py"
    script.write_text(HELPER)
    (tmp_path / "out").mkdir(exist_ok=True)
    return script


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {**os.environ, "DYNCONV_CACHE_DIR": str(tmp_path / "cache"),
           "HELPER_OUT": str(tmp_path / "out"), "OMP_NUM_THREADS": "1", **extra}
    env.pop("DYNCONV_RESULTS_DIR", None)
    for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _out(tmp_path: Path, name: str) -> dict:
    return json.loads((tmp_path / "out" / name).read_text())


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# ----------------------------------------------------------------------------- torchrun


def test_torchrun_with_two_processes_writes_one_record_like_one_process(
        tmp_path, tiny_list_dataset, monkeypatch, one_thread):
    """``torchrun --nproc_per_node=2 -m dynconv.experiments.launch`` on 2 CPU processes (gloo):
    one record,
    like a single process's (same name and fields, every subset tested, one history row), a
    checkpoint without DDP's ``module.`` prefix, and the same validation numbers on both
    ranks (about 20 s here, most of it starting the processes)."""
    data_dir = tiny_list_dataset(num_classes=3, per_split=(2, 4, 5), size=8)
    results = tmp_path / "results"
    args = ["resnet18", "--profile", "smoke", "--data-dir", str(data_dir),
            "--results-dir", str(results), "--no-progress"]
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
         str(_helper(tmp_path)), *args],
        env=_env(tmp_path, HELPER_TAG="ddp"), capture_output=True, text=True, timeout=240,
        check=False)
    assert done.returncode == 0, done.stderr[-4000:]
    assert done.stdout.count("record: ") == 1, done.stdout  # rank 0 prints, rank 1 does not
    assert "smoke: trained: no stored record" in done.stdout

    # Both ranks: the same history (validation sums added over the ranks) and record.
    rank0, rank1 = _out(tmp_path, "fit-ddp-rank0.json"), _out(tmp_path, "fit-ddp-rank1.json")
    assert rank0["history"] == rank1["history"]
    assert rank0["runtime"]["world_size"] == 2 and rank0["runtime"]["device"] == "cpu"
    assert _out(tmp_path, "record-ddp-rank0.json") == _out(tmp_path, "record-ddp-rank1.json")

    (json_file,) = (results / "smoke").glob("*.json")
    assert _files(results / "smoke") == [json_file.name, json_file.stem + ".pt"]  # no lock
    record = Record.load(json_file)
    ckpt = load_checkpoint(results / "smoke" / record.checkpoint)
    assert not [k for k in ckpt["model"] if k.startswith("module.")]
    assert ckpt["best_state"] is None and ckpt["optimizer"] is None  # finished: best weights only
    assert record.hardware["runtime"]["world_size"] == 2

    # The same run in this process, into another folder: the same kind of record.
    monkeypatch.setattr(experiment, "_measure_costs", lambda model, **kw: {
        "params": sum(p.numel() for p in model.parameters())})
    single = experiment.run("resnet18", profile="smoke", data_dir=data_dir,
                            results_dir=tmp_path / "single", progress=False)
    assert single.name == record.name  # the key does not depend on the number of processes
    assert set(single.to_json()) == set(record.to_json())
    assert record.subsets == single.subsets == list(SUBSET_NAMES)  # every subset tested
    assert len(record.history) == len(single.history) == record.epochs_run == 1
    assert set(record.history[0]) == set(single.history[0])
    assert record.data["sizes"] == single.data["sizes"] == {"train": 6, "val": 6, "test": 15}
    assert single.hardware["runtime"]["world_size"] == 1
    assert set(ckpt["model"]) == set(load_checkpoint(Path(single.path).with_suffix(".pt"))
                                      ["model"])


# ----------------------------------------------------------------------------- concurrent runs


def test_concurrent_runs_share_one_results_folder(tmp_path):
    """Three processes start together on one results folder and one empty cache: two ask for
    the same run (one trains it, the other waits for its lock and loads the same record), the
    third for another seed (its own record). The built-in data is generated and decoded once
    (about 25 s here)."""
    script = _helper(tmp_path)
    results = tmp_path / "results"
    (tmp_path / "ready").mkdir()
    env = _env(tmp_path, HELPER_READY=str(tmp_path / "ready"), HELPER_COUNT="3",
               HELPER_HOLD_S="1.5")
    procs = {
        tag: subprocess.Popen(
            [sys.executable, str(script), "resnet18", "--profile", "smoke", "--seed", seed,
             "--results-dir", str(results), "--no-progress"],
            env={**env, "HELPER_TAG": tag}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            text=True)
        for tag, seed in (("a", "0"), ("b", "0"), ("c", "1"))
    }
    outputs = {}
    for tag, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=240)
        assert proc.returncode == 0, stderr[-4000:]
        outputs[tag] = (stdout, stderr)

    def origin(tag: str) -> str:
        return outputs[tag][0].splitlines()[0].split(": ", 1)[1]

    assert sorted([origin("a"), origin("b")]) == [
        "loaded: its key matches", "trained: no stored record"]
    loader = "a" if origin("a").startswith("loaded") else "b"
    assert "waiting: another process is training resnet18, seed 0" in outputs[loader][1]
    assert origin("c") == "trained: no stored record"
    assert _out(tmp_path, "record-a-rank0.json") == _out(tmp_path, "record-b-rank0.json")
    assert _out(tmp_path, "record-c-rank0.json")["seed"] == 1
    assert not (tmp_path / "out" / f"fit-{loader}-rank0.json").exists()  # it did not train

    records = sorted((results / "smoke").glob("*.json"))
    assert [r.name.split("-")[1] for r in records] == ["seed0", "seed1"]
    assert not list((results / "smoke").glob("*.lock"))
    # Generated by one process and decoded by one (the others waited on the locks).
    generated = [p.name for p in (tmp_path / "out").glob("generated-*")]
    decoded = [p.name for p in (tmp_path / "out").glob("decoded-*")]
    assert len(generated) == 1 and len(decoded) == 1, (generated, decoded)
    assert _files(tmp_path / "cache") == ["builtin-shapes-seed0", "decoded"]


# ----------------------------------------------------------------------------- file_lock


def test_file_lock_waits_says_so_and_leaves_no_file(tmp_path, capsys):
    """flock locks are per open file, so a thread of this process stands in for another
    process; the lock file exists only while held."""
    path = tmp_path / "sub" / "run.lock"
    held, release, order = threading.Event(), threading.Event(), []

    def holder() -> None:
        with file_lock(path):
            held.set()
            release.wait(5)
            order.append("holder done")

    thread = threading.Thread(target=holder)
    thread.start()
    held.wait(5)
    assert path.exists()
    threading.Timer(0.3, release.set).start()
    start = time.monotonic()
    with file_lock(path, waiting="another process is training v5, seed 1"):
        order.append("waiter in")
        assert time.monotonic() - start >= 0.2 and path.exists()
    thread.join(5)
    assert order == ["holder done", "waiter in"] and not path.exists()
    err = capsys.readouterr().err
    assert f"waiting: another process is training v5, seed 1 ({path})" in err
    assert "lock run.lock acquired after" in err

    with file_lock(path, quiet=True):  # free: no message
        pass
    assert capsys.readouterr().err == "" and not path.exists()


# ----------------------------------------------------------------------------- command line


def test_the_command_line_names_the_valid_experiments(capsys):
    import importlib

    import dynconv

    cli = importlib.import_module("dynconv.experiments.launch")
    assert callable(dynconv.run)  # the package's function is not shadowed by a module
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["v9"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "unknown experiment 'v9'; valid: resnet18, v1, v2" in err
    with pytest.raises(SystemExit):
        cli.main(["v5", "--profile", "huge"])
    assert "invalid choice: 'huge'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["v5", "--seed", "-1", "--results-dir", "/nonexistent"])
    assert exit_info.value.code == 2
    assert "seed must be an integer >= 0" in capsys.readouterr().err
