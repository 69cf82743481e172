"""The N-way report section: read from the tables `featx evaluate` wrote, says where extractors came from."""

from __future__ import annotations

import json

import pandas as pd

from featx._io import write_table
from featx.evaluation.multiway import compare_many
from featx.report import Report, write_report
from featx.report.builder import build_report
from featx.report.multiway import describe_extractor, multiway_section
from tests.evaluation.test_multiway import score_table


def _results(tmp_path):
    scores = score_table(targets=("all",))
    pooled = scores.groupby(["experiment", "extractor", "target", "repetition", "metric",
                             "n_splits"], as_index=False).agg(
        value=("value", "mean"), n_train=("n_train", "first"), n_test=("n_test", "sum"))
    scores = pd.concat([scores, pooled.assign(fold=-1)], ignore_index=True)
    result = compare_many(scores, metric="accuracy", reference="A")
    write_table(scores, tmp_path / "tissue_scores.parquet")
    for stem, table in (("pairs", result.pairs), ("ranking", result.ranking),
                        ("mean_ranks", result.mean_ranks)):
        write_table(table, tmp_path / f"tissue_{stem}.csv")
    record = {"extractors": {
        "A": {"extractor": {"name": "A", "imported": True, "source_format": "trident"}},
        "B": {"extractor": {"name": "B", "weights": "random", "architecture": "ResNet50"}},
        "C": {"extractor": {"name": "C", "weights": "imagenet", "weights_sha256": "ab" * 32,
                            "architecture": "Xception"}},
        "D": {"path": "d.parquet"}}}
    (tmp_path / "tissue_provenance.json").write_text(json.dumps(record))
    return tmp_path


def test_section_names_sources_correction_and_draws_forests(tmp_path):
    section = multiway_section(_results(tmp_path), "tissue")
    assert section is not None and section.heading.endswith("4 extractors compared")
    text = " ".join(section.paragraphs)
    assert "A: imported from trident files" in text and "B: random weights" in text
    assert "C: extracted by featx (Xception, weights sha256 abababababab" in text
    assert "D: a feature table (d.parquet)" in text
    assert "Holm (family-wise error) over 3 pairs per target" in text
    assert "over 1 target)" in text
    assert "Best mean rank: A" in text
    assert [f.name for f in section.figures] == ["tissue-pairs", "tissue-ranking"]
    assert all(f.png.startswith(b"\x89PNG") for f in section.figures)
    files = write_report(Report("n-way", {}, [section]), tmp_path / "report")
    assert "tissue-pairs" in files.html.read_text()


def test_builder_adds_it_and_skips_it_without_n_way_tables(tmp_path):
    built = build_report("x", results=_results(tmp_path))
    assert any(s.heading.endswith("4 extractors compared") for s in built.sections)
    for stem in ("pairs", "ranking", "mean_ranks"):
        (tmp_path / f"tissue_{stem}.csv").unlink()
    assert multiway_section(tmp_path, "tissue") is None
    assert describe_extractor("X", {}) == "X: a feature table (unknown source)"
