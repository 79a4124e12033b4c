"""Where the book keeps things: the dataset cache, the book's root and its results folder.

Nothing here depends on where the package is installed (no ``__file__``-relative repository
paths), so ``dynconv`` works the same from an editable checkout and from a wheel:

* the decode cache is ``$DYNCONV_CACHE_DIR`` or ``~/.cache/dynconv``;
* the book's root is the first folder, from the working directory upwards, that holds both
  ``_toc.yml`` and ``notebooks/`` (a chapter opened in any Jupyter, from ``notebooks/`` or
  from the root, finds the same root);
* results live in ``$DYNCONV_RESULTS_DIR`` if set, else ``<book root>/book/results`` (where the
  book's records ship, :data:`RESULTS_IN_BOOK`), else (outside a checkout of the book)
  ``./results``.
"""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "DYNCONV_CACHE_DIR"
RESULTS_ENV = "DYNCONV_RESULTS_DIR"
# Two files that only the book's root folder holds.
BOOK_ROOT_MARKERS = ("_toc.yml", "notebooks")
# The results folder inside the book's root: the shipped records (JSON) live here.
RESULTS_IN_BOOK = Path("book") / "results"


def default_cache_dir() -> Path:
    """``$DYNCONV_CACHE_DIR`` if set, else ``~/.cache/dynconv``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "dynconv"


def find_book_root(start: str | os.PathLike | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: the working directory) that holds
    ``_toc.yml`` and ``notebooks/``; None when there is none."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if all((folder / marker).exists() for marker in BOOK_ROOT_MARKERS):
            return folder
    return None


def default_results_dir() -> Path:
    """``$DYNCONV_RESULTS_DIR``, else ``<book root>/book/results``, else ``./results``."""
    env = os.environ.get(RESULTS_ENV)
    if env:
        return Path(env).expanduser()
    root = find_book_root()
    return root / RESULTS_IN_BOOK if root is not None else Path.cwd() / "results"


def resolve_results_dir(results_dir: str | os.PathLike | None = None) -> Path:
    """``results_dir`` as a Path, or :func:`default_results_dir` when None."""
    return Path(results_dir) if results_dir is not None else default_results_dir()


def shown_path(path: str | os.PathLike) -> str:
    """``path`` relative to the book's root when inside it, else as given (pages and logs show
    no home folders)."""
    root = find_book_root()
    try:
        return str(Path(path).resolve().relative_to(root)) if root else str(path)
    except ValueError:
        return str(path)
