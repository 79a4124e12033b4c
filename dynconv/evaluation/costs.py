"""What a model costs: parameters, FLOPs (two counters), training memory and time.

Chapter: ``08_costs`` (and the cost tables of ``09_part2``).

Two FLOP counters, because they disagree in instructive ways:

* ``calflops_per_image``: calflops 0.3.2, the tool of the original study. It patches
  ``torch.nn.functional`` (conv, linear, norms, activations, pooling, softmax) and a few
  tensor methods, but its ``torch.mm``/``torch.bmm`` patches are commented out, ``x * y``
  is not counted, and ``scaled_dot_product_attention`` is not patched at all. So it
  misses v3's kernel mixing (an ``mm``) and ALL of Part II's attention.
* ``counted_flops_per_image``: ``torch.utils.flop_counter.FlopCounterMode``, which counts
  at the ATen level: convolutions, mm/addmm/bmm and attention kernels, nothing else
  (no BN, activations, pooling). PyTorch 2.14 does not register the CPU flash-attention
  op, so it is added here with PyTorch's own SDPA formula.

Part II's fused attention zero-pads q and k from C/8 to C features (see
``dynconv.models.blocks``), and ``FlopCounterMode`` counts the work as executed: 2*(HW)^2*C for
q.k instead of SAGAN's 2*(HW)^2*C/8. To count SAGAN's own cost, set ``fused = False`` on
the ``SelfAttention`` modules (the explicit path's two ``bmm`` are then counted).

Both report FLOPs PER IMAGE (2 FLOPs per multiply-accumulate). The original study
reported calflops' number for a whole batch of 64 (Part I) or 16 (Part II): divide those
by the batch size to compare. FLOPs of the grouped-conv trick scale with the batch, so
the batch size cancels out.

Memory: ``peak_training_memory_mb`` measures one training step (forward, backward, Adam
step). On CUDA: ``torch.cuda.max_memory_allocated``. On CPU: one step in a fresh
``spawn`` subprocess, peak resident memory (the kernel's high-water mark, or a 1 ms
``psutil`` sampler when the high-water mark was set earlier) minus the resident memory
just before the step. On both devices the number is the step's extra memory PLUS the
bytes of the weights, buffers and the batch, i.e. what the step needs in all; it excludes
the CUDA context and allocator caches that ``nvidia-smi`` (likely the original's source)
would include.
"""

from __future__ import annotations

import contextlib
import copy
import gc
import io
import multiprocessing as mp
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable, Hashable, Iterator, Mapping
from functools import partial
from typing import Any

import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode, sdpa_backward_flop_count, sdpa_flop_count

from dynconv.channels import RGB, ChannelSubset, apply_subset, model_input_mode, parse_channels
from dynconv.config import resolve_device
from dynconv.errors import ConfigError, check_int

__all__ = [
    "count_parameters",
    "example_input",
    "calflops_per_image",
    "counted_flops_per_image",
    "peak_training_memory_mb",
    "peak_step_memory_mb",
    "time_models",
    "interleaved_timings",
    "measure_costs",
]

ImageSize = int | tuple[int, int]


def _hw(image_size: ImageSize) -> tuple[int, int]:
    if isinstance(image_size, int):
        return image_size, image_size
    h, w = image_size
    return int(h), int(w)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (all of them, trainable or not)."""
    return sum(p.numel() for p in model.parameters())


def example_input(
    model: nn.Module,
    *,
    image_size: ImageSize,
    channels: ChannelSubset | str | None = RGB,
    batch_size: int = 1,
    device: str | torch.device = "cpu",
) -> tuple[Tensor, ChannelSubset]:
    """A random batch shaped for ``model``'s input mode, and the parsed subset.

    "drop" models get (B, len(channels), H, W); "zero" models get (B, 3, H, W) with the
    absent channels zero-filled. Uses its own seeded generator (global RNG untouched).
    """
    subset = RGB if channels is None else parse_channels(channels)
    h, w = _hw(image_size)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, 3, h, w, generator=gen)  # (B, 3, H, W)
    x = apply_subset(x, subset, model_input_mode(model))
    return x.to(device), subset


class _WithChannels(nn.Module):
    """Binds ``channels`` so a counter can call the model with one tensor argument."""

    def __init__(self, model: nn.Module, channels: ChannelSubset) -> None:
        super().__init__()
        self.model = model
        self.channels = channels

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x, self.channels)


def _model_device(model: nn.Module) -> torch.device:
    param = next(model.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


@contextlib.contextmanager
def _counting(model: nn.Module, image_size: ImageSize, channels: ChannelSubset | str | None,
              batch_size: int) -> Iterator[tuple[Tensor, ChannelSubset]]:
    """What both FLOP counters run in: an example batch on the model's device, eval mode and
    no gradients; the model's train/eval mode is restored afterwards, even after an error."""
    x, subset = example_input(model, image_size=image_size, channels=channels,
                              batch_size=batch_size, device=_model_device(model))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield x, subset
    finally:
        model.train(was_training)


