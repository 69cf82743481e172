"""Caveats read from the data: what changes the reading of a report's answers.

Read from the provenance and the stored results, never typed by hand: random weights,
near-duplicate tiles (LC25000), few repetitions of cross-validation, tiny classes.
The report shows them in its summary, beside the answers they qualify.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from featx._io import read_table

#: Repetitions of K-fold the paper ran (50 x 5-fold); fewer than MIN_REPEATS is a caveat.
PAPER_REPEATS = 50
MIN_REPEATS = 5
#: Classes with fewer samples than this get a caveat.
MIN_CLASS_SIZE = 10


def leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """Every (path, value) leaf of a nested mapping."""
    if isinstance(value, Mapping):
        return [leaf for k, v in value.items() for leaf in leaves(v, (*path, str(k)))]
    return [(path, value)]


def data_caveats(record: Mapping[str, Any], results: str | Path | None) -> list[str]:
    """Caveats read from the provenance and the stored results."""
    out = []
    found = [(path, v) for value in record.values() for path, v in leaves(value)]
    for path, value in found:
        if path and path[-1] in {"weights", "name"} and str(value).lower().startswith("random"):
            out.append(f"{' / '.join(path[:-1]) or 'An extractor'} ran with random weights: "
                       "its features are not ImageNet features, and the comparison is not "
                       "the paper's.")
        if path and path[-1] in {"tiles", "tile_folder"} and "lc25000" in str(value).lower():
            out.append("LC25000 holds augmented near-duplicate tiles, so cross-validated "
                       "accuracies on it are optimistic (near-copies fall in train and test).")
        if path and path[-1] == "n_repeats" and isinstance(value, int) and value < MIN_REPEATS:
            out.append(f"Only {value} repetitions of cross-validation: p-values and intervals "
                       f"from so few resamples are unstable; the paper ran {PAPER_REPEATS} "
                       "repetitions of 5-fold.")
    if results is not None:
        out += tiny_class_caveats(Path(results))
    return list(dict.fromkeys(out))


def tiny_class_caveats(results: Path, minimum: int = MIN_CLASS_SIZE) -> list[str]:
    """Classes of the tissue experiment with fewer than ``minimum`` samples."""
    path = next((results / f"tissue_confusion{s}" for s in (".parquet", ".csv")
                 if (results / f"tissue_confusion{s}").is_file()), None)
    if path is None:
        return []
    confusion = read_table(path, what="confusion table")
    per_rep = confusion.groupby(["extractor", "repetition", "true_label"])["count"].sum()
    sizes = per_rep.groupby("true_label").max()
    small = sizes[sizes < minimum]
    if small.empty:
        return []
    listed = ", ".join(f"{label} ({int(n)})" for label, n in small.items())
    return [f"Classes with fewer than {minimum} samples: {listed}; their per-class "
            "accuracies rest on a handful of tiles."]


__all__ = ["MIN_CLASS_SIZE", "MIN_REPEATS", "PAPER_REPEATS", "data_caveats", "leaves",
           "tiny_class_caveats"]
