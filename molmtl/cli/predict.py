"""``molmtl predict MODEL INPUT``: energies, forces and dipoles for extxyz, HDF5 or SMILES input."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the prediction options to ``parser``."""
    parser.add_argument("model", help="model file written by molmtl train (model.pt)")
    parser.add_argument("input", help="structures: extxyz (or any ASE format), molmtl HDF5 (.h5), or .smi "
                        "(one 'SMILES [name]' per line, embedded in 3D with RDKit)")
    parser.add_argument("-o", "--output", default="predictions.csv",
                        help="per-structure table; .csv or .json (default: predictions.csv)")
    parser.add_argument("--structures-out", default="predictions.extxyz",
                        help="extxyz with every structure and its predicted arrays (default: predictions.extxyz; "
                        "an empty string skips it)")
    parser.add_argument("--batch-size", type=int, default=32, help="structures per model evaluation (default: 32)")
    parser.add_argument("--relax", action="store_true", help="relax each structure with the model (BFGS) first")
    parser.add_argument("--fmax", type=float, default=0.05, help="relaxation force threshold in eV/Angstrom")
    parser.add_argument("--relax-steps", type=int, default=200, help="maximum relaxation steps per structure")
    parser.add_argument("--stress", action="store_true", help="also predict the stress (periodic structures only)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the RDKit 3D embedding for SMILES input")
    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--dtype", choices=("float32", "float64"), default=None,
                        help="evaluate in this dtype (default: the model's own)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")


def run(args: argparse.Namespace) -> int:
    """Read, optionally relax, predict and write the table and the structures."""
    import torch

    from molmtl.calculators.ase_calculator import load_for_inference
    from molmtl.prediction import (
        predict,
        read_structures,
        relax_structures,
        write_predicted_structures,
        write_summary,
    )

    if not args.output.lower().endswith((".csv", ".json")):
        raise ValueError(f"--output must end in .csv or .json, got {args.output!r}")
    dtype = None if args.dtype is None else getattr(torch, args.dtype)
    model = load_for_inference(args.model, args.device, dtype)
    structures = read_structures(args.input, seed=args.seed)
    progress = not args.no_progress
    if args.relax:
        structures = relax_structures(
            structures, model, fmax=args.fmax, steps=args.relax_steps, device=args.device, progress=progress
        )
        unconverged = sum(not atoms.info["relax_converged"] for atoms in structures)
        if unconverged:
            print(f"warning: {unconverged} of {len(structures)} relaxations did not reach fmax={args.fmax} eV/Angstrom "
                  f"within {args.relax_steps} steps")
    predictions = predict(model, structures, batch_size=args.batch_size, device=args.device,
                          compute_stress=args.stress, progress=progress)
    write_summary(predictions, args.output)
    message = f"predicted {len(predictions)} structures; table in {args.output}"
    if args.structures_out:
        write_predicted_structures(predictions, args.structures_out)
        message += f", structures in {args.structures_out}"
    print(message)
    return 0
