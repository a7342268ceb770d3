"""The run configuration: schema, loading, settings (udip_gwas/config.py)."""

from __future__ import annotations

import pathlib

import pytest

from udip_gwas import config
from udip_gwas.exceptions import ConfigError


def write(tmp_path, text: str):
    p = tmp_path / "run.toml"
    p.write_text(text)
    return p


def test_schema__every_default_passes_its_own_key_check():
    """A default outside its own type or choices would only fail when a user writes it back."""
    for section, keys in config.SCHEMA.items():
        for name, key in keys.items():
            assert config._coerce(section, name, key, key.default, source="schema") == key.default, (section, name)


def test_dumps__the_written_configuration_loads_back_equal(tmp_path):
    """provenance/<stage>.config.toml must reproduce the run: what dumps writes loads to the same values."""
    cfg = config.load(None, {"gwas": {"covariate_columns": ["age", "sex"], "min_maf": 0.02},
                             "perdi": {"checkpoints": {"T1": "a b.pt"}}, "loci": {"mhc_start": 1, "mhc_end": 2}})
    path = tmp_path / "written.toml"
    path.write_text(config.dumps(cfg))
    back = config.load(path)
    back["perdi"]["checkpoints"] = {k: pathlib.Path(v).name for k, v in back["perdi"]["checkpoints"].items()}
    for section in cfg:
        for key, value in cfg[section].items():
            if key in config._PATH_KEYS and isinstance(value, str):
                continue  # resolved against the file's folder
            assert back[section][key] == value, (section, key)


def test_settings__typed_sections_with_the_schema_defaults():
    g = config.settings(config.load(None, {"gwas": {"min_maf": 0.05}}), "gwas")
    assert g.min_maf == 0.05 and g.transform == "inverse_normal" and g.covariate_columns == []
    with pytest.raises(AttributeError):
        g.min_mfa  # noqa: B018 - a misspelt key fails where it is read
    with pytest.raises(Exception):
        g.min_maf = 0.1  # frozen
    with pytest.raises(ConfigError, match="unknown section 'gwsa'"):
        config.settings(config.load(), "gwsa")


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


def test_example_config__is_current_and_loads():
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "config.toml"
    assert path.read_text() == config.example_toml(), "regenerate examples/config.toml from config.example_toml()"
    cfg = config.load(path)
    assert cfg["gwas"]["transform"] == "inverse_normal"
