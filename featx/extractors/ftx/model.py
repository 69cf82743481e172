"""The FTX-2048 network: ImageNet Xception (Part A) under a 2048-unit head (Part B).

::

    uint8 tile -> Rescaling to [-1, 1] -> Part A: Xception base (ImageNet, avg pool, 2048)
               -> Part B: Dense(2048, ReLU) "ftx_dense_2048" -> Dense(n_classes, softmax)

The layer and file names here are what :class:`~featx.extractors.ftx.FineTunedXception`
reads back from a saved model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from featx._tensorflow import import_tensorflow

#: Names of the layers the extractor and the tests rely on.
BASE_NAME, DENSE_NAME, LOGITS_NAME = "xception_base", "ftx_dense_2048", "ftx_softmax"
#: Files a fine-tuning run leaves in its folder.
MODEL_FILE, CARD_FILE, STATE_FILE = "ftx2048.keras", "ftx2048.card.json", "state.json"
STEP1_WEIGHTS = "ftx2048_step1.weights.h5"
CHECKPOINT_FILE = "checkpoint.keras"


def build_ftx_model(
    n_classes: int, *, base_weights: str | Path | None = None, input_px: int = 224, seed: int = 0
) -> tuple[Any, dict[str, Any]]:
    """Build the FTX model: Rescaling -> Part A (Xception) -> Part B.

    Returns
    -------
    model : keras.Model
        float (N, input_px, input_px, 3) in [0, 255] -> class probabilities.
    source : dict
        Where the base weights came from and their sha256.
    """
    import_tensorflow()  # quietly, before Keras loads it
    import keras

    from featx.extractors.xception import build_xception_base

    base, source = build_xception_base(base_weights, seed=seed)
    base.name = BASE_NAME
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((input_px, input_px, 3), name="tiles_0_255")
    x = keras.layers.Rescaling(1 / 127.5, offset=-1.0, name="xception_preprocess")(inputs)
    x = base(x, training=False)  # BatchNorm stays in inference mode, also in step 2
    x = keras.layers.Dense(2048, activation="relu", name=DENSE_NAME)(x)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name=LOGITS_NAME)(x)
    return keras.Model(inputs, outputs, name="ftx2048"), source


def part_b_layers(model: Any) -> list[Any]:
    """The head layers (Part B) of an FTX model."""
    return [model.get_layer(DENSE_NAME), model.get_layer(LOGITS_NAME)]


def set_step(model: Any, step: int) -> None:
    """Freeze Part A in step 1 and Part B in step 2.

    In step 2 Part A's BatchNormalization layers stay frozen (inference mode, ImageNet
    statistics): Keras 3 does not keep a nested model's BatchNorm in inference mode
    once it is trainable, and batch statistics of small histology batches would
    overwrite the moving averages (Keras's own fine-tuning advice).
    """
    import keras

    base = model.get_layer(BASE_NAME)
    base.trainable = step == 2
    if step == 2:
        for layer in base.layers:
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = False
    for layer in part_b_layers(model):
        layer.trainable = step == 1

