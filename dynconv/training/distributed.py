"""Several GPUs for one run: PyTorch's own DistributedDataParallel, started by ``torchrun``.

:func:`dynconv.training.loop.fit` (and so ``python -m dynconv.experiments.launch``) runs unchanged
under
``torchrun --nproc_per_node=N``: torchrun starts N processes and tells each its rank in the
environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``); this module reads it, and with
``WORLD_SIZE > 1``:

* :func:`setup` joins the process group once: backend ``nccl`` when the run's device is CUDA
  (each process on ``cuda:LOCAL_RANK``), ``gloo`` on CPUs (what the tests use);
* :func:`wrap` puts the model in :class:`~torch.nn.parallel.DistributedDataParallel`, which
  averages the gradients of the N processes at every step, so that the optimiser steps are
  the same everywhere;
* :func:`shard_train_loader` rebuilds the training loader over the same images with a
  :class:`~torch.utils.data.distributed.DistributedSampler` (shuffled with ``config.seed +
  epoch``: ``set_epoch`` every epoch) and ``config.batch_size // N`` images per process, so one
  step still sees ``batch_size`` images in all;
* :func:`shard_val_loader` gives each process every N-th validation image (``rank::N``, no
  padding, so no image counts twice) and :func:`all_reduce_sum` adds the loss sums, correct
  counts and image counts of all processes: every rank computes the same validation numbers,
  hence the same early-stopping decisions and best epoch;
* only rank 0 (:func:`is_main`) writes checkpoints, tests the model, measures its costs and
  writes the results record (:mod:`dynconv.experiments.runner`); the others wait at a barrier and
  read
  the record from disk.

Every rank seeds its random numbers with ``seed + epoch``, as a single process does: a channel
subset drawn per batch (v4, Part III's sampling) is the same on every rank, as it would be for
one batch on one GPU. Batch normalisation normalises each process's share of the batch (no
SyncBatchNorm), the usual DistributedDataParallel practice. The numbers are not bit for bit
those of one process (the images of a step are split differently, sums are added in another
order); :meth:`dynconv.config.TrainConfig.resolved` and the record's ``hardware["runtime"]``
say how many processes trained a run.

Not from the original study, which trained on one GPU.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler

from dynconv.config import TrainConfig, resolve_device
from dynconv.data.datasets import make_loader
from dynconv.errors import ConfigError

__all__ = [
    "DistEnv", "all_reduce_sum", "barrier", "broadcast_object", "cleanup", "environment",
    "is_main", "setup", "shard_train_loader", "shard_val_loader", "wrap",
]

# How long a rank waits in a collective (a barrier, a broadcast) before failing: rank 0 alone
# tests the model and measures its costs, or waits for another job's lock on the same run,
# while the others wait (torch's defaults are 10 minutes for nccl, 30 for gloo).
TIMEOUT = timedelta(hours=1)


@dataclass(frozen=True)
class DistEnv:
    """Where this process stands in a torchrun job."""

    # 0 .. world_size - 1 over the whole job; rank 0 writes files.
    rank: int
    # Index of this process on its machine: its GPU is cuda:local_rank.
    local_rank: int
    # Number of processes.
    world_size: int

    @property
    def is_main(self) -> bool:
        """True for rank 0."""
        return self.rank == 0


def environment() -> DistEnv | None:
    """The torchrun job this process belongs to, from ``os.environ``; None outside one (or
    with ``WORLD_SIZE=1``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    return DistEnv(rank=int(os.environ.get("RANK", "0")),
                   local_rank=int(os.environ.get("LOCAL_RANK", "0")), world_size=world)


def setup(device: str | torch.device = "auto") -> tuple[DistEnv | None, torch.device]:
    """Join the torchrun job's process group (once) and return it with this rank's device.

    Outside torchrun: ``(None, resolve_device(device))`` and nothing else happens. Inside: a
    CUDA device becomes ``cuda:LOCAL_RANK`` (whatever index it named) and is made current; the
    backend is ``nccl`` for CUDA and ``gloo`` otherwise. A process group someone else created
    is used as it is, unless it is ``nccl`` for a CPU run (ConfigError).
    """
    env = environment()
    dev = resolve_device(device)
    if env is None:
        return None, dev
    if not dist.is_available():
        raise ConfigError("WORLD_SIZE > 1 (torchrun) but this PyTorch has no torch.distributed")
    if dev.type == "cuda":
        dev = torch.device("cuda", env.local_rank)
        torch.cuda.set_device(dev)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo",
                                timeout=TIMEOUT)
    elif dist.get_backend() == "nccl" and dev.type != "cuda":
        raise ConfigError(f"the process group uses nccl, which needs CUDA, but the run's "
                          f"device is {dev}; use device='cuda' or a gloo process group")
    return env, dev


