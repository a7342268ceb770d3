"""The gwas and loci stages end to end (udip_gwas/genetics/stages.py)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from .conftest import _design, _flip_plink


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
    # the direct view's inputs: the analysed subjects, the GWAS design's covariates and each lead's dosage (the
    # effect allele of the lead's id counted, as read from the .bed here)
    dos = pd.read_csv(tmp_path / "loci" / "lead_dosages.tsv.gz", sep="\t", dtype={"IID": str})
    design, _ = _design(gwas_run)
    assert dos["IID"].tolist() == gwas_run["samples"] and list(dos.columns[-len(loci):]) == list(loci["locus_id"])
    covariates = [c for c in dos.columns if c not in set(loci["locus_id"]) | {"IID"}]
    assert covariates == json.loads((gwas_run["out"] / "gwas" / "summary.json").read_text())["covariates"]
    np.testing.assert_allclose(dos[covariates].to_numpy(), design[:, 1:], rtol=1e-9)
    rows = [list(gwas_run["fam"]["IID"]).index(s) for s in gwas_run["samples"]]
    for r in loci.itertuples():
        c, pos, other, effect = r.lead_variant.split(":")
        j = np.flatnonzero((bim["chromosome"].astype(str) == c) & (bim["base_pair_location"] == int(pos)))[0]
        expected = gwas_run["g"][rows, j]  # read_plink_dosages counts the .bim's A1
        if bim["a1"].iloc[j] != effect:
            expected = 2 - expected
        np.testing.assert_array_equal(dos[r.locus_id].to_numpy(), expected)
    # per-dimension plots of the loci's lead dimensions only (loci.dimension_plots = "loci")
    assert sorted(f.name for f in (tmp_path / "loci" / "plots").iterdir()) == sorted(
        f"{kind}_{d}.png" for d in set(loci["lead_dimension"]) for kind in ("manhattan", "qq"))


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 (Debian package plink2) not installed")
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
                         for f in ("ld_pairs.tsv.gz", "clumps.tsv", "loci.tsv", "lead_dosages.tsv.gz")}
    assert len(outputs["study"]["loci.tsv"]) >= 2 and len(outputs["study"]["ld_pairs.tsv.gz"]) > 10
    # the same panel with every variant's alleles named the other way round gives the same too; the lead dosages
    # come from the study's own genotypes (imported again) when an LD panel is given
    pd.testing.assert_frame_equal(outputs["panel"]["lead_dosages.tsv.gz"], outputs["study"]["lead_dosages.tsv.gz"])
    for f in ("ld_pairs.tsv.gz", "clumps.tsv", "loci.tsv"):
        pd.testing.assert_frame_equal(outputs["panel"][f], outputs["study"][f])
        pd.testing.assert_frame_equal(outputs["flipped"][f], outputs["study"][f])
    # the panel is what is read: all the study's samples (the non-analysed ones too) give other r2 values
    ld = outputs["everyone"]["ld_pairs.tsv.gz"].merge(outputs["study"]["ld_pairs.tsv.gz"],
                                                      on=["variant_id_a", "variant_id_b"])
    assert len(ld) > 10 and (ld["r2_x"] != ld["r2_y"]).mean() > 0.5
