"""Named exceptions raised by ``dynconv``.

Every error the package raises on purpose is one of these classes, so a notebook can catch
``DynconvError`` and a student reading a traceback sees *what kind* of thing went wrong before
reading the message. Each subclass also derives from ``ValueError``, so code that already
catches ``ValueError`` keeps working.

Chapter: 01_data explains the dataset checks that raise ``DatasetError``.
"""

from __future__ import annotations

__all__ = ["ChannelSubsetError", "ConfigError", "DatasetError", "DynconvError"]


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
