"""Chromosome names, their order and the MHC per build (udip_gwas/genome.py)."""

from __future__ import annotations

import pytest

from udip_gwas.genome import MHC, PLINK_CODES, chromosome_key, chromosome_order, mhc_region


@pytest.mark.parametrize("name, key", [
    ("1", "1"), ("chr1", "1"), ("CHR1", "1"), ("01", "1"), (" chr22 ", "22"), (7, "7"),
    ("X", "X"), ("chrX", "X"), ("23", "X"), ("chr23", "X"), ("24", "Y"), ("y", "Y"),
    ("M", "MT"), ("chrM", "MT"), ("MT", "MT"), ("0", "0"), ("GL000192.1", "GL000192.1"),
])
def test_chromosome_key__spellings_of_one_chromosome_are_one(name, key):
    assert chromosome_key(name) == key


def test_chromosome_key__ambiguous_numeric_codes_are_left_alone():
    # PLINK's 25 is XY (analysed as X), GWAS-SSF's 25 is MT: only a file known to be PLINK's maps them
    assert chromosome_key("25") == "25" and chromosome_key("26") == "26"
    assert PLINK_CODES == {"23": "X", "24": "Y", "25": "X", "26": "MT"}


def test_chromosome_order__numeric_then_sex_then_mt_then_others():
    names = ["chrX", "10", "2", "MT", "1", "Y", "GL000192.1", "chr22"]
    assert sorted(names, key=chromosome_order) == ["1", "2", "10", "chr22", "chrX", "Y", "MT", "GL000192.1"]


def test_mhc_region__the_builds_own_or_the_users_bounds():
    assert mhc_region("GRCh37") == ("6", 28_477_797, 33_448_354)
    assert mhc_region("GRCh38") == ("6", 28_510_120, 33_480_577)
    # a user value equal to another build's default is the user's, not replaced
    assert mhc_region("GRCh38", *MHC["GRCh37"][1:]) == ("6", 28_477_797, 33_448_354)
    with pytest.raises(ValueError, match="both"):
        mhc_region("GRCh37", 1, None)
    with pytest.raises(ValueError, match="after end"):
        mhc_region("GRCh37", 5, 1)
    with pytest.raises(ValueError, match="reference genome 'hg19'"):
        mhc_region("hg19")
