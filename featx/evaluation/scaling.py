"""Standardise a fold's features with statistics of its training rows only."""

from __future__ import annotations

import numpy as np


def standardise(x: np.ndarray, train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """StandardScaler fitted on the training rows, applied to training and test rows.

    StandardScaler's formulas (mean; variance from the centred rows with its correction
    term; a feature whose variance is within rounding of zero keeps scale 1) in four passes
    over the training rows instead of about ten (425 -> 280 ms at 5,744 x 2,048).
    """
    z_train = np.take(x, train, axis=0).astype(np.float64, copy=False)  # a new array
    mean, scale = _centre_and_scale(z_train)
    return z_train, (np.asarray(x[test], dtype=np.float64) - mean) / scale


def fit_standardise(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """StandardScaler on all rows of ``x``: ``(z, mean, scale)``, ``x`` left unchanged."""
    z = np.array(x, dtype=np.float64)
    mean, scale = _centre_and_scale(z)
    return z, mean, scale


def _centre_and_scale(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Standardise ``z`` in place; return the mean and scale used."""
    n = len(z)
    mean = z.sum(axis=0) / n
    z -= mean
    var = (np.einsum("ij,ij->j", z, z) - z.sum(axis=0) ** 2 / n) / n
    eps = np.finfo(np.float64).eps
    constant = var <= n * eps * var + (n * mean * eps) ** 2  # sklearn's _is_constant_feature
    scale = np.where(constant, 1.0, np.sqrt(var))
    z /= scale
    return mean, scale
