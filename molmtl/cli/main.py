"""The ``molmtl`` command line.

Each sub-command lives in its own module under :mod:`molmtl.cli` and provides two
functions: ``configure(parser)`` adds its arguments and ``run(args) -> int`` executes it.
Command modules import heavy dependencies (torch, e3nn, ase) inside ``run`` so that
``molmtl --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from molmtl._version import __version__

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "convert": ("molmtl.cli.convert", "convert extxyz, ASE db, rMD17 npz, SPICE or ANI files to molmtl HDF5"),
    "info": ("molmtl.cli.info", "summarise a molmtl HDF5 file: counts, elements, labels, units, provenance"),
    "train": ("molmtl.cli.train", "train a multi-task potential from a YAML config"),
    "eval": ("molmtl.cli.eval", "evaluate a model on a molmtl HDF5 file"),
    "predict": ("molmtl.cli.predict", "predict energies, forces and dipoles for extxyz, HDF5 or SMILES input"),
    "compile": ("molmtl.cli.compile", "compile a model.pt into an AOTInductor .pt2 package for fast MD"),
    "md": ("molmtl.cli.md", "run NVE, NVT or NPT molecular dynamics with a trained model"),
    "ir": ("molmtl.cli.ir", "infrared spectrum from the dipole time series of an MD trajectory"),
    "main-job": ("molmtl.cli.main_job", "train, evaluate, run MD and an IR spectrum on the embedded dataset"),
    "protein": ("molmtl.cli.protein", "secondary structure and solvent accessibility from sequence"),
    "pharmaco": ("molmtl.cli.pharmaco", "multi-task pharmacogenomic dose models"),
}


def build_parser() -> argparse.ArgumentParser:
    """Build the top-level parser with one sub-parser per available command."""
    parser = argparse.ArgumentParser(prog="molmtl", description="Multi-task learning on molecules.")
    parser.add_argument("--version", action="version", version=f"molmtl {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            if error.name != module_name:
                raise
            continue
        subparser = subparsers.add_parser(name, help=help_text, description=help_text)
        module.configure(subparser)
        subparser.set_defaults(handler=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; return its exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "handler", None) is None:
        parser.print_help()
        return 2
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
