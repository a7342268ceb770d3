"""UDIP and covariate tables, the sample join and the transforms (udip_gwas/genetics/phenotypes.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from udip_gwas.genetics.phenotypes import build_analysis_set, inverse_normal


def test_sample_join__counts_and_reasons(gwas_run):
    excl = pd.read_csv(gwas_run["out"] / "excluded_subjects.tsv", sep="\t")
    assert (excl["stage"] == "gwas").all()
    no_udip = excl[excl["reason"].str.startswith("missing UDIP values")]
    assert set(no_udip["IID"]) == set(gwas_run["udips"]["IID"].iloc[:5])
    miss_cov = excl[excl["reason"].str.startswith("missing covariate")]
    cov = gwas_run["cov"].set_index("IID")
    for row in miss_cov.itertuples():
        named = row.reason.split(": ", 1)[1].split(", ")
        assert all(pd.isna(cov.loc[row.IID, c]) for c in named)
    assert len(gwas_run["samples"]) + len(excl) == len(gwas_run["fam"])


def test_inverse_normal__ranks_to_normal_quantiles():
    x = np.array([10.0, -3.0, 2.0, 2.0, 100.0])
    z = inverse_normal(x)
    assert np.argsort(z[[1, 2, 0, 4]]).tolist() == [0, 1, 2, 3]
    assert z[2] == z[3]
    from scipy import stats
    assert z[4] == pytest.approx(stats.norm.ppf((5 - 0.375) / 5.25))


def test_build_analysis_set__categorical_and_errors():
    udips = pd.DataFrame({"IID": ["a", "b", "c", "d"], "T1_001": [1.0, 2.0, 3.0, 4.0]})
    cov = pd.DataFrame({"FID": list("abcd"), "IID": list("abcd"), "site": ["x", "y", "z", "y"],
                        "age": [1, 2, 3, np.nan]})
    aset = build_analysis_set(udips, cov, ["a", "b", "c", "d", "e"], categorical=["site"], transform="none",
                              remove={"a"})
    assert aset.table["IID"].tolist() == ["b", "c"]
    assert aset.covariates == ["site_z", "age"]  # site_y is constant among b and c and is dropped
    reasons = dict(zip(aset.excluded["IID"], aset.excluded["reason"]))
    assert reasons == {"a": "in the remove list", "d": "missing covariate value(s): age",
                       "e": "no UDIPs (no usable image)"}
    with pytest.raises(ValueError, match=r"covariate 'site' is not numeric: 'x' for subject a \(4 such"):
        build_analysis_set(udips, cov, ["a"], transform="none")
    # one stray text value in a numeric column: that value and its subject are named
    typo = cov.assign(age=["1", "2", "3O", "4"])
    with pytest.raises(ValueError, match=r"covariate 'age' is not numeric: '3O' for subject c \(1 such"):
        build_analysis_set(udips, typo, ["a"], categorical=["site"], transform="none")
    with pytest.raises(ValueError, match=r"covariate column\(s\) \['bmi'\] not found"):
        build_analysis_set(udips, cov, ["a"], covariate_columns=["bmi"], transform="none")


def test_read_udip_tables__a_text_value_is_named_with_its_subject(tmp_path):
    from udip_gwas.genetics.phenotypes import read_udip_tables

    (tmp_path / "u.tsv").write_text("IID\tT1_001\tT1_002\na\t0.1\t0.2\nb\tNA\t0.3\nc\t0,4\t0.5\n")
    with pytest.raises(ValueError, match=r"u.tsv: non-numeric phenotype column\(s\) \['T1_001'\]; in T1_001: "
                                         r"'0,4' for subject c \(1 such"):
        read_udip_tables([tmp_path / "u.tsv"])
    # numbers stored as text (a parquet string column): the column is named, with no value to show
    pd.DataFrame({"IID": ["a", "b"], "T1_001": ["0.1", "0.2"]}).to_parquet(tmp_path / "u.parquet")
    with pytest.raises(ValueError, match=r"u.parquet: non-numeric phenotype column\(s\) \['T1_001'\]; NA"):
        read_udip_tables([tmp_path / "u.parquet"])
