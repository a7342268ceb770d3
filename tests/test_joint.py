"""The joint test of a set of dimensions (udip_gwas/genetics/association.py), against statsmodels: the F test of
the phenotype block in the OLS of the dosage on [1, covariates, Y_S], which is the one-predictor MANOVA."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from udip_gwas.genetics.phenotypes import build_analysis_set

QC_OFF = dict(min_maf=0.0, min_mac=0, min_call_rate=0.0, min_info=0.0, hwe_p=0.0)
SETS = [("A", ["A_001", "A_002", "A_003"]), ("B", ["B_001", "B_002"]),
        ("all", ["A_001", "A_002", "A_003", "B_001", "B_002"])]


@pytest.fixture(scope="module")
def joint_data(hail_session, tmp_path_factory):
    """Correlated phenotypes in two sets, 3 % missing calls, a categorical covariate, a subject order other than
    the .fam's, a monomorphic variant, and one variant strong enough that p underflows a double."""
    from udip_gwas.fileformats import write_plink
    from udip_gwas.simulation.genotypes import simulate_panel

    rng = np.random.default_rng(23)
    d = tmp_path_factory.mktemp("joint")
    n_all, n = 320, 290
    panel = simulate_panel([3], variants_per_chromosome=50, block_size_mean=5, rho=0.7, rng=rng)
    g = panel.sample(n_all, rng).astype(np.int8)
    g[:, 4] = 1  # no variation
    g[rng.random(g.shape) < 0.03] = -1
    ids = [f"J{i:04d}" for i in range(n_all)]
    write_plink(d / "geno", g, panel.variants, pd.DataFrame({"FID": ids, "IID": ids}))
    kept = rng.permutation(n_all)[:n]
    cov = pd.DataFrame({"FID": [ids[i] for i in kept], "IID": [ids[i] for i in kept],
                        "age": rng.uniform(40, 80, n), "site": rng.integers(0, 3, n)})
    dosage = np.where(g[kept] < 0, np.nan, g[kept]).astype(float)
    filled = np.where(np.isnan(dosage), np.nanmean(dosage, axis=0), dosage)
    mix = rng.normal(size=(5, 5)) + 2 * np.eye(5)
    y = rng.normal(size=(n, 5)) @ mix + 0.03 * cov[["age"]].to_numpy()     # correlated dimensions
    v = np.nanvar(dosage, axis=0)
    weak, strong = int(np.argsort(-v)[3]), int(np.argsort(-v)[0])
    y[:, :3] += 1.0 * (filled[:, [weak]] - filled[:, weak].mean()) * np.array([1.0, -0.5, 0.3])
    y[:, 3:] += 30.0 * (filled[:, [strong]] - filled[:, strong].mean())
    udips = pd.DataFrame(y, columns=[c for _, c in SETS[:2] for c in c])
    udips.insert(0, "IID", cov["IID"].to_numpy())
    analysis = build_analysis_set(udips, cov, ids, categorical=["site"], transform="none", source="test")
    analysis = dataclasses.replace(analysis, table=analysis.table.sample(frac=1.0, random_state=5))
    design = np.column_stack([np.ones(n), cov["age"], cov["site"] == 1, cov["site"] == 2]).astype(float)
    return dict(prefix=str(d / "geno"), analysis=analysis, filled=filled, y=y, design=design, weak=weak,
                strong=strong)


def _reference(design, y, x):
    """F, its df and -log10 p of the Y block in the OLS of x on [design, y] (statsmodels)."""
    full = sm.OLS(x, np.column_stack([design, y])).fit()
    reduced = sm.OLS(x, design).fit()
    f, p, df1 = full.compare_f_test(reduced)
    df2 = full.df_resid
    return f, int(df1), int(df2), -stats.f.logsf(f, df1, df2) / np.log(10)


