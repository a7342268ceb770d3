"""Regional plots at scale: the loci stage's regional step (window statistics, r² with each lead, tables and
plots) for many loci, timed by part.

    python benchmarks/regional_bench.py --out regional.json                    # 5,000 x 50,000, 100 loci
    python benchmarks/regional_bench.py --samples 1000 --variants 5000 --loci 10 --out small.json

Simulates a panel (benchmarks/gwas_bench.py's data), runs our gwas stage on 128 null phenotypes, takes
``--loci`` evenly spaced variants as locus leads (locus = lead +/- 50 kb; plotted window +/- 250 kb more), and
times the three parts of ``udip_gwas.genetics.stages._regional``. Writes a JSON of figures.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from gwas_bench import make_data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--variants", type=int, default=50_000)
    ap.add_argument("--loci", type=int, default=100)
    ap.add_argument("--out", default="regional_bench.json")
    args = ap.parse_args()
    import hail as hl

    from udip_gwas import config, layout
    from udip_gwas.genetics import regional
    from udip_gwas.genetics.genotypes import import_genotypes
    from udip_gwas.genetics.ld import restrict_to_samples
    from udip_gwas.genetics.plots import write_regional_plots
    from udip_gwas.genetics.stages import run_gwas_cohort

    work = Path(tempfile.mkdtemp(prefix="regional_bench_"))
    make_data(work, args.samples, args.variants, 128)
    cfg = config.load(None, {"run": {"out": str(work / "run")}, "gwas": {"transform": "none", "hwe_p": 0.0,
                                                                         "per_dimension_tsv": "none"}})
    run_gwas_cohort(cfg, work / "run" / "gwas", genotypes=str(work / "geno"), phenotypes=[str(work / "udips.tsv")],
                    covariates=str(work / "covar.tsv"), cohort="discovery")
    ht = hl.read_table(str(work / "run" / "gwas" / "gwas.ht"))
    dims = list(hl.eval(ht.dimensions))
    rows = ht.filter(hl.is_missing(ht.qc_fail)).key_by().select("variant_id", "rsid").to_pandas()
    leads = rows.iloc[np.linspace(0, len(rows) - 1, args.loci + 2).astype(int)[1:-1]]
    pos = leads["variant_id"].str.split(":", expand=True)
    loci = pd.DataFrame({"locus_id": [f"L{i + 1:03d}" for i in range(len(leads))], "chromosome": pos[0].to_numpy(),
                         "start": pos[1].astype(int).to_numpy() - 50_000, "end": pos[1].astype(int).to_numpy() + 50_000,
                         "lead_variant": leads["variant_id"].to_numpy(), "lead_rsid": leads["rsid"].to_numpy(),
                         "lead_position": pos[1].astype(int).to_numpy(), "lead_dimension": "T1_001",
                         "lead_neg_log_10_p_value": 1.0, "dimensions": "T1_001"})
    mt = restrict_to_samples(import_genotypes(str(work / "geno")), [f"S{i:06d}" for i in range(args.samples)])
    figures = {"samples": args.samples, "variants": args.variants, "loci": len(loci), "dimensions": len(dims)}
    t = time.perf_counter()
    win = regional.windows(loci, margin_kb=250)
    stats = regional.window_statistics(ht, loci, win, dims, reference_genome="GRCh37")
    figures["window_statistics_s"] = round(time.perf_counter() - t, 2)
    t = time.perf_counter()
    r2 = regional.r2_with_leads(mt, loci, win, reference_genome="GRCh37")
    figures["r2_with_leads_s"] = round(time.perf_counter() - t, 2)
    table = regional.regional_table(stats, r2)
    files = layout.LociFiles(work / "loci")
    files.regional.mkdir(parents=True)
    t = time.perf_counter()
    strips = regional.lead_strips(ht, loci, dims)
    write_regional_plots(table, loci, pd.DataFrame(columns=["variant_id", "locus_id"]), strips, None,
                         thresholds={"5e-08": 5e-8, "5e-08/128": 5e-8 / 128}, files=files)
    figures["plots_s"] = round(time.perf_counter() - t, 2)
    figures["variants_plotted"] = len(table)
    figures["total_s"] = round(figures["window_statistics_s"] + figures["r2_with_leads_s"] + figures["plots_s"], 2)
    Path(args.out).write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
