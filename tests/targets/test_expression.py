"""Expression targets: RSEM matrices and STAR files with normals, duplicates, missing genes."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from featx.cli._app import app
from featx.errors import DataError
from featx.targets import expression_targets, read_gene_list, read_rsem_matrix, read_star_counts
from featx.targets.expression import read_sample_sheet
from featx.targets.table import provenance_path

# Patient A: a primary tumour with two aliquots (averaged); B: one primary and a normal;
# C: only a recurrence (dropped, so no row). Values chosen so log2(mean + 1) is exact.
SAMPLES = {"TCGA-AA-0001-01A-01R-0001-07": [1.0, 10.0, 5.0],
           "TCGA-AA-0001-01B-02R-0002-07": [5.0, 20.0, 5.0],
           "TCGA-AA-0002-01A-01R-0001-07": [7.0, 0.0, 5.0],
           "TCGA-AA-0002-11A-01R-0001-07": [100.0, 100.0, 100.0],
           "TCGA-AA-0003-02A-01R-0001-07": [50.0, 50.0, 50.0]}


def write_rsem(path, *, duplicate=True):
    rows = [("CD8A", "925", 0), ("GZMB", "3002", 1), ("FLAT", "1", 2)]
    lines = ["GeneSymbol\tEntrezID\t" + "\t".join(SAMPLES)]
    for gene, entrez, i in rows:
        lines.append(f"{gene}\t{entrez}\t" + "\t".join(str(v[i]) for v in SAMPLES.values()))
    lines.append("?\t99\t" + "\t".join("1" for _ in SAMPLES))  # unnamed: dropped
    if duplicate:  # a second, lower CD8A row: the higher-mean row stays
        lines.append("CD8A\t926\t" + "\t".join("0.5" for _ in SAMPLES))
    with gzip.open(path, "wt") as handle:
        handle.write("\n".join(lines) + "\n")
    return path


def test_rsem_matrix_gives_primary_tumours_averaged_and_logged(tmp_path):
    matrix = read_rsem_matrix(write_rsem(tmp_path / "m.txt.gz"))
    table = expression_targets(matrix, genes=["GZMB", "CD8A", "NOPE", "FLAT"])
    assert list(table.frame.index) == ["TCGA-AA-0001", "TCGA-AA-0002"]
    assert list(table.frame.columns) == ["GZMB", "CD8A"]  # order asked; FLAT constant (5, 5)
    assert table.frame.loc["TCGA-AA-0001", "CD8A"] == pytest.approx(np.log2(3.0 + 1))
    assert table.frame.loc["TCGA-AA-0001", "GZMB"] == pytest.approx(np.log2(15.0 + 1))
    assert table.frame.loc["TCGA-AA-0002", "GZMB"] == pytest.approx(0.0)
    record = table.provenance
    assert record["genes_missing"] == ["NOPE"]
    assert record["genes_constant_dropped"] == ["FLAT"]
    assert record["samples"]["dropped_by_sample_type"] == {"02 recurrent tumour": 1,
                                                           "11 solid tissue normal": 1}
    assert record["patients_averaged"] == {"TCGA-AA-0001": ["TCGA-AA-0001-01A-01R-0001-07",
                                                            "TCGA-AA-0001-01B-02R-0002-07"]}
    assert record["rows"]["rows_unnamed"] == 1 and record["rows"]["symbols_on_several_rows"] == 1
    assert any("1 RNA-seq samples of sample type 11" in n for n in table.notes)


def test_transform_none_and_every_sample_type(tmp_path):
    matrix = read_rsem_matrix(write_rsem(tmp_path / "m.txt.gz", duplicate=False))
    table = expression_targets(matrix, sample_types=None, transform="none")
    assert table.frame.loc["TCGA-AA-0003", "CD8A"] == 50.0
    assert table.frame.loc["TCGA-AA-0002", "CD8A"] == pytest.approx((7.0 + 100.0) / 2)


def test_no_gene_found_and_no_sample_kept_are_clear_errors(tmp_path):
    matrix = read_rsem_matrix(write_rsem(tmp_path / "m.txt.gz"))
    with pytest.raises(DataError, match="none of the 2 genes"):
        expression_targets(matrix, genes=["X1", "X2"])
    with pytest.raises(DataError, match="sample type"):
        expression_targets(matrix, sample_types=("06",))
    bad = matrix.rename(columns={matrix.columns[0]: "sample-1"})
    with pytest.raises(DataError, match="not TCGA sample barcodes"):
        expression_targets(bad)


STAR_HEADER = ("# gene-model: GENCODE v36\ngene_id\tgene_name\tgene_type\tunstranded\t"
               "stranded_first\tstranded_second\ttpm_unstranded\tfpkm_unstranded\t"
               "fpkm_uq_unstranded\n")


def write_star(path, tpm):
    lines = [STAR_HEADER.rstrip("\n")]
    lines += [f"{n}\t\t\t100\t50\t50\t\t\t" for n in ("N_unmapped", "N_multimapping",
                                                      "N_noFeature", "N_ambiguous")]
    for i, (gene, value) in enumerate(zip(("CD8A", "GZMB", "CD8A"), tpm)):
        lines.append(f"ENSG0000000000{i}.1\t{gene}\tprotein_coding\t{10 * (i + 1)}\t1\t1\t"
                     f"{value}\t{value / 2}\t{value / 3}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_star_files_with_a_sample_sheet(tmp_path):
    names = {"a.rna_seq.augmented_star_gene_counts.tsv": ("TCGA-AA-0001-01A-01R-0001-07",
                                                          [3.0, 1.0, 0.0]),
             "b.rna_seq.augmented_star_gene_counts.tsv": ("TCGA-AA-0002-01A-01R-0001-07",
                                                          [7.0, 3.0, 0.0]),
             "c.rna_seq.augmented_star_gene_counts.tsv": ("TCGA-AA-0002-11A-01R-0001-07",
                                                          [99.0, 99.0, 0.0])}
    for name, (_, tpm) in names.items():
        write_star(tmp_path / name, tpm)
    sheet = tmp_path / "sheet.tsv"
    pd.DataFrame({"File Name": list(names), "Sample ID": [s for s, _ in names.values()]}).to_csv(
        sheet, sep="\t", index=False)
    matrix = read_star_counts(sorted(tmp_path.glob("*.tsv"))[:3], samples=read_sample_sheet(sheet))
    assert matrix.shape == (3, 3)  # the four N_* rows are not genes
    table = expression_targets(matrix, transform="none")
    assert table.frame.loc["TCGA-AA-0002", "CD8A"] == 7.0  # the higher-mean CD8A row
    assert table.frame.loc["TCGA-AA-0001", "GZMB"] == 1.0
    fpkm = read_star_counts([tmp_path / n for n in names], column="fpkm",
                            samples=read_sample_sheet(sheet))
    assert fpkm.iloc[0, 0] == 1.5
    with pytest.raises(DataError, match="its sample is unknown"):
        read_star_counts([tmp_path / next(iter(names))])


def test_cli_writes_the_table_and_its_provenance(tmp_path):
    source = write_rsem(tmp_path / "m.txt.gz")
    genes = tmp_path / "genes.txt"
    genes.write_text("# my genes\nCD8A\nGZMB\nMISSING1\n")
    out = tmp_path / "expression.tsv"
    result = CliRunner().invoke(app, ["targets", "expression", str(source), "--genes",
                                      str(genes), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "2 patients x 2 genes" in result.output and "1 of 3 genes" in result.output
    table = pd.read_csv(out, sep="\t", index_col="patient")
    assert table.shape == (2, 2)
    record = json.loads(provenance_path(out).read_text())
    assert record["genes_missing"] == ["MISSING1"]
    assert record["sources"][0]["sha256"] and record["gene_list"] == str(genes)


def test_builtin_immune_set_is_documented():
    genes, record = read_gene_list("immune")
    assert len(genes) == 500 and {"CD8A", "FOXP3", "GZMB", "CD274"} - set(genes) == {"CD274"}
    assert record["gene_list"] == "immune"


def test_real_openomics_matrix(shared_data):
    path = shared_data / "tables/openomics_luad/LUAD__geneExp.txt.gz"
    genes, _ = read_gene_list("immune")
    table = expression_targets(read_rsem_matrix(path), genes=genes, sources=[path])
    assert table.frame.shape == (515, 482)
    assert table.provenance["samples"]["dropped_by_sample_type"] == {
        "02 recurrent tumour": 2, "11 solid tissue normal": 59}
    assert len(table.provenance["genes_missing"]) == 18
    assert np.isfinite(table.frame.to_numpy()).all() and table.frame.to_numpy().min() >= 0


def test_cli_reads_a_folder_of_star_files_with_the_gdc_manifest(tmp_path):
    folder = tmp_path / "rnaseq" / "uuid-a"
    folder.mkdir(parents=True)
    files = {"a.rna_seq.augmented_star_gene_counts.tsv": "TCGA-AA-0001-01A-01R-0001-07",
             "b.rna_seq.augmented_star_gene_counts.tsv": "TCGA-AA-0002-01A-01R-0001-07"}
    for i, name in enumerate(files):
        write_star(folder / name, [1.0 + i, 3.0 * i, 0.0])
    manifest = tmp_path / "rnaseq.tsv"  # as `featx gdc rnaseq` writes it
    pd.DataFrame({"filename": list(files), "url": "", "sample": list(files.values())}).to_csv(
        manifest, sep="\t", index=False)
    out = tmp_path / "e.parquet"
    result = CliRunner().invoke(app, ["targets", "expression", str(tmp_path / "rnaseq"),
                                      "--samples", str(manifest), "--column", "tpm",
                                      "--transform", "none", "-o", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out).set_index("patient")
    assert table.loc["TCGA-AA-0002", "CD8A"] == 2.0  # the higher-mean CD8A row
    assert table.loc["TCGA-AA-0002", "GZMB"] == 3.0
    assert json.loads(provenance_path(out).read_text())["star_column"] == "tpm"
