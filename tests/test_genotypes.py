"""Genotype import: VCF, BGEN, MatrixTable, GRCh38, imputed dosages (udip_gwas/genetics/genotypes.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from .conftest import _design


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


@pytest.mark.parametrize("fmt", ["bgen", "vcf", "mt"])
def test_import__chromosomes_outside_the_analysed_set_are_listed(gwas_run, tmp_path, fmt):
    """A file with X variants (PLINK's 23 in the VCF): left out by default and listed with their reason and
    record, analysed with ``chromosomes = autosomes_and_x``; the BGEN's variant headers are read exactly."""
    import hail as hl

    from udip_gwas.fileformats import bgen_variants
    from udip_gwas.genetics.genotypes import import_genotypes

    mt = import_genotypes(gwas_run["prefix"]).head(30)
    mt = mt.key_rows_by(locus=hl.if_else(mt.locus.position % 3 == 0, hl.locus("X", mt.locus.position), mt.locus),
                        alleles=mt.alleles)
    mt = mt.annotate_rows(variant_id=hl.format("%s:%d", mt.locus.contig, mt.locus.position))
    n_x = mt.aggregate_rows(hl.agg.count_where(mt.locus.contig == "X"))
    assert 0 < n_x < 30
    if fmt == "bgen":
        gp = hl.switch(mt.GT.n_alt_alleles()).when(0, [1.0, 0.0, 0.0]).when(1, [0.0, 1.0, 0.0]).when(
            2, [0.0, 0.0, 1.0]).or_missing()
        mt = mt.annotate_entries(GP=gp)
        hl.export_bgen(mt, str(tmp_path / "g"), gp=mt.GP, varid=mt.variant_id, rsid=mt.rsid)
        path = str(tmp_path / "g.bgen")
        headers = bgen_variants(path)
        expected = mt.rows().select("variant_id", "rsid").collect()
        assert headers["variant_id"].tolist() == [r.variant_id for r in expected]
        assert headers["rsid"].tolist() == [r.rsid for r in expected]
    elif fmt == "vcf":
        hl.export_vcf(mt.select_rows("rsid").select_entries("GT").select_globals(), str(tmp_path / "g.vcf"))
        text = (tmp_path / "g.vcf").read_text().replace("\nX\t", "\n23\t")
        (tmp_path / "g.vcf").write_text(text)
        path = str(tmp_path / "g.vcf")
    else:
        mt.write(str(tmp_path / "g.mt"))
        path = str(tmp_path / "g.mt")
    got = import_genotypes(path, excluded_out=tmp_path / "excluded.tsv")
    excluded = pd.read_csv(tmp_path / "excluded.tsv", sep="\t", dtype=str)
    assert got.count_rows() == 30 - n_x and len(excluded) == n_x
    assert (excluded["reason"] == "chromosome X is not analysed (gwas.chromosomes = autosomes)").all()
    both = import_genotypes(path, chromosomes="autosomes_and_x", excluded_out=tmp_path / "none.tsv")
    assert both.count_rows() == 30 and pd.read_csv(tmp_path / "none.tsv", sep="\t").empty