@pytest.mark.parametrize("engine", ["blocked", "linear_regression_rows"])
def test_joint__matches_statsmodels_f_test(joint_data, engine, tmp_path):
    import hail as hl

    from udip_gwas.genetics.association import gwas_all_dimensions, joint_sets_of, native_blas_available
    from udip_gwas.genetics.genotypes import import_genotypes

    if engine == "blocked" and not native_blas_available():
        pytest.skip("Hail's native BLAS does not load here")
    gwas_all_dimensions(import_genotypes(joint_data["prefix"]), joint_data["analysis"], qc=QC_OFF,
                        engine=engine, block_size=8, joint_sets=SETS).write(str(tmp_path / "gwas.ht"))
    ht = hl.read_table(str(tmp_path / "gwas.ht"))
    sets = joint_sets_of(ht)
    assert [s.name for s in sets] == ["A", "B", "all"]
    rows = ht.collect()
    cols = {name: [i for i, c in enumerate(c for _, cs in SETS[:2] for c in cs) if c in dims] for name, dims in SETS}
    checked = 0
    for j, row in enumerate(rows):
        if j == 4:
            if engine == "blocked":  # no variation: no statistics rather than numerical noise
                assert row.joint_statistic is None
            continue
        for k, s in enumerate(sets):
            f, df1, df2, nlp = _reference(joint_data["design"], joint_data["y"][:, cols[s.name]],
                                          joint_data["filled"][:, j])
            assert (s.df1, s.df2) == (df1, df2)
            assert row.joint_statistic[k] == pytest.approx(f, rel=1e-8)
            if np.isfinite(nlp):
                assert row.joint_neg_log_10_p_value[k] == pytest.approx(nlp, rel=1e-8, abs=1e-10)
                assert row.joint_p_value[k] == pytest.approx(10 ** -nlp, rel=1e-7)
            checked += 1
    assert checked == 49 * 3
    strong = rows[joint_data["strong"]]
    assert strong.joint_neg_log_10_p_value[1] > 320  # p underflows a double; -log10 p stays finite
    assert rows[joint_data["weak"]].joint_neg_log_10_p_value[0] > 3


def _null_run(tmp_path, g: np.ndarray, *, n_dims: int, seed: int, missing: float = 0.0):
    """The joint test of ``n_dims`` correlated null phenotypes on genotypes ``g`` (samples x variants), through the
    PLINK reader and the blocked engine; returns the joint -log10 p and F of the QC-passing variants and the set."""
    import hail as hl

    from udip_gwas.fileformats import write_plink
    from udip_gwas.genetics.association import gwas_all_dimensions, joint_sets_of
    from udip_gwas.genetics.genotypes import import_genotypes

    rng = np.random.default_rng(seed)
    n, m = g.shape
    g = g.astype(np.int8)
    if missing:
        g[rng.random(g.shape) < missing] = -1
    ids = [f"N{i:05d}" for i in range(n)]
    variants = pd.DataFrame({"chromosome": 5, "base_pair_location": np.arange(m) * 100 + 1000,
                             "rsid": [f"rs{i}" for i in range(m)], "other_allele": "A", "effect_allele": "G"})
    write_plink(tmp_path / "null", g, variants, pd.DataFrame({"FID": ids, "IID": ids}))
    cov = pd.DataFrame({"FID": ids, "IID": ids, "age": rng.uniform(40, 80, n), "site": rng.integers(0, 3, n)})
    mix = rng.normal(size=(n_dims, n_dims)) + 1.5 * np.eye(n_dims)
    y = rng.normal(size=(n, n_dims)) @ mix + 0.02 * cov[["age"]].to_numpy()
    names = [f"Q_{i:03d}" for i in range(n_dims)]
    udips = pd.DataFrame(y, columns=names)
    udips.insert(0, "IID", ids)
    analysis = build_analysis_set(udips, cov, ids, categorical=["site"], transform="none", source="test")
    qc = dict(min_maf=0.01, min_mac=5, min_call_rate=0.0, min_info=0.0, hwe_p=0.0)
    gwas_all_dimensions(import_genotypes(str(tmp_path / "null")), analysis, qc=qc, engine="blocked",
                        joint_sets=[("Q", names)]).write(str(tmp_path / "gwas.ht"))
    ht = hl.read_table(str(tmp_path / "gwas.ht"))
    rows = ht.filter(hl.is_missing(ht.qc_fail)).select("joint_statistic", "joint_neg_log_10_p_value").collect()
    nlp = np.array([r.joint_neg_log_10_p_value[0] for r in rows], dtype=float)
    f = np.array([r.joint_statistic[0] for r in rows], dtype=float)
    return nlp, f, joint_sets_of(ht)[0]


