"""One benchmark, one run: what every first layer, the attention and the loader cost, as ratios.

Chapter: ``08_costs``. Run it with ``python -m dynconv.bench.benchmark`` (``make bench``);
``--json PATH`` writes the rows.

Every number is measured in the same run as the number it is divided by, so drift of a shared
machine (other users, heat) cancels in the ratio; timings are medians of interleaved repeats
(:func:`dynconv.evaluation.costs.time_models`), with their quartiles as the spread. Rows, as
``name`` / ``metric`` against ``baseline`` (``ratio = value / baseline_value``):

* ``stem/<variant>`` against ``resnet18`` (the original study's 3x3/1 stem, same input, same
  batch): ``flops_calflops``, ``flops_counter`` (FLOPs per image, the two counters of
  :mod:`dynconv.evaluation.costs`), ``train_step_s``, ``infer_img_per_s``, ``peak_mem_mb``, for
  every first layer of the book: v1..v5, v4 + identity (``v4_identity``) and
  CHAMMI's four (Part III's networks without their training-time channel sampling, see
  ``_build``);
* ``loop/<variant>`` against ``stem/<variant>``: ``train_step_s`` of the same network with its
  stem's batching trick replaced by the plain computation it stands for
  (``reference_forward``: one convolution per image for v1-v3, per channel for v5 and
  Depthwise); a ratio above 1 is what the trick saves;
* ``attention/sdpa`` against ``attention/explicit``: one SAGAN ``SelfAttention`` block at Part
  II's k3s1 resolution (84 x 84 = 7,056 tokens, 64 channels, batch 16), forward and backward:
  ``train_step_s`` and ``peak_mem_mb`` (the explicit path builds the 3.2 GB matrix);
* ``loader`` against ``train``: ``img_per_s`` of the book's DataLoader over the built-in
  training split against ResNet18's training throughput at the same size and batch.

The study estimate (``study_estimate``) multiplies measured per-step times by the number of
steps of every Part I and Part II training of the ``full`` profile; ``full_epoch`` trains one
real epoch of ``full`` on generated data of the original size (a GPU's job).

Not from a paper; the method (interleaved repeats, medians, ratios in one run) is the usual
discipline of ``torch.utils.benchmark``, whose Timer is not used because a training step
changes the weights it times.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from dynconv.book.tables import COST_VARIANTS, cost_model
from dynconv.config import get_config, resolve_device
from dynconv.data.datasets import ImageSplit, load_dataset, make_loader
from dynconv.errors import ConfigError, check_int
from dynconv.evaluation.costs import (
    calflops_per_image,
    counted_flops_per_image,
    interleaved_timings,
    peak_step_memory_mb,
    peak_training_memory_mb,
    time_models,
)
from dynconv.experiments.keys import function_digest, is_numeric, module_closure
from dynconv.experiments.registry import PART1, PART2, SUBSET_TRAINED, get_experiment
from dynconv.experiments.runner import code_digest
from dynconv.fileio import atomic_write_json, file_lock, read_json
from dynconv.models.blocks import SelfAttention
from dynconv.paths import resolve_results_dir
from dynconv.provenance import config_fingerprint, hardware, to_jsonable
from dynconv.training.loop import fit

__all__ = [
    "BASELINE",
    "LOOP_VARIANTS",
    "STEM_VARIANTS",
    "BenchSettings",
    "TARGETS",
    "benchmark",
    "cached_benchmark",
    "settings_for",
    "ratio_summary",
    "study_step_times_of",
    "study_estimate_of",
    "study_sentence",
    "targets_sentence",
    "study_forward_flops",
    "ASSUMED_GPU_TFLOPS",
    "check_targets",
    "full_epoch",
    "main",
    "study_estimate",
]

BASELINE = "resnet18"
# Every first layer of the book, by dynconv.models.zoo name.
STEM_VARIANTS: tuple[str, ...] = ("v1", "v2", "v3", "v4", "v4_identity", "v5", "sliceparam",
                                  "templatemixing", "hypernet", "depthwise")
# Stems with a batching trick and the plain computation it replaces (``reference_forward``).
# v4 runs v2's kernels (its dropping has no plain twin), so v2 stands for it.
LOOP_VARIANTS: tuple[str, ...] = ("v1", "v2", "v3", "v5", "depthwise")
PARTS = ("stems", "loops", "attention", "loader")
ROW_KEYS = ("name", "metric", "value", "baseline", "baseline_value", "ratio")


@dataclass(frozen=True)
class BenchSettings:
    # Stems: the input every network gets (the study's Part I step at 32 px, batch 64).
    image_size: int = 32
    batch_size: int = 64
    # Timed repeats per network (medians and quartiles), after `warmup` untimed ones (on
    # this 2-core CPU one step's time scatters by about +-10%, so a median needs a few).
    repeats: int = 11
    warmup: int = 2
    # Part II's attention at the k3s1 resolution: 84 x 84 tokens, 64 channels, batch 16.
    attention_size: int = 84
    attention_channels: int = 64
    attention_batch: int = 16
    attention_repeats: int = 3
    # The study estimate's step times are measured at this size (the `full` profile's 84 px).
    study_image_size: int = 84
    # "auto" = CUDA when available, else CPU.
    device: str = "auto"
    # Which parts to run.
    parts: tuple[str, ...] = ("stems", "loops", "attention", "loader")

    def __post_init__(self) -> None:
        for name in ("image_size", "batch_size", "repeats", "attention_size", "study_image_size",
                     "attention_channels", "attention_batch", "attention_repeats"):
            check_int(name, getattr(self, name))
        check_int("warmup", self.warmup, minimum=0)
        unknown = set(self.parts) - set(PARTS)
        if unknown:
            raise ConfigError(f"unknown benchmark part(s) {sorted(unknown)}; "
                              f"valid: {', '.join(PARTS)}")

# The goals, as (name pattern, metric, comparison, bound); `check_targets` reads them.
TARGETS: tuple[tuple[str, str, str, float], ...] = (
    ("stem/", "flops_calflops", "<=", 1.05),
    ("stem/", "flops_counter", "<=", 1.05),
    ("stem/", "train_step_s", "<=", 1.05),
    ("attention/sdpa", "peak_mem_mb", "<=", 1 / 20),
    ("attention/sdpa", "train_step_s", "<=", 1 / 2),
    ("loader", "img_per_s", ">=", 5.0),
)


def _row(name: str, metric: str, value: float, baseline: str, baseline_value: float,
         **extra: Any) -> dict[str, Any]:
    return {"name": name, "metric": metric, "value": float(value), "baseline": baseline,
            "baseline_value": float(baseline_value),
            "ratio": float(value) / float(baseline_value), **extra}


def _spread(table: pd.DataFrame, name: str, column: str) -> str:
    return (f"{table.loc[name, column + '_q1_s']:.3g}-"
            f"{table.loc[name, column + '_q3_s']:.3g} s")


def _build(name: str) -> nn.Module:
    """A fresh model (seed 0, 50 classes) doing the work of its layers on a full image.

    Part III's networks are built without their training-time channel sampling
    (``tables.cost_model``): sampling splits a batch into up to 7 groups with fewer channels,
    a cost of the training recipe that the baseline does not pay, not of the first layer.
    """
    return cost_model(name, 50)


def _flop_rows(models: dict[str, nn.Module], size: int) -> list[dict[str, Any]]:
    rows = []
    base_cal = calflops_per_image(models[BASELINE], image_size=size)["flops"]
    base_cnt = counted_flops_per_image(models[BASELINE], image_size=size)["flops"]
    for name, model in models.items():
        if name == BASELINE:
            continue
        cal = calflops_per_image(model, image_size=size)["flops"]
        cnt = counted_flops_per_image(model, image_size=size)["flops"]
        rows.append(_row(f"stem/{name}", "flops_calflops", cal, BASELINE, base_cal))
        rows.append(_row(f"stem/{name}", "flops_counter", cnt, BASELINE, base_cnt))
    return rows


def _stem_rows(settings: BenchSettings, device: torch.device,
               progress: Callable[[str], None]) -> tuple[list[dict[str, Any]], pd.DataFrame]:
    names = (BASELINE, *STEM_VARIANTS)
    models = {name: _build(name) for name in names}
    progress(f"FLOPs of {len(names)} networks")
    rows = _flop_rows(models, settings.image_size)
    progress(f"training and inference time of {len(names)} networks, "
             f"{settings.repeats} interleaved repeats")
    timing = time_models(models, image_size=settings.image_size,
                         batch_size=settings.batch_size, steps=settings.repeats,
                         warmup=settings.warmup, device=device, baseline=BASELINE)
    progress(f"peak training memory of {len(names)} networks")
    memory = {name: peak_training_memory_mb(model, image_size=settings.image_size,
                                            batch_size=settings.batch_size, device=device)
              for name, model in models.items()}
    per_s = settings.batch_size / timing["inference_s"]
    for name in STEM_VARIANTS:
        stem = f"stem/{name}"
        rows.append(_row(stem, "train_step_s", timing.loc[name, "train_step_s"], BASELINE,
                         timing.loc[BASELINE, "train_step_s"],
                         spread=_spread(timing, name, "train_step")))
        rows.append(_row(stem, "infer_img_per_s", per_s[name], BASELINE, per_s[BASELINE]))
        rows.append(_row(stem, "peak_mem_mb", memory[name], BASELINE, memory[BASELINE]))
    return rows, timing


class _PlainStem(nn.Module):
    """A stem whose forward is its ``reference_forward``: the trick switched off."""

    def __init__(self, stem: nn.Module) -> None:
        super().__init__()
        self.stem = stem

    def forward(self, x: Tensor, channels: Any = None) -> Tensor:
        return self.stem.reference_forward(x, channels)


def _loop_rows(settings: BenchSettings, device: torch.device) -> list[dict[str, Any]]:
    models: dict[str, nn.Module] = {}
    for name in LOOP_VARIANTS:
        models[f"stem/{name}"] = _build(name)
        plain = _build(name)
        plain.conv1 = _PlainStem(plain.conv1)
        models[f"loop/{name}"] = plain
    timing = time_models(models, image_size=settings.image_size,
                         batch_size=settings.batch_size, steps=settings.repeats,
                         warmup=1, device=device, baseline=None)
    return [_row(f"loop/{name}", "train_step_s", timing.loc[f"loop/{name}", "train_step_s"],
                 f"stem/{name}", timing.loc[f"stem/{name}", "train_step_s"],
                 spread=_spread(timing, f"loop/{name}", "train_step"))
            for name in LOOP_VARIANTS]


def attention_step(fused: bool, channels: int, size: int, batch: int,
                   device: torch.device) -> tuple[Callable[[], None], int]:
    """One SelfAttention forward + backward, and the bytes it holds before the step.

    A step factory for :func:`dynconv.evaluation.costs.peak_step_memory_mb`. The block gets its
    input and the gradient of its output from outside (as inside a network: ``grad_out`` stands for
    what the layers after it send back); both, and the weights, are the resident bytes. gamma is set
    to 0.5 so the attention itself (not only the residual) is differentiated.
    """
    torch.manual_seed(0)
    block = SelfAttention(channels, fused=fused).to(device)
    with torch.no_grad():
        block.gamma.fill_(0.5)
    x = torch.randn(batch, channels, size, size, device=device, requires_grad=True)
    grad_out = torch.randn_like(x)

    def step() -> None:
        block.zero_grad(set_to_none=True)
        x.grad = None
        block(x).backward(grad_out)

    resident = sum(t.numel() * t.element_size() for t in [*block.parameters(), x, grad_out])
    return step, resident


def _attention_rows(settings: BenchSettings, device: torch.device) -> list[dict[str, Any]]:
    shape = (settings.attention_channels, settings.attention_size, settings.attention_batch)
    memory = {path: peak_step_memory_mb(attention_step, path == "sdpa", *shape, device=device)
              for path in ("sdpa", "explicit")}
    steps = {path: attention_step(path == "sdpa", *shape, device)[0]
             for path in ("sdpa", "explicit")}
    times = interleaved_timings(steps, repeats=settings.attention_repeats, warmup=1,
                                device=device)
    median = {path: statistics.median(t) for path, t in times.items()}
    spread = {path: f"{min(t):.3g}-{max(t):.3g} s" for path, t in times.items()}
    return [
        _row("attention/sdpa", "train_step_s", median["sdpa"], "attention/explicit",
             median["explicit"], spread=spread["sdpa"]),
        _row("attention/sdpa", "peak_mem_mb", memory["sdpa"], "attention/explicit",
             memory["explicit"]),
    ]


def _loader_rows(settings: BenchSettings, timing: pd.DataFrame | None,
                 device: torch.device) -> list[dict[str, Any]]:

    train = load_dataset(None, image_size=settings.image_size, progress=False).train
    loader = make_loader(train, batch_size=settings.batch_size, shuffle=True, seed=0)
    rates = []
    for _ in range(3):  # whole epochs; the median
        start, seen = time.perf_counter(), 0
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            seen += y.numel()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        rates.append(seen / (time.perf_counter() - start))
    if timing is None:  # the stems part did not run: time ResNet18 alone
        timing = time_models({BASELINE: _build(BASELINE)}, image_size=settings.image_size,
                             batch_size=settings.batch_size, steps=settings.repeats,
                             warmup=settings.warmup, device=device)
    train_rate = settings.batch_size / timing.loc[BASELINE, "train_step_s"]
    return [_row("loader", "img_per_s", statistics.median(rates), "train", train_rate,
                 spread=f"{min(rates):.0f}-{max(rates):.0f} img/s")]


def benchmark(settings: BenchSettings | None = None, *, progress: bool = True
              ) -> pd.DataFrame:
    """Run the benchmark; one row per (name, metric), with ``ROW_KEYS`` and ``spread``.

    ``attrs`` hold the settings, the device, the hardware and the wall time.
    """
    settings = settings or BenchSettings()
    device = resolve_device(settings.device)
    say = (lambda text: print(f"[bench] {text}", file=sys.stderr, flush=True)) if progress \
        else (lambda text: None)
    start = time.perf_counter()
    rows: list[dict[str, Any]] = []
    timing = None
    if "stems" in settings.parts:
        stem_rows, timing = _stem_rows(settings, device, say)
        rows += stem_rows
    if "loops" in settings.parts:
        say(f"tricks against their plain loops: {', '.join(LOOP_VARIANTS)}")
        rows += _loop_rows(settings, device)
    if "attention" in settings.parts:
        say(f"attention at {settings.attention_size}x{settings.attention_size} tokens, "
            f"batch {settings.attention_batch}: fused and explicit (the explicit one needs "
            f"about {_explicit_gb(settings):.0f} GB)")
        rows += _attention_rows(settings, device)
    if "loader" in settings.parts:
        say("data loader against training throughput")
        rows += _loader_rows(settings, timing, device)
    table = pd.DataFrame(rows)
    if "spread" not in table:
        table["spread"] = ""
    table["spread"] = table["spread"].fillna("")
    table.attrs.update(settings=asdict(settings), device=str(device), hardware=hardware(),
                       wall_time_s=time.perf_counter() - start,
                       torch=torch.__version__, threads=torch.get_num_threads())
    return table


def _explicit_gb(settings: BenchSettings) -> float:
    tokens = settings.attention_size ** 2
    return 3 * settings.attention_batch * tokens**2 * 4 / 1e9  # scores, softmax, its grad


def check_targets(table: pd.DataFrame) -> pd.DataFrame:
    """Every row a target applies to, with the bound and whether it is met."""
    out = []
    for prefix, metric, op, bound in TARGETS:
        hits = table[table["name"].str.startswith(prefix) & (table["metric"] == metric)]
        for row in hits.itertuples():
            met = row.ratio <= bound if op == "<=" else row.ratio >= bound
            out.append({"name": row.name, "metric": metric, "ratio": row.ratio,
                        "target": f"{op} {bound:.3g}", "met": bool(met)})
    return pd.DataFrame(out, columns=["name", "metric", "ratio", "target", "met"])


def targets_sentence(targets: pd.DataFrame, device: str) -> str:
    """How many targets this run met, and each one missed with its measured ratio."""
    met = int(targets["met"].sum())
    text = f"Measured on {device} in this run: **{met} of {len(targets)} targets met**."
    missed = targets[~targets["met"]]
    if len(missed):
        text += " Missed: " + "; ".join(
            f"`{row.name}` {row.metric} at {row.ratio:.3f} (target {row.target})"
            for row in missed.itertuples()) + "."
    return text


def to_json_rows(table: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows as ``--json`` writes them: exactly ``ROW_KEYS``."""
    return [{key: row[key] for key in ROW_KEYS} for row in table.to_dict(orient="records")]


