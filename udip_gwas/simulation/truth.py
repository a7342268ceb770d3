"""Comparing a run's findings with the simulation's truth file.

A planted causal variant is recovered when a locus's lead variant lies within ``window_kb`` (250 kb) of
it on the same chromosome; a locus recovering no planted variant is a locus outside the planted ones.
For recovered loci the replication call (planted effects are real, so they should replicate), the
known/novel call (against the truth's ``known``) and PerDI's top regions of the lead dimension (is the
planted structure among the top ``top_k`` by KS enrichment, the target's score; and by mean |t|, the second view,
reported only) are checked. So are the locus's own maps in both views (decoder, direct), in the lead dimension's
modality: the planted structure among the top ``top_k`` by mean |t| with a one-voxel rim (the target's score,
which reads volume effects) and by KS (reported), and the two views' spatial correlation.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

TARGETS = {"recovered_fraction": 0.8, "loci_outside_planted": 0, "novelty_correct_fraction": 1.0,
           "perdi_top3_fraction": 0.7, "weak_found_by_joint": 2, "joint_lambda_gc": (0.95, 1.05),
           "locus_decoder_top3": 5, "locus_direct_top3": 6}


def _found_by(test) -> set[str]:
    """The tests a locus's ``test`` value names (``per_dimension+joint`` -> both)."""
    return set(str(test).split("+")) if isinstance(test, str) and test else {"per_dimension"}


