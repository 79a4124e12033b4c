"""Tests of dynconv.training.loop: fit, checkpoints, resuming, schedules (CPU, tiny stand-ins,
16 px)."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from dynconv.channels import ALL_SUBSETS, RGB, parse_channels
from dynconv.config import (
    TrainConfig,
    get_config,
)
from dynconv.errors import ConfigError
from dynconv.evaluation.evaluate import evaluable_subsets, evaluate
from dynconv.models.zoo import build_model
from dynconv.training.loop import FitResult, fit, load_checkpoint, load_model, one_cycle_lr

# Tiny models: one torch thread (the conftest fixture), restored afterwards.
pytestmark = pytest.mark.usefixtures("one_thread")


# ----------------------------------------------------------------------------- stand-ins


class TinyNet(nn.Module):
    """Plain net ("zero" mode): conv + BN + dropout + linear, records what it is called with."""

    input_mode = "zero"

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(0.2)
        self.fc = nn.Linear(4, num_classes)
        self.train_calls = 0
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x, channels=None):
        self.shapes.append(tuple(x.shape))
        self.train_calls += int(self.training)
        h = torch.relu(self.bn(self.conv(x))).mean(dim=(2, 3))  # (B, 4)
        return self.fc(self.drop(h))


class DropNet(nn.Module):
    """Dynamic-stem stand-in ("drop" mode): accepts any channel count, drops channels at random
    in training (like v4), has set_epoch and a temperature (like v3)."""

    input_mode = "drop"

    def __init__(self, num_classes: int = 3) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.fc = nn.Linear(4, num_classes)
        self.temperature = 30.0
        self.epochs_seen: list[int] = []
        self.channel_counts: list[int] = []

    def set_epoch(self, epoch: int) -> None:
        self.epochs_seen.append(epoch)
        self.temperature = 30.0 - epoch

    def forward(self, x, channels=None):
        self.channel_counts.append(x.shape[1])
        if self.training:  # random channel dropping, drawn from the global RNG
            keep = torch.rand(x.shape[1]) > 0.3
            x = x * keep.view(1, -1, 1, 1)
        h = self.conv(x.mean(dim=1, keepdim=True))  # (B, 4, H, W)
        return self.fc(torch.relu(h).mean(dim=(2, 3)))


def make_data(n: int = 48, size: int = 16, seed: int = 0, flip: bool = False):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 3, size, size, generator=g)
    y = (x[:, 0].mean(dim=(1, 2)) > 0).long() + (x[:, 1].mean(dim=(1, 2)) > 0).long()  # 3 classes
    if flip:
        y = 2 - y
    return TensorDataset(x, y)


def loaders(batch_size: int = 8, generator: bool = True, flip_val: bool = False):
    gen = torch.Generator().manual_seed(0) if generator else None
    train = DataLoader(make_data(seed=0), batch_size=batch_size, shuffle=True, generator=gen)
    val = DataLoader(make_data(n=24, seed=1, flip=flip_val), batch_size=batch_size)
    return train, val


def tiny_config(**kw) -> TrainConfig:
    base = dict(image_size=16, batch_size=8, max_epochs=4, patience=10, device="cpu",
                max_train_per_class=None, max_val_per_class=None, max_test_per_class=None,
                lr=1e-2, lr_schedule="constant")
    base.update(kw)
    return get_config("ci", **base)


def build(cls=TinyNet, seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return cls()


def numbers(result: FitResult) -> pd.DataFrame:
    return result.history.drop(columns="seconds")


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


def test_cpu_defaults_compute_what_explicit_off_computes_and_bf16_trains():
    """On a CPU "auto" means off: the same numbers as amp/channels_last "off". bfloat16
    autocast and channels_last also run on a CPU (what a GPU run does), with other numbers."""
    runs = {}
    for name, kw in {"auto": {}, "off": {"amp": "off", "channels_last": "off"},
                     "gpu-like": {"amp": "bf16", "channels_last": "on"}}.items():
        model = build(DropNet)
        train, val = loaders()
        runs[name] = fit(model, train, val, tiny_config(max_epochs=2, **kw), progress=False)
    pd.testing.assert_frame_equal(numbers(runs["auto"]), numbers(runs["off"]))
    assert runs["auto"].runtime == {"device": "cpu", "amp": "off", "channels_last": False,
                                    "num_workers": 0, "pin_memory": False, "compile": False,
                                    "num_threads": torch.get_num_threads(), "world_size": 1}
    gpu_like = runs["gpu-like"]
    assert (gpu_like.runtime["amp"], gpu_like.runtime["channels_last"]) == ("bf16", True)
    assert np.isfinite(gpu_like.history[["train_loss", "val_loss"]].to_numpy()).all()
    assert not numbers(gpu_like).equals(numbers(runs["auto"]))  # bfloat16 rounds differently


def test_compile_runs_the_compiled_model_but_saves_the_plain_one(tmp_path, monkeypatch):
    """compile=True: batches go through torch.compile's wrapper (here a stand-in with its
    ``_orig_mod``), checkpoints hold the network's own weight names; and a checkpoint resumes
    across the runtime fields (compile, num_workers, pin_memory). The result reports the
    workers of the loader it was given (fit builds loaders only under torchrun)."""
    compiled = []

    class Compiled(nn.Module):  # what torch.compile returns: the model as _orig_mod
        def __init__(self, model):
            super().__init__()
            self._orig_mod = model
            self.calls = 0

        def forward(self, *args, **kwargs):
            self.calls += 1
            return self._orig_mod(*args, **kwargs)

    def fake_compile(model):
        compiled.append(Compiled(model))
        return compiled[-1]

    monkeypatch.setattr(torch, "compile", fake_compile)
    path = tmp_path / "c.pt"
    model = build()
    train, val = loaders()
    fit(model, train, val, tiny_config(max_epochs=2, compile=True), checkpoint_path=path,
        progress=False, stop_after_epoch=1)
    assert [c._orig_mod for c in compiled] == [model, model]  # training and validation
    assert compiled[0].calls == 6 and compiled[1].calls == 3  # 6 training, 3 val batches
    ckpt = load_checkpoint(path)
    assert set(ckpt["model"]) == set(model.state_dict()) == set(ckpt["best_state"])
    resumed = fit(build(), train, val, tiny_config(max_epochs=2, num_workers=1,
                                                   pin_memory="on"),
                  checkpoint_path=path, progress=False)
    assert resumed.resumed_from_epoch == 1
    assert resumed.runtime["num_workers"] == 0  # the given loader's, not the config's


def test_fit_history_columns_and_result():
    model = build()
    train, val = loaders()
    result = fit(model, train, val, tiny_config(max_epochs=2), progress=False)
    assert list(result.history.columns) == ["epoch", "train_loss", "train_acc", "val_loss",
                                            "val_acc", "lr", "seconds"]
    assert result.history["epoch"].tolist() == [1, 2]
    assert result.epochs_run == 2 and result.completed and not result.stopped_early
    assert result.best_epoch in (1, 2) and result.device == "cpu"
    assert (result.history["lr"] == 1e-2).all()


def test_same_seed_same_numbers():
    runs = []
    for _ in range(2):
        model = build(DropNet)
        train, val = loaders()
        runs.append((model, fit(model, train, val, tiny_config(max_epochs=3), progress=False)))
    pd.testing.assert_frame_equal(numbers(runs[0][1]), numbers(runs[1][1]))
    assert_same_weights(runs[0][0], runs[1][0])


@pytest.mark.parametrize("cls", [TinyNet, DropNet])
@pytest.mark.parametrize("generator", [True, False])
def test_killed_run_resumes_to_the_same_result(tmp_path, cls, generator):
    cfg = tiny_config(max_epochs=4, patience=2)
    train, val = loaders(generator=generator)
    full = build(cls)
    uninterrupted = fit(full, train, val, cfg, checkpoint_path=tmp_path / "a.pt", progress=False)

    train, val = loaders(generator=generator)
    killed = fit(build(cls), train, val, cfg, checkpoint_path=tmp_path / "b.pt",
                 progress=False, stop_after_epoch=2)
    assert not killed.completed and killed.epochs_run == 2
    # A new process: a fresh model (even differently initialised) and fresh loaders.
    train, val = loaders(generator=generator)
    resumed_model = build(cls, seed=123)
    resumed = fit(resumed_model, train, val, cfg, checkpoint_path=tmp_path / "b.pt",
                  progress=False)
    assert resumed.completed and resumed.resumed_from_epoch == 2
    pd.testing.assert_frame_equal(numbers(resumed), numbers(uninterrupted))
    assert (resumed.best_epoch, resumed.best_metric) == (
        uninterrupted.best_epoch, uninterrupted.best_metric)
    assert_same_weights(resumed_model, full)


def test_finished_checkpoint_is_not_trained_again(tmp_path):
    cfg = tiny_config(max_epochs=2)
    train, val = loaders()
    first = build()
    fit(first, train, val, cfg, checkpoint_path=tmp_path / "c.pt", progress=False)
    again = build(seed=5)
    result = fit(again, train, val, cfg, checkpoint_path=tmp_path / "c.pt", progress=False)
    assert again.train_calls == 0 and result.epochs_run == 2 and result.completed
    assert_same_weights(again, first)


def test_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / "ckpt.pt"
    train, val = loaders()
    fit(build(DropNet), train, val, tiny_config(max_epochs=2), train_channels="RG",
        checkpoint_path=path, progress=False)
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    assert set(ckpt) == set(load_checkpoint(path))
    assert {"model", "optimizer", "epoch", "history", "best_state", "best_metric",
            "epochs_without_improvement", "config"} <= set(ckpt)
    assert ckpt["epoch"] == 2 and ckpt["train_channels"] == "RG"
    assert isinstance(ckpt["history"], list) and isinstance(ckpt["history"][0], dict)
    assert ckpt["config"]["max_epochs"] == 2
    assert not list(tmp_path.glob("*.tmp"))  # atomic write left nothing behind


def test_resume_refuses_a_different_config(tmp_path):
    path = tmp_path / "ckpt.pt"
    train, val = loaders()
    fit(build(), train, val, tiny_config(max_epochs=2), checkpoint_path=path,
        progress=False, stop_after_epoch=1)
    with pytest.raises(ConfigError, match=r"different configuration \(lr: 0.01"):
        fit(build(), train, val, tiny_config(max_epochs=2, lr=0.1), checkpoint_path=path,
            progress=False)
    with pytest.raises(ConfigError, match="train_channels"):
        fit(build(), train, val, tiny_config(max_epochs=2), train_channels="RG",
            checkpoint_path=path, progress=False)
    # num_threads only changes speed: resuming with another value is allowed
    fit(build(), train, val, tiny_config(max_epochs=2, num_threads=torch.get_num_threads()),
        checkpoint_path=path, progress=False)


def test_early_stopping_stops_and_restores_the_best_weights(tmp_path):
    # Validation labels are the training labels reversed: the better the model fits the
    # training set, the worse its validation loss, so training soon stops improving it.
    cfg = tiny_config(max_epochs=10, patience=2, lr=0.05)
    train, val = loaders(flip_val=True)
    model = build()
    result = fit(model, train, val, cfg, checkpoint_path=tmp_path / "e.pt", progress=False)
    losses = result.history["val_loss"].tolist()
    best = int(np.argmin(losses)) + 1
    assert result.stopped_early and result.epochs_run == best + 2  # best + patience 2
    assert result.epochs_run < cfg.max_epochs
    assert result.best_epoch == best and result.best_metric == losses[best - 1]
    assert min(losses[best:]) > losses[best - 1]  # the two epochs after it are worse

    # The restored weights are those after the best epoch: train that many epochs to compare.
    train, val = loaders(flip_val=True)
    short = build()
    fit(short, train, val, dataclasses.replace(cfg, max_epochs=best), progress=False)
    assert_same_weights(model, short)
    assert load_checkpoint(tmp_path / "e.pt")["best_epoch"] == best


def test_val_acc_monitor_needs_a_strict_improvement():
    cfg = tiny_config(max_epochs=6, patience=1, monitor="val_acc", lr=1e-12)
    train, val = loaders()
    result = fit(build(DropNet), train, val, cfg, progress=False)
    # lr ~ 0: accuracy never changes, so epoch 2 is not an improvement and training stops.
    assert result.epochs_run == 2 and result.best_epoch == 1 and result.stopped_early


def test_channels_hooks_and_step_limit():
    model = build(DropNet)
    train, val = loaders(batch_size=8)  # 48 images -> 6 batches; limited to 2
    result = fit(model, train, val, tiny_config(max_epochs=3, max_steps_per_epoch=2),
                 train_channels="gr", progress=False)
    assert model.epochs_seen == [0, 1, 2]  # set_epoch at every epoch start, 0-based
    assert result.history["temperature"].tolist() == [30.0, 29.0, 28.0]
    assert set(model.channel_counts) == {2}  # "drop": RG only, in training and validation
    # 2 training batches + 3 validation batches per epoch
    assert len(model.channel_counts) == 3 * (2 + 3)


def test_zero_mode_keeps_three_channels_and_zeroes_the_others():
    seen = []

    class Spy(TinyNet):
        def forward(self, x, channels=None):
            seen.append((x[:, 2].abs().sum().item(), x.shape[1], channels))
            return super().forward(x, channels)

    train, val = loaders()
    fit(build(Spy), train, val, tiny_config(max_epochs=1, max_steps_per_epoch=1),
        train_channels=parse_channels("RG"), progress=False)
    assert all(s == 0.0 and n == 3 and c == parse_channels("RG") for s, n, c in seen)


def test_fit_rejects_models_without_input_mode():
    class Bare(nn.Module):
        def forward(self, x, channels=None):
            return x.mean(dim=(2, 3))

    train, val = loaders()
    with pytest.raises(ConfigError, match="input_mode"):
        fit(Bare(), train, val, tiny_config(), progress=False)
    with pytest.raises(ConfigError, match="TrainConfig"):
        fit(build(), train, val, {"lr": 1e-3}, progress=False)  # type: ignore[arg-type]


def test_progress_bar_counts_steps_and_shows_the_epoch_and_val_acc(capsys):
    train, val = loaders()
    fit(build(), train, val, tiny_config(max_epochs=1), train_channels=RGB, progress=True)
    err = capsys.readouterr().err
    steps = len(train)
    assert f"{steps}/{steps}" in err  # one bar over every training step
    assert "epoch 1/1" in err and "val_acc" in err
    fit(build(), train, val, tiny_config(max_epochs=1), train_channels=RGB, progress=False)
    assert capsys.readouterr().err == ""  # and none when progress=False


def test_val_subsets_all_validates_on_the_mean_over_every_subset():
    seen: list[tuple[bool, object]] = []

    class Spy(DropNet):
        def forward(self, x, channels=None):
            seen.append((self.training, channels))
            return super().forward(x, channels)

    train, val = loaders()
    model = build(Spy)
    result = fit(model, train, val, tiny_config(max_epochs=1, val_subsets="all"),
                 train_channels="RG", progress=False)
    assert {c for training, c in seen if training} == {parse_channels("RG")}
    # every subset in turn, each over the 3 validation batches
    assert [c for training, c in seen if not training] == [s for s in ALL_SUBSETS
                                                            for _ in range(3)]
    # val_loss / val_acc are the plain means over the seven subsets (same images each)
    scores = evaluate(model, val, ALL_SUBSETS)
    row = result.history.iloc[0]
    assert row["val_loss"] == pytest.approx(sum(r.loss for r in scores.values()) / 7)
    assert row["val_acc"] == pytest.approx(sum(r.accuracy for r in scores.values()) / 7)

    seen.clear()
    train, val = loaders()
    fit(build(Spy), train, val, tiny_config(max_epochs=1), train_channels="RG", progress=False)
    assert {c for training, c in seen if not training} == {parse_channels("RG")}


def test_load_model_rebuilds_the_network_from_the_file_alone(tmp_path):
    path = tmp_path / "zoo.pt"
    train, val = loaders(flip_val=True)  # the better the fit, the worse validation: best = 1
    torch.manual_seed(0)
    model = build_model("small_k3s1", num_classes=3, width=8)
    result = fit(model, train, val, tiny_config(max_epochs=2, lr=0.05), checkpoint_path=path,
                 progress=False)
    assert result.best_epoch == 1 and result.epochs_run == 2
    ckpt = load_checkpoint(path)
    assert ckpt["model_spec"] == {"name": "small_k3s1", "num_classes": 3,
                                  "kwargs": {"width": 8}}

    loaded = load_model(path)
    assert not loaded.training and loaded.build_spec == ckpt["model_spec"]
    x, _ = next(iter(val))
    model.eval()
    with torch.no_grad():
        assert torch.allclose(loaded(x), model(x))  # the best epoch's weights, as fit left
    # a finished run keeps its best weights only: no optimizer state, no last weights
    assert ckpt["finished"] and ckpt["optimizer"] is None and ckpt["best_state"] is None
    for k, v in loaded.state_dict().items():
        assert torch.equal(v, ckpt["model"][k]), k

    plain = tmp_path / "plain.pt"
    fit(build(), train, val, tiny_config(max_epochs=1), checkpoint_path=plain, progress=False)
    with pytest.raises(ConfigError, match="does not name its model"):
        load_model(plain)


def test_a_channel_subset_argument_does_not_break_the_checkpoint(tmp_path):
    """build_model("v1", channels=<ChannelSubset>): the checkpoint still loads with
    weights_only=True (the builder arguments are stored as plain values)."""
    path = tmp_path / "v1.pt"
    train, val = loaders()
    torch.manual_seed(0)
    model = build_model("v1", num_classes=3, channels=parse_channels("gr"))
    cfg = tiny_config(max_epochs=1, max_steps_per_epoch=1)
    fit(model, train, val, cfg, train_channels="RG", checkpoint_path=path, progress=False)
    loaded = load_model(path)
    assert load_checkpoint(path)["model_spec"]["kwargs"] == {"channels": "RG"}
    assert evaluable_subsets(loaded) == (parse_channels("RG"),)
    x, _ = next(iter(val))
    model.eval()
    with torch.no_grad():
        xs = x[:, :2]  # v1 on RG takes two channels
        assert torch.allclose(loaded(xs, channels=parse_channels("RG")),
                              model(xs, channels=parse_channels("RG")))
    again = fit(build_model("v1", num_classes=3, channels="RG"), train, val, cfg,
                train_channels="RG", checkpoint_path=path, progress=False)
    assert again.resumed_from_epoch == 1  # a finished run: restored, not retrained


def test_resume_refuses_another_run_key(tmp_path):
    path = tmp_path / "keyed.pt"
    train, val = loaders()
    cfg = tiny_config(max_epochs=2)
    key = {"config": "c1", "data": "d1", "code": "x1", "modules": {"dynconv.stems.v1": "s"}}
    fit(build(), train, val, cfg, checkpoint_path=path, progress=False, stop_after_epoch=1,
        run_key=key)
    assert load_checkpoint(path)["run_key"] == key
    with pytest.raises(ConfigError, match="run_key: the checkpoint was keyed by other code"):
        fit(build(), train, val, cfg, checkpoint_path=path, progress=False,
            run_key={**key, "code": "x2"})
    resumed = fit(build(), train, val, cfg, checkpoint_path=path, progress=False,
                  run_key=dict(key))
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_run == 2


# ----------------------------------------------------------------------------- real data


@pytest.mark.slow
def test_short_fit_on_builtin_data_beats_chance(tmp_path_factory, monkeypatch):
    from dynconv.data.datasets import load_dataset, make_loader
    from dynconv.evaluation.evaluate import evaluate

    cache = tmp_path_factory.getbasetemp() / "dynconv-cache"  # shared by this session's tests
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(cache))
    bundle = load_dataset(None, image_size=16, progress=False)  # generated once: ~10 s
    # num_threads=1: on 2 shared cores, 2 threads for a tiny CNN are ~5x slower than 1.
    cfg = get_config("ci", image_size=16, max_epochs=8, patience=8, lr=3e-3, device="cpu",
                     num_threads=1)
    train = bundle.train.subset_per_class(100, seed=cfg.seed)  # 24 classes x 100 images
    val = bundle.val.subset_per_class(10, seed=cfg.seed)
    test = bundle.test.subset_per_class(10, seed=cfg.seed)
    threads = torch.get_num_threads()
    torch.manual_seed(cfg.seed)
    model = _small_real_model(bundle.num_classes)
    try:
        result = fit(model, make_loader(train, batch_size=32, shuffle=True, seed=cfg.seed),
                     make_loader(val, batch_size=128, shuffle=False), cfg, progress=False)
        acc = evaluate(model, test, ["RGB"])["RGB"].accuracy
    finally:
        torch.set_num_threads(threads)
    chance = 1 / bundle.num_classes
    assert acc > 3 * chance, (acc, result.history)


def _small_real_model(num_classes: int) -> nn.Module:
    """A small CNN (the zoo's ResNet18 takes ~0.7 s a step on 2 shared cores: too slow here)."""

    class SmallCNN(nn.Module):
        input_mode = "zero"

        def __init__(self) -> None:
            super().__init__()
            self.body = nn.Sequential(
                nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),  # (B, 32, 16, 16)
                nn.MaxPool2d(2),  # (B, 32, 8, 8)
                nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(),  # (B, 64, 8, 8)
                nn.AdaptiveAvgPool2d(1), nn.Flatten(),  # (B, 64)
            )
            self.fc = nn.Linear(64, num_classes)

        def forward(self, x, channels=None):
            return self.fc(self.body(x))

    return SmallCNN()


