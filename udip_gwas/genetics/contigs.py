"""Which variants are analysed: chromosome names as the reference genome spells them, and every variant left
out with its reason (``variants_excluded.tsv``), so nothing is dropped silently and Hail never meets a locus
it cannot place.

Rules, in order (the first that applies is the reason):

1. a malformed record (a .bim line without six fields, a position that is not a whole number);
2. chromosome 0 (PLINK's unplaced) or position 0 (PLINK's unknown position);
3. a contig the reference genome does not have (decoys, alt and unplaced contigs, another build's names);
4. a position beyond the contig's end;
5. a chromosome outside ``gwas.chromosomes``: ``autosomes`` (1-22, the published analysis, the default) or
   ``autosomes_and_x`` (also X, with PLINK's XY pseudo-autosomal code 25 analysed as X).

Chromosome names are read as :func:`udip_gwas.genome.chromosome_key` reads them (``chr1``, ``1``, ``01``) and,
in PLINK files, PLINK's numeric codes (23 X, 24 Y, 25 XY as X, 26 MT).

Chromosome X dosage model: PLINK stores a male's hemizygous call as a homozygote, so male dosages are 0 or 2
and female dosages 0, 1 or 2; with sex among the covariates this is PLINK 2 ``--glm``'s default
(``xchr-model`` 2, which adds sex itself). Hardy-Weinberg is tested on autosomes only.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from udip_gwas.columns import VARIANTS_EXCLUDED, names
from udip_gwas.genome import PLINK_CODES, chromosome_key

log = logging.getLogger(__name__)

#: the chromosome sets ``gwas.chromosomes`` names
CHROMOSOME_SETS = {
    "autosomes": tuple(str(i) for i in range(1, 23)),
    "autosomes_and_x": tuple(str(i) for i in range(1, 23)) + ("X",),
}
#: columns of ``variants_excluded.tsv``
EXCLUDED_COLUMNS = names(VARIANTS_EXCLUDED)
#: the contig name written into a checked .bim copy for a record Hail must skip (no reference genome has it)
SKIP_CONTIG = "udip_gwas_excluded"


def reference_contig(canonical: str, reference_genome: str) -> str:
    """A canonical chromosome name (``1``, ``X``, ``MT``) as ``reference_genome`` spells it."""
    if reference_genome == "GRCh38":
        return "chrM" if canonical == "MT" else f"chr{canonical}"
    return canonical


def canonical(name, *, plink: bool) -> str:
    """The canonical chromosome of a file's name; with ``plink``, PLINK's numeric codes 23-26 too."""
    key = chromosome_key(name)
    return PLINK_CODES.get(key, key) if plink else key


def contig_recoding(reference_genome: str) -> dict[str, str]:
    """Hail's ``contig_recoding`` for BGEN and VCF files: the other names a file may use for a chromosome (``01``,
    ``chr1`` or ``1``, PLINK's 23-26, ``M``) -> the reference genome's name. Hail only recodes to contigs the
    reference has; the chromosomes outside ``gwas.chromosomes`` are filtered out after the import
    (:func:`analysed_contigs`) and contigs the reference lacks are skipped by ``skip_invalid_loci``."""
    names: dict[str, set[str]] = {c: set() for c in CHROMOSOME_SETS["autosomes_and_x"] + ("Y", "MT")}
    for c in names:
        names[c] |= {c, f"chr{c}"} | ({f"0{c}"} if c.isdigit() and len(c) == 1 else set())
    for code, c in PLINK_CODES.items():
        names[c] |= {code, f"chr{code}"}
    names["MT"] |= {"M", "chrM"}
    out = {}
    for c, spellings in names.items():
        target = reference_contig(c, reference_genome)
        out.update({s: target for s in spellings if s != target})
    return out


def analysed_contigs(reference_genome: str, chromosomes: str) -> set[str]:
    """The reference genome's names of the chromosomes ``gwas.chromosomes`` analyses."""
    return {reference_contig(c, reference_genome) for c in CHROMOSOME_SETS[chromosomes]}


