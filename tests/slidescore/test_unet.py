"""The feature-map U-Net: masked loss, separate learning, and memory-bounded end-to-end learning."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = pytest.mark.tensorflow

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

from featx.errors import DataNotFoundError, InvalidParameterError  # noqa: E402
from featx.extractors import ColorStatsExtractor  # noqa: E402
from featx.slidescore.end_to_end import (  # noqa: E402
    end_to_end_gradients,
    end_to_end_step,
    full_backprop_gradients,
)
from featx.slidescore.unet import FeatureMapUNet, build_unet, masked_loss  # noqa: E402
from featx.wsi.annotations import tile_labels_from_mask  # noqa: E402
from featx.wsi.slide import open_slide  # noqa: E402
from featx.wsi.synthetic import Region, write_synthetic_slide  # noqa: E402
from featx.wsi.tile_grid import canvas_layouts  # noqa: E402
from featx.wsi.tiling import TileSpec, grid_coords, read_tiles  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def _extractor(tile_px=16, d=5, seed=0):
    """A small 2-layer conv net: the end-to-end trick must hold for any extractor."""
    keras.utils.set_random_seed(seed)
    return keras.Sequential([
        keras.Input((tile_px, tile_px, 3)),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Conv2D(4, 3, strides=2, activation="tanh"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(d),
    ])


def _irregular_slide(rng, n_rows=5, n_cols=6):
    cells = [(r, c) for r in range(n_rows) for c in range(n_cols) if (r * 7 + c) % 5]
    coords = pd.DataFrame({"row": [r for r, _ in cells], "col": [c for _, c in cells]})
    return coords, rng.choice([-1, 0, 1], len(coords))


def test_build_unet_and_masked_loss():
    unet = build_unet(canvas_shape=(8, 12), n_features=3, base_filters=4, depth=2)
    assert unet.output_shape == (None, 8, 12)
    with pytest.raises(InvalidParameterError, match="divisible"):
        build_unet(canvas_shape=(6, 8), n_features=3, depth=2)
    labels = np.array([[1.0, 0.0, -1.0, -1.0]])
    logits = np.array([[2.0, -1.0, 50.0, -50.0]], np.float32)
    p = 1 / (1 + np.exp(-logits[0, :2]))
    expected = -(np.log(p[0]) + np.log(1 - p[1])) / 2  # the -1 cells add nothing
    assert float(masked_loss(labels, tf.constant(logits))) == pytest.approx(expected, rel=1e-5)
    assert float(masked_loss(-np.ones((1, 4)), tf.constant(logits))) == 0.0


@pytest.mark.parametrize("batch_size", [3, 64])
def test_end_to_end_gradient_equals_full_backprop(batch_size):
    rng = np.random.default_rng(1)
    coords, labels = _irregular_slide(rng)
    tiles = rng.integers(0, 256, (len(coords), 16, 16, 3), dtype=np.uint8)
    extractor = _extractor()
    unet = build_unet(canvas_shape=(8, 8), n_features=5, base_filters=4, depth=1)
    (layout,) = canvas_layouts(coords, canvas_shape=(8, 8))
    loss, unet_grads, ext_grads = end_to_end_gradients(
        extractor, unet, tiles, layout, labels, batch_size=batch_size)
    ref_loss, ref_unet, ref_ext = full_backprop_gradients(extractor, unet, tiles, layout, labels)
    assert loss == pytest.approx(ref_loss, rel=1e-6)
    assert len(ext_grads) == len(extractor.trainable_variables) == 6
    for got, want in zip(ext_grads + unet_grads, ref_ext + ref_unet, strict=True):
        assert np.abs(want.numpy()).max() > 0  # a real gradient, not zeros on both sides
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-7)
    # Mini-batch-wise delivery (the paper's updates) hands over the same pieces.
    pieces = []
    end_to_end_gradients(extractor, unet, tiles, layout, labels, batch_size=batch_size,
                         on_batch=pieces.append)
    summed = [sum(p[i] for p in pieces) for i in range(len(ref_ext))]
    for got, want in zip(summed, ref_ext, strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-7)


def test_end_to_end_rejects_bad_labels():
    rng = np.random.default_rng(5)
    coords, labels = _irregular_slide(rng)
    tiles = rng.integers(0, 256, (len(coords), 16, 16, 3), dtype=np.uint8)
    (layout,) = canvas_layouts(coords, canvas_shape=(8, 8))
    unet = build_unet(canvas_shape=(8, 8), n_features=5, base_filters=4, depth=1)
    for bad in (labels[:-3], np.where(labels == 1, 2, labels)):
        with pytest.raises(InvalidParameterError, match="labels"):
            end_to_end_gradients(_extractor(), unet, tiles, layout, bad)


@pytest.mark.parametrize("update", ["slide", "batch"])
def test_end_to_end_training_learns_the_extractor(update):
    # Tumour tiles are brighter: the extractor must learn to expose that to the U-Net.
    rng = np.random.default_rng(2)
    r, c = np.divmod(np.arange(64), 8)
    coords = pd.DataFrame({"row": r, "col": c})
    labels = (c >= 4).astype(np.int8)
    labels[rng.uniform(size=64) < 0.2] = -1
    base = rng.integers(40, 120, (64, 16, 16, 3))
    tiles = np.clip(base + 100 * (c >= 4)[:, None, None, None], 0, 255).astype(np.uint8)
    extractor = _extractor(seed=3)
    unet = build_unet(canvas_shape=(8, 8), n_features=5, base_filters=4, depth=1)
    (layout,) = canvas_layouts(coords, canvas_shape=(8, 8))
    before = [w.numpy().copy() for w in extractor.trainable_variables]
    opt_e, opt_u = keras.optimizers.Adam(1e-2), keras.optimizers.Adam(1e-2)
    losses = [end_to_end_step(extractor, unet, lambda ids: tiles[ids], layout, labels,
                              extractor_optimizer=opt_e, unet_optimizer=opt_u, batch_size=16,
                              extractor_update=update) for _ in range(25)]
    assert losses[-1] < 0.5 * losses[0]
    after = extractor.trainable_variables
    assert all(not np.allclose(a, b.numpy()) for a, b in zip(before, after, strict=True))


_PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np, pandas as pd, keras
    from featx.wsi.tile_grid import canvas_layouts
    from featx.slidescore.end_to_end import end_to_end_step, full_backprop_gradients
    from featx.slidescore.unet import build_unet

    TILE_PX, CANVAS, D = 32, 32, 8

    def peak_mib():  # high-water mark of this process's resident memory
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the parent across exec.
        status = open('/proc/self/status').read()
        return int(status.split('VmHWM:')[1].split()[0]) / 1024

    def slide(side):
        r, c = np.divmod(np.arange(side * side), side)
        (layout,) = canvas_layouts(pd.DataFrame({"row": r, "col": c}),
                                   canvas_shape=(CANVAS, CANVAS))
        return layout, (c >= side // 2).astype(np.int8)

    def tiles(ids):  # read lazily, one mini-batch at a time, as from a slide file
        rng = np.random.default_rng(int(ids[0]))
        return rng.integers(0, 256, (len(ids), TILE_PX, TILE_PX, 3), dtype=np.uint8)

    keras.utils.set_random_seed(0)
    extractor = keras.Sequential([
        keras.Input((TILE_PX, TILE_PX, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(D)])
    unet = build_unet(canvas_shape=(CANVAS, CANVAS), n_features=D, base_filters=8, depth=2)
    opt_e, opt_u = keras.optimizers.SGD(1e-3), keras.optimizers.SGD(1e-3)
    mode, side = sys.argv[1], int(sys.argv[2])
    # Warm up on a small slide first, so every process pays the same fixed costs.
    layout, labels = slide(8)
    for _ in range(2):
        end_to_end_step(extractor, unet, tiles, layout, labels, batch_size=32,
                        extractor_optimizer=opt_e, unet_optimizer=opt_u)
    baseline = peak_mib()
    layout, labels = slide(side)
    if mode == "e2e":
        for _ in range(2):
            end_to_end_step(extractor, unet, tiles, layout, labels, batch_size=32,
                            extractor_optimizer=opt_e, unet_optimizer=opt_u)
    else:
        full_backprop_gradients(extractor, unet, tiles(np.arange(side * side)), layout, labels)
    print(json.dumps({"growth": peak_mib() - baseline}))
""")


