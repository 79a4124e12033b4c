"""One training loop for every model: Adam, cross-entropy, early stopping, resumable checkpoints.

The loop is the original study's recipe (Adam with coupled weight decay, cross-entropy,
gradient-norm clipping, early stopping on a validation metric, the best epoch's weights
tested once), written once so that every chapter's cell is four lines: config, data, model,
``fit``. It is not from a paper; the closest reference is the early-stopping rule of
Prechelt, "Early Stopping - But When?" (1998).

How this differs from the original study:

* One loop for all models (the original copied a slightly different loop into each notebook:
  patience 3 and no clipping for v1-v3, val-accuracy monitoring for v4); differences are
  :class:`~dynconv.config.TrainConfig` overrides.
* Channel subsets are applied here, with :func:`dynconv.channels.apply_subset` and the
  model's ``input_mode`` (``"drop"`` for dynamic stems, ``"zero"`` for plain networks);
  validation uses the same training subset.
* Every epoch is reproducible on its own: at its start the global RNG and the training
  loader's shuffling generator are seeded with ``seed + epoch``. A run killed after any epoch
  resumes from its checkpoint to the same weights and numbers as an uninterrupted run (on CPU,
  exactly).
* Checkpoints are written atomically after every epoch and hold the optimizer state, the
  history, the best weights and the config (a finished run's keeps its best weights only); a
  checkpoint written with another config is refused. They load with
  ``torch.load(weights_only=True)``.
* On a GPU, the config's ``"auto"`` settings (:meth:`~dynconv.config.TrainConfig.resolved`)
  switch on bfloat16 autocast for the forward pass and loss (training and validation),
  channels_last memory for the model and batches, and pinned batches copied without waiting;
  ``compile=True`` adds ``torch.compile``. None of them is on for a CPU, whose runs compute
  exactly what they did before. Losses and counts are summed on the device (in float64, the
  same numbers as Python's floats) and read once an epoch, not after every step.
* Under ``torchrun --nproc_per_node=N`` the same call trains on N processes with
  DistributedDataParallel (:mod:`dynconv.training.distributed`): every rank returns the same
  history,
  best epoch and weights, and only rank 0 writes the checkpoint.

Explained in chapter ``02_baseline``.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from dynconv.channels import RGB, ChannelSubset, apply_subset, model_input_mode, parse_channels
from dynconv.config import RUNTIME_FIELDS, TrainConfig
from dynconv.errors import ConfigError
from dynconv.evaluation.evaluate import evaluable_subsets
from dynconv.fileio import atomic_torch_save
from dynconv.models.zoo import build_model
from dynconv.provenance import to_jsonable
from dynconv.training import distributed

CHECKPOINT_FORMAT = 2  # 2: model_spec and run_key added


@dataclass
class FitResult:
    """What :func:`fit` returns; the model itself holds the best epoch's weights."""

    # One row per epoch: epoch (1-based), train_loss, train_acc, val_loss, val_acc, lr,
    # temperature (only for models that have one), seconds.
    history: pd.DataFrame
    # 1-based epoch whose weights the model now holds (0 if no epoch ran).
    best_epoch: int
    # Value of `monitor` at best_epoch (None if no epoch ran).
    best_metric: float | None
    # The config.monitor metric name ("val_loss" or "val_acc").
    monitor: str
    # Epochs trained in total, including those before a resume.
    epochs_run: int
    # True if early stopping ended the run before max_epochs.
    stopped_early: bool
    # False only when stop_after_epoch interrupted the run (the model then holds the last
    # epoch's weights, not the best, exactly as a killed run would have left them).
    completed: bool
    # Epochs that were already done in the checkpoint this call resumed from (0: fresh start).
    resumed_from_epoch: int
    # Wall-clock seconds spent in this call.
    seconds: float
    # Device the model was trained on.
    device: str
    # Where the checkpoint was written (None: no checkpoint).
    checkpoint_path: Path | None = None
    # What the config's "auto" settings meant here (TrainConfig.resolved: device, amp,
    # channels_last, num_workers, pin_memory, compile, num_threads; num_workers and
    # pin_memory as the training DataLoader had them) and world_size, the number of torchrun
    # processes (1 without torchrun).
    runtime: dict[str, Any] = field(default_factory=dict)


