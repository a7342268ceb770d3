"""Clumping, risk loci, replication and novelty: hand-made cases, PLINK 1.9 --clump, and the stage."""

from __future__ import annotations

import copy
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from udip_gwas.genetics.loci import clump, risk_loci
from udip_gwas.genetics.novelty import annotate_novelty, read_prior_hits
from udip_gwas.exceptions import ConfigError, InputError
from udip_gwas.genetics.replication import neg_log10_p_from_text, read_replication_sumstats, replicate


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


def test_replicate__sign_and_bonferroni_over_loci():
    loci = pd.DataFrame({"lead_variant": ["v1", "v2", "v3", "v4"], "lead_dimension": ["T1_001"] * 4,
                         "lead_beta": [0.5, 0.5, -0.2, 0.1]})
    rep = pd.DataFrame({"variant_id": ["v1", "v2", "v3"], "dimension": ["T1_001"] * 3, "beta": [0.3, -0.3, -0.1],
                        "standard_error": [0.05] * 3, "neg_log_10_p_value": [3.0, 5.0, 1.5], "n": [100] * 3})
    out = replicate(loci, rep, alpha=0.05).set_index("lead_variant")
    # 3 loci tested: threshold 0.05 / 3 = 0.0167 -> -log10 = 1.78
    assert out.loc["v1", "replication_status"] == "replicated"
    assert out.loc["v2", "replication_status"] == "not replicated"  # opposite sign
    assert out.loc["v3", "replication_status"] == "nominal"  # p = 0.032
    assert out.loc["v4", "replication_status"] == "not tested"
    assert out.attrs["replication_threshold_p"] == pytest.approx(0.05 / 3)


def test_dimension_plots__all_dimensions_without_loci(gwas_run, tmp_path, monkeypatch, caplog):
    import hail as hl

    from udip_gwas.genetics.stages import _plots

    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["loci"]["dimension_plots"] = "all"
    gdir = gwas_run["out"] / "gwas"
    ht = hl.read_table(str(gdir / "gwas.ht"))
    dims = list(hl.eval(ht.dimensions))
    no_loci = pd.DataFrame(columns=["locus_id", "chromosome", "lead_position", "lead_dimension"])
    _plots(cfg, gdir, tmp_path, ht, no_loci, {"bonferroni": 5e-8 / len(dims), "genome_wide": 5e-8}, len(dims), dims)
    made = sorted(f.name for f in (tmp_path / "plots").iterdir())
    assert made == sorted(f"{kind}_{d}.png" for d in dims for kind in ("manhattan", "qq"))
    assert all((tmp_path / "plots" / f).stat().st_size > 10_000 for f in made)
    # above PLOT_POINTS variants: every variant with p < 1e-3 in a plotted dimension and a sample of the rest
    import re

    from udip_gwas.genetics import stages

    monkeypatch.setattr(stages, "PLOT_POINTS", 100)
    (tmp_path / "c").mkdir()
    with caplog.at_level("INFO"):
        _plots(cfg, gdir, tmp_path / "c", ht, no_loci, {"bonferroni": 5e-8 / len(dims), "genome_wide": 5e-8},
               len(dims), dims)
    used, total = map(int, re.findall(r"from (\d+) of the (\d+) QC-passing", caplog.text)[-1])
    strong = sum(1 for _ in ht.filter(hl.is_missing(ht.qc_fail) & hl.any(ht.neg_log_10_p_value.map(
        lambda x: x > 3))).key_by().select().collect())
    assert strong < used < strong + 200 and total > 800
    assert len(list((tmp_path / "c" / "plots").iterdir())) == 2 * len(dims)
    # "loci" without loci: the pooled plots only
    cfg["loci"]["dimension_plots"] = "loci"
    (tmp_path / "b").mkdir()
    _plots(cfg, gdir, tmp_path / "b", ht, no_loci, {"bonferroni": 5e-8 / len(dims), "genome_wide": 5e-8}, len(dims),
           dims)
    assert sorted(f.name for f in (tmp_path / "b").iterdir()) == ["manhattan.png", "qq.png"]


def _leads(rows):
    return pd.DataFrame(rows, columns=["lead_variant", "lead_dimension", "chromosome", "lead_position",
                                       "lead_effect_allele", "lead_other_allele", "lead_beta"])


