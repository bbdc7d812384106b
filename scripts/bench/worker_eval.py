"""Evaluate one trained model on a test extxyz file through its ASE calculator.

Run with the Python of the code under test; prints ``BENCH_RESULT {json}`` with the energy
MAE (meV per structure and meV/atom), force MAE and RMSE (meV/Å) against the ``REF_energy``
and ``REF_forces`` labels. Every code is evaluated the same way, one structure per call,
in float64 where the code allows it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from systems import ENERGY_KEY, FORCES_KEY  # noqa: E402
from worker_md import build_calculator  # noqa: E402


def evaluate(args: argparse.Namespace) -> dict[str, object]:
    """Predict every structure of ``args.test`` and return the error statistics."""
    import torch
    from ase.io import read

    torch.set_num_threads(args.threads)
    frames = read(args.test, index=":")[: args.limit]
    calculator = build_calculator(args.code, args.model, args.variant)
    energy_errors, energy_errors_per_atom, force_errors = [], [], []
    started = time.perf_counter()
    for atoms in frames:
        reference_energy = float(atoms.info[ENERGY_KEY])
        reference_forces = np.asarray(atoms.arrays[FORCES_KEY])
        atoms.calc = calculator
        energy_error = atoms.get_potential_energy() - reference_energy
        energy_errors.append(energy_error)
        energy_errors_per_atom.append(energy_error / len(atoms))
        force_errors.append((atoms.get_forces() - reference_forces).ravel())
    seconds = time.perf_counter() - started
    forces = np.concatenate(force_errors)
    return {
        "code": args.code,
        "variant": args.variant,
        "test_file": args.test,
        "num_structures": len(frames),
        "energy_mae_mev": 1000.0 * float(np.mean(np.abs(energy_errors))),
        "energy_mae_mev_per_atom": 1000.0 * float(np.mean(np.abs(energy_errors_per_atom))),
        "energy_rmse_mev": 1000.0 * float(np.sqrt(np.mean(np.square(energy_errors)))),
        "force_mae_mev_per_angstrom": 1000.0 * float(np.mean(np.abs(forces))),
        "force_rmse_mev_per_angstrom": 1000.0 * float(np.sqrt(np.mean(np.square(forces)))),
        "eval_seconds": seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--code", required=True, choices=["molmtl", "mace", "nequip"])
    parser.add_argument("--model", required=True, help="model file of that code")
    parser.add_argument("--variant", default="float64", help="see worker_md.build_calculator")
    parser.add_argument("--test", required=True, help="extxyz file with REF_energy and REF_forces")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    parser.add_argument("--limit", type=int, default=None, help="evaluate only the first LIMIT test structures")
    args = parser.parse_args()
    print("BENCH_RESULT " + json.dumps(evaluate(args)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
