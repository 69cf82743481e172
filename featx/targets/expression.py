"""Patient x gene expression targets from public TCGA RNA-seq.

Two sources are read:

* a **Firehose/RSEM matrix** (one file, genes x samples): ``GeneSymbol EntrezID
  <barcodes...>`` as the openomics/GDAC exports write it, or Firehose's own
  ``Hybridization REF`` layout (a second header row, genes as ``SYMBOL|ENTREZ``);
* **GDC STAR-counts files** (``*.rna_seq.augmented_star_gene_counts.tsv``, one per
  aliquot): ``gene_id gene_name gene_type unstranded ... tpm_unstranded
  fpkm_unstranded fpkm_uq_unstranded``, after a ``# gene-model`` comment and four
  ``N_*`` summary rows. Their file names hold no barcode, so a sample sheet (the
  manifest ``featx gdc rnaseq`` writes, or the GDC portal's sample sheet) maps each
  file to its aliquot.

Rows without a gene symbol (``?``) are dropped; a symbol on several rows (two Entrez
IDs or Ensembl genes) keeps the row with the highest mean, as is usual when collapsing
to symbols. :func:`expression_targets` then keeps the primary tumours, averages each
patient's aliquots (in linear scale, before the log), keeps the genes asked for,
drops genes constant over the kept patients (nothing to predict) and applies
log2(x + 1).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from featx._io import read_table
from featx._validate import one_of
from featx.barcodes import tcga_sample_type
from featx.errors import DataError, DataNotFoundError
from featx.targets.samples import PRIMARY_TUMOUR, select_samples, several_per_patient
from featx.targets.table import TargetTable, source_record

#: Value columns of a GDC STAR-counts file.
STAR_COLUMNS = ("unstranded", "stranded_first", "stranded_second", "tpm_unstranded",
                "fpkm_unstranded", "fpkm_uq_unstranded")
#: Short names for ``column=``: the TPM, FPKM or raw unstranded counts.
STAR_SHORT = {"tpm": "tpm_unstranded", "fpkm": "fpkm_unstranded", "fpkm_uq": "fpkm_uq_unstranded",
              "counts": "unstranded"}
TRANSFORMS = ("log2p1", "none")


def collapse_symbols(matrix: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Any]]:
    """One row per gene symbol: drop unnamed rows, keep the highest-mean row of a repeated symbol."""
    named = matrix[matrix.index.notna() & ~matrix.index.isin(["?", ""])]
    means = named.mean(axis=1).to_numpy()
    order = np.lexsort((-means,))  # highest mean first; stable among ties
    ranked = named.iloc[order]
    repeated = sorted(set(ranked.index[ranked.index.duplicated()]))
    out = ranked[~ranked.index.duplicated(keep="first")].sort_index()
    record = {"rows_in": len(matrix), "rows_unnamed": len(matrix) - len(named),
              "symbols_on_several_rows": len(repeated), "symbols_repeated_examples": repeated[:20]}
    return out, record


def read_rsem_matrix(path: str | Path) -> pd.DataFrame:
    """Read a Firehose/RSEM genes x samples matrix (gene symbols as index, one column per sample).

    Raises
    ------
    DataError
        Neither layout, or non-numeric values.
    """
    path = Path(path)
    table = read_table(path, what="RNA-seq matrix")
    first = str(table.columns[0])
    if first == "Hybridization REF":  # Firehose: row 2 names the value, genes are SYMBOL|ENTREZ
        table = table.iloc[1:]
        symbols = table[first].astype(str).str.split("|").str[0]
        values = table.drop(columns=[first])
    elif first.lower() in ("genesymbol", "gene_symbol", "gene", "hugo_symbol"):
        symbols = table[first].astype(str)
        values = table.drop(columns=[c for c in table.columns[:2]
                                     if str(c).lower() in (first.lower(), "entrezid", "entrez_id")])
    else:
        raise DataError(f"RNA-seq matrix {path}", f"first column {first!r} is neither GeneSymbol "
                        "nor Hybridization REF", "Pass a Firehose/RSEM matrix (GeneSymbol "
                        "EntrezID <barcodes...>) or GDC STAR-counts files with --samples")
    numeric = values.apply(pd.to_numeric, errors="coerce")
    if numeric.isna().to_numpy().any():
        bad = numeric.columns[numeric.isna().any()].tolist()
        raise DataError(f"RNA-seq matrix {path}", f"missing or non-numeric values in "
                        f"{len(bad)} samples (e.g. {bad[:3]})", "Check the file")
    numeric.index = pd.Index(symbols.to_numpy(), name="gene")
    return numeric


def _star_file(path: Path, column: str) -> pd.Series:
    table = pd.read_csv(path, sep="\t", comment="#", dtype={"gene_name": str})
    if "gene_name" not in table.columns or column not in table.columns:
        raise DataError(f"STAR-counts file {path}", f"no gene_name or {column} column (columns "
                        f"{list(table.columns)[:9]})", "Pass GDC "
                        "*.rna_seq.augmented_star_gene_counts.tsv files")
    genes = table[~table["gene_id"].astype(str).str.startswith("N_")]
    return pd.Series(pd.to_numeric(genes[column]).to_numpy(), index=genes["gene_name"].to_numpy())


def _sample_of(paths: Sequence[Path], samples: Mapping[str, str] | None) -> list[str]:
    names = []
    for path in paths:
        name = (samples or {}).get(path.name)
        if name is None and tcga_sample_type(path.name) is not None:
            name = path.name.split(".")[0]  # a file the user named by its barcode
        if name is None:
            raise DataError(f"STAR-counts file {path.name}", "its sample is unknown (GDC names "
                            "files by UUID)", "Pass --samples: the manifest of `featx gdc "
                            "rnaseq` or the GDC sample sheet (File Name, Sample ID)")
        names.append(name)
    return names


def read_sample_sheet(path: str | Path) -> dict[str, str]:
    """File name -> sample barcode, from a featx RNA-seq manifest or a GDC portal sample sheet."""
    table = read_table(path, what="sample sheet", dtype=str)
    for file_col, sample_col in (("filename", "sample"), ("File Name", "Sample ID")):
        if file_col in table.columns and sample_col in table.columns:
            # A GDC sample sheet lists "a, b" when a file holds several samples: take the first.
            return dict(zip(table[file_col], table[sample_col].str.split(",").str[0].str.strip()))
    raise DataError(f"sample sheet {path}", f"no filename/sample (featx) or File Name/Sample ID "
                    f"(GDC) columns (columns {list(table.columns)[:8]})",
                    "Pass the manifest `featx gdc rnaseq` wrote, or the GDC portal sample sheet")


def read_star_counts(paths: Sequence[str | Path], *, column: str = "tpm",
                     samples: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Read GDC STAR-counts files into one genes x samples matrix.

    Parameters
    ----------
    paths : sequence of path
        ``*.rna_seq.augmented_star_gene_counts.tsv`` files, one per aliquot.
    column : str, default "tpm"
        ``tpm``, ``fpkm``, ``fpkm_uq``, ``counts`` (unstranded), or a column name.
    samples : mapping, optional
        File name -> sample barcode (:func:`read_sample_sheet`); a file named by a
        barcode needs none.
    """
    column = STAR_SHORT.get(column, column)
    one_of("column", column, STAR_COLUMNS)
    files = [Path(p) for p in paths]
    missing = [str(p) for p in files if not p.is_file()]
    if missing:
        raise DataNotFoundError(f"STAR-counts files {missing[:3]}", "Check the paths, or fetch "
                                "them with `featx fetch` from the manifest of `featx gdc rnaseq`.")
    names = _sample_of(files, samples)
    series = [_star_file(p, column) for p in files]
    firsts = series[0].index
    for path, values in zip(files, series):
        if not values.index.equals(firsts):
            raise DataError(f"STAR-counts file {path}", "its genes differ from the first file's",
                            "Pass files of one GDC data release (one gene model)")
    matrix = pd.DataFrame(np.column_stack([s.to_numpy() for s in series]), index=firsts,
                          columns=names)
    matrix.index.name = "gene"
    return matrix


