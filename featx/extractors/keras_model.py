"""Any Keras model as a featx extractor, and the batch engine the Xception extractors share.

:class:`KerasExtractor` wraps a user's Keras model (in memory or a saved ``.keras``
file) and one of its layers, so it plugs into the pipeline, the store and the
statistics like the built-in extractors::

    ext = KerasExtractor("my_model.keras", layer="embedding", preprocess="unit")
    features = ext(tiles)            # uint8 (N, H, W, 3) -> float32 (N, n_features)

Batches run through one ``tf.function`` whose input shape is fixed at
``(batch_size, input_px, input_px, 3)``: short batches are zero-padded and the
padding rows dropped, so the graph is traced once whatever the batch sizes.

:meth:`KerasExtractor.embed_on_device` is the GPU path: uint8 tiles go to the device
as they were read (a quarter of float32's bytes), and a device step (the per-slide
Macenko apply of :class:`featx.stain.device.DeviceMacenko`), the resize, the scaling
and the model run in one ``tf.function``, optionally compiled by XLA
(``jit_compile=True``), so the CPU only decodes the slide.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from featx._io import file_sha256
from featx._tensorflow import import_tensorflow
from featx._validate import one_of, positive_int, rgb_batch
from featx.errors import DataNotFoundError, InvalidParameterError
from featx.extractors.precision import resolve_precision, with_precision

#: Input scalings: "xception"/"tf" map [0, 255] to [-1, 1]; "unit" to [0, 1]; "none" keeps 0..255.
PREPROCESS = ("xception", "unit", "none")


def _scale(x: Any, preprocess: str) -> Any:
    if preprocess == "xception":  # keras.applications.xception.preprocess_input ("tf" mode)
        return x / 127.5 - 1.0
    if preprocess == "unit":
        return x / 255.0
    return x


class KerasExtractor:
    """Embed tiles with a layer of a Keras model.

    Parameters
    ----------
    model : keras.Model or str or Path
        The model, or a saved ``.keras`` file.
    layer : str, optional
        Name of the layer whose output is the embedding; default the model's output.
        A 4-D (spatial) output is averaged over height and width.
    name : str, optional
        Identifier written into outputs; default ``"KERAS-<model name>-<layer>"``.
    input_px : int, optional
        Tile side fed to the model; default the model's fixed input size. Tiles of
        another size are resized (bilinear, antialiased).
    preprocess : {"xception", "unit", "none"}, default "xception"
        How uint8 pixels are scaled before the model.
    batch_size : int, default 32
        Fixed inference batch; larger inputs are split, shorter ones padded.
    jit_compile : bool, default False
        Compile the forward pass (and :meth:`embed_on_device`) with XLA; on a GPU it
        fuses the element-wise work around the convolutions (measure with
        ``benchmarks/bench_extract.py --jit``). Not part of :attr:`config`: XLA
        changes only the float rounding, not what the features are.
    precision : {"float32", "bfloat16", "float16", "auto"}, default "float32"
        The arithmetic of the forward pass (:mod:`featx.extractors.precision`):
        bfloat16 on CPUs with AVX512_BF16 or AMX, float16 on GPUs; ``"auto"`` picks
        by machine (:attr:`precision_reason` says why). Features are float32 either
        way. Part of :attr:`config`, and a non-float32 precision appends ``-BF16`` or
        ``-FP16`` to :attr:`name`, so a store never mixes precisions.
    """

    def __init__(
        self,
        model: Any,
        *,
        layer: str | None = None,
        name: str | None = None,
        input_px: int | None = None,
        preprocess: str = "xception",
        batch_size: int = 32,
        jit_compile: bool = False,
        precision: str = "float32",
    ) -> None:
        import_tensorflow()  # quietly, before Keras loads it
        import keras

        self.jit_compile = bool(jit_compile)
        self._device_fns: dict[tuple[Any, ...], Any] = {}
        self.preprocess = str(one_of("preprocess", preprocess, PREPROCESS))
        self.batch_size = positive_int("batch_size", batch_size)
        self.layer = layer
        self.model_sha256: str | None = None
        if isinstance(model, (str, Path)):
            path = Path(model)
            if not path.is_file():
                raise DataNotFoundError(
                    f"Keras model file {path}",
                    "pass an existing .keras file saved with model.save(path), or a keras.Model.",
                )
            self.model_sha256 = file_sha256(path)
            model = keras.models.load_model(path, compile=False)
        if not isinstance(model, keras.Model):
            raise InvalidParameterError("model", "a keras.Model or a .keras file path", type(model))
        choice = resolve_precision(precision)
        self.precision, self.precision_reason = choice.precision, choice.reason
        self._model = with_precision(self._feature_model(model, layer), self.precision)
        fixed = self._model.input_shape[1]
        if input_px is None and fixed is None:
            raise InvalidParameterError(
                "input_px", "a positive int (the model's input size is not fixed)", None
            )
        self.input_px = positive_int("input_px", input_px if input_px is not None else fixed)
        out = self._model.output_shape
        self.n_features = int(out[-1])
        self.name = (name or f"KERAS-{model.name}-{layer or 'output'}") + choice.name_suffix
        self._forward = self._compile()

    @staticmethod
    def _feature_model(model: Any, layer: str | None) -> Any:
        import keras

        if layer is None:
            output = model.outputs[0]
        else:
            names = [lay.name for lay in model.layers]
            if layer not in names:
                raise InvalidParameterError("layer", f"one of the model's layers {names}", layer)
            output = model.get_layer(layer).output
        if len(output.shape) == 4:  # spatial map: average-pool like pooling="avg"
            output = keras.layers.GlobalAveragePooling2D(name="featx_avg_pool")(output)
        if len(output.shape) != 2:
            raise InvalidParameterError(
                "layer", "a layer with a 2-D (N, features) or 4-D (N, H, W, C) output",
                tuple(output.shape),
            )
        if len(model.inputs) != 1:
            raise InvalidParameterError("model", "a model with one image input",
                                        f"{len(model.inputs)} inputs")
        return keras.Model(model.inputs[0], output, name=f"{model.name}_features")

    def _compile(self) -> Any:
        import tensorflow as tf

        shape = (self.batch_size, self.input_px, self.input_px, 3)
        model, preprocess = self._model, self._preprocess_tensor

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.float32)], reduce_retracing=True,
                     jit_compile=self.jit_compile or None)
        def forward(x: Any) -> Any:
            return tf.cast(model(preprocess(x), training=False), tf.float32)

        @tf.function(input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8)])
        def resize(x: Any) -> Any:
            return tf.image.resize(tf.cast(x, tf.float32), (self.input_px, self.input_px),
                                   antialias=True)

        self._resize = resize
        return forward

    def _preprocess_tensor(self, x: Any) -> Any:
        """Scale float pixels in [0, 255] for the model (subclasses bring their own)."""
        return _scale(x, self.preprocess)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable identity of this extractor."""
        return {"name": self.name, "n_features": self.n_features, "input_px": self.input_px,
                "preprocess": self.preprocess, "layer": self.layer,
                "weights_sha256": self.model_sha256, "resize": "bilinear-antialias",
                "precision": self.precision}

    def prepare(self, tiles: np.ndarray) -> np.ndarray:
        """Return tiles as float32 at ``input_px`` (the step a producer thread may run early)."""
        tiles = rgb_batch("tiles", tiles)
        if tiles.shape[1:3] == (self.input_px, self.input_px):
            return tiles.astype(np.float32)
        return self._resize(tiles).numpy()

    def embed_on_device(self, tiles: np.ndarray, step: Any = None) -> tuple[np.ndarray, Any]:
        """Embed a uint8 batch with the device step, resize and model all on the device.

        Parameters
        ----------
        tiles : numpy.ndarray
            uint8 (N, H, W, 3), as read from the slide.
        step : object, optional
            A device step such as :class:`featx.stain.device.DeviceMacenko`: its
            ``tf_apply(tiles, params)`` returns (uint8 tiles, per-tile values (N,)),
            its ``params`` are the per-slide numbers and ``graph_key`` names the graph.

        Returns
        -------
        features : numpy.ndarray
            float32 (N, n_features).
        values : numpy.ndarray or None
            The step's per-tile values (the Macenko step's status codes), or None.
        """
        import tensorflow as tf

        tiles = rgb_batch("tiles", tiles)
        n, size = len(tiles), self.batch_size
        forward = self._device_fn(step, tiles.shape[1:3])
        params = tf.constant(np.zeros(0, np.float32) if step is None else step.params)
        out = np.empty((n, self.n_features), np.float32)
        values = np.empty(n, np.int64)
        for start in range(0, n, size):
            chunk = tiles[start:start + size]
            if len(chunk) < size:  # black padding: safe through the stain step, dropped after
                chunk = np.concatenate([chunk, np.zeros((size - len(chunk), *chunk.shape[1:]),
                                                        np.uint8)])
            features, counts = forward(tf.constant(chunk), params)
            keep = min(size, n - start)
            out[start:start + keep] = features.numpy()[:keep]
            values[start:start + keep] = counts.numpy()[:keep]
        return out, (None if step is None else values)

    def _device_fn(self, step: Any, tile_hw: tuple[int, int]) -> Any:
        """One traced graph per (step kind, tile size); per-slide numbers are an argument."""
        import tensorflow as tf

        key = (None if step is None else step.graph_key, tuple(tile_hw))
        if key in self._device_fns:
            return self._device_fns[key]
        model, preprocess, px = self._model, self.preprocess, self.input_px
        shape = (self.batch_size, *tile_hw, 3)

        jit = self.jit_compile or None
        # XLA compiles the stain step and the model; the antialiased resize between them
        # (ScaleAndTranslate) has no XLA kernel, so it runs as a plain TF op in the outer graph.
        stain = tf.function(step.tf_apply, jit_compile=jit) if step is not None else None
        net = tf.function(lambda x: model(_scale(x, preprocess), training=False),
                          jit_compile=jit)

        @tf.function(input_signature=[tf.TensorSpec(shape, tf.uint8),
                                      tf.TensorSpec((None,), tf.float32)])
        def forward(x: Any, params: Any) -> tuple[Any, Any]:
            counts = tf.zeros((shape[0],), tf.int32)
            if stain is not None:
                x, counts = stain(x, params)
            x = tf.cast(x, tf.float32)
            if tuple(tile_hw) != (px, px):  # the same resize as prepare() on the CPU
                x = tf.image.resize(x, (px, px), antialias=True)
            return tf.cast(net(x), tf.float32), counts

        self._device_fns[key] = forward
        return forward

    def __call__(self, tiles: np.ndarray) -> np.ndarray:
        """Embed a uint8 batch (N, H, W, 3), or a prepared float32 one, into (N, n_features)."""
        if not (isinstance(tiles, np.ndarray) and tiles.dtype == np.float32
                and tiles.shape[1:] == (self.input_px, self.input_px, 3)):
            tiles = self.prepare(tiles)
        n, size = len(tiles), self.batch_size
        out = np.empty((n, self.n_features), np.float32)
        for start in range(0, n, size):
            chunk = tiles[start:start + size]
            if len(chunk) < size:  # pad so the traced graph always sees one shape
                pad = np.zeros((size - len(chunk), *chunk.shape[1:]), np.float32)
                chunk = np.concatenate([chunk, pad])
            out[start:start + size] = self._forward(chunk).numpy()[: min(size, n - start)]
        return out
