"""Known and novel loci against prior hits (udip_gwas/genetics/novelty.py)."""

from __future__ import annotations

import pandas as pd
import pytest

from udip_gwas.genetics.novelty import annotate_novelty, read_prior_hits


def test_novelty__inside_window_ld_and_novel(tmp_path):
    prior = pd.DataFrame({"chromosome": ["1", "1", "2"], "base_pair_location": [1_050_000, 3_300_000, 10],
                          "rsid": ["rsIn", "rsNear", "rsFar"], "trait": ["t"] * 3, "study": ["s"] * 3,
                          "build": ["GRCh37"] * 3})
    prior.to_csv(tmp_path / "prior.tsv", sep="\t", index=False)
    prior = read_prior_hits(tmp_path / "prior.tsv", reference_genome="GRCh37")
    loci = pd.DataFrame({"chromosome": ["1", "1", "1", "3"], "start": [1_000_000, 2_000_000, 8_000_000, 5],
                         "end": [1_100_000, 2_900_000, 8_100_000, 10], "lead_variant": ["A", "B", "C", "D"]})
    out = annotate_novelty(loci, prior, window_kb=500, ld_with_lead={"C": {"rsLD"}}).set_index("lead_variant")
    assert out.loc["A", "novelty"] == "known" and "inside" in out.loc["A", "novelty_reason"]
    assert out.loc["B", "novelty"] == "known" and out.loc["B", "nearest_prior_distance_kb"] == pytest.approx(400)
    assert out.loc["C", "novelty"] == "known" and "rsLD" in out.loc["C", "novelty_reason"]
    assert out.loc["D", "novelty"] == "novel"
    with pytest.raises(ValueError, match="on build"):
        read_prior_hits(tmp_path / "prior.tsv", reference_genome="GRCh38")