# ----------------------------------------------------------------------- the full study

# The original mini-ImageNet's training images (the seed's list files: 63,325) and Part I/II
# batch sizes of the `full` profile; the epochs are the profile's upper bound (early stopping
# usually ends sooner, so the estimate is an upper bound).
ORIGINAL_TRAIN_IMAGES = 63_325


def study_trainings(profile: str = "full") -> list[tuple[str, str, int]]:
    """(experiment, model, batch size) of every Part I and Part II training of the book."""

    names = dict.fromkeys((*PART1, *SUBSET_TRAINED.values(), *PART2))
    out = []
    for name in names:
        spec = get_experiment(name)
        config = spec.config(profile)
        out += [(name, spec.model, config.batch_size)] * len(spec.seeds(profile))
    return out


# What a GPU is ASSUMED to sustain when no GPU measured it: 200 TFLOP/s, about a fifth of an
# H100's dense bf16 peak (989 TFLOP/s), a usual share for small convolutions at 84 px.
ASSUMED_GPU_TFLOPS = 200.0
# Training costs about three forward passes (forward, and a backward twice its size).
TRAINING_FLOPS_PER_FORWARD = 3


def _family(model: str) -> str:
    """The architecture whose step time a model is charged: Part II's own, else ResNet18's."""

    return model if model in {get_experiment(n).model for n in PART2} else BASELINE