def compare_with_truth(loci: pd.DataFrame, truth: pd.DataFrame, *, region_scores: pd.DataFrame | None = None,
                       window_kb: int = 250, top_k: int = 3, joint_lambda: pd.DataFrame | None = None,
                       locus_scores: pd.DataFrame | None = None,
                       locus_views: pd.DataFrame | None = None) -> tuple[pd.DataFrame, dict]:
    """Match loci to planted variants. The headline figures (recovered, replicated, novelty, PerDI) are over the
    planted effects that are not ``weak``; the weak ones (sized for the joint test) are counted per test.

    Returns
    -------
    per_planted, summary
        One row per planted variant (``recovered, locus_id, lead_distance_kb, replication_status, novelty,
        novelty_correct, perdi_top_regions, perdi_structure_in_top``) and the summary figures with the
        targets and whether each is met.
    """
    rows = []
    matched_loci = set()
    for t in truth.itertuples():
        same = loci[loci["chromosome"].astype(str) == str(t.chromosome)] if len(loci) else loci
        dist = (same["lead_position"] - t.base_pair_location).abs() if len(same) else pd.Series(dtype=float)
        hit = same[dist <= window_kb * 1000] if len(same) else same
        row = {"region": t.region, "kind": t.kind, "modality": t.modality, "variant_id": t.variant_id,
               "known": bool(t.known), "weak": bool(getattr(t, "weak", False)), "recovered": len(hit) > 0}
        if len(hit):
            best = hit.loc[(hit["lead_position"] - t.base_pair_location).abs().idxmin()]
            matched_loci.update(hit["locus_id"])
            found = set().union(*(_found_by(x) for x in hit.get("test", pd.Series(["per_dimension"] * len(hit)))))
            row.update(found_by_per_dimension="per_dimension" in found, found_by_joint="joint" in found)
            row.update(locus_id=best["locus_id"], lead_dimension=best["lead_dimension"],
                       lead_distance_kb=abs(best["lead_position"] - t.base_pair_location) / 1000,
                       replication_status=best.get("replication_status", "not run"),
                       novelty=best.get("novelty", "not run"))
            row["novelty_correct"] = row["novelty"] == ("known" if t.known else "novel")
            if region_scores is not None and len(region_scores):
                s = region_scores[(region_scores["dimension"] == best["lead_dimension"])
                                  & (region_scores["hemisphere"] == "bilateral")]
                top = s.sort_values("ks", ascending=False, kind="stable")["region"].head(top_k).tolist()
                row["perdi_top_regions"] = ",".join(top)
                row["perdi_structure_in_top"] = t.region in top
                # the second view (mean |t| per region): reported, not a target
                by_t = s.sort_values("mean_abs_t", ascending=False, kind="stable")["region"].head(top_k).tolist()
                row["perdi_structure_in_top_mean_abs_t"] = t.region in by_t
            if locus_scores is not None and len(locus_scores):
                # the locus's own maps (decoder view along its effect vector, direct view of its lead's dosage) in
                # its lead dimension's modality
                modality = str(best["lead_dimension"]).split("_")[0]
                for view in ("decoder", "direct"):
                    s = locus_scores[(locus_scores["locus_id"] == best["locus_id"]) & (locus_scores["view"] == view)
                                     & (locus_scores["modality"] == modality)
                                     & (locus_scores["hemisphere"] == "bilateral")]
                    if s.empty:
                        continue
                    # the target's score reads volume effects (regions.py); KS, PerDI's, is reported beside it
                    for score, suffix in (("rim_mean_abs_t", ""), ("ks", "_ks")):
                        if score not in s:
                            continue
                        ranked = s.sort_values(score, ascending=False, kind="stable")["region"].tolist()
                        row[f"locus_{view}_top_regions{suffix}"] = ",".join(ranked[:top_k])
                        row[f"locus_{view}_in_top{suffix}"] = t.region in ranked[:top_k]
                        row[f"locus_{view}_rank{suffix}"] = ranked.index(t.region) + 1 if t.region in ranked else None
            if locus_views is not None and len(locus_views):
                modality = str(best["lead_dimension"]).split("_")[0]
                v = locus_views[(locus_views["locus_id"] == best["locus_id"]) & (locus_views["modality"] == modality)]
                row["view_correlation"] = float(v["spatial_correlation"].iloc[0]) if len(v) else float("nan")
        rows.append(row)
    per = pd.DataFrame(rows)
    for c in ("found_by_per_dimension", "found_by_joint"):
        per[c] = per[c].map(lambda v: bool(v) if isinstance(v, (bool, np.bool_)) else False) if c in per else False
    outside = sorted(set(loci["locus_id"]) - matched_loci) if len(loci) else []
    strong, weak = per[~per["weak"]], per[per["weak"]]
    rec = strong[strong["recovered"]]
    summary = {
        "planted": len(strong), "recovered": int(strong["recovered"].sum()),
        "recovered_fraction": float(strong["recovered"].mean()) if len(strong) else float("nan"),
        "weak_planted": len(weak),
        "per_test": {test: {"strong": int(strong[f"found_by_{test}"].sum()),
                            "weak": int(weak[f"found_by_{test}"].sum())} for test in ("per_dimension", "joint")},
        "joint_recovers_per_dimension": bool((per["found_by_joint"] | ~per["found_by_per_dimension"]).all()),
        "weak_found_by_joint": int(weak["found_by_joint"].sum()),
        "joint_lambda_gc": ({} if joint_lambda is None else
                            {str(r.set): float(r.lambda_gc) for r in joint_lambda.itertuples()}),
        "loci": len(loci), "loci_outside_planted": len(outside), "outside_loci_ids": outside,
        "replicated_fraction": float((rec.get("replication_status", pd.Series(dtype=str)) == "replicated").mean())
        if len(rec) else float("nan"),
        "novelty_correct_fraction": float(rec["novelty_correct"].mean()) if len(rec) else float("nan"),
        "perdi_top3_fraction": float(rec["perdi_structure_in_top"].mean())
        if len(rec) and "perdi_structure_in_top" in rec else float("nan"),
        "perdi_top3_fraction_mean_abs_t": float(rec["perdi_structure_in_top_mean_abs_t"].mean())
        if len(rec) and "perdi_structure_in_top_mean_abs_t" in rec else float("nan"),
    }
    for view in ("decoder", "direct"):
        for suffix in ("", "_ks"):
            if f"locus_{view}_in_top{suffix}" in rec:
                summary[f"locus_{view}_top3{suffix}"] = int(rec[f"locus_{view}_in_top{suffix}"]
                                                            .map(lambda v: v is True).sum())
    if "view_correlation" in rec:
        summary["view_correlation"] = {r.region: r.view_correlation for r in rec.itertuples()}
    summary["targets"] = TARGETS
    summary["met"] = {
        "recovered_fraction": bool(summary["recovered_fraction"] >= TARGETS["recovered_fraction"]),
        "loci_outside_planted": summary["loci_outside_planted"] <= TARGETS["loci_outside_planted"],
        "novelty_correct_fraction": bool(np.nan_to_num(summary["novelty_correct_fraction"])
                                         >= TARGETS["novelty_correct_fraction"]),
        "perdi_top3_fraction": bool(np.nan_to_num(summary["perdi_top3_fraction"]) >= TARGETS["perdi_top3_fraction"]),
    }
    for view in ("decoder", "direct"):
        if f"locus_{view}_top3" in summary:
            summary["met"][f"locus_{view}_top3"] = summary[f"locus_{view}_top3"] >= TARGETS[f"locus_{view}_top3"]
    if summary["joint_lambda_gc"]:
        lo, hi = TARGETS["joint_lambda_gc"]
        summary["met"]["joint_lambda_gc"] = all(lo <= v <= hi for v in summary["joint_lambda_gc"].values())
        summary["met"]["joint_recovers_per_dimension"] = summary["joint_recovers_per_dimension"]
        if len(weak):
            summary["met"]["weak_found_by_joint"] = summary["weak_found_by_joint"] >= TARGETS["weak_found_by_joint"]
    return per, summary


