"""The run folder's file names (udip_gwas/layout.py)."""

from __future__ import annotations

import pytest

from udip_gwas import config, layout, pipeline
from udip_gwas.exceptions import InputError


def test_wire__fills_inputs_from_the_layouts_files(tmp_path):
    cfg = pipeline.wire(config.load(None, {"run": {"out": str(tmp_path)}}))
    sim = layout.SimulateFiles(tmp_path / "simulate")
    assert cfg["train"]["images"] == str(sim.manifest("train"))
    assert cfg["gwas"]["genotypes"] == str(sim.genotypes("discovery"))
    assert cfg["gwas"]["phenotypes"] == [str(layout.udip_table(tmp_path / "extract", "discovery", m))
                                         for m in ("T1", "T2")]
    assert cfg["extract"]["checkpoints"]["T2"] == str(tmp_path / "train" / "T2" / "best.pt")
    assert cfg["report"]["loci"] == cfg["perdi"]["loci"] == str(tmp_path / "loci" / "loci.tsv")
    # keys the user set are kept
    mine = pipeline.wire(config.load(None, {"run": {"out": str(tmp_path)}, "report": {"title": "x"},
                                            "loci": {"gwas": str(tmp_path / "elsewhere")}}))
    assert mine["loci"]["gwas"] == str(tmp_path / "elsewhere") and mine["report"]["title"] == "x"


def test_discovery_gwas__beside_a_replication_run_or_alone(tmp_path):
    (tmp_path / "alone" / "gwas.ht").mkdir(parents=True)
    assert layout.discovery_gwas(tmp_path / "alone").root == tmp_path / "alone"
    (tmp_path / "both" / "discovery" / "gwas.ht").mkdir(parents=True)
    found = layout.discovery_gwas(tmp_path / "both")
    assert found.root == tmp_path / "both" / "discovery"
    assert layout.replication_gwas(found).root == tmp_path / "both" / "replication"
    with pytest.raises(InputError, match="no gwas.ht in"):
        layout.discovery_gwas(tmp_path / "none")
    assert layout.discovery_gwas(tmp_path / "none", required=False).table == tmp_path / "none" / "gwas.ht"


def test_loci_files__thresholds_named_or_refused(tmp_path):
    files = layout.LociFiles(tmp_path)
    assert files.loci().name == "loci.tsv" and files.loci("genome_wide").name == "loci_genome_wide.tsv"
    assert files.dimension_qq("T1_003") == tmp_path / "plots" / "qq_T1_003.png"
    with pytest.raises(ValueError, match="threshold 'strict'"):
        files.clumps("strict")
    with pytest.raises(ValueError, match="unknown stage 'lcoi'"):
        layout.stage_dir(tmp_path, "lcoi")
