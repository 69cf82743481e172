"""Mutation targets from a MAF with hand-counted mutations, and from the real LUAD MAF."""

from __future__ import annotations

import pandas as pd
import pytest
from typer.testing import CliRunner

from featx.cli._app import app
from featx.errors import DataError
from featx.targets import NON_SILENT, mutation_targets, read_maf

P1, P2, P3, P4 = (f"TCGA-BB-000{i}-01A-11D-A000-08" for i in range(1, 5))
# Hand count of non-silent calls by patient: KRAS P1 P2; TP53 P1 (twice) P3; EGFR P2
# (in-frame del); P4 has only a silent TP53 call, so it was sequenced and is 0 everywhere.
# The normal-sample row and the intron call do not count.
ROWS = [("KRAS", "Missense_Mutation", P1), ("TP53", "Nonsense_Mutation", P1),
        ("TP53", "Frame_Shift_Del", P1), ("KRAS", "Missense_Mutation", P2),
        ("EGFR", "In_Frame_Del", P2), ("TP53", "Splice_Site", P3),
        ("TP53", "Silent", P4), ("STK11", "Intron", P3),
        ("STK11", "Missense_Mutation", "TCGA-BB-0001-11A-11D-A000-08")]


def write_maf(path):
    text = "#version 2.4\n#filter.somatic\nHugo_Symbol\tChromosome\tVariant_Classification\t" \
           "Tumor_Sample_Barcode\n" + "".join(f"{g}\t1\t{c}\t{s}\n" for g, c, s in ROWS)
    path.write_text(text)
    return path


def test_hand_counted_matrix(tmp_path):
    table = mutation_targets(read_maf(write_maf(tmp_path / "x.maf")), top_n=3)
    # KRAS and TP53 tie at 2 patients (TP53 counted once in P1): ties go by name.
    expected = pd.DataFrame({"KRAS": [1, 1, 0, 0], "TP53": [1, 0, 1, 0], "EGFR": [0, 1, 0, 0]},
                            index=pd.Index([s[:12] for s in (P1, P2, P3, P4)], name="patient"))
    pd.testing.assert_frame_equal(table.frame, expected)
    assert table.provenance["samples"]["dropped_by_sample_type"] == {"11 solid tissue normal": 1}
    assert table.provenance["variant_classifications"] == list(NON_SILENT)


def test_gene_list_sequenced_set_and_errors(tmp_path):
    maf = read_maf(write_maf(tmp_path / "x.maf"))
    extra = "TCGA-BB-0009-01A-11D-A000-08"
    table = mutation_targets(maf, genes=["STK11", "KRAS"], sequenced=[extra])
    assert table.frame.loc["TCGA-BB-0009"].tolist() == [0, 0]
    assert table.frame["STK11"].sum() == 0  # intron only in a tumour; the missense was a normal
    assert table.provenance["genes_never_mutated"] == ["STK11"]
    assert "plus 1 samples" in table.provenance["sequenced_set"]
    with pytest.raises(DataError, match="Tumor_Sample_Barcode"):
        read_maf(_without_barcodes(tmp_path / "bad.maf"))


def _without_barcodes(path):
    path.write_text("Hugo_Symbol\tVariant_Classification\nTP53\tSilent\n")
    return path


def test_cli(tmp_path):
    out = tmp_path / "mutations.tsv"
    result = CliRunner().invoke(app, ["targets", "mutations", str(write_maf(tmp_path / "x.maf")),
                                      "--top", "2", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "4 patients x 2 genes" in result.output
    assert (tmp_path / "mutations.provenance.json").is_file()


def test_real_maf_matches_the_published_10_gene_matrix(shared_data):
    folder = shared_data / "tables/selectsim_luad_maf"
    reference = pd.read_csv(folder / "luad_mutation_matrix_10genes_nonsilent.tsv", sep="\t",
                            index_col=0)
    table = mutation_targets(read_maf(folder / "luad_maf.tsv.gz"), genes=list(reference.columns))
    assert table.frame.shape == (502, 10)
    pd.testing.assert_frame_equal(table.frame, reference, check_names=False)