def study_estimate(step_s: dict[tuple[str, int], float],
                   forward_flops: dict[str, float] | None = None, *, epochs: int = 50,
                   train_images: int = ORIGINAL_TRAIN_IMAGES) -> pd.DataFrame:
    """Every Part I and II training of ``full``: steps, hours at measured step times, FLOPs.

    ``step_s`` maps (model, batch size) to a measured training-step time; a ResNet18 variant
    is charged ResNet18's figure (the benchmark shows their first layers within a few percent
    of ResNet18's step). ``forward_flops`` (per image, :func:`study_forward_flops`) adds the
    training FLOPs (3 x forward) and the hours at ``ASSUMED_GPU_TFLOPS``. Epochs are the
    profile's upper bound (early stopping ends most runs sooner); validation (450 images an
    epoch) and data loading are left out. Returns one row per training.
    """
    rows = []
    for experiment, model, batch in study_trainings():
        key = (model, batch) if (model, batch) in step_s else (_family(model), batch)
        if key not in step_s:
            raise ConfigError(f"no measured step time for {model} at batch {batch}")
        steps = epochs * math.ceil(train_images / batch)
        row = {"experiment": experiment, "model": model, "batch_size": batch,
               "step_s": step_s[key], "measured_as": key[0], "steps": steps,
               "hours": steps * step_s[key] / 3600}
        if forward_flops is not None:
            tflop = (TRAINING_FLOPS_PER_FORWARD * forward_flops[_family(model)]
                     * epochs * train_images / 1e12)
            row.update(train_tflop=tflop, assumed_gpu_hours=tflop / ASSUMED_GPU_TFLOPS / 3600)
        rows.append(row)
    return pd.DataFrame(rows)


