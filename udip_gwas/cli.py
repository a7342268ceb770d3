"""Command-line interface: ``udip-gwas STAGE [flags]``.

Every flag is a key of the run configuration (:mod:`udip_gwas.config`): the stage's own section gives
``--key``, other sections it reads give ``--section-key``, and ``--set section.key=value`` reaches any key.
A ``--config FILE`` is read first, then the flags override it.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from udip_gwas import __version__, config as _config
from udip_gwas.exceptions import UdipGwasError

#: sections each stage reads; the first gives short flags
STAGE_SECTIONS: dict[str, tuple[str, ...]] = {
    "simulate": ("simulate",),
    "train": ("train",),
    "extract": ("extract",),
    "gwas": ("gwas", "replication", "hail"),
    "loci": ("loci", "replication", "novelty", "hail"),
    "perdi": ("perdi",),
    "report": ("report",),
    "run": tuple(s for s in _config.SCHEMA if s != "run"),
}

STAGE_HELP = {
    "simulate": "simulate a cohort with known truth (genotypes, covariates, images, prior hits, genes)",
    "train": "train one UDIP autoencoder per modality",
    "extract": "extract UDIPs (latent values) per subject and modality",
    "gwas": "one GWAS per UDIP dimension, all dimensions in one pass over the genotypes (Hail)",
    "loci": "significant variants, clumped loci, replication and novelty",
    "perdi": "perturbation-based decoder interpretation: voxel maps and atlas region scores",
    "report": "locus report (TSV + HTML) with Manhattan and QQ plots",
    "run": "run the whole pipeline described by a config file",
}


def _flag(section: str, name: str, short: bool) -> str:
    return "--" + (name if short else f"{section}-{name}").replace("_", "-")


def _add_stage_parser(sub, stage: str) -> None:
    p = sub.add_parser(stage, help=STAGE_HELP[stage], description=STAGE_HELP[stage])
    if stage == "run":
        p.add_argument("config_file", metavar="CONFIG.toml", help="run configuration")
        p.add_argument("--force", action="store_true", help="redo stages whose outputs are up to date")
    else:
        p.add_argument("--config", dest="config_file", metavar="CONFIG.toml", help="run configuration to start from")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="set any configuration key")
    g = p.add_argument_group("run")
    for name, key in _config.SCHEMA["run"].items():
        g.add_argument(_flag("run", name, True), dest=f"cfg__run__{name}", metavar=name.upper(), help=key.doc)
    if stage == "run":
        return
    for i, section in enumerate(STAGE_SECTIONS[stage]):
        if section not in _config.SCHEMA:
            continue
        g = p.add_argument_group(section)
        for name, key in _config.SCHEMA[section].items():
            if key.item_type is dict:  # a list of tables (simulate.effects) is set in the TOML file only
                continue
            g.add_argument(_flag(section, name, i == 0), dest=f"cfg__{section}__{name}", metavar=name.upper(),
                           help=f"{key.doc} (default: {key.default!r})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="udip-gwas", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"udip-gwas {__version__}")
    sub = parser.add_subparsers(dest="stage", required=True, metavar="STAGE")
    for stage in STAGE_SECTIONS:
        _add_stage_parser(sub, stage)
    demo = sub.add_parser("demo", help="simulate the built-in cohort and run every stage on it",
                          description="simulate the built-in demo cohort and run the pipeline on it")
    demo.add_argument("--out", default="udip_demo", help="output folder (default: udip_demo)")
    demo.add_argument("--force", action="store_true", help="redo stages whose outputs are up to date")
    return parser


def overrides_from_args(args: argparse.Namespace) -> dict:
    """Collect the config keys given as flags into ``{section: {key: value}}``."""
    out: dict[str, dict] = {}
    for dest, text in vars(args).items():
        if not dest.startswith("cfg__") or text is None:
            continue
        _, section, name = dest.split("__", 2)
        out.setdefault(section, {})[name] = _config.parse_cli_value(section, name, text)
    for item in getattr(args, "sets", []):
        if "=" not in item or "." not in item.split("=", 1)[0]:
            raise _config.ConfigError(f"--set expects SECTION.KEY=VALUE, found {item!r}")
        dotted, text = item.split("=", 1)
        section, name = dotted.split(".", 1)
        if section not in _config.SCHEMA or name not in _config.SCHEMA[section]:
            raise _config.ConfigError(f"--set: unknown key '{dotted}'")
        out.setdefault(section, {})[name] = _config.parse_cli_value(section, name, text)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from udip_gwas import pipeline  # heavy imports only once the command line is valid

    out = args.out if args.stage == "demo" else None
    try:
        if args.stage == "demo":
            pipeline.run_demo(args.out, force=args.force)
            return 0
        cfg = _config.load(args.config_file, overrides_from_args(args))
        out = cfg["run"]["out"]
        if args.stage == "run":
            pipeline.print_truth_comparison(pipeline.run_pipeline(cfg, force=args.force))
        else:
            pipeline.run_stage(args.stage, cfg)
    except UdipGwasError as exc:
        logging.getLogger("udip_gwas").error("%s", exc, extra={"file_only": True})
        print(f"udip-gwas {args.stage}: error: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # never a Java or Python trace on the console: one line, the trace in the log
        return _unexpected(args.stage, exc, out)
    return 0


def _unexpected(stage: str, exc: Exception, out: str | None) -> int:
    """Report an error that is not one of ours in one line; its trace goes to the stage's log file."""
    from udip_gwas.genetics.hail_context import hail_error_summary, is_hail_error

    logging.getLogger("udip_gwas").error("unexpected error", exc_info=True, extra={"file_only": True})
    where = f"; the full trace is in {out}/logs/" if out else ""
    if is_hail_error(exc):
        print(f"udip-gwas {stage}: error from Hail: {hail_error_summary(exc)}{where}", file=sys.stderr)
        return 2
    text = (str(exc).strip().splitlines() or [""])[0][:300]
    print(f"udip-gwas {stage}: unexpected error {type(exc).__name__}: {text}{where} (please report it)",
          file=sys.stderr)
    return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
