"""The plan printed before a reproduction: one planner with `featx plan`, stage costs measured."""

from __future__ import annotations

import pandas as pd
import pytest

from featx.downloads.manifests import bundled_manifest, read_manifest
from featx.embed.plan import measured_rates, plan_cohort
from featx.reproduce.plan import Stage, plan_for, primary_tumour_slides, stage_costs
from featx.reproduce.stages import StageLog
from featx.wsi.tiling import TileSpec


def test_luad_slides_are_planned_by_the_cohort_planner():
    """The same slides get the same tiles and store from `featx plan` and `featx reproduce`."""
    plan = plan_for("luad-expression", small=False)
    manifest = read_manifest(bundled_manifest("tcga_luad_slides"))
    primary = manifest[manifest["sample_type_code"] == "01"]
    assert len(plan.cohort.slides) == len(primary) == 812
    assert "primary-tumour (01) slides of the 1,060 rows" in plan.cohort.cohort
    slides_bytes = dict(plan.downloads)["812 TCGA-LUAD slides"]
    assert slides_bytes == pd.to_numeric(primary["size"]).sum()
    everything = plan_cohort(bundled_manifest("tcga_luad_slides"), spec=TileSpec(tile_mpp=0.25))
    per_slide = everything.slides.set_index("slide_id")["n_tiles"]
    ours = plan.cohort.slides.set_index("slide_id")["n_tiles"]
    assert ours.equals(per_slide.loc[ours.index])  # one size model, slide by slide
    extract = [s for s in plan.stages if s.name.startswith("extract-")]
    assert [s.model_tiles for s in extract] == [plan.cohort.n_tiles] * 2
    assert plan.store_bytes == pytest.approx(2 * plan.cohort.store_bytes)


def test_primary_tumour_slides_say_which_and_why(tmp_path):
    path = tmp_path / "m.tsv"
    path.write_text("id\tfilename\tmd5\tsize\tstate\n"
                    "a\tTCGA-AA-0001-01A-01-TS1.x.svs\t0\t10\tlive\n"
                    "b\tTCGA-AA-0001-11A-01-TS1.y.svs\t0\t20\tlive\n")
    slides, why = primary_tumour_slides(path)
    assert slides["patient"].tolist() == ["TCGA-AA-0001"]
    assert "of the 2 rows of m.tsv" in why and "primary tumours" in why


def test_crc_plan_counts_downloads_disk_and_time_from_manifests_and_rates():
    plan = plan_for("crc-tissue", small=False, data_dir=None)
    sizes = read_manifest(bundled_manifest("nct_crc_he")).set_index("filename")
    downloads = dict(plan.downloads)
    assert downloads["NCT-CRC-HE-100K.zip"] == int(sizes.loc["NCT-CRC-HE-100K.zip", "size"])
    zips = sum(s for n, s in plan.downloads if n.endswith(".zip"))
    assert plan.disk_bytes == sum(s for _, s in plan.downloads) + zips + plan.store_bytes
    stages = {s.name: s for s in plan.stages}
    # Step 1 one pass per tile, step 2 three, 10 epochs each, over NCT-CRC-HE-100K's tiles.
    assert stages["finetune"].model_tiles == 100_000 * (10 + 3 * 10)
    assert stages["embed-IMGNET-2048"].model_tiles == 7_180
    assert stages["evaluate-tissue"].units == 50 * 5 * 2 * 7_180 * 2048
    rates = measured_rates()
    expected = sum(s.seconds(rates["stages"], rates["forward_tiles_per_s"]) for s in plan.stages)
    assert plan.seconds() == pytest.approx(expected)
    assert plan.seconds(1000.0) < plan.seconds()  # a faster model shortens the model stages only
    text = "\n".join(plan.lines())
    assert "GPU: unknown" in text and "finetune:" in text and "measured" in text


def test_local_copies_are_not_downloaded_and_a_gpu_rate_gives_a_time(monkeypatch):
    plan = plan_for("luad-mutation", small=False, have_ftx=True,
                    local=frozenset({"xception_weights_tf_dim_ordering_tf_kernels_notop.h5"}))
    assert "finetune" not in [s.name for s in plan.stages] and plan.downloads[0][1] == 0
    monkeypatch.setenv("FEATX_GPU_TILES_PER_S", "1000")
    assert "at FEATX_GPU_TILES_PER_S=1000" in "\n".join(plan.lines())


def test_small_luad_plans_stand_ins_and_no_model(shared_data):
    plan = plan_for("luad-mutation", small=True, data_dir=shared_data, n_repeats=2)
    assert plan.downloads == [] and plan.model_tiles == 0 and plan.cohort is None
    evaluate = {s.name: s for s in plan.stages}["evaluate-mutation"]
    # 2 x 5-fold x 10 genes x 2 stand-ins, on the manifest's primary-tumour patients.
    assert "200 fits of 502 x 26" in evaluate.what


def test_stage_costs_recover_the_costs_that_made_the_times():
    """Known costs -> stage times -> stage_costs gives the costs back, and the plans' times."""
    costs = {"start": {"fixed_s": 3.0}, "finetune": {"fixed_s": 40.0}, "embed": {"fixed_s": 9.0},
             "evaluate-tissue": {"per_unit_s": 2e-8}, "report-tissue": {"fixed_s": 5.0}}
    rate = 6.0
    plans = [plan_for("crc-tissue", small=False, n_repeats=r) for r in (2, 4)]
    runs = []
    for plan in plans:
        seconds = {s.name: s.seconds(costs, rate) for s in plan.stages if s.name != "start"}
        runs.append((plan, seconds, sum(seconds.values()) + 3.0))
    found = stage_costs(runs, rate)
    for key, cost in costs.items():
        assert found[key] == pytest.approx(cost), key
    assert Stage("x", "embed", 60.0).seconds(found, rate) == pytest.approx(9.0 + 10.0)


def test_stage_log_skips_finished_stages_and_reruns_changed_ones(tmp_path):
    calls = []
    log = StageLog(tmp_path, echo=lambda line: None)
    assert log.run("a", {"x": 1}, lambda: calls.append(1) or "one")
    again = StageLog(tmp_path, echo=lambda line: None)  # a new process reads the record
    assert not again.run("a", {"x": 1}, lambda: calls.append(2) or "two")
    assert again.run("a", {"x": 2}, lambda: calls.append(3) or "three")
    assert calls == [1, 3]
    assert set(again.seconds) == {"a"} and again.seconds["a"] >= 0
