"""Replication of loci from a replication gwas table or summary statistics (udip_gwas/genetics/replication.py)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from udip_gwas.exceptions import ConfigError, InputError
from udip_gwas.genetics.replication import neg_log10_p_from_text, read_replication_sumstats, replicate

from .conftest import _flip_plink


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
    from udip_gwas.genetics.replication import read_replication_gwas, read_replication_sumstats, replicate

    loci = _strongest_and_median_leads(gwas_run)
    from_table = replicate(loci, read_replication_gwas(loci, gwas_run["out"] / "gwas" / "gwas.ht"))
    from_files = replicate(loci, read_replication_sumstats(gwas_run["out"] / "gwas" / "dimensions", loci))
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


def test_replication__a_cohort_with_the_alleles_in_the_other_order(gwas_run, tmp_path):
    """The replication cohort's PLINK files name the alleles the other way round (A1 and A2 swapped, as PLINK
    1.9 does where the minor allele differs): the leads are found and their betas turned to the discovery's
    effect allele, so the replication statistics equal those of the same cohort in the discovery's order."""
    from udip_gwas.genetics.replication import read_replication_gwas, replicate
    from udip_gwas.genetics.stages import run_gwas_cohort

    _flip_plink(gwas_run["prefix"], tmp_path / "flip")
    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["run"]["out"] = str(tmp_path)
    run_gwas_cohort(cfg, tmp_path / "flipped", genotypes=str(tmp_path / "flip"),
                    phenotypes=[str(gwas_run["out"] / "udips.tsv")], covariates=cfg["gwas"]["covariates"],
                    cohort="replication")
    loci = _strongest_and_median_leads(gwas_run)
    same_order = replicate(loci, read_replication_gwas(loci, gwas_run["out"] / "gwas" / "gwas.ht"))
    other_order = replicate(loci, read_replication_gwas(loci, tmp_path / "flipped" / "gwas.ht"))
    assert (other_order["replication_status"] != "not tested").all()
    assert other_order["replication_status"].tolist() == same_order["replication_status"].tolist()
    np.testing.assert_allclose(other_order["replication_beta"], same_order["replication_beta"], rtol=1e-6)
    np.testing.assert_allclose(other_order["replication_neg_log_10_p_value"],
                               same_order["replication_neg_log_10_p_value"], rtol=1e-6)


def test_replicate_joint__bonferroni_over_tested_loci_and_joint_only_status():
    from udip_gwas.genetics.replication import replicate_joint

    loci = pd.DataFrame({"lead_variant": ["a", "b", "c", "d"], "lead_beta": [0.1, 0.2, -0.1, 0.3],
                         "lead_dimension": "T1_001",
                         "test": ["per_dimension", "joint", "joint", "per_dimension+joint"]})
    rep = pd.DataFrame({"variant_id": ["a", "b", "c"], "dimension": "T1_001", "beta": [0.1, -0.2, -0.1],
                        "standard_error": 0.01,
                        "neg_log_10_p_value": [5.0, 5.0, 0.5], "n": 100})
    joint = pd.DataFrame({"variant_id": ["a", "b", "c"], "joint_statistic": [3.0, 2.0, 1.1],
                          "joint_neg_log_10_p_value": [1.5, 1.2, 0.9], "effect_correlation": [0.9, 0.8, 0.1]})
    out = replicate_joint(replicate(loci, rep, alpha=0.05), joint, alpha=0.05)
    # three loci tested by the joint test: threshold 0.05 / 3 (-log10 = 1.78): none passes; nominal 0.05 (1.30)
    assert out["replication_joint_replicated"].tolist()[:3] == [False, False, False]
    assert pd.isna(out["replication_joint_replicated"].iloc[3])
    # a joint-only locus takes its status from the joint test: b at -log10 p 1.2 is not even nominal (1.30)
    assert out.loc[1, "replication_status"] == "not replicated"
    assert out.loc[0, "replication_status"] == "replicated"      # per-dimension rule for the others
    assert out["replication_effect_correlation"].tolist()[:3] == [0.9, 0.8, 0.1]
    joint.loc[1, "joint_neg_log_10_p_value"] = 2.0
    out = replicate_joint(replicate(loci, rep, alpha=0.05), joint, alpha=0.05)
    assert out.loc[1, "replication_status"] == "replicated" and bool(out.loc[1, "replicated"])


def test_joint_chi2__matches_numpy_and_drops_a_singular_direction():
    from scipy import stats

    from udip_gwas.genetics.replication import joint_chi2

    rng = np.random.default_rng(3)
    a = rng.normal(size=(500, 3))
    corr = np.corrcoef(a, rowvar=False)
    z = np.array([2.0, -1.0, 3.0])
    t, df, nlp, dropped = joint_chi2(z, corr)
    assert t == pytest.approx(z @ np.linalg.solve(corr, z), rel=1e-10)
    assert (df, dropped) == (3, 0) and nlp == pytest.approx(-np.log10(stats.chi2.sf(t, 3)), rel=1e-10)
    # a fourth dimension equal to the first: C is singular, one direction dropped, the statistic unchanged
    big = np.corrcoef(np.column_stack([a, a[:, 0]]), rowvar=False)
    t4, df4, _, dropped4 = joint_chi2(np.append(z, z[0]), big)
    assert (df4, dropped4) == (3, 1) and t4 == pytest.approx(t, rel=1e-6)
