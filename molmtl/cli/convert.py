"""``molmtl convert``: import extxyz, ASE db, rMD17 npz, SPICE or ANI files into molmtl HDF5."""

from __future__ import annotations

import argparse
import shlex
import sys

FORMATS = ("auto", "extxyz", "asedb", "rmd17", "spice", "ani", "ase")
LABEL_KEYS = ("energy", "forces", "dipole", "charges", "stress", "total_charge")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``molmtl convert``."""
    parser.add_argument(
        "input",
        help="input file: .xyz/.extxyz, .db, rMD17 .npz, SPICE or ANI .h5/.hdf5, or any file ase.io reads",
    )
    parser.add_argument(
        "-o",
        "--output",
        required=True,
        help="output molmtl HDF5 file; written only when the whole import succeeds",
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="auto",
        help="input layout (default: detected from the name and contents)",
    )
    keys = parser.add_argument_group(
        "label keys",
        "names of the labels in the input; 'none' skips a label. A key given here that matches nothing "
        "is an error.",
    )
    for label in LABEL_KEYS:
        option = label.replace("_", "-")
        keys.add_argument(
            f"--{option}-key",
            dest=f"{label}_key",
            metavar="KEY",
            help=f"key of the {label.replace('_', ' ')} "
            "(info, arrays, calculator results, db data or HDF5 dataset)",
        )
    unit_group = parser.add_argument_group(
        "units", "units of the input; each overrides what the file or its layout states"
    )
    unit_group.add_argument("--energy-unit", help="eV, meV, hartree, kcal/mol, kJ/mol or Ry")
    unit_group.add_argument("--length-unit", help="angstrom, bohr or nm (positions and cell)")
    unit_group.add_argument(
        "--forces-unit",
        help="<energy>/<length>, for example hartree/bohr (default: energy unit / length unit)",
    )
    unit_group.add_argument(
        "--dipole-unit", help="e*angstrom, e*bohr, e*nm or debye (default: e * length unit)"
    )
    unit_group.add_argument(
        "--dipole-reference",
        choices=("centre_of_mass", "origin"),
        default="centre_of_mass",
        help="point the input dipoles of charged structures are taken about; origin-based dipoles are moved "
        "to the centre of mass (default: centre_of_mass, stored as given; SPICE files are always converted)",
    )
    parser.add_argument(
        "--on-bad",
        choices=("error", "skip"),
        default="error",
        help="invalid structure: stop with an error (default) or skip it and list its index",
    )
    parser.add_argument(
        "--level-of-theory", help="method and basis of the labels, stored in the file's provenance"
    )
    parser.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    parser.add_argument("--quiet", action="store_true", help="print no progress bar")


def run(args: argparse.Namespace) -> int:
    """Convert ``args.input`` and print the summary; return 0 on success, 1 on invalid input."""
    from molmtl.data.convert import convert_file
    from molmtl.data.importers import ImportOptions
    from molmtl.data.reader import FormatError
    from molmtl.data.validation import InvalidFileError, InvalidStructureError

    keys = {label: getattr(args, f"{label}_key") for label in LABEL_KEYS if getattr(args, f"{label}_key")}
    options = ImportOptions(
        keys=keys,
        energy_unit=args.energy_unit,
        length_unit=args.length_unit,
        forces_unit=args.forces_unit,
        dipole_unit=args.dipole_unit,
        dipole_reference=args.dipole_reference,
    )
    command = "molmtl " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else None
    try:
        result = convert_file(
            args.input,
            args.output,
            format=args.format,
            options=options,
            on_bad=args.on_bad,
            level_of_theory=args.level_of_theory,
            command=command,
            overwrite=args.overwrite,
            progress=not args.quiet,
        )
    except InvalidStructureError as error:
        print(
            f"error: {args.input}: {error}. Nothing was written to {args.output}; rerun with --on-bad "
            "skip to leave such structures out.",
            file=sys.stderr,
        )
        return 1
    except (InvalidFileError, FormatError, FileExistsError, FileNotFoundError, ValueError) as error:
        print(f"error: {error}. Nothing was written to {args.output}.", file=sys.stderr)
        return 1

    print(f"wrote {result.output} ({result.format} import)")
    print(result.summary.text())
    if result.skip_message:
        print(result.skip_message)
    for hint in missing_label_hints(result.summary.label_counts, result.provenance.get("keys_in_file", [])):
        print(hint)
    return 0


def missing_label_hints(label_counts: dict[str, int], keys_in_file: list[str]) -> list[str]:
    """Return one hint per label that no structure has while the file has keys that look like it."""
    hints = []
    for label in ("energy", "forces", "dipole", "charges", "stress"):
        if label_counts.get(label, 0):
            continue
        stem = label.rstrip("s")
        similar = [key for key in keys_in_file if stem in key.lower()]
        if similar:
            names = ", ".join(similar)
            hints.append(
                f"hint: no structure has {label}, but the file has {names}; choose one with --{label}-key"
            )
    return hints
