"""Labelled tile sets: chunked, resumable embeddings and a label table featx evaluate reads."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from typer.testing import CliRunner

from featx.cli._app import app
from featx.embed.tile_sets import embed_tile_folder
from featx.errors import ResumeMismatchError
from featx.evaluation.embedding_tables import embedding_sources, read_embeddings

COLOURS = {"ADI": (250, 240, 245), "LYM": (60, 30, 140), "TUM": (150, 60, 120)}


class MeanColour:
    """A stand-in extractor with a known answer: the mean RGB of each tile; counts tiles seen."""

    name, n_features, input_px = "MEAN-RGB", 3, 8

    def __init__(self):
        self.seen = 0

    @property
    def config(self):
        return {"name": self.name}

    def __call__(self, tiles):
        self.seen += len(tiles)
        return tiles.reshape(len(tiles), -1, 3).mean(axis=1).astype(np.float32)


def make_tiles(root, per_class=5):
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            Image.new("RGB", (16, 16), colour).save(root / name / f"t{i}.png")
    return root


def test_embeddings_labels_and_resume(tmp_path):
    tiles = make_tiles(tmp_path / "tiles")
    model = MeanColour()
    run = embed_tile_folder(tiles, tmp_path / "out", extractor=model, chunk_size=2)
    assert (run.n_tiles, run.n_chunks, run.n_skipped, model.seen) == (15, 9, 0, 15)
    labels = pd.read_csv(run.labels, sep="\t")
    assert labels["label"].value_counts().to_dict() == {"ADI": 5, "LYM": 5, "TUM": 5}
    features = read_embeddings(embedding_sources([tmp_path / "out"])["MEAN-RGB"])
    assert sorted(features.index) == sorted(labels["tile_id"])
    assert features.loc["LYM/t3.png"].tolist() == pytest.approx(COLOURS["LYM"])
    again = embed_tile_folder(tiles, tmp_path / "out", extractor=model, chunk_size=2)
    assert again.n_skipped == 9 and model.seen == 15  # nothing embedded twice
    Image.new("RGB", (16, 16), (0, 0, 0)).save(tiles / "TUM" / "extra.png")
    with pytest.raises(ResumeMismatchError, match="other tiles"):
        embed_tile_folder(tiles, tmp_path / "out", extractor=model, chunk_size=2)


def test_a_rewritten_tile_re_embeds_its_chunk_only(tmp_path):
    tiles = make_tiles(tmp_path / "tiles")
    model = MeanColour()
    embed_tile_folder(tiles, tmp_path / "a", extractor=model, chunk_size=5)
    chunk = next((tmp_path / "a" / "extractor=MEAN-RGB").glob("LYM-*.parquet"))
    chunk.write_bytes(b"not parquet")  # a damaged chunk file
    model.seen = 0
    run = embed_tile_folder(tiles, tmp_path / "a", extractor=model, chunk_size=5)
    assert run.n_skipped == 2 and model.seen == 5


def test_cli_then_evaluate_tissue(tmp_path):
    tiles = make_tiles(tmp_path / "tiles", per_class=6)
    out = tmp_path / "store"
    result = CliRunner().invoke(app, ["embed", str(tiles), "--extractor", "COLORSTATS", "-o",
                                      str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "18 tiles" in result.output
    result = CliRunner().invoke(app, ["evaluate", str(out), "-t", str(out / "labels.tsv"), "-e",
                                      "tissue", "--folds", "3", "--repeats", "2", "-o",
                                      str(tmp_path / "results")])
    assert result.exit_code == 0, result.output
    scores = pd.read_parquet(tmp_path / "results" / "tissue_scores.parquet")
    accuracy = scores[(scores["fold"] == -1) & (scores["metric"] == "accuracy")]["value"]
    assert (accuracy == 1.0).all()  # three flat colours: perfectly separable


def test_real_kather_tiles(shared_data, tmp_path):
    run = embed_tile_folder(shared_data / "tiles/kather2016_samples", tmp_path, extractor="COLORSTATS")
    assert run.n_tiles == 24 and run.n_chunks == 8
