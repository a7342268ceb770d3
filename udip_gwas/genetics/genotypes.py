"""Reading genotypes into Hail (PLINK, BGEN, VCF, MatrixTable) and variant QC.

Every import gives a MatrixTable keyed by ``locus, alleles`` with row fields ``rsid`` and ``variant_id``,
column key ``s`` (the IID) and an entry field ``dosage``: the expected count of the second (alternate,
effect) allele, from hard calls or imputed dosages.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path

import pandas as pd

from udip_gwas.exceptions import InputError

log = logging.getLogger(__name__)


#: global field marking a MatrixTable whose ``dosage`` is the diploid ``GT``'s alternate-allele count
DOSAGE_FROM_GT = "_udip_dosage_from_gt"
#: global field marking a MatrixTable whose ``dosage`` is an expected count from genotype probabilities or a
#: DS field (imputed data) even where a hard-called ``GT`` comes with it: its INFO is computed, not 1
DOSAGE_IMPUTED = "_udip_dosage_imputed"


def _exists(path: str) -> bool:
    """Local paths are checked; remote ones (gs://, hdfs://, s3://) are left to Hail."""
    return "://" in path or Path(path).exists()


def detect_format(path: str) -> str:
    p = path.rstrip("/")
    if p.endswith(".mt"):
        return "mt"
    if p.endswith(".bgen"):
        return "bgen"
    if p.endswith((".vcf", ".vcf.gz", ".vcf.bgz")):
        return "vcf"
    if _exists(p + ".bed") or p.endswith(".bed"):
        return "plink"
    raise InputError(f"genotypes '{path}': cannot tell the format; give a PLINK prefix (with .bed/.bim/.fam), "
                     "a .bgen, a .vcf[.bgz] or a .mt, or set 'gwas.genotype_format'")


def import_genotypes(path: str, *, fmt: str = "auto", reference_genome: str = "GRCh37",
                     sample_file: str | None = None, n_partitions: int | None = None, chromosomes: str = "autosomes",
                     work_dir: str | Path | None = None, excluded_out: str | Path | None = None):
    """Import genotypes as a Hail MatrixTable with a ``dosage`` entry field (see module docstring).

    Only variants on ``chromosomes`` (``autosomes`` or ``autosomes_and_x``) that the reference genome can place
    are imported; every other record is left out by the rules of :mod:`udip_gwas.genetics.contigs` and, with
    ``excluded_out``, written there with its reason. ``work_dir`` holds the checked copy of a PLINK .bim
    (default: the system's temporary folder).

    ``n_partitions``: ``None`` or 0 lets Hail split the file by size (one partition per 128 MB for PLINK),
    then, when that gives fewer than two partitions per Spark core, imports again with two per core: a
    15 MB PLINK file would otherwise be read by one core while the others wait. A positive number is
    passed to Hail as it is. A MatrixTable (.mt) keeps its partitioning.
    """
    import hail as hl

    from udip_gwas.genetics.contigs import CHROMOSOME_SETS, log_excluded

    if chromosomes not in CHROMOSOME_SETS:
        raise InputError(f"gwas.chromosomes: {chromosomes!r} is not one of {', '.join(CHROMOSOME_SETS)}")
    fmt = detect_format(path) if fmt == "auto" else fmt
    rules = dict(reference_genome=reference_genome, chromosomes=chromosomes,
                 work_dir=Path(work_dir) if work_dir else Path(tempfile.gettempdir()) / "udip-gwas")
    mt, excluded, total = _import(path, fmt, sample_file, n_partitions or None, **rules)
    if not n_partitions and fmt != "mt":
        target = 2 * hl.spark_context().defaultParallelism
        if mt.n_partitions() < target:
            log.info("%s: %d partition(s) from the file size; importing as %d (two per Spark core)", path,
                     mt.n_partitions(), target)
            mt, excluded, total = _import(path, fmt, sample_file, target, **rules, listed=(excluded, total))
    log_excluded(path, excluded, total)
    if excluded_out is not None:
        excluded.to_csv(excluded_out, sep="\t", index=False)
    return mt


def _import(path: str, fmt: str, sample_file: str | None, n_partitions: int | None, *, reference_genome: str,
            chromosomes: str, work_dir: Path, listed=None):
    """One import of a known format with Hail's ``n_partitions`` (None: Hail's own choice): the MatrixTable,
    the records left out and the number of records in the file, or None where unknown (``listed``: both, where
    an earlier import of the same file found them)."""
    import hail as hl

    from udip_gwas.genetics import contigs

    lengths = hl.get_reference(reference_genome).lengths
    recode = contigs.contig_recoding(reference_genome)
    excluded, total = listed if listed is not None else (None, None)
    if fmt == "plink":
        mt, excluded, total = _import_plink(path, n_partitions, reference_genome=reference_genome,
                                            chromosomes=chromosomes, work_dir=work_dir, lengths=lengths,
                                            listed=listed)
    elif fmt == "vcf":
        mt = _only_analysed(_import_vcf(path, reference_genome, recode, n_partitions), reference_genome, chromosomes)
        if excluded is None:
            excluded, total = _vcf_excluded(path, reference_genome, chromosomes, lengths, recode)
    elif fmt == "bgen":
        mt = _only_analysed(_import_bgen(path, reference_genome, recode, sample_file, n_partitions), reference_genome,
                            chromosomes)
        if excluded is None:
            excluded, total = _bgen_excluded(path, mt, reference_genome, chromosomes, lengths)
    elif fmt == "mt":
        mt, excluded, total = _read_mt(path, reference_genome, chromosomes)
    else:
        raise InputError(f"unknown genotype format {fmt!r}")
    if "rsid" not in mt.row:
        mt = mt.annotate_rows(rsid=hl.missing(hl.tstr))
    mt = mt.annotate_rows(rsid=hl.or_missing(mt.rsid != ".", mt.rsid))
    # one variant id for every format: chromosome:position:other:effect (alleles[0] is the reference)
    mt = mt.annotate_rows(variant_id=hl.format("%s:%d:%s:%s", mt.locus.contig, mt.locus.position,
                                               mt.alleles[0], mt.alleles[1]))
    if excluded is None:
        excluded = pd.DataFrame(columns=contigs.EXCLUDED_COLUMNS)
    return mt, excluded, total


def _only_analysed(mt, reference_genome: str, chromosomes: str):
    import hail as hl

    from udip_gwas.genetics import contigs

    # whole-contig intervals: a BGEN's index serves them without reading the other chromosomes' variants
    return hl.filter_intervals(mt, [hl.parse_locus_interval(c, reference_genome)
                                    for c in sorted(contigs.analysed_contigs(reference_genome, chromosomes))])


def _import_plink(path: str, n_partitions, *, reference_genome: str, chromosomes: str, work_dir: Path, lengths,
                  listed=None):
    """PLINK 1 fileset: checked (sizes, magic, duplicate subjects), its .bim copied with the reference's
    contig names and the left-out records renamed so Hail skips them (:func:`contigs.clean_bim`)."""
    import hail as hl

    from udip_gwas.fileformats import check_plink_fileset
    from udip_gwas.genetics import contigs

    prefix = path[:-4] if path.endswith(".bed") else path
    for ext in (".bed", ".bim", ".fam"):
        if not _exists(prefix + ext):
            raise InputError(f"PLINK fileset '{prefix}': {prefix + ext} not found")
    if "://" in prefix:  # remote files: Hail reads them as they are
        mt = hl.import_plink(bed=prefix + ".bed", bim=prefix + ".bim", fam=prefix + ".fam",
                             reference_genome=reference_genome, n_partitions=n_partitions, a2_reference=True,
                             skip_invalid_loci=True)
        excluded, total = None, None
    else:
        bim = Path(prefix + ".bim")
        stat = bim.stat()
        key = hashlib.sha256(f"{bim.resolve()}:{stat.st_size}:{stat.st_mtime_ns}:{reference_genome}:{chromosomes}"
                             .encode()).hexdigest()[:16]
        clean = work_dir / f"{bim.stem}.{key}.bim"
        if listed is not None and clean.exists():  # a re-import with more partitions: checked and cleaned already
            excluded, total = listed
        else:
            _, total = check_plink_fileset(prefix)
            excluded = contigs.clean_bim(bim, clean, reference_genome=reference_genome, lengths=lengths,
                                         analysed=chromosomes)
        mt = hl.import_plink(bed=prefix + ".bed", bim=str(clean), fam=prefix + ".fam",
                             reference_genome=reference_genome, n_partitions=n_partitions, a2_reference=True,
                             contig_recoding={}, skip_invalid_loci=True)
    mt = mt.annotate_entries(dosage=hl.float64(mt.GT.n_alt_alleles()))
    mt = mt.select_cols().select_entries("GT", "dosage")
    # PLINK calls are all diploid, so the QC can count genotypes from the dosage sums
    return mt.annotate_globals(**{DOSAGE_FROM_GT: True}), excluded, total


def _import_vcf(path: str, reference_genome: str, recode: dict, n_partitions):
    import hail as hl

    if not _exists(path):
        raise InputError(f"VCF not found: {path}")
    if "://" not in path:
        from udip_gwas.fileformats import open_text

        with open_text(path) as fh:
            first = fh.readline()
        if not first.startswith("##fileformat=VCF"):
            raise InputError(f"{path}: not a VCF (its first line should be '##fileformat=VCFv4.x', found "
                             f"{first[:40].rstrip()!r})")
    mt = hl.import_vcf(path, reference_genome=reference_genome, force_bgz=path.endswith((".gz", ".bgz")),
                       contig_recoding=recode, n_partitions=n_partitions, array_elements_required=False,
                       skip_invalid_loci=True)
    entry = mt.entry
    # one row per alternate allele: a multi-allelic site's dosage would otherwise count every alternate
    # allele as the effect allele (its first); a_index is the row's allele among the site's alleles
    mt = hl.split_multi(mt, permit_shuffle=True)  # records sharing a locus may need reordering
    if "GT" in entry:
        mt = mt.annotate_entries(GT=hl.downcode(mt.GT, mt.a_index))
    if "DS" in entry:
        # DS per alternate allele (Number=A), or one number, meaningful for a bi-allelic site only; where a
        # sample has no DS (a header may declare it for records that lack it) its GT gives the count
        ds = hl.float64(mt.DS[mt.a_index - 1]) if isinstance(mt.DS.dtype, hl.tarray) else \
            hl.or_missing(~mt.was_split, hl.float64(mt.DS))
        if "GT" in entry:
            ds = hl.coalesce(ds, hl.float64(mt.GT.n_alt_alleles()))
    elif "GT" in entry:
        ds = hl.float64(mt.GT.n_alt_alleles())
    else:
        raise InputError(f"{path}: the VCF has neither a GT nor a DS format field")
    mt = mt.annotate_entries(dosage=ds).drop("a_index", "was_split")
    if "DS" in entry:
        mt = mt.annotate_globals(**{DOSAGE_IMPUTED: True})
    return mt.select_cols().select_entries(*(["GT"] if "GT" in entry else []), "dosage")


def _vcf_excluded(path: str, reference_genome: str, chromosomes: str, lengths, recode: dict):
    """The VCF records the import leaves out, with their reasons: one pass over the text's first columns,
    collecting only the records the reference cannot place or ``chromosomes`` leaves out."""
    import hail as hl

    from udip_gwas.genetics import contigs

    wanted = hl.literal(contigs.analysed_contigs(reference_genome, chromosomes))
    lines = hl.import_lines(path, force_bgz=path.endswith((".gz", ".bgz")))
    lines = lines.filter(~lines.text.startswith("#"))
    f = lines.text.split("\t", 4)
    contig = hl.literal(recode).get(f[0], f[0])
    pos = hl.parse_int64(f[1])
    ok = wanted.contains(contig) & hl.is_defined(pos) & (pos > 0) & \
        (pos <= hl.literal(dict(lengths)).get(contig, 0))
    lines = lines.annotate(chromosome=f[0], position=f[1], rsid=f[2], ok=ok)
    total, bad = lines.aggregate((hl.agg.count(), hl.agg.filter(~lines.ok, hl.agg.collect(
        hl.struct(chromosome=lines.chromosome, position=lines.position, rsid=lines.rsid, line=lines.file)))))
    bad = pd.DataFrame([dict(b) for b in bad], columns=["chromosome", "position", "rsid", "line"])
    _, _, reason = contigs.place(bad["chromosome"], bad["position"], reference_genome=reference_genome,
                                 lengths=lengths, analysed=chromosomes, plink=True)
    return pd.DataFrame({"chromosome": bad["chromosome"], "position": bad["position"], "rsid": bad["rsid"],
                         "record": Path(path).name, "reason": reason})[contigs.EXCLUDED_COLUMNS], total


def _import_bgen(path: str, reference_genome: str, recode: dict, sample_file: str | None, n_partitions):
    import hail as hl

    if not _exists(path):
        raise InputError(f"BGEN not found: {path}")
    sample = sample_file or (path[:-5] + ".sample")
    if not _exists(sample):
        raise InputError(f"BGEN sample file not found: {sample} (set 'gwas.sample_file')")
    # the index holds the loci as recoded, so its name says how
    key = hashlib.sha256(json.dumps(sorted(recode.items())).encode()).hexdigest()[:12]
    idx = f"{path}.{reference_genome}.{key}.idx2"
    if not hl.hadoop_exists(idx):
        log.info("indexing %s (once, as %s)", path, idx)
        hl.index_bgen(path, index_file_map={path: idx}, reference_genome=reference_genome, contig_recoding=recode,
                      skip_invalid_loci=True)
    mt = hl.import_bgen(path, entry_fields=["dosage", "GT"], sample_file=sample, n_partitions=n_partitions,
                        index_file_map={path: idx})
    mt = mt.select_entries("GT", "dosage").annotate_globals(**{DOSAGE_IMPUTED: True})
    # Hail names the samples by the .sample file's ID_1; the subject is ID_2 (the IID), which differs from
    # ID_1 in files written with family IDs (PLINK 2's and qctool's exports)
    iids = _sample_file_iids(sample)
    if iids is not None:
        mt = mt.add_col_index("col_index")
        mt = mt.key_cols_by(s=hl.literal(iids)[hl.int32(mt.col_index)]).drop("col_index")
    return mt


def _bgen_excluded(path: str, mt, reference_genome: str, chromosomes: str, lengths):
    """The BGEN variants left out (by the index, or outside ``chromosomes``), with their reasons; the variant
    headers are read only when fewer variants are analysed than the file declares."""
    from udip_gwas.fileformats import bgen_variant_count, bgen_variants
    from udip_gwas.genetics import contigs

    if "://" in path:
        return None, None
    total = bgen_variant_count(path)
    if mt.count_rows() == total:
        return None, total
    v = bgen_variants(path)
    _, _, reason = contigs.place(v["chromosome"], v["position"].astype(str), reference_genome=reference_genome,
                                 lengths=lengths, analysed=chromosomes, plink=True)
    out = pd.DataFrame({"chromosome": v["chromosome"], "position": v["position"], "rsid": v["rsid"],
                        "record": Path(path).name + " variant " + v["record"].astype(str), "reason": reason})
    return out[reason.notna()].reset_index(drop=True), total


def _read_mt(path: str, reference_genome: str, chromosomes: str):
    """A Hail MatrixTable: its rows outside ``chromosomes`` left out (listed); a ``dosage`` from ``GT`` where
    it has none."""
    import hail as hl

    from udip_gwas.genetics import contigs

    mt = hl.read_matrix_table(path)
    if "dosage" not in mt.entry:
        if "GT" not in mt.entry:
            raise InputError(f"{path}: MatrixTable has neither a 'dosage' nor a 'GT' entry field")
        mt = mt.annotate_entries(dosage=hl.float64(mt.GT.n_alt_alleles()))
    elif DOSAGE_FROM_GT not in mt.globals.dtype.fields:  # a dosage of its own: treated as imputed
        mt = mt.annotate_globals(**{DOSAGE_IMPUTED: True})
    wanted = hl.literal(contigs.analysed_contigs(reference_genome, chromosomes))
    rows = mt.rows()
    total, out = rows.aggregate((hl.agg.count(), hl.agg.filter(~wanted.contains(rows.locus.contig), hl.agg.collect(
        hl.struct(chromosome=rows.locus.contig, position=rows.locus.position)))))
    out = pd.DataFrame([dict(o) for o in out], columns=["chromosome", "position"])
    excluded = out.assign(rsid="", record=Path(path).name,
                          reason="chromosome " + out["chromosome"].map(lambda c: contigs.canonical(c, plink=False))
                          + f" is not analysed (gwas.chromosomes = {chromosomes})")
    return mt.filter_rows(wanted.contains(mt.locus.contig)), excluded[contigs.EXCLUDED_COLUMNS], total


def _sample_file_iids(sample: str) -> list[str] | None:
    """The ID_2 column of a BGEN ``.sample`` file (rows in the BGEN's sample order), or None when it equals ID_1
    (as in UK Biobank's) or the file cannot be read here (a remote path: Hail's ID_1 is kept)."""
    import pandas as pd

    if "://" in sample:
        return None
    table = pd.read_csv(sample, sep=r"\s+", dtype=str, skiprows=[1], keep_default_na=False)
    if "ID_2" not in table.columns or "ID_1" not in table.columns:
        raise InputError(f"{sample}: expected the BGEN sample-file header 'ID_1 ID_2 ...', found "
                         f"{list(table.columns)[:4]}")
    if (table["ID_1"] == table["ID_2"]).all():
        return None
    dup = table["ID_2"][table["ID_2"].duplicated()].tolist()
    if dup:
        raise InputError(f"{sample}: subject(s) listed twice in ID_2: {dup[:5]}")
    return table["ID_2"].tolist()


def annotate_variant_qc(mt, *, min_maf: float, min_mac: int, min_call_rate: float, min_info: float,
                        hwe_p: float):
    """Annotate per-variant statistics over the MatrixTable's samples and the first QC filter each fails.

    Nothing is filtered here, so the statistics are computed in the same pass over the genotypes as the
    association (pass them through and filter the result).

    Row fields added: ``n_called, call_rate, effect_allele_frequency, mac, info`` (MaCH r2-type
    ``var(dosage) / (2p(1-p))``, capped at 1, for imputed dosages: BGEN, VCF ``DS``, a MatrixTable's own
    ``dosage``, even with a hard-called ``GT`` beside them; 1 for hard calls), ``hwe_p`` (from hard calls, when
    present)
    and ``qc_fail``: missing when the variant passes, else the first filter it fails, in the order
    ``call_rate, maf, mac, info, hwe``.
    """
    import hail as hl

    n = mt.count_cols()
    has_gt = "GT" in mt.entry
    # where the dosage is the diploid call's alternate-allele count (PLINK input, marked by the import):
    # with d in {0, 1, 2}, sum(d) = het + 2 hom_var and sum(d^2) = het + 4 hom_var give the genotype counts
    # without counting them (three aggregators fewer per entry: about 1 s of the 13-15 s warm association
    # pass of benchmarks/gwas_bench.py)
    from_sums = has_gt and DOSAGE_FROM_GT in mt.globals.dtype.fields
    # INFO measures imputation certainty: computed for expected counts, 1 for hard calls
    imputed = not has_gt or DOSAGE_IMPUTED in mt.globals.dtype.fields
    stats = dict(
        n_called=hl.agg.count_where(hl.is_defined(mt.dosage)),
        sum_ds=hl.agg.sum(mt.dosage),
        sum_ds2=hl.agg.sum(mt.dosage * mt.dosage),
    )
    if has_gt and not from_sums:
        # genotype counts by count_where on the call's alternate-allele count: hl.agg.hardy_weinberg_test
        # counts through a dictionary aggregator, one tree lookup per entry (about a fifth of the stack
        # samples of the association on 5,000 x 50,000), and three is_het/is_hom tests cost more than one count
        alt = hl.or_missing(mt.GT.ploidy == 2, mt.GT.n_alt_alleles())
        stats.update(n_hom_ref=hl.agg.count_where(alt == 0), n_het=hl.agg.count_where(alt == 1),
                     n_hom_var=hl.agg.count_where(alt == 2))
    mt = mt.annotate_rows(_qc=hl.struct(**stats))
    q = mt._qc
    if from_sums:
        # exact: sums of 0, 1 and 4 over fewer than 2^53 samples
        hom_var = hl.int32(hl.floor((q.sum_ds2 - q.sum_ds) / 2 + 0.5))
        het = hl.int32(hl.floor(q.sum_ds + 0.5)) - 2 * hom_var
        mt = mt.annotate_rows(_qc=q.annotate(n_hom_ref=hl.int32(q.n_called) - het - hom_var, n_het=het,
                                             n_hom_var=hom_var))
        q = mt._qc
    af = q.sum_ds / (2 * q.n_called)
    var = q.sum_ds2 / q.n_called - (q.sum_ds / q.n_called) ** 2
    info = hl.if_else((af > 0) & (af < 1), var / (2 * af * (1 - af)), 0.0)
    mt = mt.annotate_rows(
        n_called=q.n_called, call_rate=q.n_called / n, effect_allele_frequency=af,
        mac=hl.min(q.sum_ds, 2 * q.n_called - q.sum_ds),
        info=hl.min(info, 1.0) if imputed else hl.float64(1.0),
        # autosomes only: on X a male's hemizygous call reads as a homozygote
        hwe_p=hl.or_missing(mt.locus.in_autosome(), hl.hardy_weinberg_test(
            hl.int32(q.n_hom_ref), hl.int32(q.n_het), hl.int32(q.n_hom_var)).p_value)
        if has_gt
        else hl.missing(hl.tfloat64),
    ).drop("_qc")
    maf = hl.min(mt.effect_allele_frequency, 1 - mt.effect_allele_frequency)
    return mt.annotate_rows(qc_fail=(
        hl.case()
        .when(~(mt.call_rate >= min_call_rate), "call_rate")
        .when(~(maf >= min_maf), "maf")
        .when(~(mt.mac >= min_mac), "mac")
        .when((min_info > 0) & ~(mt.info >= min_info), "info")
        .when((hwe_p > 0) & hl.is_defined(mt.hwe_p) & (mt.hwe_p < hwe_p), "hwe")
        .or_missing()))


QC_FIELDS = ("n_called", "call_rate", "effect_allele_frequency", "mac", "info", "hwe_p", "qc_fail")
