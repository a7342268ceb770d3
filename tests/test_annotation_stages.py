"""The perdi and report stages end to end (udip_gwas/annotation/stages.py)."""

from __future__ import annotations

import copy
import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from udip_gwas import config
from udip_gwas.annotation.atlas import harvard_oxford, template
from udip_gwas.annotation.regions import region_scores
from udip_gwas.exceptions import ConfigError
from udip_gwas.imaging.dataset import read_image_table
from udip_gwas.imaging.grid import mni_grid
from udip_gwas.imaging.stages import run_extract


def test_report__builds_from_a_small_run(gwas_run, tmp_path):
    from udip_gwas.annotation.stages import run_report
    from udip_gwas.genetics.stages import run_loci

    cfg = copy.deepcopy(gwas_run["cfg"])
    cfg["run"]["out"] = str(tmp_path)
    cfg["loci"]["gwas"] = str(gwas_run["out"] / "gwas")
    cfg["loci"]["p_threshold"] = 4e-5
    run_loci(cfg, tmp_path / "loci")
    loci = pd.read_csv(tmp_path / "loci" / "loci.tsv", sep="\t")
    # PerDI outputs for the loci's lead dimensions: a map peaking in the thalamus
    shape, affine = mni_grid(8.0)
    merged, table = harvard_oxford(8.0).merged()
    thal = merged == int(table.loc[table["region"] == "Thalamus", "label"].iloc[0])
    (tmp_path / "perdi" / "maps").mkdir(parents=True)
    maps = {}
    for d in loci["lead_dimension"].unique():
        m = np.where(thal, 5.0, 0.5).astype(np.float32) * (template(8.0) > 0)
        nib.save(nib.Nifti1Image(m, affine), str(tmp_path / "perdi" / "maps" / f"{d}.nii.gz"))
        maps[d] = m
    region_scores(maps, harvard_oxford(8.0), template(8.0) > 0).to_csv(tmp_path / "perdi" / "region_scores.tsv",
                                                                      sep="\t", index=False)
    # each locus's own maps: the decoder view peaking in the putamen, the direct view in the thalamus
    put = merged == int(table.loc[table["region"] == "Putamen", "label"].iloc[0])
    (tmp_path / "perdi" / "locus_maps").mkdir()
    own = {}
    for lid in loci["locus_id"]:
        for view, where in (("decoder", put), ("direct", thal)):
            m = np.where(where, 5.0, 0.5).astype(np.float32) * (template(8.0) > 0)
            nib.save(nib.Nifti1Image(m, affine), str(tmp_path / "perdi" / "locus_maps" / f"{lid}_{view}_T1.nii.gz"))
            own[(lid, view)] = m
    pd.concat([region_scores({lid: m}, harvard_oxford(8.0), template(8.0) > 0).rename(
        columns={"dimension": "locus_id"}).assign(modality="T1", view=view) for (lid, view), m in own.items()]).to_csv(
        tmp_path / "perdi" / "locus_region_scores.tsv", sep="\t", index=False)
    pd.DataFrame({"locus_id": loci["locus_id"], "modality": "T1", "spatial_correlation": 0.25}).to_csv(
        tmp_path / "perdi" / "locus_views.tsv", sep="\t", index=False)
    (tmp_path / "perdi" / "summary.json").write_text(json.dumps({"decoder_check": {
        "T1": {"best_val_loss": 0.25, "mean_image_val_loss": 0.19, "beats_mean_image": False},
        "T2": {"best_val_loss": 0.30, "mean_image_val_loss": 0.35, "beats_mean_image": True}}}))
    genes = tmp_path / "genes.bed"
    rows = [f"{r.chromosome}\t{r.lead_position - 10}\t{r.lead_position + 10}\tGENE{r.locus_id}\n"
            for r in loci.itertuples()]
    genes.write_text("".join(rows))
    cfg["report"].update(loci=str(tmp_path / "loci" / "loci.tsv"), perdi=str(tmp_path / "perdi"),
                         gwas=str(gwas_run["out"] / "gwas"), genes=str(genes))
    out = run_report(cfg, tmp_path / "report")
    rep = pd.read_csv(out["locus_report"], sep="\t")
    assert len(rep) == len(loci) > 0
    assert (rep["top_region"] == "Thalamus").all()
    assert rep["decoder_top_regions"].str.startswith("T1: Putamen (").all()
    assert rep["direct_top_regions"].str.startswith("T1: Thalamus (").all()
    assert (rep["view_correlation"] == "T1 0.25").all()
    assert (rep["nearest_genes"] == "GENE" + rep["locus_id"]).all() and (rep["nearest_gene_distance"] == 0).all()
    html = (tmp_path / "report" / "report.html").read_text()
    for lid in rep["locus_id"]:
        assert lid in html
    # Manhattan, QQ, the joint test's Manhattan and QQ of the one set (T1), and per locus its two locus maps, its
    # regional plot, its PerDI montage and its lead dimension's Manhattan plot, the locus maps first
    assert html.count("data:image/png;base64,") == 2 + 2 + 5 * len(rep)
    for lid in rep["locus_id"]:
        card = html[html.index(f"<h3>{lid}</h3>"):]
        assert card.count(f"alt='locus map of {lid}'") == 2
        assert card.index(f"alt='locus map of {lid}'") < card.index("alt='PerDI map'")
    assert html.count("alt='joint test plot'") == 2 and "found by" in html
    for lid in rep["locus_id"]:
        assert f"alt='regional plot of {lid}'" in html
    for d in rep["lead_dimension"]:
        assert f"alt='Manhattan plot of {d}'" in html
    assert "http://" not in html and "https://" not in html  # opens offline
    # the model whose decoder does not beat the mean image is named, the other is not
    assert "PerDI reliability" in html and "T1: best validation loss 0.2500" in html and "T2: best" not in html
    assert "PerDI reliability" in html and "from the autoencoder&#x27;s decoder" in html
    # maps from the linear decoder do not depend on the network decoder: no reliability warning, and the montages
    # say which decoder drew them
    summary = json.loads((tmp_path / "perdi" / "summary.json").read_text())
    (tmp_path / "perdi" / "summary.json").write_text(json.dumps({**summary, "decoder": "linear"}))
    run_report(cfg, tmp_path / "report")
    html = (tmp_path / "report" / "report.html").read_text()
    assert "PerDI reliability" not in html and "from a linear decoder fitted by least squares" in html


