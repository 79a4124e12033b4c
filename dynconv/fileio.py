"""Atomic writes: a reader never sees a half-written file, and a crash keeps the old one.

Every file the book writes that a later run reads (results records, checkpoints, the decode
cache, the build's bookkeeping) goes through :func:`atomic_write`: the content is written to a
uniquely named temporary file in the same folder, flushed to disk, then renamed over the target
with ``os.replace`` (atomic on POSIX and Windows). Unique temporary names also make concurrent
writers safe: the last rename wins, and no writer sees another's partial file.

Atomic writes keep files whole; they do not keep two processes from doing the same work.
:func:`file_lock` does: an exclusive ``fcntl.flock`` on a lock file, held around a
check-then-build step (train a run, decode a dataset, generate the built-in one), so that a
second process asking for the same thing waits, says so, and then finds it done. The kernel
releases the lock when its holder exits, even when killed, so a crash never leaves a stale
lock behind; lock files themselves are left in place (deleting one while another process waits
on it would let a third one in). Where ``fcntl`` does not exist (Windows) the lock does
nothing, and concurrent runs are safe but may duplicate work.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

try:
    import fcntl
except ImportError:  # Windows: file_lock does nothing
    fcntl = None  # type: ignore[assignment]


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


@contextlib.contextmanager
def file_lock(path: str | os.PathLike, *, waiting: str | None = None,
              quiet: bool = False) -> Iterator[Path]:
    """Hold an exclusive lock on the file ``path`` for the ``with`` block.

    Blocks while another process holds it, after printing to stderr what it waits for
    (``waiting``, e.g. "another process is training v5, seed 1") and the lock file, then how
    long it waited; ``quiet=True`` prints nothing. The file exists while the lock is held and
    is deleted, still locked, on release; a process that was waiting on the deleted file
    notices (its inode is no longer the path's) and locks the path afresh. The lock belongs to
    this open file: do not take the same lock twice in one process (the second call would
    wait for the first).
    """
    path = Path(path)
    if fcntl is None:
        yield path
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    start, announced = time.monotonic(), False
    while True:
        f = open(path, "a+b")  # closed on release, or below when not locked
        try:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not quiet and not announced:
                    print(f"waiting: {waiting or 'another process holds the lock'} ({path})",
                          file=sys.stderr, flush=True)
                    announced = True
                fcntl.flock(f.fileno(), fcntl.LOCK_EX)
            if _same_file(path, f):
                break
        except BaseException:
            f.close()
            raise
        f.close()  # its holder deleted the file we waited on: lock the path's new file
    if announced:
        print(f"lock {path.name} acquired after {time.monotonic() - start:.0f} s",
              file=sys.stderr, flush=True)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)  # deleted while still held: see the docstring
        fcntl.flock(f.fileno(), fcntl.LOCK_UN)
        f.close()


def _same_file(path: Path, f: IO[bytes]) -> bool:
    """True if ``path`` still names the open file ``f``."""
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    mine = os.fstat(f.fileno())
    return (on_disk.st_dev, on_disk.st_ino) == (mine.st_dev, mine.st_ino)
