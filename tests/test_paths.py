"""Tests of dynconv.paths: the book's root and its results folder, found from any folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from dynconv.paths import (
    default_cache_dir,
    default_results_dir,
    find_book_root,
    resolve_results_dir,
)


@pytest.fixture
def book(tmp_path: Path) -> Path:
    """``<tmp>/book`` with ``_toc.yml`` and ``notebooks/sub/``; a decoy ``notebooks/_toc.yml``
    without a ``notebooks/`` folder beside it."""
    root = tmp_path / "book"
    (root / "notebooks" / "sub").mkdir(parents=True)
    (root / "_toc.yml").write_text("root: intro\n")
    (root / "notebooks" / "_toc.yml").write_text("not the root\n")
    return root


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.delenv("DYNCONV_RESULTS_DIR", raising=False)
    return monkeypatch


def test_find_book_root_from_nested_folders(book: Path, tmp_path: Path) -> None:
    for start in (book, book / "notebooks", book / "notebooks" / "sub"):
        assert find_book_root(start) == book.resolve()
    assert find_book_root(tmp_path) is None
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "_toc.yml").write_text("")  # _toc.yml alone is not a book
    assert find_book_root(tmp_path / "elsewhere") is None


def test_default_results_dir_inside_and_outside_a_book(book: Path, tmp_path: Path,
                                                       no_env: pytest.MonkeyPatch) -> None:
    no_env.chdir(book / "notebooks" / "sub")
    assert find_book_root() == book.resolve()
    assert default_results_dir() == book.resolve() / "book" / "results"
    assert resolve_results_dir() == book.resolve() / "book" / "results"
    no_env.chdir(book / "notebooks")
    assert default_results_dir() == book.resolve() / "book" / "results"
    outside = tmp_path / "outside"
    outside.mkdir()
    no_env.chdir(outside)
    assert default_results_dir() == outside / "results"
    assert resolve_results_dir("r") == Path("r")


def test_results_env_wins(book: Path, tmp_path: Path, no_env: pytest.MonkeyPatch) -> None:
    no_env.chdir(book / "notebooks")
    no_env.setenv("DYNCONV_RESULTS_DIR", str(tmp_path / "elsewhere"))
    assert default_results_dir() == tmp_path / "elsewhere"
    assert resolve_results_dir(None) == tmp_path / "elsewhere"
    assert resolve_results_dir(tmp_path / "given") == tmp_path / "given"


def test_cache_dir_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("DYNCONV_CACHE_DIR", str(tmp_path / "c"))
    assert default_cache_dir() == tmp_path / "c"
    monkeypatch.delenv("DYNCONV_CACHE_DIR")
    assert default_cache_dir() == Path.home() / ".cache" / "dynconv"
