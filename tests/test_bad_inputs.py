"""Inputs as biobanks ship them, run through the command line: one change to a small valid input per case, and
the message or the exclusion it must produce. Nothing may crash, print a Java trace, or drop a subject or
variant without a written reason."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from udip_gwas import cli
from udip_gwas.fileformats import read_plink_dosages, write_plink

N_VARIANTS = 240


@pytest.fixture(scope="module")
def base(small_cohort, hail_session, tmp_path_factory):
    """A valid PLINK fileset (the small cohort's first variants), a 3-dimension UDIP table and covariates."""
    d = tmp_path_factory.mktemp("inputs")
    g, bim, fam = read_plink_dosages(small_cohort["genotypes"]["discovery"])
    g = np.where(np.isnan(g[:, :N_VARIANTS]), -1, g[:, :N_VARIANTS]).astype(int)
    variants = pd.DataFrame({"chromosome": bim["chromosome"][:N_VARIANTS], "base_pair_location":
                             bim["base_pair_location"][:N_VARIANTS], "rsid": bim["id"][:N_VARIANTS],
                             "effect_allele": bim["a1"][:N_VARIANTS], "other_allele": bim["a2"][:N_VARIANTS]})
    write_plink(d / "geno", g, variants, fam[["FID", "IID", "sex"]])
    rng = np.random.default_rng(5)
    y = rng.normal(size=(len(fam), 3))
    y[:, 0] += 0.8 * (np.where(g[:, 30] < 0, 1, g[:, 30]) - 1)
    udips = pd.DataFrame(y, columns=["T1_001", "T1_002", "T1_003"]).assign(IID=fam["IID"].to_numpy())
    udips = udips[["IID", "T1_001", "T1_002", "T1_003"]]
    udips.to_csv(d / "udips.tsv", sep="\t", index=False)
    shutil.copy(small_cohort["covariates"]["discovery"], d / "cov.tsv")
    return dict(dir=d, prefix=str(d / "geno"), udips=udips, fam=fam, variants=variants, g=g)


def _gwas(base, tmp_path, capsys, *, prefix=None, udips=None, cov=None, extra=("--categorical-covariates", "site")):
    out = tmp_path / "run"
    rc = cli.main(["gwas", "--genotypes", prefix or base["prefix"],
                   "--phenotypes", str(udips or base["dir"] / "udips.tsv"),
                   "--covariates", str(cov or base["dir"] / "cov.tsv"),
                   "--transform", "none", "--min-maf", "0.05", "--min-mac", "5", "--hwe-p", "0",
                   "--per-dimension-tsv", "none", "--out", str(out), *extra])
    err = capsys.readouterr().err
    assert "Traceback" not in err and "java." not in err and "\tat " not in err, err[-2000:]
    errors = [line for line in err.splitlines() if line.startswith("udip-gwas gwas: error")]
    return rc, errors, out


def _copy_fileset(base, to):
    for ext in (".bed", ".bim", ".fam"):
        shutil.copy(base["prefix"] + ext, str(to) + ext)
    return str(to)


def _truncate_bed(prefix):
    data = open(prefix + ".bed", "rb").read()
    open(prefix + ".bed", "wb").write(data[:-10])


def _bad_magic(prefix):
    data = bytearray(open(prefix + ".bed", "rb").read())
    data[1] = 0x00
    open(prefix + ".bed", "wb").write(bytes(data))


def _short_bim(prefix):
    lines = open(prefix + ".bim").read().splitlines()
    open(prefix + ".bim", "w").write("\n".join(lines[:-1]) + "\n")


def _duplicate_iid(prefix):
    fam = pd.read_csv(prefix + ".fam", sep=" ", header=None, dtype=str)
    fam.iloc[1, 1] = fam.iloc[0, 1]
    fam.to_csv(prefix + ".fam", sep=" ", header=False, index=False)


@pytest.mark.parametrize("mutate, message", [
    (_truncate_bed, r"\.bed: .* bytes, but .* is truncated"),
    (_bad_magic, r"\.bed: not a SNP-major PLINK 1 \.bed file"),
    (_short_bim, r"\.bed: .* variants, which need .* the \.bed is longer or the \.bim/\.fam belong to another"),
    (_duplicate_iid, r"\.fam: subject\(s\) listed twice \(IID\)"),
])
def test_plink_fileset__broken_files_named_in_one_line(base, tmp_path, capsys, mutate, message):
    import re

    prefix = _copy_fileset(base, tmp_path / "geno")
    mutate(prefix)
    rc, errors, _ = _gwas(base, tmp_path, capsys, prefix=prefix)
    assert rc == 2 and len(errors) == 1 and re.search(message, errors[0]), errors


def test_bim__codes_positions_and_malformed_records_are_skipped_and_listed(base, tmp_path, capsys):
    """PLINK's chromosome codes, position 0, unplaced and unknown contigs and a malformed line: the run goes on,
    the analysed chromosomes keep their statistics, and every left-out variant is listed with its reason."""
    prefix = _copy_fileset(base, tmp_path / "geno")
    bim = open(prefix + ".bim").read().splitlines()
    changes = {0: ("23", None, "chromosome X is not analysed"), 1: ("24", None, "chromosome Y is not analysed"),
               2: ("25", None, "chromosome X is not analysed"), 3: ("26", "500", "chromosome MT is not analysed"),
               4: ("0", None, "chromosome 0 (unplaced)"), 5: (None, "0", "position 0 (unknown)"),
               6: ("GL000192.1", "500", "chromosome GL000192.1 is not analysed"),
               7: ("chrUn_gl000220", None, "is not in the reference genome GRCh37"),
               8: (None, "999999999", "position beyond the end of chromosome"),
               9: (None, "12x", "malformed record: position 12x is not a whole number"),
               10: ("malformed", None, "malformed record: 5 fields, expected 6"),
               11: ("chr1", None, None), 12: ("01", None, None)}
    for i, (chrom, pos, _) in changes.items():
        f = bim[i].split("\t")
        if chrom == "malformed":
            f = f[:5]
        else:
            f[0] = chrom or f[0]
            f[3] = pos or f[3]
        bim[i] = "\t".join(f)
    open(prefix + ".bim", "w").write("\n".join(bim) + "\n")
    rc, errors, out = _gwas(base, tmp_path, capsys, prefix=prefix)
    assert rc == 0, errors
    excluded = pd.read_csv(out / "variants_excluded.tsv", sep="\t", dtype=str)
    assert sorted(int(r.split()[-1]) - 1 for r in excluded["record"]) == [i for i, c in changes.items() if c[2]]
    for r in excluded.itertuples():
        assert changes[int(r.record.split()[-1]) - 1][2] in r.reason, r
    import hail as hl

    ht = hl.read_table(str(out / "gwas.ht"))
    assert ht.count() == N_VARIANTS - len(excluded)
    got = ht.filter(hl.literal({base["variants"]["rsid"][11], base["variants"]["rsid"][12]}).contains(ht.rsid))
    assert got.count() == 2  # chr1 and 01 are chromosome 1
    summary = json.loads((out / "summary.json").read_text())
    assert summary["chromosomes"] == "autosomes"


def test_udip_dimensions__degenerate_ones_are_left_out_and_named(base, tmp_path, capsys):
    """A constant dimension and one that is a linear function of a covariate get no statistics, are named in
    dimensions_excluded.tsv and summary.json and leave the Bonferroni divisor; a copy of another dimension is
    tested (it carries no new information for the joint test, but its own statistics are valid)."""
    cov = pd.read_csv(base["dir"] / "cov.tsv", sep="\t", dtype={"IID": str})
    udips = base["udips"].merge(cov[["IID", "age"]], on="IID")
    udips = udips.assign(T1_004=3.5, T1_005=2.0 * udips["age"] + 1.0, T1_006=udips["T1_001"]).drop(columns="age")
    udips.to_csv(tmp_path / "udips.tsv", sep="\t", index=False)
    rc, errors, out = _gwas(base, tmp_path, capsys, udips=tmp_path / "udips.tsv")
    assert rc == 0, errors
    excluded = pd.read_csv(out / "dimensions_excluded.tsv", sep="\t")
    assert dict(zip(excluded["dimension"], excluded["reason"].str[:20])) == {
        "T1_004": "constant over the an", "T1_005": "a linear function of"}
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_dimensions_tested"] == 4 and summary["dimensions"] == ["T1_001", "T1_002", "T1_003", "T1_006"]
    import hail as hl

    ht = hl.read_table(str(out / "gwas.ht"))
    assert hl.eval(ht.dimensions) == ["T1_001", "T1_002", "T1_003", "T1_006"]
    rows = ht.filter(hl.is_defined(ht.beta)).select("beta").collect()
    assert all(r.beta[0] == pytest.approx(r.beta[3], rel=1e-9) for r in rows)


def test_udip_dimensions__all_degenerate_is_an_error(base, tmp_path, capsys):
    base["udips"][["IID"]].assign(T1_001=1.0).to_csv(tmp_path / "u.tsv", sep="\t", index=False)
    rc, errors, _ = _gwas(base, tmp_path, capsys, udips=tmp_path / "u.tsv")
    assert rc == 2 and "no dimension left to test" in errors[0]


def test_tables__crlf_and_a_byte_order_mark_read_as_plain_tables(base, tmp_path, capsys):
    for name in ("udips.tsv", "cov.tsv"):
        text = (base["dir"] / name).read_text()
        (tmp_path / name).write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode())
    rc, errors, out = _gwas(base, tmp_path, capsys, udips=tmp_path / "udips.tsv", cov=tmp_path / "cov.tsv")
    assert rc == 0, errors
    rc, _, clean = _gwas(base, tmp_path / "clean", capsys)
    assert rc == 0
    assert (out / "lambda_gc.tsv").read_text() == (clean / "lambda_gc.tsv").read_text()
    assert json.loads((out / "summary.json").read_text())["sample_counts"] == \
        json.loads((clean / "summary.json").read_text())["sample_counts"]


