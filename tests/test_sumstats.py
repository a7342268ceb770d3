"""Summary-statistics files and their numbers (udip_gwas/genetics/sumstats.py)."""

from __future__ import annotations

import mpmath
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from udip_gwas.genetics.sumstats import neg_log10_p_from_t


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


def test_gwas__lambda_gc_is_the_median_chi_square_of_the_files_p_values(gwas_run):
    lam = pd.read_csv(gwas_run["out"] / "gwas" / "lambda_gc.tsv", sep="\t").set_index("dimension")["lambda_gc"]
    for dim, df in gwas_run["dims"].items():
        chi2 = np.sort(stats.chi2.isf(10.0 ** -df["neg_log_10_p_value"].dropna().to_numpy(), 1))
        # the median of -log10 p (the mean of the two middle ones) lies between the two middle chi-squares; the
        # files carry -log10 p to 5 decimals
        low, high = chi2[(len(chi2) - 1) // 2], chi2[len(chi2) // 2]
        assert low * (1 - 1e-4) <= lam[dim] * stats.chi2.ppf(0.5, 1) <= high * (1 + 1e-4), dim


def test_exact_median_nlp__equals_numpy_beyond_the_sketch_and_repeats(hail_session):
    """20,001 and 20,000 values (above the 5,000 the sketch holds exactly), some missing, some failing QC."""
    hl = hail_session
    from udip_gwas.genetics.association import exact_median_nlp, median_nlp_aggregation

    rng = np.random.default_rng(3)
    for n in (20_001, 20_000):
        x = rng.exponential(0.5, size=(n, 3))
        x[::97, 1] = np.nan
        fail = rng.random(n) < 0.1
        ht = hl.Table.parallelize([hl.Struct(neg_log_10_p_value=[None if np.isnan(v) else float(v) for v in row],
                                             qc_fail="maf" if f else None) for row, f in zip(x, fail)],
                                  hl.tstruct(neg_log_10_p_value=hl.tarray(hl.tfloat64), qc_fail=hl.tstr),
                                  n_partitions=4)
        windows = ht.aggregate(median_nlp_aggregation(ht))
        got = exact_median_nlp(ht, windows)
        expected = [np.nanmedian(x[~fail, j]) for j in range(3)]
        np.testing.assert_allclose(got, expected, rtol=1e-15)
        assert exact_median_nlp(ht, ht.aggregate(median_nlp_aggregation(ht))) == got


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
