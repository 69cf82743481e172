"""The arithmetic a Keras extractor runs in: float32, bfloat16 on CPUs, float16 on GPUs.

``precision="bfloat16"`` or ``"float16"`` rebuilds the model under Keras's
``mixed_bfloat16`` / ``mixed_float16`` policy: the weights stay float32, the
convolutions run in half precision, and the features come back as float32.
``"auto"`` picks float16 where TensorFlow sees a GPU, bfloat16 on a CPU with
AVX512_BF16 or AMX instructions (where oneDNN runs bfloat16 convolutions natively),
and float32 elsewhere, and says why (:attr:`PrecisionChoice.reason`). float16 on a
CPU and bfloat16 on a CPU without those instructions work, but are emulated and slow,
so ``"auto"`` never picks them.

Half precision changes the features a little (cosine similarity to the float32
features about 0.9998 for ImageNet Xception on real tiles), so the precision is part
of the extractor's identity: its :attr:`config` records it and a non-float32 extractor's
name ends in ``-BF16`` or ``-FP16`` (``IMGNET-2048-BF16``), so its embeddings go to a
partition of their own and a store never mixes precisions.
``benchmarks/bench_precision.py`` measures the speed, the deviation and the downstream
answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featx._validate import one_of

#: Values of ``precision`` (and ``--precision``); float32 is the default everywhere.
PRECISIONS = ("float32", "bfloat16", "float16", "auto")
#: The Keras dtype policy of each half precision.
POLICIES = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}
#: What a non-float32 precision appends to the extractor's name.
NAME_SUFFIXES = {"float32": "", "bfloat16": "-BF16", "float16": "-FP16"}
#: CPU flags (Linux ``/proc/cpuinfo``) of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


@dataclass(frozen=True)
class PrecisionChoice:
    """A resolved precision and why it was chosen.

    Attributes
    ----------
    precision : str
        ``"float32"``, ``"bfloat16"`` or ``"float16"``.
    reason : str
        One phrase: ``"asked for"``, or what ``"auto"`` saw on this machine.
    """

    precision: str
    reason: str

    @property
    def name_suffix(self) -> str:
        """What this precision appends to an extractor's name (nothing for float32)."""
        return NAME_SUFFIXES[self.precision]


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The instruction-set flags of this CPU (empty where there is no ``/proc/cpuinfo``)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


def gpu_visible() -> bool:
    """Whether TensorFlow sees a GPU (imports TensorFlow)."""
    from featx._tensorflow import import_tensorflow

    return bool(import_tensorflow().config.list_physical_devices("GPU"))


def resolve_precision(precision: str, *, gpu: bool | None = None,
                      flags: frozenset[str] | None = None) -> PrecisionChoice:
    """Turn ``precision`` (``"auto"`` included) into the one to run, with the reason.

    Parameters
    ----------
    precision : {"float32", "bfloat16", "float16", "auto"}
        What was asked for.
    gpu : bool, keyword-only, optional
        Whether a GPU is there; default :func:`gpu_visible` (asked only for ``"auto"``).
    flags : frozenset of str, keyword-only, optional
        The CPU's flags; default :func:`cpu_flags`.

    Returns
    -------
    PrecisionChoice
    """
    precision = str(one_of("precision", precision, PRECISIONS))
    if precision != "auto":
        return PrecisionChoice(precision, "asked for")
    if gpu if gpu is not None else gpu_visible():
        return PrecisionChoice("float16", "auto: TensorFlow sees a GPU")
    native = [f for f in BF16_CPU_FLAGS if f in (cpu_flags() if flags is None else flags)]
    if native:
        return PrecisionChoice("bfloat16", f"auto: this CPU has {', '.join(native).upper()}")
    return PrecisionChoice("float32", "auto: no GPU, and no AVX512_BF16 or AMX on this CPU")


def with_precision(model: Any, precision: str) -> Any:
    """The model rebuilt under ``precision``'s Keras policy, with the same weights.

    float32 returns ``model`` itself. Every layer but the input is cloned with the
    mixed policy (float32 variables, half-precision compute), then the weights copied;
    works for any functional model, ``keras.applications`` backbones included.
    """
    if precision == "float32":
        return model
    import keras

    policy = keras.DTypePolicy(POLICIES[precision])

    def clone(layer: Any) -> Any:
        config = layer.get_config()
        # Layers take the policy; the input keeps float32, and bare operations in the graph
        # (keras.ops calls such as ConvNeXt's adds) have no dtype and follow their inputs.
        if isinstance(layer, keras.layers.Layer) and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    rebuilt = keras.models.clone_model(model, clone_function=clone)
    rebuilt.set_weights(model.get_weights())
    return rebuilt


__all__ = ["BF16_CPU_FLAGS", "NAME_SUFFIXES", "POLICIES", "PRECISIONS", "PrecisionChoice",
           "cpu_flags", "gpu_visible", "resolve_precision", "with_precision"]
