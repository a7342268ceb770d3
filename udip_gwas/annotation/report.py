"""The locus report: ``locus_report.tsv`` and a self-contained ``report.html`` (images embedded, opens
offline) with the run summary, Manhattan and QQ plots, the loci table and one card per locus.
"""

from __future__ import annotations

import base64
import datetime as _dt
import html
import io
import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd

from udip_gwas import __version__
from udip_gwas.columns import p_text

log = logging.getLogger(__name__)


def top_regions(scores: pd.DataFrame, dimension: str, n: int = 3) -> list[tuple[str, float]]:
    """The ``n`` best merged (left+right) regions of a dimension by KS score."""
    s = scores[(scores["dimension"] == dimension) & (scores["hemisphere"] == "bilateral")]
    s = s.sort_values("ks", ascending=False).head(n)
    return list(zip(s["region"], s["ks"]))


def locus_top_regions(locus_scores: pd.DataFrame, locus_id: str, view: str, n: int = 3) -> str:
    """The ``n`` best merged regions of a locus's map in ``view`` by mean |t| with a one-voxel rim (which reads volume
    effects; KS where the table has no such column), per modality: ``T1: A (4.1), B (3.2); T2: ...``."""
    score = "rim_mean_abs_t" if "rim_mean_abs_t" in locus_scores else "ks"
    s = locus_scores[(locus_scores["locus_id"] == locus_id) & (locus_scores["view"] == view)
                     & (locus_scores["hemisphere"] == "bilateral")]
    return "; ".join(f"{m}: " + ", ".join(f"{reg} ({v:.2f})" for reg, v in zip(part["region"], part[score]))
                     for m, part in ((m, g.sort_values(score, ascending=False, kind="stable").head(n))
                                     for m, g in s.groupby("modality", sort=True)))


def build_locus_report(loci: pd.DataFrame, *, scores: pd.DataFrame | None, nearest: pd.DataFrame | None,
                       overlapping: pd.DataFrame | None, n_regions: int = 3, locus_scores: pd.DataFrame | None = None,
                       locus_views: pd.DataFrame | None = None) -> pd.DataFrame:
    """Join loci to their genes, the regions of their own maps (``locus_scores``: perdi's locus_region_scores.tsv,
    ``locus_views``: its locus_views.tsv) and the PerDI regions of their lead dimension (and of every significant
    dimension).

    Returns
    -------
    DataFrame
        ``loci`` columns plus ``nearest_genes, nearest_gene_distance, overlapping_genes``, with locus maps
        ``decoder_top_regions, direct_top_regions, view_correlation`` (per modality), and with PerDI maps
        ``top_region, top_regions, dimension_top_regions`` (of the lead dimension).
    """
    rep = loci.copy()
    if nearest is not None:
        rep = rep.merge(nearest.rename(columns={"variant_id": "lead_variant"}), on="lead_variant", how="left")
    if overlapping is not None:
        rep = rep.merge(overlapping, on="locus_id", how="left")
    if scores is not None and len(scores):
        tops, top1, per_dim = [], [], []
        for r in rep.itertuples():
            t = top_regions(scores, r.lead_dimension, n_regions)
            tops.append("; ".join(f"{reg} ({ks:.2f})" for reg, ks in t))
            top1.append(t[0][0] if t else "")
            dims = [d for d in str(r.dimensions).split(",") if d]
            per_dim.append(" | ".join(f"{d}: " + ", ".join(reg for reg, _ in top_regions(scores, d, n_regions))
                                      for d in dims if len(top_regions(scores, d, 1))))
        rep["top_region"] = top1
        rep["top_regions"] = tops
        rep["dimension_top_regions"] = per_dim
    if locus_scores is not None and len(locus_scores):
        for view in ("decoder", "direct"):
            if (locus_scores["view"] == view).any():
                rep[f"{view}_top_regions"] = [locus_top_regions(locus_scores, lid, view, n_regions)
                                              for lid in rep["locus_id"]]
    if locus_views is not None and len(locus_views):
        by = locus_views.sort_values("modality").groupby("locus_id")
        rep["view_correlation"] = rep["locus_id"].map(
            {lid: "; ".join(f"{m} {c:.2f}" for m, c in zip(g["modality"], g["spatial_correlation"])) for lid, g in by})
    return rep


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _file_png(path: Path) -> str | None:
    if not path.exists():
        return None
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode()


