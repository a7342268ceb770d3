"""Nearest and overlapping genes (udip_gwas/annotation/genes.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from udip_gwas.annotation.genes import nearest_genes, overlapping_genes
from udip_gwas.fileformats import one_based_to_half_open, read_genes


def test_genes__nearest_and_overlap_at_interval_edges(tmp_path):
    # one gene at 1-based [101, 200]; written three ways
    (tmp_path / "g.gtf").write_text('#!genome-build GRCh37\n1\tx\tgene\t101\t200\t.\t+\t.\tgene_id "G1"; gene_name "A";\n'
                                    '1\tx\tgene\t1001\t1100\t.\t+\t.\tgene_id "G2"; gene_name "B";\n')
    (tmp_path / "g.bed").write_text("chr1\t100\t200\tA\n1\t1000\t1100\tB\n")
    (tmp_path / "g.txt").write_text("1 101 200 A\n1 1001 1100 B\n")
    tables = [read_genes(tmp_path / f)[0] for f in ("g.gtf", "g.bed", "g.txt")]
    for t in tables[1:]:
        pd.testing.assert_frame_equal(t[["Chromosome", "Start", "End", "gene_name"]],
                                      tables[0][["Chromosome", "Start", "End", "gene_name"]])
    assert read_genes(tmp_path / "g.gtf")[1] == "GRCh37"
    genes = tables[0]
    v = pd.DataFrame({"variant_id": list("abcdef"), "chromosome": "1",
                      "base_pair_location": [100, 101, 200, 201, 600, 1200]})
    near = nearest_genes(v, genes).set_index("variant_id")
    assert near.loc["a"].tolist() == ["A", 1]
    assert near.loc["b"].tolist() == ["A", 0]
    assert near.loc["c"].tolist() == ["A", 0]
    assert near.loc["d"].tolist() == ["A", 1]
    assert near.loc["e"].tolist() == ["A", 400]  # 600 - 200 vs 1001 - 600
    assert near.loc["f"].tolist() == ["B", 100]
    loci = pd.DataFrame({"locus_id": ["L1", "L2", "L3"], "chromosome": ["1", "1", "1"], "start": [50, 50, 201],
                         "end": [100, 101, 1001]})
    over = overlapping_genes(loci, genes).set_index("locus_id")["overlapping_genes"]
    assert over.to_dict() == {"L1": "", "L2": "A", "L3": "B"}


def test_one_based_to_half_open():
    s, e = one_based_to_half_open(np.array([1, 101]), np.array([1, 200]))
    assert s.tolist() == [0, 100] and e.tolist() == [1, 200]
