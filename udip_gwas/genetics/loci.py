"""From summary statistics to independent loci: significance, PLINK-style clumping and FUMA-style
genomic risk loci.

Multi-dimension rule: a variant's p for clumping is its smallest p over the dimensions (its
``neg_log_10_p_value`` in the combined table); a variant is significant when that p is below the
Bonferroni threshold ``p_threshold / n_dimensions`` (5e-8 / 128 = 3.9e-10 by default).

Joint-test rule (``loci.test = joint``): the same, with a variant's smallest joint-test p over the sets
(T1, T2, all) against ``p_threshold / n_sets``. ``both`` calls loci by each rule and merges the loci that
overlap or lie within ``merge_kb``; a merged locus keeps the per-dimension lead (the published rule) and says
which tests found it.

PLINK-style clumping (``clump``): variants in order of increasing p; each variant with p < p1 not yet in a
clump becomes an index variant and takes every not-yet-clumped variant within ``kb`` with p < p2 and
r² >= ``r2``. This reproduces PLINK 1.9 ``--clump`` index variants.

FUMA-style genomic risk loci (``risk_loci``): independent significant SNPs are the index variants of a
clumping of the significant variants at r² 0.6; lead SNPs a clumping of those at r² 0.1; each independent
SNP spans itself and the candidate variants (p < p2) in LD with it at r² >= 0.6; spans closer than
``merge_kb`` (250 kb) on a chromosome merge into one locus. Loci overlapping the MHC are flagged.
"""

from __future__ import annotations

import logging
from collections import defaultdict

import numpy as np
import pandas as pd

from udip_gwas import columns
from udip_gwas.genome import MHC, chromosome_key, chromosome_order, contig_name

log = logging.getLogger(__name__)


def _neighbours(ld: pd.DataFrame, min_r2: float) -> dict[str, dict[str, float]]:
    nb: dict[str, dict[str, float]] = defaultdict(dict)
    for a, b, r2 in zip(ld["variant_id_a"], ld["variant_id_b"], ld["r2"]):
        if r2 >= min_r2:
            nb[a][b] = r2
            nb[b][a] = r2
    return nb


def clump(variants: pd.DataFrame, ld: pd.DataFrame, *, p1: float, p2: float, r2: float, kb: int) -> pd.DataFrame:
    """PLINK-style clumping.

    Parameters
    ----------
    variants
        ``variant_id, chromosome, base_pair_location, neg_log_10_p_value``.
    ld
        ``variant_id_a, variant_id_b, r2`` pairs (missing pairs mean r² below every threshold).

    Returns
    -------
    DataFrame
        One row per clump: ``index_variant, chromosome, base_pair_location, neg_log_10_p_value,
        n_members, members`` (comma-separated, excluding the index), ordered by p.
    """
    v = variants.sort_values(["neg_log_10_p_value", "chromosome", "base_pair_location"],
                             ascending=[False, True, True]).reset_index(drop=True)
    nlp = dict(zip(v["variant_id"], v["neg_log_10_p_value"]))
    where = dict(zip(v["variant_id"], zip(v["chromosome"].astype(str), v["base_pair_location"])))
    nb = _neighbours(ld, r2)
    nlp1, nlp2 = -np.log10(p1), -np.log10(p2)
    clumped: set[str] = set()
    rows = []
    for vid, score in zip(v["variant_id"], v["neg_log_10_p_value"]):
        if score <= nlp1:
            break
        if vid in clumped:
            continue
        chrom, pos = where[vid]
        members = sorted(
            (m for m, _ in nb.get(vid, {}).items()
             if m in nlp and m not in clumped and nlp[m] > nlp2 and where[m][0] == chrom
             and abs(where[m][1] - pos) <= kb * 1000),
            key=lambda m: where[m][1])
        clumped.add(vid)
        clumped.update(members)
        rows.append((vid, chrom, pos, score, len(members), ",".join(members)))
    return pd.DataFrame(rows, columns=["index_variant", "chromosome", "base_pair_location", "neg_log_10_p_value",
                                       "n_members", "members"])