@dataclass
class _State:
    """Everything besides the model and optimizer that a resumed run needs."""

    history: list[dict[str, float]]
    best_metric: float | None = None
    best_epoch: int = 0
    best_state: dict[str, torch.Tensor] | None = None
    wait: int = 0  # epochs in a row without improvement
    finished: bool = False
    stopped_early: bool = False


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    config: TrainConfig,
    *,
    train_channels: ChannelSubset | str = RGB,
    checkpoint_path: str | os.PathLike | None = None,
    progress: bool = True,
    stop_after_epoch: int | None = None,
    run_key: Mapping[str, Any] | None = None,
    desc: str = "training",
    on_epoch: Callable[[int, int, Mapping[str, float]], None] | None = None,
) -> FitResult:
    """Train ``model`` with early stopping and return its history; the best weights are restored.

    ``train_loader``/``val_loader`` yield ``(x, y)`` with ``x`` normalised ``(B, 3, H, W)``;
    ``x`` is reduced to ``train_channels`` with the model's ``input_mode``. If
    ``checkpoint_path`` exists, training resumes from it (or, if that run had finished, only
    the best weights are restored). ``stop_after_epoch=k`` returns right after epoch ``k``'s
    checkpoint, as if the process had been killed there (to test resuming). ``run_key`` is
    stored in the checkpoint; resuming from a checkpoint with another key is refused.
    With ``config.val_subsets == "all"`` validation averages over every subset the model takes.
    ``progress`` shows ONE bar per training, named ``desc``, counting optimisation steps over
    all epochs (a notebook page keeps one compact line per training, not one per epoch).
    ``on_epoch(epoch, max_epochs, row)`` is called after each epoch (on rank 0), with the
    epoch's history row (a build log prints one line per epoch with it).

    Under torchrun (``WORLD_SIZE > 1``) both loaders must be DataLoaders: their datasets are
    re-sharded over the ranks (:mod:`dynconv.training.distributed`); the model comes back unwrapped,
    on every rank, with the best weights. Outside torchrun the loaders are used as given.
    """
    if not isinstance(config, TrainConfig):
        raise ConfigError(f"config must be a TrainConfig (see dynconv.config.get_config), "
                          f"got {type(config).__name__}")
    subset = parse_channels(train_channels)
    input_mode = model_input_mode(model)
    if stop_after_epoch is not None and stop_after_epoch < 1:
        raise ConfigError(f"stop_after_epoch must be >= 1 or None, got {stop_after_epoch!r}")
    env, device = distributed.setup(config.device)  # (None, the device) outside torchrun
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    run = _Runtime(config.resolved(device), env)
    val_subsets = (evaluable_subsets(model) if config.val_subsets == "all" else (subset,))
    ckpt_path = Path(checkpoint_path) if checkpoint_path is not None else None
    t0 = time.perf_counter()

    model.to(device)
    if run.channels_last:
        model.to(memory_format=torch.channels_last)  # 4-D weights; the same Parameters
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    state = _State(history=[])
    if ckpt_path is not None and ckpt_path.exists():
        state = _load_checkpoint(ckpt_path, model, optimizer, config, subset, run_key)
    resumed_from = len(state.history)

    # What runs the batches: the model itself, or wrapped (DDP for training; torch.compile).
    # Checkpoints and best weights always come from `model`: no "module." or "_orig_mod."
    # prefixes in their keys.
    train_net, eval_net = model, model
    if env is not None:
        train_net = distributed.wrap(model, device)
        train_loader = distributed.shard_train_loader(
            train_loader, config, env, num_workers=run.settings["num_workers"],
            pin_memory=run.pin_memory)
        val_loader = distributed.shard_val_loader(val_loader, env, pin_memory=run.pin_memory)
    if run.settings["compile"]:
        train_net, eval_net = torch.compile(train_net), torch.compile(model)
    if isinstance(train_loader, DataLoader):  # what the batches really come from
        run.settings.update(num_workers=train_loader.num_workers,
                            pin_memory=train_loader.pin_memory)

    steps = _num_batches(train_loader, config.max_steps_per_epoch)
    bar = tqdm(total=None if steps is None else config.max_epochs * steps,
               initial=0 if steps is None else resumed_from * steps, desc=desc, unit="step",
               disable=not progress or state.finished or not run.is_main, mininterval=0.5)
    try:
        for epoch in range(resumed_from, config.max_epochs):
            if state.finished:
                break
            row = _run_epoch(model, train_net, eval_net, optimizer, train_loader, val_loader,
                             config, epoch=epoch, subset=subset, val_subsets=val_subsets,
                             input_mode=input_mode, device=device, run=run, bar=bar)
            state.history.append(row)
            _update_best(state, model, row, config, epoch_number=epoch + 1)
            state.finished = state.stopped_early or epoch + 1 >= config.max_epochs
            if ckpt_path is not None and run.is_main:
                _save_checkpoint(ckpt_path, model, optimizer, state, config, subset, run_key)
            if on_epoch is not None and run.is_main:
                on_epoch(epoch + 1, config.max_epochs, row)
            bar.set_postfix_str(f"epoch {epoch + 1}/{config.max_epochs}, "
                                f"val_acc {row['val_acc']:.3f}"
                                + (" (early stop)" if state.stopped_early else ""))
            if stop_after_epoch is not None and epoch + 1 >= stop_after_epoch \
                    and not state.finished:
                return _result(state, config, completed=False, resumed_from=resumed_from,
                               t0=t0, device=device, ckpt_path=ckpt_path, run=run)
        if state.stopped_early:
            _end_bar_early(bar)
    finally:
        bar.close()

    if state.best_state is not None:
        model.load_state_dict(state.best_state)
    return _result(state, config, completed=True, resumed_from=resumed_from, t0=t0,
                   device=device, ckpt_path=ckpt_path, run=run)


