"""The ``perdi`` and ``report`` stages: settings in, topic functions called, files out.

``perdi`` writes :class:`udip_gwas.layout.PerdiFiles`: ``maps/<dimension>.nii.gz`` (smoothed, masked |t|;
``<dimension>_neg`` for -k SD), ``region_scores.tsv`` (:data:`udip_gwas.columns.REGION_SCORES`), with loci
``locus_maps/<locus>_<view>_<modality>.nii.gz`` (views ``decoder`` and ``direct``), ``locus_region_scores.tsv``
and ``locus_views.tsv``, and ``subjects.tsv``, ``summary.json``. ``report`` writes ``locus_report.tsv`` and
``report.html`` (self-contained).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Callable

import nibabel as nib
import numpy as np
import pandas as pd

from udip_gwas import layout, runinfo
from udip_gwas.config import settings
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

    source = settings(cfg, "perdi").images
    images = read_image_table(source, [modality])
    listed = set(images["IID"])
    excluded = [{"IID": i, "reason": f"{modality}: no image listed in {source}"}
                for i in chosen["IID"] if i not in listed]
    usable, bad = prepare_images(
        images[images["IID"].isin(set(chosen["IID"]))], modality, grid=Grid(tuple(shape), affine),
        cache_dir=layout.cache_dir(cfg), resample=settings(cfg, "extract").resample, workers=1,
        progress=(lambda d, n: progress(f"perdi {modality}: checking images", d, n)) if progress else None)
    excluded += bad.to_dict("records")
    cache = dict(zip(usable["IID"], usable["cache"]))
    kept = chosen[chosen["IID"].isin(cache)]
    return kept, [cache[i] for i in kept["IID"]], excluded


def _atlas(p):
    from udip_gwas.annotation.atlas import harvard_oxford, load_user_atlas

    if not p.atlas:
        return harvard_oxford(1.0)
    if not p.atlas_labels:
        raise ConfigError("perdi: 'perdi.atlas' needs 'perdi.atlas_labels'")
    return load_user_atlas(p.atlas, p.atlas_labels)


def _wanted_dimensions(cfg: dict) -> set[str] | None:
    """The loci's lead dimensions with ``perdi.only_locus_dimensions``, else None (every dimension)."""
    p = settings(cfg, "perdi")
    if not p.only_locus_dimensions:
        return None
    loci_path = p.loci or layout.LociFiles(layout.stage_dir(cfg["run"]["out"], "loci")).loci()
    if not Path(loci_path).exists():
        raise InputError(f"perdi: only_locus_dimensions is set but no loci table at {loci_path}")
    wanted = locus_dimensions(loci_path)
    log.info("perdi: mapping the %d lead dimension(s) of the loci", len(wanted))
    return wanted


def _locus_vectors(cfg: dict, modality: str, cols: list[str]) -> tuple[list[str], np.ndarray] | None:
    """The loci whose effect vector has entries in ``modality``'s dimensions, and those vectors (loci x ``cols``) in
    SDs of each dimension: the lead's per-allele betas on the transformed dimensions (for ``gwas.transform =
    "none"`` they are turned into SDs by the stage). None without loci or lead effects."""
    p = settings(cfg, "perdi")
    if not p.locus_maps:
        return None
    loci_path = Path(p.loci or layout.LociFiles(layout.stage_dir(cfg["run"]["out"], "loci")).loci())
    effects_path = layout.LociFiles(loci_path.parent).lead_effects
    if not effects_path.exists():
        log.info("perdi %s: no %s, so no locus maps", modality, effects_path)
        return None
    eff = pd.read_csv(effects_path, sep="\t")
    eff = eff[eff["dimension"].isin(cols)]
    if eff.empty:
        return None
    wide = eff.pivot(index="locus_id", columns="dimension", values="beta").reindex(columns=cols).fillna(0.0)
    return list(wide.index), wide.to_numpy(dtype=np.float64)