def test_subject_ids__leading_zeros_are_kept(base, tmp_path, capsys):
    prefix = _copy_fileset(base, tmp_path / "geno")
    fam = pd.read_csv(prefix + ".fam", sep=" ", header=None, dtype=str)
    fam[1] = "00" + fam[1]
    fam.to_csv(prefix + ".fam", sep=" ", header=False, index=False)
    base["udips"].assign(IID="00" + base["udips"]["IID"]).to_csv(tmp_path / "u.tsv", sep="\t", index=False)
    cov = pd.read_csv(base["dir"] / "cov.tsv", sep="\t", dtype=str)
    cov.assign(IID="00" + cov["IID"]).to_csv(tmp_path / "c.tsv", sep="\t", index=False)
    rc, errors, out = _gwas(base, tmp_path, capsys, prefix=prefix, udips=tmp_path / "u.tsv", cov=tmp_path / "c.tsv")
    assert rc == 0, errors
    samples = pd.read_csv(out / "samples.tsv", sep="\t", dtype=str)["IID"]
    assert len(samples) > 300 and samples.str.startswith("00").all()


def test_tables__minus_nine_is_a_number_with_a_warning_and_inf_excludes_the_subject(base, tmp_path, capsys):
    cov = pd.read_csv(base["dir"] / "cov.tsv", sep="\t", dtype={"IID": str})
    cov.loc[:2, "PC1"] = -9
    cov.to_csv(tmp_path / "c.tsv", sep="\t", index=False, na_rep="NA")
    udips = base["udips"].copy()
    udips.loc[5, "T1_002"] = np.inf
    udips.to_csv(tmp_path / "u.tsv", sep="\t", index=False)
    out = tmp_path / "run"
    rc = cli.main(["gwas", "--genotypes", base["prefix"], "--phenotypes", str(tmp_path / "u.tsv"), "--covariates",
                   str(tmp_path / "c.tsv"), "--categorical-covariates", "site", "--transform", "none",
                   "--per-dimension-tsv", "none", "--hwe-p", "0", "--out", str(out)])
    err = capsys.readouterr().err
    assert rc == 0
    assert "-9 in column(s) PC1 (3 subject(s)) is read as the number -9" in err
    excluded = pd.read_csv(out / "excluded_subjects.tsv", sep="\t", dtype=str)
    row = excluded[excluded["IID"] == str(udips.loc[5, "IID"])]
    assert row["reason"].tolist() == ["non-finite UDIP value(s): T1_002"]


