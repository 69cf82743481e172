"""`featx doctor` reports the machine; `featx status` counts a store's slides and lists failures."""

from __future__ import annotations

import pandas as pd
from typer.testing import CliRunner

from featx.cli._app import app
from featx.wsi.synthetic import write_synthetic_slide

runner = CliRunner()


def test_doctor_names_each_check_and_hashes_the_weights(monkeypatch, tmp_path):
    weights = tmp_path / "w.weights.h5"
    weights.write_bytes(b"not really weights")
    monkeypatch.setenv("FEATX_XCEPTION_WEIGHTS", str(weights))
    monkeypatch.setenv("FEATX_DATA_DIR", str(tmp_path))
    done = runner.invoke(app, ["doctor", "--no-tensorflow"])
    assert done.exit_code == 0, done.output
    for name in ("featx", "data folder", "weights", "openslide", "disk"):
        assert name in done.output
    from featx._io import file_sha256

    assert file_sha256(weights)[:16] in done.output and str(tmp_path) in done.output


def test_status_counts_done_and_missing_and_lists_errors(tmp_path):
    from featx.embed import ClusterSettings, ExtractionSettings, run_batch

    slide = write_synthetic_slide(tmp_path / "S1.svs", width_px=1024, height_px=768, slide_mpp=0.5).path
    manifest = pd.DataFrame({"path": [str(slide), str(tmp_path / "gone.svs")]})
    run_batch(manifest, tmp_path / "store", ExtractionSettings("COLORSTATS"),
              cluster=ClusterSettings(workers=0))
    done = runner.invoke(app, ["status", str(tmp_path / "store")])
    assert done.exit_code == 1
    assert "COLORSTATS: 2 slides:" in done.output and "1 done" in done.output
    assert "missing  gone: slide file not found" in done.output
    # A missing slide is looked for again by a plain rerun; a failed one waits for the flag.
    assert "--retry-failed" not in done.output and "redone without any flag" in done.output
    (tmp_path / "bad.svs").write_bytes(b"not a slide")
    manifest = pd.DataFrame({"path": [str(slide), str(tmp_path / "bad.svs")]})
    run_batch(manifest, tmp_path / "store", ExtractionSettings("COLORSTATS"),
              cluster=ClusterSettings(workers=0))
    done = runner.invoke(app, ["status", str(tmp_path / "store")])
    assert "failed   bad:" in done.output and "--retry-failed" in done.output, done.output
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["status", str(empty)]).exit_code == 2


def test_status_verifies_every_file_it_counts(tmp_path):
    from featx.embed import ClusterSettings, ExtractionSettings, run_batch
    from featx.embed.store import slide_path

    paths = [write_synthetic_slide(tmp_path / f"S{i}.svs", width_px=1024, height_px=768,
                                   slide_mpp=0.5, seed=i).path for i in range(2)]
    run_batch(pd.DataFrame({"path": [str(p) for p in paths]}), tmp_path / "store",
              ExtractionSettings("COLORSTATS"), cluster=ClusterSettings(workers=0))
    assert runner.invoke(app, ["status", str(tmp_path / "store")]).exit_code == 0
    half = slide_path(tmp_path / "store", extractor="COLORSTATS", slide_id="S1")
    half.write_bytes(half.read_bytes()[: half.stat().st_size // 2])
    done = runner.invoke(app, ["status", str(tmp_path / "store")])
    assert done.exit_code == 1
    assert "damaged  S1: not a readable Parquet file" in done.output
    assert "featx extract redoes it" in done.output
