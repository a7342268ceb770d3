"""Manhattan and QQ plots, drawn from -log10 p (never from p, which underflows).

Both stay fast at 10 million points: points that would land on the same pixel are drawn once (the
non-significant bulk collapses to a few hundred thousand markers) and the scatter is rasterised.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def _chrom_key(c) -> tuple[int, str]:
    c = str(c).replace("chr", "")
    return (int(c), "") if c.isdigit() else (100, c)


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
        _, ax = plt.subplots(figsize=(12, 4.2))
    d = df[["chromosome", "base_pair_location", "neg_log_10_p_value"]].copy()
    d["chromosome"] = d["chromosome"].astype(str)
    chroms = sorted(d["chromosome"].unique(), key=_chrom_key)
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if ax is None:
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

