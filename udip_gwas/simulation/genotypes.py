"""Simulated genotypes with haplotype-block LD, and a bgzipped-VCF writer (PLINK files: :mod:`udip_gwas.fileformats`).

Each chromosome is cut into haplotype blocks. Inside a block, a haplotype's alleles are thresholds of a
latent Gaussian AR(1) series (correlation ``rho`` between neighbours), so LD decays with distance inside
a block and is absent between blocks. Minor-allele frequencies follow a U-shaped (Beta) spectrum. The
same population parameters (frequencies, blocks) are shared by every cohort drawn from a panel, so a
discovery and a replication cohort are independent samples of one population.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from udip_gwas.fileformats import BgzfWriter

#: GRCh37 chromosome lengths (bp), for placing simulated variants on real coordinates
GRCH37_LENGTHS = {
    1: 249250621, 2: 243199373, 3: 198022430, 4: 191154276, 5: 180915260, 6: 171115067, 7: 159138663,
    8: 146364022, 9: 141213431, 10: 135534747, 11: 135006516, 12: 133851895, 13: 115169878, 14: 107349540,
    15: 102531392, 16: 90354753, 17: 81195210, 18: 78077248, 19: 59128983, 20: 63025520, 21: 48129895,
    22: 51304566,
}
#: simulated span per chromosome; chromosome 6 spans the MHC so its flag is exercised
REGION_SPAN_BP = 20_000_000
REGION_START = {6: 22_000_000}


@dataclass
class VariantPanel:
    """Population-level parameters of the simulated variants.

    Attributes
    ----------
    variants
        Columns ``chromosome, base_pair_location, variant_id, rsid, effect_allele, other_allele, block,
        allele_frequency`` (frequency of ``effect_allele``, the allele counted in the dosages).
    rho
        Latent correlation between neighbouring variants inside a block.
    """

    variants: pd.DataFrame
    rho: float

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Draw ``n`` individuals; returns int8 allele counts of shape (n, n_variants)."""
        out = np.empty((n, len(self.variants)), dtype=np.int8)
        thresholds = stats.norm.ppf(self.variants["allele_frequency"].to_numpy())
        block = self.variants["block"].to_numpy()
        starts = np.flatnonzero(np.r_[True, block[1:] != block[:-1]])
        ends = np.r_[starts[1:], len(block)]
        innov = np.sqrt(1.0 - self.rho**2)
        for s, e in zip(starts, ends):
            m = e - s
            z = np.empty((2 * n, m), dtype=np.float32)
            z[:, 0] = rng.standard_normal(2 * n)
            eps = rng.standard_normal((2 * n, m)).astype(np.float32)
            for j in range(1, m):
                z[:, j] = self.rho * z[:, j - 1] + innov * eps[:, j]
            hap = z < thresholds[s:e]
            out[:, s:e] = hap[:n].astype(np.int8) + hap[n:].astype(np.int8)
        return out


def simulate_panel(
    chromosomes: list[int],
    *,
    variants_per_chromosome: int,
    block_size_mean: int,
    rho: float,
    rng: np.random.Generator,
) -> VariantPanel:
    """Draw variant positions, alleles, blocks and allele frequencies."""
    rows = []
    rs = 1_000_000
    block_id = 0
    for chrom in chromosomes:
        if chrom not in GRCH37_LENGTHS:
            raise ValueError(f"simulate_panel: chromosome {chrom} is not an autosome (1-22)")
        start = REGION_START.get(chrom, 10_000_000)
        span = min(REGION_SPAN_BP, GRCH37_LENGTHS[chrom] - start - 1)
        pos = np.sort(rng.choice(span, size=variants_per_chromosome, replace=False)) + start
        sizes = []
        while sum(sizes) < variants_per_chromosome:
            sizes.append(max(2, int(rng.geometric(1.0 / block_size_mean))))
        blocks = np.repeat(np.arange(len(sizes)) + block_id, sizes)[:variants_per_chromosome]
        block_id += len(sizes)
        maf = np.clip(0.5 * rng.beta(0.7, 1.3, size=variants_per_chromosome), 0.005, 0.5)
        # the effect (counted) allele is the minor one half the time
        freq = np.where(rng.random(variants_per_chromosome) < 0.5, maf, 1.0 - maf)
        alleles = rng.choice(np.array(list("ACGT")), size=(variants_per_chromosome, 2))
        same = alleles[:, 0] == alleles[:, 1]
        alleles[same, 1] = np.vectorize({"A": "G", "C": "T", "G": "A", "T": "C"}.get)(alleles[same, 0])
        for i in range(variants_per_chromosome):
            ref, alt = alleles[i, 1], alleles[i, 0]
            rows.append((chrom, int(pos[i]), f"{chrom}:{pos[i]}:{ref}:{alt}", f"rs{rs + i}", alt, ref,
                         int(blocks[i]), float(freq[i])))
        rs += variants_per_chromosome
    variants = pd.DataFrame(rows, columns=["chromosome", "base_pair_location", "variant_id", "rsid",
                                           "effect_allele", "other_allele", "block", "allele_frequency"])
    return VariantPanel(variants=variants, rho=rho)


# --- writers --------------------------------------------------------------------------------------

def write_vcf(path: str | Path, dosages: np.ndarray, variants: pd.DataFrame, sample_ids: list[str]) -> None:
    """Write unphased hard calls as a bgzipped VCF (``.vcf.bgz``); the effect allele is ALT."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = BgzfWriter(path)
    w.write("##fileformat=VCFv4.2\n##source=udip-gwas simulate\n")
    for c in sorted(variants["chromosome"].unique()):
        w.write(f"##contig=<ID={c},length={GRCH37_LENGTHS[int(c)]},assembly=GRCh37>\n")
    w.write('##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n')
    w.write("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(sample_ids) + "\n")
    gt = np.array(["0/0", "0/1", "1/1", "./."])
    for j, v in enumerate(variants.itertuples(index=False)):
        g = dosages[:, j]
        calls = gt[np.where(g < 0, 3, g)]
        w.write(f"{v.chromosome}\t{v.base_pair_location}\t{v.rsid}\t{v.other_allele}\t{v.effect_allele}"
                "\t.\tPASS\t.\tGT\t" + "\t".join(calls) + "\n")
    w.close()
