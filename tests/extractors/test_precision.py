"""Tests of featx.extractors.precision: auto picks by machine, half precision stays close."""

from __future__ import annotations

import numpy as np
import pytest

from featx.errors import InvalidParameterError
from featx.extractors.precision import cpu_flags, resolve_precision


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


def test_auto_picks_float16_on_a_gpu_bfloat16_on_a_bf16_cpu_else_float32() -> None:
    plain = frozenset({"avx2", "fma"})
    assert resolve_precision("auto", gpu=True, flags=plain).precision == "float16"
    bf16 = resolve_precision("auto", gpu=False, flags=plain | {"avx512_bf16"})
    assert (bf16.precision, bf16.reason) == ("bfloat16", "auto: this CPU has AVX512_BF16")
    assert resolve_precision("auto", gpu=False, flags=plain | {"amx_bf16"}).precision == "bfloat16"
    none = resolve_precision("auto", gpu=False, flags=plain)
    assert none.precision == "float32" and "no GPU" in none.reason
    # what was asked for is kept, whatever the machine
    asked = resolve_precision("float16", gpu=False, flags=plain)
    assert (asked.precision, asked.reason, asked.name_suffix) == ("float16", "asked for", "-FP16")
    assert resolve_precision("float32").name_suffix == ""
    with pytest.raises(InvalidParameterError, match="precision"):
        resolve_precision("half")


def test_cpu_flags_reads_cpuinfo(tmp_path) -> None:
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16\nbugs\t\t: spectre\n")
    assert cpu_flags(info) == {"fpu", "avx512f", "avx512_bf16"}
    assert cpu_flags(tmp_path / "absent") == frozenset()  # macOS, Windows: no /proc


@pytest.mark.tensorflow
@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_half_precision_keras_extractor_is_close_and_says_so(precision: str) -> None:
    import keras

    from featx.extractors.keras_model import KerasExtractor

    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.Activation("linear", name="conv")(keras.ops.add(x, x))  # a bare operation
    model = keras.Model(inputs, keras.layers.Dense(3)(x), name="tiny")
    tiles = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    full = KerasExtractor(model, layer="conv", batch_size=4)
    half = KerasExtractor(model, layer="conv", batch_size=4, precision=precision)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is untouched
    suffix = {"bfloat16": "-BF16", "float16": "-FP16"}[precision]
    assert (half.name, full.name) == (f"KERAS-tiny-conv{suffix}", "KERAS-tiny-conv")
    assert (half.config["precision"], full.config["precision"]) == (precision, "float32")
    a, b = full(tiles), half(tiles)
    assert b.dtype == np.float32 and b.shape == a.shape
    assert cosine(a, b).min() > 0.999  # the same features, rounded
    assert not np.array_equal(a, b)  # and really computed in half precision


@pytest.mark.tensorflow
@pytest.mark.realdata
@pytest.mark.slow
def test_bfloat16_xception_on_real_tiles(shared_data) -> None:
    from PIL import Image

    from featx.extractors.xception import ImagenetXception

    weights = shared_data / "models" / "xception_imagenet_notop.weights.h5"
    paths = sorted((shared_data / "tiles" / "lc25000_lung_224px").glob("*/*.jpeg"))[::40][:12]
    if not weights.is_file() or len(paths) < 12:
        pytest.skip("the ImageNet Xception weights or the LC25000 tiles are absent")
    tiles = np.stack([np.asarray(Image.open(p).convert("RGB").resize((224, 224))) for p in paths])
    full = ImagenetXception(weights=weights, batch_size=12)
    half = ImagenetXception(weights=weights, batch_size=12, precision="bfloat16")
    assert half.name == "IMGNET-2048-BF16"
    assert half.config["weights_sha256"] == full.config["weights_sha256"]
    similarity = cosine(full(tiles), half(tiles))
    # 600 LC25000 tiles gave min 0.9983, median 0.9998 (benchmarks/bench_precision.py)
    assert similarity.min() > 0.995 and np.median(similarity) > 0.999