def study_forward_flops(image_size: int = 84) -> dict[str, float]:
    """Counted FLOPs of one forward pass per image for each architecture of the study."""
    families = dict.fromkeys(_family(model) for _, model, _ in study_trainings())
    return {name: counted_flops_per_image(_build(name), image_size=image_size)["flops"]
            for name in families}


def study_step_times(*, device: str | torch.device = "auto", image_size: int = 84,
                     repeats: int = 2) -> dict[tuple[str, int], float]:
    """Measured training-step seconds at the ``full`` setting for the study's architectures."""
    dev = resolve_device(device)
    groups: dict[int, dict[str, None]] = {}  # batch size -> architectures (ordered set)
    for _, model, batch in study_trainings():
        groups.setdefault(batch, {})[_family(model)] = None
    out = {}
    for batch, names in groups.items():
        table = time_models({n: _build(n) for n in names}, image_size=image_size,
                            batch_size=batch, steps=repeats, warmup=1, device=dev,
                            baseline=None)
        out.update({(n, batch): float(table.loc[n, "train_step_s"]) for n in names})
    return out


def full_epoch(model: str = BASELINE, *, device: str | torch.device = "auto",
               max_steps: int | None = None, train_images: int = ORIGINAL_TRAIN_IMAGES,
               progress: bool = True) -> dict[str, Any]:
    """One epoch of the ``full`` profile on generated data of the original size, through fit.

    Random uint8 images (``train_images`` x 3 x 84 x 84, 1.3 GB for the original's 63,325)
    stand in for mini-ImageNet: the time of an epoch does not depend on what the pixels show.
    Everything ``fit`` does on that device runs (bf16 autocast, channels-last and loader
    workers where the profile turns them on). ``max_steps`` stops early (a CPU cannot train
    a whole epoch in reasonable time); the epoch time is then extrapolated and says so.
    """

    dev = resolve_device(device)
    config = get_config("full", device=str(dev), max_epochs=1,
                        max_steps_per_epoch=max_steps)
    gen = torch.Generator().manual_seed(0)
    size = config.image_size
    train = ImageSplit(torch.randint(0, 256, (train_images, 3, size, size), dtype=torch.uint8,
                                     generator=gen),
                       torch.randint(0, 50, (train_images,), generator=gen), name="train")
    val = ImageSplit(train.images[:450], train.labels[:450], name="val")
    net = _build(model)
    result = fit(net, make_loader(train, batch_size=config.batch_size, shuffle=True),
                 make_loader(val, batch_size=config.batch_size, shuffle=False), config,
                 progress=progress, desc=f"one full epoch of {model}")
    steps_run = max_steps or math.ceil(train_images / config.batch_size)
    seconds = float(result.history["seconds"].iloc[0])
    steps_per_epoch = math.ceil(train_images / config.batch_size)
    return {"model": model, "device": str(dev), "steps_run": steps_run,
            "steps_per_epoch": steps_per_epoch, "seconds": seconds,
            "epoch_s": seconds * steps_per_epoch / steps_run,
            "extrapolated": steps_run < steps_per_epoch}


