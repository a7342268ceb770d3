"""Clumping and genomic risk loci, against PLINK 1.9 (udip_gwas/genetics/loci.py)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from udip_gwas.genetics.loci import clump, risk_loci


def _variants(rows):
    return pd.DataFrame(rows, columns=["variant_id", "chromosome", "base_pair_location", "neg_log_10_p_value"])


def _ld(rows):
    return pd.DataFrame(rows, columns=["variant_id_a", "variant_id_b", "r2"])


def test_clump__two_loci_in_ld():
    v = _variants([("a", "1", 1000, 20.0), ("b", "1", 5000, 15.0), ("c", "1", 9000, 12.0),
                   ("d", "1", 900_000, 11.0), ("e", "1", 905_000, 3.5), ("f", "2", 1000, 2.0)])
    ld = _ld([("a", "b", 0.8), ("a", "c", 0.05), ("b", "c", 0.7), ("d", "e", 0.9)])
    out = clump(v, ld, p1=1e-8, p2=1e-3, r2=0.5, kb=250)
    assert out["index_variant"].tolist() == ["a", "c", "d"]
    assert out.set_index("index_variant").loc["a", "members"] == "b"
    # c is in LD with b, but b was already taken by a: c starts its own clump
    assert out.set_index("index_variant").loc["c", "n_members"] == 0
    assert out.set_index("index_variant").loc["d", "members"] == "e"


def test_clump__window_and_p2_limit_members():
    v = _variants([("a", "1", 1000, 20.0), ("far", "1", 400_000, 9.0), ("weak", "1", 2000, 2.0)])
    ld = _ld([("a", "far", 0.9), ("a", "weak", 0.9)])
    out = clump(v, ld, p1=1e-8, p2=1e-3, r2=0.5, kb=250)
    assert out["index_variant"].tolist() == ["a", "far"]
    assert out.loc[0, "n_members"] == 0


def test_risk_loci__merge_within_250kb_and_leads():
    v = _variants([("a", "1", 1_000_000, 30.0), ("b", "1", 1_020_000, 20.0), ("c", "1", 1_200_000, 12.0),
                   ("m", "1", 1_100_000, 5.0), ("d", "1", 5_000_000, 10.0), ("x", "6", 30_000_000, 15.0)])
    # a and b are independent at 0.6 but not at 0.1: one lead (a), two independent SNPs
    ld = _ld([("a", "b", 0.3), ("a", "m", 0.7), ("c", "m", 0.05)])
    loci, ind = risk_loci(v, ld, threshold=1e-8, candidate_p=1e-4, merge_kb=250)
    assert loci["lead_variant"].tolist() == ["a", "d", "x"]
    first = loci.iloc[0]
    # a spans to m (r2 0.7); c starts 100 kb after m and merges; d is 3.8 Mb away
    assert (first["start"], first["end"]) == (1_000_000, 1_200_000)
    assert first["n_independent"] == 3 and first["n_leads"] == 2  # leads a and c; b is in LD 0.3 with a
    assert loci["mhc"].tolist() == [False, False, True]
    assert set(ind["variant_id"]) == {"a", "b", "c", "d", "x"}


@pytest.mark.skipif(shutil.which("plink1.9") is None, reason="plink1.9 (Debian package plink1.9) not installed")
def test_clump__index_variants_match_plink19(small_cohort, hail_session, tmp_path):
    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.ld import ld_pairs
    from udip_gwas.fileformats import read_plink_dosages

    prefix = small_cohort["genotypes"]["discovery"]
    g, bim, fam = read_plink_dosages(prefix)
    rng = np.random.default_rng(5)
    af = np.nanmean(g, 0) / 2
    causal = np.flatnonzero((af > 0.25) & (af < 0.75))[[3, 60, 150, 230, 330]]
    y = rng.normal(size=len(fam)) + sum(0.45 * (g[:, j] - 2 * af[j]) for j in causal)
    pvals = []
    for j in range(g.shape[1]):
        x = g[:, j]
        ok = ~np.isnan(x)
        pvals.append(stats.linregress(x[ok], y[ok]).pvalue if x[ok].std() > 0 else 1.0)
    assoc = pd.DataFrame({"SNP": bim["id"], "P": pvals})
    assoc.to_csv(tmp_path / "assoc.txt", sep="\t", index=False)
    p1, p2, r2, kb = 1e-5, 1e-2, 0.2, 250
    subprocess.run(["plink1.9", "--bfile", prefix, "--clump", tmp_path / "assoc.txt", "--clump-p1", str(p1),
                    "--clump-p2", str(p2), "--clump-r2", str(r2), "--clump-kb", str(kb), "--out", tmp_path / "pl"],
                   check=True, capture_output=True)
    plink_index = set(pd.read_csv(tmp_path / "pl.clumped", sep=r"\s+")["SNP"])
    variants = pd.DataFrame({"variant_id": bim["id"], "chromosome": bim["chromosome"].astype(str),
                             "base_pair_location": bim["base_pair_location"], "other_allele": bim["a2"],
                             "effect_allele": bim["a1"], "neg_log_10_p_value": -np.log10(pvals)})
    cand = variants[variants["neg_log_10_p_value"] > -np.log10(p2)]
    mt = import_genotypes(prefix, reference_genome="GRCh37")
    ld = ld_pairs(mt, cand, radius_bp=kb * 1000, min_r2=r2, reference_genome="GRCh37")
    # ld_pairs names variants by chromosome:position:ref:alt; map back to the .bim IDs PLINK uses
    key = dict(zip(cand["chromosome"] + ":" + cand["base_pair_location"].astype(str) + ":" + cand["other_allele"]
                   + ":" + cand["effect_allele"], cand["variant_id"]))
    ld = ld.assign(variant_id_a=ld["variant_id_a"].map(key), variant_id_b=ld["variant_id_b"].map(key))
    ours = set(clump(cand, ld, p1=p1, p2=p2, r2=r2, kb=kb)["index_variant"])
    assert len(plink_index) >= 5
    assert ours == plink_index


def test_merge_tests__overlapping_loci_keep_the_per_dimension_lead_and_renumber():
    from udip_gwas.genetics.loci import merge_tests

    cols = ["locus_id", "chromosome", "start", "end", "lead_variant", "test"]
    per = pd.DataFrame([["L001", "1", 1000, 5000, "1:3000:A:G", "per_dimension"],
                        ["L002", "2", 1000, 2000, "2:1500:A:G", "per_dimension"]], columns=cols)
    joint = pd.DataFrame([["L001", "1", 4000, 9000, "1:4500:A:G", "joint"],
                          ["L002", "1", 900_000, 910_000, "1:905000:A:G", "joint"],
                          ["L003", "2", 200_000, 210_000, "2:205000:A:G", "joint"]], columns=cols)
    out, mapping = merge_tests(per, joint, merge_kb=250)
    assert out["locus_id"].tolist() == ["L001", "L002", "L003"]
    assert out["test"].tolist() == ["per_dimension+joint", "joint", "per_dimension+joint"]
    first = out.iloc[0]
    assert (first["lead_variant"], first["start"], first["end"], first["test"]) == (
        "1:3000:A:G", 1000, 9000, "per_dimension+joint")
    # chromosome 2: the joint locus 198 kb from the per-dimension one merges (within 250 kb)
    two = out[out["chromosome"] == "2"]
    assert len(two) == 1 and two.iloc[0]["test"] == "per_dimension+joint" and two.iloc[0]["end"] == 210_000
    assert out[out["lead_variant"] == "1:905000:A:G"]["test"].tolist() == ["joint"]
    assert mapping[("joint", "L001")] == mapping[("per_dimension", "L001")] == "L001"
    assert mapping[("joint", "L002")] == "L002" and mapping[("joint", "L003")] == "L003"


def test_candidates_for_test__joint_view_uses_the_joint_p_and_sets():
    from udip_gwas.genetics.loci import candidates_for_test

    cand = pd.DataFrame({"variant_id": ["a", "b"], "neg_log_10_p_value": [9.0, 2.0],
                         "joint_neg_log_10_p_value": [12.0, float("nan")], "sig_bonferroni": [[0], []],
                         "jsig_bonferroni": [[1], []]})
    view = candidates_for_test(cand, "joint")
    assert view["variant_id"].tolist() == ["a"] and view["neg_log_10_p_value"].tolist() == [12.0]
    assert view["sig_bonferroni"].tolist() == [[1]]
    assert candidates_for_test(cand, "per_dimension")["neg_log_10_p_value"].tolist() == [9.0, 2.0]