def _direct_inputs(cfg: dict, modality: str, chosen: pd.DataFrame, excluded: list):
    """The direct view's inputs from ``lead_dosages.tsv.gz`` beside the loci: ``(locus ids, rows of chosen in the
    view, their dosages, their covariates)``, or None (``perdi.direct_view`` off, no such file). Chosen subjects
    the GWAS did not analyse are left out of the view and recorded."""
    p = settings(cfg, "perdi")
    if not (p.locus_maps and p.direct_view):
        return None
    loci_path = Path(p.loci or layout.LociFiles(layout.stage_dir(cfg["run"]["out"], "loci")).loci())
    path = layout.LociFiles(loci_path.parent).lead_dosages
    if not path.exists() or not loci_path.exists():
        log.info("perdi %s: no %s, so no direct view of the locus maps", modality, path)
        return None
    table = pd.read_csv(path, sep="\t", dtype={"IID": str}).set_index("IID")
    all_loci = pd.read_csv(loci_path, sep="\t", usecols=["locus_id"])["locus_id"].astype(str).tolist()
    loci = [c for c in all_loci if c in table.columns]
    covariates = [c for c in table.columns if c not in set(all_loci)]
    rows = chosen["IID"].isin(table.index).to_numpy()
    excluded += [{"IID": i, "reason": f"{modality} locus maps, direct view: not among the GWAS's analysed subjects "
                                      f"({path.name})"} for i in chosen.loc[~rows, "IID"]]
    if not loci or rows.sum() <= len(covariates) + 2:
        log.warning("perdi %s: direct view skipped (%d lead dosages, %d of the %d subjects analysed by the GWAS)",
                    modality, len(loci), int(rows.sum()), len(chosen))
        return None
    sub = table.loc[chosen.loc[rows, "IID"]]
    log.info("perdi %s: direct view of %d locus map(s) on %d subjects, covariates: %s", modality, len(loci),
             int(rows.sum()), ", ".join(covariates) or "none")
    return loci, rows, sub[loci].to_numpy(dtype=float), sub[covariates].to_numpy(dtype=float)


def _t_maps(cfg: dict, modality: str, model, chosen: pd.DataFrame, cols: list[str], dims: list[int], basis,
            progress, excluded: list, *, affine: np.ndarray, device, vectors: np.ndarray | None = None) -> dict:
    """The unsmoothed t maps: ``maps`` of ``dims`` (one list entry per perturbation sign), ``subjects`` (the chosen
    ones whose images were used), with ``vectors`` (:func:`_locus_vectors`) ``vectors`` (the decoder view, one map
    per vector) and, where the images and lead dosages are there, ``direct`` (locus ids, the direct view's maps).
    With the linear decoder, one pass over the images serves the decoder and the direct view."""
    from udip_gwas.annotation import perdi as pd_

    p = settings(cfg, "perdi")
    signs = (1.0, -1.0) if p.negative else (1.0,)
    step = (lambda label: (lambda d, tot: progress(f"perdi {modality} {label}", d, tot))) if progress else \
        (lambda label: None)
    out = {"maps": [], "vectors": None, "direct": None, "subjects": chosen}
    if p.decoder == "linear" or (vectors is not None and p.direct_view and p.images):
        out.update(_image_pass(cfg, modality, model, chosen, cols, dims, progress, excluded, affine=affine,
                               device=device, vectors=vectors, signs=signs, step=step))
        if p.decoder == "linear":
            return out
    latents = chosen[cols].to_numpy() if basis is None else basis.unrotate(chosen[cols].to_numpy())
    net = dict(batch_size=p.batch_size, dims_per_pass=p.dims_per_pass, device=device,
               axes=None if basis is None else basis.axes)
    out["maps"] = [pd_.perdi_maps(model, latents, dimensions=dims, k=sign * p.k, **net,
                                  progress=step("" if sign > 0 else "_neg")) for sign in signs] if dims else []
    if vectors is not None:
        u = chosen[cols].to_numpy()
        w = vectors * u.std(0, ddof=1) if settings(cfg, "gwas").transform == "none" else vectors
        out["vectors"] = pd_.perdi_maps(model, latents, vectors=w, k=p.k, **net)
    return out


