"""The featx command-line tool: help, info, tile, demo, and clean errors."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from featx.cli._app import app
from featx.wsi.synthetic import write_synthetic_slide

runner = CliRunner()


@pytest.fixture(scope="module")
def slide_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli") / "cli-slide.svs"
    return write_synthetic_slide(path, width_px=2048, height_px=1536, slide_mpp=0.25).path


def test_help_lists_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("info", "tile", "demo"):
        assert command in result.output


def test_info_json(slide_path):
    result = runner.invoke(app, ["info", str(slide_path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["slide_mpp"] == pytest.approx(0.25) and info["vendor"] == "aperio"


def test_tile_writes_table_and_drawing(slide_path, tmp_path):
    result = runner.invoke(app, ["tile", str(slide_path), "-o", str(tmp_path), "--tile-px", "112",
                                 "--tile-mpp", "1.0", "--format", "csv"])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "cli-slide.tiles.csv")
    assert len(table) > 0 and (table["tissue_fraction"] >= 0.8).all()
    assert (tmp_path / "cli-slide.tiles.png").stat().st_size > 1000


def test_missing_mpp_info_shows_unknown_and_tile_asks_for_it(tmp_path):
    import subprocess
    import sys

    path = write_synthetic_slide(tmp_path / "nompp.tiff", width_px=512, height_px=512,
                                 fmt="tiff-no-mpp", downsamples=(1,)).path
    shown = subprocess.run([sys.executable, "-m", "featx", "info", str(path)],
                           capture_output=True, text=True)
    assert shown.returncode == 0 and "unknown" in shown.stdout and "--slide-mpp" in shown.stderr
    done = subprocess.run([sys.executable, "-m", "featx", "tile", str(path), "-o",
                           str(tmp_path / "t")], capture_output=True, text=True)
    assert done.returncode == 2
    assert "--slide-mpp" in done.stderr and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    ok = subprocess.run([sys.executable, "-m", "featx", "info", str(path), "--slide-mpp", "0.5"],
                        capture_output=True, text=True)
    assert ok.returncode == 0 and "override" in ok.stdout


@pytest.mark.parametrize("command", ["tile", "normalize", "finetune", "extract", "pool", "fetch",
                                     "evaluate", "slidescore", "report", "info", "status",
                                     "view", "convert", "export"])
def test_help_keeps_every_character_and_examples_on_one_line(command):
    import re

    text = runner.invoke(app, [command, "--help"], terminal_width=100).output
    assert "<bool>" not in text
    examples = [line.strip() for line in text.splitlines()
                if line.strip().startswith(f"featx {command} ")]
    assert examples, text  # an example, unwrapped, that can be pasted as it is
    for line in examples:
        assert not re.search(r"\s-{1,2}$", line)
    if command == "finetune":
        assert "TILES/ADI/*.tif" in text
    if command == "report":
        assert "reports/luad/report.html" in text
    if command == "extract":
        assert "--extractor IMGNET-2048" in text and "default: IMGNET-2048" in " ".join(text.split())


@pytest.mark.tensorflow
def test_extract_in_bfloat16_stores_apart_and_says_so(slide_path, tmp_path):
    from featx.embed.store import list_extractors, provenance
    from featx.embed.store import slide_path as stored

    manifest = tmp_path / "m.csv"
    pd.DataFrame({"path": [str(slide_path)]}).to_csv(manifest, index=False)
    result = runner.invoke(app, ["extract", str(manifest), "-o", str(tmp_path / "store"),
                                 "--extractor-arg", "weights=random", "--extractor-arg",
                                 "input_px=71", "--tile-px", "112", "--tile-mpp", "1.0",
                                 "--precision", "bfloat16", "--workers", "0", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "precision: bfloat16 (asked for)" in result.output
    assert list_extractors(tmp_path / "store") == ["RANDOM-XCEPTION-2048-BF16"]
    record = provenance(stored(tmp_path / "store", extractor="RANDOM-XCEPTION-2048-BF16",
                              slide_id="cli-slide"))
    assert record["extractor"]["precision"] == "bfloat16"


def test_a_warning_is_one_line_without_source_path_or_class(tmp_path):
    """featx's own warnings (here: target rows without embeddings) read as one `warning:` line."""
    import subprocess
    import sys

    import numpy as np
    import pandas as pd

    labels = np.repeat(["a", "b"], 10)
    files = [f"t{i}.png" for i in range(20)]
    features = pd.DataFrame(np.random.default_rng(0).normal(size=(20, 3)) + (labels == "b")[:, None],
                            columns=["u", "v", "w"]).assign(file=files)
    features.to_parquet(tmp_path / "A.parquet", index=False)
    pd.DataFrame({"file": [*files, "extra.png"], "label": [*labels, "a"]}).to_csv(
        tmp_path / "labels.tsv", sep="\t", index=False)
    done = subprocess.run([sys.executable, "-m", "featx", "evaluate", str(tmp_path / "A.parquet"),
                           "-t", str(tmp_path / "labels.tsv"), "-e", "tissue", "--repeats", "1",
                           "-o", str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "IDs not in every table" in line]
    assert len(lines) == 1 and lines[0].startswith("warning: IDs not in every table were dropped")
    assert "UserWarning" not in done.stderr and ".py:" not in done.stderr
    assert "\x1b" not in done.stdout + done.stderr
