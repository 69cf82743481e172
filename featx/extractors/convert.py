"""``featx convert``: a timm model the user has into ONNX, checked against torch on real tiles.

Foundation models come as PyTorch checkpoints behind their authors' terms; featx runs
ONNX (:class:`~featx.extractors.onnx_model.OnnxExtractor`) without PyTorch. This module
builds the model's timm architecture (from a preset of
:mod:`featx.extractors.presets`, or any timm architecture by name), loads the
checkpoint file the user downloaded, exports it with the preset's token pooling inside
the graph (the ONNX output is the embedding, (N, D)), and checks it: the same tiles,
prepared as featx prepares them, through torch and through onnxruntime must give
embeddings whose cosine similarity is at least ``min_cosine`` on every tile, or
nothing is written. featx downloads no weights and ships none; the result stays on
the user's machine, beside a ``.json`` recording what it was made from and the check.

Needs the ``convert`` extra (torch, timm and its torchvision).
"""

from __future__ import annotations

import importlib
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from featx import __version__
from featx._io import atomic_path, file_sha256, write_json
from featx._optional import require
from featx._validate import positive_float, rgb_batch
from featx.errors import DataNotFoundError, ExtractionError, InvalidParameterError
from featx.extractors.onnx_model import OnnxExtractor
from featx.extractors.presets import ModelPreset, get_preset

#: Least cosine similarity between torch's and onnxruntime's embedding of every tile.
MIN_COSINE = 0.9999


@dataclass(frozen=True)
class Conversion:
    """What :func:`convert_timm` wrote and how well the ONNX model agrees with torch."""

    path: Path
    record_path: Path
    min_cosine: float
    mean_cosine: float
    n_tiles: int
    n_features: int


def _resolve(value: Any) -> Any:
    """``"module:Name"`` strings in a preset's timm arguments as the objects they name."""
    if isinstance(value, str) and ":" in value and "." in value.split(":")[0]:
        module, _, name = value.partition(":")
        return getattr(importlib.import_module(module), name)
    return value


def _pooling(torch: Any, model: Any, tokens: str, prefix_tokens: int) -> Any:
    class Embed(torch.nn.Module):  # the model with its pooling, so ONNX gives (N, D)
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, pixels: Any) -> Any:
            out = self.model(pixels)
            if out.dim() == 3:
                first = out[:, 0]
                out = (first if tokens == "cls" else out.mean(dim=1) if tokens == "mean" else
                       torch.cat([first, out[:, prefix_tokens:].mean(dim=1)], dim=-1))
            return out

    return Embed().eval()


def _load_checkpoint(torch: Any, model: Any, checkpoint: Path) -> None:
    if not checkpoint.is_file():
        raise DataNotFoundError(f"checkpoint {checkpoint}", "Download the model's weights "
                                "from its page (you need its authors' permission) and pass "
                                "the file.")
    if checkpoint.suffix == ".safetensors":
        from safetensors.torch import load_file

        state = load_file(str(checkpoint))
    else:
        state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise InvalidParameterError("checkpoint", "the weights of this architecture",
                                    f"{checkpoint} ({first})") from None


