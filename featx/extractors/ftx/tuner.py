"""FTX-2048: two-step fine-tuning of ImageNet Xception on a class-per-folder tile set.

The model (the Journal of Pathology Informatics recipe) is in
:mod:`featx.extractors.ftx.model`, the data and augmentations in
:mod:`featx.extractors.ftx.data`.

Step 1 freezes Part A and trains Part B with Adam (lr 4e-4); step 2 freezes Part B
and trains Part A with Adam (lr 5e-5); batch 128 in both. The extractor
(:class:`~featx.extractors.ftx.extractor.FineTunedXception`) returns the 2048 ReLU
activations of ``ftx_dense_2048``.

Training data are one folder per class of tiles (``.tif``, ``.png``, ``.jpg``), the
layout NCT-CRC-HE-100K ships in. Tiles are resized to ``input_px``, optionally
stain-normalised by any callable on uint8 batches (e.g.
``MacenkoNormalizer().fit(target).transform``), and augmented with the changes
histology is invariant to: 90/180/270 degree rotations, flips, colour jitter
(brightness, contrast, saturation) and Gaussian blur. A stratified, seeded part
is held out for validation.

Every epoch writes a checkpoint (the whole model with its optimizer state) and a
JSON state, atomically, and the end of step 1 keeps ``ftx2048_step1.weights.h5``;
:meth:`XceptionFineTuner.fit` on the same folder resumes from them after an
interruption. The result is ``ftx2048.keras`` plus the model card
``ftx2048.card.json``; the checkpoint is deleted then, and fitting a finished
folder again only rewrites the card.

With ``step1_cached_features=True`` step 1 trains Part B on backbone features
computed once (Part A is frozen then, so they do not change), which is much faster
but sees no augmentation in step 1; the card records the choice.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from featx import __version__
from featx._io import atomic_path, file_sha256, write_json
from featx._provenance import config_of
from featx._tensorflow import import_tensorflow
from featx._validate import (
    fits_in_memory,
    fraction,
    non_negative_int,
    positive_float,
    positive_int,
    tile_px,
)
from featx.errors import InvalidParameterError, ResumeMismatchError
from featx.extractors.ftx.data import (
    AUGMENTATIONS,
    TileDataset,
    augment_batch,
    load_tile,
    read_tile_folder,
    stratified_split,
)
from featx.extractors.ftx.model import (
    CARD_FILE,
    CHECKPOINT_FILE,
    DENSE_NAME,
    MODEL_FILE,
    STATE_FILE,
    STEP1_WEIGHTS,
    build_ftx_model,
    part_b_layers,
    set_step,
)


def _on_terminal() -> bool:
    """Whether stdout (where Keras draws its bars) and stderr are both a terminal."""
    return all(getattr(stream, "isatty", lambda: False)() for stream in (sys.stdout, sys.stderr))


class XceptionFineTuner:
    """Train FTX-2048 in two steps on a class-per-folder tile set.

    Parameters
    ----------
    out_dir : str or Path
        Where checkpoints, the state, the model and its card go.
    base_weights : str or Path, optional
        ImageNet Xception weights file (see :mod:`featx.extractors.weights`).
    input_px : int, default 224
        Tile side fed to the network (tiles are resized to it; >= 71).
    epochs_step1, epochs_step2 : int, default 10, 10
        Epochs of step 1 (Part B trained) and step 2 (Part A trained). The paper's
        epoch counts are not in our notes; 10 each is our default.
    batch_size : int, default 128
        The paper's batch size for both steps.
    lr_step1, lr_step2 : float, default 4e-4, 5e-5
        Adam learning rates of the two steps (the paper's).
    steps_per_epoch : int, optional
        Cap the batches per epoch (quick runs); default one pass over the training tiles.
    val_fraction : float, default 0.1
        Stratified held-out share for validation accuracy.
    augment : bool, default True
        Apply :func:`augment_batch` to training batches.
    normalizer : callable, optional
        ``uint8 (N, H, W, 3) -> uint8 (N, H, W, 3)`` stain normaliser applied to every
        batch, e.g. a fitted ``MacenkoNormalizer().transform``.
    step1_cached_features : bool, default False
        Train step 1 on backbone features computed once (no augmentation in step 1).
    max_per_class : int, optional
        Use at most this many tiles per class.
    seed : int, default 0
        Seeds the split, the head's initialisation and the augmentations.
    progress : bool, default False
        Say each step and epoch on stderr: Keras's progress bars on a terminal, one plain
        line per epoch elsewhere (a pipe, a log file).

    Attributes
    ----------
    model_path_ : Path
        The saved ``ftx2048.keras``.
    card_ : dict
        The model card (also written to ``ftx2048.card.json``).
    history_ : list of dict
        Per-epoch step, epoch, loss, accuracy and validation accuracy.
    classes_ : tuple of str
        Class names in output order.
    """

    def __init__(
        self,
        *,
        out_dir: str | Path,
        base_weights: str | Path | None = None,
        input_px: int = 224,
        epochs_step1: int = 10,
        epochs_step2: int = 10,
        batch_size: int = 128,
        lr_step1: float = 4e-4,
        lr_step2: float = 5e-5,
        steps_per_epoch: int | None = None,
        val_fraction: float = 0.1,
        augment: bool = True,
        normalizer: Callable[[np.ndarray], np.ndarray] | None = None,
        step1_cached_features: bool = False,
        max_per_class: int | None = None,
        seed: int = 0,
        progress: bool = False,
    ) -> None:
        self.out_dir = out_dir
        self.base_weights = base_weights
        self.input_px = input_px
        self.epochs_step1 = epochs_step1
        self.epochs_step2 = epochs_step2
        self.batch_size = batch_size
        self.lr_step1 = lr_step1
        self.lr_step2 = lr_step2
        self.steps_per_epoch = steps_per_epoch
        self.val_fraction = val_fraction
        self.augment = augment
        self.normalizer = normalizer
        self.step1_cached_features = step1_cached_features
        self.max_per_class = max_per_class
        self.seed = seed
        self.progress = progress

    # -- settings -------------------------------------------------------------------------
    def _check(self) -> None:
        from featx.extractors.xception import MIN_INPUT_PX

        if tile_px("input_px", self.input_px) < MIN_INPUT_PX:
            raise InvalidParameterError("input_px", f"an int >= {MIN_INPUT_PX}", self.input_px)
        non_negative_int("epochs_step1", self.epochs_step1)
        non_negative_int("epochs_step2", self.epochs_step2)
        positive_int("batch_size", self.batch_size)
        # A batch as float32 input, before TensorFlow allocates it (activations come on top).
        fits_in_memory(f"a batch of {self.batch_size} tiles of {self.input_px} px",
                       self.batch_size * self.input_px**2 * 3 * 4.0,
                       fix="lower --batch-size or --input-px")
        positive_float("lr_step1", self.lr_step1)
        positive_float("lr_step2", self.lr_step2)
        if self.steps_per_epoch is not None:
            positive_int("steps_per_epoch", self.steps_per_epoch)
        if not 0 < fraction("val_fraction", self.val_fraction) < 1:
            raise InvalidParameterError("val_fraction", "a number in (0, 1)", self.val_fraction)
        if self.normalizer is not None and not callable(self.normalizer):
            raise InvalidParameterError("normalizer", "a callable on uint8 batches or None",
                                        type(self.normalizer))

    def _normalizer_config(self) -> Any:
        return config_of(self.normalizer)

    def _schedule(self, n_train: int) -> list[dict[str, Any]]:
        per_epoch = -(-n_train // self.batch_size)
        steps = min(per_epoch, self.steps_per_epoch or per_epoch)
        return [
            {"step": 1, "trained": "part B (Dense(2048)+ReLU, Dense(n_classes) softmax)",
             "frozen": "part A (Xception base)", "optimizer": "adam", "lr": self.lr_step1,
             "epochs": self.epochs_step1, "batch_size": self.batch_size,
             "steps_per_epoch": steps, "cached_backbone_features": self.step1_cached_features,
             "augmentations": [] if self.step1_cached_features or not self.augment
             else list(AUGMENTATIONS)},
            {"step": 2, "trained": "part A (Xception base)", "frozen": "part B",
             "optimizer": "adam", "lr": self.lr_step2, "epochs": self.epochs_step2,
             "batch_size": self.batch_size, "steps_per_epoch": steps,
             "cached_backbone_features": False,
             "augmentations": list(AUGMENTATIONS) if self.augment else []},
        ]

    # -- data -----------------------------------------------------------------------------
    def _dataset(self, data: TileDataset, index: np.ndarray, *, train: bool) -> Any:
        tf = import_tensorflow()

        px, norm = int(self.input_px), self.normalizer
        paths = np.array([str(p) for p in data.paths])[index]
        ds = tf.data.Dataset.from_tensor_slices((paths, data.labels[index]))
        if train:
            ds = ds.shuffle(len(index), seed=self.seed, reshuffle_each_iteration=True).repeat()

        def load(path: Any, label: Any) -> tuple[Any, Any]:
            tile = tf.numpy_function(lambda p: load_tile(p.decode(), px), [path], tf.uint8)
            return tf.ensure_shape(tile, (px, px, 3)), label

        ds = ds.map(load, num_parallel_calls=tf.data.AUTOTUNE)
        ds = ds.batch(int(self.batch_size), drop_remainder=False)
        if norm is not None:
            def normalise(x: Any, y: Any) -> tuple[Any, Any]:
                out = tf.numpy_function(lambda b: np.asarray(norm(b), np.uint8), [x], tf.uint8)
                return tf.ensure_shape(out, (None, px, px, 3)), y
            ds = ds.map(normalise)
        ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
        if train and self.augment:
            ds = ds.map(lambda x, y: (augment_batch(x), y))
        return ds.prefetch(2)

    # -- training -------------------------------------------------------------------------
    def fit(self, data: str | Path | TileDataset, y: object = None) -> XceptionFineTuner:
        """Train (or resume training) and save the model and its card.

        Parameters
        ----------
        data : str or Path or TileDataset
            A class-per-folder tile folder, or a listing of one.
        y : ignored
            Labels come from the folders.

        Returns
        -------
        self
        """
        self._check()
        if not isinstance(data, TileDataset):  # a wrong folder fails before TensorFlow loads
            data = read_tile_folder(data, max_per_class=self.max_per_class, seed=self.seed)
        import_tensorflow()  # quietly, before Keras loads it
        import keras

        out = Path(self.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        train_idx, val_idx = stratified_split(data.labels, val_fraction=self.val_fraction,
                                              seed=self.seed)
        fingerprint = {"data_hash": data.data_hash(), "classes": list(data.classes),
                       "schedule": self._schedule(len(train_idx)), "input_px": self.input_px,
                       "seed": self.seed, "val_fraction": self.val_fraction,
                       "normalizer": self._normalizer_config()}
        state = self._load_state(out, fingerprint)
        keras.utils.set_random_seed(self.seed)
        if state is None:
            model, source = build_ftx_model(len(data.classes), base_weights=self.base_weights,
                                            input_px=self.input_px, seed=self.seed)
            state = {"fingerprint": fingerprint, "base": source, "history": [],
                     "step": 1, "epochs_done": 0, "val_accuracy": {}, "done": False}
        elif state["done"] and (out / MODEL_FILE).exists():
            model = None  # finished earlier: only the card is (re)written
        else:
            model = keras.models.load_model(out / CHECKPOINT_FILE)
        val_ds = self._dataset(data, val_idx, train=False)
        epochs = {1: self.epochs_step1, 2: self.epochs_step2}
        lrs = {1: self.lr_step1, 2: self.lr_step2}
        steps = fingerprint["schedule"][0]["steps_per_epoch"]
        while not state["done"]:
            step = state["step"]
            set_step(model, step)
            if state["epochs_done"] == 0 or getattr(model, "optimizer", None) is None:
                # A new step gets a new Adam; mid-step the checkpoint's optimizer state goes on.
                model.compile(optimizer=keras.optimizers.Adam(lrs[step]),
                              loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            if state["epochs_done"] < epochs[step]:
                if self.progress:  # Keras's own bars say neither the step nor the epoch
                    print(f"FTX-2048 step {step} of 2 ("
                          f"{'head, Xception frozen' if step == 1 else 'Xception, head frozen'})"
                          f": epoch {state['epochs_done'] + 1} of {epochs[step]}, {steps} "
                          "batches, then validation", file=sys.stderr, flush=True)
                record = self._epoch(model, data, train_idx, val_ds, step, steps,
                                     len(state["history"]))
                record.update(step=step, epoch=state["epochs_done"] + 1)
                state["history"].append(record)
                state["epochs_done"] += 1
                state["val_accuracy"][str(step)] = record["val_accuracy"]
            if state["epochs_done"] >= epochs[step]:
                if step == 1:  # keep the step-1 model: the card's step-1 accuracy is its
                    with atomic_path(out / STEP1_WEIGHTS, suffix=".weights.h5") as tmp:
                        model.save_weights(tmp)
                    state["step"], state["epochs_done"] = 2, 0
                else:
                    state["done"] = True
            self._checkpoint(model, out, state)
        return self._finish(model, out, data, train_idx, val_idx, state)

    def _epoch(self, model: Any, data: TileDataset, train_idx: np.ndarray, val_ds: Any,
               step: int, steps: int, epoch_index: int) -> dict[str, float]:
        # Keras's bars redraw with escape codes: on a terminal only, never into a pipe or log.
        bars = self.progress and _on_terminal()
        verbose = 1 if bars else 0
        if step == 1 and self.step1_cached_features:
            feats, labels = self._cached_features(model, data, train_idx)
            head = self._head(model)
            rng = np.random.default_rng(self.seed + epoch_index)
            order = rng.permutation(len(labels))[: steps * int(self.batch_size)]
            fit = head.fit(feats[order], labels[order], batch_size=int(self.batch_size),
                           epochs=1, shuffle=True, verbose=verbose)
        else:
            fit = model.fit(self._dataset(data, train_idx, train=True), epochs=1,
                            steps_per_epoch=steps, shuffle=False, verbose=verbose)
        _, val_acc = model.evaluate(val_ds, verbose=verbose)
        record = {"loss": float(fit.history["loss"][-1]),
                  "accuracy": float(fit.history["accuracy"][-1]),
                  "val_accuracy": float(val_acc)}
        if self.progress and not bars:
            print(f"  loss {record['loss']:.3f}, accuracy {record['accuracy']:.3f}, "
                  f"validation accuracy {record['val_accuracy']:.3f}", file=sys.stderr,
                  flush=True)
        return record

    def _cached_features(self, model: Any, data: TileDataset,
                         train_idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Backbone features of the (un-augmented) training tiles, computed once per fit."""
        cache = getattr(self, "_feature_cache", None)
        if cache is None:
            import keras

            backbone = keras.Model(model.input, model.get_layer(DENSE_NAME).input)
            saved = self.augment
            self.augment = False
            try:
                ds = self._dataset(data, train_idx, train=False)
            finally:
                self.augment = saved
            feats = backbone.predict(ds.map(lambda x, y: x), verbose=0)
            cache = self._feature_cache = (feats.astype(np.float32), data.labels[train_idx])
        return cache

    def _head(self, model: Any) -> Any:
        """Part B as its own model sharing the layers and the full model's optimizer.

        In step 1 the full model's trainable variables are exactly Part B's, so one
        Adam serves both and its state is saved (and resumed) with the checkpoint. The
        head is built and compiled once per model: a new one per epoch would trace new
        training functions every epoch (TensorFlow's "triggered tf.function retracing").
        """
        cached = getattr(self, "_head_cache", None)
        if cached is not None and cached[0] is model and cached[1] is model.optimizer:
            return cached[2]
        import keras

        dense, softmax = part_b_layers(model)
        inputs = keras.Input((2048,))
        head = keras.Model(inputs, softmax(dense(inputs)))
        head.compile(optimizer=model.optimizer, loss="sparse_categorical_crossentropy",
                     metrics=["accuracy"])
        self._head_cache = (model, model.optimizer, head)
        return head

    def _load_state(self, out: Path, fingerprint: dict[str, Any]) -> dict[str, Any] | None:
        path = out / STATE_FILE
        if not path.exists():
            return None
        state = json.loads(path.read_text())
        finished = state.get("done") and (out / MODEL_FILE).exists()
        if not finished and not (out / CHECKPOINT_FILE).exists():
            return None
        if state.get("fingerprint") != json.loads(json.dumps(fingerprint)):
            raise ResumeMismatchError(
                out, f"data or settings (its {STATE_FILE} differs from this run's data hash, "
                "classes or schedule)")
        return state

    @staticmethod
    def _checkpoint(model: Any, out: Path, state: dict[str, Any]) -> None:
        """Write the model (with optimizer state), then the JSON state, each atomically."""
        with atomic_path(out / CHECKPOINT_FILE, suffix=".keras") as tmp:
            model.save(tmp)
        write_json(out / STATE_FILE, state)

    def _finish(self, model: Any, out: Path, data: TileDataset, train_idx: np.ndarray,
                val_idx: np.ndarray, state: dict[str, Any]) -> XceptionFineTuner:
        import keras
        import tensorflow as tf

        final = out / MODEL_FILE
        if not final.exists():
            with atomic_path(final, suffix=".keras") as tmp:
                model.save(tmp)
        fp = state["fingerprint"]
        card = {
            "name": "FTX-2048", "featx_version": __version__,
            "tensorflow_version": tf.__version__, "keras_version": keras.__version__,
            "model_file": MODEL_FILE, "model_sha256": file_sha256(final),
            "feature_layer": DENSE_NAME, "n_features": 2048, "input_px": self.input_px,
            "input": "float32 RGB in [0, 255]; the model rescales to [-1, 1] itself",
            "classes": list(data.classes), "data_root": str(data.root),
            "data_hash": fp["data_hash"], "data_hash_method": "sha256 of class/path/size listing",
            "tile_counts": {"train": data.counts(train_idx), "validation": data.counts(val_idx)},
            "validation": {"fraction": self.val_fraction, "split": "stratified", "seed": self.seed},
            "schedule": fp["schedule"], "normalizer": fp["normalizer"],
            "validation_accuracy": {f"step{k}": v for k, v in state["val_accuracy"].items()},
            "history": state["history"],
            "base_weights": state["base"]["weights"],
            "base_weights_sha256": state["base"]["weights_sha256"],
        }
        write_json(out / CARD_FILE, card)
        # The checkpoint (model + Adam moments, ~4x the weights) is only for resuming.
        (out / CHECKPOINT_FILE).unlink(missing_ok=True)
        self.model_path_, self.card_ = final, card
        self.history_, self.classes_ = state["history"], tuple(data.classes)
        return self
