"""One linear-regression GWAS per UDIP dimension, every dimension in one pass over the genotypes.

For each variant and dimension d: ``udip_d ~ 1 + covariates + dosage`` by least squares; a missing dosage
is replaced by the variant's mean dosage over the analysed samples (as Hail's ``linear_regression_rows``
does). The UDIPs of one subject come from the same images, so all dimensions share their samples, and one
pass over the genotypes serves every dimension.

Two engines give the same statistics:

``blocked`` (default where Hail's native BLAS loads)
    The covariates are projected out once on the driver (Frisch-Waugh-Lovell): with ``Q`` an orthonormal
    basis of ``[1, covariates]`` and ``R = Y - Q Q'Y`` the residualised phenotypes (samples x dimensions),
    each variant needs only ``x'R`` (one row of a matrix product), ``x'Q`` and ``x'x``:
    ``beta = x'R / x_r'x_r`` with ``x_r'x_r = x'x - |Q'x|^2``,
    ``se = sqrt((R'R / x_r'x_r - beta^2) / dof)``, ``dof = n - covariates - 2``.
    The genotypes stream through Hail in blocks of ``block_size`` variants per Spark partition, and each
    block is one matrix product ``X_block @ [R, Q]`` in Hail's native BLAS (OpenBLAS where installed).
``linear_regression_rows``
    Hail's own method with the phenotype list ``y=[...]``. Its Scala code multiplies with a pure-Java BLAS
    on machines where the netlib JNI library does not load (Debian 12 and current Ubuntu: it needs
    ``libgfortran.so.3``): 25.9 s against the blocked engine's 15.2 s for the whole association pass on
    5,000 samples x 50,000 variants x 128 dimensions here, both timed after a first pass had warmed the JVM
    (``benchmarks/gwas_bench.py``).

``-log10 p`` is computed from the t statistic in log space, so it stays finite where ``p`` underflows;
``p = 10^-(-log10 p)``.

Joint test of a set of dimensions (on by default, ``gwas.joint_test``): per variant and per set S of ``p``
dimensions (each UDIP table, and all tables together when there are several), the single-predictor
multivariate test (one-predictor MANOVA: Wilks' lambda, Hotelling's T², the F test of the phenotype block in
the regression of the dosage on ``[1, covariates, Y_S]``)::

    R² = x'R_S (R_S'R_S)^-1 R_S'x / x_r'x_r,   F = (R²/r) / ((1 - R²)/(n - k - r))  on (r, n - k - r) df

with ``k`` the columns of ``[1, covariates]`` and ``r`` the rank of ``R_S`` (``p`` unless dimensions are
collinear). It is computed from the product the engine has anyway: with the thin SVD ``R_S = U D V'``,
``x'R_S (R_S'R_S)^-1 R_S'x = |x'R_S V D^-1|²`` (the squared length of ``x`` projected on an orthonormal basis of
R_S's columns), so each block needs one more small product, ``x'R`` (block x dims) by the fixed
``V D^-1`` (dims x r). The SVD of R_S works at R_S's condition number where inverting R_S'R_S would square it,
and its singular values give the rank: directions with ``d_i < JOINT_RANK_RTOL * d_max`` are dropped (and
reported) instead of amplifying rounding. ``-log10 p`` comes from the F distribution's log upper tail (exact
far in the tail). The test assumes multivariate-normal residuals with a common covariance; n - k - r is
refused below 1 and warned below ``JOINT_MIN_DF2_PER_DF1 * r``.

Output Hail Table (``gwas.ht``), keyed by ``locus, alleles``; array fields are indexed like the global
``dimensions``: ``rsid, variant_id, n, effect_allele_frequency, call_rate, mac, info, hwe_p, qc_fail,
beta[], standard_error[], t_stat[], p_value[], neg_log_10_p_value[]``; globals ``dimensions,
covariates, n_samples, dof, engine``. With the joint test: ``joint_statistic[], joint_p_value[],
joint_neg_log_10_p_value[]`` indexed like the global ``joint_sets`` (``name, dimensions, df1, df2,
dropped_directions``). A variant without variation after the covariates are projected out
(monomorphic, or all genotypes missing) has missing statistics.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from udip_gwas.exceptions import InputError
from udip_gwas.genetics.genotypes import QC_FIELDS, annotate_variant_qc
from udip_gwas.genetics.phenotypes import AnalysisSet

log = logging.getLogger(__name__)

ENGINES = ("auto", "blocked", "linear_regression_rows")
_STAT_FIELDS = ("beta", "standard_error", "t_stat", "p_value", "neg_log_10_p_value")

#: a dimension whose covariate-residualised sum of squares is at most this fraction of its sum of squares about
#: its mean has nothing left to test (it is constant, or a linear function of the covariates: R² >= 1 - 1e-8)
DEGENERATE_RTOL = 1e-8
#: a variant-dimension pair whose residual sum of squares is at most this fraction of the dimension's
#: residualised sum of squares (``dof / (dof + t²)``) is at rounding level, a fit no real data gives: it gets no
#: statistics (float64 sums of squares carry about 1e-16 relative error; 1e-10 leaves room for the product)
RSS_RTOL = 1e-10
#: joint test: an SVD direction of a set's residualised phenotypes with singular value at most this fraction of the
#: largest is dropped (its variance is 1e-12 of the largest: rounding level for float64 sums of squares)
JOINT_RANK_RTOL = 1e-6
#: joint test: below this many error degrees of freedom per tested direction (n - k - r < 10 r) the F test leans
#: on the normality of the residuals, and a warning says so
JOINT_MIN_DF2_PER_DF1 = 10
_JOINT_FIELDS = ("joint_statistic", "joint_p_value", "joint_neg_log_10_p_value")


def joint_whitening(resid: np.ndarray, sets: list[tuple[str, list[int]]], *, n_basis: int) -> tuple[np.ndarray, list]:
    """The joint test's fixed matrix and its sets.

    Parameters
    ----------
    resid
        Covariate-residualised phenotypes (samples x dimensions).
    sets
        ``(name, column indices)`` per set.
    n_basis
        ``k``: the columns of ``[1, covariates]``.

    Returns
    -------
    w, info
        ``w`` (dimensions x total rank): per set, side by side, ``V D^-1`` of the set's thin SVD on its rows
        (zeros elsewhere), so that ``x'R @ w`` holds each set's orthonormal-basis projections; ``info`` per
        set: ``dict(name, dimensions (indices), df1, df2, dropped_directions, start, stop)`` (its columns of w).
    """
    n = resid.shape[0]
    blocks, info, start = [], [], 0
    for name, idx in sets:
        _, d, vt = np.linalg.svd(resid[:, idx], full_matrices=False)
        keep = d > JOINT_RANK_RTOL * d.max() if len(d) and d.max() > 0 else np.zeros(len(d), dtype=bool)
        r = int(keep.sum())
        df2 = n - n_basis - r
        if r == 0:
            raise InputError(f"gwas joint test of set {name}: no dimension varies after the covariates")
        if df2 < 1:
            raise InputError(f"gwas joint test of set {name}: {n} samples, {n_basis} intercept and covariate columns "
                             f"and {r} dimensions leave n - k - p = {df2} error degrees of freedom; the test needs at "
                             "least 1 (and 10 per dimension to lean little on normality): analyse more subjects, "
                             "fewer dimensions, or set gwas.joint_test = false")
        if df2 < JOINT_MIN_DF2_PER_DF1 * r:
            log.warning("gwas joint test of set %s: n - k - p = %d error degrees of freedom for %d dimensions (fewer "
                        "than %d per dimension): the F test's p-values lean on multivariate-normal residuals", name,
                        df2, r, JOINT_MIN_DF2_PER_DF1)
        if r < len(idx):
            log.warning("gwas joint test of set %s: the %d dimensions span %d directions; %d near-collinear "
                        "direction(s) left out (df1 = %d)", name, len(idx), r, len(idx) - r, r)
        w = np.zeros((resid.shape[1], r))
        w[idx, :] = vt[keep].T / d[keep]
        blocks.append(w)
        info.append(dict(name=name, dimensions=list(idx), df1=r, df2=df2, dropped_directions=len(idx) - r,
                         start=start, stop=start + r))
        start += r
    return np.hstack(blocks), info


def joint_segments(info) -> np.ndarray:
    """(total rank x sets) 0/1 matrix that sums each set's columns of :func:`joint_whitening`'s projections."""
    seg = np.zeros((info[-1]["stop"], len(info)))
    for j, s in enumerate(info):
        seg[s["start"]:s["stop"], j] = 1.0
    return seg


def joint_f(xr, xrxr, w, seg, df_ratio):
    """The joint F per row and set (a Hail ndarray, rows x sets) from ``x'R`` (rows x dimensions), ``x_r'x_r``
    (rows x 1) and the globals ``w`` (:func:`joint_whitening`), ``seg`` (:func:`joint_segments`) and ``df_ratio``
    (1 x sets: ``df2 / df1``). ``F = (R²/df1) / ((1 - R²)/df2)`` with ``R² = |x'U|² / x_r'x_r``; ``1 - R²`` is
    taken from the sums (``(x_r'x_r - |x'U|²) / x_r'x_r``), so the ratio is
    ``|x'U|² / (x_r'x_r - |x'U|²) * df2/df1``."""
    z = xr @ w
    ss = (z * z) @ seg
    return ss / (xrxr - ss) * df_ratio


def joint_nlp(f, df1: int, df2: int):
    """``-log10 p`` of an F statistic from its log upper tail (finite where p underflows); missing where F is not
    finite or shows an exact fit (``1 - R²`` at rounding level, :data:`RSS_RTOL`)."""
    import hail as hl

    ok = hl.is_finite(f) & (f >= 0) & (f < df2 / df1 * (1.0 / RSS_RTOL - 1.0))
    return hl.or_missing(ok, -hl.pF(f, df1, df2, lower_tail=False, log_p=True) / np.log(10.0))


def _joint_globals(joint) -> dict:
    import hail as hl

    w, info = joint
    return {"_w": hl.nd.array(w), "_seg": hl.nd.array(joint_segments(info)),
            "_dfr": hl.nd.array(np.array([[s["df2"] / s["df1"] for s in info]]))}


def _joint_row(f_at, info) -> dict:
    """The three joint fields of one variant from ``f_at(j)``, its F for set j."""
    import hail as hl

    nlp = hl.array([hl.rbind(f_at(j), lambda f, s=s: joint_nlp(f, s["df1"], s["df2"])) for j, s in enumerate(info)])
    stat = hl.array([hl.rbind(f_at(j), lambda f, s=s: hl.or_missing(hl.is_defined(joint_nlp(f, s["df1"], s["df2"])),
                                                                      f)) for j, s in enumerate(info)])
    return dict(joint_statistic=stat, joint_neg_log_10_p_value=nlp, joint_p_value=nlp.map(_p_from_nlp))


def neg_log10_p_expr(t, dof):
    """Two-sided ``-log10 p`` of a t statistic with ``dof`` degrees of freedom, without underflow."""
    import hail as hl

    return -(hl.log(2.0) + hl.pT(-hl.abs(t), dof, lower_tail=True, log_p=True)) / hl.log(10.0)


#: Hail's matrix-product check per BLAS library found, once per process
_BLAS_CHECKED: dict[str, bool] = {}


def native_blas_available() -> bool:
    """Whether Hail's ndarray matrix product (native BLAS through JNA) works in this Hail session.

    The shared library is looked for and loaded from Python first: without one, Hail's JNA load fails on a
    JVM thread and the Python call waits for ever (measured: a 300 s timeout with libblas.so.3 removed).
    """
    import ctypes
    import ctypes.util

    import hail as hl

    name = ctypes.util.find_library("blas")
    key = name or ""  # "" stands for no library found
    if key in _BLAS_CHECKED:  # the discovery and replication GWAS of one run ask twice
        return _BLAS_CHECKED[key]
    try:
        if name is None:
            raise OSError("no libblas found by the dynamic linker")
        ctypes.CDLL(name)
    except OSError as err:
        log.warning("no BLAS library (%s); install OpenBLAS (Debian: libopenblas0) for the blocked association "
                    "engine; using Hail's linear_regression_rows", err)
        _BLAS_CHECKED[key] = False
        return False
    try:
        value = hl.eval(hl.nd.array([[1.0, 2.0]]) @ hl.nd.array([[3.0], [4.0]]))
        ok = float(value[0, 0]) == 11.0
    except Exception as err:  # the JVM reports a missing libblas as a FatalError/UnsatisfiedLinkError
        log.warning("Hail's native BLAS did not load (%s); install OpenBLAS (Debian: libopenblas0) for the "
                    "blocked association engine", str(err).splitlines()[0][:200])
        ok = False
    _BLAS_CHECKED[key] = ok
    return ok


def resolve_engine(engine: str) -> str:
    """``auto`` becomes ``blocked`` when Hail's native BLAS loads, else ``linear_regression_rows``."""
    if engine not in ENGINES:
        raise InputError(f"gwas.engine: {engine!r} is not one of {', '.join(ENGINES)}")
    if engine == "auto":
        return "blocked" if native_blas_available() else "linear_regression_rows"
    if engine == "blocked" and not native_blas_available():
        raise InputError("gwas.engine = 'blocked' needs a BLAS library Hail can load (libblas.so.3; Debian: "
                         "libopenblas0); install one or set gwas.engine = 'auto' or 'linear_regression_rows'")
    return engine


def gwas_all_dimensions(mt, analysis: AnalysisSet, *, qc: dict, block_size: int = 128, engine: str = "auto",
                        samples: list[str] | None = None, joint_sets: list[tuple[str, list[str]]] | None = None):
    """Run the association of every phenotype in ``analysis`` on the MatrixTable ``mt``.

    Parameters
    ----------
    mt
        From :func:`udip_gwas.genetics.genotypes.import_genotypes` (entry field ``dosage``).
    analysis
        The joined samples (:func:`udip_gwas.genetics.phenotypes.build_analysis_set`).
    qc
        Keyword arguments of :func:`udip_gwas.genetics.genotypes.annotate_variant_qc`.
    block_size
        Variants per matrix product.
    engine
        ``auto``, ``blocked`` or ``linear_regression_rows`` (module docstring).
    samples
        The MatrixTable's column ids in column order, where the caller has collected them already (saves a
        Hail job); collected here otherwise.
    joint_sets
        ``(name, dimension names)`` per set of the joint test (module docstring); None or empty: no joint test.

    Returns
    -------
    hail.Table
        See the module docstring. Variants failing QC are kept with ``qc_fail`` set.
    """
    import hail as hl

    engine = resolve_engine(engine)
    # choose_cols by column index rather than a filter_cols condition, which Hail evaluates per entry
    keep = set(analysis.table["IID"].astype(str))
    columns = [str(s) for s in (mt.s.collect() if samples is None else samples)]
    chosen = [i for i, s in enumerate(columns) if s in keep]
    mt = mt.choose_cols(chosen)
    # the analysed subjects' rows in the MatrixTable's column order: both engines index them by column
    table = (analysis.table.assign(IID=analysis.table["IID"].astype(str)).set_index("IID")
             .loc[[columns[i] for i in chosen]])
    q = _covariate_basis(table, analysis.covariates)
    mt = annotate_variant_qc(mt, **qc)
    n = len(table)
    dof = n - q.shape[1] - 1
    y = table[analysis.phenotypes].to_numpy(dtype=np.float64)
    resid = y - q @ (q.T @ y)
    joint = None
    if joint_sets:
        where = {d: i for i, d in enumerate(analysis.phenotypes)}
        joint = joint_whitening(resid, [(name, [where[d] for d in dims if d in where]) for name, dims in joint_sets],
                                n_basis=q.shape[1])
    if engine == "blocked":
        res = _blocked(mt, y, q, block_size=block_size, dof=dof, joint=joint)
    else:
        res = _hail_lrr(mt, table, analysis, block_size=block_size)
        res = res.annotate(neg_log_10_p_value=res.t_stat.map(lambda t: neg_log10_p_expr(t, dof)))
        res = res.annotate(p_value=res.neg_log_10_p_value.map(_p_from_nlp))
        if joint:
            res = _joint_from_lrr(res, (resid ** 2).sum(axis=0), dof=dof, joint=joint)
    extra = _JOINT_FIELDS if joint else ()
    res = _drop_exact_fits(res.select("rsid", "variant_id", "n", *QC_FIELDS, *_STAT_FIELDS, *extra), dof=dof,
                           n_dims=len(analysis.phenotypes))
    globals_ = dict(dimensions=list(analysis.phenotypes), covariates=list(analysis.covariates), n_samples=n,
                    dof=dof, engine=engine)
    if joint:
        globals_["joint_sets"] = [
            hl.Struct(name=s["name"], dimensions=[analysis.phenotypes[i] for i in s["dimensions"]], df1=s["df1"],
                      df2=s["df2"], dropped_directions=s["dropped_directions"]) for s in joint[1]]
    return res.select_globals(**globals_)


def joint_sets_of(ht) -> list:
    """The joint test's sets of a gwas table (``name, dimensions, df1, df2, dropped_directions``); empty when the
    table has no joint test."""
    import hail as hl

    return list(hl.eval(ht.joint_sets)) if "joint_sets" in ht.globals.dtype.fields else []


def _joint_from_lrr(res, yy: np.ndarray, *, dof: int, joint):
    """The joint test from ``linear_regression_rows``' per-dimension beta and se: ``x_r'x_r = yy_d / (dof se_d² +
    beta_d²)`` and ``x'R_d = beta_d x_r'x_r`` (any dimension gives the same ``x_r'x_r``; the first is used)."""
    import hail as hl

    res = res.annotate_globals(**_joint_globals(joint))
    res = res.annotate(_xrxr=float(yy[0]) / (dof * res.standard_error[0] ** 2 + res.beta[0] ** 2))
    xr = hl.nd.array(res.beta.map(lambda b: b * res._xrxr)).reshape((1, -1))
    res = res.annotate(_f=joint_f(xr, hl.nd.array([[res._xrxr]]), res._w, res._seg, res._dfr))
    fields = _joint_row(lambda j: res._f[0, j], joint[1])
    ok = hl.is_defined(res.beta) & hl.is_defined(res.beta[0])
    res = res.annotate(**{k: hl.or_missing(ok, v) for k, v in fields.items()})
    return res.drop("_xrxr", "_f").drop(*_joint_globals(joint))


def _drop_exact_fits(res, *, dof: int, n_dims: int):
    """Missing statistics for the variant-dimension pairs whose residual sum of squares is at rounding level
    (:data:`RSS_RTOL`), and where t is not finite."""
    import hail as hl

    limit = dof * (1.0 / RSS_RTOL - 1.0)
    keep = hl.range(n_dims).map(lambda j: res.t_stat[j] * res.t_stat[j] < limit)
    res = res.annotate(_keep=keep)
    # a variant without statistics (no variation left) keeps its missing arrays
    return res.annotate(**{f: hl.or_missing(hl.is_defined(res[f]), hl.range(n_dims).map(
        lambda j: hl.or_missing(res._keep[j], res[f][j]))) for f in _STAT_FIELDS}).drop("_keep")


def degenerate_dimensions(analysis: AnalysisSet) -> pd.DataFrame:
    """The dimensions with nothing left to test after the transform and the covariate projection
    (:data:`DEGENERATE_RTOL`): ``dimension, reason``, where the reason is ``constant over the analysed subjects``
    or ``a linear function of the covariates``. Autoencoders leave dead latent units, and a rank-based inverse
    normal transform keeps a constant column constant; such a dimension's p-values would be rounding noise."""
    y = analysis.table[analysis.phenotypes].to_numpy(dtype=np.float64)
    centred = ((y - y.mean(axis=0)) ** 2).sum(axis=0)
    q = _covariate_basis(analysis.table, analysis.covariates)
    resid = ((y - q @ (q.T @ y)) ** 2).sum(axis=0)
    scale = np.maximum((y ** 2).sum(axis=0), np.finfo(float).tiny)
    rows = []
    for name, c, r, s in zip(analysis.phenotypes, centred, resid, scale):
        if c <= 1e-24 * s:  # no spread at all beyond rounding of its mean
            rows.append((name, "constant over the analysed subjects"))
        elif r <= DEGENERATE_RTOL * c:
            rows.append((name, f"a linear function of the covariates (residual sum of squares {r / c:.2g} of its "
                               "variation)"))
    return pd.DataFrame(rows, columns=["dimension", "reason"])


def _covariate_basis(table, covariates: list[str]) -> np.ndarray:
    """Orthonormal basis (samples x 1 + covariates) of the intercept and the covariate columns of ``table``;
    collinear covariates are refused (either engine would return meaningless statistics)."""
    design = np.column_stack([np.ones(len(table)), table[covariates].to_numpy(dtype=np.float64)])
    q, r = np.linalg.qr(design)
    diag = np.abs(np.diag(r))
    if diag.min() <= 1e-10 * diag.max():
        raise InputError("gwas: the covariates are collinear (with each other or the intercept): "
                         + ", ".join(covariates) + "; drop the redundant column(s)")
    return q


def _hail_lrr(mt, table, analysis: AnalysisSet, *, block_size: int):
    """Hail's ``linear_regression_rows`` over the chosen columns; ``table`` holds their rows in column order."""
    import hail as hl

    # the phenotypes and covariates travel as one ndarray literal indexed by the column index:
    # hl.Table.from_pandas converts value by value in Python (28 s for 5,000 x 135 values)
    values = hl.nd.array(table[[*analysis.phenotypes, *analysis.covariates]].to_numpy(dtype=np.float64))
    mt = mt.add_col_index("_col_index")
    mt = mt.annotate_cols(_values=values[mt._col_index, :])
    p = len(analysis.phenotypes)
    ys = [mt._values[j] for j in range(p)]
    covs = [1.0] + [mt._values[p + j] for j in range(len(analysis.covariates))]
    res = hl.linear_regression_rows(y=ys, x=mt.dosage, covariates=covs, block_size=block_size,
                                    pass_through=["rsid", "variant_id", *QC_FIELDS])
    return res.drop("y_transpose_x", "sum_x", "p_value")


def _blocked(mt, y: np.ndarray, q: np.ndarray, *, block_size: int, dof: int, joint=None):
    """The blocked engine (module docstring): residualised phenotypes, one matrix product per block.

    ``y`` (samples x dimensions) and ``q`` (the covariate basis) have their rows in ``mt``'s column order,
    the order the entries are localised in.
    """
    import hail as hl

    resid = y - q @ (q.T @ y)
    yy = (resid ** 2).sum(axis=0)
    n_samples, n_dims = y.shape
    ht = mt.select_entries("dosage")._localize_entries("_entries", "_cols")
    extra = _joint_globals(joint) if joint else {}
    ht = ht.select_globals(_rq=hl.nd.array(np.hstack([resid, q])), _yy=hl.nd.array(yy), **extra)
    # a missing dosage becomes the variant's mean dosage (twice the allele frequency from the QC pass)
    ht = ht.annotate(_x=hl.rbind(2.0 * ht.effect_allele_frequency,
                                 lambda mean: ht._entries.map(lambda e: hl.or_else(e.dosage, mean))))
    ht = ht.drop("_entries")

    # Hail groups rows within partitions (keyed by each group's first row); each group is one row of a table
    # map, so its memory is freed group by group (the same work inside one partition-wide stream kept every
    # block's arrays until the partition ended: 16 GB on 5,000 x 50,000)
    grouped = ht._group_within_partitions("_rows", block_size)
    rows = grouped._rows
    x = hl.nd.array(rows.map(lambda row: row._x))              # variants x samples
    grouped = grouped.annotate(_prod=x @ grouped._rq, _xx=(x * x).sum(1))   # [x'R, x'Q] and x'x per variant
    # each step is its own field: an ndarray expression used inside the per-variant loops below would
    # otherwise be recomputed for every element
    xq = grouped._prod[:, n_dims:]
    grouped = grouped.annotate(_xrxr=grouped._xx - (xq * xq).sum(1))
    grouped = grouped.annotate(_beta=grouped._prod[:, :n_dims] / grouped._xrxr.reshape((-1, 1)))
    var = (grouped._yy.reshape((1, -1)) / grouped._xrxr.reshape((-1, 1)) - grouped._beta * grouped._beta) / dof
    grouped = grouped.annotate(_se=var.map(lambda v: hl.sqrt(v)))
    grouped = grouped.annotate(_t=grouped._beta / grouped._se)
    grouped = grouped.annotate(_nlp=grouped._t.map(lambda t: neg_log10_p_expr(t, dof)))
    grouped = grouped.annotate(_p=grouped._nlp.map(_p_from_nlp))
    if joint:
        grouped = grouped.annotate(_jf=joint_f(grouped._prod[:, :n_dims], grouped._xrxr.reshape((-1, 1)), grouped._w,
                                               grouped._seg, grouped._dfr))
    rows, xx, xrxr = grouped._rows, grouped._xx, grouped._xrxr

    def one(i):
        ok = xrxr[i] > 1e-9 * xx[i]
        stats = {name: hl.or_missing(ok, _row_of(m, i, n_dims))
                 for name, m in (("beta", grouped._beta), ("standard_error", grouped._se), ("t_stat", grouped._t),
                                 ("neg_log_10_p_value", grouped._nlp), ("p_value", grouped._p))}
        if joint:
            joint_fields = _joint_row(lambda j: grouped._jf[i, j], joint[1])
            stats.update({k: hl.or_missing(ok, v) for k, v in joint_fields.items()})
        return rows[i].drop("_x").annotate(n=hl.int32(n_samples), **stats)

    grouped = grouped.select(_out=hl.range(hl.len(rows)).map(one))
    # back to one row per variant, in the genotypes' order, keeping the partitions (an unkeyed explode
    # followed by a re-key would end in one partition)
    return grouped._map_partitions(lambda part: part.flatmap(lambda g: g._out._to_stream()))


def _p_from_nlp(nlp):
    """``p`` from ``-log10 p`` (0 where it underflows a double; the files then write it from -log10 p)."""
    import hail as hl

    return hl.exp(-nlp * np.log(10.0))


def _row_of(matrix, i, n_cols):
    """Row ``i`` of a 2-d Hail ndarray as an array."""
    import hail as hl

    return hl.range(n_cols).map(lambda j: matrix[i, j])


#: quantile-sketch size for locating each dimension's median (see :func:`exact_median_nlp`)
_LAMBDA_SKETCH_K = 5000
#: half-width, in fraction of the ranks, of the window around the sketch's median that is read exactly: 25
#: times the sketch's rank error at k = 5000, so the true median lies inside it
_MEDIAN_WINDOW = 0.005


def median_nlp_aggregation(ht, field: str = "neg_log_10_p_value"):
    """Per dimension, the QC-passing variants' count and the sketch's quantiles of ``-log10 p`` at 0.5 -/+
    :data:`_MEDIAN_WINDOW`: the first of the two passes of :func:`exact_median_nlp`, to combine with other
    aggregations in one pass over the table."""
    import hail as hl

    w = _MEDIAN_WINDOW
    return hl.agg.filter(hl.is_missing(ht.qc_fail), hl.agg.array_agg(lambda x: hl.struct(
        n=hl.agg.count_where(hl.is_defined(x)),
        bounds=hl.agg.approx_quantiles(x, [0.5 - w, 0.5 + w], k=_LAMBDA_SKETCH_K)), ht[field]))


def exact_median_nlp(ht, windows, field: str = "neg_log_10_p_value") -> list[float | None]:
    """The exact median of ``-log10 p`` per dimension over the QC-passing variants (the mean of the two middle
    values for an even count), from the windows of :func:`median_nlp_aggregation` and one more pass: the count
    below each window and the values inside it. Exact and repeatable, where Hail's quantile sketch alone is
    neither above about 5,000 variants (two passes over one table differed by up to 0.15 % in lambda)."""
    import hail as hl

    bounds = [(float(w.bounds[0]), float(w.bounds[1])) if w.n else (0.0, -1.0) for w in windows]
    pairs = hl.zip(ht[field], hl.literal(bounds))
    got = ht.aggregate(hl.agg.filter(hl.is_missing(ht.qc_fail), hl.agg.array_agg(lambda t: hl.struct(
        below=hl.agg.count_where(t[0] < t[1][0]),
        inside=hl.agg.filter((t[0] >= t[1][0]) & (t[0] <= t[1][1]), hl.agg.collect(t[0]))), pairs)))
    medians = []
    for w, g in zip(windows, got):
        if not w.n:
            medians.append(None)
            continue
        values = np.sort(np.asarray(g.inside, dtype=float))
        ranks = [(w.n - 1) // 2 - g.below, w.n // 2 - g.below]
        if min(ranks) < 0 or max(ranks) >= len(values):  # the sketch missed by more than the window
            log.warning("lambda GC: the exact median fell outside the sketch's window; using the sketch's")
            medians.append(float(np.mean(w.bounds)))
            continue
        medians.append(float(values[ranks].mean()))
    return medians


def lambda_gc_from_medians(medians) -> list[float]:
    """Lambda GC per dimension from the medians of ``-log10 p`` (:func:`exact_median_nlp`): the median chi-square
    (1 df) over its null value 0.4549 (the transform is monotone, so the median variant is the same)."""
    from scipy import stats

    expected = stats.chi2.ppf(0.5, 1)  # the null median, 0.4549
    return [float(stats.chi2.isf(10.0 ** -float(m), 1) / expected) if m is not None else float("nan")
            for m in medians]


def joint_lambda_from_medians(medians, sets) -> list[float]:
    """Lambda GC of the joint test per set on the F statistic's own null: the median F (from the median
    ``-log10 p``, :func:`exact_median_nlp`) over the median of F(df1, df2)."""
    from scipy import stats

    return [float(stats.f.isf(10.0 ** -float(m), s.df1, s.df2) / stats.f.median(s.df1, s.df2)) if m is not None
            else float("nan") for m, s in zip(medians, sets)]


def summarise_results(ht, *, best_per_dimension: bool = False) -> dict:
    """Two passes over a gwas table for its run summary: ``qc`` (variant count per QC outcome, ``pass`` for the
    passing ones), ``lambda_gc`` (per dimension, from the exact median: :func:`exact_median_nlp`), with the joint
    test ``joint_lambda_gc`` (per set, :func:`joint_lambda_from_medians`) and, with ``best_per_dimension``,
    ``best_nlp``: each dimension's largest ``-log10 p``."""
    import hail as hl

    sets = joint_sets_of(ht)
    aggs = {"qc": hl.agg.counter(hl.or_else(ht.qc_fail, "pass")), "median_windows": median_nlp_aggregation(ht)}
    if sets:
        aggs["joint_windows"] = median_nlp_aggregation(ht, "joint_neg_log_10_p_value")
    if best_per_dimension:
        aggs["best_nlp"] = hl.agg.array_agg(lambda x: hl.agg.max(x), ht.neg_log_10_p_value)
    agg = ht.aggregate(hl.struct(**aggs))
    joint_lambdas = []
    if sets:
        joint_lambdas = joint_lambda_from_medians(
            exact_median_nlp(ht, agg.joint_windows, "joint_neg_log_10_p_value"), sets)
        for s, lam in zip(sets, joint_lambdas):
            log.info("joint test of %s (F on %d, %d df): lambda GC %.3f", s.name, s.df1, s.df2, lam)
    qc_counts = {k: int(v) for k, v in agg.qc.items()}
    log.info("variant QC: %d variants, %d pass; removed %s", sum(qc_counts.values()), qc_counts.get("pass", 0),
             {k: v for k, v in qc_counts.items() if k != "pass"} or "none")
    lambdas = lambda_gc_from_medians(exact_median_nlp(ht, agg.median_windows))
    log.info("lambda GC: median %.3f (range %.3f-%.3f)", np.nanmedian(lambdas), np.nanmin(lambdas),
             np.nanmax(lambdas))
    return {"qc": qc_counts, "lambda_gc": lambdas, "best_nlp": agg.best_nlp if best_per_dimension else None,
            "joint_sets": sets, "joint_lambda_gc": joint_lambdas}
