"""``molmtl md MODEL STRUCTURE``: NVE, NVT or NPT molecular dynamics with a trained model."""

from __future__ import annotations

import argparse
import sys

DTYPES = ("float32", "float64")


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the MD options to ``parser``."""
    parser.add_argument(
        "model", help="model file written by molmtl train (model.pt), or a package from molmtl compile (.pt2)"
    )
    parser.add_argument("structure", help="start structure in any format ASE reads (extxyz, xyz, cif, ...)")
    parser.add_argument("--index", type=int, default=0, help="frame of STRUCTURE to start from (default: 0)")

    parser.add_argument("--ensemble", choices=("nve", "nvt", "npt"), default="nve",
                        help="nve: velocity Verlet; nvt: Langevin; npt: Langevin BAOAB with an isotropic "
                        "barostat (periodic cells only). Default: nve")
    parser.add_argument("--steps", type=int, default=1000, help="number of MD steps (default: 1000)")
    parser.add_argument("--dt", type=float, default=0.5, help="time step in fs (default: 0.5)")
    parser.add_argument("--temperature", type=float, default=300.0,
                        help="temperature in K for the initial velocities and the thermostat (default: 300)")
    parser.add_argument("--friction", type=float, default=0.01,
                        help="Langevin friction in 1/fs for nvt and npt (default: 0.01)")
    parser.add_argument("--pressure", type=float, default=1.01325, help="npt pressure in bar (default: 1.01325)")
    parser.add_argument("--barostat-time", type=float, default=1000.0,
                        help="npt cell fluctuation time scale in fs (default: 1000)")

    parser.add_argument("--seed", type=int, default=0, help="seed of the initial velocities and Langevin noise")
    parser.add_argument("--stride", type=int, default=10, help="write a frame and a log row every N steps (default: 10)")
    parser.add_argument("--keep-velocities", action="store_true",
                        help="start from the momenta stored in STRUCTURE instead of drawing new ones")

    parser.add_argument("--charge", type=float, default=None,
                        help="total charge in e (default: the structure's info 'charge', else 0)")

    parser.add_argument("-o", "--output", default="md.extxyz",
                        help="trajectory with positions, forces, energy and dipole (default: md.extxyz)")
    parser.add_argument("--log", default="md.csv", help="CSV log of energies, temperature and dipole (default: md.csv)")

    parser.add_argument("--device", default="cpu", help="torch device (default: cpu)")
    parser.add_argument("--dtype", choices=DTYPES, default=None,
                        help="evaluate the model in this dtype (default: the model's own; float64 conserves energy best)")
    parser.add_argument("--skin", type=float, default=1.0, help="Verlet neighbour-list skin in Angstrom (default: 1.0)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the MD and return 0, or 1 when the stability guard stopped it."""
    import torch
    from ase.io import read

    from molmtl.calculators import MolMTLCalculator
    from molmtl.md import MDSettings, run_md

    try:
        atoms = read(args.structure, index=args.index)
    except (FileNotFoundError, StopIteration, IndexError, ValueError) as error:
        print(f"error: could not read frame {args.index} of {args.structure}: {error}", file=sys.stderr)
        return 1
    if args.charge is not None:
        atoms.info["charge"] = args.charge
    dtype = None if args.dtype is None else getattr(torch, args.dtype)
    try:
        calculator = MolMTLCalculator(args.model, device=args.device, dtype=dtype, skin=args.skin)
        # Evaluate the start structure before any output file exists, so that bad input
        # (an unknown element, overlapping atoms) leaves no empty trajectory behind.
        calculator.get_potential_energy(atoms)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    settings = MDSettings(
        ensemble=args.ensemble,
        steps=args.steps,
        timestep=args.dt,
        temperature=args.temperature,
        friction=args.friction,
        pressure=args.pressure,
        barostat_time=args.barostat_time,
        seed=args.seed,
        stride=args.stride,
        keep_velocities=args.keep_velocities,
    )
    result = run_md(atoms, calculator, settings, trajectory=args.output, log=args.log, progress=not args.no_progress)
    if not result.completed:
        print(
            f"error: {result.instability}. {result.frames_written} frames up to step {result.steps_completed} "
            f"are in {args.output}; no later frame was written.",
            file=sys.stderr,
        )
        return 1
    print(
        f"{args.ensemble.upper()} MD finished: {result.steps_completed} steps of {args.dt} fs, "
        f"{result.frames_written} frames in {args.output}, log in {args.log}; "
        f"neighbour list built {calculator.neighbors.rebuild_count} times"
    )
    return 0
