"""One registry of the output tables' columns: name, type and meaning, in the order the files write them.

The writers take their column order from here, and ``docs/outputs.md`` is generated from it
(:func:`markdown_tables`; a test keeps the two equal), so a column's meaning is written once.

Numbers that a double cannot hold are written as text: :func:`p_text` turns ``-log10 p`` into ``p``
without underflow (``3.1623e-412``), the same text the GWAS-SSF writer's Hail expression produces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Column:
    name: str
    dtype: str  #: int, float, str, bool, or "p text" (a p-value written from -log10 p)
    meaning: str


def _cols(*rows: tuple[str, str, str]) -> tuple[Column, ...]:
    return tuple(Column(*r) for r in rows)


#: GWAS-SSF columns of ``dimensions/<dim>.tsv.gz`` (the first eight in the standard's order)
SUMSTATS = _cols(
    ("chromosome", "str", "chromosome, without a 'chr' prefix"),
    ("base_pair_location", "int", "1-based position on the genotypes' reference genome"),
    ("effect_allele", "str", "the allele whose count is the regressor (the second allele; PLINK's A1)"),
    ("other_allele", "str", "the reference allele"),
    ("beta", "float", "effect per effect allele on the transformed dimension"),
    ("standard_error", "float", "standard error of beta"),
    ("effect_allele_frequency", "float", "effect-allele frequency over the analysed samples"),
    ("p_value", "p text", "two-sided t-test p; written from -log10 p below 1e-300, so it never underflows"),
    ("neg_log_10_p_value", "float", "-log10 p, computed in log space"),
    ("variant_id", "str", "chromosome:position:other_allele:effect_allele as the genotypes name it"),
    ("rsid", "str", "the genotype file's variant id, #NA when it has none"),
    ("n", "int", "samples analysed"),
)

#: ``combined.tsv.gz``: per variant, the dimension with the smallest p
COMBINED = SUMSTATS + _cols(
    ("dimension", "str", "the dimension with the smallest p at this variant"),
    ("n_dimensions_p_lt_5e-8", "int", "dimensions with p < 5e-8 at this variant"),
)

#: ``gwas/joint/<set>.tsv.gz``: the joint F test of a set of dimensions per variant
JOINT = _cols(
    ("chromosome", "str", "chromosome, without a 'chr' prefix"),
    ("base_pair_location", "int", "1-based position"),
    ("effect_allele", "str", "the allele whose count is the regressor"),
    ("other_allele", "str", "the reference allele"),
    ("effect_allele_frequency", "float", "effect-allele frequency over the analysed samples"),
    ("n", "int", "samples analysed"),
    ("statistic", "float", "F of the single-predictor multivariate test (one-predictor MANOVA, Wilks' lambda, "
                           "Hotelling's T2) of the set's dimensions"),
    ("df1", "int", "numerator degrees of freedom: the dimensions tested (their rank)"),
    ("df2", "int", "denominator degrees of freedom: n - k - df1, k the intercept and covariate columns"),
    ("p_value", "p text", "upper-tail F p; written from -log10 p below 1e-300, so it never underflows"),
    ("neg_log_10_p_value", "float", "-log10 p, from the F distribution's log tail"),
    ("variant_id", "str", "chromosome:position:other_allele:effect_allele"),
    ("rsid", "str", "the genotype file's variant id, #NA when it has none"),
)

#: ``gwas/joint/lambda_gc.tsv``
JOINT_LAMBDA_GC = _cols(
    ("set", "str", "the set of dimensions (a UDIP table's name, or 'all' for every table together)"),
    ("df1", "int", "the F test's numerator degrees of freedom"),
    ("df2", "int", "its denominator degrees of freedom"),
    ("lambda_gc", "float", "median F over QC-passing variants / the median of F(df1, df2)"),
)

#: ``loci/loci.tsv`` and ``loci_genome_wide.tsv``, before the replication and novelty columns
LOCI = _cols(
    ("locus_id", "str", "L001, L002, ... in genome order"),
    ("chromosome", "str", "chromosome"),
    ("start", "int", "first position of the locus (1-based): the LD span of its independent SNPs"),
    ("end", "int", "last position of the locus (1-based, inclusive)"),
    ("lead_variant", "str", "variant id of the locus's smallest p over all dimensions"),
    ("lead_rsid", "str", "its rsid"),
    ("lead_position", "int", "its position"),
    ("lead_effect_allele", "str", "its effect allele"),
    ("lead_other_allele", "str", "its other allele"),
    ("lead_effect_allele_frequency", "float", "its effect-allele frequency"),
    ("lead_dimension", "str", "the dimension in which the lead has its smallest p"),
    ("lead_beta", "float", "the lead's beta on the lead dimension"),
    ("lead_standard_error", "float", "its standard error"),
    ("lead_p_value", "p text", "its p, written from -log10 p"),
    ("lead_neg_log_10_p_value", "float", "its -log10 p"),
    ("n_significant_variants", "int", "variants in the locus below the threshold"),
    ("n_independent_snps", "int", "independent significant SNPs (r2 < loci.independent_r2)"),
    ("n_lead_snps", "int", "lead SNPs (r2 < loci.lead_r2)"),
    ("n_dimensions", "int", "dimensions significant at some variant of the locus"),
    ("dimensions", "str", "those dimensions, comma-separated"),
    ("mhc", "bool", "the locus overlaps the MHC of the genotypes' build"),
    ("threshold_p", "float", "the per-dimension significance threshold (5e-8 / dimensions for loci.tsv)"),
    ("test", "str", "the test(s) that found the locus: per_dimension, joint, or per_dimension+joint"),
    ("joint_set", "str", "the joint test's set with the smallest p at the lead (empty without the joint test)"),
    ("joint_statistic", "float", "the lead's joint F in that set"),
    ("joint_df1", "int", "its numerator degrees of freedom"),
    ("joint_df2", "int", "its denominator degrees of freedom"),
    ("joint_p_value", "p text", "its p, written from -log10 p"),
    ("joint_neg_log_10_p_value", "float", "its -log10 p"),
    ("joint_threshold_p", "float", "the joint test's threshold (5e-8 / sets for loci.tsv)"),
    ("top_dimensions", "str", "the lead's five dimensions of largest |t| in the joint set, as dimension:t"),
)

#: replication columns added to the loci tables
REPLICATION = _cols(
    ("replication_beta", "float", "the lead's beta on the lead dimension in the replication cohort, for the "
                                  "discovery's effect allele"),
    ("replication_standard_error", "float", "its standard error"),
    ("replication_neg_log_10_p_value", "float", "its -log10 p"),
    ("replication_n", "int", "replication samples (empty where unknown or not tested)"),
    ("replication_same_sign", "bool", "the replication beta has the discovery's sign"),
    ("replicated", "bool", "same sign and p < replication.alpha / number of loci tested"),
    ("replicated_nominal", "bool", "same sign and p < replication.alpha"),
    ("replication_status", "str", "replicated, nominal, not replicated, or not tested (lead absent); for a locus "
                                  "the joint test alone found, the joint test's outcome"),
    ("replication_joint_statistic", "float", "the lead's joint statistic in the replication cohort (F from a "
                                             "replication gwas; chi-square from summary statistics)"),
    ("replication_joint_neg_log_10_p_value", "float", "its -log10 p"),
    ("replication_joint_replicated", "bool", "joint p < replication.alpha / number of loci tested"),
    ("replication_effect_correlation", "float", "Pearson correlation of the lead's discovery and replication betas "
                                                "over the joint set's dimensions (the joint test has no sign)"),
)

#: novelty columns added to the loci tables
NOVELTY = _cols(
    ("novelty", "str", "known or novel"),
    ("novelty_reason", "str", "why: a prior hit inside, near or in LD with the lead, or the nearest one's distance"),
    ("nearest_prior_rsid", "str", "the nearest prior hit on the chromosome"),
    ("nearest_prior_trait", "str", "its trait"),
    ("nearest_prior_study", "str", "its study"),
    ("nearest_prior_distance_kb", "float", "its distance to the locus (0 inside)"),
)

#: ``perdi/region_scores.tsv``
REGION_SCORES = _cols(
    ("dimension", "str", "UDIP dimension (with _neg for the -k SD map)"),
    ("region", "str", "atlas region, left and right merged for 'bilateral'"),
    ("hemisphere", "str", "bilateral, left or right"),
    ("ks", "float", "GSEA-style Kolmogorov-Smirnov running-sum enrichment of the region's voxels in the map"),
    ("mean_abs_t", "float", "mean |t| over the region's voxels"),
    ("rim_mean_abs_t", "float", "mean |t| over the region's voxels and its one-voxel rim (the brain voxels "
                                "face-adjacent to it), which reads a change of the structure's volume"),
    ("rank", "int", "rank of the region by ks within the dimension and hemisphere view"),
)

#: ``loci/lead_effects.tsv``: each locus's effect vector, the lead's statistics in every dimension
LEAD_EFFECTS = _cols(
    ("locus_id", "str", "the locus (loci.tsv)"),
    ("lead_variant", "str", "its lead variant"),
    ("dimension", "str", "UDIP dimension"),
    ("beta", "float", "the lead's beta on the transformed dimension, per effect allele"),
    ("standard_error", "float", "its standard error"),
    ("t_stat", "float", "beta / standard_error"),
)

#: ``perdi/locus_region_scores.tsv``: region scores of each locus's own maps
LOCUS_REGION_SCORES = _cols(
    ("locus_id", "str", "the locus (loci.tsv)"),
    ("modality", "str", "the modality whose decoder made the map"),
    ("view", "str", "decoder: the decoder's change along the locus's effect vector; direct: the voxelwise "
                    "association of the lead's dosage with the images, adjusted for the GWAS's covariates"),
    ("region", "str", "atlas region, left and right merged for 'bilateral'"),
    ("hemisphere", "str", "bilateral, left or right"),
    ("ks", "float", "GSEA-style Kolmogorov-Smirnov running-sum enrichment of the region's voxels in the map"),
    ("mean_abs_t", "float", "mean |t| over the region's voxels"),
    ("rim_mean_abs_t", "float", "mean |t| over the region's voxels and its one-voxel rim (the brain voxels "
                                "face-adjacent to it), which reads a change of the structure's volume"),
    ("rank", "int", "rank of the region by ks within the locus, modality, view and hemisphere view"),
)

#: ``perdi/locus_views.tsv``: how far the two views of a locus agree
LOCUS_VIEWS = _cols(
    ("locus_id", "str", "the locus (loci.tsv)"),
    ("modality", "str", "the modality of both maps"),
    ("spatial_correlation", "float", "Pearson correlation over the brain mask of the decoder view's and the direct "
                                     "view's signed t maps, each smoothed as the maps are before scoring: how far "
                                     "the UDIPs carry what the locus does to the images"),
)

#: ``gwas/lambda_gc.tsv``
LAMBDA_GC = _cols(
    ("dimension", "str", "UDIP dimension"),
    ("lambda_gc", "float", "median chi-square (1 df) over QC-passing variants / 0.4549"),
)

#: ``excluded_subjects.tsv`` in the run folder
EXCLUDED_SUBJECTS = _cols(
    ("IID", "str", "subject"),
    ("cohort", "str", "discovery, replication or the training set"),
    ("stage", "str", "the stage that dropped the subject"),
    ("reason", "str", "why"),
)

#: ``gwas/variants_excluded.tsv``: the genotype records the gwas stage left out (see genetics/contigs.py)
VARIANTS_EXCLUDED = _cols(
    ("chromosome", "str", "the chromosome as the genotype file names it"),
    ("position", "str", "the position as the file writes it"),
    ("rsid", "str", "the file's variant id"),
    ("record", "str", "where: the .bim line, the BGEN variant's index, or the file"),
    ("reason", "str", "malformed record, chromosome 0 (unplaced), position 0 (unknown), a contig not in the "
                      "reference genome, a position beyond the contig's end, or a chromosome not analysed"),
)

#: ``gwas/dimensions_excluded.tsv``: UDIP dimensions with nothing left to test
DIMENSIONS_EXCLUDED = _cols(
    ("dimension", "str", "UDIP dimension"),
    ("reason", "str", "constant over the analysed subjects, or a linear function of the covariates (residual sum "
                      "of squares at most 1e-8 of its variation); it gets no statistics and leaves the Bonferroni "
                      "divisor"),
)

#: every registered table, as ``docs/outputs.md`` lists them
TABLES = {
    "gwas/dimensions/<dim>.tsv.gz (GWAS-SSF)": SUMSTATS,
    "gwas/combined.tsv.gz": COMBINED,
    "gwas/lambda_gc.tsv": LAMBDA_GC,
    "gwas/joint/<set>.tsv.gz": JOINT,
    "gwas/joint/lambda_gc.tsv": JOINT_LAMBDA_GC,
    "gwas/variants_excluded.tsv": VARIANTS_EXCLUDED,
    "gwas/dimensions_excluded.tsv": DIMENSIONS_EXCLUDED,
    "loci/loci.tsv": LOCI + REPLICATION + NOVELTY,
    "loci/lead_effects.tsv": LEAD_EFFECTS,
    "perdi/region_scores.tsv": REGION_SCORES,
    "perdi/locus_region_scores.tsv": LOCUS_REGION_SCORES,
    "perdi/locus_views.tsv": LOCUS_VIEWS,
    "excluded_subjects.tsv": EXCLUDED_SUBJECTS,
}


def names(columns: tuple[Column, ...]) -> list[str]:
    """The column names of a registered table, in file order."""
    return [c.name for c in columns]


def p_text(neg_log_10_p: float) -> str:
    """``p`` with 5 significant digits from ``-log10 p``, never 0: ``1.2346e-05``; below 1e-300 from the
    logarithm's integer and fractional parts (``6.3096e-363``), as the GWAS-SSF files write it. ``NA`` for a
    missing value."""
    if neg_log_10_p is None or (isinstance(neg_log_10_p, float) and math.isnan(neg_log_10_p)):
        return "NA"
    nlp = float(neg_log_10_p)
    if nlp < 300:
        return f"{10 ** -nlp:.4e}"
    k = math.ceil(nlp)  # p = m * 10^-k with m = 10^(k - nlp) in [1, 10)
    m = f"{10 ** (k - nlp):.4f}"
    return f"{m}e-{k}" if not m.startswith("10") else f"{10 ** (k - nlp) / 10:.4f}e-{k - 1}"


def markdown_tables() -> str:
    """The column tables of ``docs/outputs.md``."""
    lines = ["# Output columns", "",
             "Generated from `udip_gwas/columns.py` (`python -m udip_gwas.columns > docs/outputs.md`).", ""]
    for table, cols in TABLES.items():
        lines += [f"## `{table}`", "", "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| `{c.name}` | {c.dtype} | {c.meaning} |" for c in cols]
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover - writes the docs page
    print(markdown_tables(), end="")
