"""Atomic writes: a reader never sees a half-written file, and a crash keeps the old one.

Every file the book writes that a later run reads (results records, checkpoints, the decode
cache, the build's bookkeeping) goes through :func:`atomic_write`: the content is written to a
uniquely named temporary file in the same folder, flushed to disk, then renamed over the target
with ``os.replace`` (atomic on POSIX and Windows). Unique temporary names also make concurrent
writers safe: the last rename wins, and no writer sees another's partial file.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def atomic_write(path: str | os.PathLike, write: Callable[[IO[bytes]], Any]) -> Path:
    """Call ``write(f)`` on a temporary binary file beside ``path``, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp")
    try:
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    return atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> Path:
    """Write plain JSON data (sorted keys, indent 2, no NaN) to ``path`` atomically."""
    text = json.dumps(obj, sort_keys=True, indent=2, allow_nan=False) + "\n"
    return atomic_write_text(path, text)


def atomic_torch_save(path: str | os.PathLike, obj: Any) -> Path:
    """``torch.save(obj)`` to ``path`` atomically (load it with ``weights_only=True``)."""
    import torch

    return atomic_write(path, lambda f: torch.save(obj, f))


def read_json(path: str | os.PathLike) -> Any:
    """Read a JSON file."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)