def convert_timm(out: str | Path, tiles: np.ndarray, *, preset: str | None = None,
                 architecture: str | None = None, checkpoint: str | Path | None = None,
                 random_weights: bool = False, min_cosine: float = MIN_COSINE,
                 opset: int = 17, seed: int = 0) -> Conversion:
    """Export a timm model to ONNX and check it against torch on ``tiles``.

    Parameters
    ----------
    out : path
        The ``.onnx`` file to write (and ``<out>.json`` beside it).
    tiles : ndarray
        uint8 (N, H, W, 3) real tiles for the check (resized as featx resizes them).
    preset : str, optional
        A model of :data:`~featx.extractors.presets.PRESETS` with a timm architecture.
    architecture : str, optional
        Any timm architecture name instead (ImageNet normalisation, the first token).
    checkpoint : path, optional
        The weights file (``pytorch_model.bin``, ``.pth`` or ``.safetensors``).
    random_weights : bool, default False
        Seeded random weights instead of a checkpoint: for tests of the conversion only.
    min_cosine : float, default 0.9999
    opset : int, default 17
        ONNX opset.
    seed : int, default 0
        Seed of the random weights.

    Raises
    ------
    ExtractionError
        The ONNX model disagrees with torch on a tile; nothing is written.
    """
    known = _preset(preset, architecture)  # what is wrong with the arguments, before torch
    recipe = (known.timm if known is not None else
              {"architecture": architecture, "kwargs": {"num_classes": 0}})
    if (checkpoint is None) == (not random_weights):
        raise InvalidParameterError("checkpoint", "a weights file, or random_weights=True "
                                    "(tests only), not both", checkpoint)
    tiles = rgb_batch("tiles", tiles)
    min_cosine = positive_float("min_cosine", min_cosine)
    torch = require("torch", extra="convert", purpose="to export models to ONNX")
    timm = require("timm", extra="convert", purpose="to build the model's architecture")
    torch.manual_seed(seed)
    kwargs = {k: _resolve(v) for k, v in recipe["kwargs"].items()}
    model = timm.create_model(recipe["architecture"], pretrained=False, **kwargs).eval()
    if checkpoint is not None:
        _load_checkpoint(torch, model, Path(checkpoint))
    input_px = known.input_px if known is not None else int(
        model.pretrained_cfg.get("input_size", (3, 224, 224))[-1])
    tokens, prefix = (known.tokens, known.prefix_tokens) if known is not None else ("cls", 1)
    embed = _pooling(torch, model, tokens, prefix)
    out = Path(out)
    with atomic_path(out, suffix=".onnx") as tmp, warnings.catch_warnings():
        # The tracer warns about Python numbers in timm's shape checks; the check below
        # is what says whether the export is right.
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        example = torch.zeros(1, 3, input_px, input_px)
        torch.onnx.export(embed, (example,), str(tmp), input_names=["pixels"],
                          output_names=["embedding"], opset_version=opset, dynamo=False,
                          dynamic_axes={"pixels": {0: "batch"}, "embedding": {0: "batch"}})
        onnx_model = OnnxExtractor(tmp, preset=known.name if known else None,
                                   input_px=input_px)
        x = onnx_model.prepare(tiles)
        with torch.no_grad():
            expected = embed(torch.from_numpy(x)).numpy()
        got = onnx_model(x)
        cosine = np.sum(expected * got, axis=1) / (
            np.linalg.norm(expected, axis=1) * np.linalg.norm(got, axis=1) + 1e-12)
        if not np.all(cosine >= min_cosine):
            raise ExtractionError(recipe["architecture"], f"{len(tiles)} check tiles",
                                  f"cosine similarity down to {cosine.min():.6f}",
                                  f"at least {min_cosine} on every tile (nothing was written)")
    record = {"featx_version": __version__, "torch_version": torch.__version__,
              "timm_version": timm.__version__, "architecture": recipe["architecture"],
              "kwargs": {k: str(v) if not isinstance(v, (int, float, bool, str, type(None)))
                         else v for k, v in recipe["kwargs"].items()},
              "checkpoint": None if checkpoint is None else str(checkpoint),
              "checkpoint_sha256": None if checkpoint is None else file_sha256(checkpoint),
              "random_weights": bool(random_weights), "input_px": input_px,
              "tokens": tokens, "prefix_tokens": prefix,
              "preset": None if known is None else known.config,
              "onnx_sha256": file_sha256(out), "opset": opset,
              "check": {"n_tiles": len(tiles), "min_cosine": float(cosine.min()),
                        "mean_cosine": float(cosine.mean()), "threshold": min_cosine}}
    record_path = write_json(out.with_suffix(".json"), record)
    return Conversion(out, record_path, float(cosine.min()), float(cosine.mean()), len(tiles),
                      int(got.shape[1]))


def _preset(preset: str | None, architecture: str | None) -> ModelPreset | None:
    if (preset is None) == (architecture is None):
        raise InvalidParameterError("model", "a preset or a timm architecture, one of them",
                                    {"preset": preset, "architecture": architecture})
    if preset is None:
        return None
    known = get_preset(preset)
    if known.timm is None:
        raise InvalidParameterError("preset", f"a timm model ({known.name} is not: "
                                    f"{known.notes})", preset)
    return known


def read_conversion(path: str | Path) -> dict[str, Any]:
    """The record ``convert_timm`` wrote beside an ONNX file."""
    return json.loads(Path(path).with_suffix(".json").read_text())


__all__ = ["MIN_COSINE", "Conversion", "convert_timm", "read_conversion"]
