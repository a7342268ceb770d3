"""The command line: every flag a configuration key (udip_gwas/cli.py)."""

from __future__ import annotations

import pytest

from udip_gwas import config
from udip_gwas.cli import build_parser, overrides_from_args
from udip_gwas.exceptions import ConfigError


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


def _cli_text(key, default):
    """A command-line value for a key, other than its default."""
    if key.choices:
        return str(next(c for c in key.choices if c != default))
    types = key.type if isinstance(key.type, tuple) else (key.type,)
    if bool in types:
        return "false" if default else "true"
    if int in types:
        return "7"
    if float in types:
        return "0.25"
    if list in types:
        return "3,4" if key.item_type is int else "a,b"
    if dict in types:
        return "T1=x.pt"
    return "some/path"


def test_cli__every_flag_of_a_stage_reaches_its_key():
    """Each stage's flags, given a non-default value, land in the right key with the schema's type."""
    from udip_gwas.cli import STAGE_SECTIONS, _flag, overrides_from_args

    parser = build_parser()
    for stage, sections in STAGE_SECTIONS.items():
        if stage == "run":
            continue
        for i, section in enumerate(sections):
            for name, key in config.SCHEMA[section].items():
                if key.item_type is dict:  # lists of tables are TOML-only (simulate.effects)
                    continue
                text = _cli_text(key, key.default)
                args = parser.parse_args([stage, _flag(section, name, i == 0), text])
                value = overrides_from_args(args)[section][name]
                assert value != key.default and value == config.parse_cli_value(section, name, text), \
                    (stage, section, name)
                config.merge(config.defaults(), {section: {name: value}}, source="test")  # passes the key check
