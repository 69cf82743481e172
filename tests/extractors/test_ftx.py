"""FTX-2048 fine-tuning: dataset listing, split, augmentations, two steps, resume, CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from featx.errors import DataNotFoundError, InvalidParameterError, ResumeMismatchError
from featx.extractors.ftx import XceptionFineTuner, read_tile_folder, stratified_split
from featx.extractors.ftx.model import CARD_FILE, MODEL_FILE, STEP1_WEIGHTS

WEIGHTS = ("models", "xception_imagenet_notop.weights.h5")
KATHER_CLASSES = ("01_TUMOR", "02_STROMA", "04_LYMPHO", "07_ADIPOSE")


def write_png_folder(root: Path, counts: dict[str, int], size: int = 20) -> Path:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, n in counts.items():
        (root / name).mkdir(parents=True)
        for i in range(n):
            pixels = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"t{i}.png")
    (root / "empty_class").mkdir()
    (root / "notes.txt").write_text("not a class")
    return root


@pytest.fixture(scope="module")
def weights_file(shared_data: Path) -> Path:
    path = shared_data.joinpath(*WEIGHTS)
    if not path.is_file():
        pytest.skip(f"{path} absent")
    return path


@pytest.fixture(scope="module")
def kather_subset(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 classes x 3 real Kather tiles (150 px .tif), copied into NCT-CRC-HE layout."""
    root = tmp_path_factory.mktemp("kather4")
    for name in KATHER_CLASSES:
        shutil.copytree(shared_data / "tiles" / "kather2016_samples" / name, root / name)
    return root


# -- no TensorFlow ---------------------------------------------------------------------------

def test_read_tile_folder_lists_classes_and_hashes(tmp_path: Path) -> None:
    root = write_png_folder(tmp_path / "tiles", {"b_stroma": 5, "a_tumour": 3})
    data = read_tile_folder(root)
    assert data.classes == ("a_tumour", "b_stroma")  # sorted, empty folder skipped
    assert data.counts() == {"a_tumour": 3, "b_stroma": 5}
    assert list(data.labels) == [0, 0, 0, 1, 1, 1, 1, 1]
    first = data.data_hash()
    assert read_tile_folder(root).data_hash() == first
    (root / "a_tumour" / "t0.png").rename(root / "b_stroma" / "moved.png")
    assert read_tile_folder(root).data_hash() != first
    capped = read_tile_folder(root, max_per_class=2)
    assert capped.counts() == {"a_tumour": 2, "b_stroma": 2}
    with pytest.raises(DataNotFoundError, match="one sub-folder"):
        read_tile_folder(tmp_path / "absent")
    with pytest.raises(DataNotFoundError, match="two class"):
        read_tile_folder(root / "a_tumour")


def test_stratified_split_keeps_every_class_on_both_sides() -> None:
    labels = np.repeat(np.arange(3), [2, 10, 50])
    train, val = stratified_split(labels, val_fraction=0.2, seed=3)
    assert len(np.intersect1d(train, val)) == 0 and len(train) + len(val) == len(labels)
    assert [int((labels[val] == k).sum()) for k in range(3)] == [1, 2, 10]
    again = stratified_split(labels, val_fraction=0.2, seed=3)
    np.testing.assert_array_equal(again[1], val)
    assert not np.array_equal(stratified_split(labels, val_fraction=0.2, seed=4)[1], val)


def test_parameters_are_checked_at_fit(tmp_path: Path) -> None:
    root = write_png_folder(tmp_path / "tiles", {"a": 2, "b": 2})
    with pytest.raises(InvalidParameterError, match="input_px"):
        XceptionFineTuner(out_dir=tmp_path / "o", input_px=32).fit(root)
    with pytest.raises(InvalidParameterError, match="val_fraction"):
        XceptionFineTuner(out_dir=tmp_path / "o", val_fraction=0.0).fit(root)
    with pytest.raises(InvalidParameterError, match="lr_step2"):
        XceptionFineTuner(out_dir=tmp_path / "o", lr_step2=-1.0).fit(root)


# -- TensorFlow --------------------------------------------------------------------------

@pytest.mark.tensorflow
def test_augmentations_cover_all_dihedral_views_and_keep_range() -> None:
    import tensorflow as tf

    from featx.extractors.ftx.data import augment_batch

    tf.random.set_seed(0)
    tile = np.zeros((16, 16, 3), np.float32)
    tile[0, 0] = 255.0  # a bright corner marks the orientation
    out = augment_batch(tf.constant(np.repeat(tile[None], 64, axis=0))).numpy()
    assert out.shape == (64, 16, 16, 3) and out.min() >= 0 and out.max() <= 255
    corners = {np.unravel_index(o.sum(-1).argmax(), (16, 16)) for o in out}
    assert corners == {(0, 0), (0, 15), (15, 0), (15, 15)}
    assert len({round(float(o.mean()), 3) for o in out}) > 32  # colour jitter per tile