def test_joint__null_calibration_independent_variants(hail_session, tmp_path):
    """Null phenotypes on 20,000 independent variants (MAF 0.02-0.5, 1 % missing calls): lambda GC of the joint
    test on its own F null within 1.00 +/- 0.05, and the count at p < 1e-3 inside the binomial 99 % interval."""
    from udip_gwas.genetics.association import native_blas_available

    if not native_blas_available():
        pytest.skip("Hail's native BLAS does not load here")
    rng = np.random.default_rng(31)
    maf = rng.uniform(0.02, 0.5, 20000)
    g = rng.binomial(2, maf, size=(600, 20000))
    nlp, f, s = _null_run(tmp_path, g, n_dims=16, seed=32, missing=0.01)
    assert np.isfinite(nlp).all() and len(nlp) > 19000
    lam = np.median(f) / stats.f.median(s.df1, s.df2)
    assert 0.95 <= lam <= 1.05
    hits = int((nlp > 3).sum())
    lo, hi = stats.binom.ppf([0.005, 0.995], len(nlp), 1e-3)
    assert lo <= hits <= hi, (hits, lo, hi)


def test_joint__null_lambda_on_a_panel_with_ld(hail_session, tmp_path):
    """Null phenotypes on a simulated panel with LD blocks and a realistic allele-frequency spread (the demo's
    genotype model): lambda GC of the joint test within 1.00 +/- 0.05."""
    from udip_gwas.genetics.association import native_blas_available
    from udip_gwas.simulation.genotypes import simulate_panel

    if not native_blas_available():
        pytest.skip("Hail's native BLAS does not load here")
    rng = np.random.default_rng(41)
    panel = simulate_panel([5], variants_per_chromosome=8000, block_size_mean=20, rho=0.9, rng=rng)
    nlp, f, s = _null_run(tmp_path, panel.sample(800, rng), n_dims=24, seed=42)
    lam = np.median(f) / stats.f.median(s.df1, s.df2)
    assert 0.95 <= lam <= 1.05


def test_joint__summary_statistics_form_agrees_with_the_exact_test(gwas_run):
    """JAGWAS's z'C^-1 z from the per-dimension GWAS-SSF files (z from t in the score form, C from the files' null
    variants, p from the F of R² = T / dof) against the exact F test in gwas.ht, at moderate signals (-log10 p
    3 to 40)."""
    import hail as hl

    from udip_gwas.genetics.replication import read_replication_joint_sumstats

    ht = hl.read_table(str(gwas_run["out"] / "gwas" / "gwas.ht"))
    sets = {s.name: list(s.dimensions) for s in hl.eval(ht.joint_sets)}
    rows = ht.filter(hl.is_missing(ht.qc_fail)).key_by().select("variant_id", "joint_neg_log_10_p_value").to_pandas()
    assert list(sets) == ["T1"]
    exact = rows["joint_neg_log_10_p_value"].map(lambda v: v[0])
    moderate = rows[(exact > 3) & (exact < 40)]
    assert len(moderate) >= 3
    loci = pd.DataFrame({
        "lead_variant": moderate["variant_id"], "chromosome": [v.split(":")[0] for v in moderate["variant_id"]],
        "lead_position": [int(v.split(":")[1]) for v in moderate["variant_id"]],
        "lead_other_allele": [v.split(":")[2] for v in moderate["variant_id"]],
        "lead_effect_allele": [v.split(":")[3] for v in moderate["variant_id"]],
        "lead_dimension": "T1_001", "lead_beta": 0.0, "joint_set": "T1"})
    got, info = read_replication_joint_sumstats(gwas_run["out"] / "gwas" / "dimensions", loci, sets)
    assert info["T1"]["df"] == 4 and "null variants" in info["T1"]["z_correlation"]
    ours = got.set_index("variant_id")["joint_neg_log_10_p_value"]
    ref = pd.Series(exact[moderate.index].to_numpy(), index=moderate["variant_id"])
    rel = (ours / ref.loc[ours.index] - 1).abs()
    assert len(ours) == len(moderate)
    # measured: median 1.4 %, largest 10 % (C estimated from about a thousand null variants, and the files'
    # dof taken as n - 2 where the fit had 11 covariates)
    assert rel.median() < 0.03 and rel.max() < 0.15, rel.describe()


