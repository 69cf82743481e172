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
        """Identity: name, model sha256, classes and data hash of the training set, and how
        much training it had (a model of two batches is not the paper's FTX-2048)."""
        config = super().config
        card = self.card or {}
        config.update(classes=card.get("classes"), data_hash=card.get("data_hash"),
                      base_weights_sha256=card.get("base_weights_sha256"),
                      training=training_summary(card) if card else None)
        return config


def training_summary(card: dict[str, Any]) -> dict[str, Any]:
    """How much fine-tuning a model card records: batches, epochs, tiles, validation accuracy.

    ``validation_accuracy`` is the last step's; ``chance`` is one over the classes.
    """
    schedule = card.get("schedule") or []
    counts = card.get("tile_counts") or {}
    accuracies = card.get("validation_accuracy") or {}
    last = accuracies[max(accuracies)] if accuracies else None
    classes = card.get("classes") or []
    return {"batches": int(sum(int(s.get("epochs", 0)) * int(s.get("steps_per_epoch", 0))
                               for s in schedule)),
            "epochs": [int(s.get("epochs", 0)) for s in schedule],
            "batch_size": int(schedule[0].get("batch_size", 0)) if schedule else None,
            "train_tiles": int(sum((counts.get("train") or {}).values())),
            "validation_tiles": int(sum((counts.get("validation") or {}).values())),
            "validation_accuracy": last,
            "chance": 1 / len(classes) if classes else None}
