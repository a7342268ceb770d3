"""The output-column registry and the p-value text (udip_gwas/columns.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from udip_gwas import columns


def test_outputs_page__is_generated_from_the_registry():
    page = Path(__file__).resolve().parents[1] / "docs" / "outputs.md"
    assert page.read_text() == columns.markdown_tables(), "regenerate: python -m udip_gwas.columns > docs/outputs.md"


def test_registry__names_unique_per_table_and_sumstats_in_gwas_ssf_order():
    for table, cols in columns.TABLES.items():
        names = columns.names(cols)
        assert len(names) == len(set(names)), table
    assert columns.names(columns.SUMSTATS)[:8] == [
        "chromosome", "base_pair_location", "effect_allele", "other_allele", "beta", "standard_error",
        "effect_allele_frequency", "p_value"]


@pytest.mark.parametrize("nlp, text", [
    (0.0, "1.0000e+00"), (1.30103, "5.0000e-02"), (7.30103, "5.0000e-08"), (299.5, "3.1623e-300"),
    (300.0, "1.0000e-300"), (362.2006594505464, "6.3000e-363"), (411.5, "3.1623e-412"), (400.0, "1.0000e-400"),
    (400.00000001, "1.0000e-400"), (400.99999999, "1.0000e-401"),
])
def test_p_text__from_neg_log10_p_never_zero(nlp, text):
    assert columns.p_text(nlp) == text
    mantissa, exponent = text.split("e")
    # the text's own -log10 is the input (to the 5 digits written)
    assert -(np.log10(float(mantissa)) + int(exponent)) == pytest.approx(nlp, abs=5e-5)


def test_p_text__missing_is_na():
    assert columns.p_text(float("nan")) == "NA" and columns.p_text(None) == "NA"


def test_p_text__equals_the_gwas_ssf_writers_hail_expression(hail_session):
    hl = hail_session
    from udip_gwas.genetics.sumstats import _p_text

    nlps = [0.0, 0.5, 3.2, 7.30103, 45.123456, 299.99, 300.0, 300.4, 362.2006594505464, 400.0, 400.99999999,
            1234.56789]
    got = hl.eval(hl.literal(nlps).map(lambda x: _p_text(hl.exp(-x * np.log(10.0)), x)))
    assert got == [columns.p_text(x) for x in nlps]