def calflops_per_image(
    model: nn.Module, *, image_size: ImageSize, channels: ChannelSubset | str | None = RGB,
    batch_size: int = 1,
) -> dict[str, float]:
    """calflops' count for one forward pass in eval mode, divided by ``batch_size``.

    Returns ``dict(flops=, macs=, params=)``: FLOPs and MACs per image, and calflops'
    parameter count (trainable parameters only). Runs the same steps as
    ``calflops.calculate_flops(..., print_results=False, output_as_string=False)``, inside
    ``try/finally`` so a failing forward cannot leave torch's functions patched; prints
    nothing. The model's train/eval mode is restored afterwards.
    """
    from calflops.calculate_pipline import CalFlopsPipline  # slow import (transformers)

    with _counting(model, image_size, channels, batch_size) as (x, subset):
        wrapper = _WithChannels(model, subset)
        pipeline = CalFlopsPipline(model=wrapper, include_backPropagation=False,
                                   compute_bp_factor=2.0)
        pipeline.start_flops_calculate(ignore_list=None)
        try:
            wrapper(x)
            flops = pipeline.get_total_flops()
            macs = pipeline.get_total_macs()
            params = pipeline.get_total_params()
        finally:
            pipeline.end_flops_calculate()
    return {"flops": flops / batch_size, "macs": macs / batch_size, "params": int(params)}


def _cpu_flash_flops(query, key, value, *args, out_shape=None, **kwargs) -> int:
    """FLOPs of aten._scaled_dot_product_flash_attention_for_cpu (shapes (B, h, N, d))."""
    return sdpa_flop_count(query, key, value)


def _cpu_flash_backward_flops(grad_out, query, key, value, *args, out_shape=None, **kwargs) -> int:
    return sdpa_backward_flop_count(grad_out, query, key, value)


def _flop_counter() -> FlopCounterMode:
    aten = torch.ops.aten
    custom = {
        aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_flops,
        aten._scaled_dot_product_flash_attention_for_cpu_backward: _cpu_flash_backward_flops,
    }
    return FlopCounterMode(display=False, custom_mapping=custom)


def counted_flops_per_image(
    model: nn.Module, *, image_size: ImageSize, channels: ChannelSubset | str | None = RGB,
    batch_size: int = 1,
) -> dict[str, Any]:
    """FLOPs of one eval-mode forward pass per image, counted by ``FlopCounterMode``.

    Returns ``dict(flops=, by_op={op name: flops})`` (e.g. ``convolution``, ``mm``,
    ``addmm``, ``bmm``, ``_scaled_dot_product_flash_attention_for_cpu``), per image.
    Counts matrix products and attention, which calflops misses; counts no BN,
    activation or pooling FLOPs, which calflops includes.
    """
    counter = _flop_counter()
    with _counting(model, image_size, channels, batch_size) as (x, subset), counter:
        model(x, subset)
    by_op = {
        str(op).removeprefix("aten."): flops / batch_size
        for op, flops in counter.get_flop_counts()["Global"].items()
    }
    return {"flops": counter.get_total_flops() / batch_size, "by_op": by_op}


def _train_step(model: nn.Module, x: Tensor, subset: ChannelSubset, optimizer) -> None:
    """One training step: forward, cross-entropy (label 0), backward, optimizer step."""
    model.train()
    optimizer.zero_grad(set_to_none=True)
    logits = model(x, subset)  # (B, num_classes)
    target = torch.zeros(x.shape[0], dtype=torch.long, device=x.device)
    F.cross_entropy(logits, target).backward()
    optimizer.step()