# ----------------------------------------------------------------------------- stored results


def _cache_key(settings: BenchSettings, study: bool) -> str:
    """What the numbers depend on: the settings, the code of this module and of everything it
    times (every model, the training path), the kind of device and torch's version.

    The machine itself is not part of it: the result ships with the book, measured once, and
    the chapter says on which CPU or GPU (``attrs["hardware"]``). A GPU is another device.
    """
    device = resolve_device(settings.device)
    kind = torch.cuda.get_device_name(device) if device.type == "cuda" else device.type
    # This module counts although it is not numeric (keys.is_numeric), and so does what it
    # imports that is: the models, the data, the training loop, the cost counters. The
    # presentation module it borrows one builder from counts by that function only.
    modules = code_digest(module_closure(
        ["dynconv.bench.benchmark", "dynconv.models.zoo"], stop=["dynconv.book.tables"],
        counts=lambda m: m == "dynconv.bench.benchmark" or is_numeric(m)))["modules"]
    code = config_fingerprint({**modules, "tables.cost_model": function_digest(cost_model),
                               "tables.COST_VARIANTS": repr(COST_VARIANTS)}, length=16)
    return config_fingerprint({"settings": asdict(settings), "study": study, "code": code,
                               "device": kind, "torch": torch.__version__}, length=12)


