"""Genome conventions, each in one place: chromosome names, their order, and the MHC per build.

Every module that compares, sorts or writes chromosome names goes through :func:`chromosome_key` (Python
values) or :func:`contig_name` (Hail loci), so ``chr1``, ``1`` and ``01`` are one chromosome everywhere.

References
----------
PLINK 1.9 / 2 chromosome codes: https://www.cog-genomics.org/plink/2.0/data#irreg_output
(23 = X, 24 = Y, 25 = XY pseudo-autosomal, analysed as X; 26 = MT; 0 = unplaced).
"""

from __future__ import annotations

#: numeric chromosome codes that mean one thing wherever they appear (PLINK, GWAS-SSF): 23 X, 24 Y.
#: PLINK's 25 (XY) and 26 (MT) are not here: GWAS-SSF numbers MT 25, so those codes only make sense for a
#: file known to be PLINK's (see :data:`PLINK_CODES`)
_NUMERIC_SEX_CODES = {"23": "X", "24": "Y"}
#: other spellings of the mitochondrial chromosome
_MT_NAMES = {"M": "MT", "MT": "MT"}

#: the conventional genome-wide significance threshold for one trait (Risch & Merikangas, Science 1996;
#: Pe'er et al., Genet Epidemiol 2008); the loci stage's own threshold is the key ``loci.p_threshold``
GENOME_WIDE_P = 5e-8

#: PLINK's numeric codes and what they are analysed as (.bim files)
PLINK_CODES = {"23": "X", "24": "Y", "25": "X", "26": "MT"}

#: MHC bounds per genome build (1-based, inclusive; chromosome as :func:`chromosome_key` writes it).
#: GRCh37: 6:28,477,797-33,448,354, the extended MHC used by the Genome Reference Consortium; GRCh38: the
#: same region lifted over (6:28,510,120-33,480,577)
MHC = {"GRCh37": ("6", 28_477_797, 33_448_354), "GRCh38": ("6", 28_510_120, 33_480_577)}


def chromosome_key(name) -> str:
    """The canonical name of a chromosome: no ``chr`` prefix, no leading zeros, upper case, ``X``/``Y`` for
    23/24 and ``MT`` for ``M``. ``chr1``, ``1`` and ``01`` give ``1``; ``chrX`` and ``23`` give ``X``."""
    c = str(name).strip()
    c = c[3:] if c[:3].lower() == "chr" else c
    c = c.upper()
    if c.isdigit():
        c = c.lstrip("0") or "0"
        return _NUMERIC_SEX_CODES.get(c, c)
    return _MT_NAMES.get(c, c)


def chromosome_order(name) -> tuple[int, str]:
    """Sort key: 1..22 numerically, then X, Y, MT and any other name alphabetically."""
    c = chromosome_key(name)
    if c.isdigit():
        return int(c), ""
    return {"X": 23, "Y": 24, "MT": 26}.get(c, 100), c


def contig_name(locus):
    """A Hail locus's chromosome as the output files write it: the contig without a ``chr`` prefix (GRCh38
    contigs are ``chr1``..., GRCh37's ``1``...)."""
    return locus.contig.replace("^chr", "")


def mhc_region(reference_genome: str, start: int | None = None, end: int | None = None) -> tuple[str, int, int]:
    """The MHC on ``reference_genome``: the build's own bounds (:data:`MHC`), or the user's ``start``/``end``
    where given (both, or neither)."""
    if reference_genome not in MHC:
        raise ValueError(f"mhc_region: reference genome {reference_genome!r} is not one of {sorted(MHC)}")
    chrom, default_start, default_end = MHC[reference_genome]
    if (start is None) != (end is None):
        raise ValueError("mhc_region: give both the MHC start and end, or neither")
    if start is None:
        return chrom, default_start, default_end
    if start > end:
        raise ValueError(f"mhc_region: start {start} is after end {end}")
    return chrom, int(start), int(end)