def test_udip_table__empty_or_sharing_no_subject(base, tmp_path, capsys):
    base["udips"].iloc[:0].to_csv(tmp_path / "empty.tsv", sep="\t", index=False)
    rc, errors, _ = _gwas(base, tmp_path, capsys, udips=tmp_path / "empty.tsv")
    assert rc == 2 and "empty.tsv: the UDIP table has a header but no subject" in errors[0]
    base["udips"].assign(IID="X" + base["udips"]["IID"]).to_csv(tmp_path / "other.tsv", sep="\t", index=False)
    rc, errors, out = _gwas(base, tmp_path, capsys, udips=tmp_path / "other.tsv")
    assert rc == 2 and "0 subjects left after the sample join" in errors[0]
    reasons = pd.read_csv(out / "excluded_subjects.tsv", sep="\t", dtype=str)["reason"].value_counts()
    assert reasons["no genotypes"] == len(base["udips"]) and reasons["no UDIPs (no usable image)"] > 300


def test_covariate__constant_over_the_analysed_subjects_is_dropped_and_reported(base, tmp_path, capsys):
    cov = pd.read_csv(base["dir"] / "cov.tsv", sep="\t", dtype={"IID": str}).assign(array=1)
    cov.to_csv(tmp_path / "c.tsv", sep="\t", index=False, na_rep="NA")
    rc, errors, out = _gwas(base, tmp_path, capsys, cov=tmp_path / "c.tsv")
    assert rc == 0, errors
    assert json.loads((out / "summary.json").read_text())["covariates_dropped_constant"] == ["array"]