# The `smoke` profile checks that the chapter runs: tiny sizes, numbers that mean nothing.
SMOKE_SETTINGS = BenchSettings(image_size=16, batch_size=4, repeats=1, warmup=0,
                               attention_size=8, attention_batch=2, attention_repeats=1,
                               study_image_size=16)


def settings_for(profile: str) -> BenchSettings:
    """The benchmark a chapter runs under ``profile``: the default one, tiny for ``smoke``."""
    return SMOKE_SETTINGS if profile == "smoke" else BenchSettings()


def cached_benchmark(settings: BenchSettings | None = None, *, study: bool = True,
                     results_dir: str | Path | None = None, force: bool = False,
                     progress: bool = True) -> pd.DataFrame:
    """:func:`benchmark` (plus the study's step times), or its stored result.

    Stored in ``<results>/bench/bench-<key>.json``; the key hashes the settings, the code it
    times and its own, the kind of device and the torch version (:func:`_cache_key`): the
    book ships the result measured once, and says where. On a
    GPU one real epoch of ``full`` (:func:`full_epoch`) is added. ``attrs["origin"]`` says
    whether it was measured now or loaded, and when it was measured.
    """
    settings = settings or BenchSettings()
    path = resolve_results_dir(results_dir) / "bench" / f"bench-{_cache_key(settings, study)}.json"
    # Chapters 08 and 09 both ask for it, and `make smoke` executes them at the same time: the
    # second waits for the first one's measurement and loads it instead of measuring it again.
    with file_lock(path.with_suffix(".lock"), waiting="another process is measuring the "
                                                      "benchmark"):
        if path.is_file() and not force:
            return _load_benchmark(path)
        return _measure_benchmark(settings, study=study, path=path, progress=progress)


