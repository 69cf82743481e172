"""One p-value format, signed numbers and intervals, and no machine path in a report."""

from __future__ import annotations

import math

from featx.report.text import (
    fmt_interval,
    fmt_num,
    fmt_p,
    p_phrase,
    strip_paths,
    strip_paths_in,
)


def test_one_p_value_format_in_cells_and_sentences():
    assert [fmt_p(v) for v in (0.0123, 7.46e-17, 1.0, math.nan, None)] == [
        "0.012", "<0.0001", "1", "n/a", "n/a"]
    assert p_phrase(0.0123) == "p = 0.012" and p_phrase(7.46e-17) == "p < 0.0001"
    assert p_phrase(0.2, "q") == "q = 0.2" and p_phrase(math.nan) == "p n/a"


def test_signed_numbers_and_intervals():
    assert fmt_num(0.3221) == "+0.322" and fmt_num(-0.05) == "-0.050" and fmt_num(None) == "n/a"
    assert fmt_interval(0.29, 0.354) == "[+0.290, +0.354]"
    assert fmt_interval(0.9, 0.95, signed=False) == "[0.900, 0.950]"


def test_machine_paths_become_their_last_part_and_urls_stay():
    text = ("FTX-2048 in /tmp/run/ftx, tiles from /work/shared/data/tiles/kather (see "
            "C:\\Users\\me\\t.csv); live at http://127.0.0.1:8765/slide/x; a/b is relative")
    assert strip_paths(text) == ("FTX-2048 in …/ftx, tiles from …/kather (see …/t.csv); live at "
                                 "http://127.0.0.1:8765/slide/x; a/b is relative")
    assert strip_paths("p < 0.05 / 2 and 1/3") == "p < 0.05 / 2 and 1/3"
    record = strip_paths_in({"tiles": "/data/lc25000_lung_224px", "n": 3,
                             "list": ["/a/b/c.h5", "name"]})
    assert record == {"tiles": "…/lc25000_lung_224px", "n": 3, "list": ["…/c.h5", "name"]}
