"""The association of every dimension, against statsmodels and PLINK 2 (udip_gwas/genetics/association.py)."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import mpmath
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from udip_gwas.genetics.phenotypes import build_analysis_set

from .conftest import _design


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


@pytest.fixture(scope="module")
def engine_data(hail_session, tmp_path_factory):
    """A PLINK fileset with missing genotypes and a monomorphic variant, and an analysis set that drops
    some genotyped subjects and lists the rest in another order than the .fam."""
    from udip_gwas.fileformats import write_plink
    from udip_gwas.simulation.genotypes import simulate_panel

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
