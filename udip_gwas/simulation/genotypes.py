"""Simulated genotypes with haplotype-block LD, and writers for PLINK bed/bim/fam and bgzipped VCF.

Each chromosome is cut into haplotype blocks. Inside a block, a haplotype's alleles are thresholds of a
latent Gaussian AR(1) series (correlation ``rho`` between neighbours), so LD decays with distance inside
a block and is absent between blocks. Minor-allele frequencies follow a U-shaped (Beta) spectrum. The
same population parameters (frequencies, blocks) are shared by every cohort drawn from a panel, so a
discovery and a replication cohort are independent samples of one population.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

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

_BED_CODE = np.array([3, 2, 0], dtype=np.uint8)  # allele count of A1 (0, 1, 2) -> PLINK 2-bit code
_BED_MISSING = 1


def write_plink(prefix: str | Path, dosages: np.ndarray, variants: pd.DataFrame, samples: pd.DataFrame) -> None:
    """Write a SNP-major PLINK 1 fileset.

    ``dosages`` are counts of ``effect_allele`` (int, -1 for missing), shape (n_samples, n_variants).
    ``effect_allele`` is written as A1 (column 5 of .bim) and ``other_allele`` as A2, the reference: this is
    how Hail (``a2_reference=True``) and PLINK 2 read a .bim, so both count the effect allele.
    ``samples`` needs ``FID, IID`` and may have ``sex`` (1/2) columns. The .bim ID column holds the rsid,
    as in UK Biobank's files.
    """
    prefix = Path(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    n, m = dosages.shape
    if len(samples) != n or len(variants) != m:
        raise ValueError(f"write_plink: {n}x{m} dosages but {len(samples)} samples and {len(variants)} variants")
    fam = pd.DataFrame({
        "FID": samples["FID"], "IID": samples["IID"], "father": 0, "mother": 0,
        "sex": samples["sex"] if "sex" in samples else 0, "pheno": -9,
    })
    fam.to_csv(prefix.with_suffix(".fam"), sep=" ", header=False, index=False)
    bim = pd.DataFrame({
        "chrom": variants["chromosome"], "id": variants["rsid"], "cm": 0,
        "pos": variants["base_pair_location"], "a1": variants["effect_allele"], "a2": variants["other_allele"],
    })
    bim.to_csv(prefix.with_suffix(".bim"), sep="\t", header=False, index=False)
    nbytes = (n + 3) // 4
    with open(prefix.with_suffix(".bed"), "wb") as fh:
        fh.write(bytes([0x6C, 0x1B, 0x01]))
        for start in range(0, m, 2048):
            g = dosages[:, start:start + 2048].T  # variants x samples
            codes = np.where(g < 0, _BED_MISSING, _BED_CODE[np.clip(g, 0, 2)]).astype(np.uint8)
            pad = nbytes * 4 - n
            if pad:
                codes = np.pad(codes, ((0, 0), (0, pad)))
            codes = codes.reshape(codes.shape[0], nbytes, 4)
            packed = codes[:, :, 0] | (codes[:, :, 1] << 2) | (codes[:, :, 2] << 4) | (codes[:, :, 3] << 6)
            fh.write(packed.astype(np.uint8).tobytes())


def read_plink_dosages(prefix: str | Path) -> tuple[np.ndarray, pd.DataFrame, pd.DataFrame]:
    """Read a PLINK 1 fileset back as A1 counts (float, NaN missing), .bim and .fam tables."""
    prefix = Path(prefix)
    fam = pd.read_csv(prefix.with_suffix(".fam"), sep=r"\s+", header=None,
                      names=["FID", "IID", "father", "mother", "sex", "pheno"], dtype={0: str, 1: str})
    bim = pd.read_csv(prefix.with_suffix(".bim"), sep=r"\s+", header=None,
                      names=["chromosome", "id", "cm", "base_pair_location", "a1", "a2"],
                      dtype={0: str, 1: str, 4: str, 5: str})
    n, m = len(fam), len(bim)
    raw = np.fromfile(prefix.with_suffix(".bed"), dtype=np.uint8)
    if raw[:3].tolist() != [0x6C, 0x1B, 0x01]:
        raise ValueError(f"{prefix.with_suffix('.bed')}: not a SNP-major PLINK 1 .bed file")
    nbytes = (n + 3) // 4
    body = raw[3:].reshape(m, nbytes)
    codes = np.stack([(body >> s) & 3 for s in (0, 2, 4, 6)], axis=2).reshape(m, nbytes * 4)[:, :n]
    lut = np.array([2.0, np.nan, 1.0, 0.0])
    return lut[codes].T, bim, fam


class _BgzfWriter:
    """Minimal BGZF (blocked gzip) writer, so VCFs can be indexed and split by Hail."""

    _EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")

    def __init__(self, path: Path):
        self._fh = open(path, "wb")
        self._buf = bytearray()

    def write(self, text: str) -> None:
        self._buf += text.encode()
        while len(self._buf) >= 0xFF00:
            self._flush_block(bytes(self._buf[:0xFF00]))
            del self._buf[:0xFF00]

    def _flush_block(self, data: bytes) -> None:
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        cdata = comp.compress(data) + comp.flush()
        header = struct.pack("<4BI2BH2BHH", 31, 139, 8, 4, 0, 0, 255, 6, 66, 67, 2, len(cdata) + 25)
        self._fh.write(header + cdata + struct.pack("<II", zlib.crc32(data) & 0xFFFFFFFF, len(data)))

    def close(self) -> None:
        if self._buf:
            self._flush_block(bytes(self._buf))
        self._fh.write(self._EOF)
        self._fh.close()


def write_vcf(path: str | Path, dosages: np.ndarray, variants: pd.DataFrame, sample_ids: list[str]) -> None:
    """Write unphased hard calls as a bgzipped VCF (``.vcf.bgz``); the effect allele is ALT."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    w = _BgzfWriter(path)
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


def open_text(path: str | Path):
    """Open a plain or gzip/bgzip text file for reading."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path)