def test_vcf__without_its_header_line_is_named(base, tmp_path, capsys):
    lines = ["#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1", "1\t100\trs1\tA\tG\t.\t.\t.\tGT\t0/1"]
    (tmp_path / "x.vcf").write_text("\n".join(lines) + "\n")
    rc, errors, _ = _gwas(base, tmp_path, capsys, prefix=str(tmp_path / "x.vcf"))
    assert rc == 2 and "x.vcf: not a VCF (its first line should be '##fileformat=VCFv4.x'" in errors[0]


def test_bgen__without_a_sample_file_is_named(base, tmp_path, capsys):
    (tmp_path / "g.bgen").write_bytes(b"\0" * 64)
    rc, errors, _ = _gwas(base, tmp_path, capsys, prefix=str(tmp_path / "g.bgen"))
    assert rc == 2 and "BGEN sample file not found" in errors[0] and "g.sample" in errors[0]


def test_hail_error__reaches_the_user_as_one_line_with_the_log(base, tmp_path, capsys):
    """A failure inside Hail (here a .bed whose genotype bytes Hail cannot decode: a record length the checks
    cannot see, since the sizes agree) is reported in one line that names the genotypes and the log."""
    from udip_gwas.genetics.hail_context import hail_error_summary, hail_errors
    from udip_gwas.exceptions import InputError

    import hail as hl

    with pytest.raises(InputError) as err:
        with hail_errors("gwas discovery, genotypes x.bed", log_file=tmp_path / "gwas.log"):
            hl.eval(hl.locus("17", 0))
    assert str(err.value).startswith("gwas discovery, genotypes x.bed: ") and "gwas.log" in str(err.value)
    assert "\n" not in str(err.value) and "Invalid locus '17:0'" in str(err.value)
    assert hail_error_summary(RuntimeError("x\nHailException: bad\n\tat is.hail.Foo")) == "HailException: bad"