def _adam(model: nn.Module) -> torch.optim.Optimizer:
    # Same optimizer as training (Adam, lr 1e-3, weight decay 1e-4): its two state
    # tensors per parameter are part of the training memory.
    return torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-4)


def _resident_bytes(model: nn.Module, x: Tensor) -> int:
    """Bytes of weights, buffers and the batch: held before the step, added back."""
    tensors = [*model.parameters(), *model.buffers(), x]
    return sum(t.numel() * t.element_size() for t in tensors)


def _cuda_peak_mb(
    model: nn.Module,
    image_size: ImageSize,
    batch_size: int,
    subset: ChannelSubset,
    device: torch.device,
) -> float:
    model = copy.deepcopy(model).to(device)
    x, _ = example_input(
        model, image_size=image_size, channels=subset, batch_size=batch_size, device=device
    )
    optimizer = _adam(model)
    torch.cuda.synchronize(device)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    _train_step(model, x, subset, optimizer)
    torch.cuda.synchronize(device)
    extra = torch.cuda.max_memory_allocated(device) - before
    return (extra + _resident_bytes(model, x)) / 2**20


def _max_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def _rss_step_peak(step: Callable[[], object]) -> int:
    """Bytes by which resident memory rose above its level before ``step()`` at its peak."""
    import psutil

    gc.collect()
    proc = psutil.Process()
    before = proc.memory_info().rss
    high_water_before = _max_rss_bytes()
    sampled = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            sampled[0] = max(sampled[0], proc.memory_info().rss)
            time.sleep(0.001)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        step()
    finally:
        done.set()
        thread.join()
    high_water_after = _max_rss_bytes()
    # The kernel's high-water mark is exact if the step raised it; otherwise an earlier
    # moment (loading the model) was higher and only the sampler can see the step's peak.
    peak = high_water_after if high_water_after > high_water_before else sampled[0]
    return peak - before


def _cpu_peak_worker(
    payload: bytes,
    image_size: ImageSize,
    batch_size: int,
    indices: tuple[int, ...],
    num_threads: int,
) -> float:
    """Runs in a fresh process: one training step, returns its peak in MiB (see module doc)."""
    torch.set_num_threads(num_threads)
    model = torch.load(io.BytesIO(payload), weights_only=False)
    subset = ChannelSubset(indices)
    x, _ = example_input(model, image_size=image_size, channels=subset, batch_size=batch_size)
    optimizer = _adam(model)
    extra = _rss_step_peak(partial(_train_step, model, x, subset, optimizer))
    return (extra + _resident_bytes(model, x)) / 2**20


# A step factory: called with its arguments in the measuring process, it builds the step
# and returns (step, bytes held before the step that belong to it: weights, inputs).
StepFactory = Callable[..., tuple[Callable[[], object], int]]


def _factory_worker(factory: StepFactory, args: tuple, num_threads: int) -> float:
    torch.set_num_threads(num_threads)
    step, resident = factory(*args)
    return (_rss_step_peak(step) + resident) / 2**20


