"""Named exceptions raised by ``dynconv``.

Every error the package raises on purpose is one of these classes, so a notebook can catch
``DynconvError`` and a student reading a traceback sees *what kind* of thing went wrong before
reading the message. Each subclass also derives from ``ValueError``, so code that already
catches ``ValueError`` keeps working.

Chapter: 01_data explains the dataset checks that raise ``DatasetError``.
"""

from __future__ import annotations

__all__ = [
    "ChannelSubsetError", "ConfigError", "DatasetError", "DynconvError", "check_int",
    "check_number",
]

from typing import Any


class DynconvError(Exception):
    """Base class of every error raised on purpose by ``dynconv``."""


class DatasetError(DynconvError, ValueError):
    """A dataset folder, list file, label or image is missing or malformed.

    Raised before any decoding or training starts, with a message that names the file (and the
    line, for list files) and says how to fix it.
    """


class ChannelSubsetError(DynconvError, ValueError):
    """A channel subset could not be understood (the message lists the valid names)."""


class ConfigError(DynconvError, ValueError):
    """A bad profile, override, model name, option value or combination of options."""


def check_int(name: str, value: Any, *, minimum: int = 1, optional: bool = False,
              error: type[DynconvError] = ConfigError) -> None:
    """Raise ``error`` unless ``value`` is an int >= ``minimum`` (or None when ``optional``).

    The one place every "must be a positive integer" check of the package goes through
    (booleans are refused: ``True`` is an int to Python, not a count to a reader).
    """
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        what = f"an integer >= {minimum}" + (" or None" if optional else "")
        raise error(f"{name} must be {what}, got {value!r}")


def check_number(name: str, value: Any, *, positive: bool = True, optional: bool = False,
                 error: type[DynconvError] = ConfigError) -> None:
    """Raise ``error`` unless ``value`` is a finite number > 0 (``positive``) or >= 0."""
    if value is None and optional:
        return
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    # value == value is False only for NaN; an infinity fails the comparison with itself - itself
    ok = ok and value == value and value - value == 0 and (value > 0 if positive else value >= 0)
    if not ok:
        what = "a finite number > 0" if positive else "a finite number >= 0"
        or_none = " or None" if optional else ""
        raise error(f"{name} must be {what}{or_none}, got {value!r}")