def _load_benchmark(path: Path) -> pd.DataFrame:
    stored = read_json(path)
    table = pd.DataFrame(stored["rows"], columns=[*ROW_KEYS, "spread"])
    created = stored["attrs"]["created"]
    table.attrs.update(stored["attrs"], origin=f"loaded (measured {created})")
    return table


def _measure_benchmark(settings: BenchSettings, *, study: bool, path: Path,
                       progress: bool) -> pd.DataFrame:
    table = benchmark(settings, progress=progress)
    device = resolve_device(settings.device)
    if study:
        steps = study_step_times(device=device, image_size=settings.study_image_size)
        table.attrs["study_step_s"] = [[m, b, s] for (m, b), s in steps.items()]
        table.attrs["study_forward_flops"] = study_forward_flops(settings.study_image_size)
        if device.type == "cuda":
            table.attrs["full_epoch"] = full_epoch(device=device, progress=progress)
    table.attrs["created"] = datetime.now(UTC).isoformat(timespec="seconds")
    atomic_write_json(path, {"rows": to_jsonable(table.to_dict(orient="records")),
                             "attrs": to_jsonable(dict(table.attrs))})
    table.attrs["origin"] = "measured now"
    return table


def ratio_summary(table: pd.DataFrame) -> pd.DataFrame:
    """The stems' ratios to ResNet18 as one row per first layer, one column per metric."""
    stems = table[table["name"].str.startswith("stem/")]
    wide = stems.pivot(index="name", columns="metric", values="ratio")
    wide.index = wide.index.str.removeprefix("stem/")
    order = [m for m in ("flops_calflops", "flops_counter", "train_step_s", "infer_img_per_s",
                         "peak_mem_mb") if m in wide]
    return wide.loc[[v for v in STEM_VARIANTS if v in wide.index], order]


