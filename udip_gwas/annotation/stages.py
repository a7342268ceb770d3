"""The ``perdi`` and ``report`` stages: configuration in, files out.

``perdi`` writes ``maps/<dimension>.nii.gz`` (smoothed, masked |t|; ``<dimension>_neg`` for -k SD),
``region_scores.tsv`` (dimension, region, hemisphere, ks, mean_abs_t, rank), ``subjects.tsv``.
``report`` writes ``locus_report.tsv`` and ``report.html`` (self-contained).
"""

from __future__ import annotations

import html as _html
import json
import logging
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pandas as pd

from udip_gwas import runinfo
from udip_gwas.exceptions import ConfigError, InputError

log = logging.getLogger(__name__)


def _read_table(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    return pd.read_parquet(p) if p.suffix == ".parquet" else pd.read_csv(p, sep="\t", dtype={"IID": str})


def locus_dimensions(loci_path: str | Path) -> set[str]:
    """The lead dimension of every locus (what the report maps and scores)."""
    return set(pd.read_csv(loci_path, sep="\t")["lead_dimension"].dropna())


def _decoder_check(modality: str, payload: dict, decoder: str) -> dict:
    """Whether the checkpoint's best validation loss beats its training subjects' mean image (recorded by
    training since this check exists; unknown for older and for published checkpoints)."""
    best, mean_image = payload.get("best_val_loss"), payload.get("mean_image_val_loss")
    beats = None if best is None or mean_image is None else bool(best < mean_image)
    if beats is False and decoder == "network":
        log.warning("perdi %s: the model's validation loss %.4f does not beat its training subjects' mean image "
                    "(%.4f): its decoder barely uses the latent, so these maps cannot localise what the "
                    "dimensions carry (perdi.decoder = \"linear\" maps them with a linear decoder fitted on the "
                    "subjects' images)", modality, best, mean_image)
    elif beats is False:
        log.info("perdi %s: the model's validation loss %.4f does not beat its training subjects' mean image (%.4f); "
                 "the maps come from the linear decoder", modality, best, mean_image)
    return {"best_val_loss": best, "mean_image_val_loss": mean_image, "beats_mean_image": beats}


def _linear_decoder_subjects(cfg: dict, modality: str, chosen: pd.DataFrame, shape: tuple, affine: np.ndarray,
                             progress: Callable[[str, int, int], None] | None) -> tuple[pd.DataFrame, list, list]:
    """The chosen subjects whose image of ``modality`` passes the checks (in ``chosen``'s order), their cached
    volumes, and the excluded ones with their reasons."""
    from udip_gwas.imaging.dataset import Grid, prepare_images, read_image_table
    from udip_gwas.imaging.stages import _cache_dir

    source = cfg["perdi"]["images"]
    images = read_image_table(source, [modality])
    listed = set(images["IID"])
    excluded = [{"IID": i, "reason": f"{modality}: no image listed in {source}"}
                for i in chosen["IID"] if i not in listed]
    usable, bad = prepare_images(
        images[images["IID"].isin(set(chosen["IID"]))], modality, grid=Grid(tuple(shape), affine),
        cache_dir=_cache_dir(cfg), resample=cfg["extract"]["resample"], workers=1,
        progress=(lambda d, n: progress(f"perdi {modality}: checking images", d, n)) if progress else None)
    excluded += bad.to_dict("records")
    cache = dict(zip(usable["IID"], usable["cache"]))
    kept = chosen[chosen["IID"].isin(cache)]
    return kept, [cache[i] for i in kept["IID"]], excluded


def run_perdi(cfg: dict, out: Path, *, progress: Callable[[str, int, int], None] | None = None) -> dict:
    from udip_gwas.annotation.atlas import atlas_on_grid, harvard_oxford, load_user_atlas, template_on_grid
    from udip_gwas.annotation.perdi import linear_decoder_maps, perdi_maps, postprocess
    from udip_gwas.annotation.regions import region_scores
    from udip_gwas.imaging.basis import basis_beside, read_latent_basis
    from udip_gwas.imaging.checkpoint import load_checkpoint
    from udip_gwas.imaging.extract import dimension_columns
    from udip_gwas.imaging.grid import MNI_1MM_AFFINE
    from udip_gwas.imaging.train import resolve_device

    p = cfg["perdi"]
    modalities = [m for m in p["checkpoints"] if m in p["udips"]]
    if not modalities:
        raise ConfigError("perdi: 'perdi.checkpoints' and 'perdi.udips' need at least one modality in common, found "
                          f"{sorted(p['checkpoints'])} and {sorted(p['udips'])}")
    if p["decoder"] == "linear" and not p["images"]:
        raise ConfigError("perdi: decoder = \"linear\" needs 'perdi.images' (manifest TSV or BIDS folder with the "
                          "images of the UDIP table's subjects)")
    wanted = None
    if p["only_locus_dimensions"]:
        loci_path = p["loci"] or Path(cfg["run"]["out"]) / "loci" / "loci.tsv"
        if not Path(loci_path).exists():
            raise InputError(f"perdi: only_locus_dimensions is set but no loci table at {loci_path}")
        wanted = locus_dimensions(loci_path)
        log.info("perdi: mapping the %d lead dimension(s) of the loci", len(wanted))
    if p["atlas"]:
        if not p["atlas_labels"]:
            raise ConfigError("perdi: 'perdi.atlas' needs 'perdi.atlas_labels'")
        atlas = load_user_atlas(p["atlas"], p["atlas_labels"])
    else:
        atlas = harvard_oxford(1.0)
    device = resolve_device(p["device"])
    linear = p["decoder"] == "linear"
    seed = runinfo.stage_seed(cfg["run"]["seed"], "perdi")
    (out / "maps").mkdir(parents=True, exist_ok=True)
    scores, used, rotated, decoder_check, excluded = [], {}, {}, {}, []
    for modality in modalities:
        model, payload = load_checkpoint(p["checkpoints"][modality], device=device)
        decoder_check[modality] = _decoder_check(modality, payload, p["decoder"])
        affine = np.asarray(payload.get("grid_affine", MNI_1MM_AFFINE))
        shape = model.config.input_shape
        table = _read_table(p["udips"][modality])
        cols = dimension_columns(modality, model.latent_dim)
        missing = [c for c in cols if c not in table.columns]
        if missing:
            raise InputError(f"{p['udips'][modality]}: UDIP column(s) {missing[:3]} of the {modality} model not found")
        dims = [i for i, c in enumerate(cols) if wanted is None or c in wanted]
        if not dims:
            log.info("perdi %s: no dimension to map", modality)
            continue
        basis_path = p["latent_basis"].get(modality) or basis_beside(p["udips"][modality], modality)
        basis = read_latent_basis(basis_path, modality, cols) if basis_path else None
        rotated[modality] = None if basis is None else str(basis_path)
        if basis is not None and not linear:
            log.info("perdi %s: the UDIPs are rotated latents; perturbing along the axes in %s", modality, basis_path)
        rng = np.random.default_rng(seed)
        table = table.dropna(subset=cols)
        n = min(p["n_subjects"], len(table))
        chosen = table.iloc[np.sort(rng.choice(len(table), size=n, replace=False))]
        mask = template_on_grid(shape, affine) > 0
        if linear:
            chosen, caches, dropped = _linear_decoder_subjects(cfg, modality, chosen, shape, affine, progress)
            excluded += dropped
            runinfo.record_exclusions(Path(cfg["run"]["out"]), excluded, stage="perdi", cohort="discovery")
            log.info("perdi %s: linear decoder fitted on %d subjects' images (%d excluded)", modality, len(chosen),
                     len(dropped))
            t_linear = linear_decoder_maps(
                chosen[cols].to_numpy(), lambda i: np.load(caches[i]), voxel_mask=mask,
                dimensions=dims, k=p["k"],
                progress=(lambda d, tot, m=modality: progress(f"perdi {m} linear decoder", d, tot))
                if progress else None)
        else:
            latents = chosen[cols].to_numpy() if basis is None else basis.unrotate(chosen[cols].to_numpy())
        used[modality] = chosen["IID"].tolist()
        voxel_mm = float(np.sqrt((affine[:3, :3] ** 2).sum(0)).mean())
        sigma = p["sigma_mm"] / voxel_mm
        grid_atlas = atlas_on_grid(atlas, shape, affine)
        for sign, suffix in ((1.0, ""), (-1.0, "_neg")) if p["negative"] else ((1.0, ""),):
            if linear:  # the same coefficients for either sign of the perturbation
                t = sign * t_linear
            else:
                t = perdi_maps(model, latents, dimensions=dims, k=sign * p["k"], batch_size=p["batch_size"],
                               dims_per_pass=p["dims_per_pass"], device=device,
                               axes=None if basis is None else basis.axes,
                               progress=(lambda d, tot, m=modality: progress(f"perdi {m}{suffix}", d, tot))
                               if progress else None)
            maps = {}
            for j, d in enumerate(dims):
                m = postprocess(t[j], mask, sigma_voxels=sigma)
                name = cols[d] + suffix
                nib.save(nib.Nifti1Image(m, affine), str(out / "maps" / f"{name}.nii.gz"))
                maps[name] = m
            scores.append(region_scores(maps, grid_atlas, mask))
        log.info("perdi %s: %d dimension(s) x %d subjects, sigma %.2f voxels", modality, len(dims), n, sigma)
    table = pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(
        columns=["dimension", "region", "hemisphere", "ks", "mean_abs_t", "rank"])
    table.to_csv(out / "region_scores.tsv", sep="\t", index=False, float_format="%.5g")
    pd.DataFrame([(m, i) for m, ids in used.items() for i in ids], columns=["modality", "IID"]).to_csv(
        out / "subjects.tsv", sep="\t", index=False)
    (out / "summary.json").write_text(json.dumps({"modalities": modalities, "decoder": p["decoder"],
                                                  "k": p["k"], "negative": p["negative"],
                                                  "n_subjects": {m: len(v) for m, v in used.items()},
                                                  "latent_basis": rotated, "decoder_check": decoder_check,
                                                  "n_maps": int(table["dimension"].nunique()) if len(table) else 0,
                                                  "seed": seed}, indent=2) + "\n")
    return {"region_scores": str(out / "region_scores.tsv"), "maps": str(out / "maps")}


def run_report(cfg: dict, out: Path, *, extra_sections: list[tuple[str, str]] | None = None) -> dict:
    from udip_gwas.annotation.atlas import template_on_grid
    from udip_gwas.annotation.genes import check_build, nearest_genes, overlapping_genes, read_genes
    from udip_gwas.annotation.report import build_locus_report, load_json, slice_montage, write_html, _file_png
    from udip_gwas.genetics.stages import discovery_gwas_folder

    r = cfg["report"]
    base = Path(cfg["run"]["out"])
    loci_path = Path(r["loci"] or base / "loci" / "loci.tsv")
    if not loci_path.exists():
        raise InputError(f"report: loci table not found: {loci_path} (run `udip-gwas loci` or set 'report.loci')")
    loci = pd.read_csv(loci_path, sep="\t", dtype={"chromosome": str})
    gdir = discovery_gwas_folder(r["gwas"] or base / "gwas", required=False)
    pdir = Path(r["perdi"] or base / "perdi")
    scores = pd.read_csv(pdir / "region_scores.tsv", sep="\t") if (pdir / "region_scores.tsv").exists() else None
    nearest = overlapping = None
    if r["genes"]:
        genes, build = read_genes(r["genes"], fmt=r["gene_format"])
        check_build(build, cfg["gwas"]["reference_genome"], source=r["genes"])
        leads = loci.rename(columns={"lead_variant": "variant_id", "lead_position": "base_pair_location"})
        nearest = nearest_genes(leads[["variant_id", "chromosome", "base_pair_location"]], genes)
        overlapping = overlapping_genes(loci, genes)
    report = build_locus_report(loci, scores=scores, nearest=nearest, overlapping=overlapping,
                                n_regions=r["top_regions"])
    out.mkdir(parents=True, exist_ok=True)
    report.to_csv(out / "locus_report.tsv", sep="\t", index=False)
    perdi_summary = pdir / "summary.json"
    perdi_info = json.loads(perdi_summary.read_text()) if perdi_summary.exists() else {}
    checks, decoder = perdi_info.get("decoder_check", {}), perdi_info.get("decoder", "network")
    montages = {}
    templates: dict = {}
    for row in report.itertuples():
        f = pdir / "maps" / f"{row.lead_dimension}.nii.gz"
        if f.exists():
            img = nib.load(str(f))
            key = (img.shape, tuple(np.round(img.affine.ravel(), 4)))
            if key not in templates:
                templates[key] = template_on_grid(img.shape, img.affine)
            montages[row.locus_id] = slice_montage(np.asarray(img.dataobj), templates[key],
                                                   title=f"{row.locus_id}: PerDI |t| of {row.lead_dimension} "
                                                   f"({decoder} decoder)")
    outputs = {"locus_report": str(out / "locus_report.tsv"), "html": str(out / "report.html")}
    extra_sections = list(extra_sections or [])
    # a network decoder that does not beat the mean image makes its maps unreliable; a linear decoder's maps
    # do not depend on it
    weak = {m: c for m, c in checks.items() if c.get("beats_mean_image") is False} if decoder == "network" else {}
    if r["truth"] and Path(r["truth"]).exists():
        from udip_gwas.simulation.truth import compare_with_truth, format_summary

        per, summary = compare_with_truth(report, pd.read_csv(r["truth"], sep="\t"), region_scores=scores)
        summary["decoder_beats_mean_image"] = {m: c.get("beats_mean_image") for m, c in sorted(checks.items())}
        summary["perdi_decoder"] = decoder
        per.to_csv(out / "truth_comparison.tsv", sep="\t", index=False)
        (out / "truth_comparison.json").write_text(json.dumps(summary, indent=2) + "\n")
        outputs.update(truth_comparison=str(out / "truth_comparison.tsv"),
                       truth_summary=str(out / "truth_comparison.json"))
        extra_sections.append(("Comparison with the simulated truth",
                               "<pre>" + _html.escape(format_summary(per, summary)) + "</pre>"))
    if perdi_info:
        n = ", ".join(f"{m} {k}" for m, k in sorted(perdi_info.get("n_subjects", {}).items()))
        how = ("a linear decoder fitted by least squares from the subjects' UDIPs to their images; a map is the "
               "|t| of one dimension's coefficient" if decoder == "linear" else
               f"the autoencoder's decoder; a map is the |t| of the paired difference of reconstructions with the "
               f"dimension raised by {perdi_info.get('k')} SD against the originals")
        extra_sections.insert(0, ("PerDI", f"<p>Dimension maps from {_html.escape(how)} (subjects: "
                                           f"{_html.escape(n)}), Gaussian-smoothed; regions ranked by KS "
                                           "enrichment.</p>"))
    if weak:
        lines = [f"{m}: best validation loss {c['best_val_loss']:.4f}, training subjects' mean image "
                 f"{c['mean_image_val_loss']:.4f}" for m, c in sorted(weak.items())]
        extra_sections.insert(0, ("PerDI reliability", "<p>The decoder of these models does not reconstruct the "
                                  "validation images better than the training subjects' mean image does: it "
                                  "barely uses the latent, so PerDI's regions for their dimensions are not "
                                  "evidence of where the dimensions act.</p><pre>"
                                  + _html.escape("\n".join(lines)) + "</pre>"))
    excl_path = base / runinfo.EXCLUSIONS_FILE
    exclusions = pd.read_csv(excl_path, sep="\t", dtype=str) if excl_path.exists() else None
    lam = pd.read_csv(gdir / "lambda_gc.tsv", sep="\t") if (gdir / "lambda_gc.tsv").exists() else None
    write_html(out / "report.html", title=r["title"], report=report, gwas_summary=load_json(gdir / "summary.json"),
               exclusions=exclusions, lambda_gc=lam, manhattan=_file_png(loci_path.parent / "manhattan.png"),
               qq=_file_png(loci_path.parent / "qq.png"), montages=montages, extra_sections=extra_sections,
               dimension_manhattans={d: uri for d in set(report.get("lead_dimension", []))
                                     if (uri := _file_png(loci_path.parent / "plots" / f"manhattan_{d}.png"))})
    log.info("report: %d loci; %s", len(report), out / "report.html")
    return outputs
