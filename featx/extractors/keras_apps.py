"""Any ``keras.applications`` backbone by name, with its own preprocessing, as a featx extractor.

``KerasApplication("ResNet50")`` (``--extractor keras:ResNet50``) builds the
convolutional base (``include_top=False, pooling="avg"``) and feeds it pixels through
the application's own ``preprocess_input`` (caffe BGR means for ResNet/VGG, torch
mean/std for DenseNet, none for EfficientNet and ConvNeXt, which normalise inside).

Weights: ``"imagenet"`` from Keras's cache, downloading into it on a machine with
internet (offline with an empty cache this raises a one-line
:class:`~featx.errors.DataNotFoundError` saying how to provide a file); a local
weights file (``model.save_weights``); or ``"random"`` (seeded Keras initialisers, the
"does pre-training matter" control, named ``RANDOM-<ARCH>-<n>``). The config holds a
sha256 of the weight arrays themselves (and of the file, when there is one).
"""

from __future__ import annotations

import hashlib
import importlib
from pathlib import Path
from typing import Any

from featx._io import file_sha256
from featx._validate import non_negative_int, positive_int
from featx.errors import DataNotFoundError, InvalidParameterError
from featx.extractors.keras_model import KerasExtractor

#: Backbones of keras.applications featx lists (any other name Keras has works too).
KERAS_APPLICATIONS = (
    "ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge",
    "DenseNet121", "DenseNet169", "DenseNet201",
    *(f"EfficientNetB{i}" for i in range(8)),
    "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3",
    "EfficientNetV2S", "EfficientNetV2M", "EfficientNetV2L",
    "InceptionV3", "InceptionResNetV2", "MobileNet", "MobileNetV2", "MobileNetV3Small",
    "MobileNetV3Large", "NASNetMobile", "NASNetLarge", "ResNet50", "ResNet101", "ResNet152",
    "ResNet50V2", "ResNet101V2", "ResNet152V2", "VGG16", "VGG19", "Xception",
)

_OFFLINE_HINT = (
    "Keras could not find {arch}'s ImageNet weights in its cache (~/.keras/models or "
    "$KERAS_HOME/models) nor download them. Run once on a machine with internet and copy the "
    "cache, or pass a weights file: KerasApplication('{arch}', weights='/path/x.weights.h5') "
    "in Python, or --extractor-arg weights=/path/x.weights.h5; weights='random' gives seeded "
    "random weights."
)


def _application(architecture: str) -> tuple[Any, Any, str]:
    """The constructor, its ``preprocess_input`` and that function's import path."""
    import keras

    constructor = getattr(keras.applications, str(architecture), None)
    if not callable(constructor) or isinstance(constructor, type(keras)):
        raise InvalidParameterError("architecture", "a keras.applications backbone such as "
                                    f"{', '.join(KERAS_APPLICATIONS[:8])}, ...", architecture)
    for name, module in sorted(vars(keras.applications).items()):
        if isinstance(module, type(keras)) and getattr(module, architecture, None) is constructor:
            preprocess = getattr(module, "preprocess_input", None)
            if preprocess is not None:
                return constructor, preprocess, f"keras.applications.{name}.preprocess_input"
    # Some backbones (MobileNetV3) have no public module: their defining one has it.
    home = importlib.import_module(constructor.__module__)
    if callable(getattr(home, "preprocess_input", None)):
        return constructor, home.preprocess_input, f"{constructor.__module__}.preprocess_input"
    raise InvalidParameterError("architecture", "a backbone with its own preprocess_input",
                                architecture)


def weights_digest(model: Any) -> str:
    """sha256 over a model's weight arrays, in order: the weights' identity wherever they came from."""
    digest = hashlib.sha256()
    for weight in model.weights:
        value = weight.numpy()
        digest.update(str((weight.path, value.shape, value.dtype.str)).encode())
        digest.update(value.tobytes())
    return digest.hexdigest()