def is_main() -> bool:
    """True outside torchrun, and on rank 0 inside it."""
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def _comm_device() -> torch.device:
    """Where tensors for the process group's collectives live (nccl: this rank's GPU)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def barrier() -> None:
    """Wait until every rank gets here (nothing outside a process group)."""
    if dist.is_available() and dist.is_initialized():
        if dist.get_backend() == "nccl":
            dist.barrier(device_ids=[torch.cuda.current_device()])
        else:
            dist.barrier()


def broadcast_object(obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (any picklable value; ``obj`` itself outside a group)."""
    if not (dist.is_available() and dist.is_initialized()):
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0, device=_comm_device())
    return box[0]


def all_reduce_sum(values: torch.Tensor) -> torch.Tensor:
    """The element-wise sum of ``values`` over every rank (``values`` itself outside a group).

    Used for sums and counts (float64: exact for counts below 2**53), never for means.
    """
    if not (dist.is_available() and dist.is_initialized()):
        return values
    summed = values.detach().to(_comm_device(), copy=True)
    dist.all_reduce(summed, op=dist.ReduceOp.SUM)
    return summed.to(values.device)


def wrap(model: nn.Module, device: torch.device) -> nn.Module:
    """``model`` (already on ``device``) in DistributedDataParallel.

    ``find_unused_parameters=True``: v2's and v4's first layers leave the generators of the
    channel counts a batch lacks without a gradient, which DDP must be told to expect. For the
    other models it costs a walk over the autograd graph per step, and PyTorch warns once per
    process that it found no unused parameter.
    """
    return nn.parallel.DistributedDataParallel(
        model, device_ids=[device.index] if device.type == "cuda" else None,
        find_unused_parameters=True)


def _dataset_of(loader: Any, which: str) -> Any:
    if not isinstance(loader, DataLoader):
        raise ConfigError(f"under torchrun, fit needs the {which} loader as a DataLoader (e.g. "
                          f"dynconv.make_loader) to shard its dataset; got "
                          f"{type(loader).__name__}")
    return loader.dataset


def shard_train_loader(loader: Any, config: TrainConfig, env: DistEnv, *,
                       num_workers: int = 0, pin_memory: bool = False) -> DataLoader:
    """``loader``'s dataset, shuffled by a DistributedSampler, ``batch_size // world`` a rank.

    Call ``loader.sampler.set_epoch(epoch)`` at every epoch's start
    (:func:`dynconv.training.loop.fit` does). The sampler pads the last images of an epoch with
    repeats so that every rank takes the same number of steps, as DistributedDataParallel needs.
    """
    dataset = _dataset_of(loader, "training")
    if config.batch_size < env.world_size:
        raise ConfigError(f"batch_size {config.batch_size} cannot be shared by "
                          f"{env.world_size} processes; use at least {env.world_size}")
    per_rank = config.batch_size // env.world_size
    if per_rank * env.world_size != config.batch_size:
        warnings.warn(f"batch_size {config.batch_size} is not a multiple of {env.world_size} "
                      f"processes: each takes {per_rank}, {per_rank * env.world_size} a step",
                      stacklevel=2)
    sampler = DistributedSampler(dataset, num_replicas=env.world_size, rank=env.rank,
                                 shuffle=True, seed=config.seed, drop_last=False)
    return make_loader(dataset, batch_size=per_rank, shuffle=False, seed=config.seed,
                       sampler=sampler, num_workers=num_workers, pin_memory=pin_memory)


def shard_val_loader(loader: Any, env: DistEnv, *, pin_memory: bool = False) -> DataLoader:
    """``loader``'s dataset, images ``rank, rank + world, ...`` (each image on one rank only),
    in batches of ``loader.batch_size``."""
    dataset = _dataset_of(loader, "validation")
    indices = range(env.rank, len(dataset), env.world_size)
    return make_loader(dataset, batch_size=loader.batch_size or 1, shuffle=False,
                       sampler=indices, pin_memory=pin_memory)


def cleanup() -> None:
    """Leave the process group, if one was joined (the end of a torchrun script)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
