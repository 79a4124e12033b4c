"""Where a chapter's progress goes: onto the page (a reader's own Jupyter) or onto the console
(the book build).

Progress bars (tqdm, while data is decoded, a network trained or the benchmark measures) and
lines such as how long a chapter took to start are for whoever runs the chapter, not for the
reader of the page. In a Jupyter session they stay in the notebook, where the person running
it sees them. The book build (:mod:`dynconv.booktools.book`) executes every chapter with
:data:`PROGRESS_ENV` set to :data:`CONSOLE`; :func:`dynconv.book.chapter.start` then calls
:func:`route_to_console`, and from that cell on

- the kernel's ``sys.stderr`` writes to the console the kernel was started from (the build's
  own stderr, its log), not into the notebook: tqdm's bars, the benchmark's ``[bench]`` lines
  and warnings go there;
- the library's tqdm bars are plain console bars instead of notebook widgets (the library
  imports ``tqdm.auto``, which chooses widgets inside a kernel).

This module is the one place that reads :data:`PROGRESS_ENV`.
"""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO

import tqdm.auto
import tqdm.std

from dynconv.errors import ConfigError

__all__ = ["CONSOLE", "PAGE", "PROGRESS_ENV", "console_stream", "mode", "note",
           "route_to_console"]

PROGRESS_ENV = "DYNCONV_PROGRESS"
PAGE = "page"  # the default: progress shows where the chapter runs (a notebook's outputs)
CONSOLE = "console"  # the book build: progress goes to the console, never onto the page
MODES = (PAGE, CONSOLE)

_console: TextIO | None = None  # the console stream, once routed (kept open for the kernel)


def mode() -> str:
    """:data:`PAGE` or :data:`CONSOLE`, from :data:`PROGRESS_ENV` (unset or empty: page)."""
    value = os.environ.get(PROGRESS_ENV, "").strip().lower() or PAGE
    if value not in MODES:
        raise ConfigError(f"{PROGRESS_ENV}={value!r}: expected one of {', '.join(MODES)}")
    return value


def console_stream() -> TextIO | None:
    """A text stream onto the process's real stderr: inside a Jupyter kernel, the terminal or
    log the kernel was started from (ipykernel keeps a copy of that descriptor, which
    ``sys.stderr.fileno()`` returns, while it sends file descriptor 2 to the notebook); None
    when there is none."""
    try:
        descriptor = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        if sys.__stderr__ is None:
            return None
        descriptor = sys.__stderr__.fileno()
    return os.fdopen(os.dup(descriptor), "w", buffering=1, encoding="utf-8",
                     errors="replace")


def route_to_console() -> bool:
    """Under :data:`CONSOLE`, send this process's stderr and the library's progress bars to
    the console (see the module docstring) and return True; otherwise change nothing and
    return False. Calling it again changes nothing more."""
    global _console
    if mode() != CONSOLE:
        return False
    if _console is None:
        _console = console_stream()
        if _console is None:
            return False
    sys.stderr = _console
    # the library bound tqdm.auto's class at import; a console bar writes to sys.stderr
    notebook_bar = tqdm.auto.tqdm
    tqdm.auto.tqdm = tqdm.std.tqdm
    for name, module in list(sys.modules.items()):
        if name.split(".")[0] == "dynconv" and getattr(module, "tqdm", None) is notebook_bar:
            module.tqdm = tqdm.std.tqdm
    return True


def note(text: str) -> None:
    """A line for whoever runs the chapter (e.g. how long it took to start): on the console
    under :data:`CONSOLE`, printed where the chapter runs otherwise."""
    print(text, file=sys.stderr if mode() == CONSOLE else sys.stdout, flush=True)
