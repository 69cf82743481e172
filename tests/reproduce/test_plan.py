"""The plan printed before a reproduction, and the stage log that makes it resume."""

from __future__ import annotations

import pytest

from featx.reproduce.plan import RATES, TRAIN_COST, plan_for, tiles_per_slide
from featx.reproduce.stages import StageLog


def test_tiles_per_slide_is_tissue_area_over_tile_area():
    assert tiles_per_slide(224, 0.25) == int(1e8 / 56.0**2)
    assert tiles_per_slide(224, 0.5) == int(1e8 / 112.0**2)


def test_crc_plan_counts_downloads_disk_and_time():
    plan = plan_for("crc-tissue", small=False)
    names = [n for n, _ in plan.downloads]
    assert "NCT-CRC-HE-100K.zip" in names and "CRC-VAL-HE-7K.zip" in names
    zips = sum(s for n, s in plan.downloads if n.endswith(".zip"))
    assert plan.disk_bytes == sum(s for _, s in plan.downloads) + zips + plan.store_bytes
    expected = (2 * 7180 + TRAIN_COST * 100_000 * 20) / RATES["cpu"]
    assert plan.seconds(RATES["cpu"]) == pytest.approx(expected)
    text = "\n".join(plan.lines())
    assert "7.3 days" in text and "GPU: unknown" in text


def test_local_copies_are_not_downloaded_and_a_gpu_rate_gives_a_time(monkeypatch):
    plan = plan_for("luad-mutation", small=False, have_ftx=True,
                    local=frozenset({"xception_weights_tf_dim_ordering_tf_kernels_notop.h5"}))
    assert plan.train_tiles == 0 and plan.downloads[0][1] == 0
    monkeypatch.setenv("FEATX_GPU_TILES_PER_S", "1000")
    assert "at FEATX_GPU_TILES_PER_S=1000.0" in "\n".join(plan.lines())


def test_stage_log_skips_finished_stages_and_reruns_changed_ones(tmp_path):
    calls = []
    log = StageLog(tmp_path, echo=lambda line: None)
    assert log.run("a", {"x": 1}, lambda: calls.append(1) or "one")
    again = StageLog(tmp_path, echo=lambda line: None)  # a new process reads the record
    assert not again.run("a", {"x": 1}, lambda: calls.append(2) or "two")
    assert again.run("a", {"x": 2}, lambda: calls.append(3) or "three")
    assert calls == [1, 3]
