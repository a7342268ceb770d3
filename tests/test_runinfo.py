"""Provenance and the exclusions file (udip_gwas/runinfo.py)."""

from __future__ import annotations

from udip_gwas import config


def test_provenance__written_for_a_stage(tmp_path):
    import json

    from udip_gwas import runinfo

    cfg = config.load(None, {"run": {"out": str(tmp_path), "seed": 9}})
    runinfo.start_stage(cfg, "demo-stage", seeds={"x": 1})
    rec = json.loads((tmp_path / "provenance" / "demo-stage.versions.json").read_text())
    assert rec["seeds"] == {"master": 9, "x": 1}
    assert rec["packages"]["torch"] and rec["packages"]["hail"]
    assert "git_revision" in rec
    assert config.load(tmp_path / "provenance" / "demo-stage.config.toml")["run"]["seed"] == 9
    assert (tmp_path / "logs" / "demo-stage.log").exists()


def test_record_exclusions__rerun_replaces_its_own_rows(tmp_path):
    import pandas as pd

    from udip_gwas import runinfo

    runinfo.record_exclusions(tmp_path, [{"IID": "a", "reason": "x"}], stage="gwas", cohort="discovery")
    runinfo.record_exclusions(tmp_path, [{"IID": "b", "reason": "y"}], stage="extract", cohort="discovery")
    runinfo.record_exclusions(tmp_path, [{"IID": "c", "reason": "z"}], stage="gwas", cohort="discovery")
    df = pd.read_csv(tmp_path / "excluded_subjects.tsv", sep="\t")
    assert sorted(df["IID"]) == ["b", "c"]