def invert(batch: np.ndarray) -> np.ndarray:
    """A stand-in stain normaliser with a known answer."""
    return 255 - batch


@pytest.mark.tensorflow
def test_training_batches_are_normalised_resized_and_augmented(tmp_path: Path) -> None:
    from featx.extractors.ftx.data import load_tile

    root = write_png_folder(tmp_path / "tiles", {"a": 3, "b": 3}, size=40)
    data = read_tile_folder(root)
    index = np.arange(6)
    plain = XceptionFineTuner(out_dir=tmp_path / "o", input_px=72, batch_size=6,
                              normalizer=invert, augment=False)
    x, y = next(iter(plain._dataset(data, index, train=True)))
    assert x.shape == (6, 72, 72, 3) and x.dtype.name == "float32"
    expected = {int(lab): [] for lab in y.numpy()}
    for i in index:
        expected[int(data.labels[i])].append(invert(load_tile(data.paths[i], 72)).sum())
    for tile, label in zip(x.numpy(), y.numpy()):  # shuffled: match by label and pixel sum
        assert tile.sum() in expected[int(label)]
    augmented = XceptionFineTuner(out_dir=tmp_path / "o", input_px=72, batch_size=6,
                                  normalizer=invert, augment=True)
    xa, _ = next(iter(augmented._dataset(data, index, train=True)))
    assert xa.shape == (6, 72, 72, 3)
    assert 0 <= float(xa.numpy().min()) <= float(xa.numpy().max()) <= 255
    assert augmented._normalizer_config() == {"object": f"{invert.__module__}.invert"}


def _weights(layer: object) -> list[np.ndarray]:
    return [np.array(w) for w in layer.get_weights()]  # type: ignore[attr-defined]


def _same(a: list[np.ndarray], b: list[np.ndarray]) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.tensorflow
@pytest.mark.realdata
def test_two_step_finetuning_on_real_tiles(kather_subset: Path, weights_file: Path,
                                          tmp_path: Path) -> None:
    import keras

    from featx.extractors.ftx.extractor import FineTunedXception
    from featx.extractors.ftx.model import BASE_NAME, build_ftx_model, part_b_layers
    from featx.extractors.xception import ImagenetXception

    out = tmp_path / "ftx"
    tuner = XceptionFineTuner(
        out_dir=out, base_weights=weights_file, input_px=71, epochs_step1=2, epochs_step2=2,
        batch_size=4, steps_per_epoch=2, val_fraction=0.34, augment=False, seed=0,
    ).fit(kather_subset)
    history = tuner.history_
    assert [(h["step"], h["epoch"]) for h in history] == [(1, 1), (1, 2), (2, 1), (2, 2)]

    # Weights: initial (same seed) -> after step 1 -> final.
    initial, _ = build_ftx_model(4, base_weights=weights_file, input_px=71, seed=0)
    after1, _ = build_ftx_model(4, base_weights=weights_file, input_px=71, seed=0)
    after1.load_weights(out / STEP1_WEIGHTS)
    final = keras.models.load_model(out / MODEL_FILE)
    base = [_weights(m.get_layer(BASE_NAME)) for m in (initial, after1, final)]
    head = [[w for lay in part_b_layers(m) for w in _weights(lay)]
            for m in (initial, after1, final)]
    # Loss on the (un-augmented) training tiles falls in each step.
    from featx.extractors.ftx.data import load_tile, stratified_split

    data = read_tile_folder(kather_subset)
    train, _ = stratified_split(data.labels, val_fraction=0.34, seed=0)
    x = np.stack([load_tile(data.paths[i], 71) for i in train]).astype(np.float32)
    y = data.labels[train]
    losses = []
    for m in (initial, after1, final):
        m.compile(loss="sparse_categorical_crossentropy")
        losses.append(m.evaluate(x, y, batch_size=len(y), verbose=0, return_dict=True)["loss"])
    assert losses[1] < losses[0] and losses[2] < losses[1], losses
    assert _same(base[0], base[1]), "Part A changed in step 1"
    assert not _same(head[0], head[1]), "Part B did not change in step 1"
    assert _same(head[1], head[2]), "Part B changed in step 2"
    assert not _same(base[1], base[2]), "Part A did not change in step 2"
    # BatchNorm statistics stay ImageNet's in step 2 (inference mode).
    bn_stats = [[v.numpy() for v in m.get_layer(BASE_NAME).non_trainable_weights
                 if "moving" in v.path] for m in (after1, final)]
    assert _same(*bn_stats)

    card = json.loads((out / CARD_FILE).read_text())
    assert card["classes"] == list(KATHER_CLASSES)
    assert card["tile_counts"] == {"train": dict.fromkeys(KATHER_CLASSES, 2),
                                   "validation": dict.fromkeys(KATHER_CLASSES, 1)}
    assert set(card["validation_accuracy"]) == {"step1", "step2"}
    assert [s["lr"] for s in card["schedule"]] == [4e-4, 5e-5]
    assert card["base_weights_sha256"] == ImagenetXception(
        weights=weights_file, input_px=71).config["weights_sha256"]
    assert card["data_hash"] == read_tile_folder(kather_subset).data_hash()

    tiles = np.random.default_rng(0).integers(0, 256, (3, 90, 90, 3), dtype=np.uint8)
    ftx = FineTunedXception(out, batch_size=4)
    assert (ftx.name, ftx.n_features, ftx.input_px) == ("FTX-2048", 2048, 71)
    assert ftx.config["data_hash"] == card["data_hash"]
    features = ftx(tiles)
    assert features.shape == (3, 2048) and features.dtype == np.float32
    assert (features >= 0).all()  # ReLU units
    dense = keras.Model(final.input, final.get_layer("ftx_dense_2048").output)
    resized = ftx.prepare(tiles)
    np.testing.assert_allclose(features, dense(resized).numpy(), rtol=1e-4, atol=1e-4)
    imagenet = ImagenetXception(weights=weights_file, input_px=71, batch_size=4)(tiles)
    assert not np.allclose(features, imagenet, atol=1e-3)