def place(chromosomes: pd.Series, positions: pd.Series, *, reference_genome: str, lengths: dict[str, int],
          analysed: str, plink: bool) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The reference contig, the integer position and the exclusion reason (None where analysed) of each
    record, by the rules of the module docstring. ``lengths``: the reference genome's contig lengths."""
    wanted = set(CHROMOSOME_SETS[analysed])
    canon = chromosomes.fillna("").astype(str).map(lambda c: canonical(c, plink=plink))
    # a name the reference spells otherwise is looked up as the reference spells it (GRCh38's chr1, chrM)
    contig = canon.map(lambda c: reference_contig(c, reference_genome))
    pos = pd.to_numeric(positions, errors="coerce")
    whole = pos.notna() & (pos == np.floor(pos.fillna(0)))
    length = contig.map(lengths)
    reason = pd.Series(np.select(
        [~whole, canon == "0", pos == 0, length.isna(), pos > length, ~canon.isin(wanted)],
        ["malformed record: position " + positions.astype(str) + " is not a whole number",
         "chromosome 0 (unplaced)", "position 0 (unknown)",
         "contig " + chromosomes.astype(str) + f" is not in the reference genome {reference_genome}",
         "position beyond the end of chromosome " + canon + " (" + length.fillna(0).astype(int).astype(str)
         + f" bp on {reference_genome})",
         "chromosome " + canon + f" is not analysed (gwas.chromosomes = {analysed})"],
        default=""), index=chromosomes.index)
    return contig, pos.fillna(0).astype(np.int64), reason.where(reason != "", None)


def read_bim(path: str | Path) -> pd.DataFrame:
    """A .bim file as text columns ``chromosome, rsid, cm, position, a1, a2`` plus ``line`` (1-based) and
    ``malformed`` (the reason, for a line without six whitespace-separated fields)."""
    rows, bad = [], {}
    with open(path) as fh:
        for i, line in enumerate(fh, start=1):
            fields = line.split()
            if len(fields) != 6:
                bad[i] = f"malformed record: {len(fields)} fields, expected 6"
                fields = (fields + [""] * 6)[:6]
            rows.append(fields)
    bim = pd.DataFrame(rows, columns=["chromosome", "rsid", "cm", "position", "a1", "a2"], dtype=str)
    bim["line"] = np.arange(1, len(bim) + 1)
    bim["malformed"] = bim["line"].map(bad)
    return bim


def clean_bim(path: str | Path, out: str | Path, *, reference_genome: str, lengths: dict[str, int],
              analysed: str) -> pd.DataFrame:
    """Write a copy of the .bim ``path`` to ``out`` in which every analysed record carries the reference's
    contig name and every other record the contig :data:`SKIP_CONTIG` (Hail's ``skip_invalid_loci`` then
    skips it; the .bed rows stay aligned). Returns the excluded records (:data:`EXCLUDED_COLUMNS`)."""
    bim = read_bim(path)
    contig, pos, reason = place(bim["chromosome"], bim["position"], reference_genome=reference_genome,
                                lengths=lengths, analysed=analysed, plink=True)
    reason = bim["malformed"].where(bim["malformed"].notna(), reason)
    skip = reason.notna()
    written = pd.DataFrame({"chromosome": contig.where(~skip, SKIP_CONTIG), "rsid": bim["rsid"].replace("", "."),
                            "cm": "0", "position": pos.where(~skip, 1),
                            "a1": bim["a1"].replace("", "N"), "a2": bim["a2"].replace("", "N")})
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    written.to_csv(out, sep="\t", header=False, index=False)
    excluded = pd.DataFrame({"chromosome": bim["chromosome"], "position": bim["position"], "rsid": bim["rsid"],
                             "record": f"{Path(path).name} line " + bim["line"].astype(str), "reason": reason})
    return excluded[skip].reset_index(drop=True)


def log_excluded(source, excluded: pd.DataFrame, total: int) -> None:
    if excluded.empty:
        return
    counts = excluded["reason"].map(_reason_kind).value_counts()
    log.warning("%s: %d of %s variants left out: %s", source, len(excluded), total if total is not None else "the",
                "; ".join(f"{k} {v}" for k, v in counts.items()))


def _reason_kind(reason: str) -> str:
    """A reason without its particulars, for the log's counts."""
    for kind in ("malformed record", "chromosome 0", "position 0", "not in the reference genome",
                 "position beyond the end", "is not analysed"):
        if kind in reason:
            return kind
    return reason