def _image_pass(cfg: dict, modality: str, model, chosen: pd.DataFrame, cols: list[str], dims: list[int], progress,
                excluded: list, *, affine, device, vectors, signs, step) -> dict:
    """What one pass over the chosen subjects' images gives: the linear decoder's maps (``maps``, ``vectors``,
    ``subjects``: those with usable images) and the direct view (``direct``). The network decoder keeps every chosen
    subject (it needs no image), so there the image checks only pick the direct view's subjects."""
    from udip_gwas.annotation import perdi as pd_
    from udip_gwas.annotation.atlas import template_on_grid

    p = settings(cfg, "perdi")
    linear = p.decoder == "linear"
    shape = model.config.input_shape
    imaged, caches, dropped = _linear_decoder_subjects(cfg, modality, chosen, shape, affine, progress)
    excluded += dropped if linear else [{**d, "reason": f"locus maps, direct view: {d['reason']}"} for d in dropped]
    direct = _direct_inputs(cfg, modality, imaged, excluded) if vectors is not None else None
    runinfo.record_exclusions(Path(cfg["run"]["out"]), excluded, stage="perdi", cohort="discovery")
    u = imaged[cols].to_numpy()
    out: dict = {"subjects": imaged} if linear else {}
    blocks = []
    if linear:
        x = pd_.decoder_design(u)
        blocks.append(x)
        log.info("perdi %s: linear decoder fitted on %d subjects' images (%d excluded)", modality, len(imaged),
                 len(dropped))
    if direct is not None:
        g, c = pd_.direct_design(direct[2], direct[3])
        full = np.zeros((len(imaged), g.shape[1] + c.shape[1]))  # zero outside the direct view's subjects
        full[direct[1]] = np.hstack([g, c])
        blocks.append(full)
    if not blocks:
        return out
    mask = template_on_grid(shape, affine) > 0
    got = pd_.image_cross_products(lambda i: np.load(caches[i]), np.hstack(blocks), voxel_mask=mask,
                                   subset=None if direct is None else direct[1], progress=step("images"),
                                   device=None if device.type == "cpu" else str(device))
    sty, yy = got[0], got[1]
    if linear:
        xty, sty = sty[:x.shape[1]], sty[x.shape[1]:]
        if dims:
            t = pd_.linear_decoder_t(x, xty, yy, voxel_mask=mask, dimensions=dims, k=p.k)
            out["maps"] = [sign * t for sign in signs]  # one fit serves either sign
        if vectors is not None:
            w = vectors * u.std(0, ddof=1) if settings(cfg, "gwas").transform == "none" else vectors
            out["vectors"] = pd_.linear_decoder_t(x, xty, yy, voxel_mask=mask, vectors=w, k=p.k)
    if direct is not None:
        out["direct"] = (direct[0], pd_.direct_t(g, c, sty[:g.shape[1]], sty[g.shape[1]:], got[2], voxel_mask=mask))
    return out


def _map_modality(cfg: dict, files: layout.PerdiFiles, modality: str, atlas, wanted, progress,
                  excluded: list) -> dict:
    """One modality's maps and region scores: ``check`` (the decoder check) and, when a dimension is wanted,
    ``scores`` (one table per perturbation sign), ``subjects`` and ``basis`` (the latent basis path or None)."""
    from udip_gwas.annotation.atlas import atlas_on_grid, template_on_grid
    from udip_gwas.annotation.perdi import postprocess
    from udip_gwas.annotation.regions import region_scores
    from udip_gwas.imaging.basis import basis_beside, read_latent_basis
    from udip_gwas.imaging.checkpoint import load_checkpoint
    from udip_gwas.imaging.extract import dimension_columns
    from udip_gwas.imaging.grid import MNI_1MM_AFFINE
    from udip_gwas.imaging.train import resolve_device

    p = settings(cfg, "perdi")
    device = resolve_device(p.device)
    model, payload = load_checkpoint(p.checkpoints[modality], device=device)
    check = _decoder_check(modality, payload, p.decoder)
    affine = np.asarray(payload.get("grid_affine", MNI_1MM_AFFINE))
    shape = model.config.input_shape
    table = _read_table(p.udips[modality])
    cols = dimension_columns(modality, model.latent_dim)
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise InputError(f"{p.udips[modality]}: UDIP column(s) {missing[:3]} of the {modality} model not found")
    dims = [i for i, c in enumerate(cols) if wanted is None or c in wanted]
    loci_vectors = _locus_vectors(cfg, modality, cols)
    if not dims and loci_vectors is None:
        log.info("perdi %s: no dimension to map", modality)
        return {"check": check}
    basis_path = p.latent_basis.get(modality) or basis_beside(p.udips[modality], modality)
    basis = read_latent_basis(basis_path, modality, cols) if basis_path else None
    if basis is not None and p.decoder == "network":
        log.info("perdi %s: the UDIPs are rotated latents; perturbing along the axes in %s", modality, basis_path)
    table = table.dropna(subset=cols)
    n = min(p.n_subjects, len(table))
    chosen = table.iloc[np.sort(np.random.default_rng(runinfo.stage_seed(cfg["run"]["seed"], "perdi"))
                                .choice(len(table), size=n, replace=False))]
    got = _t_maps(cfg, modality, model, chosen, cols, dims, basis, progress, excluded, affine=affine, device=device,
                  vectors=None if loci_vectors is None else loci_vectors[1])
    chosen, t_maps = got["subjects"], got["maps"]
    mask = template_on_grid(shape, affine) > 0
    sigma = p.sigma_mm / float(np.sqrt((affine[:3, :3] ** 2).sum(0)).mean())
    grid_atlas = atlas_on_grid(atlas, shape, affine)
    scores = []
    for t, suffix in zip(t_maps, ("", "_neg")):
        maps = {cols[d] + suffix: postprocess(t[j], mask, sigma_voxels=sigma) for j, d in enumerate(dims)}
        for name, m in maps.items():
            nib.save(nib.Nifti1Image(m, affine), str(files.map(name)))
        scores.append(region_scores(maps, grid_atlas, mask))
    log.info("perdi %s: %d dimension(s) x %d subjects, sigma %.2f voxels", modality, len(dims), n, sigma)
    locus_scores = None if got["vectors"] is None else _save_locus_maps(
        files, modality, {"decoder": (loci_vectors[0], got["vectors"]), "direct": got["direct"]}, mask=mask,
        sigma=sigma, grid_atlas=grid_atlas, affine=affine)
    return {"check": check, "scores": scores, "subjects": chosen["IID"].tolist(), "locus_scores": locus_scores,
            "basis": None if basis is None else str(basis_path)}


