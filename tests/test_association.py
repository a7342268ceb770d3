"""GWAS statistics checked against independent references: statsmodels OLS, PLINK 2 --glm, mpmath."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import mpmath
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from udip_gwas.genetics.phenotypes import build_analysis_set, inverse_normal
from udip_gwas.genetics.sumstats import neg_log10_p_from_t

def _design(run) -> tuple[np.ndarray, list[int]]:
    cov = run["cov"].set_index("IID").loc[run["samples"]]
    X = pd.DataFrame({"age": cov["age"], "sex": cov["sex"]})
    for lev in sorted(cov["site"].astype(str).unique())[1:]:
        X[f"site_{lev}"] = (cov["site"].astype(str) == lev).astype(float)
    for c in [c for c in cov.columns if c.startswith("PC")] + ["head_size"]:
        X[c] = cov[c]
    rows = [list(run["fam"]["IID"]).index(s) for s in run["samples"]]
    return sm.add_constant(X.to_numpy(dtype=float)), rows


def test_sample_join__counts_and_reasons(gwas_run):
    excl = pd.read_csv(gwas_run["out"] / "excluded_subjects.tsv", sep="\t")
    assert (excl["stage"] == "gwas").all()
    no_udip = excl[excl["reason"].str.startswith("missing UDIP values")]
    assert set(no_udip["IID"]) == set(gwas_run["udips"]["IID"].iloc[:5])
    miss_cov = excl[excl["reason"].str.startswith("missing covariate")]
    cov = gwas_run["cov"].set_index("IID")
    for row in miss_cov.itertuples():
        named = row.reason.split(": ", 1)[1].split(", ")
        assert all(pd.isna(cov.loc[row.IID, c]) for c in named)
    assert len(gwas_run["samples"]) + len(excl) == len(gwas_run["fam"])


def test_gwas__matches_statsmodels_ols(gwas_run):
    X, rows = _design(gwas_run)
    bim = gwas_run["bim"]
    checked = 0
    for dim_i, (dim, df) in enumerate(gwas_run["dims"].items()):
        df = df.set_index("rsid")
        for j in list(gwas_run["causal"]) + list(range(0, len(bim), 97)):
            rsid = bim["id"].iloc[j]
            if rsid not in df.index:
                continue  # removed by variant QC
            x = gwas_run["g"][rows, j]
            fit = sm.OLS(gwas_run["y"][rows, dim_i], np.column_stack([X, x])).fit()
            ours = df.loc[rsid]
            assert ours["beta"] == pytest.approx(fit.params[-1], rel=1e-4, abs=1e-9)
            assert ours["standard_error"] == pytest.approx(fit.bse[-1], rel=1e-4)
            expected_nlp = -np.log10(fit.pvalues[-1]) if fit.pvalues[-1] > 0 else None
            if expected_nlp is not None and np.isfinite(expected_nlp):
                assert ours["neg_log_10_p_value"] == pytest.approx(expected_nlp, rel=1e-4, abs=1e-4)
            assert ours["n"] == len(rows)
            checked += 1
    assert checked > 40


def test_gwas__effect_allele_frequency_over_analysed_samples(gwas_run):
    _, rows = _design(gwas_run)
    df = gwas_run["dims"]["T1_001"].set_index("rsid")
    bim = gwas_run["bim"]
    for j in range(0, len(bim), 50):
        if bim["id"].iloc[j] in df.index:
            assert df.loc[bim["id"].iloc[j], "effect_allele_frequency"] == pytest.approx(
                np.nanmean(gwas_run["g"][rows, j]) / 2, rel=1e-4)
            assert df.loc[bim["id"].iloc[j], "effect_allele"] == bim["a1"].iloc[j]


def test_gwas__neg_log10_p_matches_mpmath_where_p_is_a_double(gwas_run):
    """Where p is an ordinary double (no underflow), -log10 p agrees with the exact t tail too."""
    df = gwas_run["dims"]["T1_003"]
    df = df[df["neg_log_10_p_value"].between(0.5, 299)].sort_values("neg_log_10_p_value").iloc[::-1][:40]
    assert df["neg_log_10_p_value"].max() > 20  # strong signals are among the checked ones
    dof = int(df["n"].iloc[0]) - 11 - 1
    mpmath.mp.dps = 60
    nu = mpmath.mpf(dof)
    for row in df.itertuples():
        t = mpmath.mpf(float(row.beta)) / mpmath.mpf(float(row.standard_error))
        p = mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, nu / (nu + t**2), regularized=True)
        # beta and se are written with 6 significant digits, so t carries ~1e-6 relative error
        assert row.neg_log_10_p_value == pytest.approx(float(-mpmath.log10(p)), rel=2e-4, abs=1e-4)


def test_gwas__p_never_underflows(gwas_run):
    df = gwas_run["dims"]["T1_003"].set_index("rsid")
    rsid = gwas_run["bim"]["id"].iloc[gwas_run["causal"][0]]
    row = df.loc[rsid]
    t = row["beta"] / row["standard_error"]
    dof = int(row["n"]) - 11 - 1  # intercept + 10 covariates (site has 3 levels) + the dosage
    mpmath.mp.dps = 60
    nu = mpmath.mpf(dof)
    p = mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, nu / (nu + mpmath.mpf(float(t)) ** 2), regularized=True)
    expected = -mpmath.log10(p)
    assert expected > 320  # far below the smallest double
    assert row["neg_log_10_p_value"] == pytest.approx(float(expected), rel=1e-3)
    mant, exp = row["p_value"].split("e-")
    assert float(exp) - np.log10(float(mant)) == pytest.approx(float(expected), rel=1e-3)


@pytest.mark.parametrize("t,dof", [(2.0, 50), (8.5, 300), (45.0, 400), (400.0, 2000), (1e4, 30)])
def test_neg_log10_p_from_t__matches_mpmath(t, dof):
    mpmath.mp.dps = 80
    nu = mpmath.mpf(dof)
    p = mpmath.betainc(nu / 2, mpmath.mpf(1) / 2, 0, nu / (nu + mpmath.mpf(float(t)) ** 2), regularized=True)
    assert float(neg_log10_p_from_t(np.array([t]), dof)[0]) == pytest.approx(float(-mpmath.log10(p)), rel=1e-6)


def test_number_text__matches_c_printf(hail_session):
    """The summary-statistics files' integer-arithmetic number formatting against Python's own %e / %f."""
    import hail as hl

    from udip_gwas.genetics.sumstats import _fixed, _sci

    rng = np.random.default_rng(7)
    mags = 10.0 ** rng.uniform(-299, 299, 300)
    values = list(rng.choice([-1, 1], 300) * mags) + list(rng.normal(0, 0.05, 200)) + list(rng.uniform(0, 1, 100))
    edges = [0.0, 1.0, -1.0, 10.0, 1e-5, 0.001, 123.0, 9.999996, 9.999994, 99999.96, 0.099999996, 1e-300, 1e300,
             2.5e-305, 1e305, 7e-310, float("inf"), float("-inf")]
    fixed_values = list(np.abs(values[300:])) + [0.0, 12.345671, 9.999996, 399.5, 1e11, 3e12]
    got = hl.eval(hl.struct(
        sci6=hl.literal(values + edges, dtype="array<float64>").map(lambda v: _sci(v, 6)),
        sci5=hl.literal(values + edges, dtype="array<float64>").map(lambda v: _sci(v, 5)),
        missing=_sci(hl.missing("float64"), 6),
        fixed=hl.literal(fixed_values, dtype="array<float64>").map(lambda v: _fixed(v, 5))))
    java_special = {"inf": "Infinity", "-inf": "-Infinity"}
    want6 = [java_special.get(f"{v:.5e}", f"{v:.5e}") for v in values + edges]
    want5 = [java_special.get(f"{v:.4e}", f"{v:.4e}") for v in values + edges]
    assert got.sci6 == want6
    assert got.sci5 == want5
    assert got.missing == "#NA"
    assert got.fixed == [f"{v:.5f}" for v in fixed_values]


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 (Debian package plink2) not installed")
def test_gwas__matches_plink2_glm(gwas_run, tmp_path):
    X, rows = _design(gwas_run)
    ids = gwas_run["samples"]
    pheno = pd.DataFrame({"FID": ids, "IID": ids})
    for i, dim in enumerate(gwas_run["dims"]):
        pheno[dim] = gwas_run["y"][rows, i]
    pheno.to_csv(tmp_path / "pheno.tsv", sep="\t", index=False)
    covar = pd.DataFrame(X[:, 1:], columns=[f"c{i}" for i in range(X.shape[1] - 1)])
    covar.insert(0, "IID", ids)
    covar.insert(0, "FID", ids)
    covar.to_csv(tmp_path / "covar.tsv", sep="\t", index=False)
    pheno[["FID", "IID"]].to_csv(tmp_path / "keep.txt", sep="\t", index=False, header=False)
    subprocess.run(["plink2", "--bfile", gwas_run["prefix"], "--pheno", tmp_path / "pheno.tsv", "--covar",
                    tmp_path / "covar.tsv", "--covar-variance-standardize", "--keep", tmp_path / "keep.txt",
                    "--glm", "hide-covar", "omit-ref", "--out", tmp_path / "plink", "--threads", "2"],
                   check=True, capture_output=True)
    for dim, ours in gwas_run["dims"].items():
        ref = pd.read_csv(tmp_path / f"plink.{dim}.glm.linear", sep="\t").set_index("ID")
        merged = ours.set_index("rsid").join(ref, how="inner")
        assert len(merged) == len(ours)
        assert (merged["A1"] == merged["effect_allele"]).all()
        np.testing.assert_allclose(merged["beta"], merged["BETA"], rtol=2e-4, atol=1e-6)
        np.testing.assert_allclose(merged["standard_error"], merged["SE"], rtol=2e-4)
        finite = merged["P"] > 1e-300
        np.testing.assert_allclose(merged.loc[finite, "neg_log_10_p_value"], -np.log10(merged.loc[finite, "P"]),
                                   rtol=1e-3, atol=1e-4)


def test_gwas__null_lambda_gc_near_one(gwas_run):
    lam = pd.read_csv(gwas_run["out"] / "gwas" / "lambda_gc.tsv", sep="\t").set_index("dimension")
    # T1_004 has only a covariate effect: no genetic signal at all
    assert 0.85 < lam.loc["T1_004", "lambda_gc"] < 1.15


def test_gwas__lambda_gc_is_the_median_chi_square_of_the_files_p_values(gwas_run):
    lam = pd.read_csv(gwas_run["out"] / "gwas" / "lambda_gc.tsv", sep="\t").set_index("dimension")["lambda_gc"]
    for dim, df in gwas_run["dims"].items():
        chi2 = np.sort(stats.chi2.isf(10.0 ** -df["neg_log_10_p_value"].dropna().to_numpy(), 1))
        # fewer variants than the quantile sketch holds: Hail's median is exact, one of the middle values
        # (numpy would average the two for an even count); the files carry -log10 p to 5 decimals
        low, high = chi2[(len(chi2) - 1) // 2], chi2[len(chi2) // 2]
        assert low * (1 - 1e-4) <= lam[dim] * stats.chi2.ppf(0.5, 1) <= high * (1 + 1e-4), dim


def test_gwas__combined_table_takes_the_smallest_p(gwas_run):
    comb = pd.read_csv(gwas_run["out"] / "gwas" / "combined.tsv.gz", sep="\t", na_values=["#NA"],
                       keep_default_na=False).set_index("rsid")
    stacked = pd.concat({d: df.set_index("rsid")["neg_log_10_p_value"] for d, df in gwas_run["dims"].items()}, axis=1)
    np.testing.assert_allclose(comb["neg_log_10_p_value"], stacked.loc[comb.index].max(axis=1), rtol=1e-6)
    assert (comb["dimension"] == stacked.loc[comb.index].idxmax(axis=1)).all()
    assert list(comb.columns[:7]) == ["chromosome", "base_pair_location", "effect_allele", "other_allele", "beta",
                                      "standard_error", "effect_allele_frequency"]
    assert comb.reset_index().groupby("chromosome")["base_pair_location"].apply(
        lambda s: s.is_monotonic_increasing).all()


def test_inverse_normal__ranks_to_normal_quantiles():
    x = np.array([10.0, -3.0, 2.0, 2.0, 100.0])
    z = inverse_normal(x)
    assert np.argsort(z[[1, 2, 0, 4]]).tolist() == [0, 1, 2, 3]
    assert z[2] == z[3]
    from scipy import stats
    assert z[4] == pytest.approx(stats.norm.ppf((5 - 0.375) / 5.25))


def test_build_analysis_set__categorical_and_errors():
    udips = pd.DataFrame({"IID": ["a", "b", "c", "d"], "T1_001": [1.0, 2.0, 3.0, 4.0]})
    cov = pd.DataFrame({"FID": list("abcd"), "IID": list("abcd"), "site": ["x", "y", "z", "y"],
                        "age": [1, 2, 3, np.nan]})
    aset = build_analysis_set(udips, cov, ["a", "b", "c", "d", "e"], categorical=["site"], transform="none",
                              remove={"a"})
    assert aset.table["IID"].tolist() == ["b", "c"]
    assert aset.covariates == ["site_z", "age"]  # site_y is constant among b and c and is dropped
    reasons = dict(zip(aset.excluded["IID"], aset.excluded["reason"]))
    assert reasons == {"a": "in the remove list", "d": "missing covariate value(s): age",
                       "e": "no UDIPs (no usable image)"}
    with pytest.raises(ValueError, match=r"covariate 'site' is not numeric: 'x' for subject a \(4 such"):
        build_analysis_set(udips, cov, ["a"], transform="none")
    # one stray text value in a numeric column: that value and its subject are named
    typo = cov.assign(age=["1", "2", "3O", "4"])
    with pytest.raises(ValueError, match=r"covariate 'age' is not numeric: '3O' for subject c \(1 such"):
        build_analysis_set(udips, typo, ["a"], categorical=["site"], transform="none")
    with pytest.raises(ValueError, match=r"covariate column\(s\) \['bmi'\] not found"):
        build_analysis_set(udips, cov, ["a"], covariate_columns=["bmi"], transform="none")


def test_read_udip_tables__a_text_value_is_named_with_its_subject(tmp_path):
    from udip_gwas.genetics.phenotypes import read_udip_tables

    (tmp_path / "u.tsv").write_text("IID\tT1_001\tT1_002\na\t0.1\t0.2\nb\tNA\t0.3\nc\t0,4\t0.5\n")
    with pytest.raises(ValueError, match=r"u.tsv: non-numeric phenotype column\(s\) \['T1_001'\]; in T1_001: "
                                         r"'0,4' for subject c \(1 such"):
        read_udip_tables([tmp_path / "u.tsv"])
    # numbers stored as text (a parquet string column): the column is named, with no value to show
    pd.DataFrame({"IID": ["a", "b"], "T1_001": ["0.1", "0.2"]}).to_parquet(tmp_path / "u.parquet")
    with pytest.raises(ValueError, match=r"u.parquet: non-numeric phenotype column\(s\) \['T1_001'\]; NA"):
        read_udip_tables([tmp_path / "u.parquet"])


@pytest.mark.parametrize("fmt", ["vcf", "bgen", "mt", "plink_grch38"])
def test_gwas__vcf_bgen_mt_and_grch38_inputs_give_the_plink_results(gwas_run, tmp_path, fmt):
    import copy

    import hail as hl

    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.stages import run_gwas_cohort

    cfg = copy.deepcopy(gwas_run["cfg"])
    if fmt == "vcf":
        path = str(gwas_run["prefix"]).replace("genotypes/discovery", "genotypes/discovery.vcf.bgz")
    elif fmt == "mt":  # a MatrixTable holding only the calls
        mt = import_genotypes(gwas_run["prefix"])
        mt.select_entries("GT").select_globals().write(str(tmp_path / "geno.mt"))
        path = str(tmp_path / "geno.mt")
    elif fmt == "plink_grch38":  # the same positions read as GRCh38 contigs (chr1, chr6)
        path = gwas_run["prefix"]
        cfg["gwas"]["reference_genome"] = "GRCh38"
    else:
        mt = import_genotypes(gwas_run["prefix"])
        gp = hl.switch(mt.GT.n_alt_alleles()).when(0, [1.0, 0.0, 0.0]).when(1, [0.0, 1.0, 0.0]).when(
            2, [0.0, 0.0, 1.0]).or_missing()
        mt = mt.annotate_entries(GP=gp)
        hl.export_bgen(mt, str(tmp_path / "geno"), gp=mt.GP, varid=mt.variant_id, rsid=mt.rsid)
        path = str(tmp_path / "geno.bgen")
    cfg["run"]["out"] = str(tmp_path)
    cfg["gwas"]["per_dimension_tsv"] = "all"
    run_gwas_cohort(cfg, tmp_path / "gwas", genotypes=path, phenotypes=[str(gwas_run["out"] / "udips.tsv")],
                    covariates=cfg["gwas"]["covariates"], cohort="discovery")
    ours = pd.read_csv(tmp_path / "gwas" / "dimensions" / "T1_001.tsv.gz", sep="\t", dtype={"chromosome": str})
    ref = gwas_run["dims"]["T1_001"].astype({"chromosome": str})
    key = ["chromosome", "base_pair_location", "other_allele", "effect_allele"]
    merged = ours.merge(ref, on=key, suffixes=("", "_plink"))
    assert len(merged) == len(ref) > 100
    if fmt == "plink_grch38":  # GWAS-SSF chromosomes carry no "chr"; variant ids keep the contig's name
        assert (merged["variant_id"] == "chr" + merged["variant_id_plink"]).all()
    else:
        assert (merged["variant_id"] == merged["variant_id_plink"]).all()
    np.testing.assert_allclose(merged["beta"], merged["beta_plink"], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(merged["neg_log_10_p_value"], merged["neg_log_10_p_value_plink"], rtol=1e-4)


def test_gwas__replication_cohort_keep_list_its_own_or_the_discovery_one(gwas_run, tmp_path):
    import copy

    from udip_gwas.genetics.stages import run_gwas_cohort

    iids = [str(s) for s in gwas_run["fam"]["IID"]]
    (tmp_path / "discovery_keep.txt").write_text("\n".join(iids[:200]) + "\n")
    (tmp_path / "replication_keep.txt").write_text("\n".join(iids[150:]) + "\n")
    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["run"]["out"] = str(tmp_path)
    cfg["gwas"]["keep"] = str(tmp_path / "discovery_keep.txt")
    kept, outside = {}, {}
    for name, own in (("own", str(tmp_path / "replication_keep.txt")), ("inherited", None)):
        cfg["replication"]["keep"] = own
        run_gwas_cohort(cfg, tmp_path / name, genotypes=gwas_run["prefix"],
                        phenotypes=[str(gwas_run["out"] / "udips.tsv")], covariates=cfg["gwas"]["covariates"],
                        cohort="replication")
        kept[name] = set(pd.read_csv(tmp_path / name / "samples.tsv", sep="\t", dtype=str)["IID"])
        excl = pd.read_csv(tmp_path / "excluded_subjects.tsv", sep="\t", dtype=str)  # this run's rows
        outside[name] = set(excl.loc[excl["reason"] == "not in the keep list", "IID"])
    analysable = set(gwas_run["samples"])
    assert kept["own"] == analysable & set(iids[150:]) and len(kept["own"]) > 100
    assert kept["inherited"] == analysable & set(iids[:200])
    assert outside["own"] <= set(iids[:150]) and outside["inherited"] <= set(iids[200:])
    assert len(outside["own"]) > 100 and len(outside["inherited"]) > 100


def test_import_bgen__subjects_named_by_the_sample_files_id_2(gwas_run, tmp_path):
    """A .sample written with family IDs in ID_1 (PLINK 2, qctool): the subjects are the ID_2 values, so they
    join the UDIP and covariate tables; Hail alone would name them by ID_1."""
    import hail as hl

    from udip_gwas.exceptions import InputError
    from udip_gwas.genetics.genotypes import import_genotypes

    mt = import_genotypes(gwas_run["prefix"]).head(20)
    gp = hl.switch(mt.GT.n_alt_alleles()).when(0, [1.0, 0.0, 0.0]).when(1, [0.0, 1.0, 0.0]).when(
        2, [0.0, 0.0, 1.0]).or_missing()
    mt = mt.annotate_entries(GP=gp)
    hl.export_bgen(mt, str(tmp_path / "g"), gp=mt.GP, varid=mt.variant_id, rsid=mt.rsid)
    iids = [str(s) for s in gwas_run["fam"]["IID"]]
    lines = ["ID_1 ID_2 missing", "0 0 0"] + [f"FAM{i // 2} {iid} 0" for i, iid in enumerate(iids)]
    (tmp_path / "fam_ids.sample").write_text("\n".join(lines) + "\n")
    for sample in (tmp_path / "g.sample", tmp_path / "fam_ids.sample"):
        got = import_genotypes(str(tmp_path / "g.bgen"), sample_file=str(sample))
        assert [str(s) for s in got.s.collect()] == iids
    lines[2] = lines[2].replace(iids[0], iids[1])
    (tmp_path / "twice.sample").write_text("\n".join(lines) + "\n")
    with pytest.raises(InputError, match="twice.sample: subject\\(s\\) listed twice in ID_2"):
        import_genotypes(str(tmp_path / "g.bgen"), sample_file=str(tmp_path / "twice.sample"))


_VCF_HEADER = """##fileformat=VCFv4.2
##contig=<ID=1,length=249250621>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
##FORMAT=<ID=DS,Number=A,Type=Float,Description="Alternate allele dosage">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\ts1\ts2\ts3\ts4
"""


@pytest.mark.parametrize("with_ds", [False, True])
def test_import_vcf__multi_allelic_sites_split_one_row_per_alternate_allele(hail_session, tmp_path, with_ds):
    import hail as hl

    from udip_gwas.genetics.genotypes import import_genotypes

    # the second site's alternate alleles out of order (G before C), and another record at its locus (T)
    rows = ["1\t100\trs1\tA\tC\t.\tPASS\t.\tGT:DS\t0/1:0.9\t1/1:1.8\t0/0:0.1\t./.:.",
            "1\t200\trs2\tA\tG,C\t.\tPASS\t.\tGT:DS\t0/2:0.0,1.0\t1/2:1.1,0.9\t1/1:2.0,0.0\t0/0:0.2,0.1",
            "1\t200\trs3\tA\tT\t.\tPASS\t.\tGT:DS\t1/1:1.9\t0/1:1.0\t0/0:0.0\t0/1:1.1"]
    if not with_ds:
        rows = [r.replace("GT:DS", "GT").replace(":.", "").split("\t") for r in rows]
        rows = ["\t".join(r[:9] + [c.split(":")[0] for c in r[9:]]) for r in rows]
    header = _VCF_HEADER if with_ds else "".join(h for h in _VCF_HEADER.splitlines(True) if "ID=DS" not in h)
    (tmp_path / "m.vcf").write_text(header + "\n".join(rows) + "\n")
    mt = import_genotypes(str(tmp_path / "m.vcf"))
    ids = mt.variant_id.collect()
    got = dict(zip(ids, np.array(mt.dosage.collect(), dtype=float).reshape(len(ids), 4)))
    if with_ds:  # each row's own entry of the DS array
        expected = {"1:100:A:C": [0.9, 1.8, 0.1, np.nan], "1:200:A:C": [1.0, 0.9, 0.0, 0.1],
                    "1:200:A:G": [0.0, 1.1, 2.0, 0.2], "1:200:A:T": [1.9, 1.0, 0.0, 1.1]}
    else:  # the copies of that row's alternate allele: 1/2 carries one G and one C
        expected = {"1:100:A:C": [1, 2, 0, np.nan], "1:200:A:C": [1, 1, 0, 0], "1:200:A:G": [0, 1, 2, 0],
                    "1:200:A:T": [2, 1, 0, 1]}
    assert ids == list(expected)  # in key order, the split rows sorted among the locus's other records
    for v, d in expected.items():
        np.testing.assert_allclose(got[v], d, rtol=1e-6)
    assert hl.eval(mt.globals).get("_udip_dosage_imputed", False) is with_ds


def test_gwas__imputed_dosages_match_statsmodels_on_the_dosages(gwas_run, tmp_path):
    """Genotype probabilities that are not hard calls (a BGEN of uncertain genotypes): the regression uses the
    expected allele count, and the QC's INFO falls below 1."""
    import copy

    import hail as hl

    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.stages import run_gwas_cohort

    mt = import_genotypes(gwas_run["prefix"])
    gp = hl.switch(mt.GT.n_alt_alleles()).when(0, [0.85, 0.15, 0.0]).when(1, [0.1, 0.8, 0.1]).when(
        2, [0.0, 0.25, 0.75]).or_missing()
    mt = mt.annotate_entries(GP=gp)
    hl.export_bgen(mt, str(tmp_path / "imputed"), gp=mt.GP, varid=mt.variant_id, rsid=mt.rsid)
    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["run"]["out"] = str(tmp_path)
    cfg["gwas"]["per_dimension_tsv"] = "all"
    run_gwas_cohort(cfg, tmp_path / "gwas", genotypes=str(tmp_path / "imputed.bgen"),
                    phenotypes=[str(gwas_run["out"] / "udips.tsv")], covariates=cfg["gwas"]["covariates"],
                    cohort="discovery")
    ours = pd.read_csv(tmp_path / "gwas" / "dimensions" / "T1_001.tsv.gz", sep="\t").set_index("variant_id")
    # the dosages as stored in the file (8-bit probabilities), for a spread of variants
    picked = list(ours.index[:: max(1, len(ours) // 25)])
    dm = import_genotypes(str(tmp_path / "imputed.bgen"))
    dm = dm.filter_rows(hl.literal(set(picked)).contains(dm.variant_id))
    ids, cols = dm.variant_id.collect(), [str(s) for s in dm.s.collect()]
    dosage = np.array(dm.dosage.collect(), dtype=float).reshape(len(ids), len(cols))
    assert np.mean(dosage % 1 != 0) > 0.9  # expected counts, not hard calls
    X, rows = _design(gwas_run)
    at = [cols.index(s) for s in gwas_run["samples"]]
    for i, vid in enumerate(ids):
        fit = sm.OLS(gwas_run["y"][rows, 0], np.column_stack([X, dosage[i, at]])).fit()
        assert ours.loc[vid, "beta"] == pytest.approx(fit.params[-1], rel=1e-4, abs=1e-9)
        assert ours.loc[vid, "standard_error"] == pytest.approx(fit.bse[-1], rel=1e-4)
        assert ours.loc[vid, "neg_log_10_p_value"] == pytest.approx(-np.log10(fit.pvalues[-1]), rel=1e-4, abs=1e-4)
        assert ours.loc[vid, "effect_allele_frequency"] == pytest.approx(dosage[i, at].mean() / 2, abs=2e-5)
    # INFO: MaCH r2 over the analysed samples, var(dosage) / (2p(1-p)) (it was 1 for every BGEN variant, so
    # gwas.min_info filtered nothing)
    ht = hl.read_table(str(tmp_path / "gwas" / "gwas.ht"))
    info = dict(zip(*ht.aggregate((hl.agg.collect(ht.variant_id), hl.agg.collect(ht.info)))))
    for i, vid in enumerate(ids):
        d = dosage[i, at]
        p = d.mean() / 2
        assert info[vid] == pytest.approx(min(d.var() / (2 * p * (1 - p)), 1.0), rel=1e-9)
    assert len(ids) >= 20 and 0.3 < np.median([info[v] for v in ids]) < 0.9


@pytest.fixture(scope="module")
def engine_data(hail_session, tmp_path_factory):
    """A PLINK fileset with missing genotypes and a monomorphic variant, and an analysis set that drops
    some genotyped subjects and lists the rest in another order than the .fam."""
    from udip_gwas.simulation.genotypes import simulate_panel, write_plink

    rng = np.random.default_rng(11)
    d = tmp_path_factory.mktemp("engines")
    panel = simulate_panel([2], variants_per_chromosome=60, block_size_mean=6, rho=0.8, rng=rng)
    g = panel.sample(300, rng).astype(np.int8)
    g[:, 5] = 0  # monomorphic
    g[rng.random(g.shape) < 0.03] = -1  # 3 % missing calls
    ids = [f"E{i:04d}" for i in range(300)]
    write_plink(d / "geno", g, panel.variants, pd.DataFrame({"FID": ids, "IID": ids}))
    kept = rng.permutation(300)[:260]
    cov = pd.DataFrame({"FID": [ids[i] for i in kept], "IID": [ids[i] for i in kept],
                        "age": rng.uniform(40, 80, 260), "site": rng.integers(0, 3, 260)})
    dosage = np.where(g[kept] < 0, np.nan, g[kept]).astype(float)
    causal = int(np.nanargmax(np.nanvar(dosage, axis=0)))
    y = rng.normal(size=(260, 3)) + 0.02 * cov[["age"]].to_numpy() + 0.6 * np.nan_to_num(dosage[:, [causal]])
    udips = pd.DataFrame(y, columns=["T1_001", "T1_002", "T1_003"])
    udips.insert(0, "IID", cov["IID"].to_numpy())
    analysis = build_analysis_set(udips, cov, ids, categorical=["site"], transform="none", source="test")
    # the analysis table in another order than the genotype file's columns
    analysis = dataclasses.replace(analysis, table=analysis.table.sample(frac=1.0, random_state=3))
    return dict(prefix=str(d / "geno"), analysis=analysis, dosage=dosage, y=y, cov=cov, causal=causal)


def _hwe_exact_midp(n_aa: int, n_ab: int, n_bb: int) -> float:
    """Hardy-Weinberg exact test (Wigginton et al. 2005) with the mid-p correction: the probability of the
    heterozygote counts less likely than the observed one plus half that of the equally likely ones."""
    from scipy.special import gammaln

    n = n_aa + n_ab + n_bb
    n_a = 2 * n_aa + n_ab
    n_b = 2 * n - n_a
    het = np.arange(n_a % 2, min(n_a, n_b) + 1, 2)
    hom_a, hom_b = (n_a - het) // 2, (n_b - het) // 2
    logp = (gammaln(n + 1) - gammaln(hom_a + 1) - gammaln(het + 1) - gammaln(hom_b + 1) + het * np.log(2.0)
            + gammaln(n_a + 1) + gammaln(n_b + 1) - gammaln(2 * n + 1))
    prob = np.exp(logp)
    obs = prob[het == n_ab][0]
    tie = np.isclose(prob, obs, rtol=1e-9, atol=0)
    return float(prob[(prob < obs) & ~tie].sum() + 0.5 * prob[tie].sum())


@pytest.mark.parametrize("engine,genotype_counts", [("blocked", "from_sums"), ("blocked", "counted"),
                                                     ("linear_regression_rows", "from_sums")])
def test_engines__match_statsmodels_with_mean_imputed_missing_calls(engine_data, engine, genotype_counts):
    """Both association engines against statsmodels OLS, where a missing call is the variant's mean dosage
    over the analysed subjects; the subjects' order differs from the genotype file's. The HWE test's genotype
    counts come from the dosage sums (PLINK input) or, without the import's marker, from counting the calls;
    both against counts made with numpy."""
    from udip_gwas.genetics.association import gwas_all_dimensions, native_blas_available
    from udip_gwas.genetics.genotypes import DOSAGE_FROM_GT, import_genotypes

    if engine == "blocked" and not native_blas_available():
        pytest.skip("Hail's native BLAS does not load here")
    an = engine_data["analysis"]
    mt = import_genotypes(engine_data["prefix"])
    assert DOSAGE_FROM_GT in mt.globals.dtype.fields
    if genotype_counts == "counted":
        mt = mt.drop(DOSAGE_FROM_GT)
    qc = dict(min_maf=0.0, min_mac=0, min_call_rate=0.0, min_info=0.0, hwe_p=0.0)
    rows = gwas_all_dimensions(mt, an, qc=qc, engine=engine, block_size=16).collect()
    assert len(rows) == 60
    cov = engine_data["cov"]
    design = np.column_stack([np.ones(260), cov["age"], cov["site"] == 1, cov["site"] == 2]).astype(float)
    checked = 0
    for j, row in enumerate(rows):
        x = engine_data["dosage"][:, j].copy()
        assert row.effect_allele_frequency == pytest.approx(np.nanmean(x) / 2, rel=1e-9, abs=1e-12)
        counts = [int((x == c).sum()) for c in (0, 1, 2)]
        assert row.hwe_p == pytest.approx(_hwe_exact_midp(*counts), rel=1e-6, abs=1e-300)
        if j == 5:
            if engine == "blocked":  # no variation: no statistics rather than numerical noise
                assert row.beta is None and row.neg_log_10_p_value is None
            continue
        x[np.isnan(x)] = np.nanmean(x)
        for d in range(3):
            fit = sm.OLS(engine_data["y"][:, d], np.column_stack([design, x])).fit()
            assert row.beta[d] == pytest.approx(fit.params[-1], rel=1e-7, abs=1e-10)
            assert row.standard_error[d] == pytest.approx(fit.bse[-1], rel=1e-7)
            assert row.t_stat[d] == pytest.approx(fit.tvalues[-1], rel=1e-7, abs=1e-9)
            assert row.p_value[d] == pytest.approx(fit.pvalues[-1], rel=1e-6)
            assert row.neg_log_10_p_value[d] == pytest.approx(-np.log10(fit.pvalues[-1]), rel=1e-7, abs=1e-9)
            checked += 1
        assert row.n == 260
    assert checked == 59 * 3
    assert rows[engine_data["causal"]].neg_log_10_p_value[0] > 6  # a real signal is among the checked ones


@pytest.mark.parametrize("engine", ["blocked", "linear_regression_rows"])
def test_engines__collinear_covariates_named(engine_data, engine):
    from udip_gwas.exceptions import InputError
    from udip_gwas.genetics.association import gwas_all_dimensions
    from udip_gwas.genetics.genotypes import import_genotypes

    an = engine_data["analysis"]
    table = an.table.assign(age_months=an.table["age"] * 12)
    bad = type(an)(table=table, phenotypes=an.phenotypes, covariates=[*an.covariates, "age_months"],
                   excluded=an.excluded, counts=an.counts)
    qc = dict(min_maf=0.0, min_mac=0, min_call_rate=0.0, min_info=0.0, hwe_p=0.0)
    with pytest.raises(InputError, match="age_months"):
        gwas_all_dimensions(import_genotypes(engine_data["prefix"]), bad, qc=qc, engine=engine)


def test_engine__without_blas_auto_falls_back_and_blocked_is_refused(hail_session, monkeypatch, caplog):
    """No libblas: 'auto' resolves to Hail's method before Hail is asked to load one (that load would
    block the session), and an explicit 'blocked' is a clear error; the warning comes once per process."""
    import ctypes.util

    from udip_gwas.exceptions import InputError
    from udip_gwas.genetics import association

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.setattr(association, "_BLAS_CHECKED", {})
    with caplog.at_level("WARNING", logger=association.log.name):
        assert association.resolve_engine("auto") == "linear_regression_rows"
        assert association.resolve_engine("auto") == "linear_regression_rows"
    assert sum("no BLAS library" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(InputError, match="libblas"):
        association.resolve_engine("blocked")
    with pytest.raises(InputError, match="not one of"):
        association.resolve_engine("fast")


def test_init_hail__spark_tasks_get_one_blas_thread_and_this_process_keeps_its_environment(hail_session):
    """The session fixture leaves hail.blas_threads at its default (1): the JVM that runs the local tasks sees
    OPENBLAS_NUM_THREADS=1 (or the value this process already had), and so would cluster executors; the
    variable is not left behind in this process for later child processes."""
    import os

    from udip_gwas.exceptions import ConfigError
    from udip_gwas.genetics.hail_context import init_hail

    jvm = hail_session.current_backend()._jvm
    assert jvm.java.lang.System.getenv("OPENBLAS_NUM_THREADS") == os.environ.get("OPENBLAS_NUM_THREADS", "1")
    assert hail_session.spark_context().getConf().get("spark.executorEnv.OPENBLAS_NUM_THREADS") == "1"
    with pytest.raises(ConfigError, match="blas_threads"):
        init_hail({"blas_threads": -1}, log_dir=".", seed=0)


def test_init_hail__local_files_without_checksum_side_files(hail_session, tmp_path):
    """Hail's local writes go through Hadoop's RawLocalFileSystem: no .crc files, and what is written reads back."""
    hl = hail_session
    assert hl.spark_context().getConf().get("spark.hadoop.fs.file.impl") == "org.apache.hadoop.fs.RawLocalFileSystem"
    ht = hl.utils.range_table(20, n_partitions=2)
    ht.write(str(tmp_path / "t.ht"))
    ht.export(str(tmp_path / "t.tsv.bgz"))
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".crc")]
    back = hl.read_table(str(tmp_path / "t.ht"))
    assert back.aggregate(hl.agg.collect(back.idx)) == list(range(20))
    assert pd.read_csv(tmp_path / "t.tsv.bgz", sep="\t", compression="gzip")["idx"].tolist() == list(range(20))


def test_native_blas_available__hail_is_asked_once_per_library(hail_session, monkeypatch):
    """The discovery and replication GWAS of one run both resolve the engine: Hail's matrix-product check
    (a Hail job, and a warning when it fails) runs once."""
    from udip_gwas.genetics import association

    monkeypatch.setattr(association, "_BLAS_CHECKED", {})
    calls = []
    real_eval = hail_session.eval
    monkeypatch.setattr(hail_session, "eval", lambda *a, **k: calls.append(1) or real_eval(*a, **k))
    first = association.native_blas_available()
    assert association.native_blas_available() == first
    assert len(calls) == 1
