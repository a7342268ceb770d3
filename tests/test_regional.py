"""Regional association plots per locus (udip_gwas/genetics/regional.py, plots.plot_regional)."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from udip_gwas.genetics.plots import R2_COLOURS, plot_regional, r2_colour


@pytest.fixture(scope="module")
def loci_run(gwas_run, tmp_path_factory):
    """The loci stage on the test GWAS with a gene annotation: two genes per locus, one far away."""
    from udip_gwas.genetics.stages import run_loci

    out = tmp_path_factory.mktemp("regional")
    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["run"]["out"] = str(out)
    cfg["loci"].update(gwas=str(gwas_run["out"] / "gwas"), p_threshold=4e-5, dimension_plots="none")
    bim = gwas_run["bim"]
    genes = []
    for i, j in enumerate(gwas_run["causal"]):
        c, p = str(bim["chromosome"].iloc[j]), int(bim["base_pair_location"].iloc[j])
        genes += [f"{c}\t{p - 5000}\t{p + 5000}\tNEAR{i}\t0\t+", f"{c}\t{p + 60000}\t{p + 90000}\tSIDE{i}\t0\t-",
                  f"{c}\t{p + 5_000_000}\t{p + 5_100_000}\tFAR{i}\t0\t+"]
    (out / "genes.bed").write_text("\n".join(genes) + "\n")
    cfg["report"]["genes"] = str(out / "genes.bed")
    run_loci(cfg, out / "loci")
    loci = pd.read_csv(out / "loci" / "loci.tsv", sep="\t", dtype={"chromosome": str})
    return dict(out=out, cfg=cfg, loci=loci)


def test_regional__a_table_and_a_plot_per_locus(loci_run):
    loci, folder = loci_run["loci"], loci_run["out"] / "loci" / "regional"
    assert len(loci) >= 2
    assert sorted(f.name for f in folder.iterdir()) == sorted(f"{lid}.{ext}" for lid in loci["locus_id"]
                                                              for ext in ("png", "tsv"))
    assert all((folder / f"{lid}.png").stat().st_size > 20_000 for lid in loci["locus_id"])  # drawn


def test_regional__r2_is_numpys_correlation_of_the_analysed_samples_dosages(loci_run, gwas_run):
    g, bim, fam = gwas_run["g"], gwas_run["bim"], gwas_run["fam"]
    rows = [list(fam["IID"].astype(str)).index(s) for s in gwas_run["samples"]]
    index = {f"{c}:{p}:{a2}:{a1}": j for j, (c, p, a1, a2) in
             enumerate(zip(bim["chromosome"], bim["base_pair_location"], bim["a1"], bim["a2"]))}

    def dosage(variant):
        x = g[rows, index[variant]]
        return np.where(np.isnan(x), np.nanmean(x), x)

    checked = 0
    for r in loci_run["loci"].itertuples():
        table = pd.read_csv(loci_run["out"] / "loci" / "regional" / f"{r.locus_id}.tsv", sep="\t")
        lead = dosage(r.lead_variant)
        assert table.loc[table["variant_id"] == r.lead_variant, "r2_with_lead"].item() == pytest.approx(1.0)
        for v, r2 in zip(table["variant_id"], table["r2_with_lead"]):
            x = dosage(v)
            expected = np.corrcoef(x, lead)[0, 1] ** 2 if x.std() > 0 else np.nan
            assert r2 == pytest.approx(expected, abs=2e-6), v  # the TSV writes 6 significant digits
            checked += 1
    assert checked > 20


def test_regional__points_are_the_lead_dimensions_gwas_ssf_values_in_the_window(loci_run, gwas_run):
    margin = loci_run["cfg"]["loci"]["regional_margin_kb"] * 1000
    for r in loci_run["loci"].itertuples():
        table = pd.read_csv(loci_run["out"] / "loci" / "regional" / f"{r.locus_id}.tsv", sep="\t")
        ssf = gwas_run["dims"][r.lead_dimension]
        ssf = ssf[(ssf["chromosome"].astype(str) == r.chromosome)
                  & ssf["base_pair_location"].between(r.start - margin, r.end + margin)]
        merged = table.merge(ssf, on="variant_id", suffixes=("", "_ssf"))
        assert len(merged) == len(table) == len(ssf) > 5
        np.testing.assert_allclose(merged["neg_log_10_p_value"], merged["neg_log_10_p_value_ssf"], atol=6e-6)
        assert (merged["position"] == merged["base_pair_location"]).all()


def test_regional__gene_track_lists_the_annotations_genes_in_the_window(loci_run):
    from udip_gwas.fileformats import read_genes
    from udip_gwas.genetics.plots import genes_in_window

    genes, _ = read_genes(loci_run["out"] / "genes.bed")
    for r in loci_run["loci"].itertuples():
        table = pd.read_csv(loci_run["out"] / "loci" / "regional" / f"{r.locus_id}.tsv", sep="\t")
        names = set(genes_in_window(genes, r.chromosome, table["position"].min(), table["position"].max())["gene_name"])
        near = {n for n in names if n.startswith("NEAR")}
        assert near and not any(n.startswith("FAR") for n in names), names


def _two_signal_table():
    pos = np.arange(1_000_000, 1_500_000, 5_000)
    nlp = np.r_[np.linspace(1, 12, 50), np.linspace(9, 1, 50)]
    r2 = np.r_[np.linspace(0.05, 0.95, 50), np.linspace(0.1, 0.0, 50)]
    return pd.DataFrame({"position": pos, "neg_log_10_p_value": nlp, "r2_with_lead": r2})


def test_plot_regional__lead_labelled_and_the_second_signal_marked():
    table = _two_signal_table()
    second = int(table["position"].iloc[50])
    strip = pd.DataFrame({"dimension": ["T1_001", "T1_002", "T1_003"], "neg_log_10_p_value": [12.0, 3.0, 9.0],
                          "significant": [True, False, True]})
    genes = pd.DataFrame({"Start": [1_100_000, 1_120_000], "End": [1_200_000, 1_130_000], "gene_name": ["A", "B"],
                          "Strand": ["+", "-"]})
    fig = plot_regional(table, lead={"position": int(table["position"].iloc[49]), "neg_log_10_p_value": 12.0,
                                     "label": "rs1"}, independent=[second], genes=genes,
                        thresholds={"5e-08": 5e-8, "5e-08/3": 5e-8 / 3}, strip=strip)
    ax, gx, sx = fig.axes[:3]
    points = ax.collections[0]
    colours = {tuple(np.round(c[:3], 3)) for c in points.get_facecolors()}
    assert len(colours) == 5  # the five LocusZoom bins are used
    outlined = ax.collections[1].get_offsets()
    assert outlined.shape == (1, 2) and outlined[0, 0] == pytest.approx(second / 1e6)
    assert any(t.get_text() == "rs1" for t in ax.texts)
    assert sorted(t.get_text() for t in gx.texts) == ["A →", "B ←"]
    assert [t.get_text() for t in sx.get_xticklabels()] == ["T1_001", "T1_003"]
    assert len([line for line in ax.lines if line.get_linestyle() == "--"]) == 2  # both thresholds


def test_r2_colour__locuszoom_bins():
    assert [r2_colour(v) for v in (0.0, 0.19, 0.2, 0.59, 0.6, 0.8, 1.0)] == [
        R2_COLOURS[0], R2_COLOURS[0], R2_COLOURS[1], R2_COLOURS[2], R2_COLOURS[3], R2_COLOURS[4], R2_COLOURS[4]]
    assert r2_colour(float("nan")) == "#b0b0b0"
