"""End-to-end training of the extractor under a feature-map U-Net, in bounded memory.

The extractor learns too, without ever holding a whole slide's activations:
(1) run the extractor forward, mini-batch by mini-batch, with no tape, keeping only
the feature map x; (2) compute the U-Net loss L and dL/dx on the map; (3) for each
mini-batch again, recompute its features f with a tape and take the gradient of
L' = sum(dL/dx . f) with respect to the extractor. By the chain rule, summed over
mini-batches this is exactly dL/dtheta, and memory is bounded by one mini-batch's
activations plus the map, whatever the slide's size.
:func:`full_backprop_gradients` does the same in one tape, for checks.

This module imports TensorFlow at import time (the layering test lists it).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from featx._validate import one_of, positive_float, positive_int
from featx.errors import InvalidParameterError
from featx.slidescore.unet import batch_slices, check_tile_labels, masked_loss
from featx.wsi.tile_grid import CanvasLayout, canvas_layouts
from featx.wsi.tiling import read_tiles

#: A slide's tiles: a uint8 array (n_tiles, px, px, 3), or a function giving the
#: tiles at given positions of the slide's tile table (so tiles can be read lazily).
TileSource = np.ndarray | Callable[[np.ndarray], np.ndarray]


def _tiles_at(tiles: TileSource, ids: np.ndarray) -> np.ndarray:
    return tiles(ids) if callable(tiles) else np.asarray(tiles)[ids]


def _default_preprocess(tiles: np.ndarray) -> tf.Tensor:
    return tf.cast(tiles, tf.float32) / 255.0


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
    check_tile_labels(labels, int(ids.max()) + 1)
    # (1) Forward only: keep the feature map, drop every activation.
    feature_map = None
    for part in batch_slices(len(ids), batch_size):
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
    for part in batch_slices(len(ids), batch_size):
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
