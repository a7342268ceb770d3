from __future__ import annotations

import pytest

from udip_gwas import config
from udip_gwas.cli import build_parser, overrides_from_args
from udip_gwas.exceptions import ConfigError


def write(tmp_path, text: str):
    p = tmp_path / "run.toml"
    p.write_text(text)
    return p


def test_load__defaults_cover_every_schema_key():
    cfg = config.load()
    for section, keys in config.SCHEMA.items():
        assert set(cfg[section]) == set(keys)
    assert cfg["loci"]["p_threshold"] == 5e-8


def test_load__unknown_key_is_named(tmp_path):
    p = write(tmp_path, "[gwas]\ntransfrom = 'none'\n")
    with pytest.raises(ConfigError, match=r"unknown key 'gwas.transfrom'") as exc:
        config.load(p)
    assert str(p) in str(exc.value)


def test_load__unknown_section_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown section '\[gwass\]'"):
        config.load(write(tmp_path, "[gwass]\nx = 1\n"))


def test_load__wrong_type_names_key_expected_and_found(tmp_path):
    with pytest.raises(ConfigError, match=r"'train.epochs': expected int, found str 'ten'"):
        config.load(write(tmp_path, "[train]\nepochs = 'ten'\n"))


def test_load__bool_is_not_a_number(tmp_path):
    with pytest.raises(ConfigError, match=r"'train.epochs': expected int, found bool"):
        config.load(write(tmp_path, "[train]\nepochs = true\n"))


def test_load__int_accepted_for_float(tmp_path):
    cfg = config.load(write(tmp_path, "[loci]\np_threshold = 1\n"))
    assert cfg["loci"]["p_threshold"] == 1.0 and isinstance(cfg["loci"]["p_threshold"], float)


def test_load__choice_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"'gwas.transform': expected one of"):
        config.load(write(tmp_path, "[gwas]\ntransform = 'log'\n"))


def test_load__list_items_checked(tmp_path):
    with pytest.raises(ConfigError, match=r"'simulate.chromosomes': item 1 should be int"):
        config.load(write(tmp_path, "[simulate]\nchromosomes = [1, 'x']\n"))


def test_load__missing_input_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match=r"'gwas.covariates': file not found: .*nope.tsv"):
        config.load(write(tmp_path, "[gwas]\ncovariates = 'nope.tsv'\n"))


def test_load__relative_paths_resolve_against_the_config_file(tmp_path, monkeypatch):
    (tmp_path / "cov.tsv").write_text("FID\tIID\n")
    cfg_dir = tmp_path
    monkeypatch.chdir("/")
    cfg = config.load(write(cfg_dir, "[run]\nout = 'res'\n[gwas]\ncovariates = 'cov.tsv'\n"))
    assert cfg["gwas"]["covariates"] == str(tmp_path / "cov.tsv")
    assert cfg["run"]["out"] == str(tmp_path / "res")


def test_load__invalid_toml_names_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[run\n"))


def test_dumps__round_trips(tmp_path):
    cfg = config.load(None, {"hail": {"spark_conf": {"spark.executor.memory": "2g"}}, "train": {"epochs": 3}})
    p = tmp_path / "resolved.toml"
    p.write_text(config.dumps(cfg))
    again = config.load(p)
    again["run"]["out"] = cfg["run"]["out"]
    assert again == cfg


def test_cli__every_flag_maps_to_a_key():
    parser = build_parser()
    args = parser.parse_args(["gwas", "--min-maf", "0.05", "--hail-master", "local[1]", "--transform", "none",
                              "--set", "loci.clump_kb=500", "--categorical-covariates", "site,array"])
    ov = overrides_from_args(args)
    assert ov == {"gwas": {"min_maf": 0.05, "transform": "none", "categorical_covariates": ["site", "array"]},
                  "hail": {"master": "local[1]"}, "loci": {"clump_kb": 500}}
    cfg = config.load(None, ov)
    assert cfg["loci"]["clump_kb"] == 500


def test_cli__bad_value_names_key():
    args = build_parser().parse_args(["train", "--epochs", "many"])
    with pytest.raises(ConfigError, match=r"'train.epochs' expects an integer"):
        overrides_from_args(args)


def test_cli__flags_cover_schema_sections():
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "stage")
    gwas = sub.choices["gwas"]
    dests = {a.dest for a in gwas._actions}
    for name in config.SCHEMA["gwas"]:
        assert f"cfg__gwas__{name}" in dests
    for name in config.SCHEMA["hail"]:
        assert f"cfg__hail__{name}" in dests


def test_example_config__is_current_and_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "config.toml"
    assert path.read_text() == config.example_toml(), "regenerate examples/config.toml from config.example_toml()"
    cfg = config.load(path)
    assert cfg["gwas"]["transform"] == "inverse_normal"


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
