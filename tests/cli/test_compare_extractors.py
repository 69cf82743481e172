"""Compare any extractor end to end: a store mixing a featx-extracted Keras backbone (random
weights, by name) with embeddings imported from TRIDENT and slideflow files, through
`featx import`, `featx evaluate` (three extractors, all pairs, Holm) and `featx report`."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featx.cli._app import app
from featx.embed.batch import run_batch
from featx.embed.settings import ClusterSettings, ExtractionSettings
from featx.embed.store import list_extractors, read_slide
from featx.extractors.registry import ExtractorFactory
from tests.browser import visible_text
from tests.embed._batch_helpers import make_spec, write_slide
from tests.embed.formats._foreign_files import write_slideflow, write_trident

runner = CliRunner()
N_SLIDES = 16
KERAS = "RANDOM-MOBILENETV3SMALL-576"


@pytest.mark.slow
@pytest.mark.tensorflow
def test_three_extractors_imported_and_extracted_evaluate_and_report(tmp_path):
    slides = tmp_path / "slides"
    slides.mkdir()
    ids = [f"TCGA-AA-{i:04d}-01Z-00-DX1" for i in range(N_SLIDES)]
    for i, slide_id in enumerate(ids):
        write_slide(slides / f"{slide_id}.tiff", seed=i % 4)
    manifest = pd.DataFrame({"path": [str(slides / f"{s}.tiff") for s in ids], "slide_id": ids})
    store = tmp_path / "store"
    factory = ExtractorFactory.of("keras:MobileNetV3Small", weights="random", input_px=64,
                                  batch_size=16)
    status = run_batch(manifest, store, ExtractionSettings(factory, spec=make_spec()),
                       cluster=ClusterSettings(workers=0))
    assert set(status["status"]) == {"done"}, status["error"].tolist()

    # Another tool's embeddings of the same tiles: one carries the label, one is noise.
    rng = np.random.default_rng(0)
    labels = {s: (i // 4) % 2 for i, s in enumerate(ids)}  # not what the slide images show
    for slide_id in ids:
        tiles = read_slide(store, slide_id, extractor=KERAS)
        xy = tiles[["x", "y"]].to_numpy()
        signal = rng.normal(size=(len(xy), 16)).astype(np.float32)
        signal[:, 0] += 3 * labels[slide_id]
        (tmp_path / "trident").mkdir(exist_ok=True)
        write_trident(tmp_path / "trident" / f"{slide_id}.h5", signal, xy)
        write_slideflow(tmp_path / "sf", slide_id, rng.normal(size=(len(xy), 8)), xy)
    for name, folder in (("UNI", "trident"), ("SF-NOISE", "sf")):
        result = runner.invoke(app, ["import", str(tmp_path / folder), "--extractor", name,
                                     "--out", str(store), "--slide-mpp", "0.25"])
        assert result.exit_code == 0, result.output
        assert f"{N_SLIDES} slides imported as {name}" in result.output
    assert list_extractors(store) == sorted([KERAS, "SF-NOISE", "UNI"])
    first = read_slide(store, ids[0], extractor="UNI")
    np.testing.assert_array_equal(first[["x", "y"]].to_numpy(),
                                  read_slide(store, ids[0], extractor=KERAS)[["x", "y"]].to_numpy())
    listed = runner.invoke(app, ["extractors", "--store", str(store)])
    assert "imported from trident" in listed.output and "random weights" in listed.output

    targets = pd.DataFrame({"patient": [s[:12] for s in ids], "KRAS": list(labels.values())})
    targets.to_csv(tmp_path / "mutations.tsv", sep="\t", index=False)
    out = tmp_path / "results"
    result = runner.invoke(app, ["evaluate", str(store), "-t", str(tmp_path / "mutations.tsv"),
                                 "-e", "mutation", "--folds", "4", "--repeats", "3",
                                 "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 pairs, Holm" in result.output
    pairs = pd.read_csv(out / "mutation_pairs.csv")
    assert len(pairs) == 3 and set(pairs["n_pairs"]) == {3}
    ranks = pd.read_csv(out / "mutation_mean_ranks.csv")
    assert ranks["extractor"].iloc[0] == "UNI"
    record = json.loads((out / "mutation_provenance.json").read_text())
    assert record["extractors"]["UNI"]["extractor"]["source_format"] == "trident"
    assert record["extractors"][KERAS]["extractor"]["weights"] == "random"

    result = runner.invoke(app, ["report", "mixed", "--results", str(out), "-o",
                                 str(tmp_path / "reports")])
    assert result.exit_code == 0, result.output
    html = visible_text((tmp_path / "reports" / "mixed" / "report.html").read_text())
    assert "3 extractors compared" in html
    assert "UNI: imported from trident files" in html
    assert f"{KERAS}: random weights" in html
    assert "Holm (family-wise error) over 3 pairs" in html
    figures = list((tmp_path / "reports" / "mixed" / "figures").glob("mutation-*.png"))
    assert {f.stem for f in figures} >= {"mutation-pairs", "mutation-ranking"}
