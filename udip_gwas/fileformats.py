"""File formats shared by every layer: text files plain or gzipped, PLINK 1 filesets read and written with
numpy, BGEN variant headers, gene annotations (GTF, BED, PLINK gene lists), and a BGZF writer. Nothing here
knows about stages or simulation.
"""

from __future__ import annotations

import gzip
import logging
import re
import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from udip_gwas.exceptions import InputError
from udip_gwas.genome import chromosome_key

log = logging.getLogger(__name__)


def open_text(path: str | Path):
    """Open a plain or gzip/bgzip text file for reading."""
    path = Path(path)
    with open(path, "rb") as fh:
        magic = fh.read(2)
    return gzip.open(path, "rt") if magic == b"\x1f\x8b" else open(path)


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
        raise InputError(f"{prefix.with_suffix('.bed')}: not a SNP-major PLINK 1 .bed file")
    nbytes = (n + 3) // 4
    body = raw[3:].reshape(m, nbytes)
    codes = np.stack([(body >> s) & 3 for s in (0, 2, 4, 6)], axis=2).reshape(m, nbytes * 4)[:, :n]
    lut = np.array([2.0, np.nan, 1.0, 0.0])
    return lut[codes].T, bim, fam


class BgzfWriter:
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


#: the first bytes of a SNP-major PLINK 1 .bed file
BED_MAGIC = bytes([0x6C, 0x1B, 0x01])


def count_lines(path: str | Path) -> int:
    """Lines of a text file (a last line without a newline counts)."""
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            n += chunk.count(b"\n")
            last = chunk[-1:]
    return n + (last != b"\n")