def format_summary(per: pd.DataFrame, summary: dict) -> str:
    """A few lines a person can read at the end of the demo."""
    ok = {True: "met", False: "NOT met"}
    lines = [
        f"planted loci recovered: {summary['recovered']}/{summary['planted']} "
        f"({summary['recovered_fraction']:.0%}; target >= 80%: {ok[summary['met']['recovered_fraction']]})",
        f"loci outside planted ones: {summary['loci_outside_planted']} of {summary['loci']} "
        f"(target 0: {ok[summary['met']['loci_outside_planted']]})",
        f"replicated among recovered: {summary['replicated_fraction']:.0%}",
        f"known/novel calls right among recovered: {summary['novelty_correct_fraction']:.0%} "
        f"(target 100%: {ok[summary['met']['novelty_correct_fraction']]})",
        f"PerDI ({summary.get('perdi_decoder', 'network')} decoder) planted structure in the top 3 regions: "
        f"{summary['perdi_top3_fraction']:.0%} "
        f"(target >= 70%: {ok[summary['met']['perdi_top3_fraction']]})",
    ]
    for view, what in (("decoder", "decoder along each locus's effect vector"),
                       ("direct", "direct, each lead's dosage against the images")):
        if f"locus_{view}_top3" in summary:
            lines.append(f"locus maps ({what}), planted structure in the top 3 by mean |t| with a one-voxel rim: "
                         f"{summary[f'locus_{view}_top3']} of {summary['planted']} (target >= "
                         f"{TARGETS[f'locus_{view}_top3']}: {ok[summary['met'][f'locus_{view}_top3']]})"
                         + (f"; by KS {summary[f'locus_{view}_top3_ks']} of {summary['planted']}"
                            if f"locus_{view}_top3_ks" in summary else ""))
    if summary.get("view_correlation"):
        lines.append("  the two views' spatial correlation: " + ", ".join(
            f"{k} {v:.2f}" for k, v in summary["view_correlation"].items() if np.isfinite(v)))
    if summary.get("joint_lambda_gc"):
        pt = summary["per_test"]
        lines.append(f"by test: per-dimension {pt['per_dimension']['strong']}/{summary['planted']} strong and "
                     f"{pt['per_dimension']['weak']}/{summary.get('weak_planted', 0)} weak; joint "
                     f"{pt['joint']['strong']}/{summary['planted']} strong and {pt['joint']['weak']}/"
                     f"{summary.get('weak_planted', 0)} weak")
        lines.append(f"  joint test finds every locus the per-dimension scan finds: "
                     f"{'yes' if summary['joint_recovers_per_dimension'] else 'NO'}")
        if summary.get("weak_planted"):
            lines.append(f"  weak effects found by the joint test: {summary['weak_found_by_joint']} "
                         f"(target >= {TARGETS['weak_found_by_joint']}: {ok[summary['met']['weak_found_by_joint']]})")
        lines.append("  joint lambda GC: " + ", ".join(f"{k} {v:.3f}" for k, v in summary["joint_lambda_gc"].items())
                     + f" (target 0.95-1.05: {ok[summary['met']['joint_lambda_gc']]})")
    if np.isfinite(summary.get("perdi_top3_fraction_mean_abs_t", float("nan"))):
        lines.append(f"  by the second view, mean |t| per region: {summary['perdi_top3_fraction_mean_abs_t']:.0%} "
                     "(not a target)")
    weak = [m for m, beats in summary.get("decoder_beats_mean_image", {}).items() if beats is False]
    if weak and summary.get("perdi_decoder", "network") == "network":
        lines.append(f"  decoders that do not beat their training subjects' mean image: {', '.join(weak)} "
                     "(they barely use the latent; PerDI cannot localise their dimensions)")
    elif weak:
        lines.append(f"  network decoders that do not beat their training subjects' mean image: {', '.join(weak)} "
                     "(PerDI used the linear decoder instead)")
    for r in per.itertuples():
        name = f"{r.region}{' (weak)' if getattr(r, 'weak', False) else ''}"
        if r.recovered:
            tests = "+".join(t for t in ("per_dimension", "joint") if getattr(r, f"found_by_{t}", False))
            lines.append(f"  {name:<25} {r.kind:<9} -> {r.locus_id} [{tests or 'per_dimension'}] "
                         f"({getattr(r, 'lead_dimension', '')}, {r.lead_distance_kb:.0f} kb), {r.replication_status}, "
                         f"{r.novelty}{'' if r.novelty_correct else ' (wrong)'}, PerDI top: "
                         f"{getattr(r, 'perdi_top_regions', '')}"
                         + "".join(f"; {view} view top (rim mean |t|): {getattr(r, f'locus_{view}_top_regions')}"
                                   for view in ("decoder", "direct")
                                   if isinstance(getattr(r, f"locus_{view}_top_regions", None), str)))
        else:
            lines.append(f"  {name:<25} {r.kind:<9} -> not recovered")
    return "\n".join(lines)