def test_perdi__linear_decoder_stage_fits_on_the_images_and_records_exclusions(trained, small_cohort, tmp_path):
    """PerDI with ``decoder = "linear"``: the chosen subjects' images are checked (a missing file and a subject
    absent from the manifest are written to excluded_subjects.tsv with their reasons), and each map equals the
    post-processed t statistics of the dimension's coefficient fitted on the remaining subjects."""
    import json

    from udip_gwas.annotation.atlas import template_on_grid
    from udip_gwas.annotation.perdi import linear_decoder_maps, postprocess
    from udip_gwas.annotation.stages import run_perdi
    from udip_gwas.imaging.volumes import zscore_nonzero

    _, _, result = trained
    manifest = read_image_table(small_cohort["manifests"]["discovery"], ["T1"]).iloc[:30].reset_index(drop=True)
    manifest.to_csv(tmp_path / "all.tsv", sep="\t", index=False)
    ecfg = config.load(None, {"run": {"out": str(tmp_path)}, "extract": {
        "images": str(tmp_path / "all.tsv"), "checkpoints": {"T1": result["checkpoints"]["T1"]}, "num_workers": 1}})
    udips_path = run_extract(ecfg, tmp_path / "extract")["discovery"]["T1"]["udips"]
    gone, unlisted = manifest.at[3, "IID"], manifest.at[7, "IID"]
    perdi_manifest = manifest.copy()
    perdi_manifest.loc[3, "T1"] = str(tmp_path / "moved_away.nii.gz")
    perdi_manifest = perdi_manifest.drop(index=7)
    perdi_manifest.to_csv(tmp_path / "perdi.tsv", sep="\t", index=False)
    settings = {"checkpoints": {"T1": result["checkpoints"]["T1"]}, "udips": {"T1": udips_path}, "n_subjects": 30,
                "decoder": "linear"}
    with pytest.raises(ConfigError, match="needs 'perdi.images'"):
        run_perdi(config.load(None, {"run": {"out": str(tmp_path)}, "perdi": settings}), tmp_path / "perdi")
    cfg = config.load(None, {"run": {"out": str(tmp_path)},
                             "perdi": {**settings, "images": str(tmp_path / "perdi.tsv")}})
    run_perdi(cfg, tmp_path / "perdi")
    used = pd.read_csv(tmp_path / "perdi" / "subjects.tsv", sep="\t", dtype=str)["IID"].tolist()
    assert len(used) == 28 and gone not in used and unlisted not in used
    excl = pd.read_csv(tmp_path / "excluded_subjects.tsv", sep="\t", dtype=str)
    excl = excl[excl["stage"] == "perdi"].set_index("IID")["reason"]
    assert set(excl.index) == {gone, unlisted}
    assert "moved_away.nii.gz" in excl[gone] and "no image listed in" in excl[unlisted]
    assert json.loads((tmp_path / "perdi" / "summary.json").read_text())["decoder"] == "linear"
    # the stage's map of one dimension against the fit done here from the NIfTI files
    udips = pd.read_csv(udips_path, sep="\t", dtype={"IID": str}).set_index("IID").loc[used]
    paths = manifest.set_index("IID").loc[used, "T1"]
    vols = [zscore_nonzero(nib.load(p).get_fdata().astype(np.float32)) for p in paths]
    img = nib.load(str(tmp_path / "perdi" / "maps" / "T1_004.nii.gz"))
    mask = template_on_grid(img.shape, img.affine) > 0
    t = linear_decoder_maps(udips.to_numpy(), lambda i: vols[i], voxel_mask=mask, dimensions=[3])[0]
    expected = postprocess(t, mask, sigma_voxels=3.0 / 8.0)
    # the stage reads the float16 cache of the volumes
    np.testing.assert_allclose(np.asarray(img.dataobj), expected, rtol=0, atol=0.02 * expected.max())
    assert expected.max() > 0
    # with loci: each locus's decoder view (its effect vector) and direct view (its lead's dosage regressed out of
    # the images with the GWAS's covariates), one subject lacking from the GWAS's analysed ones
    loci_dir = tmp_path / "loci"
    loci_dir.mkdir()
    pd.DataFrame({"locus_id": ["L1", "L2"], "lead_variant": ["1:100:A:G", "2:200:C:T"],
                  "lead_dimension": ["T1_001", "T1_004"]}).to_csv(loci_dir / "loci.tsv", sep="\t", index=False)
    cols = [c for c in udips.columns if c.startswith("T1_")]
    rng = np.random.default_rng(0)
    pd.DataFrame([(lid, "v", d, b, 0.1, b / 0.1) for lid in ("L1", "L2") for d, b in
                  zip(cols, rng.normal(size=len(cols)))],
                 columns=["locus_id", "lead_variant", "dimension", "beta", "standard_error", "t_stat"]).to_csv(
        loci_dir / "lead_effects.tsv", sep="\t", index=False)
    analysed = used[1:]
    dos = pd.DataFrame({"IID": analysed, "age": rng.normal(60, 5, len(analysed)),
                        "L1": rng.binomial(2, 0.4, len(analysed)).astype(float),
                        "L2": rng.binomial(2, 0.3, len(analysed)).astype(float)})
    dos.to_csv(loci_dir / "lead_dosages.tsv.gz", sep="\t", index=False)
    cfg["perdi"]["loci"] = str(loci_dir / "loci.tsv")
    run_perdi(cfg, tmp_path / "perdi2")
    views = pd.read_csv(tmp_path / "perdi2" / "locus_region_scores.tsv", sep="\t")
    assert set(zip(views["locus_id"], views["view"])) == {(a, b) for a in ("L1", "L2") for b in ("decoder", "direct")}
    agree = pd.read_csv(tmp_path / "perdi2" / "locus_views.tsv", sep="\t")
    assert list(agree["locus_id"]) == ["L1", "L2"] and agree["spatial_correlation"].between(-1, 1).all()
    excl = pd.read_csv(tmp_path / "excluded_subjects.tsv", sep="\t", dtype=str)
    assert "direct view: not among the GWAS's analysed subjects" in excl.set_index("IID").loc[used[0], "reason"]
    direct = nib.load(str(tmp_path / "perdi2" / "locus_maps" / "L2_direct_T1.nii.gz"))
    from udip_gwas.annotation.perdi import locus_direct_maps

    t = locus_direct_maps(dos[["L1", "L2"]].to_numpy(), dos[["age"]].to_numpy(), lambda i: vols[i + 1],
                          voxel_mask=mask)[1]
    expected = postprocess(t, mask, sigma_voxels=3.0 / 8.0)
    np.testing.assert_allclose(np.asarray(direct.dataobj), expected, rtol=0, atol=0.02 * expected.max())
    assert (tmp_path / "perdi2" / "locus_maps" / "L1_decoder_T1.nii.gz").exists()
    # the network decoder (as published) perturbs every chosen subject, images or not; the direct view still
    # regresses the images of those that have them, the same map as beside the linear decoder
    cfg["perdi"].update(decoder="network", batch_size=10)
    run_perdi(cfg, tmp_path / "perdi3")
    assert len(pd.read_csv(tmp_path / "perdi3" / "subjects.tsv", sep="\t")) == 30
    reasons = pd.read_csv(tmp_path / "excluded_subjects.tsv", sep="\t", dtype=str).query("IID == @unlisted")["reason"]
    assert reasons.str.startswith("locus maps, direct view: T1: no image listed in").any()  # not out of PerDI
    views = pd.read_csv(tmp_path / "perdi3" / "locus_region_scores.tsv", sep="\t")
    assert set(zip(views["locus_id"], views["view"])) == {(a, b) for a in ("L1", "L2") for b in ("decoder", "direct")}
    np.testing.assert_array_equal(np.asarray(nib.load(str(tmp_path / "perdi3" / "locus_maps" / "L2_direct_T1.nii.gz"))
                                             .dataobj), np.asarray(direct.dataobj))
