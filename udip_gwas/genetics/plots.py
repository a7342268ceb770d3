"""Manhattan and QQ plots, drawn from -log10 p (never from p, which underflows).

Both stay fast at 10 million points: points that would land on the same pixel are drawn once (the
non-significant bulk collapses to a few hundred thousand markers) and the scatter is rasterised.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from udip_gwas.genome import chromosome_order, contig_name

log = logging.getLogger(__name__)

#: variants read for the per-dimension Manhattan plots beyond those with p < 1e-3 (a seeded sample); the
#: plot draws one point per pixel of the dense band, so more would not show
PLOT_POINTS = 500_000
#: QQ histogram bin width in -log10 p: fine enough that the tail's points are separate at the plot's size
QQ_BIN_WIDTH = 0.01
#: bounds of a single dimension's QQ histogram bins (the pooled histogram has no upper bound)
QQ_MIN_BINS, QQ_MAX_BINS = 100, 5000


def _figure(figsize):
    """A figure not registered with pyplot: writing files switches no backend and leaves none open."""
    from matplotlib.figure import Figure

    return Figure(figsize=figsize)


def _thin(x: np.ndarray, y: np.ndarray, *, nx: int = 4000, ny: int = 1500, keep_above: float = 5.0) -> np.ndarray:
    """Indices of points to draw: all points above ``keep_above`` and one per (x, y) cell below it."""
    if len(x) == 0:
        return np.arange(0)
    xr = np.floor((x - x.min()) / max(np.ptp(x), 1) * nx).astype(np.int64)
    yr = np.floor(y / max(float(np.nanmax(y)), 1e-9) * ny).astype(np.int64)
    cell = xr * (ny + 1) + yr
    _, first = np.unique(cell, return_index=True)
    keep = np.zeros(len(x), dtype=bool)
    keep[first] = True
    keep |= y > keep_above
    return np.flatnonzero(keep)


def plot_manhattan(df: pd.DataFrame, *, thresholds: dict[str, float] | None = None,
                   labels: pd.DataFrame | None = None, ax=None, title: str = ""):
    """Manhattan plot.

    Parameters
    ----------
    df
        ``chromosome, base_pair_location, neg_log_10_p_value``.
    thresholds
        ``{label: p}`` drawn as horizontal lines (e.g. ``{"5e-8": 5e-8, "5e-8/128": 3.9e-10}``).
    labels
        ``chromosome, base_pair_location, label`` of points to annotate (e.g. locus leads).

    Returns
    -------
    matplotlib.axes.Axes
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(12, 4.2))
    d = df[["chromosome", "base_pair_location", "neg_log_10_p_value"]].copy()
    d["chromosome"] = d["chromosome"].astype(str)
    chroms = sorted(d["chromosome"].unique(), key=chromosome_order)
    offsets, centres, start = {}, [], 0
    for c in chroms:
        pos = d.loc[d["chromosome"] == c, "base_pair_location"]
        offsets[c] = start - pos.min()
        centres.append(start + (pos.max() - pos.min()) / 2)
        start += pos.max() - pos.min() + 1
    x = d["base_pair_location"].to_numpy() + d["chromosome"].map(offsets).to_numpy()
    y = d["neg_log_10_p_value"].to_numpy(dtype=float)
    idx = _thin(x, y)
    colour = np.array([i % 2 for i in d["chromosome"].map({c: i for i, c in enumerate(chroms)})])
    ax.scatter(x[idx], y[idx], c=np.where(colour[idx] == 0, "#1f4e79", "#7fa7d1"), s=4, linewidths=0,
               rasterized=True)
    for i, (name, p) in enumerate((thresholds or {}).items()):
        ax.axhline(-np.log10(p), color=("#c0392b", "#e67e22", "#7f8c8d")[i % 3], lw=0.8, ls="--", label=name)
    if thresholds:
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    if labels is not None:
        for r in labels.itertuples():
            c = str(r.chromosome)
            if c in offsets:
                xx = r.base_pair_location + offsets[c]
                yy = d.loc[(d["chromosome"] == c) & (d["base_pair_location"] == r.base_pair_location),
                           "neg_log_10_p_value"].max()
                ax.annotate(str(r.label), (xx, yy), xytext=(0, 4), textcoords="offset points", ha="center",
                            fontsize=7)
    ax.set_xticks(centres)
    ax.set_xticklabels(chroms)
    ax.set_xlabel("chromosome")
    ax.set_ylabel(r"$-\log_{10}(p)$")
    ax.set_xlim(-1, start + 1)
    ax.set_ylim(0, max(float(np.nanmax(y)) * 1.08 if len(y) else 1, 10))
    ax.set_title(title)
    return ax