@pytest.mark.parametrize("total", [1, 7, 50, 400])
def test_one_cycle_lr_equals_torchs_one_cycle_scheduler(total):
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=1.0)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=3e-3, total_steps=total, cycle_momentum=False)
    expected = []
    for step in range(total):
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        if step < total - 1:
            scheduler.step()
    ours = [one_cycle_lr(step, total, 3e-3) for step in range(total)]
    assert ours == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_onecycle_schedule_is_applied_and_resumes_on_the_same_curve(tmp_path):
    cfg = tiny_config(max_epochs=3, patience=5, lr=1e-2, lr_schedule="onecycle")
    full = fit(build(), *loaders(), cfg, progress=False)
    steps = len(loaders()[0])
    # the history's lr is the last step's lr of each epoch
    expected = [one_cycle_lr((e + 1) * steps - 1, 3 * steps, 1e-2) for e in range(3)]
    assert full.history["lr"].tolist() == pytest.approx(expected)
    ckpt = tmp_path / "run.pt"
    fit(build(), *loaders(), cfg, checkpoint_path=ckpt, progress=False, stop_after_epoch=1)
    resumed = fit(build(), *loaders(), cfg, checkpoint_path=ckpt, progress=False)
    pd.testing.assert_frame_equal(numbers(resumed), numbers(full))


def test_one_progress_bar_per_training_that_ends_complete(monkeypatch):
    from tqdm import tqdm as plain_tqdm

    import dynconv.training.loop as train_module

    bars = []

    def recording_tqdm(*args, **kwargs):
        bar = plain_tqdm(*args, **{**kwargs, "disable": False, "file": io.StringIO()})
        bars.append(bar)
        return bar

    monkeypatch.setattr(train_module, "tqdm", recording_tqdm)
    train, val = loaders(batch_size=8)  # 48 images -> 6 steps an epoch
    fit(build(), train, val, tiny_config(max_epochs=3), progress=True, desc="tiny run")
    assert len(bars) == 1  # not one bar per epoch: one compact line per training
    assert (bars[0].desc, bars[0].total, bars[0].n) == ("tiny run", 18, 18)
    assert "epoch 3/3" in bars[0].postfix

    bars.clear()  # an early stop ends the bar at the step it reached, complete (not red)
    train, val = loaders(flip_val=True)
    result = fit(build(), train, val, tiny_config(max_epochs=10, patience=2, lr=0.05),
                 progress=True)
    assert result.stopped_early and len(bars) == 1
    assert bars[0].total == bars[0].n == 6 * result.epochs_run
    assert "early stop" in bars[0].postfix