class _Runtime:
    """How batches are run: the resolved GPU settings and the torchrun job (or None)."""

    def __init__(self, settings: dict[str, Any], env: distributed.DistEnv | None) -> None:
        self.settings = {**settings, "world_size": 1 if env is None else env.world_size}
        self.env = env
        self.is_main = env is None or env.is_main
        self.channels_last = bool(settings["channels_last"])
        self.pin_memory = bool(settings["pin_memory"])

    def autocast(self, device: torch.device) -> torch.autocast:
        """bfloat16 autocast when ``amp`` resolved to "bf16", else a context that does nothing."""
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16,
                              enabled=self.settings["amp"] == "bf16")

    def batch(self, x: torch.Tensor, y: torch.Tensor, device: torch.device, subset: ChannelSubset,
              input_mode: str) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch on ``device``, reduced to ``subset``: ``(B, n, H, W)`` or ``(B, 3, H, W)``
        (channels_last when set), and ``(B,)``."""
        x = apply_subset(x.to(device, non_blocking=self.pin_memory), subset, input_mode)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y.to(device, non_blocking=self.pin_memory)


def _run_epoch(model: nn.Module, train_net: nn.Module, eval_net: nn.Module,
               optimizer: torch.optim.Optimizer, train_loader: Iterable, val_loader: Iterable,
               config: TrainConfig, *, epoch: int, subset: ChannelSubset,
               val_subsets: Sequence[ChannelSubset], input_mode: str, device: torch.device,
               run: _Runtime, bar: tqdm) -> dict[str, float]:
    """Train one epoch (0-based index ``epoch``), validate, and return the history row.

    ``model`` is the network itself, ``train_net`` what runs training batches (``model``, or
    it wrapped by DDP or torch.compile), ``eval_net`` what runs validation batches.
    """
    start = time.perf_counter()
    # Every random draw of this epoch (shuffle order, v4's channel dropping, dropout) derives
    # from seed + epoch, so a resumed run replays the same epoch exactly.
    torch.manual_seed(config.seed + epoch)
    _reseed_loader(train_loader, config.seed + epoch)
    sampler = getattr(train_loader, "sampler", None)
    if run.env is not None and callable(getattr(sampler, "set_epoch", None)):
        sampler.set_epoch(epoch)  # DistributedSampler: shuffled with seed + epoch
    for module in model.modules():
        set_epoch = getattr(module, "set_epoch", None)
        if callable(set_epoch):
            set_epoch(epoch)  # 0-based, like DistributedSampler.set_epoch

    train_net.train()  # the model too, inside a wrapper
    total = _num_batches(train_loader, config.max_steps_per_epoch)
    # Summed on the device, read once at the end of the epoch (no wait for the GPU at every
    # step); float64, so the sums are the ones Python's floats gave before.
    sums = torch.zeros(3, dtype=torch.float64, device=device)  # loss * images, correct, images
    for step, (x, y) in enumerate(train_loader):
        if config.max_steps_per_epoch is not None and step >= config.max_steps_per_epoch:
            break
        if config.lr_schedule == "onecycle":
            # A pure function of the global step: a resumed run continues the same schedule
            # with nothing to store (tests check it equals torch's OneCycleLR).
            lr = one_cycle_lr(epoch * total + step, config.max_epochs * total, config.lr)
            for group in optimizer.param_groups:
                group["lr"] = lr
        x, y = run.batch(x, y, device, subset, input_mode)  # (B, n or 3, H, W), (B,)
        with run.autocast(device):
            logits = train_net(x, channels=subset)  # (B, num_classes)
            loss = F.cross_entropy(logits, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if config.grad_clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        sums[0] += loss.detach().double() * y.numel()
        sums[1] += (logits.argmax(dim=1) == y).sum()
        sums[2] += y.numel()
        bar.update(1)
    if run.env is not None:
        sums = distributed.all_reduce_sum(sums)  # every rank's images
    loss_sum, correct, seen = sums.tolist()
    if seen == 0:
        raise ConfigError("the training loader yielded no batches")

    # With config.val_subsets == "all", val_loss/val_acc are means over every subset the model
    # takes (the same images under each subset, so a plain mean weighs them equally).
    scores = _validate(eval_net, val_loader, subsets=val_subsets, input_mode=input_mode,
                       device=device, run=run)
    val_loss = sum(loss for loss, _ in scores) / len(scores)
    val_acc = sum(acc for _, acc in scores) / len(scores)
    row = {
        "epoch": epoch + 1,
        "train_loss": loss_sum / seen,
        "train_acc": correct / seen,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "lr": float(optimizer.param_groups[0]["lr"]),
    }
    temperature = _temperature(model)
    if temperature is not None:
        row["temperature"] = temperature
    row["seconds"] = time.perf_counter() - start
    return row


@torch.no_grad()
def one_cycle_lr(step: int, total_steps: int, max_lr: float, *, pct_start: float = 0.3,
                 div_factor: float = 25.0, final_div_factor: float = 1e4) -> float:
    """The learning rate of step ``step`` (0-based) of a one-cycle schedule (Smith & Topin,
    "Super-Convergence", 2019), as ``torch.optim.lr_scheduler.OneCycleLR`` with cosine
    annealing and no momentum cycling: from ``max_lr / div_factor`` up to ``max_lr`` over the
    first ``pct_start`` of the steps, then down to ``max_lr / div_factor / final_div_factor``.
    """
    initial = max_lr / div_factor
    final = initial / final_div_factor
    warmup_end = float(pct_start * total_steps) - 1
    if step <= warmup_end:
        start, end, pct = initial, max_lr, step / warmup_end if warmup_end > 0 else 1.0
    else:
        span = (total_steps - 1) - warmup_end
        start, end, pct = max_lr, final, min(1.0, (step - warmup_end) / span)
    return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)


@torch.no_grad()
def _validate(model: nn.Module, loader: Iterable, *, subsets: Sequence[ChannelSubset],
              input_mode: str, device: torch.device, run: _Runtime) -> list[tuple[float, float]]:
    """Mean cross-entropy and accuracy over ``loader`` on each of ``subsets`` (eval mode).

    Under torchrun each rank has its share of the images; the sums and counts of all ranks
    are added before dividing, so every rank returns the same numbers.
    """
    model.eval()
    # (S, 3): per subset, summed loss, correct, images
    sums = torch.zeros(len(subsets), 3, dtype=torch.float64, device=device)
    for i, subset in enumerate(subsets):
        for x, y in loader:
            x, y = run.batch(x, y, device, subset, input_mode)
            with run.autocast(device):
                logits = model(x, channels=subset)  # (B, num_classes)
                sums[i, 0] += F.cross_entropy(logits, y, reduction="sum").double()
            sums[i, 1] += (logits.argmax(dim=1) == y).sum()
            sums[i, 2] += y.numel()
    if run.env is not None:
        sums = distributed.all_reduce_sum(sums)
    scores = []
    for loss_sum, correct, seen in sums.tolist():
        if seen == 0:
            raise ConfigError("the validation loader yielded no batches")
        scores.append((loss_sum / seen, correct / seen))
    return scores


def _update_best(state: _State, model: nn.Module, row: Mapping[str, float], config: TrainConfig,
                 *, epoch_number: int) -> None:
    """Early-stopping bookkeeping: a strictly better monitor value resets the patience."""
    value = float(row[config.monitor])
    if state.best_metric is None:
        better = value == value  # the first finite (non-NaN) value is the best so far
    elif config.monitor == "val_loss":
        better = value < state.best_metric
    else:
        better = value > state.best_metric
    if better:
        state.best_metric = value
        state.best_epoch = epoch_number
        state.best_state = {k: v.detach().to("cpu", copy=True)
                            for k, v in model.state_dict().items()}
        state.wait = 0
    else:
        state.wait += 1
    state.stopped_early = state.wait >= config.patience and epoch_number < config.max_epochs


def _reseed_loader(loader: Any, seed: int) -> None:
    """Seed the shuffling generator(s) of a DataLoader so its order depends only on ``seed``.

    A loader without its own generator draws its shuffle seed from the global RNG, which
    :func:`fit` has just seeded, so it is deterministic too.
    """
    candidates = [loader, getattr(loader, "sampler", None),
                  getattr(getattr(loader, "batch_sampler", None), "sampler", None)]
    seen: list[torch.Generator] = []
    for obj in candidates:
        generator = getattr(obj, "generator", None)
        if isinstance(generator, torch.Generator) and all(generator is not g for g in seen):
            seen.append(generator)
            generator.manual_seed(seed)


def _end_bar_early(bar: tqdm) -> None:
    """Mark an early-stopped run's bar as complete at the step it reached.

    Otherwise a notebook bar closed below its total turns red, the sign tqdm uses for an
    error; an early stop is a normal end (the postfix says "early stop").
    """
    bar.total = bar.n
    container = getattr(bar, "container", None)  # tqdm.notebook: (label, IntProgress, text)
    if container is not None:
        container.children[1].max = bar.n
    bar.refresh()


def _num_batches(loader: Any, max_steps: int | None) -> int | None:
    try:
        n = len(loader)
    except TypeError:
        return max_steps
    return n if max_steps is None else min(n, max_steps)


def _temperature(model: nn.Module) -> float | None:
    """The softmax temperature of the first submodule that has one (v3), else None."""
    for module in model.modules():
        value = getattr(module, "temperature", None)
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            return float(value.item())
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return None


def _result(state: _State, config: TrainConfig, *, completed: bool, resumed_from: int,
            t0: float, device: torch.device, ckpt_path: Path | None, run: _Runtime
            ) -> FitResult:
    return FitResult(
        history=pd.DataFrame(state.history),
        best_epoch=state.best_epoch,
        best_metric=state.best_metric,
        monitor=config.monitor,
        epochs_run=len(state.history),
        stopped_early=state.stopped_early,
        completed=completed,
        resumed_from_epoch=resumed_from,
        seconds=time.perf_counter() - t0,
        device=str(device),
        checkpoint_path=ckpt_path,
        runtime=dict(run.settings),
    )


# --------------------------------------------------------------------------- checkpoints


def _save_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     state: _State, config: TrainConfig, subset: ChannelSubset,
                     run_key: Mapping[str, Any] | None) -> None:
    """Write the checkpoint atomically (dynconv.fileio).

    A finished run keeps only what is used after it: the best weights (as ``model``), no
    optimizer state and no second copy of the weights (a third of the size: a ResNet18's
    checkpoint is 45 MB instead of 134 MB).
    """
    finished = state.finished
    weights = state.best_state if finished and state.best_state is not None else None
    payload = {
        "format": CHECKPOINT_FORMAT,
        "epoch": len(state.history),
        "model": weights if weights is not None else model.state_dict(),
        "optimizer": None if finished else optimizer.state_dict(),
        "history": [dict(row) for row in state.history],  # plain lists/dicts: weights_only-safe
        "best_state": None if finished else state.best_state,
        "best_metric": state.best_metric,
        "best_epoch": state.best_epoch,
        "epochs_without_improvement": state.wait,
        "finished": state.finished,
        "stopped_early": state.stopped_early,
        "config": config.to_dict(),
        "train_channels": subset.name,
        # name, num_classes and builder arguments (set by dynconv.models.zoo.build_model): what
        # load_model() needs to rebuild the network from this file alone; as plain values
        # (a ChannelSubset argument becomes its name), which weights_only loading accepts
        "model_spec": to_jsonable(getattr(model, "build_spec", None)),
        # what the caller keyed this run by (dynconv.experiments.runner: config, data and code
        # digests); a resumed run must have the same
        "run_key": run_key,
    }
    atomic_torch_save(path, payload)


def load_checkpoint(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint written by :func:`fit` (safely: ``torch.load(weights_only=True)``)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def load_model(path: str | os.PathLike, *, best: bool = True) -> nn.Module:
    """Rebuild the network of a checkpoint written by :func:`fit`, from the file alone.

    The model comes back on the CPU in eval mode with the best epoch's weights (``best=False``:
    the last epoch's). Raises :class:`ConfigError` for a file that does not say which model it
    holds (a network not built by :func:`dynconv.models.zoo.build_model`).
    """

    ckpt = load_checkpoint(path)
    spec = ckpt.get("model_spec")
    if not spec:
        raise ConfigError(f"checkpoint {path} does not name its model (it was not built with "
                          f"dynconv.models.zoo.build_model); build the model and load_state_dict")
    model = build_model(spec["name"], num_classes=spec["num_classes"], **spec["kwargs"])
    weights = ckpt["best_state"] if best and ckpt["best_state"] is not None else ckpt["model"]
    model.load_state_dict(weights)
    return model.eval()


def _load_checkpoint(path: Path, model: nn.Module, optimizer: torch.optim.Optimizer,
                     config: TrainConfig, subset: ChannelSubset,
                     run_key: Mapping[str, Any] | None) -> _State:
    ckpt = load_checkpoint(path)
    if ckpt.get("format") != CHECKPOINT_FORMAT:
        raise ConfigError(f"{path} is not a dynconv checkpoint of format {CHECKPOINT_FORMAT}; "
                          f"delete it to train from scratch")
    stored = {k: v for k, v in ckpt["config"].items() if k not in RUNTIME_FIELDS}
    current = config.fingerprint_dict()
    diffs = [f"{k}: {stored.get(k)!r} in the checkpoint, {current.get(k)!r} now"
             for k in sorted(set(stored) | set(current)) if stored.get(k) != current.get(k)]
    if ckpt["train_channels"] != subset.name:
        diffs.append(f"train_channels: {ckpt['train_channels']!r} in the checkpoint, "
                     f"{subset.name!r} now")
    if run_key is not None and ckpt.get("run_key") != dict(run_key):
        diffs.append("run_key: the checkpoint was keyed by other code, data or settings")
    if diffs:
        raise ConfigError(
            f"checkpoint {path} was written with a different configuration ("
            + "; ".join(diffs) + "). Use the same configuration, another checkpoint_path, "
            "or delete the file to train from scratch."
        )
    try:
        model.load_state_dict(ckpt["model"])
    except RuntimeError as err:
        raise ConfigError(f"checkpoint {path} holds weights of a different model: {err}") from err
    if ckpt["optimizer"] is not None:  # None: a finished run (nothing left to train)
        optimizer.load_state_dict(ckpt["optimizer"])
    return _State(
        history=[dict(row) for row in ckpt["history"]],
        best_metric=ckpt["best_metric"],
        best_epoch=ckpt["best_epoch"],
        best_state=ckpt["best_state"],
        wait=ckpt["epochs_without_improvement"],
        finished=ckpt["finished"],
        stopped_early=ckpt["stopped_early"],
    )
