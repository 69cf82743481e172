"""A U-Net over the slide's grid of tile embeddings, trained separately or end to end.

From the multi-stage paper. A patch extractor's features are laid on the tile
grid as a feature map ``[rows, cols, d]`` (each tissue piece centred on a
fixed-size, zero-padded canvas, :func:`featx.tilegrid.canvas_layouts`); a U-Net
over that map predicts a tumour map. The loss is a binary cross-entropy masked
to labelled tiles (labels 1 tumour, 0 normal; -1 unlabelled and the padding
give no loss).

Two ways to learn:

- **Separately** (:class:`FeatureMapUNet`): features come from a frozen
  extractor; only the U-Net learns.
- **End to end** (:func:`end_to_end_gradients`, :func:`end_to_end_step`): the
  extractor learns too, without ever holding a whole slide's activations.
  (1) run the extractor forward, mini-batch by mini-batch, with no tape, keeping
  only the feature map x; (2) compute the U-Net loss L and dL/dx on the map;
  (3) for each mini-batch again, recompute its features f with a tape and take
  the gradient of L' = sum(dL/dx . f) with respect to the extractor. By the
  chain rule, summed over mini-batches this is exactly dL/dtheta, and memory is
  bounded by one mini-batch's activations plus the map, whatever the slide's
  size. :func:`full_backprop_gradients` does the same in one tape, for checks.

This module imports TensorFlow; nothing else in featx does at import time.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.base import BaseEstimator

from featx import __version__
from featx._validate import one_of, positive_float, positive_int
from featx.atomic import atomic_path
from featx.errors import DataNotFoundError, InvalidParameterError
from featx.heatmap import tile_heatmap
from featx.tilegrid import CanvasLayout, canvas_layouts, grid_indices

#: Files written by :meth:`FeatureMapUNet.save`.
UNET_MODEL, UNET_STATE = "unet.keras", "unet.json"

#: A slide's tiles: a uint8 array (n_tiles, px, px, 3), or a function giving the
#: tiles at given positions of the slide's tile table (so tiles can be read lazily).
TileSource = np.ndarray | Callable[[np.ndarray], np.ndarray]


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


def _check_labels(labels: np.ndarray, min_len: int) -> None:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) < min_len or not np.isin(labels, (-1, 0, 1)).all():
        raise InvalidParameterError(
            "labels", "the slide's tile labels: one of -1, 0, 1 per row of its tile table",
            f"shape {labels.shape}, values {np.unique(labels)[:5].tolist()}")


def _tiles_at(tiles: TileSource, ids: np.ndarray) -> np.ndarray:
    return tiles(ids) if callable(tiles) else np.asarray(tiles)[ids]


def _default_preprocess(tiles: np.ndarray) -> tf.Tensor:
    return tf.cast(tiles, tf.float32) / 255.0


def _batches(n: int, batch_size: int) -> list[slice]:
    return [slice(start, min(start + batch_size, n)) for start in range(0, n, batch_size)]


def end_to_end_gradients(
    extractor: keras.Model,
    unet: keras.Model,
    tiles: TileSource,
    layout: CanvasLayout,
    labels: np.ndarray,
    *,
    batch_size: int = 32,
    preprocess: Callable[[np.ndarray], tf.Tensor] | None = None,
    on_batch: Callable[[list[tf.Tensor]], None] | None = None,
) -> tuple[float, list[tf.Tensor], list[tf.Tensor] | None]:
    """Loss and gradients of U-Net and extractor, with memory bounded by one mini-batch.

    Parameters
    ----------
    extractor : keras.Model
        Maps preprocessed tiles (B, px, px, 3) to features (B, d); run with
        ``training=False`` in both passes, so both see the same function (batch
        norm in inference mode, no dropout).
    unet : keras.Model
        From :func:`build_unet`, for this canvas shape and d.
    tiles : numpy.ndarray or callable
        The slide's tiles (see :data:`TileSource`); read one mini-batch at a time.
    layout : CanvasLayout
        Where this piece's tiles sit on the canvas.
    labels : numpy.ndarray, shape (n_tiles,)
        The slide's tile labels (1, 0, -1).
    batch_size : int, default 32
        Tiles per extractor mini-batch.
    preprocess : callable, optional
        uint8 tiles -> model input; default scales to [0, 1].
    on_batch : callable, optional
        Called with each mini-batch's extractor gradients instead of summing
        them (then the returned extractor gradients are None): apply them at
        once for mini-batch-wise updates as in the paper.

    Returns
    -------
    loss : float
    unet_gradients : list of tf.Tensor
    extractor_gradients : list of tf.Tensor or None
        Sum over mini-batches of d(sum(dL/dx . f))/dtheta, which equals dL/dtheta.
    """
    batch_size = positive_int("batch_size", batch_size)
    preprocess = preprocess or _default_preprocess
    ids = layout.tile_ids
    _check_labels(labels, int(ids.max()) + 1)
    # (1) Forward only: keep the feature map, drop every activation.
    feature_map = None
    for part in _batches(len(ids), batch_size):
        feats = extractor(preprocess(_tiles_at(tiles, ids[part])), training=False).numpy()
        if feats.ndim != 2:
            raise InvalidParameterError("extractor", "a model whose output is (batch, d)",
                                        feats.shape)
        if feature_map is None:
            feature_map = np.zeros(layout.canvas_shape + (feats.shape[1],), np.float32)
        feature_map[layout.rows[part], layout.cols[part]] = feats
    # (2) U-Net loss and its gradient at the map.
    x = tf.constant(feature_map[None])
    y = tf.constant(layout.place(labels, fill=-1)[None], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = masked_loss(y, unet(x, training=True))
    grads = tape.gradient(loss, [x] + unet.trainable_variables)
    dl_dx = grads[0].numpy()[0][layout.rows, layout.cols]  # (n_piece_tiles, d)
    del x, feature_map
    # (3) Recompute each mini-batch with a tape; L' = sum(dL/dx . f) pulls dL/dx into the extractor.
    total = None
    for part in _batches(len(ids), batch_size):
        with tf.GradientTape() as tape:
            feats = extractor(preprocess(_tiles_at(tiles, ids[part])), training=False)
            surrogate = tf.reduce_sum(tf.constant(dl_dx[part]) * feats)
        batch_grads = tape.gradient(surrogate, extractor.trainable_variables)
        if on_batch is not None:
            on_batch(batch_grads)
        elif total is None:
            total = list(batch_grads)
        else:
            total = [a + b for a, b in zip(total, batch_grads, strict=True)]
    return float(loss), grads[1:], total


def full_backprop_gradients(
    extractor: keras.Model,
    unet: keras.Model,
    tiles: TileSource,
    layout: CanvasLayout,
    labels: np.ndarray,
    *,
    preprocess: Callable[[np.ndarray], tf.Tensor] | None = None,
) -> tuple[float, list[tf.Tensor], list[tf.Tensor]]:
    """The same loss and gradients by plain backpropagation through every tile at once.

    Holds every tile's activations: use it only to check
    :func:`end_to_end_gradients` on small slides.
    """
    preprocess = preprocess or _default_preprocess
    ids = layout.tile_ids
    y = tf.constant(layout.place(labels, fill=-1)[None], tf.float32)
    cells = np.stack([layout.rows, layout.cols], axis=1)
    with tf.GradientTape() as tape:
        feats = extractor(preprocess(_tiles_at(tiles, ids)), training=False)
        x = tf.scatter_nd(cells, feats, layout.canvas_shape + (feats.shape[1],))[None]
        loss = masked_loss(y, unet(x, training=True))
    grads = tape.gradient(loss, unet.trainable_variables + extractor.trainable_variables)
    n_unet = len(unet.trainable_variables)
    return float(loss), grads[:n_unet], grads[n_unet:]


def end_to_end_step(
    extractor: keras.Model,
    unet: keras.Model,
    tiles: TileSource,
    layout: CanvasLayout,
    labels: np.ndarray,
    *,
    extractor_optimizer: keras.optimizers.Optimizer,
    unet_optimizer: keras.optimizers.Optimizer,
    batch_size: int = 32,
    extractor_update: str = "slide",
    preprocess: Callable[[np.ndarray], tf.Tensor] | None = None,
) -> float:
    """One end-to-end training step on one tissue piece; returns the loss before the step.

    Parameters
    ----------
    extractor_update : {"slide", "batch"}, default "slide"
        ``"slide"``: sum the mini-batch gradients (exactly dL/dtheta) and apply
        once. ``"batch"``: apply each mini-batch's gradient as it comes (the
        paper's mini-batch-wise training).
    Other parameters
        See :func:`end_to_end_gradients`.
    """
    one_of("extractor_update", extractor_update, ("slide", "batch"))
    variables = extractor.trainable_variables

    def apply(batch_grads: list[tf.Tensor]) -> None:
        extractor_optimizer.apply_gradients(zip(batch_grads, variables, strict=True))

    loss, unet_grads, extractor_grads = end_to_end_gradients(
        extractor, unet, tiles, layout, labels, batch_size=batch_size, preprocess=preprocess,
        on_batch=apply if extractor_update == "batch" else None,
    )
    unet_optimizer.apply_gradients(zip(unet_grads, unet.trainable_variables, strict=True))
    if extractor_grads is not None:
        apply(extractor_grads)
    return loss


def slide_tile_loader(slide: object, coords: pd.DataFrame) -> Callable[[np.ndarray], np.ndarray]:
    """A :data:`TileSource` that reads the requested tiles from an open slide on demand.

    With it, end-to-end training never holds more than one mini-batch of a
    slide's pixels.
    """
    from featx.tiling import read_tiles

    def load(ids: np.ndarray) -> np.ndarray:
        return read_tiles(slide, coords.iloc[np.asarray(ids)])

    return load


def train_end_to_end(
    extractor: keras.Model,
    unet: keras.Model,
    slides: Sequence[tuple[TileSource, pd.DataFrame, np.ndarray]],
    *,
    epochs: int = 1,
    extractor_learning_rate: float = 1e-5,
    unet_learning_rate: float = 1e-3,
    batch_size: int = 32,
    extractor_update: str = "slide",
    split_pieces: bool = True,
    preprocess: Callable[[np.ndarray], tf.Tensor] | None = None,
    random_state: int = 0,
    progress: bool = False,
) -> list[float]:
    """Train extractor and U-Net together, one tissue piece per step (Adam for both).

    Parameters
    ----------
    extractor, unet : keras.Model
        The patch extractor and a U-Net from :func:`build_unet` whose canvas
        holds every tissue piece.
    slides : sequence of (tiles, coords, labels)
        Per slide: its :data:`TileSource` (e.g. :func:`slide_tile_loader`), its
        tile table and its tile labels (1, 0, -1).
    epochs : int, default 1
        Passes over all pieces, in a random order each time.
    extractor_learning_rate, unet_learning_rate : float
        Adam learning rates (the extractor is fine-tuned gently).
    batch_size, extractor_update, preprocess
        See :func:`end_to_end_step`.
    split_pieces : bool, default True
        One canvas per tissue piece.
    random_state : int, default 0
        Seed of the order.
    progress : bool, default False
        Show a progress bar over steps.

    Returns
    -------
    list of float
        The loss of every step, in order.
    """
    canvas = tuple(unet.input_shape[1:3])
    steps = [(i, layout) for i, (_, coords, _) in enumerate(slides)
             for layout in canvas_layouts(coords, canvas_shape=canvas, split_pieces=split_pieces)]
    if not steps:
        raise InvalidParameterError("slides", "at least one slide with tissue tiles", len(slides))
    opt_e = keras.optimizers.Adam(positive_float("extractor_learning_rate",
                                                 extractor_learning_rate))
    opt_u = keras.optimizers.Adam(positive_float("unet_learning_rate", unet_learning_rate))
    rng = np.random.default_rng(random_state)
    order = [j for _ in range(positive_int("epochs", epochs)) for j in rng.permutation(len(steps))]
    if progress:
        from tqdm.auto import tqdm

        order = tqdm(order, desc="end-to-end", unit="piece")
    losses = []
    for j in order:
        i, layout = steps[j]
        tiles, _, labels = slides[i]
        losses.append(end_to_end_step(
            extractor, unet, tiles, layout, np.asarray(labels), extractor_optimizer=opt_e,
            unet_optimizer=opt_u, batch_size=batch_size, extractor_update=extractor_update,
            preprocess=preprocess))
    return losses


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
            for part in _batches(len(order), batch_size):
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
        tmp_model = folder / f".unet.{os.getpid()}.keras"
        self.model_.save(tmp_model)
        with atomic_path(folder / UNET_STATE) as tmp:
            tmp.write_text(json.dumps(state, indent=2))
        os.replace(tmp_model, folder / UNET_MODEL)
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
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("FeatureMapUNet is not fitted; call fit(X, y) first")

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
