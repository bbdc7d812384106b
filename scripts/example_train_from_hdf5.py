"""Train a small multi-task potential (energy, forces, dipole) on a molmtl HDF5 file.

Usage: python scripts/example_train_from_hdf5.py DATA.h5 [--minutes 5] [--out runs/example]

Convert extxyz, ASE db, rMD17, SPICE or ANI files first with ``molmtl convert``. The run
folder receives ``model.pt``, the metrics log, learning curves and parity plots. The same
run from the command line is ``molmtl train --data DATA.h5 --max-minutes 5 --out runs/example``.
"""

from __future__ import annotations

import argparse

from molmtl import load_model, predict
from molmtl.data.reader import H5Reader
from molmtl.training.molecular.config import build_config
from molmtl.training.molecular.run import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", help="molmtl HDF5 training file")
    parser.add_argument("--minutes", type=float, default=5.0, help="training time limit in minutes")
    parser.add_argument("--out", default="runs/example", help="run folder")
    args = parser.parse_args()

    config = build_config(
        {
            "data": {"train": args.data, "valid_fraction": 0.1},
            "model": {"cutoff": 5.0, "num_channels": 16, "l_max": 1, "num_layers": 2, "correlation_order": 2},
            # Tasks without labels in the file can be left out; forces get a higher weight as usual.
            "tasks": {"energy": 1.0, "forces": 10.0, "dipole": 1.0},
            "training": {"max_epochs": 1000, "max_minutes": args.minutes, "batch_size": 8, "lr": 0.005},
            "out": args.out,
        }
    )
    run = train(config)
    model_path = run.run_dir / "model.pt"
    print(f"model written to {model_path}")

    # Use the trained model right away on the first structures of the file.
    model = load_model(model_path)
    reader = H5Reader(args.data)
    structures = [reader[index].to_atoms() for index in range(min(3, len(reader)))]
    for prediction in predict(model, structures):
        row = prediction.summary()
        print(f"{row['formula']:10s} E = {row['energy_eV']:.4f} eV   |mu| = {row['dipole_norm_eA']:.3f} e*A")


if __name__ == "__main__":
    main()
