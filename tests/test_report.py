"""The locus report's display (udip_gwas/annotation/report.py)."""

from __future__ import annotations

import re

import matplotlib
import pandas as pd

from udip_gwas.annotation.report import build_locus_report, write_html


def _loci_file(tmp_path):
    text = ("locus_id\tchromosome\tstart\tend\tlead_variant\tlead_rsid\tlead_position\tlead_dimension\tlead_beta\t"
            "lead_standard_error\tlead_p_value\tlead_neg_log_10_p_value\tn_significant_variants\tdimensions\tmhc\n"
            "L001\t6\t31000000\t31400000\t6:31200000:A:G\trs1\t31200000\tT1_004\t0.91\t0.0207\t6.3000e-363\t"
            "362.2006594505464\t1234\tT1_004\tTrue\n"
            "L002\t11\t5000\t9000\t11:7000:C:T\trs2\t7000\tT2_001\t-0.0572\t0.0109\t5.7204e-28\t27.242574\t3\t"
            "T2_001\tFalse\n")
    (tmp_path / "loci.tsv").write_text(text)
    return tmp_path / "loci.tsv"


def test_report__lead_p_is_text_from_neg_log10_p_and_numbers_are_formatted(tmp_path):
    loci = pd.read_csv(_loci_file(tmp_path), sep="\t", dtype={"chromosome": str, "lead_p_value": str})
    report = build_locus_report(loci, scores=None, nearest=None, overlapping=None)
    write_html(tmp_path / "r.html", title="t", report=report, gwas_summary=None, exclusions=None, lambda_gc=None,
               manhattan=None, qq=None, montages={})
    html = (tmp_path / "r.html").read_text()
    assert html.count("6.3000e-363") == 2 and html.count("5.7204e-28") == 2  # loci table and locus card
    assert not re.search(r">0(\.0+)?<", html)  # no p shown as 0
    assert "5.7203999999999996e-28" not in html and "chr6:31,000,000-31,400,000" in html
    assert "<div>significant variants</div><div>1,234</div>" in html


def test_report__a_table_read_as_numbers_still_shows_the_tiny_p(tmp_path):
    """Read without dtypes, pandas turns 6.3000e-363 into 0.0; the report writes p from -log10 p."""
    loci = pd.read_csv(_loci_file(tmp_path), sep="\t")
    assert loci["lead_p_value"].iloc[0] == 0.0
    write_html(tmp_path / "r.html", title="t", report=loci, gwas_summary=None, exclusions=None, lambda_gc=None,
               manhattan=None, qq=None, montages={})
    assert "6.3000e-363" in (tmp_path / "r.html").read_text()


def test_plots__writing_files_leaves_the_users_backend_alone(tmp_path):
    import numpy as np

    from udip_gwas.annotation.report import slice_montage

    before = matplotlib.get_backend()
    slice_montage(np.random.default_rng(0).random((8, 9, 7)), np.ones((8, 9, 7)), title="x")
    assert matplotlib.get_backend() == before