def _average_aliquots(matrix: pd.DataFrame, patients: pd.Series) -> pd.DataFrame:
    kept = matrix[patients.index]
    return kept.T.groupby(patients.to_numpy(), sort=True).mean()


def expression_targets(matrix: pd.DataFrame, *, genes: Sequence[str] | None = None,
                       sample_types: Sequence[str] | None = PRIMARY_TUMOUR,
                       transform: str = "log2p1",
                       sources: Sequence[str | Path] = (),
                       provenance: Mapping[str, Any] | None = None) -> TargetTable:
    """A patient x gene table from a genes x samples matrix.

    Parameters
    ----------
    matrix : pandas.DataFrame
        Genes (symbols) x samples (TCGA barcodes), non-negative expression values, as
        :func:`read_rsem_matrix` or :func:`read_star_counts` return.
    genes : sequence of str, optional
        Genes to keep (default all); those the matrix lacks are listed in the provenance.
    sample_types : sequence of str or None, default ("01",)
        Sample type codes kept; None keeps all.
    transform : {"log2p1", "none"}
        ``log2p1``: log2(x + 1) after averaging aliquots; ``none``: as they are.
    sources : sequence of path
        Source files, hashed into the provenance.
    provenance : mapping, optional
        More provenance (the gene list's name and hash, the STAR column).

    Returns
    -------
    TargetTable
        Patients (sorted) x genes (in the order asked, else sorted).
    """
    one_of("transform", transform, TRANSFORMS)
    collapsed, rows = collapse_symbols(matrix)
    patients, samples, notes = select_samples(list(collapsed.columns), sample_types=sample_types,
                                              what="RNA-seq samples")
    if patients.empty:
        raise DataError("RNA-seq samples", f"none of the {samples['samples_in']} samples has "
                        f"sample type {samples['sample_types_kept']}",
                        "Pass --sample-types with the types the data hold")
    repeats = several_per_patient(patients)
    if repeats:
        notes.append(f"averaged the aliquots of {len(repeats)} patients with several "
                     f"(e.g. {next(iter(repeats))})")
    table = _average_aliquots(collapsed, patients)
    wanted = list(dict.fromkeys(genes)) if genes is not None else list(table.columns)
    missing = [g for g in wanted if g not in table.columns]
    present = [g for g in wanted if g in table.columns]
    if not present:
        raise DataError("genes", f"none of the {len(wanted)} genes asked for is in the matrix "
                        f"(e.g. {missing[:5]}; the matrix has e.g. {list(table.columns[:5])})",
                        "Check that the gene list uses HGNC symbols")
    if missing:
        notes.append(f"{len(missing)} of {len(wanted)} genes asked for are not in the matrix "
                     f"(e.g. {', '.join(missing[:5])})")
    table = table[present]
    constant = [g for g in present if table[g].nunique() < 2]
    if constant:
        notes.append(f"dropped {len(constant)} genes constant over the patients "
                     f"(e.g. {', '.join(constant[:5])}): nothing to predict")
        table = table.drop(columns=constant)
    if transform == "log2p1":
        if (table.to_numpy() < 0).any():
            raise DataError("RNA-seq values", "negative values, where log2(x + 1) is undefined "
                            "for some", "Pass raw (not already logged) values, or "
                            "--transform none")
        table = np.log2(table + 1.0)
    table.index.name = "patient"
    record = {
        "kind": "expression", "sources": [source_record(p) for p in sources],
        **dict(provenance or {}), "rows": rows, "samples": samples,
        "patients": len(table), "patients_averaged": repeats,
        "genes_asked": len(wanted), "genes_missing": missing, "genes_constant_dropped": constant,
        "genes_kept": len(table.columns),
        "transform": transform,
        "transform_detail": {"log2p1": "log2(x + 1), after averaging aliquots",
                             "none": "none"}[transform],
    }
    return TargetTable(table, record, notes)