def _save_locus_maps(files: layout.PerdiFiles, modality: str, views: dict, *, mask, sigma, grid_atlas,
                     affine) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each locus's map per view (|t|, masked, smoothed) under ``locus_maps/``; their region scores; and, per locus
    with both views, the spatial correlation of the signed maps (smoothed alike)."""
    from udip_gwas.annotation.perdi import postprocess, spatial_correlation
    from udip_gwas.annotation.regions import region_scores

    files.locus_maps.mkdir(parents=True, exist_ok=True)
    scores, signed = [], {}
    for view, got in views.items():
        if got is None:
            continue
        maps = {}
        for j, locus_id in enumerate(got[0]):
            signed[(view, locus_id)] = got[1][j]
            maps[locus_id] = postprocess(got[1][j], mask, sigma_voxels=sigma)
            nib.save(nib.Nifti1Image(maps[locus_id], affine), str(files.locus_map(locus_id, view, modality)))
        log.info("perdi %s: %d locus map(s), %s view, in %s", modality, len(maps), view, files.locus_maps)
        scores.append(region_scores(maps, grid_atlas, mask).rename(columns={"dimension": "locus_id"}).assign(
            modality=modality, view=view))
    agree = pd.DataFrame([
        (locus_id, modality, spatial_correlation(signed[("decoder", locus_id)], signed[("direct", locus_id)], mask,
                                                 sigma_voxels=sigma))
        for (view, locus_id) in signed if view == "direct" and ("decoder", locus_id) in signed],
        columns=["locus_id", "modality", "spatial_correlation"])
    return pd.concat(scores, ignore_index=True), agree


def run_perdi(cfg: dict, out: Path, *, progress: Callable[[str, int, int], None] | None = None) -> dict:
    from udip_gwas.columns import LOCUS_REGION_SCORES, LOCUS_VIEWS, REGION_SCORES, names

    p, files = settings(cfg, "perdi"), layout.PerdiFiles(out)
    modalities = [m for m in p.checkpoints if m in p.udips]
    if not modalities:
        raise ConfigError("perdi: 'perdi.checkpoints' and 'perdi.udips' need at least one modality in common, found "
                          f"{sorted(p.checkpoints)} and {sorted(p.udips)}")
    if p.decoder == "linear" and not p.images:
        raise ConfigError("perdi: decoder = \"linear\" needs 'perdi.images' (manifest TSV or BIDS folder with the "
                          "images of the UDIP table's subjects)")
    wanted, atlas = _wanted_dimensions(cfg), _atlas(p)
    files.maps.mkdir(parents=True, exist_ok=True)
    scores, used, rotated, decoder_check, excluded, locus_scores, agreement = [], {}, {}, {}, [], [], []
    for modality in modalities:
        done = _map_modality(cfg, files, modality, atlas, wanted, progress, excluded)
        decoder_check[modality] = done["check"]
        if "scores" in done:
            scores += done["scores"]
            used[modality], rotated[modality] = done["subjects"], done["basis"]
        if done.get("locus_scores") is not None:
            locus_scores.append(done["locus_scores"][0])
            agreement.append(done["locus_scores"][1])
    table = pd.concat(scores, ignore_index=True) if scores else pd.DataFrame(columns=names(REGION_SCORES))
    table.to_csv(files.region_scores, sep="\t", index=False, float_format="%.5g")
    if locus_scores:
        pd.concat(locus_scores, ignore_index=True)[names(LOCUS_REGION_SCORES)].to_csv(
            files.locus_region_scores, sep="\t", index=False, float_format="%.5g")
        pd.concat(agreement, ignore_index=True)[names(LOCUS_VIEWS)].to_csv(
            files.locus_views, sep="\t", index=False, float_format="%.4f")
    pd.DataFrame([(m, i) for m, ids in used.items() for i in ids], columns=["modality", "IID"]).to_csv(
        files.subjects, sep="\t", index=False)
    files.summary.write_text(json.dumps({
        "modalities": modalities, "decoder": p.decoder, "k": p.k, "negative": p.negative,
        "n_subjects": {m: len(v) for m, v in used.items()}, "latent_basis": rotated, "decoder_check": decoder_check,
        "n_maps": int(table["dimension"].nunique()) if len(table) else 0,
        "seed": runinfo.stage_seed(cfg["run"]["seed"], "perdi")}, indent=2) + "\n")
    return {"region_scores": str(files.region_scores), "maps": str(files.maps)}


#: a report section: given the locus report, the region scores (or None) and the perdi summary, a (title, HTML)
ReportSection = Callable[[pd.DataFrame, "pd.DataFrame | None", dict], "tuple[str, str] | None"]


def run_report(cfg: dict, out: Path, *, sections: list[ReportSection] | None = None) -> dict:
    """The locus report; ``sections`` add (title, HTML) sections computed from the report (the demo's truth
    comparison is one)."""
    from udip_gwas.annotation.report import (build_locus_report, gene_tables, lead_dimension_montages, load_json,
                                             locus_montages, perdi_sections, write_html, _file_png)

    r, base = settings(cfg, "report"), Path(cfg["run"]["out"])
    files = layout.ReportFiles(out)
    loci_path = Path(r.loci or layout.LociFiles(layout.stage_dir(base, "loci")).loci())
    if not loci_path.exists():
        raise InputError(f"report: loci table not found: {loci_path} (run `udip-gwas loci` or set 'report.loci')")
    loci = pd.read_csv(loci_path, sep="\t", dtype={"chromosome": str, "lead_p_value": str})
    loci_files = layout.LociFiles(loci_path.parent)
    gwas = layout.discovery_gwas(r.gwas or layout.stage_dir(base, "gwas"), required=False)
    perdi = layout.PerdiFiles(Path(r.perdi or layout.stage_dir(base, "perdi")))
    scores = pd.read_csv(perdi.region_scores, sep="\t") if perdi.region_scores.exists() else None
    nearest, overlapping = gene_tables(loci, r.genes, fmt=r.gene_format,
                                       reference_genome=settings(cfg, "gwas").reference_genome)
    own = {name: pd.read_csv(f, sep="\t") for name, f in (("locus_scores", perdi.locus_region_scores),
                                                            ("locus_views", perdi.locus_views)) if f.exists()}
    report = build_locus_report(loci, scores=scores, nearest=nearest, overlapping=overlapping, n_regions=r.top_regions,
                                **own)
    out.mkdir(parents=True, exist_ok=True)
    report.to_csv(files.locus_report, sep="\t", index=False)
    perdi_info = load_json(perdi.summary) or {}
    extra = [sec for make in sections or [] if (sec := make(report, scores, perdi_info)) is not None]
    excl_path = base / layout.EXCLUSIONS_FILE
    write_html(files.html, title=r.title, report=report, gwas_summary=load_json(gwas.summary),
               exclusions=pd.read_csv(excl_path, sep="\t", dtype=str) if excl_path.exists() else None,
               lambda_gc=pd.read_csv(gwas.lambda_gc, sep="\t") if gwas.lambda_gc.exists() else None,
               manhattan=_file_png(loci_files.manhattan), qq=_file_png(loci_files.qq),
               montages=lead_dimension_montages(report, perdi, decoder=perdi_info.get("decoder", "network")),
               extra_sections=perdi_sections(perdi_info) + extra,
               dimension_manhattans={d: uri for d in set(report.get("lead_dimension", []))
                                     if (uri := _file_png(loci_files.dimension_manhattan(d)))},
               regional_plots={lid: uri for lid in report.get("locus_id", [])
                               if (uri := _file_png(loci_files.regional_plot(lid)))},
               joint_plots=[uri for f in sorted(loci_files.root.glob("joint_*.png")) if (uri := _file_png(f))],
               locus_montages=locus_montages(report, perdi))
    log.info("report: %d loci; %s", len(report), files.html)
    return {"locus_report": str(files.locus_report), "html": str(files.html)}
