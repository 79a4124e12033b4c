"""Self-describing results: atomic JSON records with hardware, versions and a config fingerprint.

A results record answers "which code, on which machine, with which settings and data, gave
this number?" without the notebook that produced it, like nanoGPT's checkpoints (model
arguments, step, best loss, config) and torchvision's weight metadata (parameters, GFLOPs,
metrics, recipe). Records are JSON files under ``results/<profile>/`` (see
:func:`default_results_dir`); the book's chapters read them instead of training again.

How this differs from the original study: the original reported numbers in a document, with
no record of hardware, versions or settings beside them (its memory figures, for instance,
cannot be traced to any code); here every number lives in a record that carries them.

Explained in chapter ``07_ablation``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import math
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from dynconv.channels import ChannelSubset
from dynconv.fileio import atomic_write_json, read_json
from dynconv.paths import default_results_dir, resolve_results_dir

# The results folder is resolved in dynconv.paths (upwards from the working directory to the
# book's root); re-exported here because results are what it is for.
__all__ = [
    "config_fingerprint", "default_results_dir", "hardware", "hardware_label", "read_json",
    "resolve_results_dir", "to_jsonable", "versions", "write_json",
]


def to_jsonable(obj: Any) -> Any:
    """Convert ``obj`` to plain JSON types (dict with str keys, list, str, int, float, None).

    numpy/torch scalars and arrays become numbers and lists, tuples become lists, paths and
    devices strings, channel subsets their names, dataclasses dicts; NaN and infinities
    become None (JSON has no NaN).
    """
    if obj is None or isinstance(obj, bool | str):
        return obj
    if isinstance(obj, int):
        return int(obj)
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, np.generic):
        return to_jsonable(obj.item())
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, torch.Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj, key=str) if isinstance(obj, set | frozenset) else obj
        return [to_jsonable(v) for v in items]
    if isinstance(obj, ChannelSubset):
        return obj.name
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, os.PathLike | torch.device | torch.dtype):
        return str(obj)
    raise TypeError(f"cannot store a {type(obj).__name__} in a JSON record: {obj!r}")


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write ``obj`` as JSON (sorted keys, indent 2) atomically (see :mod:`dynconv.fileio`)."""
    return atomic_write_json(path, to_jsonable(obj))


def config_fingerprint(obj: Any, length: int = 10) -> str:
    """Short, stable hash of ``obj`` (as canonical JSON): equal configs give equal fingerprints."""
    canonical = json.dumps(to_jsonable(obj), sort_keys=True, separators=(",", ":"),
                           allow_nan=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:length]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def hardware() -> dict[str, Any]:
    """The machine a result came from: CPU model and cores, torch threads, memory, GPU."""
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
    }
    try:
        import psutil

        info["physical_cores"] = psutil.cpu_count(logical=False)
        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # psutil is a dependency, but hardware() should never fail a run
        pass
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_memory_gb"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
        info["cuda"] = torch.version.cuda
    else:
        info["gpu"] = None
    return info


def hardware_label() -> str:
    """A short name of what runs the numbers: the GPU's name, or e.g. 'CPU (2 threads, x86_64)'."""
    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({torch.get_num_threads()} threads, {platform.machine()})"


def versions() -> dict[str, str | None]:
    """Versions of Python and of the packages that affect the numbers (None: not installed)."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for package in ("torch", "torchvision", "numpy", "dynconv", "calflops", "scikit-learn",
                    "statsmodels"):
        try:
            out[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            out[package] = None
    return out