def _peak_growth_mib(mode: str, side: int) -> float:
    result = subprocess.run([sys.executable, "-c", _PROBE, mode, str(side)], capture_output=True,
                            text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT),
                                                      "TF_CPP_MIN_LOG_LEVEL": "2",
                                                      "CUDA_VISIBLE_DEVICES": ""},
                            timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout.strip().splitlines()[-1])["growth"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak memory from Linux /proc")
def test_end_to_end_memory_does_not_grow_with_tiles():
    """Peak RSS growth of end-to-end steps on 64 vs 1,024 tiles, each in a fresh process.

    TensorFlow's CPU allocator reports no memory statistics, so the honest
    measure is the process's peak resident set (``VmHWM``) above the peak
    reached after a warm-up on a small slide. Each measurement runs in its own
    process, since a peak left by one run would hide the next one's. The
    end-to-end step holds one 32-tile mini-batch's activations plus the fixed
    32x32x8 canvas (32 KiB), so 16 times more tiles must add almost nothing;
    full backpropagation on the large slide must add far more, which shows the
    measure can see such growth at all.
    """
    small, large = _peak_growth_mib("e2e", 8), _peak_growth_mib("e2e", 32)
    full = _peak_growth_mib("full", 32)
    peaks = {"e2e_64_tiles": small, "e2e_1024_tiles": large, "full_1024_tiles": full}
    # 1,024 tiles' activations in full backprop: 1024 x 32 x 32 x 16 floats = 64 MiB per layer.
    assert full > 100, peaks
    assert large - small < 16, peaks
    assert large < 0.1 * full, peaks


@pytest.fixture(scope="module")
def generated_features(tmp_path_factory):
    """Colour-statistics features and mask-derived tile labels of five generated slides.

    Four training slides put the tumour in different places (so the U-Net cannot
    learn a position); the held-out fifth has two separate pieces of tissue.
    """
    root = tmp_path_factory.mktemp("unet")
    extractor = ColorStatsExtractor()
    slides = []
    layouts = [
        [Region(100, 80, 1300, 860, "ellipse", "normal"),
         Region(x, y, 420, 380, "ellipse", "tumour")]
        for x, y in ((250, 200), (850, 450), (300, 500), (900, 150))
    ] + [[Region(60, 100, 560, 800, "ellipse", "normal"),
          Region(200, 350, 300, 300, "ellipse", "tumour"),
          Region(900, 150, 560, 760, "ellipse", "normal"),
          Region(1050, 300, 280, 280, "rect", "tumour")]]
    for seed, regions in enumerate(layouts, start=11):
        s = write_synthetic_slide(root / f"u{seed}.svs", width_px=1536, height_px=1024, slide_mpp=1.0,
                                  regions=regions, downsamples=(1, 4), seed=seed)
        with open_slide(s.path) as slide:
            coords = grid_coords(slide, TileSpec(tile_px=64, tile_mpp=2.0, min_tissue=0.5))
            feats = extractor(read_tiles(slide, coords))
            labels = tile_labels_from_mask(coords, s.label_mask(8), downsample=8,
                                           level_downsamples=slide.info.level_downsamples)
        slides.append((coords, feats, labels))
    return slides


def test_separate_learning_segments_a_held_out_slide(generated_features, tmp_path):
    from sklearn.metrics import roc_auc_score

    train, test = generated_features[:4], generated_features[4]
    model = FeatureMapUNet(canvas_shape=(16, 16), base_filters=8, depth=2, epochs=60,
                           batch_size=2, learning_rate=3e-3, random_state=0)
    model.fit([(c, f) for c, f, _ in train], [lab for _, _, lab in train])
    assert model.history_[-1] < 0.5 * model.history_[0]
    coords, feats, labels = test
    assert len(canvas_layouts(coords, canvas_shape=(16, 16))) == 2  # one canvas per piece
    (probs,) = model.predict_tiles([(coords, feats)])
    assert probs.shape == (len(coords),) and np.all((probs >= 0) & (probs <= 1))
    known = labels >= 0
    assert roc_auc_score(labels[known], probs[known]) >= 0.95
    (heatmap,) = model.predict_heatmaps([(coords, feats)])
    assert np.isnan(heatmap).sum() == heatmap.size - len(coords)
    # Saved and loaded, it predicts the same.
    folder = model.save(tmp_path / "unet")
    (again,) = FeatureMapUNet.load(folder).predict_tiles([(coords, feats)])
    np.testing.assert_allclose(again, probs, rtol=1e-6)
    with pytest.raises(DataNotFoundError, match="unet.keras"):
        FeatureMapUNet.load(tmp_path)


def test_unet_rejects_bad_input(generated_features):
    coords, feats, labels = generated_features[0]
    with pytest.raises(InvalidParameterError, match="labelled"):
        FeatureMapUNet(epochs=1).fit([(coords, feats)], [np.full(len(coords), -1)])
    with pytest.raises(InvalidParameterError, match="features"):
        FeatureMapUNet(epochs=1).fit([(coords, feats[:-1])], [labels])
    with pytest.raises(InvalidParameterError, match="canvas_shape"):
        FeatureMapUNet(canvas_shape=(4, 4), depth=1, epochs=1).fit([(coords, feats)], [labels])


def test_end_to_end_training_reads_tiles_from_generated_slides(tmp_path):
    # slide -> tile table -> tiles read lazily, one mini-batch at a time -> extractor -> U-Net.
    from sklearn.metrics import roc_auc_score

    from featx.slidescore.end_to_end import slide_tile_loader, train_end_to_end

    layouts = [[Region(100, 80, 1300, 860, "ellipse", "normal"),
                Region(x, 250, 420, 420, "ellipse", "tumour")] for x in (250, 850)]
    opened, slides = [], []
    for seed, regions in enumerate(layouts):
        s = write_synthetic_slide(tmp_path / f"e{seed}.svs", width_px=1536, height_px=1024,
                                  slide_mpp=1.0, regions=regions, downsamples=(1, 4), seed=seed)
        slide = open_slide(s.path)
        opened.append(slide)
        coords = grid_coords(slide, TileSpec(tile_px=32, tile_mpp=4.0, min_tissue=0.5))
        labels = tile_labels_from_mask(coords, s.label_mask(8), downsample=8,
                                       level_downsamples=slide.info.level_downsamples)
        slides.append((slide_tile_loader(slide, coords), coords, labels))
    try:
        keras.utils.set_random_seed(4)
        extractor = keras.Sequential([
            keras.Input((32, 32, 3)), keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.Conv2D(8, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(5)])
        unet = build_unet(canvas_shape=(16, 16), n_features=5, base_filters=4, depth=1)
        losses = train_end_to_end(extractor, unet, slides, epochs=20, batch_size=16,
                                  extractor_learning_rate=1e-2, unet_learning_rate=3e-3,
                                  extractor_update="batch")
        assert len(losses) == 40 and np.mean(losses[-4:]) < 0.6 * np.mean(losses[:4])
        loader, coords, labels = slides[0]
        (layout,) = canvas_layouts(coords, canvas_shape=(16, 16))
        feats = extractor(loader(np.arange(len(coords))).astype(np.float32) / 255).numpy()
        logits = unet(layout.place(feats)[None]).numpy()[0]
        known = labels >= 0
        assert roc_auc_score(labels[known], layout.take(logits)[known]) >= 0.9
    finally:
        for slide in opened:
            slide.close()
