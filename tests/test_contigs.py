"""Which variants are analysed and why others are left out (udip_gwas/genetics/contigs.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from udip_gwas.genetics.contigs import SKIP_CONTIG, analysed_contigs, clean_bim, contig_recoding, place

LENGTHS = {"1": 249_250_621, "6": 171_115_067, "X": 155_270_560, "Y": 59_373_566, "MT": 16_569,
           "GL000192.1": 547_496}


@pytest.mark.parametrize("chrom, pos, analysed, contig, reason", [
    ("1", "100", "autosomes", "1", None), ("chr1", "100", "autosomes", "1", None), ("01", "7", "autosomes", "1", None),
    ("23", "100", "autosomes", "X", "chromosome X is not analysed (gwas.chromosomes = autosomes)"),
    ("23", "100", "autosomes_and_x", "X", None), ("25", "100", "autosomes_and_x", "X", None),
    ("24", "100", "autosomes_and_x", "Y", "chromosome Y is not analysed (gwas.chromosomes = autosomes_and_x)"),
    ("26", "100", "autosomes", "MT", "chromosome MT is not analysed (gwas.chromosomes = autosomes)"),
    ("0", "100", "autosomes", "0", "chromosome 0 (unplaced)"), ("1", "0", "autosomes", "1", "position 0 (unknown)"),
    ("HSCHR6_MHC_COX", "5", "autosomes", "HSCHR6_MHC_COX",
     "contig HSCHR6_MHC_COX is not in the reference genome GRCh37"),
    ("MT", "20000", "autosomes", "MT", "position beyond the end of chromosome MT (16569 bp on GRCh37)"),
    ("1", "1.5", "autosomes", "1", "malformed record: position 1.5 is not a whole number"),
    ("1", "", "autosomes", "1", "malformed record: position  is not a whole number"),
])
def test_place__first_rule_that_applies_is_the_reason(chrom, pos, analysed, contig, reason):
    got_contig, got_pos, got_reason = place(pd.Series([chrom]), pd.Series([pos]), reference_genome="GRCh37",
                                            lengths=LENGTHS, analysed=analysed, plink=True)
    assert got_contig[0] == contig and got_reason[0] == reason


def test_place__grch38_names():
    contig, _, reason = place(pd.Series(["1", "chrX", "26"]), pd.Series(["5", "5", "5"]), reference_genome="GRCh38",
                              lengths={"chr1": 10, "chrX": 10, "chrM": 10}, analysed="autosomes_and_x", plink=True)
    assert contig.tolist() == ["chr1", "chrX", "chrM"]
    assert reason.tolist()[:2] == [None, None] and "chromosome MT is not analysed" in reason[2]


def test_contig_recoding__other_names_to_the_references_own():
    r = contig_recoding("GRCh37")
    assert r["chr1"] == r["01"] == "1" and "1" not in r and "X" not in r
    assert r["23"] == r["25"] == r["chrX"] == "X" and r["26"] == r["M"] == "MT" and r["24"] == "Y"
    r = contig_recoding("GRCh38")
    assert r["1"] == "chr1" and r["23"] == r["25"] == r["X"] == "chrX" and r["MT"] == r["26"] == "chrM"
    assert set(r.values()) <= {f"chr{i}" for i in range(1, 23)} | {"chrX", "chrY", "chrM"}
    assert analysed_contigs("GRCh38", "autosomes_and_x") == {f"chr{i}" for i in range(1, 23)} | {"chrX"}


def test_clean_bim__keeps_every_line_and_renames_the_left_out_ones(tmp_path):
    lines = ["1\trs1\t0\t100\tA\tG", "23\trs2\t0\t200\tC\tT", "1\trs3\t0\t0\tA\tC", "1 rs4 0 400 A",
             "chr1\trs5\t0\t500\tG\tT"]
    (tmp_path / "a.bim").write_text("\n".join(lines) + "\n")
    excluded = clean_bim(tmp_path / "a.bim", tmp_path / "b.bim", reference_genome="GRCh37", lengths=LENGTHS,
                         analysed="autosomes")
    written = (tmp_path / "b.bim").read_text().splitlines()
    assert len(written) == 5
    assert [w.split("\t")[0] for w in written] == ["1", SKIP_CONTIG, SKIP_CONTIG, SKIP_CONTIG, "1"]
    assert excluded["record"].tolist() == ["a.bim line 2", "a.bim line 3", "a.bim line 4"]
    assert excluded["reason"].tolist() == ["chromosome X is not analysed (gwas.chromosomes = autosomes)",
                                           "position 0 (unknown)", "malformed record: 5 fields, expected 6"]
