"""What each extractor really was, from the provenance: trained, fine-tuned how long, random, stand-in."""

from __future__ import annotations

from featx.extractors.ftx.extractor import training_summary
from featx.report.extractor_states import MIN_TRAINING_BATCHES, describe, extractor_states


def _card(epochs: tuple[int, int], steps: int, accuracy: float) -> dict:
    """A model card as XceptionFineTuner writes it (8 classes)."""
    return {"classes": [f"c{i}" for i in range(8)],
            "schedule": [{"step": s, "epochs": e, "steps_per_epoch": steps, "batch_size": 16}
                         for s, e in zip((1, 2), epochs)],
            "tile_counts": {"train": {f"c{i}": 2 for i in range(8)},
                            "validation": {f"c{i}": 1 for i in range(8)}},
            "validation_accuracy": {"step1": 0.25, "step2": accuracy}}


def test_a_fine_tuning_of_two_batches_is_flagged_and_a_real_one_is_not():
    short = training_summary(_card((1, 1), 1, 0.375))
    assert short["batches"] == 2 and short["validation_accuracy"] == 0.375
    state = describe("FTX-2048", {"name": "FTX-2048", "training": short})
    assert state.caution == "barely trained"
    assert "2 batches" in state.flag and "validation accuracy 0.38" in state.flag
    assert "chance 0.12" in state.flag
    long = training_summary(_card((10, 10), MIN_TRAINING_BATCHES, 0.97))
    trained = describe("FTX-2048", {"training": long})
    assert trained.flag is None and "2,000 batches" in trained.state


def test_states_from_an_evaluation_provenance():
    record = {"results/tissue_provenance.json": {"extractors": {
        "IMGNET-2048": {"weights": "imagenet", "weights_sha256": "ab" * 32},
        "RANDOM-XCEPTION-2048": {"weights": "random"},
        "UNI": {"path": "/x/uni", "extractor": {"imported": True, "source_format": "trident"}}}},
        "results/expression_provenance.json": {
            "embeddings": "stand-in embeddings, not image features: STANDIN-IMMUNE = ...",
            "extractors": {"STANDIN-IMMUNE": {"stand-in": "CIBERSORT fractions"}}}}
    states = extractor_states(record, ["STANDIN-NOISE", "MYTABLE"])
    assert states["IMGNET-2048"].state == "ImageNet weights" and states["IMGNET-2048"].flag is None
    assert states["RANDOM-XCEPTION-2048"].caution == "random weights"
    assert states["UNI"].state == "imported from trident files"
    assert states["STANDIN-IMMUNE"].caution == "stand-in"
    assert "CIBERSORT" in states["STANDIN-IMMUNE"].state
    # Named only in the scores: the label of the provenance (or the name) says stand-in.
    assert states["STANDIN-NOISE"].caution == "stand-in"
    assert states["MYTABLE"].flag is None and "no featx provenance" in states["MYTABLE"].state