def plot_qq_from_histogram(edges: np.ndarray, counts: np.ndarray, *, lambda_gc: float | None = None, ax=None,
                           title: str = ""):
    """QQ plot of observed against expected -log10 p from a histogram of observed -log10 p.

    A histogram (e.g. from a Hail aggregation pooled over every dimension) keeps the plot exact in the tail
    and cheap for billions of tests: each bin's expected quantile comes from its rank range.
    """
    if ax is None:
        import matplotlib.pyplot as plt

        _, ax = plt.subplots(figsize=(4.5, 4.5))
    counts = np.asarray(counts, dtype=float)
    n = counts.sum()
    # ranks from the top: the largest observed values have the smallest expected p
    desc = counts[::-1]
    upper = np.cumsum(desc)
    lower = upper - desc
    nonzero = desc > 0
    mid_rank = (lower + upper + 1) / 2
    expected = -np.log10(mid_rank[nonzero] / (n + 1))
    observed = ((edges[:-1] + edges[1:]) / 2)[::-1][nonzero]
    ax.scatter(expected, observed, s=6, c="#1f4e79", linewidths=0, rasterized=True)
    # the null line over the expected range only: a strong signal would otherwise squash the plot into a corner
    lim = expected.max() if len(expected) else 1.0
    ax.plot([0, lim], [0, lim], color="#c0392b", lw=0.8)
    ax.set_xlabel(r"expected $-\log_{10}(p)$")
    ax.set_ylabel(r"observed $-\log_{10}(p)$")
    if lambda_gc is not None:
        ax.text(0.04, 0.94, rf"$\lambda_{{GC}}$ = {lambda_gc:.3f}", transform=ax.transAxes)
    ax.set_title(title)
    return ax



