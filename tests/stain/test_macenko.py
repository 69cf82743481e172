"""Tests of featx.stain.macenko: Macenko recovers known stains, matches staintools, survives glass."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from sklearn.base import clone

from featx import __version__
from featx.errors import EmptyTissueError, InvalidParameterError, NotFittedError
from featx.stain._kernels import concentrations, one_colour, percentiles
from featx.stain.macenko import (
    STATUS_BACKGROUND,
    STATUS_FAINT,
    STATUS_OK,
    MacenkoNormalizer,
    macenko_stain_matrix,
    tissue_pixels,
)
from featx.wsi.synthetic import HE_STAIN_MATRIX, TUMOUR_STAIN_MATRIX


def he_image(
    stains: np.ndarray, *, size: int = 96, seed: int = 0, background: float = 0.1, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """An H&E-like uint8 image rendered by Beer-Lambert from known stains and concentrations.

    A quarter of the tissue pixels hold pure haematoxylin, a quarter pure eosin,
    half a mixture; ``background`` of the pixels are glass. Returns (image, conc).
    """
    rng = np.random.default_rng(seed)
    n = size * size
    conc = np.zeros((n, 2))
    kind = rng.choice(4, size=n, p=[0.25, 0.25, 0.5 - background, background])
    amount = rng.uniform(0.4, 1.2, size=(n, 2)) * scale
    conc[kind == 0, 0] = amount[kind == 0, 0]
    conc[kind == 1, 1] = amount[kind == 1, 1]
    conc[kind == 2] = amount[kind == 2] * 0.7
    image = 255 * np.exp(-conc @ stains)
    return np.round(image).astype(np.uint8).reshape(size, size, 3), conc


def angle_deg(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    cos = np.sum(a * b, axis=-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def tissue_tile(size: int = 64, seed: int = 1) -> np.ndarray:
    return he_image(HE_STAIN_MATRIX, size=size, seed=seed)[0]


def sparse_tile(size: int = 100, fraction: float = 0.01, seed: int = 2) -> np.ndarray:
    """A glass tile with a small blob of stained tissue covering ``fraction`` of it."""
    tile = np.full((size, size, 3), 240, np.uint8)
    n = round(fraction * size * size)
    blob = he_image(HE_STAIN_MATRIX, size=size, seed=seed, background=0.0)[0].reshape(-1, 3)
    tile.reshape(-1, 3)[:n] = blob[:n]
    return tile


@pytest.fixture(scope="module")
def target() -> np.ndarray:
    return he_image(HE_STAIN_MATRIX, size=96, seed=10)[0]


@pytest.fixture(scope="module")
def fitted(target: np.ndarray) -> MacenkoNormalizer:
    return MacenkoNormalizer().fit(target)


# --- the algorithm against a known answer ------------------------------------------------


@pytest.mark.parametrize("stains", [HE_STAIN_MATRIX, TUMOUR_STAIN_MATRIX], ids=["normal", "tumour"])
def test_round_trip_recovers_known_stains_andconcentrations(stains: np.ndarray) -> None:
    image, conc = he_image(stains, size=128, seed=3)
    recovered = macenko_stain_matrix(image)
    assert recovered.shape == (2, 3)
    assert np.all(angle_deg(recovered, stains) < 3.0), angle_deg(recovered, stains)
    # concentrations through the fitted normaliser's own lasso, on the recovered stains
    est = concentrations(
        np.maximum(-np.log(np.maximum(image, 1) / 255.0), 1e-6).reshape(1, -1, 3).astype(np.float32),
        recovered[None], 0.01,
    )[0]
    tissue = conc.sum(axis=1) > 0
    assert np.corrcoef(est[tissue, 0], conc[tissue, 0])[0, 1] > 0.97
    assert np.corrcoef(est[tissue, 1], conc[tissue, 1])[0, 1] > 0.97
    assert np.median(np.abs(est[tissue] - conc[tissue])) < 0.05


def test_normalising_to_own_stains_changes_only_intensity_scale() -> None:
    image, _ = he_image(HE_STAIN_MATRIX, size=96, seed=4)
    darker, _ = he_image(HE_STAIN_MATRIX, size=96, seed=4, scale=1.4)
    norm = MacenkoNormalizer().fit(image)
    out, status = norm.transform_with_status(darker[None])
    assert status.tolist() == [STATUS_OK]
    # the darker copy is brought back close to the target it was made from
    assert np.abs(out[0].astype(int) - image).mean() < 6
    assert np.abs(darker.astype(int) - image).mean() > 15


def test_concentrations_match_spams_lasso() -> None:
    spams = pytest.importorskip("spams")
    rng = np.random.default_rng(0)
    od = np.concatenate([rng.uniform(0, 2, (500, 3)), rng.uniform(0, 0.02, (50, 3)),
                         np.full((5, 3), 1e-6)])
    for stains in (HE_STAIN_MATRIX, TUMOUR_STAIN_MATRIX, np.array([[1.0, 0, 0], [0, 0.6, 0.8]])):
        ref = spams.lasso(X=np.asfortranarray(od.T), D=np.asfortranarray(stains.T), mode=2,
                          lambda1=0.01, pos=True).toarray().T
        ours = concentrations(od[None], stains[None], 0.01)[0]
        np.testing.assert_allclose(ours, ref, atol=1e-6)


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1000, 50_000])
def test_fast_percentiles_equal_numpy(n: int) -> None:
    rng = np.random.default_rng(n)
    for x in (rng.normal(size=n).astype(np.float32), np.round(rng.random(n) * 3).astype(np.float32)):
        for qs in [(1, 99), (99,), (0, 100), (50,)]:
            np.testing.assert_allclose(percentiles(x, qs), np.percentile(x, qs), rtol=1e-6)


def test_tissue_mask_matches_staintools_rule() -> None:
    import cv2

    rng = np.random.default_rng(5)
    tiles = rng.integers(0, 256, (2, 40, 40, 3), dtype=np.uint8)
    for threshold in (0.8, 0.5, 1.0):
        lum = np.stack([cv2.cvtColor(t, cv2.COLOR_RGB2LAB)[..., 0] for t in tiles]) / 255.0
        assert np.array_equal(tissue_pixels(tiles, luminosity_threshold=threshold), lum < threshold)


# --- parity with staintools ---------------------------------------------------------------


def _staintools_or_none(norm: object, image: np.ndarray) -> np.ndarray | None:
    from staintools.miscellaneous.exceptions import TissueMaskException

    try:
        return norm.transform(image.copy())  # type: ignore[attr-defined]
    except TissueMaskException:
        return None


@pytest.mark.realdata
def test_parity_with_staintools_on_real_images(shared_data) -> None:
    staintools = pytest.importorskip("staintools")
    from PIL import Image

    folder = shared_data / "stain_ref"
    paths = sorted(folder.glob("*.png"))
    if not paths:
        pytest.skip("no stain_ref images")
    target = np.asarray(Image.open(folder / "tiatoolbox_target_image.png").convert("RGB"))
    ref = staintools.StainNormalizer(method="macenko")
    ref.fit(target.copy())
    ours = MacenkoNormalizer(min_tissue_fraction=0).fit(target)
    assert np.all(angle_deg(ours.stain_matrix_target_, ref.stain_matrix_target) < 0.5)
    np.testing.assert_allclose(ours.max_concentrations_target_, ref.maxC_target[0], rtol=1e-3)
    compared = 0
    for path in paths:
        image = np.asarray(Image.open(path).convert("RGB"))[:400, :400]
        expected = _staintools_or_none(ref, image)
        out, status = ours.transform_with_status(image[None])
        if expected is None:
            continue
        assert status[0] == STATUS_OK
        assert np.abs(out[0].astype(int) - expected).mean() <= 3, path.name
        compared += 1
    assert compared >= 5


@pytest.mark.realdata
def test_parity_with_staintools_on_kather_tiles(shared_data) -> None:
    staintools = pytest.importorskip("staintools")
    from PIL import Image

    paths = sorted((shared_data / "tiles" / "kather2016_samples").glob("*/*.tif"))
    if not paths:
        pytest.skip("no Kather tiles")
    tiles = np.stack([np.asarray(Image.open(p).convert("RGB")) for p in paths])
    target = tiles[[0, 1, 2]]  # the three tumour tiles, pooled, are the target
    ref = staintools.StainNormalizer(method="macenko")
    ref.fit(target.reshape(-1, tiles.shape[2], 3).copy())
    ours = MacenkoNormalizer(min_tissue_fraction=0).fit(target)
    out, status = ours.transform_with_status(tiles)
    via_backend = MacenkoNormalizer(backend="staintools", min_tissue_fraction=0).fit(target)
    out_backend, status_backend = via_backend.transform_with_status(tiles)
    compared = 0
    for k, path in enumerate(paths):
        expected = _staintools_or_none(ref, tiles[k])
        if expected is None:
            assert status_backend[k] != STATUS_OK
            continue
        assert status[k] == STATUS_OK, path.name
        assert np.abs(out[k].astype(int) - expected).mean() <= 3, path.name
        assert np.array_equal(out_backend[k], expected)
        compared += 1
    assert compared >= 20
    # the default faint threshold flags the near-empty tiles and leaves them as they were
    default_out, default_status = MacenkoNormalizer().fit(target).transform_with_status(tiles)
    empty = np.array(["08_EMPTY" in str(p) for p in paths])
    assert set(default_status[empty]) <= {STATUS_FAINT, STATUS_BACKGROUND}
    assert np.array_equal(default_out[empty], tiles[empty])
    assert np.all(default_status[np.array(["01_TUMOR" in str(p) for p in paths])] == STATUS_OK)


# --- background and faint tiles -------------------------------------------------------------


def glass_batch() -> tuple[np.ndarray, list[str]]:
    size = 100
    white = np.full((size, size, 3), 255, np.uint8)
    grey = np.full((size, size, 3), 242, np.uint8)
    tissue = he_image(HE_STAIN_MATRIX, size=size, seed=6)[0]
    black = np.zeros((size, size, 3), np.uint8)  # a dark pen mark: one colour, no stain plane
    red = np.zeros((size, size, 3), np.uint8)
    red[..., 0] = 255  # pure red: one colour too
    tiles = np.stack([white, grey, sparse_tile(size), tissue, black, tissue[::-1], red])
    return tiles, [STATUS_BACKGROUND, STATUS_BACKGROUND, STATUS_FAINT, STATUS_OK, STATUS_FAINT,
                   STATUS_OK, STATUS_FAINT]


@pytest.mark.parametrize("mode", ["per_tile", "per_slide"])
@pytest.mark.parametrize("background", ["unchanged", "normalize"])
def test_background_and_faint_tiles_never_break_a_batch(
    target: np.ndarray, mode: str, background: str
) -> None:
    tiles, expected = glass_batch()
    norm = MacenkoNormalizer(mode=mode, background=background).fit(target)
    if mode == "per_slide":
        norm.fit_source(tiles)  # a sample that is mostly glass still fits
    with np.errstate(all="raise"):  # no silent division by zero or invalid values
        out, status = norm.transform_with_status(tiles)
    assert out.shape == tiles.shape and out.dtype == np.uint8
    # Both modes flag the one-colour tiles (black, red): per-slide no longer recolours them.
    assert status.tolist() == expected
    flagged = status != STATUS_OK
    if background == "unchanged":
        assert np.array_equal(out[flagged], tiles[flagged])
    else:
        white = out[0].astype(int)
        assert np.abs(white - 255).max() <= 3  # glass stays glass when mapped
    assert not np.array_equal(out[3], tiles[3])  # the tissue tile was normalised
    single = norm.transform(tiles[3:4])
    assert np.array_equal(single[0], out[3])  # a tile's result does not depend on its batch


def test_each_glass_tile_alone(fitted: MacenkoNormalizer) -> None:
    tiles, expected = glass_batch()
    for tile, want in zip(tiles, expected):
        out, status = fitted.transform_with_status(tile[None])
        assert status[0] == want
        assert out.dtype == np.uint8


def test_staintools_backend_flags_empty_tissue(target: np.ndarray) -> None:
    pytest.importorskip("staintools")
    tiles, expected = glass_batch()
    norm = MacenkoNormalizer(backend="staintools").fit(target)
    out, status = norm.transform_with_status(tiles)
    # staintools does not fail on one flat colour; it is the reference
    expected[4] = expected[6] = STATUS_OK
    assert status.tolist() == expected
    assert np.array_equal(out[status != STATUS_OK], tiles[status != STATUS_OK])
    ours = MacenkoNormalizer().fit(target).transform(tiles)
    assert np.abs(ours[3].astype(int) - out[3]).mean() <= 3


def one_colour_by_definition(tiles: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The one-colour rule read off every tissue pixel: the known answer for one_colour."""
    out = []
    for tile, keep in zip(tiles, mask):
        pixels = tile[keep].astype(int)
        out.append(pixels.size > 0 and int((pixels.max(0) - pixels.min(0)).max()) <= 2)
    return np.array(out, dtype=bool)