def risk_loci(variants: pd.DataFrame, ld: pd.DataFrame, *, threshold: float, candidate_p: float,
              independent_r2: float = 0.6, lead_r2: float = 0.1, merge_kb: int = 250, window_kb: int = 1000,
              mhc: tuple[str, int, int] = MHC["GRCh37"]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """FUMA-style genomic risk loci.

    Parameters
    ----------
    variants
        Candidate variants (p < ``candidate_p``) with ``variant_id, chromosome, base_pair_location,
        neg_log_10_p_value``; the significant ones are those with p < ``threshold``.

    Returns
    -------
    loci, independent
        ``loci``: ``locus_id, chromosome, start, end, lead_variant, n_independent, n_leads, lead_variants,
        independent_variants, mhc``; ``independent``: ``variant_id, locus_id, is_lead`` and the LD span.
    """
    sig = variants[variants["neg_log_10_p_value"] > -np.log10(threshold)]
    if sig.empty:
        return (pd.DataFrame(columns=["locus_id", "chromosome", "start", "end", "lead_variant", "n_independent",
                                      "n_leads", "lead_variants", "independent_variants", "mhc"]),
                pd.DataFrame(columns=["variant_id", "locus_id", "is_lead", "span_start", "span_end"]))
    iss = clump(sig, ld, p1=threshold, p2=threshold, r2=independent_r2, kb=window_kb)
    iss_ids = set(iss["index_variant"])
    leads = clump(sig[sig["variant_id"].isin(iss_ids)], ld, p1=threshold, p2=threshold, r2=lead_r2, kb=window_kb)
    lead_ids = set(leads["index_variant"])
    nb = _neighbours(ld, independent_r2)
    cand = variants[variants["neg_log_10_p_value"] > -np.log10(candidate_p)]
    pos = dict(zip(cand["variant_id"], cand["base_pair_location"]))
    chrom_of = dict(zip(cand["variant_id"], cand["chromosome"].astype(str)))
    spans = []
    for row in iss.itertuples():
        members = [m for m in nb.get(row.index_variant, {}) if m in pos and chrom_of[m] == row.chromosome
                   and abs(pos[m] - row.base_pair_location) <= window_kb * 1000]
        ps = [row.base_pair_location] + [pos[m] for m in members]
        spans.append((row.index_variant, row.chromosome, min(ps), max(ps), row.neg_log_10_p_value))
    spans_df = pd.DataFrame(spans, columns=["variant_id", "chromosome", "span_start", "span_end", "nlp"])
    loci = []
    assignment = {}
    for chrom, grp in spans_df.groupby("chromosome", sort=False):
        grp = grp.sort_values("span_start")
        current: list = []
        end = -np.inf
        for r in grp.itertuples():
            if current and r.span_start - end > merge_kb * 1000:
                loci.append((chrom, current))
                current, end = [], -np.inf
            current.append(r)
            end = max(end, r.span_end)
        if current:
            loci.append((chrom, current))
    rows = []
    for chrom, members in loci:
        top = max(members, key=lambda r: r.nlp)
        rows.append([chrom, min(m.span_start for m in members), max(m.span_end for m in members), top.variant_id,
                     top.nlp, [m.variant_id for m in members]])
    span_nlp = dict(zip(spans_df["variant_id"], spans_df["nlp"]))
    out = []
    in_order = sorted(rows, key=lambda r: (chromosome_order(r[0]), r[1]))
    for i, (chrom, start, end, lead, _, members) in enumerate(in_order):
        locus_id = f"L{i + 1:03d}"
        for m in members:
            assignment[m] = locus_id
        in_mhc = chromosome_key(chrom) == chromosome_key(mhc[0]) and start <= mhc[2] and end >= mhc[1]
        ordered = sorted(members, key=lambda m: -span_nlp[m])
        out.append((locus_id, chrom, start, end, lead, len(members), sum(m in lead_ids for m in members),
                    ",".join(m for m in ordered if m in lead_ids), ",".join(ordered), bool(in_mhc)))
    loci_df = pd.DataFrame(out, columns=["locus_id", "chromosome", "start", "end", "lead_variant", "n_independent",
                                         "n_leads", "lead_variants", "independent_variants", "mhc"])
    ind = spans_df.drop(columns="nlp").assign(locus_id=lambda d: d["variant_id"].map(assignment),
                                              is_lead=lambda d: d["variant_id"].isin(lead_ids))
    return loci_df, ind[["variant_id", "locus_id", "is_lead", "chromosome", "span_start", "span_end"]]


# --- from the gwas table to loci --------------------------------------------------------------------


def collect_candidates(ht, *, p2: float, thresholds: dict[str, float],
                       joint_thresholds: dict[str, float] | None = None, joint_p2: float | None = None) -> pd.DataFrame:
    """Variants of a gwas table (QC-passing) whose smallest p over dimensions is below ``p2`` or, with
    ``joint_thresholds``, whose smallest joint-test p over sets is below ``joint_p2``.

    Returns
    -------
    DataFrame
        ``variant_id, rsid, chromosome, base_pair_location, other_allele, effect_allele,
        effect_allele_frequency, n, neg_log_10_p_value`` (the smallest p's), ``best_index`` (its dimension's
        index), ``beta, standard_error, p_value`` there, per threshold name ``sig_<name>`` (the indices of
        the dimensions below it) and ``lead_dimension`` (the name of ``best_index``); with the joint test
        ``joint_neg_log_10_p_value`` (the smallest over sets), ``joint_set`` (its set's index), ``joint_statistic``,
        and per threshold name ``jsig_<name>`` (the indices of the sets below it).
    """
    import hail as hl

    ht = ht.filter(hl.is_missing(ht.qc_fail)).key_by()
    ht = ht.annotate(_nlp=hl.max(ht.neg_log_10_p_value), _best=hl.argmax(ht.neg_log_10_p_value))
    if joint_thresholds:
        ht = ht.annotate(_jnlp=hl.max(ht.joint_neg_log_10_p_value), _jbest=hl.argmax(ht.joint_neg_log_10_p_value))
        ht = ht.filter(hl.or_else(ht._nlp > -np.log10(p2), False) | hl.or_else(ht._jnlp > -np.log10(joint_p2), False))
    else:
        ht = ht.filter(hl.or_else(ht._nlp > -np.log10(p2), False))
    nlp = ht.neg_log_10_p_value
    fields = dict(
        variant_id=ht.variant_id, rsid=ht.rsid, chromosome=contig_name(ht.locus),
        base_pair_location=ht.locus.position, other_allele=ht.alleles[0], effect_allele=ht.alleles[1],
        effect_allele_frequency=ht.effect_allele_frequency, n=ht.n, neg_log_10_p_value=ht._nlp,
        best_index=ht._best, beta=ht.beta[ht._best], standard_error=ht.standard_error[ht._best],
        p_value=ht.p_value[ht._best],
    )
    for name, p in thresholds.items():
        fields[f"sig_{name}"] = hl.range(hl.len(nlp)).filter(lambda i: hl.or_else(nlp[i] > -np.log10(p), False))
    if joint_thresholds:
        jnlp = ht.joint_neg_log_10_p_value
        fields.update(joint_neg_log_10_p_value=ht._jnlp, joint_set=ht._jbest,
                      joint_statistic=ht.joint_statistic[ht._jbest])
        for name, p in joint_thresholds.items():
            fields[f"jsig_{name}"] = hl.range(hl.len(jnlp)).filter(lambda i: hl.or_else(jnlp[i] > -np.log10(p), False))
    dims = list(hl.eval(ht.dimensions))
    cand = ht.select(**fields).to_pandas()
    cand["lead_dimension"] = [dims[i] if i == i and i is not None else None for i in cand["best_index"]]
    return cand


def candidates_for_test(cand: pd.DataFrame, test: str) -> pd.DataFrame:
    """The candidates as one test sees them: ``neg_log_10_p_value`` and ``sig_<name>`` are the test's (the joint
    test's smallest p over sets for ``joint``), and variants without a p in that test are left out."""
    if test == "per_dimension":
        return cand[cand["neg_log_10_p_value"].notna()]
    v = cand.copy()
    v["neg_log_10_p_value"] = v["joint_neg_log_10_p_value"]
    for c in [c for c in v.columns if c.startswith("jsig_")]:
        v["sig_" + c[5:]] = v[c]
    return v[v["neg_log_10_p_value"].notna()].reset_index(drop=True)


def near_significant(cand: pd.DataFrame, *, threshold: float, kb: int) -> pd.DataFrame:
    """The candidates within ``kb`` of a variant below ``threshold`` in either test (the only ones clumping can
    use)."""
    best = cand["neg_log_10_p_value"].fillna(-1.0)
    if "joint_neg_log_10_p_value" in cand:
        best = np.maximum(best, cand["joint_neg_log_10_p_value"].fillna(-1.0))
    sig = cand[best > -np.log10(threshold)]
    near = np.zeros(len(cand), dtype=bool)
    for chrom, grp in sig.groupby("chromosome"):
        pos = np.sort(grp["base_pair_location"].to_numpy())
        on = (cand["chromosome"] == chrom).to_numpy()
        x = cand.loc[on, "base_pair_location"].to_numpy()
        k = np.searchsorted(pos, x)
        d = np.minimum(np.abs(x - pos[np.clip(k, 0, len(pos) - 1)]), np.abs(x - pos[np.clip(k - 1, 0, len(pos) - 1)]))
        near[np.flatnonzero(on)[d <= kb * 1000]] = True
    return cand[near].reset_index(drop=True)


def candidates_table(cand: pd.DataFrame, dims: list[str], thresholds: dict[str, float]) -> pd.DataFrame:
    """``candidate_variants.tsv``: the candidates with their lead dimension and, per threshold, the names of
    the dimensions below it (``dimensions_<name>``)."""
    out = cand.drop(columns=["best_index"]).copy()
    for name in thresholds:
        out[f"dimensions_{name}"] = [",".join(dims[i] for i in s) for s in cand[f"sig_{name}"]]
    return out.drop(columns=[c for c in out.columns if c.startswith(("sig_", "jsig_"))])


def describe_loci(loci: pd.DataFrame, view: pd.DataFrame, cand: pd.DataFrame, dims: list[str], name: str, *,
                  thr: float, joint_thr: float | None, test: str, sets: list) -> pd.DataFrame:
    """The ``loci.tsv`` table (:data:`udip_gwas.columns.LOCI`) of :func:`risk_loci`'s loci called on ``view`` (the
    test's candidates, :func:`candidates_for_test`): each locus's lead statistics (per dimension and joint, from
    ``cand``) and the dimensions significant inside it at threshold ``name`` (per-dimension p ``thr``). ``sets``:
    the gwas table's joint sets (``name, df1, df2``), indexed like the candidates' ``joint_set``."""
    by_id = cand.set_index("variant_id")
    view_thr = thr if test == "per_dimension" else joint_thr
    set_of = {i: s for i, s in enumerate(sets)}
    rows = []
    for r in loci.itertuples():
        lead = by_id.loc[r.lead_variant]
        in_locus = (cand["chromosome"] == r.chromosome) & cand["base_pair_location"].between(r.start, r.end)
        inside = cand[in_locus & (cand["neg_log_10_p_value"] > -np.log10(thr))]
        sig_dims = sorted({dims[i] for s in inside[f"sig_{name}"] for i in s})
        v_in = view[(view["chromosome"] == r.chromosome) & view["base_pair_location"].between(r.start, r.end)]
        has_joint = "joint_neg_log_10_p_value" in cand and pd.notna(lead.get("joint_neg_log_10_p_value"))
        rows.append(dict(
            locus_id=r.locus_id, chromosome=r.chromosome, start=r.start, end=r.end, lead_variant=r.lead_variant,
            lead_rsid=lead["rsid"], lead_position=int(lead["base_pair_location"]),
            lead_effect_allele=lead["effect_allele"], lead_other_allele=lead["other_allele"],
            lead_effect_allele_frequency=lead["effect_allele_frequency"], lead_dimension=lead["lead_dimension"],
            lead_beta=lead["beta"], lead_standard_error=lead["standard_error"],
            lead_p_value=columns.p_text(lead["neg_log_10_p_value"]),
            lead_neg_log_10_p_value=lead["neg_log_10_p_value"],
            n_significant_variants=int((v_in["neg_log_10_p_value"] > -np.log10(view_thr)).sum()),
            n_independent_snps=r.n_independent, n_lead_snps=r.n_leads,
            n_dimensions=len(sig_dims), dimensions=",".join(sig_dims), mhc=r.mhc, threshold_p=thr, test=test,
            joint_set=set_of[int(lead["joint_set"])].name if has_joint else None,
            joint_statistic=lead["joint_statistic"] if has_joint else None,
            joint_df1=set_of[int(lead["joint_set"])].df1 if has_joint else None,
            joint_df2=set_of[int(lead["joint_set"])].df2 if has_joint else None,
            joint_p_value=columns.p_text(lead["joint_neg_log_10_p_value"]) if has_joint else None,
            joint_neg_log_10_p_value=lead["joint_neg_log_10_p_value"] if has_joint else None,
            joint_threshold_p=joint_thr,
        ))
    return pd.DataFrame(rows, columns=columns.names(columns.LOCI))


def merge_tests(per_dim: pd.DataFrame, joint: pd.DataFrame, *, merge_kb: int) -> tuple[pd.DataFrame, dict]:
    """One loci table from the per-dimension and the joint test's: loci of the two that overlap or lie within
    ``merge_kb`` are one locus, which keeps the per-dimension lead (the published rule), spans both and is
    marked ``per_dimension+joint``; the rest keep their own test. Renumbered L001... in genome order; also
    returns ``{(test, old locus_id): new locus_id}``."""
    rows, used = [], {}
    for p in per_dim.itertuples(index=False):
        row = p._asdict()
        row["_from"] = [("per_dimension", p.locus_id)]
        near = joint[(joint["chromosome"].astype(str) == str(p.chromosome))
                     & (joint["start"] <= p.end + merge_kb * 1000) & (joint["end"] >= p.start - merge_kb * 1000)]
        near = near[~near.index.isin(list(used))]
        if len(near):
            used.update(dict.fromkeys(near.index))
            row["_from"] += [("joint", j) for j in near["locus_id"]]
            row.update(test="per_dimension+joint", start=min(p.start, int(near["start"].min())),
                       end=max(p.end, int(near["end"].max())))
        rows.append(row)
    for i, r in zip(joint.index, joint.itertuples(index=False)):
        if i not in used:
            rows.append({**r._asdict(), "_from": [("joint", r.locus_id)]})
    out = pd.DataFrame(rows, columns=[*per_dim.columns, "_from"])
    if out.empty:
        return out.drop(columns="_from"), {}
    out = out.sort_values(["chromosome", "start"], key=lambda c: c.map(chromosome_order) if c.name == "chromosome"
                          else c).reset_index(drop=True)
    out["locus_id"] = [f"L{i + 1:03d}" for i in range(len(out))]
    mapping = {key: new for new, keys in zip(out["locus_id"], out["_from"]) for key in keys}
    return out.drop(columns="_from"), mapping


def top_dimensions(effects: pd.DataFrame, loci: pd.DataFrame, sets: list, k: int = 5) -> list[str]:
    """Per locus, the lead's ``k`` dimensions of largest |t| in its joint set (all dimensions without the joint
    test), as ``dimension:t``, from :func:`lead_effects`'s table."""
    by_set = {s.name: set(s.dimensions) for s in sets}
    out = []
    for r in loci.itertuples():
        mine = effects[(effects["locus_id"] == r.locus_id) & effects["t_stat"].notna()]
        if isinstance(r.joint_set, str) and r.joint_set in by_set:
            mine = mine[mine["dimension"].isin(by_set[r.joint_set])]
        top = mine.reindex(mine["t_stat"].abs().sort_values(ascending=False, kind="stable").index).head(k)
        out.append(",".join(f"{d}:{v:.1f}" for d, v in zip(top["dimension"], top["t_stat"])))
    return out


def lead_effects(ht, loci: pd.DataFrame) -> pd.DataFrame:
    """Each locus's effect vector (:data:`udip_gwas.columns.LEAD_EFFECTS`): its lead's beta, standard error and t
    in every dimension (one small pass over the table for the leads)."""
    import hail as hl

    cols = columns.names(columns.LEAD_EFFECTS)
    if loci.empty:
        return pd.DataFrame(columns=cols)
    dims = list(hl.eval(ht.dimensions))
    got = ht.filter(hl.literal(set(loci["lead_variant"])).contains(ht.variant_id))
    by_id = {r.variant_id: r for r in got.select("variant_id", "beta", "standard_error", "t_stat").collect()}
    rows = []
    for r in loci.itertuples():
        x = by_id.get(r.lead_variant)
        if x is None or x.beta is None:
            continue
        rows += [(r.locus_id, r.lead_variant, d, x.beta[i], x.standard_error[i], x.t_stat[i])
                 for i, d in enumerate(dims)]
    return pd.DataFrame(rows, columns=cols)


def lead_dosages(mt, loci: pd.DataFrame) -> pd.DataFrame:
    """Each analysed subject's dosage of every locus's lead variant, the effect allele counted as in the GWAS
    (``IID`` and one column per ``locus_id``; missing calls stay missing). ``mt`` is the study's genotypes on the
    GWAS's samples. A lead the genotypes lack (its ``chrom:pos:other:effect`` id not found as named) has no column."""
    import hail as hl

    from udip_gwas.genetics.regional import variant_key

    if loci.empty:
        return pd.DataFrame(columns=["IID"])
    wanted = {variant_key(str(v)): lid for v, lid in zip(loci["lead_variant"], loci["locus_id"])}

    def key(t):
        return hl.tuple([contig_name(t.locus), t.locus.position, t.alleles[0], t.alleles[1]])

    rows = mt.filter_rows(hl.literal(set(wanted)).contains(key(mt)))
    rows = rows.select_entries("dosage")._localize_entries("_e", "_c")
    got = rows.select(k=key(rows), d=rows._e.map(lambda e: e.dosage)).collect()
    out = pd.DataFrame({"IID": [str(s) for s in mt.s.collect()]})
    for r in got:
        out[wanted[tuple(r.k)]] = np.array([np.nan if v is None else v for v in r.d], dtype=float)
    missing = [lid for lid in loci["locus_id"] if lid not in out]
    if missing:
        log.warning("loci: the lead variant(s) of %s are not in the genotypes; no dosages for them", missing)
    return out[["IID"] + [lid for lid in loci["locus_id"] if lid in out]]


def call_loci(cand: pd.DataFrame, ld: pd.DataFrame, dims: list[str], *, thresholds: dict[str, float], p2: float,
              settings, mhc: tuple[str, int, int], joint_thresholds: dict[str, float] | None = None,
              joint_p2: float | None = None, sets: list | None = None,
              tests: tuple[str, ...] = ("per_dimension",)) -> dict[str, tuple]:
    """Per threshold name: ``(loci, clumps, independent SNPs)`` by :func:`clump` and :func:`risk_loci` for each test
    of ``tests`` (its candidates by :func:`candidates_for_test`), the loci described by :func:`describe_loci` and
    merged over the tests by :func:`merge_tests`; clumps and independent SNPs carry a ``test`` column. ``settings``: the
    ``[loci]`` settings (``clump_r2, clump_kb, independent_r2, lead_r2, merge_kb``)."""
    s = settings
    out = {}
    for name, thr in thresholds.items():
        per_test = {}
        for test in tests:
            view = candidates_for_test(cand, test)
            t_thr, t_p2 = (thr, p2) if test == "per_dimension" else (joint_thresholds[name], joint_p2)
            clumps = clump(view, ld, p1=t_thr, p2=t_p2, r2=s.clump_r2, kb=s.clump_kb)
            loci, independent = risk_loci(view, ld, threshold=t_thr, candidate_p=t_p2,
                                          independent_r2=s.independent_r2, lead_r2=s.lead_r2, merge_kb=s.merge_kb,
                                          window_kb=s.clump_kb, mhc=mhc)
            loci = describe_loci(loci, view, cand, dims, name, thr=thr,
                                 joint_thr=joint_thresholds[name] if joint_thresholds else None, test=test,
                                 sets=sets or [])
            log.info("%s test, p < %.3g (%s): %d significant variants, %d clumps, %d loci (%d in the MHC)", test,
                     t_thr, name, int((view["neg_log_10_p_value"] > -np.log10(t_thr)).sum()), len(clumps), len(loci),
                     int(loci["mhc"].sum()) if len(loci) else 0)
            per_test[test] = (loci, clumps.assign(test=test), independent.assign(test=test))
        if len(tests) == 2:
            loci, mapping = merge_tests(per_test["per_dimension"][0], per_test["joint"][0], merge_kb=s.merge_kb)
            for test, (_, _, ind) in per_test.items():
                ind["locus_id"] = [mapping.get((test, old)) for old in ind["locus_id"]]
        else:
            loci = per_test[tests[0]][0]
        out[name] = (loci, pd.concat([v[1] for v in per_test.values()], ignore_index=True),
                     pd.concat([v[2] for v in per_test.values()], ignore_index=True))
    return out
