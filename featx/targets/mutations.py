"""Patient x gene 0/1 mutation targets from a MAF.

A patient is 1 for a gene when any of its tumour samples carries a non-silent variant
in it: a ``Variant_Classification`` in :data:`NON_SILENT`, the protein-altering set
maftools calls non-synonymous (missense, nonsense, frame shifts, in-frame indels,
splice site, translation start, non-stop). Silent, UTR, intron, flank, RNA and IGR
variants do not count.

A MAF lists variants, not samples, so a patient without any row looks the same as a
patient never sequenced. The sequenced set is therefore every tumour sample with at
least one row of any classification in the MAF (a sequenced tumour without a single
somatic call, silent ones included, is vanishingly rare), plus the samples named in
``sequenced`` (e.g. the GDC's list of aliquots of the MAF files); those patients get 0
for genes they have no call in, and patients outside that set get no row at all.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from featx._validate import positive_int
from featx.errors import DataError, DataNotFoundError, InvalidParameterError
from featx.targets.samples import PRIMARY_TUMOUR, select_samples
from featx.targets.table import TargetTable, source_record

#: Variant classifications counted as mutations (maftools' non-synonymous set).
NON_SILENT = ("Frame_Shift_Del", "Frame_Shift_Ins", "In_Frame_Del", "In_Frame_Ins",
              "Missense_Mutation", "Nonsense_Mutation", "Nonstop_Mutation", "Splice_Site",
              "Translation_Start_Site")
MAF_COLUMNS = ("Hugo_Symbol", "Variant_Classification", "Tumor_Sample_Barcode")


def _comment_lines(path: Path) -> int:
    import gzip

    opener = gzip.open if path.suffix.lower() == ".gz" else open
    n = 0
    with opener(path, "rt", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if not line.startswith("#"):
                break
            n += 1
    return n


def read_maf(path: str | Path) -> pd.DataFrame:
    """Read the columns featx needs of a MAF (GDC masked somatic mutations, or any MAF TSV).

    Leading ``#`` lines (``#version 2.4``) are skipped; plain or gzipped.

    Raises
    ------
    DataNotFoundError
        No such file.
    DataError
        It lacks ``Hugo_Symbol``, ``Variant_Classification`` or ``Tumor_Sample_Barcode``.
    """
    path = Path(path)
    if not path.is_file():
        raise DataNotFoundError(f"MAF {path}", "Check the path, or fetch the GDC masked somatic "
                                "mutation file with `featx gdc maf` and `featx fetch`.")
    try:
        header = pd.read_csv(path, sep="\t", skiprows=_comment_lines(path), nrows=0)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as error:
        raise DataError(f"MAF {path}", f"cannot be read as a tab-separated MAF ({error})",
                        "Pass a MAF (tab-separated, one variant per row)") from None
    missing = [c for c in MAF_COLUMNS if c not in header.columns]
    if missing:
        raise DataError(f"MAF {path}", f"no column {missing} (columns {list(header.columns)[:8]})",
                        "Pass a MAF with Hugo_Symbol, Variant_Classification and "
                        "Tumor_Sample_Barcode")
    return pd.read_csv(path, sep="\t", skiprows=_comment_lines(path), usecols=list(MAF_COLUMNS),
                       dtype=str, keep_default_na=False)


def _pick_genes(mutated: pd.DataFrame, top_n: int | None, genes: Sequence[str] | None,
                ) -> tuple[list[str], list[str]]:
    counts = mutated.groupby("Hugo_Symbol")["patient"].nunique()
    if genes is not None:
        wanted = list(dict.fromkeys(genes))
        return wanted, [g for g in wanted if g not in counts.index]
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))  # ties: by name
    return [g for g, _ in ranked[:top_n]], []


def mutation_targets(maf: pd.DataFrame, *, top_n: int | None = 9,
                     genes: Sequence[str] | None = None,
                     sample_types: Sequence[str] | None = PRIMARY_TUMOUR,
                     classifications: Sequence[str] = NON_SILENT,
                     sequenced: Sequence[str] = (),
                     sources: Sequence[str | Path] = (),
                     provenance: Mapping[str, Any] | None = None) -> TargetTable:
    """A patient x gene 0/1 table of non-silent mutations.

    Parameters
    ----------
    maf : pandas.DataFrame
        From :func:`read_maf`.
    top_n : int or None, default 9
        Keep the ``top_n`` genes mutated in the most patients (ties by name); the FTX
        paper used the 9 most frequent in TCGA-LUAD. Ignored when ``genes`` is given.
    genes : sequence of str, optional
        These genes instead (a gene never mutated is a column of 0s, and is noted).
    sample_types : sequence of str or None, default ("01",)
        Tumour sample types kept; None keeps all.
    classifications : sequence of str
        Variant classifications counted (default :data:`NON_SILENT`).
    sequenced : sequence of str
        More sample barcodes known to be sequenced (0 where they have no call).
    sources : sequence of path
        Source files, hashed into the provenance.
    provenance : mapping, optional
        More provenance.
    """
    if genes is None and top_n is None:
        raise InvalidParameterError("top_n", "a positive int when no gene list is given", None)
    if genes is None:
        positive_int("top_n", top_n)
    barcodes = list(dict.fromkeys([*maf["Tumor_Sample_Barcode"], *sequenced]))
    patients, samples, notes = select_samples(barcodes, sample_types=sample_types,
                                              what="tumour samples")
    if patients.empty:
        raise DataError("MAF", f"no tumour sample of type {samples['sample_types_kept']}",
                        "Pass --sample-types with the types the MAF holds")
    calls = maf[maf["Tumor_Sample_Barcode"].isin(patients.index)
                & maf["Variant_Classification"].isin(classifications)]
    calls = calls.assign(patient=calls["Tumor_Sample_Barcode"].map(patients))
    chosen, never = _pick_genes(calls, top_n, genes)
    everyone = sorted(set(patients))
    hits = calls[calls["Hugo_Symbol"].isin(chosen)].drop_duplicates(["patient", "Hugo_Symbol"])
    table = pd.DataFrame(0, index=pd.Index(everyone, name="patient"), columns=chosen, dtype=int)
    for gene, group in hits.groupby("Hugo_Symbol"):
        table.loc[group["patient"].unique(), gene] = 1
    if never:
        notes.append(f"{len(never)} genes asked for have no non-silent call in any patient "
                     f"(all 0): {', '.join(never[:5])}")
    several = int((patients.value_counts() > 1).sum())
    if several:
        notes.append(f"{several} patients have several tumour samples: 1 if any carries the "
                     "mutation")
    extra = len(set(sequenced) - set(maf["Tumor_Sample_Barcode"]))
    record = {
        "kind": "mutation", "sources": [source_record(p) for p in sources],
        **dict(provenance or {}), "variant_classifications": list(classifications),
        "sequenced_set": "every tumour sample with a row of any classification in the MAF"
                         + (f", plus {extra} samples listed as sequenced" if extra else ""),
        "samples": samples, "patients": len(table),
        "genes": {g: int(table[g].sum()) for g in chosen},
        "genes_asked": len(genes) if genes is not None else f"top {top_n} by patients mutated",
        "genes_never_mutated": never, "patients_with_several_samples": several,
    }
    return TargetTable(table, record, notes)