def test_one_colour_equals_its_definition_on_every_pixel() -> None:
    # one_colour reads a sample of pixels first; tissue of one colour but for a few pixels
    # the sample skips, tissue only where the sample does not look, and tiny tiles must
    # still get the answer the whole tile gives.
    rng = np.random.default_rng(0)
    tiles, masks = [], []
    for _ in range(400):
        side = int(rng.choice([1, 2, 3, 7, 33, 64]))
        base = rng.integers(0, 256, 3)
        jitter = rng.integers(-3, 4, (side, side, 3)) * (rng.random((side, side, 1)) < rng.random())
        tile = np.clip(base + jitter, 0, 255).astype(np.uint8)
        mask = rng.random((side, side)) < rng.random()
        if rng.random() < 0.3 and side > 2:  # one colour but for one pixel off the sample grid
            tile[:] = base.astype(np.uint8)
            tile[side - 1, side - 2] = (base + 40) % 256
            mask[side - 1, side - 2] = True
        tiles.append(tile)
        masks.append(mask)
    for tile, mask in zip(tiles, masks):
        assert one_colour(tile[None], mask[None])[0] == one_colour_by_definition(
            tile[None], mask[None])[0]
    same = [i for i, t in enumerate(tiles) if t.shape == (64, 64, 3)]
    batch, mask = np.stack([tiles[i] for i in same]), np.stack([masks[i] for i in same])
    np.testing.assert_array_equal(one_colour(batch, mask), one_colour_by_definition(batch, mask))