def check_plink_fileset(prefix: str | Path) -> tuple[int, int]:
    """Check a PLINK 1 fileset before Hail reads it: the .bed's magic bytes, its size against the .fam and
    .bim line counts, and subjects listed twice in the .fam. Returns (samples, variants).

    Raises
    ------
    InputError
        Naming the file and what was expected and found.
    """
    bed, bim, fam = (Path(f"{prefix}{ext}") for ext in (".bed", ".bim", ".fam"))
    n, m = count_lines(fam), count_lines(bim)
    with open(bed, "rb") as fh:
        magic = fh.read(3)
    if magic != BED_MAGIC:
        raise InputError(f"{bed}: not a SNP-major PLINK 1 .bed file (its first bytes are {magic.hex() or 'none'}, "
                         f"expected {BED_MAGIC.hex()})")
    expected = 3 + m * ((n + 3) // 4)
    size = bed.stat().st_size
    if size != expected:
        raise InputError(f"{bed}: {size:,} bytes, but {fam.name} lists {n:,} subjects and {bim.name} {m:,} variants, "
                         f"which need {expected:,} bytes; the .bed is {'truncated' if size < expected else 'longer'}"
                         " or the .bim/.fam belong to another fileset")
    iids = pd.read_csv(fam, sep=r"\s+", header=None, usecols=[1], dtype=str, keep_default_na=False)[1]
    dup = iids[iids.duplicated()].unique().tolist()
    if dup:
        raise InputError(f"{fam}: subject(s) listed twice (IID): {dup[:5]}")
    return n, m


def bgen_variant_count(path: str | Path) -> int:
    """The number of variants a BGEN file's header declares."""
    with open(path, "rb") as fh:
        offset, header_length, m = struct.unpack("<III", fh.read(12))
    return m


def bgen_variants(path: str | Path) -> pd.DataFrame:
    """Every variant's ``chromosome, position, rsid, variant_id`` from a BGEN file (layouts 1 and 2), read
    from the variant headers and skipping the genotype blocks; ``record`` is the variant's 1-based index."""
    rows = []
    with open(path, "rb") as fh:
        offset, header_length, m, n = struct.unpack("<IIII", fh.read(16))
        fh.seek(4 + header_length - 4)
        flags = struct.unpack("<I", fh.read(4))[0]
        compressed, layout = flags & 3, (flags >> 2) & 15
        fh.seek(offset + 4)

        def text(width: int) -> str:
            size = struct.unpack("<H" if width == 2 else "<I", fh.read(width))[0]
            return fh.read(size).decode("ascii", "replace")

        for i in range(m):
            if layout == 1:
                fh.read(4)  # the number of samples, repeated
            vid, rsid, chrom = text(2), text(2), text(2)
            pos = struct.unpack("<I", fh.read(4))[0]
            k = 2 if layout == 1 else struct.unpack("<H", fh.read(2))[0]
            for _ in range(k):
                text(4)
            if layout == 1 and not compressed:
                fh.seek(6 * n, 1)
            else:
                fh.seek(struct.unpack("<I", fh.read(4))[0], 1)
            rows.append((chrom, pos, rsid, vid, i + 1))
    return pd.DataFrame(rows, columns=["chromosome", "position", "rsid", "variant_id", "record"])


# --- gene annotations ---------------------------------------------------------------------------

_BUILD_ALIASES = {"grch37": "GRCh37", "hg19": "GRCh37", "grch38": "GRCh38", "hg38": "GRCh38"}


def one_based_to_half_open(start: np.ndarray | pd.Series, end: np.ndarray | pd.Series):
    """1-based inclusive ``[start, end]`` to 0-based half-open ``[start - 1, end)``: the only place this
    conversion is made."""
    return np.asarray(start, dtype=np.int64) - 1, np.asarray(end, dtype=np.int64)


def read_genes(path: str | Path, *, fmt: str = "auto") -> tuple[pd.DataFrame, str | None]:
    """Read a gene annotation.

    Returns
    -------
    genes, build
        ``Chromosome, Start, End, gene_name, gene_id, Strand`` (0-based half-open, chromosome without
        ``chr``) and the genome build named in the file header, if any.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"gene annotation not found: {path}")
    name = path.name.lower().removesuffix(".gz")
    if fmt == "auto":
        fmt = "gtf" if name.endswith((".gtf", ".gff")) else "bed" if name.endswith(".bed") else "plink"
    build = None
    with open_text(path) as fh:
        head = [next(fh, "") for _ in range(20)]
    for line in head:
        m = re.search(r"(genome-build|assembly|build)\W+(GRCh3[78]|hg19|hg38)", line, re.IGNORECASE)
        if m and line.startswith("#"):
            build = _BUILD_ALIASES[m.group(2).lower()]
            break
    if fmt == "gtf":
        df = pd.read_csv(path, sep="\t", comment="#", header=None, dtype={0: str},
                         names=["seqname", "source", "feature", "start", "end", "score", "strand", "frame", "attr"])
        df = df[df["feature"] == "gene"]
        if df.empty:
            raise InputError(f"{path}: no 'gene' features in this GTF")
        attr = df["attr"]
        gene_id = attr.str.extract(r'gene_id "([^"]+)"')[0]
        gene_name = attr.str.extract(r'gene_name "([^"]+)"')[0].fillna(gene_id)
        start, end = one_based_to_half_open(df["start"], df["end"])
        genes = pd.DataFrame({"Chromosome": df["seqname"].map(chromosome_key).to_numpy(), "Start": start, "End": end,
                              "gene_name": gene_name.to_numpy(), "gene_id": gene_id.to_numpy(),
                              "Strand": df["strand"].to_numpy()})
    elif fmt == "bed":
        df = pd.read_csv(path, sep="\t", comment="#", header=None, dtype={0: str})
        if df.shape[1] < 4:
            raise InputError(f"{path}: BED needs at least 4 columns (chrom, start, end, name), found {df.shape[1]}")
        genes = pd.DataFrame({"Chromosome": df[0].map(chromosome_key).to_numpy(), "Start": df[1].astype(np.int64).to_numpy(),
                              "End": df[2].astype(np.int64).to_numpy(), "gene_name": df[3].astype(str).to_numpy(),
                              "gene_id": df[3].astype(str).to_numpy(),
                              "Strand": df[5].to_numpy() if df.shape[1] > 5 else "."})
    elif fmt == "plink":
        df = pd.read_csv(path, sep=r"\s+", comment="#", header=None, dtype={0: str})
        if df.shape[1] < 4:
            raise InputError(f"{path}: a PLINK gene list needs 4 columns (chromosome start end name)")
        start, end = one_based_to_half_open(df[1], df[2])
        genes = pd.DataFrame({"Chromosome": df[0].map(chromosome_key).to_numpy(), "Start": start, "End": end,
                              "gene_name": df[3].astype(str).to_numpy(), "gene_id": df[3].astype(str).to_numpy(),
                              "Strand": "."})
    else:
        raise InputError(f"unknown gene annotation format {fmt!r} (gtf, bed or plink)")
    bad = genes[genes["End"] <= genes["Start"]]
    if len(bad):
        raise InputError(f"{path}: {len(bad)} gene(s) with end before start, e.g. {bad['gene_name'].iloc[0]}")
    return genes.reset_index(drop=True), build


def check_build(annotation_build: str | None, reference_genome: str, *, source: str) -> None:
    if annotation_build is None:
        log.warning("%s: the genome build is not stated in the file; assuming %s", source, reference_genome)
    elif annotation_build != reference_genome:
        raise InputError(f"{source}: gene annotation is {annotation_build} but the genotypes are {reference_genome}")
