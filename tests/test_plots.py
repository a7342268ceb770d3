"""Manhattan and QQ plots of the loci stage (udip_gwas/genetics/plots.py)."""

from __future__ import annotations

import pandas as pd


def test_dimension_plots__all_dimensions_without_loci(gwas_run, tmp_path, monkeypatch, caplog):
    import hail as hl

    from udip_gwas import layout
    from udip_gwas.genetics import plots

    gdir = layout.GwasFiles(gwas_run["out"] / "gwas")
    ht = hl.read_table(str(gdir.table))
    dims = list(hl.eval(ht.dimensions))
    no_loci = pd.DataFrame(columns=["locus_id", "chromosome", "lead_position", "lead_dimension"])

    def _plots(out, which):
        plots.write_loci_plots(ht, gdir, layout.LociFiles(out), no_loci,
                               thresholds={"bonferroni": 5e-8 / len(dims), "genome_wide": 5e-8}, n_dims=len(dims),
                               dims=dims, dimension_plots=which, seed=1)

    _plots(tmp_path, "all")
    made = sorted(f.name for f in (tmp_path / "plots").iterdir())
    assert made == sorted(f"{kind}_{d}.png" for d in dims for kind in ("manhattan", "qq"))
    assert all((tmp_path / "plots" / f).stat().st_size > 10_000 for f in made)
    # above PLOT_POINTS variants: every variant with p < 1e-3 in a plotted dimension and a sample of the rest
    import re

    monkeypatch.setattr(plots, "PLOT_POINTS", 100)
    (tmp_path / "c").mkdir()
    with caplog.at_level("INFO"):
        _plots(tmp_path / "c", "all")
    used, total = map(int, re.findall(r"from (\d+) of the (\d+) QC-passing", caplog.text)[-1])
    strong = sum(1 for _ in ht.filter(hl.is_missing(ht.qc_fail) & hl.any(ht.neg_log_10_p_value.map(
        lambda x: x > 3))).key_by().select().collect())
    assert strong < used < strong + 200 and total > 800
    assert len(list((tmp_path / "c" / "plots").iterdir())) == 2 * len(dims)
    # "loci" without loci: the pooled plots only
    (tmp_path / "b").mkdir()
    _plots(tmp_path / "b", "loci")
    assert sorted(f.name for f in (tmp_path / "b").iterdir()) == ["manhattan.png", "qq.png"]