def study_estimate_of(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`study_estimate` from what :func:`cached_benchmark` stored."""
    flops = table.attrs.get("study_forward_flops")
    return study_estimate(study_step_times_of(table), flops)


def study_sentence(estimate: pd.DataFrame, table: pd.DataFrame) -> str:
    """The study's time in words: measured here, measured on a GPU, or estimated, and which."""
    attrs = table.attrs
    hours = estimate["hours"].sum()
    text = (f"**{len(estimate)} trainings** (Part I and II of `full`, seeds included), at most "
            f"50 epochs each: **{hours:,.0f} hours ({hours / 24:.1f} days) on "
            f"{attrs['device']}** ({attrs['hardware'].get('cpu', '?')}, {attrs['threads']} "
            f"threads), an estimate from the step times measured in this run.")
    epoch = attrs.get("full_epoch")
    if epoch:
        per_epoch = epoch["epoch_s"] * len(estimate)
        text += (f" On {attrs['hardware'].get('gpu')}: one epoch of `full` ({epoch['model']}, "
                 f"generated data of the original size, everything `fit` does) took "
                 f"{epoch['epoch_s']:.0f} s, measured; {len(estimate)} trainings of 50 such "
                 f"epochs would take {50 * per_epoch / 3600:.1f} hours (an estimate: the "
                 f"Part II networks and batch 16 differ).")
    else:
        gpu = estimate["assumed_gpu_hours"].sum()
        text += (f" **No GPU was available to this build**, so no GPU time is measured here. "
                 f"At an ASSUMED sustained {ASSUMED_GPU_TFLOPS:.0f} TFLOP/s (about a fifth of "
                 f"an H100's dense bf16 peak), the {estimate['train_tflop'].sum() / 1e3:,.0f} "
                 f"PFLOP of training counted here would take **{gpu:.1f} hours**: an estimate "
                 f"from counted FLOPs, not a measurement. On a GPU, "
                 f"`python -m dynconv.bench.benchmark --study --full-epoch` measures it.")
    return text


def study_step_times_of(table: pd.DataFrame) -> dict[tuple[str, int], float]:
    """The study's per-step seconds stored by :func:`cached_benchmark`."""
    return {(m, int(b)): float(s) for m, b, s in table.attrs.get("study_step_s", [])}


# ----------------------------------------------------------------------------- command line


def _print(table: pd.DataFrame, file: Any = None) -> None:
    file = file or sys.stdout
    shown = table.copy()
    shown["value"] = shown["value"].map(lambda v: f"{v:.4g}")
    shown["baseline_value"] = shown["baseline_value"].map(lambda v: f"{v:.4g}")
    shown["ratio"] = shown["ratio"].map(lambda v: f"{v:.3f}")
    print(shown.to_string(index=False), file=file)
    targets = check_targets(table)
    met = int(targets["met"].sum())
    print(f"\nTargets: {met} of {len(targets)} met", file=file)
    for row in targets[~targets["met"]].itertuples():
        print(f"  MISSED {row.name} {row.metric}: ratio {row.ratio:.3f}, target {row.target}",
              file=file)
    attrs = table.attrs
    print(f"\nMeasured on {attrs['device']} ({attrs['hardware'].get('cpu', '?')}, "
          f"{attrs['threads']} threads), torch {attrs['torch']}, in "
          f"{attrs['wall_time_s']:.0f} s.", file=file)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dynconv.bench.benchmark",
        description="Measure every first layer, the attention and the loader, as ratios "
                    "measured side by side in one run.")
    parser.add_argument("--json", type=Path, help="write the rows to this JSON file")
    parser.add_argument("--device", default="auto", help="auto (default), cpu, cuda, cuda:1")
    parser.add_argument("--image-size", type=int, default=BenchSettings.image_size)
    parser.add_argument("--batch-size", type=int, default=BenchSettings.batch_size)
    parser.add_argument("--repeats", type=int, default=BenchSettings.repeats)
    parser.add_argument("--attention-size", type=int, default=BenchSettings.attention_size,
                        help="side of the attention's token grid (84: 7,056 tokens)")
    parser.add_argument("--attention-batch", type=int, default=BenchSettings.attention_batch)
    parser.add_argument("--parts", default=",".join(PARTS),
                        help=f"comma-separated subset of {','.join(PARTS)}")
    parser.add_argument("--study", action="store_true",
                        help="also estimate the full study's hours from measured step times "
                             "(about a minute more on a CPU)")
    parser.add_argument("--full-epoch", action="store_true",
                        help="also train one real epoch of the full profile on generated data "
                             "of the original size (on a CPU: 3 steps, extrapolated)")
    args = parser.parse_args(argv)
    try:
        settings = BenchSettings(image_size=args.image_size, batch_size=args.batch_size,
                                 repeats=args.repeats, device=args.device,
                                 attention_size=args.attention_size,
                                 attention_batch=args.attention_batch,
                                 parts=tuple(p for p in args.parts.split(",") if p))
        table = benchmark(settings)
    except ConfigError as err:
        parser.error(str(err))
    _print(table)
    if args.study:
        estimate = study_estimate(study_step_times(device=settings.device),
                                  study_forward_flops(settings.study_image_size))
        print(f"\nThe full study (Part I and II, {len(estimate)} trainings, at most 50 epochs "
              f"each), an ESTIMATE (data loading and validation not included):\n"
              f"  {estimate['hours'].sum():.1f} hours on {table.attrs['device']}, from step "
              f"times measured now;\n  {estimate['assumed_gpu_hours'].sum():.2f} hours on a GPU "
              f"that sustains an ASSUMED {ASSUMED_GPU_TFLOPS:.0f} TFLOP/s, from counted FLOPs "
              f"({estimate['train_tflop'].sum():,.0f} TFLOP)")
    if args.full_epoch:
        device = resolve_device(settings.device)
        # a CPU cannot train a whole 84 px epoch in reasonable time: 3 steps, extrapolated
        epoch = full_epoch(device=device, max_steps=None if device.type == "cuda" else 3)
        how = (f"extrapolated from {epoch['steps_run']} steps" if epoch["extrapolated"]
               else "measured")
        print(f"\nOne epoch of full ({epoch['model']}, {epoch['steps_per_epoch']} steps) on "
              f"{epoch['device']}: {epoch['epoch_s']:.0f} s ({how})")
    if args.json is not None:
        atomic_write_json(args.json, to_json_rows(table))
        print(f"\nWrote {len(table)} rows to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