@pytest.mark.tensorflow
@pytest.mark.realdata
def test_resume_after_interruption_continues_where_it_stopped(
    kather_subset: Path, weights_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Step 1 on cached backbone features, interrupted after its first epoch, then resumed."""
    out = tmp_path / "ftx"
    params = dict(out_dir=out, base_weights=weights_file, input_px=71, epochs_step1=3,
                  epochs_step2=0, batch_size=4, steps_per_epoch=2, val_fraction=0.34,
                  step1_cached_features=True, seed=1)
    real = XceptionFineTuner._checkpoint
    calls = []

    def crash_after_first(*args: object) -> None:
        real(*args)
        calls.append(1)
        raise KeyboardInterrupt("simulated interruption")

    monkeypatch.setattr(XceptionFineTuner, "_checkpoint", staticmethod(crash_after_first))
    with pytest.raises(KeyboardInterrupt):
        XceptionFineTuner(**params).fit(kather_subset)
    saved = json.loads((out / "state.json").read_text())
    assert (saved["step"], saved["epochs_done"], len(saved["history"])) == (1, 1, 1)
    monkeypatch.setattr(XceptionFineTuner, "_checkpoint", staticmethod(real))

    tuner = XceptionFineTuner(**params).fit(kather_subset)
    assert [h["epoch"] for h in tuner.history_] == [1, 2, 3]
    assert tuner.history_[0] == saved["history"][0]  # not retrained from scratch
    assert tuner.history_[2]["loss"] < tuner.history_[0]["loss"]
    assert tuner.card_["schedule"][0]["cached_backbone_features"] is True
    assert not (out / "checkpoint.keras").exists()  # only kept while unfinished
    model_time = (out / MODEL_FILE).stat().st_mtime_ns
    again = XceptionFineTuner(**params).fit(kather_subset)  # finished: nothing retrained
    assert again.history_ == tuner.history_
    assert (out / MODEL_FILE).stat().st_mtime_ns == model_time
    with pytest.raises(ResumeMismatchError, match="another folder"):
        XceptionFineTuner(**{**params, "lr_step1": 1e-3}).fit(kather_subset)


def test_cli_finetune_help_and_missing_folder(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from featx.cli._app import app

    runner = CliRunner()
    help_text = runner.invoke(app, ["finetune", "--help"]).output
    for option in ("--epochs-step1", "--lr-step2", "--batch-size", "--weights",
                   "--macenko-target", "--cached-step1"):
        assert option in help_text
    result = runner.invoke(app, ["finetune", str(tmp_path / "none"), str(tmp_path / "out")])
    assert isinstance(result.exception, DataNotFoundError)


@pytest.mark.tensorflow
@pytest.mark.realdata
def test_progress_into_a_pipe_is_plain_lines_and_no_function_is_retraced(
        kather_subset: Path, weights_file: Path, tmp_path: Path) -> None:
    """Five epochs through a pipe: one plain line per epoch, no Keras bar escape codes, and no
    "triggered tf.function retracing" (the step-1 head was rebuilt every epoch before)."""
    import subprocess
    import sys

    code = ("from featx.extractors.ftx import XceptionFineTuner; "
            f"XceptionFineTuner(out_dir={str(tmp_path / 'ftx')!r}, "
            f"base_weights={str(weights_file)!r}, input_px=71, epochs_step1=3, epochs_step2=2, "
            "batch_size=4, steps_per_epoch=1, val_fraction=0.34, step1_cached_features=True, "
            f"progress=True).fit({str(kather_subset)!r})")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    output = done.stdout + done.stderr
    assert "retracing" not in output and "WARNING:tensorflow" not in output
    assert "\x1b" not in output and "━" not in output
    assert len([line for line in output.splitlines()
                if line.startswith("  loss ") and "validation accuracy" in line]) == 5