def build_application(architecture: str, *, weights: str | Path = "imagenet", input_px: int = 224,
                      seed: int = 0) -> tuple[Any, dict[str, Any]]:
    """Build a keras.applications base with average pooling.

    Parameters
    ----------
    architecture : str
        e.g. "ResNet50", "DenseNet121", "EfficientNetB0", "ConvNeXtTiny".
    weights : "imagenet", "random" or path
        Where the weights come from (see the module docstring).
    input_px : int
        Input side.
    seed : int
        Seed of ``weights="random"``.

    Returns
    -------
    model : keras.Model
        Maps preprocessed (N, input_px, input_px, 3) to (N, n_features).
    source : dict
        ``weights`` ("imagenet", "random" or "file"), ``weights_path``, ``weights_sha256``
        (the file's), ``weights_array_sha256``, ``seed``, ``preprocess``.
    """
    import keras

    constructor, _, preprocess = _application(architecture)
    shape = (positive_int("input_px", input_px), input_px, 3)
    kind = "imagenet" if weights == "imagenet" else ("random" if weights == "random" else "file")
    path = None
    if kind == "file":
        path = Path(weights).expanduser()
        if not path.is_file():
            raise DataNotFoundError(f"{architecture} weights file {path}",
                                    _OFFLINE_HINT.format(arch=architecture))
    if kind == "random":
        keras.utils.set_random_seed(non_negative_int("seed", seed))
    try:
        model = constructor(include_top=False, pooling="avg", input_shape=shape,
                            weights="imagenet" if kind == "imagenet" else None)
    except ValueError as error:  # e.g. an input size the architecture or its weights refuse
        raise InvalidParameterError("input_px", f"a size {architecture} accepts ({error})",
                                    input_px) from None
    except Exception as error:  # noqa: BLE001 - keras.utils.get_file raises bare Exception offline
        raise DataNotFoundError(f"{architecture} ImageNet weights ({type(error).__name__}: "
                                f"{str(error)[:120]})", _OFFLINE_HINT.format(arch=architecture)
                                ) from None
    if path is not None:
        try:
            model.load_weights(str(path))
        except Exception as error:  # noqa: BLE001 - h5py/keras raise many types for a bad file
            raise InvalidParameterError("weights", f"a weights file for {architecture}"
                                        "(include_top=False)", f"{path} ({error})") from None
    return model, {"weights": kind, "weights_path": None if path is None else str(path.resolve()),
                   "weights_sha256": None if path is None else file_sha256(path),
                   "weights_array_sha256": weights_digest(model),
                   "seed": seed if kind == "random" else None, "preprocess": preprocess}


class KerasApplication(KerasExtractor):
    """A ``keras.applications`` backbone as an extractor: ``--extractor keras:<Name>``.

    Parameters
    ----------
    architecture : str
        Name in ``keras.applications`` (see :data:`KERAS_APPLICATIONS`).
    weights : "imagenet", "random" or path, default "imagenet"
        See :func:`build_application`.
    input_px : int, default 224
        Tile side fed to the network; other tile sizes are resized to it.
    batch_size : int, default 32
        Fixed inference batch.
    seed : int, default 0
        Seed of ``weights="random"``.
    name : str, optional
        Default ``"<ARCH>-<n_features>"`` (``"RANDOM-<ARCH>-<n_features>"`` for random weights).
    precision : {"float32", "bfloat16", "float16", "auto"}, default "float32"
        The forward pass's arithmetic (see :class:`~featx.extractors.KerasExtractor`).
    """

    def __init__(self, architecture: str, *, weights: str | Path = "imagenet",
                 input_px: int = 224, batch_size: int = 32, seed: int = 0,
                 name: str | None = None, precision: str = "float32") -> None:
        model, self.source = build_application(architecture, weights=weights, input_px=input_px,
                                               seed=seed)
        self.architecture = architecture
        self._preprocess_input = _application(architecture)[1]
        width = int(model.output_shape[-1])
        prefix = "RANDOM-" if self.source["weights"] == "random" else ""
        default = f"{prefix}{architecture.upper()}-{width}"
        super().__init__(model, name=name or default, input_px=input_px, preprocess="none",
                         batch_size=batch_size, precision=precision)
        self.model_sha256 = self.source["weights_sha256"]

    def _preprocess_tensor(self, x: Any) -> Any:
        return self._preprocess_input(x)

    @property
    def config(self) -> dict[str, Any]:
        """JSON-serialisable identity: architecture, weights and their hashes, preprocessing."""
        config = super().config
        config.update(architecture=f"keras.applications.{self.architecture}(include_top=False, "
                      "pooling='avg')", **self.source)
        return config


__all__ = ["KERAS_APPLICATIONS", "KerasApplication", "build_application", "weights_digest"]