def truth_section(truth_path: str | Path, files, joint_lambda: str | Path | None = None,
                  locus_scores: str | Path | None = None, locus_views: str | Path | None = None) -> Callable:
    """A report section (see :func:`udip_gwas.annotation.stages.run_report`) comparing the report's loci with the
    simulation's truth file; it also writes ``truth_comparison.tsv`` and ``.json`` to ``files``
    (:class:`udip_gwas.layout.ReportFiles`)."""

    def section(report: pd.DataFrame, scores: pd.DataFrame | None, perdi_info: dict) -> tuple[str, str]:
        lam = pd.read_csv(joint_lambda, sep="\t") if joint_lambda and Path(joint_lambda).exists() else None
        loc = pd.read_csv(locus_scores, sep="\t") if locus_scores and Path(locus_scores).exists() else None
        agree = pd.read_csv(locus_views, sep="\t") if locus_views and Path(locus_views).exists() else None
        per, summary = compare_with_truth(report, pd.read_csv(truth_path, sep="\t"), region_scores=scores,
                                          joint_lambda=lam, locus_scores=loc, locus_views=agree)
        checks = perdi_info.get("decoder_check", {})
        summary["decoder_beats_mean_image"] = {m: c.get("beats_mean_image") for m, c in sorted(checks.items())}
        summary["perdi_decoder"] = perdi_info.get("decoder", "network")
        Path(files.root).mkdir(parents=True, exist_ok=True)
        per.to_csv(files.truth_comparison, sep="\t", index=False)
        files.truth_summary.write_text(json.dumps(summary, indent=2) + "\n")
        return "Comparison with the simulated truth", "<pre>" + html.escape(format_summary(per, summary)) + "</pre>"

    return section
