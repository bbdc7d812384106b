"""Run NVE molecular dynamics of ethanol with a trained molmtl model through plain ASE.

Usage: python scripts/example_md_ase.py MODEL.pt [--steps 2000] [--temperature 300]

The model is evaluated in float64, which keeps the total energy conserved in NVE. The
script prints the energies every 100 steps and writes ``ethanol_nve.traj`` (ASE
trajectory). ``molmtl md`` does the same with a stability guard, extxyz and CSV output.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch
from ase import units
from ase.build import molecule
from ase.io import Trajectory
from ase.md.velocitydistribution import Stationary, ZeroRotation, thermalize_momenta
from ase.md.verlet import VelocityVerlet

from molmtl import MolMTLCalculator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model file written by molmtl train")
    parser.add_argument("--steps", type=int, default=2000, help="MD steps of 0.5 fs")
    parser.add_argument("--temperature", type=float, default=300.0, help="initial temperature in K")
    args = parser.parse_args()

    atoms = molecule("CH3CH2OH")
    atoms.calc = MolMTLCalculator(args.model, dtype=torch.float64)
    thermalize_momenta(atoms, args.temperature, rng=np.random.default_rng(0))
    Stationary(atoms)
    ZeroRotation(atoms)

    dynamics = VelocityVerlet(atoms, timestep=0.5 * units.fs)
    trajectory = Trajectory("ethanol_nve.traj", "w", atoms)
    dynamics.attach(trajectory.write, interval=10)

    def report() -> None:
        potential = atoms.get_potential_energy()
        kinetic = atoms.get_kinetic_energy()
        dipole = np.linalg.norm(atoms.get_dipole_moment())
        print(f"step {dynamics.nsteps:6d}  Epot {potential:12.5f} eV  Ekin {kinetic:8.5f} eV  "
              f"Etot {potential + kinetic:12.5f} eV  T {atoms.get_temperature():7.1f} K  |mu| {dipole:.3f} e*A")

    dynamics.attach(report, interval=100)
    dynamics.run(args.steps)
    trajectory.close()


if __name__ == "__main__":
    main()
