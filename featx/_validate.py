"""Argument checks shared by the public API; each raises InvalidParameterError."""

from __future__ import annotations

import numbers
import re
from collections.abc import Collection

import numpy as np

from featx.errors import InvalidParameterError


def positive_int(name: str, value: object) -> int:
    """Return ``value`` as an int if it is a positive integer, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise InvalidParameterError(name, "a positive int", value)
    return int(value)


def non_negative_int(name: str, value: object) -> int:
    """Return ``value`` as an int if it is an integer >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise InvalidParameterError(name, "an int >= 0", value)
    return int(value)


def positive_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number > 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InvalidParameterError(name, "a positive number", value)
    if not np.isfinite(value) or value <= 0:
        raise InvalidParameterError(name, "a positive finite number", value)
    return float(value)


def non_negative_float(name: str, value: object) -> float:
    """Return ``value`` as a float if it is a finite number >= 0, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            np.isfinite(value) and value >= 0):
        raise InvalidParameterError(name, "a number >= 0", value)
    return float(value)


def fraction(name: str, value: object) -> float:
    """Return ``value`` as a float if it lies in [0, 1], else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0 <= value <= 1:
        raise InvalidParameterError(name, "a number in [0, 1]", value)
    return float(value)


def one_of(name: str, value: object, options: Collection[object]) -> object:
    """Return ``value`` if it is one of ``options``, else raise listing them."""
    if value not in options:
        listed = ", ".join(repr(o) for o in options)
        raise InvalidParameterError(name, f"one of {listed}", value)
    return value


def rgb_batch(name: str, value: object) -> np.ndarray:
    """Return ``value`` if it is a uint8 array of shape (N, H, W, 3), else raise."""
    if not isinstance(value, np.ndarray) or value.dtype != np.uint8:
        got = getattr(value, "dtype", type(value).__name__)
        raise InvalidParameterError(name, "a uint8 NumPy array of shape (N, H, W, 3)", got)
    if value.ndim != 4 or value.shape[-1] != 3:
        raise InvalidParameterError(name, "a uint8 array of shape (N, H, W, 3)", value.shape)
    return value


# Names that become folder and file names: characters safe on every filesystem.
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")


def file_name(name: str, value: object) -> str:
    """Return ``value`` if it can name a file or folder on any filesystem, else raise."""
    if not isinstance(value, str) or not _FILE_NAME.match(value):
        raise InvalidParameterError(
            name, "a non-empty name of letters, digits and . _ + - (it becomes a file or "
            "folder name) not starting with . _ + -", value)
    return value