def tricky_tiles(tmp_path) -> tuple[np.ndarray, list[str]]:
    """White, grey, black, red, sparse, tissue, one colour on glass, an RGBA file, and their want."""
    from PIL import Image

    from featx._io import read_rgb

    tiles, expected = glass_batch()
    size = tiles.shape[1]
    pen = np.full((size, size, 3), 250, np.uint8)
    pen[: size // 2] = (60, 20, 90)  # a pen mark on glass: one colour of "tissue"
    rgba = np.dstack([he_image(HE_STAIN_MATRIX, size=size, seed=12)[0],
                      np.full((size, size), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "tile.png")
    from_file = read_rgb(tmp_path / "tile.png")  # the alpha channel is dropped
    return (np.concatenate([tiles, pen[None], from_file[None]]),
            [*expected, STATUS_FAINT, STATUS_OK])


@pytest.mark.parametrize("mode", ["per_tile", "per_slide"])
@pytest.mark.parametrize("background", ["unchanged", "normalize"])
def test_tricky_tiles_keep_their_statuses(
    tmp_path, target: np.ndarray, mode: str, background: str
) -> None:
    tiles, expected = tricky_tiles(tmp_path)
    norm = MacenkoNormalizer(mode=mode, background=background).fit(target)
    if mode == "per_slide":
        norm.fit_source(tiles)
    _, status = norm.transform_with_status(tiles)
    assert status.tolist() == expected
    for k, tile in enumerate(tiles):  # alone, and as strided views, the same answer
        assert norm.transform_with_status(tile[None])[1][0] == expected[k]
    wider = np.zeros(tiles.shape[:2] + (tiles.shape[2] + 3, 3), np.uint8)
    wider[:, :, : tiles.shape[2]] = tiles
    _, strided = norm.transform_with_status(wider[:, :, : tiles.shape[2]])  # not contiguous
    assert strided.tolist() == expected
    # Tiny tiles: a 1 px tile of tissue is one colour, a 1 px glass tile is background.
    tiny = np.array([[[[90, 40, 120]]], [[[255, 255, 255]]]], np.uint8)
    assert norm.transform_with_status(tiny)[1].tolist() == [STATUS_FAINT, STATUS_BACKGROUND]


def test_faint_threshold_zero_normalises_sparse_tiles(target: np.ndarray) -> None:
    norm = MacenkoNormalizer(min_tissue_fraction=0).fit(target)
    out, status = norm.transform_with_status(sparse_tile(100, 0.05)[None])
    assert status[0] == STATUS_OK


# --- per-slide mode -------------------------------------------------------------------------


def test_per_slide_on_tiles_equals_per_tile_on_the_whole_image(target: np.ndarray) -> None:
    image, _ = he_image(TUMOUR_STAIN_MATRIX, size=128, seed=7, scale=1.2)
    tiles = image.reshape(4, 32, 4, 32, 3).transpose(0, 2, 1, 3, 4).reshape(16, 32, 32, 3)
    whole = MacenkoNormalizer().fit(target).transform(image[None])[0]
    per_slide = MacenkoNormalizer(mode="per_slide").fit(target).fit_source(tiles)
    np.testing.assert_allclose(per_slide.stain_matrix_source_, macenko_stain_matrix(image),
                               atol=1e-4)
    out = per_slide.transform(tiles)
    rebuilt = out.reshape(4, 4, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(128, 128, 3)
    assert np.abs(rebuilt.astype(int) - whole).max() <= 1
    # the memoised colour map returns the same pixels the second time
    assert np.array_equal(per_slide.transform(tiles), out)


def test_per_slide_recovers_the_slide_stains(target: np.ndarray) -> None:
    image, _ = he_image(TUMOUR_STAIN_MATRIX, size=128, seed=8)
    tiles = image.reshape(4, 32, 4, 32, 3).transpose(0, 2, 1, 3, 4).reshape(16, 32, 32, 3)
    norm = MacenkoNormalizer(mode="per_slide").fit(target).fit_source(tiles)
    assert np.all(angle_deg(norm.stain_matrix_source_, TUMOUR_STAIN_MATRIX) < 3)
    assert norm.config["source_info"]["n_tiles"] == 16
    # refitting for another slide replaces the source and its colour map
    other = he_image(HE_STAIN_MATRIX, size=64, seed=9)[0]
    first = norm.transform(other[None])
    norm.fit_source(other[None])
    assert np.all(angle_deg(norm.stain_matrix_source_, HE_STAIN_MATRIX) < 3)
    assert not np.array_equal(norm.transform(other[None]), first)


def test_per_slide_colour_map_is_safe_under_threads(target: np.ndarray) -> None:
    # Pipelines transform batches from several threads at once; the shared colour map
    # must give every thread the same pixels as one thread working alone.
    from concurrent.futures import ThreadPoolExecutor

    image, _ = he_image(TUMOUR_STAIN_MATRIX, size=256, seed=11)
    tiles = image.reshape(8, 32, 8, 32, 3).transpose(0, 2, 1, 3, 4).reshape(64, 32, 32, 3)
    alone = MacenkoNormalizer(mode="per_slide").fit(target).fit_source(tiles).transform(tiles)
    for _ in range(5):  # a race shows only sometimes: try a few fresh colour maps
        shared = MacenkoNormalizer(mode="per_slide").fit(target).fit_source(tiles)
        with ThreadPoolExecutor(8) as pool:
            parts = list(pool.map(shared.transform, np.split(tiles, 16)))
        np.testing.assert_array_equal(np.concatenate(parts), alone)


def test_per_slide_needs_fit_source(target: np.ndarray) -> None:
    norm = MacenkoNormalizer(mode="per_slide").fit(target)
    with pytest.raises(NotFittedError, match="fit_source"):
        norm.transform(target[None])
    with pytest.raises(InvalidParameterError, match="per_slide"):
        MacenkoNormalizer().fit(target).fit_source(target[None])
    with pytest.raises(EmptyTissueError):
        norm.fit_source(np.full((2, 16, 16, 3), 250, np.uint8))


# --- state: save, load, config, sklearn ------------------------------------------------------


def test_save_load_round_trip(tmp_path, target: np.ndarray) -> None:
    tiles = np.stack([tissue_tile(48, seed) for seed in range(3)])
    for mode in ("per_tile", "per_slide"):
        norm = MacenkoNormalizer(mode=mode, angular_percentile=98).fit(target)
        if mode == "per_slide":
            norm.fit_source(tiles)
        path = norm.save(tmp_path / f"{mode}.json")
        cfg = json.loads(path.read_text())
        assert cfg["featx_version"] == __version__
        assert cfg["params"]["mode"] == mode and cfg["params"]["angular_percentile"] == 98
        assert np.array(cfg["stain_matrix_target"]).shape == (2, 3)
        loaded = MacenkoNormalizer.load(path)
        assert loaded.config == norm.config
        assert np.array_equal(loaded.transform(tiles), norm.transform(tiles))
    assert list(tmp_path.glob("*.tmp")) == []


def test_load_rejects_foreign_json(tmp_path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(InvalidParameterError, match="format"):
        MacenkoNormalizer.load(bad)
    bad.write_text("{not json")
    with pytest.raises(InvalidParameterError):
        MacenkoNormalizer.load(bad)


def test_config_and_sklearn_contract(fitted: MacenkoNormalizer, target: np.ndarray) -> None:
    cfg = fitted.config
    assert cfg["method"] == "macenko" and len(cfg["target_sha256"]) == 64
    json.dumps(cfg)
    copy = clone(fitted)
    assert not hasattr(copy, "stain_matrix_target_")
    assert copy.get_params() == fitted.get_params()
    assert copy.fit(target) is copy
    assert copy.config == cfg  # fitting is deterministic
    restored = pickle.loads(pickle.dumps(fitted))
    assert np.array_equal(restored.stain_matrix_target_, fitted.stain_matrix_target_)


# --- bad input ---------------------------------------------------------------------------------


def test_clear_errors_on_bad_input(fitted: MacenkoNormalizer, target: np.ndarray) -> None:
    with pytest.raises(NotFittedError, match="fit"):
        MacenkoNormalizer().transform(target[None])
    with pytest.raises(NotFittedError):
        _ = MacenkoNormalizer().config
    with pytest.raises(InvalidParameterError, match="uint8"):
        fitted.transform(target[None].astype(np.float32))
    with pytest.raises(InvalidParameterError, match=r"\(N, H, W, 3\)"):
        fitted.transform(target)  # one image, not a batch
    with pytest.raises(InvalidParameterError, match=r"\(N, H, W, 3\)"):
        fitted.transform(target[None, ..., :2])
    with pytest.raises(InvalidParameterError, match="mode"):
        MacenkoNormalizer(mode="per_image").fit(target)
    with pytest.raises(InvalidParameterError, match="angular_percentile"):
        MacenkoNormalizer(angular_percentile=30).fit(target)
    with pytest.raises(InvalidParameterError, match="backend"):
        MacenkoNormalizer(backend="staintools", regularizer=0.1).fit(target)
    with pytest.raises(EmptyTissueError, match="no usable tissue"):
        MacenkoNormalizer().fit(np.full((32, 32, 3), 255, np.uint8))
    with pytest.raises(InvalidParameterError, match="background"):
        clone(fitted).fit(target).set_params(background="drop").transform(target[None])
    empty = fitted.transform(np.zeros((0, 8, 8, 3), np.uint8))
    assert empty.shape == (0, 8, 8, 3)
