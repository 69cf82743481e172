"""A U-Net over the slide's grid of tile embeddings (the multi-stage paper).

A patch extractor's features are laid on the tile grid as a feature map
``[rows, cols, d]`` (each tissue piece centred on a fixed-size, zero-padded canvas,
:func:`featx.wsi.tile_grid.canvas_layouts`); a U-Net over that map predicts a tumour
map. The loss is a binary cross-entropy masked to labelled tiles (labels 1 tumour,
0 normal; -1 unlabelled and the padding give no loss).

:class:`FeatureMapUNet` learns on features from a frozen extractor;
:mod:`featx.slidescore.end_to_end` trains the extractor too.

This module imports TensorFlow; it is one of the few featx modules that do at import
time (the layering test lists them).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.base import BaseEstimator

from featx import __version__
from featx._io import atomic_path, write_json
from featx._validate import positive_float, positive_int
from featx.errors import DataNotFoundError, InvalidParameterError, NotFittedError
from featx.slidescore.heatmaps import tile_heatmap
from featx.wsi.tile_grid import CanvasLayout, canvas_layouts, grid_indices

#: Files written by :meth:`FeatureMapUNet.save`.
UNET_MODEL, UNET_STATE = "unet.keras", "unet.json"


def build_unet(
    *, canvas_shape: tuple[int, int], n_features: int, base_filters: int = 16, depth: int = 2,
    name: str = "feature_map_unet",
) -> keras.Model:
    """Build a U-Net from a feature map (H, W, n_features) to tumour logits (H, W).

    Parameters
    ----------
    canvas_shape : tuple of int
        (H, W) in tiles; each must be divisible by ``2 ** depth``.
    n_features : int
        Channels of the feature map (the extractor's embedding size).
    base_filters : int, default 16
        Filters of the first level; doubled at each level down.
    depth : int, default 2
        Number of 2x down/up-sampling steps.

    Returns
    -------
    keras.Model
        Outputs logits; apply a sigmoid for probabilities.
    """
    height = positive_int("canvas_shape[0]", canvas_shape[0])
    width = positive_int("canvas_shape[1]", canvas_shape[1])
    n_features = positive_int("n_features", n_features)
    base_filters = positive_int("base_filters", base_filters)
    depth = positive_int("depth", depth)
    if height % 2**depth or width % 2**depth:
        raise InvalidParameterError(
            "canvas_shape", f"sides divisible by 2**depth = {2**depth}", (height, width))
    layers = keras.layers

    def block(x: keras.KerasTensor, filters: int) -> keras.KerasTensor:
        x = layers.Conv2D(filters, 3, padding="same", activation="relu")(x)
        return layers.Conv2D(filters, 3, padding="same", activation="relu")(x)

    inputs = keras.Input((height, width, n_features))
    x, skips = inputs, []
    for level in range(depth):
        x = block(x, base_filters * 2**level)
        skips.append(x)
        x = layers.MaxPooling2D(2)(x)
    x = block(x, base_filters * 2**depth)
    for level in reversed(range(depth)):
        x = layers.Conv2DTranspose(base_filters * 2**level, 2, strides=2, padding="same")(x)
        x = block(layers.Concatenate()([x, skips[level]]), base_filters * 2**level)
    logits = layers.Reshape((height, width))(layers.Conv2D(1, 1)(x))
    return keras.Model(inputs, logits, name=name)


def masked_loss(labels: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    """Mean binary cross-entropy over labelled cells (label 0 or 1); -1 cells give no loss.

    Returns 0 when no cell is labelled (nothing to learn from, not NaN).
    """
    labels = tf.convert_to_tensor(labels, dtype=logits.dtype)
    mask = tf.cast(labels >= 0, logits.dtype)
    per_cell = tf.nn.sigmoid_cross_entropy_with_logits(labels=labels * mask, logits=logits)
    return tf.reduce_sum(per_cell * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


def check_tile_labels(labels: np.ndarray, min_len: int) -> None:
    """Raise unless ``labels`` holds -1, 0 or 1 for at least ``min_len`` tiles."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) < min_len or not np.isin(labels, (-1, 0, 1)).all():
        raise InvalidParameterError(
            "labels", "the slide's tile labels: one of -1, 0, 1 per row of its tile table",
            f"shape {labels.shape}, values {np.unique(labels)[:5].tolist()}")


def batch_slices(n: int, batch_size: int) -> list[slice]:
    """Consecutive slices of at most ``batch_size`` covering ``range(n)``."""
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def _check_slides(X: Sequence[tuple[pd.DataFrame, np.ndarray]]) -> int:
    if len(X) == 0:
        raise InvalidParameterError("X", "a non-empty sequence of (coords, features) pairs", 0)
    dims = set()
    for i, item in enumerate(X):
        if not isinstance(item, (tuple, list)) or len(item) != 2:
            raise InvalidParameterError(f"X[{i}]", "a (coords, features) pair", type(item))
        coords, feats = item
        rows, _ = grid_indices(coords)
        feats = np.asarray(feats)
        if feats.ndim != 2 or len(feats) != len(rows):
            raise InvalidParameterError(f"X[{i}] features", f"shape ({len(rows)}, d)", feats.shape)
        if not np.all(np.isfinite(feats)):
            raise InvalidParameterError(f"X[{i}] features", "finite values", "NaN/inf")
        dims.add(feats.shape[1])
    if len(dims) != 1:
        raise InvalidParameterError("X", "features of one width for every slide", sorted(dims))
    return dims.pop()


def _augment(x: np.ndarray, t: np.ndarray, rng: np.random.Generator
             ) -> tuple[np.ndarray, np.ndarray]:
    """The same random flip / 90-degree rotation of a batch of maps and their labels."""
    if rng.uniform() < 0.5:
        x, t = x[:, :, ::-1], t[:, :, ::-1]
    if rng.uniform() < 0.5:
        x, t = x[:, ::-1], t[:, ::-1]
    if x.shape[1] == x.shape[2]:
        turns = int(rng.integers(4))
        x, t = np.rot90(x, turns, axes=(1, 2)), np.rot90(t, turns, axes=(1, 2))
    return np.ascontiguousarray(x), np.ascontiguousarray(t)


class FeatureMapUNet(BaseEstimator):
    """Separate learning: a U-Net on frozen tile embeddings laid out as feature maps.

    Parameters
    ----------
    canvas_shape : tuple of int, default (32, 32)
        Canvas (H, W) in tiles; every tissue piece must fit, and both sides must
        be divisible by ``2 ** depth``.
    base_filters, depth : int
        U-Net size (see :func:`build_unet`).
    epochs : int, default 30
        Passes over the training canvases.
    batch_size : int, default 4
        Canvases per step.
    learning_rate : float, default 1e-3
        Adam's learning rate.
    split_pieces : bool, default True
        One canvas per tissue piece (else one per slide).
    standardize : bool, default True
        Centre and scale each feature with the training tiles' mean and std.
    augment : bool, default True
        Randomly flip (and, on square canvases, rotate by 90 degrees) each
        training batch, so the U-Net learns tissue, not where on the canvas
        tumour happened to lie in the few training slides.
    random_state : int, default 0
    progress : bool, default False
        Show a progress bar over epochs.

    Attributes
    ----------
    model_ : keras.Model
    n_features_ : int
    history_ : list of float
        Mean training loss per epoch.
    """

    def __init__(
        self, *, canvas_shape: tuple[int, int] = (32, 32), base_filters: int = 16,
        depth: int = 2, epochs: int = 30, batch_size: int = 4, learning_rate: float = 1e-3,
        split_pieces: bool = True, standardize: bool = True, augment: bool = True,
        random_state: int = 0, progress: bool = False,
    ) -> None:
        self.canvas_shape = canvas_shape
        self.base_filters = base_filters
        self.depth = depth
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.split_pieces = split_pieces
        self.standardize = standardize
        self.augment = augment
        self.random_state = random_state
        self.progress = progress

    def _scaled(self, feats: np.ndarray) -> np.ndarray:
        feats = np.asarray(feats, dtype=np.float32)
        return (feats - self.mean_) / self.scale_ if self.standardize else feats

    def _layouts(self, coords: pd.DataFrame) -> list[CanvasLayout]:
        return canvas_layouts(coords, canvas_shape=tuple(self.canvas_shape),
                              split_pieces=self.split_pieces)

    def fit(self, X: Sequence[tuple[pd.DataFrame, np.ndarray]], y: Sequence[np.ndarray]
            ) -> FeatureMapUNet:
        """Fit on slides ``X`` = [(coords, features), ...] and tile labels ``y`` = [labels, ...]."""
        self.n_features_ = _check_slides(X)
        if len(y) != len(X):
            raise InvalidParameterError("y", f"{len(X)} label arrays (one per slide)", len(y))
        labels = [np.asarray(lab) for lab in y]
        for i, ((coords, _), lab) in enumerate(zip(X, labels, strict=True)):
            if lab.shape != (len(coords),) or not np.isin(lab, (-1, 0, 1)).all():
                raise InvalidParameterError(f"y[{i}]", f"{len(coords)} labels in (-1, 0, 1)",
                                            lab.shape)
        if not any((lab >= 0).any() for lab in labels):
            raise InvalidParameterError("y", "at least one labelled tile (0 or 1)", "only -1")
        all_feats = np.concatenate([np.asarray(f, np.float32) for _, f in X])
        self.mean_ = all_feats.mean(axis=0)
        self.scale_ = np.maximum(all_feats.std(axis=0), 1e-6)
        canvases = [(i, layout) for i, (coords, _) in enumerate(X)
                    for layout in self._layouts(coords)]
        keras.utils.set_random_seed(self.random_state)
        self.model_ = build_unet(canvas_shape=tuple(self.canvas_shape),
                                 n_features=self.n_features_, base_filters=self.base_filters,
                                 depth=self.depth)
        optimizer = keras.optimizers.Adam(positive_float("learning_rate", self.learning_rate))
        model = self.model_

        @tf.function
        def train_step(x: tf.Tensor, y_true: tf.Tensor) -> tf.Tensor:
            with tf.GradientTape() as tape:
                loss = masked_loss(y_true, model(x, training=True))
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            return loss

        scaled = [self._scaled(f) for _, f in X]
        rng = np.random.default_rng(self.random_state)
        epochs = range(positive_int("epochs", self.epochs))
        if self.progress:
            from tqdm.auto import tqdm

            epochs = tqdm(epochs, desc="U-Net", unit="epoch")
        self.history_ = []
        batch_size = positive_int("batch_size", self.batch_size)
        for _ in epochs:
            order = rng.permutation(len(canvases))
            losses = []
            for part in batch_slices(len(order), batch_size):
                chosen = [canvases[j] for j in order[part]]
                x = np.stack([layout.place(scaled[i]) for i, layout in chosen])
                t = np.stack([layout.place(labels[i], fill=-1) for i, layout in chosen])
                if self.augment:
                    x, t = _augment(x, t, rng)
                losses.append(float(train_step(tf.constant(x), tf.constant(t, tf.float32))))
            self.history_.append(float(np.mean(losses)))
        return self

    def save(self, folder: str | Path) -> Path:
        """Write ``unet.keras`` and ``unet.json`` (parameters, feature scaling, history).

        Both are written under temporary names and renamed, so an interrupted save
        never leaves a model that loads with the wrong scaling.
        """
        self._require_fitted()
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        state = {"params": self.get_params(), "n_features": int(self.n_features_),
                 "mean": self.mean_.tolist(), "scale": self.scale_.tolist(),
                 "history": list(self.history_), "featx_version": __version__}
        with atomic_path(folder / UNET_MODEL, suffix=".keras") as tmp_model:
            self.model_.save(tmp_model)
            write_json(folder / UNET_STATE, state)  # the model is renamed last
        return folder

    @classmethod
    def load(cls, folder: str | Path) -> FeatureMapUNet:
        """Load a U-Net written by :meth:`save`."""
        folder = Path(folder)
        if not (folder / UNET_MODEL).is_file() or not (folder / UNET_STATE).is_file():
            raise DataNotFoundError(f"U-Net in {folder}",
                                    f"Expected {UNET_MODEL} and {UNET_STATE} from FeatureMapUNet.save")
        state = json.loads((folder / UNET_STATE).read_text())
        params = dict(state["params"], canvas_shape=tuple(state["params"]["canvas_shape"]))
        model = cls(**params)
        model.model_ = keras.models.load_model(folder / UNET_MODEL, compile=False)
        model.n_features_ = state["n_features"]
        model.mean_ = np.asarray(state["mean"], np.float32)
        model.scale_ = np.asarray(state["scale"], np.float32)
        model.history_ = state["history"]
        return model

    def _require_fitted(self) -> None:
        if not hasattr(self, "model_"):
            raise NotFittedError("FeatureMapUNet", "call fit(X, y) first")

    def predict_tiles(self, X: Sequence[tuple[pd.DataFrame, np.ndarray]]) -> list[np.ndarray]:
        """Tumour probability of every tile of every slide (a list of (n_tiles,) arrays)."""
        self._require_fitted()
        if _check_slides(X) != self.n_features_:
            raise InvalidParameterError("X", f"features of width {self.n_features_}",
                                        "another width")
        out = []
        for coords, feats in X:
            probs = np.zeros(len(coords), np.float64)
            scaled = self._scaled(feats)
            for layout in self._layouts(coords):
                logits = self.model_(layout.place(scaled)[None], training=False).numpy()[0]
                probs[layout.tile_ids] = 1 / (1 + np.exp(-layout.take(logits).astype(np.float64)))
            out.append(probs)
        return out

    def predict_heatmaps(self, X: Sequence[tuple[pd.DataFrame, np.ndarray]]) -> list[np.ndarray]:
        """Tumour heatmaps (grid arrays, NaN off tissue) of every slide."""
        probs = self.predict_tiles(X)
        return [tile_heatmap(coords, p) for (coords, _), p in zip(X, probs, strict=True)]