def slice_montage(map_img: np.ndarray, template: np.ndarray, *, title: str = "") -> str:
    """Three orthogonal slices through the map's peak, over the template; returns a PNG data URI."""
    from matplotlib.figure import Figure

    peak = np.unravel_index(int(np.argmax(map_img)), map_img.shape)
    vmax = float(map_img.max()) or 1.0
    fig = Figure(figsize=(7.5, 2.8))
    axes = fig.subplots(1, 3)
    views = [(template[peak[0]], map_img[peak[0]], "sagittal"), (template[:, peak[1]], map_img[:, peak[1]], "coronal"),
             (template[:, :, peak[2]], map_img[:, :, peak[2]], "axial")]
    for ax, (t, m, name) in zip(axes, views):
        ax.imshow(t.T, origin="lower", cmap="gray", interpolation="nearest")
        ax.imshow(np.ma.masked_less(m.T, 0.25 * vmax), origin="lower", cmap="hot", vmin=0, vmax=vmax, alpha=0.75,
                  interpolation="nearest")
        ax.set_title(name, fontsize=8)
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    return _png(fig)


_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#222}
h1{font-size:1.6em}h2{font-size:1.25em;border-bottom:1px solid #ccc;padding-bottom:3px;margin-top:1.6em}
table{border-collapse:collapse;font-size:12px;margin:8px 0}th,td{border:1px solid #ddd;padding:3px 6px;text-align:left}
th{background:#f2f4f7}.card{border:1px solid #ccd;border-radius:6px;padding:10px 14px;margin:12px 0;background:#fbfcfe}
.card h3{margin:0 0 6px 0;font-size:1.05em}.kv{display:grid;grid-template-columns:190px 1fr;gap:2px 10px;font-size:13px}
.pair{display:flex;flex-wrap:wrap;gap:8px;align-items:flex-start}.pair img{max-width:49%}
.muted{color:#666;font-size:12px}img{max-width:100%}
.ok{color:#1a7f37;font-weight:600}.bad{color:#b42318;font-weight:600}
"""


def _int(x) -> str:
    """A count or position as an integer with thousands separators; empty where missing."""
    try:
        return f"{int(x):,}"
    except (TypeError, ValueError):
        return ""


def _table(df: pd.DataFrame, max_rows: int = 500) -> str:
    return df.head(max_rows).to_html(index=False, border=0, escape=True, na_rep="", float_format=lambda x: f"{x:.4g}")


def write_html(path: Path, *, title: str, report: pd.DataFrame, gwas_summary: dict | None,
               exclusions: pd.DataFrame | None, lambda_gc: pd.DataFrame | None, manhattan: str | None,
               qq: str | None, montages: dict[str, str], extra_sections: list[tuple[str, str]] | None = None,
               dimension_manhattans: dict[str, str] | None = None,
               regional_plots: dict[str, str] | None = None, joint_plots: list[str] | None = None,
               locus_montages: dict[str, list[str]] | None = None) -> None:
    """The HTML report; ``locus_montages`` (by locus id, a list), ``regional_plots`` and ``montages`` (by locus id)
    and ``dimension_manhattans`` (by dimension) are image data URIs, shown in each locus's card: its own maps (each
    view and modality) first, then its regional plot beside its lead dimension's PerDI map, then that dimension's
    Manhattan plot; ``joint_plots``: the joint test's Manhattan and QQ plots per set."""
    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{e(title)}</h1><p class='muted'>udip-gwas {e(__version__)} &middot; "
             f"{_dt.datetime.now().strftime('%Y-%m-%d %H:%M')}</p>"]
    parts.append("<h2>Run summary</h2>")
    if gwas_summary:
        c = gwas_summary.get("sample_counts", {})
        parts.append("<div class='kv'>" + "".join(
            f"<div>{e(k)}</div><div>{e(str(v))}</div>" for k, v in [
                ("subjects with UDIPs", c.get("with_udips")), ("with genotypes", c.get("with_genotypes")),
                ("with covariates", c.get("with_covariates")), ("analysed (all three)", c.get("analysed")),
                ("UDIP dimensions", len(gwas_summary.get("dimensions", []))),
                ("covariates", ", ".join(gwas_summary.get("covariates", []))),
                ("phenotype transform", gwas_summary.get("transform")),
                ("variants passing QC", gwas_summary.get("variant_qc", {}).get("pass")),
                ("variants removed by QC",
                 {k: v for k, v in gwas_summary.get("variant_qc", {}).items() if k != "pass"}),
            ]) + "</div>")
    if lambda_gc is not None and len(lambda_gc):
        lam = lambda_gc["lambda_gc"]
        parts.append(f"<p>Genomic inflation over {len(lam)} dimensions: median &lambda;<sub>GC</sub> = "
                     f"{lam.median():.3f} (range {lam.min():.3f}&ndash;{lam.max():.3f}).</p>")
    if exclusions is not None and len(exclusions):
        ex = exclusions.assign(reason=exclusions["reason"].str.replace(r" \(.*|: /.*| /.*", "", regex=True))
        counts = ex.groupby(["stage", "cohort", "reason"]).size().reset_index(name="subjects")
        parts.append("<p>Subjects dropped, by stage and reason (every subject is listed in "
                     "<code>excluded_subjects.tsv</code>):</p>" + _table(counts))
    for title_, body in extra_sections or []:
        parts.append(f"<h2>{e(title_)}</h2>{body}")
    parts.append("<h2>Manhattan and QQ</h2>")
    for uri in (manhattan, qq):
        if uri:
            parts.append(f"<img src='{uri}' alt='plot'>")
    if joint_plots:
        parts.append("<h2>Joint test (all dimensions of a set together)</h2>")
        parts += [f"<img src='{uri}' alt='joint test plot'>" for uri in joint_plots]
    parts.append(f"<h2>Loci ({len(report)})</h2>")
    shown = report.assign(lead_p_value=[p_text(x) for x in report["lead_neg_log_10_p_value"]]) \
        if "lead_neg_log_10_p_value" in report.columns else report
    cols = [c for c in ["locus_id", "chromosome", "start", "end", "lead_rsid", "test", "lead_dimension", "lead_p_value",
                        "joint_set", "joint_p_value", "n_significant_variants", "n_dimensions", "nearest_genes",
                        "top_region", "replication_status",
                        "novelty", "mhc"] if c in shown.columns]
    parts.append(_table(shown[cols]) if len(shown) else "<p>No locus reached the significance threshold.</p>")
    for r in shown.to_dict("records"):
        kv = [("lead variant", f"{r.get('lead_variant')} ({r.get('lead_rsid')})"),
              ("position", f"chr{r.get('chromosome')}:{_int(r.get('start'))}-{_int(r.get('end'))}"),
              ("lead dimension", r.get("lead_dimension")),
              ("lead beta (se), p", f"{r.get('lead_beta', float('nan')):.3g} "
                                    f"({r.get('lead_standard_error', float('nan')):.3g}), "
                                    f"{r.get('lead_p_value')}"),
              ("found by", {"per_dimension": "the per-dimension test", "joint": "the joint test",
                            "per_dimension+joint": "the per-dimension and the joint test"}.get(
                                r.get("test"), "the per-dimension test")),
              ("joint test at the lead",
               f"{r.get('joint_set')}: F = {r.get('joint_statistic', float('nan')):.3g} on "
               f"({_int(r.get('joint_df1'))}, {_int(r.get('joint_df2'))}) df, p = {r.get('joint_p_value')}"
               if isinstance(r.get("joint_set"), str) else "not run"),
              ("top dimensions (t)", r.get("top_dimensions", "")),
              ("significant variants", _int(r.get("n_significant_variants"))),
              ("dimensions", r.get("dimensions")), ("nearest gene(s)", f"{r.get('nearest_genes', '')} "
                                                                        f"({_int(r.get('nearest_gene_distance'))} bp)"),
              ("overlapping genes", r.get("overlapping_genes", "")),
              ("replication", f"{r.get('replication_status', 'not run')}"
                              + (f"; joint p {p_text(r['replication_joint_neg_log_10_p_value'])}, effect correlation "
                                 f"{r.get('replication_effect_correlation', float('nan')):.2f}"
                                 if pd.notna(r.get("replication_joint_neg_log_10_p_value", float("nan"))) else "")),
              ("novelty", f"{r.get('novelty', 'not run')} &mdash; {e(str(r.get('novelty_reason', '')))}"),
              ("locus map regions, decoder view", r.get("decoder_top_regions", "")),
              ("locus map regions, direct view", r.get("direct_top_regions", "")),
              ("views' spatial correlation", r.get("view_correlation", "")),
              ("lead dimension's PerDI regions", r.get("top_regions", "")), ("MHC", r.get("mhc"))]
        kv = [(k, v) for k, v in kv if not (k.startswith(("locus map", "views'")) and not (isinstance(v, str) and v))]
        card = "".join(f"<div>{e(k)}</div><div>{v if k == 'novelty' else e(str(v))}</div>" for k, v in kv)
        img = montages.get(r["locus_id"])
        man = (dimension_manhattans or {}).get(r.get("lead_dimension"))
        reg = (regional_plots or {}).get(r["locus_id"])
        own = (locus_montages or {}).get(r["locus_id"], [])
        parts.append(f"<div class='card'><h3>{e(r['locus_id'])}</h3><div class='kv'>{card}</div>"
                     + (("<div class='pair'>" + "".join(f"<img src='{uri}' alt='locus map of {e(r['locus_id'])}'>"
                                                        for uri in own) + "</div>") if own else "")
                     + "<div class='pair'>"
                     + (f"<img src='{reg}' alt='regional plot of {e(r['locus_id'])}'>" if reg else "")
                     + (f"<img src='{img}' alt='PerDI map'>" if img else "") + "</div>"
                     + (f"<img src='{man}' alt='Manhattan plot of {e(str(r.get('lead_dimension')))}'>" if man else "")
                     + "</div>")
    parts.append("</body></html>")
    path.write_text("\n".join(parts))


def load_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def gene_tables(loci: pd.DataFrame, genes: str | None, *, fmt: str, reference_genome: str):
    """The nearest genes of each lead variant and the genes overlapping each locus, from the gene annotation
    ``genes`` (GTF, BED or PLINK gene list; its build checked against ``reference_genome``); ``(None, None)``
    without one."""
    from udip_gwas.annotation.genes import nearest_genes, overlapping_genes
    from udip_gwas.fileformats import check_build, read_genes

    if not genes:
        return None, None
    table, build = read_genes(genes, fmt=fmt)
    check_build(build, reference_genome, source=genes)
    leads = loci.rename(columns={"lead_variant": "variant_id", "lead_position": "base_pair_location"})
    return (nearest_genes(leads[["variant_id", "chromosome", "base_pair_location"]], table),
            overlapping_genes(loci, table))


def _montage(path: Path, templates: dict, title: str) -> str | None:
    """The slice montage of the NIfTI map at ``path`` over the template on its grid (``templates`` caches them by
    grid); None where there is no such file."""
    import nibabel as nib

    from udip_gwas.annotation.atlas import template_on_grid

    if not path.exists():
        return None
    img = nib.load(str(path))
    key = (img.shape, tuple(np.round(img.affine.ravel(), 4)))
    if key not in templates:
        templates[key] = template_on_grid(img.shape, img.affine)
    return slice_montage(np.asarray(img.dataobj), templates[key], title=title)


def lead_dimension_montages(report: pd.DataFrame, perdi, *, decoder: str) -> dict[str, str]:
    """Per locus, the slice montage (PNG data URI) of its lead dimension's PerDI map over the template, where
    ``perdi`` (:class:`udip_gwas.layout.PerdiFiles`) has that map."""
    templates: dict = {}
    made = {row.locus_id: _montage(perdi.map(row.lead_dimension), templates,
                                   f"{row.locus_id}: PerDI |t| of {row.lead_dimension} ({decoder} decoder)")
            for row in report.itertuples()}
    return {lid: uri for lid, uri in made.items() if uri}


def locus_montages(report: pd.DataFrame, perdi) -> dict[str, list[str]]:
    """Per locus, the slice montages (PNG data URIs) of its own maps under ``perdi``'s ``locus_maps/``: per
    modality, the decoder then the direct view."""
    label = {"decoder": "decoder along its effect vector", "direct": "direct, dosage vs images"}
    templates: dict = {}
    out = {}
    for lid in report.get("locus_id", []):
        modalities = sorted({f.name[len(f"{lid}_{view}_"):-len(".nii.gz")] for view in label
                             for f in perdi.locus_maps.glob(f"{lid}_{view}_*.nii.gz")})
        uris = [_montage(perdi.locus_map(lid, view, m), templates, f"{lid} {m}: |t|, {label[view]}")
                for m in modalities for view in ("decoder", "direct")]
        if any(uris):
            out[lid] = [u for u in uris if u]
    return out


def perdi_sections(perdi_info: dict) -> list[tuple[str, str]]:
    """The report's PerDI sections from ``perdi/summary.json``: a reliability warning where a network decoder
    does not beat its training subjects' mean image (its maps cannot localise what the dimensions carry; a
    linear decoder's maps do not depend on it), then how the maps were made."""
    if not perdi_info:
        return []
    e = html.escape
    checks, decoder = perdi_info.get("decoder_check", {}), perdi_info.get("decoder", "network")
    n = ", ".join(f"{m} {k}" for m, k in sorted(perdi_info.get("n_subjects", {}).items()))
    how = ("a linear decoder fitted by least squares from the subjects' UDIPs to their images; a map is the "
           "|t| of one dimension's coefficient" if decoder == "linear" else
           f"the autoencoder's decoder; a map is the |t| of the paired difference of reconstructions with the "
           f"dimension raised by {perdi_info.get('k')} SD against the originals")
    sections = [("PerDI", f"<p>Dimension maps from {e(how)} (subjects: {e(n)}), Gaussian-smoothed; regions ranked "
                          "by KS enrichment.</p>")]
    weak = {m: c for m, c in checks.items() if c.get("beats_mean_image") is False} if decoder == "network" else {}
    if weak:
        lines = [f"{m}: best validation loss {c['best_val_loss']:.4f}, training subjects' mean image "
                 f"{c['mean_image_val_loss']:.4f}" for m, c in sorted(weak.items())]
        sections.insert(0, ("PerDI reliability", "<p>The decoder of these models does not reconstruct the "
                            "validation images better than the training subjects' mean image does: it barely uses "
                            "the latent, so PerDI's regions for their dimensions are not evidence of where the "
                            "dimensions act.</p><pre>" + e("\n".join(lines)) + "</pre>"))
    return sections
