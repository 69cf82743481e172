"""The FTX training data: a class-per-folder tile set, its split, and histology augmentations.

Tiles are one folder per class (``.tif``, ``.png``, ``.jpg``), the layout
NCT-CRC-HE-100K ships in; they are resized to the network's input, and training
batches get the changes histology is invariant to.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featx._io import IMAGE_SUFFIXES, read_rgb
from featx._validate import fraction, non_negative_int, positive_int
from featx.errors import DataNotFoundError

#: Augmentations applied to training batches, in order.
AUGMENTATIONS = ("rot90", "flip", "brightness", "contrast", "saturation", "blur")


@dataclass(frozen=True)
class TileDataset:
    """Tiles listed from a class-per-folder tree.

    Attributes
    ----------
    root : Path
        The folder holding one sub-folder per class.
    paths : tuple of Path
        Tile files, sorted by class then name.
    labels : numpy.ndarray
        int64 class index of each tile.
    classes : tuple of str
        Class (folder) names, sorted.
    """

    root: Path
    paths: tuple[Path, ...]
    labels: np.ndarray
    classes: tuple[str, ...]

    def counts(self, index: np.ndarray | None = None) -> dict[str, int]:
        """Tiles per class (of ``index`` when given)."""
        labels = self.labels if index is None else self.labels[index]
        return {c: int((labels == k).sum()) for k, c in enumerate(self.classes)}

    def data_hash(self) -> str:
        """sha256 of the listing: class, relative path and size of every tile.

        Cheap on 100,000 tiles (no pixel is read) and changes when a file is
        added, removed, renamed, moved between classes or rewritten at another size.
        """
        digest = hashlib.sha256()
        for path, label in zip(self.paths, self.labels):
            rel = path.relative_to(self.root).as_posix()
            digest.update(f"{self.classes[label]}\t{rel}\t{path.stat().st_size}\n".encode())
        return digest.hexdigest()


def read_tile_folder(
    root: str | Path, *, max_per_class: int | None = None, seed: int = 0
) -> TileDataset:
    """List a class-per-folder tile dataset.

    Parameters
    ----------
    root : str or Path
        Folder with one sub-folder of tiles per class (NCT-CRC-HE-100K layout).
    max_per_class : int, optional
        Keep at most this many tiles per class (a seeded random choice).
    seed : int, default 0
        Seed of that choice.

    Returns
    -------
    TileDataset

    Raises
    ------
    DataNotFoundError
        When the folder is missing or has fewer than two classes with tiles.
    """
    root = Path(root).expanduser()
    hint = (f"give a folder with one sub-folder of tiles ({', '.join(IMAGE_SUFFIXES)}) per "
            "class, e.g. NCT-CRC-HE-100K/ADI/*.tif, NCT-CRC-HE-100K/BACK/*.tif, ...")
    if not root.is_dir():
        raise DataNotFoundError(f"tile folder {root}", hint)
    rng = np.random.default_rng(non_negative_int("seed", seed))
    classes, paths, labels = [], [], []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        files = sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            continue
        if max_per_class is not None and len(files) > positive_int("max_per_class",
                                                                   max_per_class):
            keep = np.sort(rng.choice(len(files), max_per_class, replace=False))
            files = [files[i] for i in keep]
        labels += [len(classes)] * len(files)
        classes.append(folder.name)
        paths += files
    if len(classes) < 2:
        raise DataNotFoundError(f"at least two class folders with tiles in {root}", hint)
    return TileDataset(root.resolve(), tuple(p.resolve() for p in paths),
                       np.asarray(labels, np.int64), tuple(classes))


def stratified_split(
    labels: np.ndarray, *, val_fraction: float = 0.1, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Split indices into train and validation, keeping class proportions.

    Every class with at least two tiles gives at least one to each side.

    Returns
    -------
    train, val : numpy.ndarray
        Sorted int64 indices.
    """
    val_fraction = fraction("val_fraction", val_fraction)
    rng = np.random.default_rng(non_negative_int("seed", seed))
    train, val = [], []
    for k in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == k))
        n_val = int(round(val_fraction * len(idx)))
        if val_fraction > 0 and len(idx) >= 2:
            n_val = min(max(n_val, 1), len(idx) - 1)
        val.append(idx[:n_val])
        train.append(idx[n_val:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(val))


def load_tile(path: str | Path, tile_px: int) -> np.ndarray:
    """Read one tile as uint8 RGB (tile_px, tile_px, 3), resized with antialiasing."""
    return read_rgb(path, size=tile_px)


def augment_batch(x: Any, *, seed: int | None = None) -> Any:
    """Histology augmentations on a float batch in [0, 255] (tf ops, per tile).

    Rotation by a random multiple of 90 degrees, random horizontal flip (with the
    rotations this gives all 8 dihedral views), brightness (+-10%), contrast and
    saturation (x0.8-1.2), and a 3x3 Gaussian blur on half of the tiles.
    """
    import tensorflow as tf

    n = tf.shape(x)[0]
    k = tf.random.uniform([n], 0, 4, dtype=tf.int32, seed=seed)
    x = tf.map_fn(lambda t: tf.image.rot90(t[0], t[1]), (x, k), fn_output_signature=x.dtype)
    flip = tf.random.uniform([n, 1, 1, 1], seed=seed) < 0.5
    x = tf.where(flip, tf.reverse(x, axis=[2]), x)

    def factor(low: float, high: float) -> Any:
        return tf.random.uniform([n, 1, 1, 1], low, high, seed=seed)

    x = x + factor(-25.5, 25.5)  # brightness
    mean = tf.reduce_mean(x, axis=[1, 2, 3], keepdims=True)
    x = (x - mean) * factor(0.8, 1.2) + mean  # contrast
    grey = tf.reduce_mean(x, axis=3, keepdims=True)
    x = (x - grey) * factor(0.8, 1.2) + grey  # saturation
    kernel = tf.constant([1.0, 2.0, 1.0]) / 4.0
    kernel = tf.tile((kernel[:, None] * kernel[None, :])[:, :, None, None], [1, 1, 3, 1])
    blurred = tf.nn.depthwise_conv2d(x, kernel, [1, 1, 1, 1], "SAME")
    x = tf.where(tf.random.uniform([n, 1, 1, 1], seed=seed) < 0.5, blurred, x)
    return tf.clip_by_value(x, 0.0, 255.0)

