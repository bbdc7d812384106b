"""Predict energies, dipoles and forces for molecules given as SMILES.

Usage: python scripts/example_predict_smiles.py MODEL.pt "CCO" "CC(=O)O" ... [--relax]

RDKit builds each 3D structure (ETKDG, then MMFF94); ``--relax`` then relaxes it with the
model. The model must know every element of the molecules (see its ``atomic_numbers``).
``molmtl predict MODEL molecules.smi`` does the same for a file and writes CSV and extxyz.
"""

from __future__ import annotations

import argparse

import molmtl
from molmtl.prediction import relax_structures, smiles_to_atoms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="model file written by molmtl train")
    parser.add_argument("smiles", nargs="+", help="SMILES strings")
    parser.add_argument("--relax", action="store_true", help="relax each structure with the model first")
    args = parser.parse_args()

    model = molmtl.load_model(args.model)
    structures = [smiles_to_atoms(smiles) for smiles in args.smiles]
    if args.relax:
        structures = relax_structures(structures, model)

    predictions = molmtl.predict(model, structures)
    print(f"{'SMILES':24s} {'E (eV)':>14s} {'E/atom (eV)':>12s} {'|mu| (e*A)':>11s} {'max|F| (eV/A)':>14s}")
    for prediction in predictions:
        row = prediction.summary()
        print(f"{row['name']:24s} {row['energy_eV']:14.5f} {row['energy_per_atom_eV']:12.5f} "
              f"{row['dipole_norm_eA']:11.4f} {row['max_force_eV_A']:14.4f}")


if __name__ == "__main__":
    main()