def peak_step_memory_mb(factory: StepFactory, *args: Any,
                        device: str | torch.device = "cpu") -> float:
    """Peak memory (MiB) of the step that ``factory(*args)`` builds, plus what it holds.

    The general form of :func:`peak_training_memory_mb` (same method: a fresh ``spawn``
    process on CPU, ``max_memory_allocated`` on CUDA), for anything that is not a whole
    model, e.g. one attention block. ``factory`` must be importable (a module-level
    function) and take ``device`` as its last argument.
    """
    dev = resolve_device(device)
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
        step, resident = factory(*args, dev)
        torch.cuda.synchronize(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        before = torch.cuda.memory_allocated(dev)
        step()
        torch.cuda.synchronize(dev)
        return (torch.cuda.max_memory_allocated(dev) - before + resident) / 2**20
    if dev.type != "cpu":
        raise ConfigError(f"Memory can be measured on 'cpu' or 'cuda', not {dev.type!r}.")
    with mp.get_context("spawn").Pool(1) as pool:
        return pool.apply(_factory_worker,
                          (factory, (*args, dev), torch.get_num_threads()))


def peak_training_memory_mb(
    model: nn.Module,
    *,
    image_size: ImageSize,
    batch_size: int,
    channels: ChannelSubset | str | None = RGB,
    device: str | torch.device = "cpu",
) -> float:
    """Peak memory (MiB) of one training step (forward + backward + Adam step).

    Measured on a copy of the model (the model itself is not trained). CUDA:
    ``torch.cuda.max_memory_allocated``; CPU: a fresh ``spawn`` subprocess (see the module
    docstring), so the model's classes must be importable (not defined in a notebook).
    The result includes the weights, buffers and the batch, not Adam's state from earlier
    steps (there are none) nor the CUDA context.
    """
    subset = RGB if channels is None else parse_channels(channels)
    dev = resolve_device(device)
    if dev.type == "cuda":
        return _cuda_peak_mb(model, image_size, batch_size, subset, dev)
    if dev.type != "cpu":
        raise ConfigError(f"Memory can be measured on 'cpu' or 'cuda', not {dev.type!r}.")
    buffer = io.BytesIO()
    cpu_copy = copy.deepcopy(model).cpu()
    try:
        torch.save(cpu_copy, buffer)
    except (AttributeError, TypeError, RuntimeError) as exc:  # pickling failed
        raise ConfigError(
            "To measure CPU memory the model is sent to a fresh process, so its classes must "
            f"be importable (defined in a module, not in a notebook). Pickling failed: {exc}"
        ) from exc
    del cpu_copy
    ctx = mp.get_context("spawn")
    with ctx.Pool(1) as pool:
        return pool.apply(
            _cpu_peak_worker,
            (buffer.getvalue(), image_size, batch_size, subset.indices, torch.get_num_threads()),
        )


def _timed(fn: Callable[[], object], device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    fn()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def interleaved_timings(
    steps: Mapping[Hashable, Callable[[], object]], *, repeats: int, warmup: int,
    device: torch.device, group: int = 1,
) -> dict[Hashable, list[float]]:
    """Seconds of each step, all timed in one run, interleaved: every repetition runs every
    step once, starting one group of ``group`` consecutive steps later than the repetition
    before (a model's training and inference steps stay together with ``group=2``), so drift
    (thermal, other users of a shared machine) hits every step alike. The first ``warmup``
    repetitions are run and discarded; CUDA is synchronised around each step. The one timing
    loop of the book: :func:`time_models` and the benchmark (:mod:`dynconv.bench`) use it."""
    names = list(steps)
    if not names or len(names) % group:
        raise ConfigError(f"interleaved_timings needs a whole number of groups of {group} "
                          f"steps; got {len(names)}.")
    times: dict[Hashable, list[float]] = {name: [] for name in names}
    groups = len(names) // group
    for rep in range(warmup + repeats):
        start = (rep % groups) * group
        for name in names[start:] + names[:start]:
            seconds = _timed(steps[name], device)
            if rep >= warmup:
                times[name].append(seconds)
    return times


def _quartiles(values: list[float]) -> tuple[float, float]:
    """(first, third) quartile of repeated timings; the value itself for a single one."""
    if len(values) < 2:
        return values[0], values[0]
    q1, _, q3 = statistics.quantiles(values, n=4, method="inclusive")
    return q1, q3


def time_models(
    models: dict[str, nn.Module],
    *,
    image_size: ImageSize,
    batch_size: int,
    steps: int = 3,
    warmup: int = 1,
    device: str | torch.device = "cpu",
    baseline: str | None = "resnet18",
    channels: ChannelSubset | str | None = RGB,
) -> pd.DataFrame:
    """Median seconds per training step and per inference batch, side by side.

    Models are timed in the same run, interleaved: every repetition times each model once
    (one training step, then one no-grad eval forward), starting from a different model
    each time, so drift (thermal, other users of a shared machine) hits all models alike.
    Copies are trained, never the models passed in. The first ``warmup`` repetitions are
    discarded. Returns a DataFrame indexed by model name with columns ``train_step_s``,
    ``inference_s`` and, if ``baseline`` names one of the models, ``train_step_ratio`` and
    ``inference_ratio`` (time / baseline's time); the spread of the repeats is in
    ``train_step_q1_s``/``train_step_q3_s`` and ``inference_q1_s``/``inference_q3_s``
    (quartiles; the median's when there is one repeat).
    """
    if not models:
        raise ConfigError("time_models needs at least one model.")
    if baseline is not None and baseline not in models:
        raise ConfigError(
            f"Baseline {baseline!r} is not among the models ({', '.join(models)}); pass one "
            f"of them or baseline=None."
        )
    check_int("steps", steps)
    check_int("warmup", warmup, minimum=0)
    dev = resolve_device(device)
    prepared = {}
    for name, model in models.items():
        copy_ = copy.deepcopy(model).to(dev)
        x, subset = example_input(
            copy_, image_size=image_size, channels=channels, batch_size=batch_size, device=dev
        )
        prepared[name] = (copy_, x, subset, _adam(copy_))

    def infer(model: nn.Module, x: Tensor, subset: ChannelSubset) -> None:
        model.eval()
        with torch.no_grad():
            model(x, subset)

    names = list(models)
    steps_by_phase: dict[Hashable, Callable[[], object]] = {}
    for name in names:
        model, x, subset, optimizer = prepared[name]
        steps_by_phase[name, "train"] = partial(_train_step, model, x, subset, optimizer)
        steps_by_phase[name, "infer"] = partial(infer, model, x, subset)
    timed = interleaved_timings(steps_by_phase, repeats=steps, warmup=warmup, device=dev, group=2)
    train_s = {name: timed[name, "train"] for name in names}
    infer_s = {name: timed[name, "infer"] for name in names}
    table = pd.DataFrame(
        {
            "train_step_s": [statistics.median(train_s[n]) for n in names],
            "inference_s": [statistics.median(infer_s[n]) for n in names],
            "train_step_q1_s": [_quartiles(train_s[n])[0] for n in names],
            "train_step_q3_s": [_quartiles(train_s[n])[1] for n in names],
            "inference_q1_s": [_quartiles(infer_s[n])[0] for n in names],
            "inference_q3_s": [_quartiles(infer_s[n])[1] for n in names],
        },
        index=pd.Index(names, name="model"),
    )
    if baseline is not None:
        table["train_step_ratio"] = table["train_step_s"] / table.loc[baseline, "train_step_s"]
        table["inference_ratio"] = table["inference_s"] / table.loc[baseline, "inference_s"]
    table.attrs.update(
        device=str(dev), image_size=_hw(image_size), batch_size=batch_size, steps=steps
    )
    return table


def measure_costs(
    model: nn.Module, *, image_size: ImageSize, batch_size: int,
    channels: ChannelSubset | str | None = RGB, device: str | torch.device = "cpu",
) -> dict[str, Any]:
    """Every cost of ``model`` in one JSON-ready dict, for the results record.

    Keys: ``params``, ``calflops_flops_per_image``, ``calflops_macs_per_image``,
    ``counted_flops_per_image``, ``counted_flops_by_op``, ``peak_train_memory_mb``,
    ``memory_method``, and the settings ``image_size`` [H, W], ``batch_size``,
    ``channels``, ``device``. FLOPs are counted with batch 1 on the model's own device;
    memory with ``batch_size`` on ``device``.
    """
    subset = RGB if channels is None else parse_channels(channels)
    dev = resolve_device(device)
    calflops = calflops_per_image(model, image_size=image_size, channels=subset)
    counted = counted_flops_per_image(model, image_size=image_size, channels=subset)
    memory = peak_training_memory_mb(
        model, image_size=image_size, batch_size=batch_size, channels=subset, device=dev
    )
    return {
        "params": count_parameters(model),
        "calflops_flops_per_image": calflops["flops"],
        "calflops_macs_per_image": calflops["macs"],
        "counted_flops_per_image": counted["flops"],
        "counted_flops_by_op": counted["by_op"],
        "peak_train_memory_mb": memory,
        "memory_method": (
            "cuda_max_memory_allocated" if dev.type == "cuda" else "cpu_rss_spawn_subprocess"
        ),
        "image_size": list(_hw(image_size)),
        "batch_size": batch_size,
        "channels": subset.name,
        "device": str(dev),
    }