def test_gwas_stage__writes_the_joint_file_and_its_lambda(gwas_run):
    """The gwas stage's joint/T1.tsv.gz on a user-style run (one UDIP table, PLINK files): its columns, its F and p
    against statsmodels' F test on the analysed subjects, its sidecar and the set's lambda GC."""
    from udip_gwas.columns import JOINT, names

    from .conftest import _design

    folder = gwas_run["out"] / "gwas" / "joint"
    df = pd.read_csv(folder / "T1.tsv.gz", sep="\t", na_values=["#NA"], keep_default_na=False,
                     dtype={"p_value": str})
    assert list(df.columns) == names(JOINT)
    assert (df["df1"] == 4).all() and df["n"].iloc[0] == len(gwas_run["samples"])
    X, rows = _design(gwas_run)
    by_rsid = df.set_index("rsid")
    bim = gwas_run["bim"]
    checked = 0
    for j in range(0, len(bim), 53):
        rsid = bim["id"].iloc[j]
        if rsid not in by_rsid.index:
            continue
        x = gwas_run["g"][rows, j].astype(float)
        x[np.isnan(x)] = np.nanmean(x)
        f, df1, df2, nlp = _reference(X, gwas_run["y"][rows], x)
        got = by_rsid.loc[rsid]
        assert (got["df1"], got["df2"]) == (df1, df2)
        assert got["statistic"] == pytest.approx(f, rel=1e-5)          # written with 6 significant digits
        assert got["neg_log_10_p_value"] == pytest.approx(nlp, abs=1e-5)
        checked += 1
    assert checked > 15
    assert "effect_statistic: F" in (folder / "T1.tsv-meta.yaml").read_text()
    lam = pd.read_csv(folder / "lambda_gc.tsv", sep="\t")
    assert lam["set"].tolist() == ["T1"] and 0.8 < lam["lambda_gc"].iloc[0] < 1.5


def test_joint_whitening__rank_refusal_and_warning(caplog):
    """A set whose dimensions are collinear is tested on its rank; too few error degrees of freedom are refused
    with the counts named; fewer than 10 per dimension warn."""
    from udip_gwas.exceptions import InputError
    from udip_gwas.genetics.association import joint_whitening

    rng = np.random.default_rng(5)
    r = rng.normal(size=(200, 3))
    r = np.column_stack([r, r[:, 0] - 2 * r[:, 1]])        # the fourth is a combination of two others
    w, info = joint_whitening(r, [("S", [0, 1, 2, 3])], n_basis=4)
    assert (info[0]["df1"], info[0]["df2"], info[0]["dropped_directions"]) == (3, 193, 1)
    # the projections' squared length equals x'R (R'R)^+ R'x for any x
    x = rng.normal(size=200)
    z = (x @ r) @ w
    assert z @ z == pytest.approx(x @ r @ np.linalg.pinv(r.T @ r) @ r.T @ x, rel=1e-8)
    with pytest.raises(InputError, match=r"set S: 6 samples.*n - k - p = -1"):
        joint_whitening(r[:6], [("S", [0, 1, 2])], n_basis=4)
    with caplog.at_level("WARNING"):
        joint_whitening(r[:30], [("S", [0, 1, 2])], n_basis=4)
    assert "fewer than 10 per dimension" in caplog.text
