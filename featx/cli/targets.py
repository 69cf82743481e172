"""``featx targets expression|mutations``: patient x gene target tables from public TCGA data."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from featx.cli._app import app, sub_app

if TYPE_CHECKING:
    from featx.targets.table import TargetTable

targets_app = sub_app(
    help="Patient x gene target tables from public TCGA data, with provenance beside them.",
    no_args_is_help=True, rich_markup_mode="markdown")
app.add_typer(targets_app, name="targets")

STAR_GLOB = "*.rna_seq.augmented_star_gene_counts.tsv"

SampleTypes = Annotated[str, typer.Option(
    help="Comma-separated TCGA sample type codes to keep (01 primary tumour, 02 recurrence, "
    "11 solid tissue normal), or `all`.")]


def _sample_types(text: str) -> tuple[str, ...] | None:
    if text.strip().lower() == "all":
        return None
    codes = tuple(c.strip().zfill(2) for c in text.split(",") if c.strip())
    if not codes or not all(c.isdigit() and len(c) == 2 for c in codes):
        raise typer.BadParameter(f"expected codes such as 01,02 or `all`, got {text!r}",
                                 param_hint="--sample-types")
    return codes


def _star_files(sources: list[Path]) -> list[Path]:
    files: list[Path] = []
    for source in sources:
        files += sorted(source.rglob(STAR_GLOB)) if source.is_dir() else [source]
    return files


def _echo_result(table: TargetTable, written: tuple[Path, Path]) -> None:
    for note in table.notes:
        typer.echo(f"note: {note}")
    rows, cols = table.frame.shape
    typer.echo(f"{rows} patients x {cols} genes -> {written[0]} (provenance: {written[1]})")


@targets_app.command("expression")
def expression(
    sources: Annotated[list[Path], typer.Argument(
        help="A Firehose/RSEM matrix (`GeneSymbol EntrezID <barcodes...>`), or GDC STAR-counts "
        f"files / folders holding them (`{STAR_GLOB}`, with --samples).", exists=True)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output table (.tsv, .csv, .parquet); "
                                      "its provenance goes to <stem>.provenance.json.")],
    genes: Annotated[str | None, typer.Option(
        help="Genes to keep: a file with one symbol per line, or `immune` (featx's built-in "
        "Bindea et al. 2013 immune cell-type genes). Default: every gene.")] = None,
    samples: Annotated[Path | None, typer.Option(
        help="STAR files: file name -> sample barcode, from the manifest of `featx gdc rnaseq` "
        "or the GDC portal sample sheet.", exists=True, dir_okay=False)] = None,
    column: Annotated[str, typer.Option(
        help="STAR files: `tpm`, `fpkm`, `fpkm_uq` or `counts` (unstranded).")] = "tpm",
    sample_types: SampleTypes = "01",
    transform: Annotated[str, typer.Option(
        help="`log2p1`: log2(x + 1) after averaging aliquots; `none`.")] = "log2p1",
) -> None:
    """Patient x gene expression from TCGA RNA-seq: primary tumours, aliquots averaged, log2(x + 1).

    Example (the openomics TCGA-LUAD matrix, immune genes):

        featx targets expression LUAD__geneExp.txt.gz --genes immune -o expression.tsv
    """
    from featx.targets.expression import (
        expression_targets,
        read_rsem_matrix,
        read_sample_sheet,
        read_star_counts,
    )
    from featx.targets.gene_sets import read_gene_list

    files = _star_files(sources)
    star = len(files) > 1 or any(f.name.endswith(STAR_GLOB[1:]) for f in files)
    extra: dict[str, object] = {}
    if star:
        sheet = read_sample_sheet(samples) if samples is not None else None
        matrix = read_star_counts(files, column=column, samples=sheet)
        extra["star_column"] = column
        listed = [*files, *([samples] if samples is not None else [])]
    else:
        matrix = read_rsem_matrix(files[0])
        listed = files
    wanted = None
    if genes is not None:
        wanted, record = read_gene_list(genes)
        extra.update(record)
    table = expression_targets(matrix, genes=wanted, sample_types=_sample_types(sample_types),
                               transform=transform, sources=listed,
                               provenance={**extra, "n_source_files": len(listed)})
    _echo_result(table, table.save(out))


@targets_app.command("mutations")
def mutations(
    maf: Annotated[Path, typer.Argument(help="A MAF (GDC masked somatic mutations, plain or "
                                        "gzipped).", exists=True, dir_okay=False)],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output table (.tsv, .csv, .parquet); "
                                      "its provenance goes to <stem>.provenance.json.")],
    top: Annotated[int, typer.Option(help="Keep the N genes mutated in the most patients (the "
                                     "FTX paper: 9 in TCGA-LUAD).", min=1)] = 9,
    genes: Annotated[str | None, typer.Option(
        help="A file with one gene symbol per line, instead of --top.")] = None,
    sequenced: Annotated[Path | None, typer.Option(
        help="A list of further tumour sample barcodes that were sequenced (one per line): "
        "they get 0 where the MAF has no call.", exists=True, dir_okay=False)] = None,
    sample_types: SampleTypes = "01",
) -> None:
    """Patient x gene 0/1 for non-silent mutations (maftools' non-synonymous classifications).

    Patients are those with any row in the MAF (or listed in --sequenced); a patient
    with no call in a gene is 0. Example:

        featx targets mutations luad_maf.tsv.gz --top 9 -o mutations.tsv
    """
    from featx.targets.gene_sets import read_gene_list
    from featx.targets.mutations import mutation_targets, read_maf

    extra: dict[str, object] = {}
    wanted = None
    if genes is not None:
        wanted, extra = read_gene_list(genes)
    listed = read_gene_list(sequenced)[0] if sequenced is not None else []
    table = mutation_targets(read_maf(maf), top_n=top, genes=wanted,
                             sample_types=_sample_types(sample_types), sequenced=listed,
                             sources=[maf, *([sequenced] if sequenced else [])], provenance=extra)
    _echo_result(table, table.save(out))
