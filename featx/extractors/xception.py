"""IMGNET-2048: the frozen ImageNet Xception base, average-pooled to 2048 features.

``keras.applications.Xception(include_top=False, pooling="avg")`` with ImageNet
weights and Xception's own preprocessing (pixels scaled to [-1, 1]). Where the
weights come from is :func:`featx.extractors.weights.resolve_xception_weights`;
their sha256 is part of :attr:`ImagenetXception.config`.

``weights="random"`` builds the same network with Keras's default initialisers
under a seed: the usual "does pre-training matter" control.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featx._io import file_sha256
from featx._tensorflow import import_tensorflow
from featx._validate import non_negative_int, positive_int
from featx.errors import InvalidParameterError
from featx.extractors.keras_model import KerasExtractor
from featx.extractors.weights import resolve_xception_weights

#: Smallest input Xception accepts (its stride-32 trunk needs >= 71 px).
MIN_INPUT_PX = 71


def build_xception_base(
    weights: str | Path | None = None, *, seed: int = 0
) -> tuple[Any, dict[str, Any]]:
    """Build Xception's convolutional base with average pooling, any input size.

    Parameters
    ----------
    weights : str or Path or None
        A weights file, ``None`` to resolve the ImageNet weights (see
        :mod:`featx.extractors.weights`), or ``"random"`` for seeded random weights.
    seed : int, default 0
        Seed of the random initialisation (used with ``weights="random"``).

    Returns
    -------
    model : keras.Model
        Maps float (N, H, W, 3) in [-1, 1] to (N, 2048).
    source : dict
        ``{"weights": "imagenet" | "random", "weights_path", "weights_sha256", "seed"}``.
    """
    import_tensorflow()  # quietly, before Keras loads it
    import keras

    if weights == "random":
        keras.utils.set_random_seed(non_negative_int("seed", seed))
    model = keras.applications.Xception(
        include_top=False, pooling="avg", weights=None, input_shape=(None, None, 3)
    )
    if weights == "random":
        return model, {"weights": "random", "weights_path": None, "weights_sha256": None,
                       "seed": seed}
    path = resolve_xception_weights(weights)
    try:
        model.load_weights(str(path))
    except Exception as error:  # noqa: BLE001 - h5py/keras raise many types for a bad file
        raise InvalidParameterError(
            "weights", "a Keras weights file for Xception(include_top=False)",
            f"{path} ({type(error).__name__}: {error})",
        ) from error
    return model, {"weights": "imagenet", "weights_path": str(path),
                   "weights_sha256": file_sha256(path), "seed": None}


class ImagenetXception(KerasExtractor):
    """IMGNET-2048: frozen ImageNet Xception features.

    Parameters
    ----------
    weights : str or Path, optional
        A weights file; default: ``$FEATX_XCEPTION_WEIGHTS``, the featx data folder,
        then Keras's cache/download. ``"random"`` gives the same network with
        seeded random weights (name ``"RANDOM-XCEPTION-2048"``).
    input_px : int, default 224
        Tile side fed to the network (224 as in the paper's tiles; 299 is Xception's
        native size; at least 71). Other tile sizes are resized to it.
    batch_size : int, default 32
        Fixed inference batch.
    seed : int, default 0
        Seed for ``weights="random"``.
    jit_compile : bool, default False
        Compile the forward pass with XLA (see :class:`KerasExtractor`).
    precision : {"float32", "bfloat16", "float16", "auto"}, default "float32"
        The forward pass's arithmetic (see :class:`KerasExtractor`); bfloat16 and
        float16 name the extractor ``IMGNET-2048-BF16`` / ``IMGNET-2048-FP16``.

    Examples
    --------
    >>> ext = ImagenetXception(input_px=224)            # doctest: +SKIP
    >>> ext(tiles).shape                                 # doctest: +SKIP
    (64, 2048)
    """

    def __init__(
        self,
        *,
        weights: str | Path | None = None,
        input_px: int = 224,
        batch_size: int = 32,
        seed: int = 0,
        jit_compile: bool = False,
        precision: str = "float32",
    ) -> None:
        if positive_int("input_px", input_px) < MIN_INPUT_PX:
            raise InvalidParameterError("input_px", f"an int >= {MIN_INPUT_PX}", input_px)
        model, self.source = build_xception_base(weights, seed=seed)
        name = "RANDOM-XCEPTION-2048" if self.source["weights"] == "random" else "IMGNET-2048"
        super().__init__(model, name=name, input_px=input_px, preprocess="xception",
                         batch_size=batch_size, jit_compile=jit_compile, precision=precision)
        self.model_sha256 = self.source["weights_sha256"]

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable identity: name, weights and their sha256, input size."""
        config = super().config
        config.update(architecture="keras.applications.Xception(include_top=False, "
                      "pooling='avg')", weights=self.source["weights"],
                      seed=self.source["seed"])
        return config