@pytest.mark.skipif(shutil.which("plink2") is None, reason="plink2 (Debian package plink2) not installed")
def test_chromosome_x__males_coded_0_2_match_plink2_glm(base, tmp_path, capsys):
    """gwas.chromosomes = autosomes_and_x: X variants (PLINK code 23, males' calls homozygous) against PLINK 2
    --glm's default X model (xchr-model 2: males 0/2) with the same covariates (sex among them; no-x-sex so that
    PLINK 2 does not add it a second time)."""
    fam, rng = base["fam"], np.random.default_rng(9)
    male = (fam["sex"].astype(int) == 1).to_numpy()
    freq = rng.uniform(0.2, 0.5, size=40)
    g = rng.binomial(2, freq, size=(len(fam), 40))
    g[male] = 2 * rng.binomial(1, freq, size=(male.sum(), 40))
    variants = pd.DataFrame({"chromosome": ["23"] * 40, "base_pair_location": np.arange(1, 41) * 100_000,
                             "rsid": [f"rsX{i}" for i in range(40)], "effect_allele": "G", "other_allele": "A"})
    write_plink(tmp_path / "x", g, variants, fam[["FID", "IID", "sex"]])
    udips = base["udips"].copy()
    udips["T1_001"] += 0.3 * g[:, 7] + 0.5 * male
    udips.to_csv(tmp_path / "u.tsv", sep="\t", index=False)
    cov = pd.read_csv(base["dir"] / "cov.tsv", sep="\t", dtype={"IID": str})[["FID", "IID", "age", "sex"]]
    cov.to_csv(tmp_path / "c.tsv", sep="\t", index=False, na_rep="NA")
    rc, errors, out = _gwas(base, tmp_path, capsys, prefix=str(tmp_path / "x"), udips=tmp_path / "u.tsv",
                            cov=tmp_path / "c.tsv", extra=("--chromosomes", "autosomes_and_x"))
    assert male.sum() > 100 and (~male).sum() > 100
    assert rc == 0, errors
    import hail as hl

    ours = hl.read_table(str(out / "gwas.ht")).select("rsid", "beta", "standard_error").collect()
    samples = pd.read_csv(out / "samples.tsv", sep="\t", dtype=str)["IID"]
    fid = fam.set_index("IID")["FID"]
    pheno = udips[udips["IID"].isin(samples)]
    pd.DataFrame({"#FID": fid.loc[pheno["IID"]].to_numpy(), "IID": pheno["IID"], "T1_001": pheno["T1_001"]}).to_csv(
        tmp_path / "pheno.tsv", sep="\t", index=False)
    cov.assign(FID=fid.loc[cov["IID"]].to_numpy()).rename(columns={"FID": "#FID"}).to_csv(
        tmp_path / "covar.tsv", sep="\t", index=False, na_rep="NA")
    keep = pd.DataFrame({"FID": fid.loc[samples].to_numpy(), "IID": samples})
    keep.to_csv(tmp_path / "keep.txt", sep="\t", index=False, header=False)
    subprocess.run(["plink2", "--bfile", tmp_path / "x", "--keep", tmp_path / "keep.txt", "--pheno",
                    tmp_path / "pheno.tsv", "--covar", tmp_path / "covar.tsv", "--covar-variance-standardize",
                    "--glm", "no-x-sex", "hide-covar", "omit-ref",
                    "--out", tmp_path / "p2", "--threads", "2"], check=True, capture_output=True)
    ref = pd.read_csv(next(tmp_path.glob("p2*.glm.linear")), sep="\t").set_index("ID")
    assert len(ours) == 40
    assert (ref["A1"] == "G").all()
    for r in ours:
        assert r.beta[0] == pytest.approx(ref.loc[r.rsid, "BETA"], rel=2e-4, abs=1e-6), r.rsid
        assert r.standard_error[0] == pytest.approx(ref.loc[r.rsid, "SE"], rel=2e-4), r.rsid
