"""The commands that reach the lab's tools: tile/extract by QuPath regions, export, view."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from featx.cli._app import app
from featx.embed.store import provenance, read_slide, slide_path
from featx.wsi.synthetic import Region, write_synthetic_slide
from tests.scored_cohort import EXTRACTOR, make_scored_cohort

runner = CliRunner()


def _rect(x0, y0, x1, y1, name):
    ring = [[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
    return {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [ring]},
            "properties": {"objectType": "annotation", "classification": {"name": name}}}


@pytest.fixture(scope="module")
def annotated(tmp_path_factory):
    root = tmp_path_factory.mktemp("annotated")
    path = write_synthetic_slide(root / "A.svs", width_px=2048, height_px=1024, slide_mpp=0.5,
                                 regions=[Region(0, 0, 2048, 1024, "rect", "normal")]).path
    geojson = root / "A.geojson"  # the left half is tumour; a pen mark over its first column
    geojson.write_text(json.dumps({"type": "FeatureCollection", "features": [
        _rect(0, 0, 1024, 1024, "Tumor"), _rect(0, 0, 256, 1024, "Pen")]}))
    return path, geojson


def test_tile_keeps_only_the_annotated_class(annotated, tmp_path):
    path, geojson = annotated
    result = runner.invoke(app, ["tile", str(path), "-o", str(tmp_path), "--tile-px", "128",
                                 "--tile-mpp", "1.0", "--min-tissue", "0", "--annotations",
                                 str(geojson), "--keep-class", "tumor", "--exclude-class", "pen"])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(tmp_path / "A.tiles.parquet")
    assert sorted(set(table["col"])) == [1, 2, 3] and len(table) == 12  # 3 columns x 4 rows
    assert "20 outside the regions left out" in result.output
    record = json.loads((tmp_path / "A.tiles.provenance.json").read_text())["regions"]
    assert record["exclude"] == ["pen"] and record["annotations"] == str(geojson)
    no_file = runner.invoke(app, ["tile", str(path), "-o", str(tmp_path), "--keep-class", "x"])
    assert no_file.exit_code == 2 and "--annotations" in no_file.output


def test_extract_takes_annotations_from_the_manifest_and_redoes_a_changed_file(annotated,
                                                                            tmp_path):
    path, geojson = annotated
    mine = tmp_path / "A.geojson"
    mine.write_text(geojson.read_text())
    manifest = tmp_path / "m.csv"
    pd.DataFrame({"path": [str(path)], "annotations": [str(mine)]}).to_csv(manifest, index=False)
    store = tmp_path / "store"
    args = ["extract", str(manifest), "-o", str(store), "--extractor", "COLORSTATS",
            "--workers", "0", "--tile-px", "128", "--tile-mpp", "1.0", "--min-tissue", "0",
            "--keep-class", "Tumor", "--no-progress"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    file = slide_path(store, extractor="COLORSTATS", slide_id="A")
    assert len(read_slide(store, "A", extractor="COLORSTATS")) == 16  # the left half
    record = provenance(file)
    assert record["regions"]["keep"] == ["Tumor"] and record["pipeline"]["regions"][
        "n_tiles_dropped"] == 16
    mine.write_text(json.dumps([_rect(0, 0, 512, 1024, "Tumor")]))  # a smaller region
    again = runner.invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(read_slide(store, "A", extractor="COLORSTATS")) == 8


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    return make_scored_cohort(tmp_path_factory.mktemp("cli-cohort"))


def test_export_geojson_and_refusals(cohort, tmp_path):
    pytest.importorskip("shapely", reason="shapely (featx[qupath]) merges the regions")
    result = runner.invoke(app, ["export", str(cohort.store), "--format", "geojson",
                                 "--slidescores", str(cohort.slidescores), "-o", str(tmp_path),
                                 "--clusters", "2"])
    assert result.exit_code == 0, result.output
    assert "2 slides exported" in result.output
    assert (tmp_path / EXTRACTOR / "S-B.geojson").is_file()
    bad = runner.invoke(app, ["export", str(cohort.store), "--format", "xlsx", "-o",
                              str(tmp_path)])
    assert bad.exit_code == 2 and "geojson" in bad.output
    empty = tmp_path / "empty"
    empty.mkdir()
    missing = runner.invoke(app, ["export", str(cohort.store), "--format", "geojson",
                                  "--slidescores", str(empty), "-o", str(tmp_path)])
    assert missing.exit_code == 2 and "tile_probabilities" in missing.output


def test_export_anndata(cohort, tmp_path):
    pytest.importorskip("anndata", reason="anndata (featx[anndata]) writes .h5ad")
    result = runner.invoke(app, ["export", str(cohort.store), "--format", "anndata", "-o",
                                 str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / f"{EXTRACTOR}.h5ad").stat().st_size > 0


def test_view_refuses_a_port_in_use_in_one_line(cohort):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = runner.invoke(app, ["view", str(cohort.slides), "--port", str(port)])
    assert result.exit_code == 2 and "pick another --port" in result.output
    nothing = runner.invoke(app, ["view", str(cohort.slidescores)])
    assert nothing.exit_code != 0


@pytest.mark.parametrize(("module", "extra", "args"), [
    ("anndata", "anndata", ["export", "{store}", "--format", "anndata", "-o", "{out}"]),
    ("shapely", "qupath", ["export", "{store}", "--format", "geojson", "--slidescores",
                           "{scores}", "-o", "{out}"]),
    ("torch", "convert", ["convert", "timm:vit_tiny_patch16_224", "--random-weights", "--tiles",
                          "{scores}", "-o", "{out}/x.onnx"]),
])
def test_a_missing_extra_is_one_line_naming_it(cohort, tmp_path, monkeypatch, capsys, module,
                                               extra, args):
    import sys

    from featx.cli import main

    monkeypatch.setitem(sys.modules, module, None)
    tiles = tmp_path / "tiles"
    tiles.mkdir()
    from PIL import Image

    Image.new("RGB", (32, 32), "white").save(tiles / "t.png")
    filled = [a.format(store=cohort.store, scores=cohort.slidescores if module != "torch"
                       else tiles, out=tmp_path) for a in args]
    monkeypatch.setattr(sys, "argv", ["featx", *filled])
    with pytest.raises(SystemExit) as stopped:
        main()
    assert stopped.value.code == 2
    error = capsys.readouterr().err.strip()
    assert f"pip install 'featx[{extra}]'" in error and "Traceback" not in error