def _save_manhattan(table: pd.DataFrame, path, *, thresholds, labels, title: str) -> None:
    fig = _figure((12, 4.2))
    plot_manhattan(table, thresholds=thresholds, labels=labels, ax=fig.subplots(), title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _save_qq(hist, path, *, lambda_gc: float, title: str) -> None:
    fig = _figure((4.8, 4.8))
    plot_qq_from_histogram(np.asarray(hist.bin_edges), np.asarray(hist.bin_freq), lambda_gc=lambda_gc,
                           ax=fig.subplots(), title=title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def write_loci_plots(ht, gwas, files, loci: pd.DataFrame, *, thresholds: dict[str, float], n_dims: int,
                     dims: list[str], dimension_plots: str, seed: int) -> None:
    """The loci stage's plots: ``manhattan.png`` and ``qq.png`` of all dimensions together and, per dimension
    (``dimension_plots``: ``loci``, ``all`` or ``none``), ``plots/manhattan_<dim>.png`` and ``plots/qq_<dim>.png``.

    ``ht`` is the gwas table, ``gwas`` its :class:`udip_gwas.layout.GwasFiles` (the combined table and lambda GC
    are read from there), ``files`` the :class:`udip_gwas.layout.LociFiles` written to. QQ plots come from Hail
    histograms (exact tails without collecting the p-values); the per-dimension Manhattan plots from one more
    pass: every variant with p < 1e-3 in a plotted dimension and a seeded sample of the rest, all of them up to
    :data:`PLOT_POINTS` variants.
    """
    import hail as hl

    comb = pd.read_csv(gwas.combined, sep="\t", usecols=["chromosome", "base_pair_location", "neg_log_10_p_value"],
                       dtype={"chromosome": str}, na_values=["#NA"], keep_default_na=False)
    labels = loci.rename(columns={"lead_position": "base_pair_location"})[["chromosome", "base_pair_location"]].copy()
    labels["label"] = loci["locus_id"]
    plain = thresholds["genome_wide"]
    lines = {f"{plain:g}": plain, f"{plain:g}/{n_dims}": thresholds["bonferroni"]}
    _save_manhattan(comb, files.manhattan, thresholds=lines, labels=labels,
                    title=f"smallest p over {n_dims} UDIP dimensions")
    chosen = {"all": dims, "none": [],
              "loci": [d for d in dims if d in set(loci["lead_dimension"])]}[dimension_plots]
    index = [dims.index(d) for d in chosen]
    qc = ht.filter(hl.is_missing(ht.qc_fail))
    nlp = qc.neg_log_10_p_value
    # the largest -log10 p of all dimensions and of each chosen one, then their histograms (the bins depend on
    # the maximum, so two passes)
    n_rows, top_all, *tops = qc.aggregate(hl.tuple([hl.agg.count(), hl.agg.max(hl.max(nlp)),
                                                    *(hl.agg.max(nlp[i]) for i in index)]))
    top_all = float(top_all) + QQ_BIN_WIDTH if top_all is not None else 1.0
    tops = [float(t) + QQ_BIN_WIDTH if t is not None else 1.0 for t in tops]
    hist, *hists = qc.aggregate(hl.tuple([
        hl.agg.explode(lambda x: hl.agg.hist(x, 0, top_all, max(QQ_MIN_BINS, int(top_all / QQ_BIN_WIDTH))), nlp),
        *(hl.agg.hist(nlp[i], 0, t, min(QQ_MAX_BINS, max(QQ_MIN_BINS, int(t / QQ_BIN_WIDTH))))
          for i, t in zip(index, tops))]))
    lam = pd.read_csv(gwas.lambda_gc, sep="\t").set_index("dimension")["lambda_gc"]
    _save_qq(hist, files.qq, lambda_gc=float(lam.median()), title=f"all {n_dims} dimensions (median $\\lambda$)")
    if not chosen:
        return
    files.plots.mkdir(exist_ok=True)
    frac = PLOT_POINTS / max(n_rows, 1)
    points = qc if frac >= 1 else qc.filter(hl.any([nlp[i] > 3 for i in index]) | hl.rand_bool(frac, seed=seed))
    points = points.key_by()
    points = points.select(chromosome=contig_name(points.locus), base_pair_location=points.locus.position,
                           **{d: points.neg_log_10_p_value[i] for d, i in zip(chosen, index)})
    tmp = files.plots / "_points.tsv"
    points.export(str(tmp))
    table = pd.read_csv(tmp, sep="\t", dtype={"chromosome": str}, na_values=["NA"])
    tmp.unlink()
    log.info("per-dimension plots of %d dimension(s) in %s (from %d of the %d QC-passing variants)", len(chosen),
             files.plots, len(table), n_rows)
    for d, h in zip(chosen, hists):
        own = labels[loci["lead_dimension"].to_numpy() == d] if len(loci) else labels
        _save_manhattan(table[["chromosome", "base_pair_location", d]].rename(columns={d: "neg_log_10_p_value"})
                        .dropna(), files.dimension_manhattan(d), thresholds=lines, labels=own, title=d)
        _save_qq(h, files.dimension_qq(d), lambda_gc=float(lam.get(d, np.nan)), title=d)


def write_joint_plots(gwas, files, loci: pd.DataFrame, *, sets: list, thresholds: dict[str, float]) -> None:
    """Per joint set, ``joint_manhattan_<set>.png`` (the loci whose lead's best set it is labelled; lines at
    ``thresholds``, ``{label: p}``) and ``joint_qq_<set>.png`` with the set's lambda GC, from ``joint/<set>.tsv.gz``
    and ``joint/lambda_gc.tsv`` of ``gwas`` (:class:`udip_gwas.layout.GwasFiles`)."""
    lam = pd.read_csv(gwas.joint_lambda_gc, sep="\t").set_index("set")["lambda_gc"]
    for s in sets:
        table = pd.read_csv(gwas.joint_set(s.name), sep="\t", usecols=["chromosome", "base_pair_location",
                                                                       "neg_log_10_p_value"],
                            dtype={"chromosome": str}, na_values=["#NA"], keep_default_na=False).dropna()
        own = loci[loci["joint_set"] == s.name] if len(loci) and "joint_set" in loci else loci.iloc[0:0]
        labels = pd.DataFrame({"chromosome": own.get("chromosome", []),
                               "base_pair_location": own.get("lead_position", []), "label": own.get("locus_id", [])})
        _save_manhattan(table, files.joint_manhattan(s.name), thresholds=thresholds, labels=labels,
                        title=f"joint test of {s.name}: F on ({s.df1}, {s.df2}) df")
        y = table["neg_log_10_p_value"].to_numpy(dtype=float)
        top = float(y.max()) + QQ_BIN_WIDTH if len(y) else 1.0
        counts, edges = np.histogram(y, bins=max(QQ_MIN_BINS, int(top / QQ_BIN_WIDTH)), range=(0, top))
        fig = _figure((4.8, 4.8))
        plot_qq_from_histogram(edges, counts, lambda_gc=float(lam.get(s.name, np.nan)), ax=fig.subplots(),
                               title=f"joint test of {s.name}")
        fig.tight_layout()
        fig.savefig(files.joint_qq(s.name), dpi=110)
    log.info("joint Manhattan and QQ plots of %d set(s) in %s", len(sets), files.root)


#: LocusZoom's r² bins (lower bounds) and colours; a variant without r² is grey, the lead purple
R2_BINS = (0.0, 0.2, 0.4, 0.6, 0.8)
R2_COLOURS = ("#357ebd", "#46b8da", "#5cb85c", "#eea236", "#d43f3a")
NO_R2_COLOUR, LEAD_COLOUR = "#b0b0b0", "#9632b8"


def r2_colour(r2: float) -> str:
    """The LocusZoom colour of an r² (grey where it is missing)."""
    if r2 is None or not np.isfinite(r2):
        return NO_R2_COLOUR
    return R2_COLOURS[int(np.searchsorted(R2_BINS, r2, side="right")) - 1]


def _pack_genes(genes: pd.DataFrame, span: float) -> list[int]:
    """A row per gene such that no two genes (with room for their labels) overlap in a row."""
    rows_end: list[float] = []
    out = []
    for start, end, name in zip(genes["Start"], genes["End"], genes["gene_name"]):
        left, right = start, max(end, start + span * 0.012 * (len(str(name)) + 2))
        for i, last in enumerate(rows_end):
            if left > last:
                rows_end[i] = right
                out.append(i)
                break
        else:
            rows_end.append(right)
            out.append(len(rows_end) - 1)
    return out


def plot_regional(table: pd.DataFrame, *, lead: dict, independent: list[int], genes: pd.DataFrame | None,
                  thresholds: dict[str, float], strip: pd.DataFrame, title: str = "", fig=None):
    """A LocusZoom-style regional plot on three panels: -log10 p against position coloured by r² with the lead
    (the lead labelled, the other independent significant SNPs outlined, both thresholds drawn); the genes of
    the window with their strand; the lead's -log10 p in every dimension, the locus's significant ones
    highlighted.

    Parameters
    ----------
    table
        ``position, neg_log_10_p_value, r2_with_lead`` of the window's variants.
    lead
        ``position, neg_log_10_p_value, label`` of the lead variant.
    independent
        Positions of the locus's other independent significant SNPs.
    genes
        ``Start, End, gene_name, Strand`` (0-based half-open) of the genes in the window, or None.
    strip
        ``dimension, neg_log_10_p_value, significant`` of the lead variant.

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig = fig or _figure((9, 6.2))
    ax, gx, sx = fig.subplots(3, 1, gridspec_kw={"height_ratios": [3.2, 1.1, 1.0], "hspace": 0.45})
    x = table["position"].to_numpy() / 1e6
    colours = [r2_colour(r) for r in table["r2_with_lead"]]
    order = np.argsort(table["r2_with_lead"].fillna(-1).to_numpy())  # strong LD drawn on top
    ax.scatter(x[order], table["neg_log_10_p_value"].to_numpy()[order], c=np.asarray(colours)[order], s=14,
               linewidths=0.3, edgecolors="#444444")
    others = table[table["position"].isin(independent) & (table["position"] != lead["position"])]
    ax.scatter(others["position"] / 1e6, others["neg_log_10_p_value"], s=70, facecolors="none",
               edgecolors="black", linewidths=1.2, label="other independent SNPs" if len(others) else None)
    ax.scatter([lead["position"] / 1e6], [lead["neg_log_10_p_value"]], marker="D", s=70, c=LEAD_COLOUR,
               edgecolors="black", zorder=5)
    ax.annotate(lead["label"], (lead["position"] / 1e6, lead["neg_log_10_p_value"]), xytext=(6, 4),
                textcoords="offset points", fontsize=8)
    for i, (name, p) in enumerate(thresholds.items()):
        ax.axhline(-np.log10(p), color=("#c0392b", "#e67e22")[i % 2], lw=0.8, ls="--", label=name)
    from matplotlib.lines import Line2D

    bins = [Line2D([], [], marker="o", ls="", color=c, label=f"r² {b:g}-{b + 0.2:g}")
            for b, c in zip(R2_BINS, R2_COLOURS)]
    lead_key = Line2D([], [], marker="D", ls="", color=LEAD_COLOUR, markeredgecolor="black", label="lead")
    handles, _ = ax.get_legend_handles_labels()
    ax.legend(handles=[*bins, lead_key, *handles], fontsize=7, loc="upper right", frameon=False, ncol=2)
    ax.set_ylabel(r"$-\log_{10}(p)$")
    ax.set_title(title, fontsize=10)
    lo, hi = (x.min(), x.max()) if len(x) else (lead["position"] / 1e6 - 0.25, lead["position"] / 1e6 + 0.25)
    ax.set_xlim(lo, hi)
    _gene_track(gx, genes, lo, hi)
    colours = np.where(strip["significant"], "#c0392b", "#9aa5b1")
    sx.bar(np.arange(len(strip)), strip["neg_log_10_p_value"], color=colours, width=0.9)
    sx.set_xlim(-0.5, len(strip) - 0.5)
    sx.set_ylabel(r"$-\log_{10}(p)$", fontsize=7)
    sx.set_xlabel("dimension (the lead variant in each; red: significant at this locus)", fontsize=7)
    sig = strip[strip["significant"]]
    sx.set_xticks(sig.index.to_numpy())
    sx.set_xticklabels(sig["dimension"], rotation=90, fontsize=6)
    return fig


def genes_in_window(genes: pd.DataFrame, chromosome, lo: int, hi: int) -> pd.DataFrame:
    """The genes (0-based half-open ``Start, End``) that overlap the 1-based positions ``lo..hi``."""
    from udip_gwas.genome import chromosome_key

    return genes[(genes["Chromosome"] == chromosome_key(chromosome)) & (genes["End"] >= lo) & (genes["Start"] < hi)]


def write_regional_plots(table: pd.DataFrame, loci: pd.DataFrame, independent: pd.DataFrame, strips: dict,
                         genes: pd.DataFrame | None, *, thresholds: dict[str, float], files) -> None:
    """One regional plot per locus (:func:`plot_regional`) to ``files.regional_plot(locus_id)``; ``table`` from
    :func:`udip_gwas.genetics.regional.regional_table`, ``independent`` the independent significant SNPs
    (``variant_id, locus_id``), ``strips`` per locus the lead's -log10 p in every dimension."""
    for r in loci.itertuples():
        mine = table[table["locus_id"] == r.locus_id]
        lo, hi = (mine["position"].min(), mine["position"].max()) if len(mine) else (r.start, r.end)
        in_window = None if genes is None else genes_in_window(genes, r.chromosome, lo, hi)
        others = independent.loc[independent["locus_id"] == r.locus_id, "variant_id"]
        positions = [int(v.split(":")[1]) for v in others]
        lead = {"position": int(r.lead_position), "neg_log_10_p_value": float(r.lead_neg_log_10_p_value),
                "label": r.lead_rsid if isinstance(r.lead_rsid, str) else r.lead_variant}
        fig = plot_regional(mine, lead=lead, independent=positions, genes=in_window, thresholds=thresholds,
                            strip=strips[r.locus_id],
                            title=f"{r.locus_id}: chr{r.chromosome}:{r.start:,}-{r.end:,}, lead dimension "
                                  f"{r.lead_dimension}")
        fig.savefig(files.regional_plot(r.locus_id), dpi=100, bbox_inches="tight")


def _gene_track(gx, genes: pd.DataFrame | None, lo: float, hi: float) -> None:
    gx.set_xlim(lo, hi)
    gx.set_yticks([])
    gx.set_xlabel("position (Mb)")
    if genes is None or genes.empty:
        gx.text(0.5, 0.5, "no genes in the window" if genes is not None else "no gene annotation given",
                transform=gx.transAxes, ha="center", va="center", fontsize=8, color="#666666")
        return
    genes = genes.sort_values("Start")
    rows = _pack_genes(genes.assign(Start=genes["Start"] / 1e6, End=genes["End"] / 1e6), hi - lo)
    for (start, end, name, strand), row in zip(genes[["Start", "End", "gene_name", "Strand"]].itertuples(index=False),
                                               rows):
        y = -row
        gx.plot([start / 1e6, end / 1e6], [y, y], color="#1f4e79", lw=3, solid_capstyle="butt")
        arrow = {"+": "→", "-": "←"}.get(strand, "")
        gx.text(max(start / 1e6, lo), y + 0.3, f"{name} {arrow}".strip(), fontsize=7, va="bottom")
    gx.set_ylim(-max(rows) - 0.7, 1.0)
