"""Every command, given each kind of bad input, answers one line, no traceback, non-zero exit.

The cases are those a new user met (issue 15): unwritable outputs, missing and
unreadable images, unknown table formats, a missing extractor argument, typos in
names, a report name that escapes its folder, and an extract that did nothing.
``main()`` runs in this process with ``sys.argv`` set, as the ``featx`` script runs it.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
import pytest

from featx.cli import main
from featx.wsi.synthetic import write_synthetic_slide


def run_main(monkeypatch, capfd, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["featx", *args])
    with pytest.raises(SystemExit) as done:
        main()
    out, err = capfd.readouterr()
    code = done.value.code
    return (code if isinstance(code, int) else 1), out, err


def assert_one_line(code: int, out: str, err: str, *needles: str) -> str:
    assert code != 0, out + err
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bad")
    slide = write_synthetic_slide(root / "S.svs", width_px=1024, height_px=768, slide_mpp=0.5).path
    (root / "notes.txt").write_text("hello\n")
    (root / "p.xlsx").write_text("a,b\n1,2\n")
    (root / "a_file").write_text("not a folder")
    pd.DataFrame({"path": [str(root / "gone.svs")]}).to_csv(root / "m.csv", index=False)
    ids = [f"T{i}" for i in range(12)]
    pd.DataFrame(np.random.default_rng(0).normal(size=(12, 4)), index=ids,
                 columns=list("abcd")).rename_axis("tile_id").reset_index().to_parquet(
        root / "p.parquet")
    pd.DataFrame({"tile_id": ids, "label": ["x", "y"] * 6}).to_csv(root / "t.csv", index=False)
    (root / "tiles").mkdir()
    (root / "store").mkdir()
    return root, slide


def test_unwritable_outputs_are_refused_before_any_work(monkeypatch, capfd, inputs):
    root, slide = inputs
    blocked = str(root / "a_file" / "out")  # a folder under a file: cannot be created
    for args in (["tile", str(slide), "-o", blocked], ["demo", "-o", blocked],
                 ["normalize", str(root / "tiles"), "-t", str(root / "notes.txt"), "-o", blocked],
                 ["report", "r", "--results", str(root), "-o", blocked]):
        line = assert_one_line(*run_main(monkeypatch, capfd, *args), "cannot create")
        assert "--help" in line


def test_unreadable_images(monkeypatch, capfd, inputs):
    root, _ = inputs
    folder = str(root / "tiles")
    assert_one_line(*run_main(monkeypatch, capfd, "normalize", folder, "-t",
                              str(root / "missing.png"), "-o", str(root / "n1")), "not found")
    assert_one_line(*run_main(monkeypatch, capfd, "normalize", folder, "-t",
                              str(root / "notes.txt"), "-o", str(root / "n2")),
                    "cannot be read as an image")


def test_extract_without_model_path_and_with_nothing_done(monkeypatch, capfd, inputs):
    root, _ = inputs
    manifest = str(root / "m.csv")
    assert_one_line(*run_main(monkeypatch, capfd, "extract", manifest, "-o", str(root / "st"),
                              "--extractor", "FTX-2048", "--workers", "0"), "model_path")
    code, out, err = run_main(monkeypatch, capfd, "extract", manifest, "-o", str(root / "st2"),
                              "--extractor", "COLORSTATS", "--workers", "0", "--no-progress")
    assert_one_line(code, out, err, "nothing was extracted", "--slides")
    assert "1 missing" in out


def test_extract_precision_it_cannot_use(monkeypatch, capfd, inputs):
    root, _ = inputs
    manifest = str(root / "m.csv")
    assert_one_line(*run_main(monkeypatch, capfd, "extract", manifest, "-o", str(root / "st3"),
                              "--precision", "half"), "--precision", "bfloat16")
    assert_one_line(*run_main(monkeypatch, capfd, "extract", manifest, "-o", str(root / "st3"),
                              "--extractor", "COLORSTATS", "--precision", "bfloat16"),
                    "Keras extractors", "COLORSTATS")
    assert_one_line(*run_main(monkeypatch, capfd, "embed", str(root / "tiles"), "-o",
                              str(root / "em"), "--extractor-arg", "precision=float16",
                              "--precision", "bfloat16"), "once")


def test_evaluate_unreadable_tables(monkeypatch, capfd, inputs):
    root, _ = inputs
    out = str(root / "results")
    assert_one_line(*run_main(monkeypatch, capfd, "evaluate", str(root / "notes.txt"), "-t",
                              str(root / "t.csv"), "-e", "tissue", "-o", out), "notes.txt")
    assert_one_line(*run_main(monkeypatch, capfd, "evaluate", str(root / "p.parquet"), "-t",
                              str(root / "p.xlsx"), "-e", "tissue", "-o", out), ".xlsx")


def test_unknown_output_format_and_unknown_names(monkeypatch, capfd, inputs):
    root, _ = inputs
    line = assert_one_line(*run_main(monkeypatch, capfd, "pool", str(root / "store"),
                                     "--extractor", "X", "-o", str(root / "p2.xlsx")), ".xlsx")
    assert "p2.parquet" in line
    assert not (root / "p2.xlsx").exists()
    assert_one_line(*run_main(monkeypatch, capfd, "fetch", "openslide_testdata", "--only",
                              "nope.zip", "-d", str(root / "dl")), "nope.zip",
                    "CMU-1-Small-Region.svs")


def test_report_name_cannot_leave_its_folder(monkeypatch, capfd, inputs):
    root, _ = inputs
    assert_one_line(*run_main(monkeypatch, capfd, "report", "../../etc/x", "--results",
                              str(root), "-o", str(root / "reports")), "plain folder name")
    assert not (root.parent / "etc").exists()


def test_usage_errors_are_one_line(monkeypatch, capfd):
    assert_one_line(*run_main(monkeypatch, capfd, "tile"), "Missing argument")
    assert_one_line(*run_main(monkeypatch, capfd, "tile", "--bogus"), "--bogus")


def test_unexpected_errors_are_one_line(monkeypatch, capfd):
    import featx.cli as cli

    def broken(**_: object) -> None:
        raise TypeError("something featx did not foresee")

    monkeypatch.setattr(cli, "app", broken)
    line = assert_one_line(*run_main(monkeypatch, capfd, "info", "x"), "TypeError",
                           "FEATX_DEBUG")
    assert "featx bug" in line

    def denied(**_: object) -> None:
        raise PermissionError(13, "Permission denied", "/root/secret")

    monkeypatch.setattr(cli, "app", denied)
    assert_one_line(*run_main(monkeypatch, capfd, "info", "x"), "/root/secret",
                    "Permission denied")


def test_info_without_mpp_reports_unknown(monkeypatch, capfd, tmp_path):
    path = write_synthetic_slide(tmp_path / "nompp.tiff", width_px=512, height_px=512,
                                 fmt="tiff-no-mpp", downsamples=(1,)).path
    monkeypatch.setattr(sys, "argv", ["featx", "info", str(path)])
    main()
    out, err = capfd.readouterr()
    assert "unknown" in out and "--slide-mpp" in err and "Traceback" not in err


def test_silent_wrong_outcomes_become_warnings(monkeypatch, capfd, tmp_path):
    """--k above every slide's tile count, and --store without --slides, are said out loud."""
    tiles = pd.DataFrame([{"slide_id": f"S{s}", "row": r, "col": c, "prob": 0.1 * s}
                          for s in range(2) for r in range(3) for c in range(3)])
    tiles.to_parquet(tmp_path / "probs.parquet")
    monkeypatch.setattr(sys, "argv", ["featx", "slidescore", str(tmp_path / "probs.parquet"),
                                      "-o", str(tmp_path / "scores"), "--k", "50"])
    main()
    _, err = capfd.readouterr()
    assert "warning: --k 50" in err and "9 tiles" in err and "mean of all their tiles" in err
    code, out, err = run_main(monkeypatch, capfd, "report", "r", "--slidescores",
                              str(tmp_path / "nowhere"), "--store", str(tmp_path),
                              "-o", str(tmp_path / "reports"))
    assert "warning: --store is used only with --slides" in err and code != 0  # no scores there


def test_every_other_command_answers_bad_paths_in_one_line(monkeypatch, capfd, inputs):
    root, _ = inputs
    notes, gone = str(root / "notes.txt"), str(root / "gone")
    for args, needle in ((["info", gone + ".svs"], "no such file"),
                         (["tile", notes, "-o", str(root / "t")], "not a slide format"),
                         (["finetune", gone, str(root / "ftx")], "tile folder"),
                         (["slidescore", notes, "-o", str(root / "ss")], "slide_id"),
                         (["status", gone], "does not exist"),
                         (["pool", gone, "--extractor", "X", "-o", str(root / "p.csv")],
                          "does not exist"),
                         (["extract", notes, "-o", str(root / "st3"), "--extractor",
                           "COLORSTATS"], "path"),
                         (["report", "r", "--results", gone], "not found")):
        assert_one_line(*run_main(monkeypatch, capfd, *args), needle)
