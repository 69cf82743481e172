"""FTX-2048: the 2048 ReLU units of a fine-tuned Xception's head (see :mod:`featx.extractors.ftx.tuner`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from featx.errors import DataNotFoundError
from featx.extractors.ftx.model import CARD_FILE, DENSE_NAME, MODEL_FILE
from featx.extractors.keras_model import KerasExtractor

#: Layer whose activations are the features (Part B's Dense(2048) + ReLU).
FEATURE_LAYER = DENSE_NAME


class FineTunedXception(KerasExtractor):
    """FTX-2048 features from a model saved by ``featx finetune``.

    Parameters
    ----------
    model_path : str or Path
        The ``ftx2048.keras`` file, or the folder holding it.
    batch_size : int, default 32
        Fixed inference batch.
    precision : {"float32", "bfloat16", "float16", "auto"}, default "float32"
        The forward pass's arithmetic (see :class:`~featx.extractors.KerasExtractor`).

    Attributes
    ----------
    card : dict or None
        The model card written beside the model (classes, data hash, schedule...).
    """

    def __init__(self, model_path: str | Path, *, batch_size: int = 32,
                 precision: str = "float32") -> None:
        path = Path(model_path).expanduser()
        if path.is_dir():
            path = path / MODEL_FILE
        if not path.is_file():
            raise DataNotFoundError(
                f"fine-tuned model {path}",
                "train one with `featx finetune TILE_FOLDER OUT_DIR` (or XceptionFineTuner) "
                f"and pass OUT_DIR or OUT_DIR/{MODEL_FILE}.",
            )
        card_path = path.with_name(CARD_FILE)
        self.card: dict[str, Any] | None = (
            json.loads(card_path.read_text()) if card_path.is_file() else None
        )
        # The saved model rescales [0, 255] to [-1, 1] itself, hence preprocess="none".
        super().__init__(path, layer=FEATURE_LAYER, name="FTX-2048", preprocess="none",
                         batch_size=batch_size, precision=precision)

    @property
    def config(self) -> dict[str, Any]:
        """Identity: name, model sha256, classes and data hash of the training set."""
        config = super().config
        card = self.card or {}
        config.update(classes=card.get("classes"), data_hash=card.get("data_hash"),
                      base_weights_sha256=card.get("base_weights_sha256"))
        return config