def _strongest_and_median_leads(gwas_run) -> pd.DataFrame:
    """Leads for replication tests: per dimension of the small GWAS, its strongest variant and a median one."""
    rows = []
    for dim, table in gwas_run["dims"].items():
        for _, x in table.sort_values("neg_log_10_p_value").iloc[[-1, len(table) // 2]].iterrows():
            rows.append((x["variant_id"], dim, str(x["chromosome"]), int(x["base_pair_location"]),
                         x["effect_allele"], x["other_allele"], x["beta"]))
    return _leads(rows)


_SSF_HEADER = ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "standard_error",
               "effect_allele_frequency", "p_value", "n"]


def test_read_replication_sumstats__alleles_chromosomes_and_tiny_p(tmp_path, caplog):
    leads = _leads([("1:100:C:A", "T1_001", "1", 100, "A", "C", 0.5),    # same alleles
                    ("1:200:G:T", "T1_001", "1", 200, "T", "G", -0.5),   # swapped in the file: beta flips
                    ("2:300:A:G", "T1_002", "2", 300, "G", "A", -0.2),   # file says chr2, p below a double
                    ("1:400:C:T", "T1_001", "1", 400, "T", "C", 0.1),    # only another allele pair there
                    ("3:500:A:C", "T1_003", "3", 500, "C", "A", 0.1)])   # no file for T1_003
    pd.DataFrame([["1", 100, "a", "c", 0.3, 0.05, 0.4, "1.0000e-09", 5000],
                  ["1", 150, "A", "C", 9.0, 0.05, 0.4, "1.0000e-09", 5000],   # another position
                  ["1", 200, "G", "T", 0.25, 0.05, 0.4, "2.0000e-03", 4990],
                  ["2", 200, "T", "G", 7.0, 0.05, 0.4, "1.0000e-30", 5000],   # same position, other chromosome
                  ["1", 400, "T", "G", 0.4, 0.05, 0.4, "1.0000e-30", 5000]],
                 columns=_SSF_HEADER).to_csv(tmp_path / "T1_001.tsv.gz", sep="\t", index=False)
    pd.DataFrame([["chr2", 300, "G", "A", -0.8, 0.01, 0.3, "3.1623e-412", "#NA"]],
                 columns=_SSF_HEADER).to_csv(tmp_path / "T1_002.tsv", sep="\t", index=False)
    with caplog.at_level("WARNING"):
        rep = read_replication_sumstats(tmp_path, leads, chunksize=2).set_index("variant_id")
    assert "T1_003" in caplog.text
    assert sorted(rep.index) == ["1:100:C:A", "1:200:G:T", "2:300:A:G"]
    assert rep.loc["1:100:C:A", "beta"] == 0.3 and not rep.loc["1:100:C:A", "alleles_swapped"]
    assert rep.loc["1:200:G:T", "beta"] == -0.25 and rep.loc["1:200:G:T", "alleles_swapped"]
    assert rep.loc["1:200:G:T", "neg_log_10_p_value"] == pytest.approx(-np.log10(2e-3))
    assert rep.loc["2:300:A:G", "neg_log_10_p_value"] == pytest.approx(412 - np.log10(3.1623))
    assert pd.isna(rep.loc["2:300:A:G", "n"])
    out = replicate(leads, rep.reset_index(), alpha=0.05).set_index("lead_variant")
    # 3 tested: p < 0.05 / 3 with the same sign replicates; the swapped lead agrees only after the flip
    assert out["replication_status"].to_dict() == {
        "1:100:C:A": "replicated", "1:200:G:T": "replicated", "2:300:A:G": "replicated",
        "1:400:C:T": "not tested", "3:500:A:C": "not tested"}
    assert pd.isna(out.loc["2:300:A:G", "replication_n"]) and out.loc["1:100:C:A", "replication_n"] == 5000


def test_read_replication_sumstats__one_long_table_and_bad_input_named(tmp_path):
    leads = _leads([("1:100:C:A", "T1_001", "1", 100, "A", "C", 0.5), ("1:100:C:A", "T1_002", "1", 100, "A", "C", 0.5)])
    long = pd.DataFrame([["T1_002", "1", 100, "C", "A", 0.3, 0.05, 4.0],
                         ["T1_001", "1", 100, "A", "C", 0.2, 0.05, 2.0]],
                        columns=["dimension", *_SSF_HEADER[:6], "neg_log_10_p_value"])
    long.to_csv(tmp_path / "rep.tsv", sep="\t", index=False)
    rep = read_replication_sumstats(tmp_path / "rep.tsv", leads).set_index("dimension")
    assert rep.loc["T1_001", "beta"] == 0.2 and rep.loc["T1_002", "beta"] == -0.3
    assert rep.loc["T1_002", "neg_log_10_p_value"] == 4.0
    long.drop(columns="standard_error").to_csv(tmp_path / "no_se.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="no_se.tsv.*standard_error"):
        read_replication_sumstats(tmp_path / "no_se.tsv", leads)
    long.drop(columns="neg_log_10_p_value").to_csv(tmp_path / "no_p.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="no_p.tsv.*p_value"):
        read_replication_sumstats(tmp_path / "no_p.tsv", leads)
    long.assign(beta=["0.3", "big"]).to_csv(tmp_path / "bad_beta.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="bad_beta.tsv: beta 'big' at chromosome 1 position 100"):
        read_replication_sumstats(tmp_path / "bad_beta.tsv", leads)
    long.drop(columns="neg_log_10_p_value").assign(p_value=["1.5", "0.01"]).to_csv(tmp_path / "p_above_1.tsv",
                                                                                   sep="\t", index=False)
    with pytest.raises(InputError, match="p_above_1.tsv: p_value '1.5' at chromosome 1 position 100"):
        read_replication_sumstats(tmp_path / "p_above_1.tsv", leads)
    pd.concat([long, long]).to_csv(tmp_path / "twice.tsv", sep="\t", index=False)
    with pytest.raises(InputError, match="twice.tsv: 2 rows for 1:100:C:A"):
        read_replication_sumstats(tmp_path / "twice.tsv", leads)
    with pytest.raises(InputError, match="gs://bucket/rep: give a local path"):
        read_replication_sumstats("gs://bucket/rep", leads)
    assert neg_log10_p_from_text("0") == np.inf and neg_log10_p_from_text("1e-5") == pytest.approx(5)
    assert np.isnan(neg_log10_p_from_text("n/a")) and np.isnan(neg_log10_p_from_text("-0.1"))


def test_replication_source__sumstats_and_a_replication_gwas_refused(tmp_path):
    from udip_gwas import config

    (tmp_path / "rep").mkdir()
    with pytest.raises(ConfigError, match="replication.sumstats.*replication.gwas"):
        config.load(None, {"replication": {"sumstats": str(tmp_path / "rep"), "gwas": str(tmp_path)}})


def test_replication__from_the_gwas_stage_files_equals_from_its_table(gwas_run, tmp_path):
    """A replication cohort's per-dimension GWAS-SSF files give the statistics its gwas.ht gives (here the
    discovery run stands in for a replication run)."""
    from udip_gwas.genetics.stages import _add_replication

    loci = _strongest_and_median_leads(gwas_run)
    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["replication"]["gwas"] = str(gwas_run["out"] / "gwas")
    from_table = _add_replication(cfg, loci, gwas_run["out"] / "gwas")
    cfg["replication"]["gwas"], cfg["replication"]["sumstats"] = None, str(gwas_run["out"] / "gwas" / "dimensions")
    from_files = _add_replication(cfg, loci, gwas_run["out"] / "gwas")
    assert (from_table["replication_status"] == "not tested").sum() == 0
    for col in ("replication_status", "replicated", "replicated_nominal", "replication_same_sign", "replication_n"):
        assert from_files[col].tolist() == from_table[col].tolist(), col
    # the files carry 6 significant digits of beta and se, 5 decimals of -log10 p
    np.testing.assert_allclose(from_files["replication_beta"], from_table["replication_beta"], rtol=1e-5)
    np.testing.assert_allclose(from_files["replication_standard_error"], from_table["replication_standard_error"],
                               rtol=1e-5)
    np.testing.assert_allclose(from_files["replication_neg_log_10_p_value"],
                               from_table["replication_neg_log_10_p_value"], atol=1e-5, rtol=1e-6)
    assert set(from_table["replication_status"]) >= {"replicated", "not replicated"}


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


@pytest.mark.skipif(shutil.which("plink1.9") is None, reason="plink1.9 (Debian package plink1.9) not installed")
def test_clump__index_variants_match_plink19(small_cohort, hail_session, tmp_path):
    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.ld import ld_pairs
    from udip_gwas.simulation.genotypes import read_plink_dosages

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


def test_loci_stage__finds_the_planted_loci(gwas_run, tmp_path):
    from udip_gwas.genetics.stages import run_loci

    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["run"]["out"] = str(tmp_path)
    cfg["loci"]["gwas"] = str(gwas_run["out"] / "gwas")
    cfg["loci"]["p_threshold"] = 4e-5
    result = run_loci(cfg, tmp_path / "loci")
    loci = pd.read_csv(result["loci"], sep="\t")
    bim = gwas_run["bim"]
    causal_pos = {(str(bim["chromosome"].iloc[j]), int(bim["base_pair_location"].iloc[j])) for j in gwas_run["causal"]}
    found = set()
    for r in loci.itertuples():
        for c, p in causal_pos:
            if str(r.chromosome) == c and r.start - 250_000 <= p <= r.end + 250_000:
                found.add((c, p))
    assert found == causal_pos
    assert result["threshold"] == pytest.approx(1e-5)
    strongest = loci.sort_values("lead_neg_log_10_p_value").iloc[-1]
    assert strongest["lead_dimension"] == "T1_003" and strongest["lead_neg_log_10_p_value"] > 300
    assert "T1_001" in strongest["dimensions"].split(",")
    # the lead's p as text, with the same 5 significant digits as its dimension's GWAS-SSF file
    text = pd.read_csv(result["loci"], sep="\t", dtype={"lead_p_value": str}).set_index("locus_id")["lead_p_value"]
    for r in loci.itertuples():
        ssf = gwas_run["dims"][r.lead_dimension].set_index("variant_id").loc[r.lead_variant, "p_value"]
        assert len(text[r.locus_id].split("e")[0].replace(".", "").lstrip("-")) == 5
        if r.lead_neg_log_10_p_value > 300:  # below 1e-300 both are written from -log10 p
            assert text[r.locus_id] == ssf
        else:
            assert float(text[r.locus_id]) == pytest.approx(float(ssf), rel=1e-4)
    for f in ("manhattan.png", "qq.png", "clumps.tsv", "loci_genome_wide.tsv", "candidate_variants.tsv"):
        assert (tmp_path / "loci" / f).exists()
    # per-dimension plots of the loci's lead dimensions only (loci.dimension_plots = "loci")
    assert sorted(f.name for f in (tmp_path / "loci" / "plots").iterdir()) == sorted(
        f"{kind}_{d}.png" for d in set(loci["lead_dimension"]) for kind in ("manhattan", "qq"))


def _flip_plink(prefix, out) -> None:
    """Write PLINK fileset ``prefix`` to ``out`` with A1 and A2 swapped (the same genotypes, named the other
    way round, as PLINK 1.9 writes them where the other allele is the minor one)."""
    bim = pd.read_csv(f"{prefix}.bim", sep="\t", header=None, dtype=str)
    bim[[4, 5]] = bim[[5, 4]].to_numpy()
    bim.to_csv(f"{out}.bim", sep="\t", header=False, index=False)
    shutil.copy(f"{prefix}.fam", f"{out}.fam")
    # each 2-bit genotype: 00 (two A1) <-> 11 (two A2); het (10) and missing (01) stay
    code = np.array([3, 1, 2, 0], dtype=np.uint8)
    lut = np.array([sum(int(code[(b >> (2 * k)) & 3]) << (2 * k) for k in range(4)) for b in range(256)], np.uint8)
    raw = np.fromfile(f"{prefix}.bed", dtype=np.uint8)
    np.concatenate([raw[:3], lut[raw[3:]]]).tofile(f"{out}.bed")


def test_loci_stage__ld_reference_panel_of_the_analysed_samples_gives_the_study_ld(gwas_run, tmp_path):
    """`loci.ld_reference`: a PLINK panel holding exactly the analysed samples (made by PLINK 2) must give the
    LD, clumps and loci that the default (the study genotypes restricted to the analysed samples) gives, also
    with its alleles named the other way round."""
    from udip_gwas.genetics.stages import run_loci

    fam = gwas_run["fam"]
    keep = fam[fam["IID"].astype(str).isin(set(gwas_run["samples"]))]
    assert 0 < len(keep) < len(fam)  # some subjects are not analysed, so the whole study would differ
    keep[["FID", "IID"]].to_csv(tmp_path / "keep.txt", sep="\t", index=False, header=False)
    subprocess.run(["plink2", "--bfile", gwas_run["prefix"], "--keep", tmp_path / "keep.txt", "--make-bed", "--out",
                    tmp_path / "panel", "--threads", "2"], check=True, capture_output=True)
    _flip_plink(tmp_path / "panel", tmp_path / "flipped_panel")
    outputs = {}
    for name, panel in (("study", None), ("panel", str(tmp_path / "panel")), ("everyone", gwas_run["prefix"]),
                        ("flipped", str(tmp_path / "flipped_panel"))):
        cfg = copy.deepcopy(gwas_run["cfg"])
        cfg["run"]["out"] = str(tmp_path / name)
        cfg["loci"].update(gwas=str(gwas_run["out"] / "gwas"), p_threshold=4e-5, ld_reference=panel,
                           dimension_plots="none")
        run_loci(cfg, tmp_path / name / "loci")
        outputs[name] = {f: pd.read_csv(tmp_path / name / "loci" / f, sep="\t")
                         for f in ("ld_pairs.tsv.gz", "clumps.tsv", "loci.tsv")}
    assert len(outputs["study"]["loci.tsv"]) >= 2 and len(outputs["study"]["ld_pairs.tsv.gz"]) > 10
    # the same panel with every variant's alleles named the other way round gives the same too
    for f in outputs["study"]:
        pd.testing.assert_frame_equal(outputs["panel"][f], outputs["study"][f])
        pd.testing.assert_frame_equal(outputs["flipped"][f], outputs["study"][f])
    # the panel is what is read: all the study's samples (the non-analysed ones too) give other r2 values
    ld = outputs["everyone"]["ld_pairs.tsv.gz"].merge(outputs["study"]["ld_pairs.tsv.gz"],
                                                      on=["variant_id_a", "variant_id_b"])
    assert len(ld) > 10 and (ld["r2_x"] != ld["r2_y"]).mean() > 0.5


def test_replication__a_cohort_with_the_alleles_in_the_other_order(gwas_run, tmp_path):
    """The replication cohort's PLINK files name the alleles the other way round (A1 and A2 swapped, as PLINK
    1.9 does where the minor allele differs): the leads are found and their betas turned to the discovery's
    effect allele, so the replication statistics equal those of the same cohort in the discovery's order."""
    from udip_gwas.genetics.stages import _add_replication, run_gwas_cohort

    _flip_plink(gwas_run["prefix"], tmp_path / "flip")
    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["run"]["out"] = str(tmp_path)
    run_gwas_cohort(cfg, tmp_path / "flipped", genotypes=str(tmp_path / "flip"),
                    phenotypes=[str(gwas_run["out"] / "udips.tsv")], covariates=cfg["gwas"]["covariates"],
                    cohort="replication")
    loci = _strongest_and_median_leads(gwas_run)
    cfg["replication"]["gwas"] = str(gwas_run["out"] / "gwas")
    same_order = _add_replication(cfg, loci, gwas_run["out"] / "gwas")
    cfg["replication"]["gwas"] = str(tmp_path / "flipped")
    other_order = _add_replication(cfg, loci, gwas_run["out"] / "gwas")
    assert (other_order["replication_status"] != "not tested").all()
    assert other_order["replication_status"].tolist() == same_order["replication_status"].tolist()
    np.testing.assert_allclose(other_order["replication_beta"], same_order["replication_beta"], rtol=1e-6)
    np.testing.assert_allclose(other_order["replication_neg_log_10_p_value"],
                               same_order["replication_neg_log_10_p_value"], rtol=1e-6)
