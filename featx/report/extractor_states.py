"""What each extractor behind a report really is, read from the provenance the results carry.

An extractor's name promises something ("FTX-2048": an Xception fine-tuned on 100,000
tiles); its provenance says what ran: pre-trained weights, a fine-tuning of how many
batches with what validation accuracy, random weights, a stand-in table that is no
image feature at all, or files imported from another tool. Three states change how a
result reads, and every card and the title say so: **stand-in**, **random weights**
and **barely trained** (fewer than :data:`MIN_TRAINING_BATCHES` batches of fine-tuning).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Fine-tuning shorter than this is "barely trained": the paper's FTX-2048 saw about 780
#: batches of 128 tiles per epoch (NCT-CRC-HE-100K); a hundred batches is a smoke test.
MIN_TRAINING_BATCHES = 100
#: How the provenance names stand-in embeddings (featx.reproduce.standins).
STANDIN = "stand-in"


@dataclass(frozen=True)
class ExtractorState:
    """One extractor as it ran.

    Attributes
    ----------
    name : str
    state : str
        In words: "ImageNet weights", "fine-tuned for 2 batches ...", "random weights", ...
    caution : str or None
        Why a reader must not take the name at its word, in two or three words
        ("stand-in", "random weights", "barely trained"); None when nothing needs saying.
    flag : str or None
        The same as a sentence, for the title and the cards.
    """

    name: str
    state: str
    caution: str | None = None
    flag: str | None = None

    def line(self) -> str:
        """"NAME: state" for the summary."""
        return f"{self.name}: {self.state}"


def extractor_states(record: Mapping[str, Any], names: Iterable[str] = ()) -> dict[str, ExtractorState]:
    """Each extractor named in the results' provenance (and in ``names``), with its state.

    ``record`` is the report's provenance: ``{source: provenance}``, where an evaluation's
    provenance holds ``extractors: {name: config or source record}``.
    """
    found: dict[str, dict[str, Any]] = {}
    standin_label = ""
    for value in record.values():
        if not isinstance(value, Mapping):
            continue
        if STANDIN in str(value.get("embeddings", "")):
            standin_label = str(value["embeddings"])
        for name, entry in (value.get("extractors") or {}).items():
            if isinstance(entry, Mapping):
                config = entry.get("extractor") if isinstance(entry.get("extractor"), Mapping) \
                    else entry
                found.setdefault(str(name), dict(config))
    for name in names:
        found.setdefault(str(name), {})
    return {name: describe(name, config, standin_label=standin_label)
            for name, config in found.items()}


def describe(name: str, config: Mapping[str, Any], *, standin_label: str = "") -> ExtractorState:
    """The state of one extractor from its config (the store's or evaluation's provenance)."""
    if config.get(STANDIN) or (not config and name.upper().startswith("STANDIN")) or (
            standin_label and name in standin_label):
        what = f"{STANDIN}: {config[STANDIN]}" if config.get(STANDIN) else "stand-in embeddings"
        return ExtractorState(name, f"{what}; not image features", STANDIN,
                              f"{name} is a stand-in, not image features")
    if config.get("imported"):
        return ExtractorState(name, f"imported from {config.get('source_format')} files")
    if str(config.get("weights", "")).lower() == "random":
        return ExtractorState(name, "random weights (no pre-training)", "random weights",
                              f"{name} ran with random weights (no pre-training)")
    training = config.get("training")
    if isinstance(training, Mapping):
        return _fine_tuned(name, training)
    if config.get("base_weights_sha256") and config.get("data_hash"):  # an older FTX record
        return ExtractorState(name, "fine-tuned by featx; how long is not in this provenance "
                              "(extract again with this featx to record it)")
    preset = config.get("preset") or {}
    if preset:
        return ExtractorState(name, f"preset {preset.get('name')} (licence "
                              f"{preset.get('licence')})")
    if config.get("weights") == "imagenet" or config.get("weights_sha256"):
        return ExtractorState(name, "ImageNet weights" if config.get("weights") == "imagenet"
                              else "pre-trained weights")
    return ExtractorState(name, "an embedding table (no featx provenance)" if not config
                          else "extracted by featx")


def _fine_tuned(name: str, training: Mapping[str, Any]) -> ExtractorState:
    batches = int(training.get("batches") or 0)
    accuracy, chance = training.get("validation_accuracy"), training.get("chance")
    seen = (f"validation accuracy {accuracy:.2f} on {training.get('validation_tiles')} tiles"
            if isinstance(accuracy, (int, float)) else "no validation accuracy recorded")
    if isinstance(chance, (int, float)):
        seen += f" (chance {chance:.2f})"
    state = (f"fine-tuned for {batches:,} batches of {training.get('batch_size')} tiles "
             f"({' + '.join(map(str, training.get('epochs') or []))} epochs on "
             f"{training.get('train_tiles')} tiles), {seen}")
    if batches < MIN_TRAINING_BATCHES:
        return ExtractorState(name, state, "barely trained", f"{name} is barely trained "
                              f"({batches} batches of fine-tuning, {seen})")
    return ExtractorState(name, state)


def flags_for(states: Mapping[str, ExtractorState], names: Iterable[str]) -> list[str]:
    """The flags of the named extractors, in order, each once."""
    return list(dict.fromkeys(states[n].flag for n in names if n in states and states[n].flag))


__all__ = ["MIN_TRAINING_BATCHES", "ExtractorState", "describe", "extractor_states",
           "flags_for"]
