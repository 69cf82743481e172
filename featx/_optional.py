"""Optional packages: import them where a feature needs them, or say which extra installs them."""

from __future__ import annotations

import importlib
from types import ModuleType

from featx.errors import MissingExtraError


def require(package: str, *, extra: str, purpose: str) -> ModuleType:
    """Import ``package``, or raise :class:`~featx.errors.MissingExtraError` naming ``extra``.

    Parameters
    ----------
    package : str
        Module to import (``"h5py"``, ``"onnxruntime"``).
    extra : str
        The featx extra that installs it.
    purpose : str
        What it is needed for, for the message ("to read h5 feature files").
    """
    try:
        return importlib.import_module(package)
    except ImportError:
        raise MissingExtraError(package, extra, purpose) from None
