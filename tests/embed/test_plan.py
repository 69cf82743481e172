"""featx plan: a cohort's tiles, disk and time, counted where slides are at hand, else estimated."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from featx.embed.batch import run_batch
from featx.embed.plan import (
    DEFAULT_SIZE_MODEL,
    SizeModel,
    count_slide,
    duration_text,
    plan_cohort,
)
from featx.embed.settings import ClusterSettings, ExtractionSettings
from featx.errors import InvalidParameterError
from featx.wsi.tiling import TileSpec
from tests.embed._batch_helpers import embed, make_spec, write_slide


@pytest.fixture(scope="module")
def cohort(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame]:
    """Four synthetic slides at hand, and a manifest that also lists two absent ones by size."""
    folder = tmp_path_factory.mktemp("slides")
    paths = [write_slide(folder / f"slide{i}.tiff", seed=i) for i in range(4)]
    rows = [{"path": p.name, "size": p.stat().st_size} for p in paths]
    rows += [{"path": f"absent{i}.tiff", "size": paths[i].stat().st_size} for i in range(2)]
    return folder, pd.DataFrame(rows)


def test_slides_at_hand_are_counted_exactly_as_a_run_embeds_them(cohort, tmp_path) -> None:
    folder, manifest = cohort
    present = manifest.iloc[:4]
    plan = plan_cohort(present, spec=make_spec(), slide_dir=folder, n_features=18)
    status = run_batch(present, tmp_path / "store",
                       ExtractionSettings("COLORSTATS", spec=make_spec(), embed=embed),
                       slide_dir=folder, cluster=ClusterSettings(workers=0))
    assert (plan.slides["how"] == "counted").all()
    assert plan.slides["n_tiles"].astype(int).tolist() == status["n_tiles"].tolist()
    assert plan.n_tiles == status["n_tiles"].sum() > 0
    # Disk: the measured bytes per tile against the store files the run wrote.
    written = sum(p.stat().st_size for p in (tmp_path / "store").rglob("*.parquet"))
    assert 0.3 < plan.store_bytes / written < 3


def test_absent_slides_are_estimated_from_size_with_the_calibration(cohort) -> None:
    folder, manifest = cohort
    plan = plan_cohort(manifest, spec=make_spec(), slide_dir=folder, n_features=18,
                       rates={"here": 10.0, "gpu": 1000.0})
    slides = plan.slides.set_index("slide_id")
    assert slides.loc[["absent0", "absent1"], "how"].tolist() == ["from size", "from size"]
    assert plan.size_model.source.startswith("4 slide(s)")
    # Same generator, same size: the estimate lands near the counted twin.
    for i in range(2):
        ratio = slides.loc[f"absent{i}", "n_tiles"] / slides.loc[f"slide{i}", "n_tiles"]
        assert 0.5 < ratio < 2, ratio
    assert plan.hours(10.0) == pytest.approx(plan.n_tiles / 10 / 3600)
    text = plan.summary()
    assert "6 slides (every row of the slide table): 4 at hand" in text
    assert "time at 1,000.0 tiles/s (gpu)" in text


def test_the_plan_says_which_slides_and_their_tcga_sample_types(tmp_path) -> None:
    gdc = tmp_path / "gdc.txt"
    gdc.write_text("id\tfilename\tmd5\tsize\tstate\n"
                   "a\tTCGA-AA-0001-01A-01-TS1.x.svs\t0\t100000000\tlive\n"
                   "b\tTCGA-AA-0001-11A-01-TS1.y.svs\t0\t300000000\tlive\n")
    text = plan_cohort(gdc, n_features=8, cohort="the test's two").summary()
    assert text.startswith("2 slides (the test's two; TCGA sample types: 1 primary tumour (01), "
                           "1 solid tissue normal (11)): 0 at hand")
    assert "every row of gdc.txt" in plan_cohort(gdc, n_features=8).summary()


def test_duration_text_picks_the_unit_that_reads_best() -> None:
    assert [duration_text(s) for s in (45, 720, 4 * 3600, 7.3 * 86400)] == [
        "45 s", "12 min", "4.0 h", "7.3 days"]


def test_size_model_scales_with_mpp_and_threshold_inputs() -> None:
    model = SizeModel(1.0, 0.25, 0.8, "test")
    coarse, fine = TileSpec(tile_mpp=0.5), TileSpec(tile_mpp=0.25)
    # Halving the tile's microns quadruples the tiles of the same tissue.
    assert model.tiles(1e8, fine) == pytest.approx(4 * model.tiles(1e8, coarse))
    assert model.tiles(1e8, coarse) == pytest.approx(1e8 * 0.25 ** 2 / 112 ** 2 * 0.8)


def test_manifest_without_slides_is_planned_by_size(tmp_path) -> None:
    gdc = tmp_path / "gdc.txt"
    gdc.write_text("id\tfilename\tmd5\tsize\tstate\n"
                   "a\tTCGA-AA-0001-01A-01-TS1.x.svs\t0\t100000000\tlive\n"
                   "b\tTCGA-AA-0002-01A-01-TS1.y.svs\t0\t300000000\tlive\n")
    plan = plan_cohort(gdc, spec=TileSpec(tile_mpp=0.25), n_features=2048)
    assert plan.size_model == DEFAULT_SIZE_MODEL
    assert plan.slides["n_tiles"].iloc[1] == pytest.approx(3 * plan.slides["n_tiles"].iloc[0])
    with pytest.raises(InvalidParameterError, match="slide_mpp"):
        plan_cohort(gdc, slide_mpp=-1)


@pytest.mark.realdata
def test_default_size_model_is_the_cmu1_calibration(shared_data) -> None:
    found = count_slide(shared_data / "wsi" / "CMU-1-Small-Region.svs", TileSpec(tile_mpp=0.25))
    assert found["bytes_per_tissue_px"] == pytest.approx(DEFAULT_SIZE_MODEL.bytes_per_tissue_px,
                                                         rel=0.05)
    assert found["kept_fraction"] == pytest.approx(DEFAULT_SIZE_MODEL.kept_fraction, rel=0.05)


def test_cli_plan_and_extract_plan(cohort, tmp_path) -> None:
    from typer.testing import CliRunner

    from featx.cli._app import app

    folder, manifest = cohort
    path = tmp_path / "manifest.csv"
    manifest.to_csv(path, index=False)
    args = ["--slides", str(folder), "--extractor", "COLORSTATS", "--tile-px", "64",
            "--tile-mpp", "2.0", "--min-tissue", "0.5"]
    result = CliRunner().invoke(app, ["plan", str(path), *args, "--gpu-rate", "500",
                                      "--gpus", "2"])
    assert result.exit_code == 0, result.output
    assert "6 slides (every row of manifest.csv): 4 at hand" in result.output
    assert "2 GPU(s) at 500" in result.output and "this machine: COLORSTATS" in result.output
    assert "development machine" not in result.output  # its rate is an Xception's
    out = tmp_path / "store"
    result = CliRunner().invoke(app, ["extract", str(path), "--out", str(out), "--plan", *args])
    assert result.exit_code == 0, result.output
    assert "6 slides (every row of manifest.csv): 4 at hand" in result.output
    assert not out.exists()
    result = CliRunner().invoke(app, ["plan", str(tmp_path / "nope.tsv")])
    assert result.exit_code != 0
