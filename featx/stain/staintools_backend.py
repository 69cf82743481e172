"""staintools' own Macenko normaliser behind ``MacenkoNormalizer(backend="staintools")``.

The reference the batched NumPy path is checked against: staintools fits and maps
every tile on its own, slowly; its failures on background tiles become flags.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from featx.errors import EmptyTissueError


def staintools_normalizer(target: np.ndarray) -> Any:
    """staintools' own Macenko normaliser fitted on a target (a batch becomes one mosaic)."""
    import staintools
    from staintools.miscellaneous.exceptions import TissueMaskException

    image = target[0] if target.shape[0] == 1 else target.reshape(-1, target.shape[2], 3)
    norm = staintools.StainNormalizer(method="macenko")
    try:
        norm.fit(image.copy())
    except TissueMaskException:
        raise EmptyTissueError("target", 0, 0.8) from None
    return norm


def transform_tiles(normalizer: Any, tiles: np.ndarray, out: np.ndarray, todo: np.ndarray) -> np.ndarray:
    """Map ``tiles[todo]`` into ``out`` with a fitted staintools normaliser.

    Returns
    -------
    numpy.ndarray of bool
        For each of ``todo``, whether staintools failed on it (no tissue it could use).
    """
    from staintools.miscellaneous.exceptions import TissueMaskException

    failed = np.zeros(len(todo), dtype=bool)
    for j, k in enumerate(todo):
        try:
            with np.errstate(all="ignore"):
                out[k] = normalizer.transform(tiles[k].copy())  # it edits its input
        except (TissueMaskException, np.linalg.LinAlgError, ValueError):
            failed[j] = True
    return failed
