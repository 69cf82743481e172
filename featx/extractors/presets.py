"""Pathology foundation models by name: how to feed them, and the terms they come under.

``--extractor onnx:uni2.onnx --preset UNI2-h`` runs a model the user exported
(``featx convert`` or their own ``torch.onnx.export``) with the input size,
normalisation, layout and token pooling its authors use, and records the model's
licence, gating and commercial-use terms in the provenance of every store file, from
where ``featx extractors`` and the report show them.

featx ships no weights and downloads none: each model is gated or licensed by its
authors, and the user gets it from them. The terms below were read from each model's
card on Hugging Face (the ``source``, on 2026-12-07); licences change, so the card is
the authority. Where a card did not say something, the entry says so instead of
guessing. Preprocessing follows the model cards and TRIDENT's encoder definitions
(``mahmoodlab/TRIDENT``, ``trident/patch_encoder_models/load.py``); featx resizes
the whole tile to ``input_px`` (no centre crop), so cut tiles at the size and
resolution the model expects.

Token pooling of a (N, tokens, D) output: ``cls`` (the first token), ``cls+mean``
(the first token beside the mean of the patch tokens, which start after
``prefix_tokens``: the class token and any register tokens). A model exported with
its pooling inside gives (N, D) and needs none.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from featx.errors import InvalidParameterError

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
OPENAI_CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
HOPTIMUS = ((0.707223, 0.578729, 0.703617), (0.211883, 0.230117, 0.177517))
HIBOU = ((0.7068, 0.5755, 0.722), (0.195, 0.2316, 0.1816))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))

_CC_NC_ND = "CC-BY-NC-ND 4.0"
_MAHMOOD_GATE = ("yes: Hugging Face access request, approved for an institutional e-mail; "
                 "redistribution not allowed")
_NON_COMMERCIAL = "no: non-commercial academic research only (commercial use needs approval)"


@dataclass(frozen=True)
class ModelPreset:
    """How to run one published model, and its terms.

    Attributes
    ----------
    name : str
        The name ``--preset`` takes (and the default extractor name).
    repository : str
        Its Hugging Face repository.
    input_px : int
        Tile side the model takes.
    mean, std : tuple of three floats
        Per-channel normalisation of pixels scaled to [0, 1].
    tokens : {"cls", "cls+mean"}
        Pooling of a (N, tokens, D) output.
    prefix_tokens : int
        Tokens before the patch tokens (class token plus registers).
    n_features : int
        Width of the embedding the authors use.
    licence, gated, commercial_use : str
        The terms, as the model card states them.
    source : str
        Where the terms and preprocessing were read.
    timm : dict, optional
        The timm architecture and arguments, for ``featx convert`` (class arguments
        written as ``"module:Name"``); None when the model is not a timm model.
    notes : str
        What the card leaves open, or what featx does differently.
    """

    name: str
    repository: str
    input_px: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    tokens: str
    prefix_tokens: int
    n_features: int
    licence: str
    gated: str
    commercial_use: str
    source: str
    timm: dict[str, Any] | None = None
    notes: str = ""
    layout: str = field(default="NCHW")

    @property
    def config(self) -> dict[str, Any]:
        """JSON identity, terms included: recorded with every embedding made with it."""
        record = asdict(self)
        record.pop("timm")
        return record

    @property
    def terms(self) -> str:
        """The licence, gating and commercial-use terms in one line."""
        return (f"licence {self.licence}; gated: {self.gated}; commercial use: "
                f"{self.commercial_use} (source: {self.source})")


def _vit(architecture: str, **kwargs: Any) -> dict[str, Any]:
    return {"architecture": architecture, "kwargs": {"num_classes": 0, **kwargs}}


_SWIGLU = {"mlp_layer": "timm.layers:SwiGLUPacked", "act_layer": "torch.nn:SiLU"}

PRESETS: dict[str, ModelPreset] = {p.name: p for p in (
    ModelPreset("UNI", "MahmoodLab/UNI", 224, *IMAGENET, "cls", 1, 1024, _CC_NC_ND,
                _MAHMOOD_GATE, _NON_COMMERCIAL, "https://huggingface.co/MahmoodLab/UNI",
                _vit("vit_large_patch16_224", img_size=224, patch_size=16, init_values=1e-5,
                     dynamic_img_size=True)),
    ModelPreset("UNI2-h", "MahmoodLab/UNI2-h", 224, *IMAGENET, "cls", 9, 1536, _CC_NC_ND,
                _MAHMOOD_GATE, _NON_COMMERCIAL, "https://huggingface.co/MahmoodLab/UNI2-h",
                _vit("vit_giant_patch14_224", img_size=224, patch_size=14, depth=24,
                     num_heads=24, init_values=1e-5, embed_dim=1536, mlp_ratio=2.66667 * 2,
                     no_embed_class=True, reg_tokens=8, dynamic_img_size=True, **_SWIGLU)),
    ModelPreset("CONCH", "MahmoodLab/CONCH", 448, *OPENAI_CLIP, "cls", 1, 512, _CC_NC_ND,
                _MAHMOOD_GATE, _NON_COMMERCIAL, "https://huggingface.co/MahmoodLab/conch",
                None, "An open_clip model, not timm: export its image encoder "
                "(encode_image, no projection) with the CONCH package; 512 is TRIDENT's "
                "width for it."),
    ModelPreset("Virchow2", "paige-ai/Virchow2", 224, *IMAGENET, "cls+mean", 5, 2560,
                _CC_NC_ND, "yes: Hugging Face access request, institutional e-mail; "
                "redistribution not allowed", "no: non-commercial academic research only; "
                "commercial requests are rejected without a separate statement of use",
                "https://huggingface.co/paige-ai/Virchow2",
                _vit("vit_huge_patch14_224", img_size=224, init_values=1e-5, reg_tokens=4,
                     mlp_ratio=5.3375, global_pool="", dynamic_img_size=True, **_SWIGLU),
                "The embedding is the class token beside the mean of the patch tokens "
                "(after the 4 registers)."),
    ModelPreset("H-optimus-0", "bioptimus/H-optimus-0", 224, *HOPTIMUS, "cls", 5, 1536,
                "Apache-2.0", "yes: the card has you log in to Hugging Face to download",
                "allowed by Apache-2.0", "https://huggingface.co/bioptimus/H-optimus-0",
                _vit("vit_giant_patch14_reg4_dinov2", img_size=224, global_pool="token",
                     init_values=1e-5, dynamic_img_size=False),
                "The card expects 224-px tiles at 0.5 microns per pixel."),
    ModelPreset("H-optimus-1", "bioptimus/H-optimus-1", 224, *HOPTIMUS, "cls", 5, 1536,
                "not confirmed by featx: read the model card",
                "yes: access requests are reviewed by Bioptimus",
                "not confirmed by featx: read the model card or ask Bioptimus",
                "https://huggingface.co/bioptimus/H-optimus-1/discussions/21",
                _vit("vit_giant_patch14_reg4_dinov2", img_size=224, global_pool="token",
                     init_values=1e-5, dynamic_img_size=True),
                "Preprocessing as H-optimus-0 (TRIDENT); featx could not read the card's "
                "licence."),
    ModelPreset("Prov-GigaPath", "prov-gigapath/prov-gigapath", 224, *IMAGENET, "cls", 1,
                1536, "Apache-2.0", "yes: agree to share contact information on Hugging Face",
                "unclear: the licence is Apache-2.0, but the access form of the Prov-GigaPath "
                "models (as seen on Prov-GigaPath-Flash) asks for non-commercial research use "
                "only, not clinical or diagnostic use; ask the authors",
                "https://huggingface.co/prov-gigapath/prov-gigapath",
                _vit("vit_giant_patch14_dinov2", img_size=224, in_chans=3, patch_size=16,
                     embed_dim=1536, depth=40, num_heads=24, mlp_ratio=5.33334,
                     dynamic_img_size=True),
                "The authors resize to 256 and crop the centre 224; featx resizes the tile "
                "to 224. The slide encoder is not included. Access terms discussed at "
                "https://huggingface.co/prov-gigapath/prov-gigapath-flash/discussions/1"),
    ModelPreset("Phikon-v2", "owkin/phikon-v2", 224, *IMAGENET, "cls", 1, 1024,
                "Owkin non-commercial licence",
                "no access request on the model page",
                "no: the licence grants rights to non-profit entities only; for-profit users "
                "must contact Owkin", "https://huggingface.co/owkin/phikon-v2",
                None, "A transformers DINOv2 model: export last_hidden_state with its own "
                "code; the class token is the embedding."),
    ModelPreset("Hibou-B", "histai/hibou-b", 224, *HIBOU, "cls", 5, 768, "Apache-2.0",
                "no access request on the model page", "allowed by Apache-2.0",
                "https://huggingface.co/histai/hibou-b", None,
                "Custom transformers code (DINOv2 with 4 registers); the embedding is the "
                "pooler output (the normalised class token)."),
    ModelPreset("Hibou-L", "histai/hibou-L", 224, *HIBOU, "cls", 5, 1024, "Apache-2.0",
                "yes: agree to share contact information on Hugging Face",
                "allowed by Apache-2.0", "https://huggingface.co/histai/hibou-L", None,
                "As Hibou-B."),
    ModelPreset("Midnight-12k", "kaiko-ai/midnight", 224, *HALF, "cls+mean", 1, 3072, "MIT",
                "no access request on the model page", "allowed by MIT",
                "https://huggingface.co/kaiko-ai/midnight", None,
                "A transformers DINOv2 ViT-g/14; the card's classification embedding is the "
                "class token beside the mean of the patch tokens. Midnight-92k is not public."),
)}


def get_preset(name: str) -> ModelPreset:
    """A preset by name (case-insensitive)."""
    found = {k.lower(): v for k, v in PRESETS.items()}.get(str(name).lower())
    if found is None:
        raise InvalidParameterError("preset", f"one of {', '.join(PRESETS)}", name)
    return found


__all__ = ["PRESETS", "ModelPreset", "get_preset"]
