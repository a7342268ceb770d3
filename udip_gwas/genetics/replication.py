"""Replication of discovery loci in an independent cohort.

For each locus, the lead variant is tested on its lead dimension in the replication cohort (same UDIP
model, same covariates). The locus replicates when the effect has the same sign and
``p < alpha / number of loci`` (Bonferroni over the loci tested); the nominal tier asks ``p < alpha``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

REPLICATION_COLUMNS = ["replication_beta", "replication_standard_error", "replication_neg_log_10_p_value",
                       "replication_n", "replication_same_sign", "replicated", "replicated_nominal",
                       "replication_status"]


def replicate(loci: pd.DataFrame, replication: pd.DataFrame, *, alpha: float = 0.05) -> pd.DataFrame:
    """Add replication columns to ``loci``.

    Parameters
    ----------
    loci
        Needs ``lead_variant, lead_dimension, lead_beta``.
    replication
        Statistics of the replication cohort for (variant, dimension) pairs: ``variant_id, dimension, beta,
        standard_error, neg_log_10_p_value, n``.

    Returns
    -------
    DataFrame
        ``loci`` plus :data:`REPLICATION_COLUMNS`; ``replication_status`` is ``replicated``, ``nominal``,
        ``not replicated`` or ``not tested`` (lead variant absent from the replication data).
    """
    out = loci.copy()
    rep = replication.set_index(["variant_id", "dimension"])
    n_tested = 0
    rows = []
    for r in out.itertuples():
        key = (r.lead_variant, r.lead_dimension)
        if key in rep.index:
            x = rep.loc[key]
            rows.append((float(x["beta"]), float(x["standard_error"]), float(x["neg_log_10_p_value"]), int(x["n"])))
            n_tested += 1
        else:
            rows.append((np.nan, np.nan, np.nan, 0))
    cols = pd.DataFrame(rows, columns=REPLICATION_COLUMNS[:4], index=out.index)
    out = pd.concat([out, cols], axis=1)
    threshold = -np.log10(alpha / max(n_tested, 1))
    tested = out["replication_n"] > 0
    same = tested & (np.sign(out["replication_beta"]) == np.sign(out["lead_beta"]))
    out["replication_same_sign"] = same.where(tested, other=pd.NA)
    out["replicated"] = same & (out["replication_neg_log_10_p_value"] > threshold)
    out["replicated_nominal"] = same & (out["replication_neg_log_10_p_value"] > -np.log10(alpha))
    out["replication_status"] = np.select(
        [~tested, out["replicated"], out["replicated_nominal"]], ["not tested", "replicated", "nominal"],
        default="not replicated")
    out.attrs["replication_threshold_p"] = alpha / max(n_tested, 1)
    return out
