"""dynconv.book.progress: progress stays where a chapter runs, except in the book build, where
it goes to the console the kernel was started from and never onto the page."""

from __future__ import annotations

import sys

import pytest
import tqdm.auto
import tqdm.std

import dynconv.training.loop
from dynconv.book import chapter, progress
from dynconv.errors import ConfigError


class KernelStderr:
    """Like ipykernel's stderr: what is written goes to the notebook (``page``), while
    ``fileno()`` is the console the kernel was started from."""

    def __init__(self, console_fd: int) -> None:
        self.page: list[str] = []
        self._fd = console_fd

    def write(self, text: str) -> int:
        self.page.append(text)
        return len(text)

    def flush(self) -> None:
        pass

    def fileno(self) -> int:
        return self._fd


def test_the_mode_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    assert progress.mode() == progress.PAGE
    monkeypatch.setenv(progress.PROGRESS_ENV, " Console ")
    assert progress.mode() == progress.CONSOLE
    monkeypatch.setenv(progress.PROGRESS_ENV, "log")
    with pytest.raises(ConfigError, match="DYNCONV_PROGRESS='log': expected one of page"):
        progress.mode()


def test_outside_the_build_nothing_is_rerouted(monkeypatch, capsys):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    stderr = sys.stderr
    assert progress.route_to_console() is False
    assert sys.stderr is stderr
    progress.note("chapter ready in 0.1 s")
    assert capsys.readouterr().out == "chapter ready in 0.1 s\n"  # where the chapter runs


def test_in_the_build_stderr_and_the_librarys_bars_go_to_the_console(monkeypatch, tmp_path):
    console = (tmp_path / "console.log").open("w")
    kernel = KernelStderr(console.fileno())
    notebook_bar = type("NotebookBar", (), {})  # what tqdm.auto gives inside a kernel
    monkeypatch.setattr(sys, "stderr", kernel)
    monkeypatch.setattr(tqdm.auto, "tqdm", notebook_bar)
    monkeypatch.setattr(dynconv.training.loop, "tqdm", notebook_bar)
    monkeypatch.setattr(progress, "_console", None)
    monkeypatch.setenv(progress.PROGRESS_ENV, progress.CONSOLE)

    assert progress.route_to_console() is True
    routed = sys.stderr
    assert progress.route_to_console() is True and sys.stderr is routed  # once is enough
    assert dynconv.training.loop.tqdm is tqdm.std.tqdm and tqdm.auto.tqdm is tqdm.std.tqdm
    bar = dynconv.training.loop.tqdm(total=2, desc="epoch 1/6", mininterval=0)
    bar.update(2)
    bar.close()
    progress.note("chapter ready in 0.0 s")
    print("[bench] FLOPs of 12 networks", file=sys.stderr)
    sys.stderr.flush()
    logged = (tmp_path / "console.log").read_text()
    assert "epoch 1/6: 100%" in logged and "2/2" in logged
    assert "chapter ready in 0.0 s" in logged and "[bench] FLOPs" in logged
    assert kernel.page == []  # nothing reached the notebook
    progress._console.close()
    console.close()


def test_a_chapter_start_routes_before_it_prints(monkeypatch):
    calls = []
    monkeypatch.setattr(progress, "route_to_console", lambda: calls.append("route"))
    monkeypatch.setattr(progress, "note", lambda text: calls.append(text))
    chapter.start("smoke", None)
    assert calls[0] == "route" and calls[1].startswith("chapter ready in ")
