"""Train molmtl on a benchmark split with ``molmtl train``, matched to the peers' settings.

The split's extxyz files are converted with molmtl's importer (``REF_energy`` and
``REF_forces`` keys), and ``molmtl train`` runs as a subprocess with the same threads as
the peers. ``training.max_minutes`` is molmtl's own time limit. It counts the time spent in
training batches, without validation, and that time (``time_s`` in ``metrics.csv``) is the
training time reported.
"""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from peers import MATCHED, TrainResult, thread_env
from systems import ENERGY_KEY, FORCES_KEY


def convert_split(split: dict, out_dir: Path) -> dict[str, Path]:
    """Convert the split's train/valid/test extxyz files to molmtl HDF5; return their paths."""
    from molmtl.data.convert import convert_file
    from molmtl.data.importers import ImportOptions

    out_dir.mkdir(parents=True, exist_ok=True)
    options = ImportOptions(keys={"energy": ENERGY_KEY, "forces": FORCES_KEY})
    paths = {}
    for name, source in split["paths"].items():
        target = out_dir / f"{name}.h5"
        if not target.exists() or target.stat().st_mtime < Path(source).stat().st_mtime:
            convert_file(source, target, format="extxyz", options=options, overwrite=True)
        paths[name] = target
    return paths


def molmtl_config(
    h5_paths: dict[str, Path], split: dict, run_dir: Path, budget_seconds: float, batch_size: int, dtype: str, seed: int,
    e0: str = "isolated",
) -> dict:
    """Return the ``molmtl train`` YAML config for the matched architecture."""
    return {
        "data": {"train": str(h5_paths["train"]), "valid": str(h5_paths["valid"])},
        "model": {
            "atomic_numbers": list(split["elements"]),
            "cutoff": MATCHED["cutoff"],
            "num_channels": MATCHED["num_channels"],
            "l_max": MATCHED["l_max"],
            "num_layers": MATCHED["num_layers"],
            "num_radial_basis": MATCHED["num_radial_basis"],
            "envelope_exponent": MATCHED["envelope_exponent"],
            "correlation_order": MATCHED["correlation_order"],
            "radial_mlp": list(MATCHED["radial_mlp"]),
            "readout_hidden": MATCHED["readout_hidden"],
        },
        # Isolated-atom energies, as given to MACE (E0s) and NequIP (per_type_energy_shifts),
        # or with e0="fit" molmtl's default: least-squares reference energies from the training set.
        "statistics": {"e0": {int(z): float(energy) for z, energy in split["e0s"].items()} if e0 == "isolated" else "fit"},
        # Energy per atom and forces, weighted 1 : 100 as in MACE's default loss.
        "tasks": {"energy": {"weight": 1.0}, "forces": {"weight": 100.0}},
        "training": {
            "max_epochs": 100000,
            "max_minutes": budget_seconds / 60.0,
            "batch_size": batch_size,
            "valid_batch_size": 10,
            "lr": 0.01,
            "amsgrad": True,
            "ema_decay": 0.99,
            "progress": False,
            "tensorboard": False,
            "plots": False,
        },
        "out": str(run_dir),
        "seed": seed,
        "dtype": dtype,
        "device": "cpu",
    }


def train_molmtl(
    split: dict, work_dir: Path, budget_seconds: float, batch_size: int = 5, dtype: str = "float64",
    threads: int = 2, seed: int = 0, e0: str = "isolated",
) -> TrainResult:
    """Train molmtl for ``budget_seconds`` of training time; return the ``model.pt`` path."""
    work_dir = work_dir.resolve()
    h5_paths = convert_split(split, work_dir.parent / "h5")
    run_dir = work_dir / "run"
    if run_dir.exists():
        # A benchmark run always trains from scratch; molmtl train refuses to overwrite a run.
        shutil.rmtree(run_dir)
    config = molmtl_config(h5_paths, split, run_dir, budget_seconds, batch_size, dtype, seed, e0)
    config_path = work_dir / "config.yaml"
    work_dir.mkdir(parents=True, exist_ok=True)
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    log_path = work_dir / "train.log"
    started = time.monotonic()
    with open(log_path, "w") as log:
        subprocess.run(
            [sys.executable, "-m", "molmtl", "train", str(config_path)],
            stdout=log, stderr=subprocess.STDOUT, env=thread_env(threads), cwd=work_dir, check=True,
        )
    process_seconds = time.monotonic() - started
    model_path = run_dir / "model.pt"
    if not model_path.exists():
        raise RuntimeError(f"molmtl wrote no {model_path}; see {log_path}")
    train_seconds, epochs = _training_time(run_dir, process_seconds)
    return TrainResult("molmtl", model_path, train_seconds, epochs, log_path, {})


def _training_time(run_dir: Path, fallback_seconds: float) -> tuple[float, int]:
    """Return the trainer's training seconds and the number of epochs from ``metrics.csv``."""
    metrics = run_dir / "metrics.csv"
    if not metrics.exists():
        return fallback_seconds, -1
    with open(metrics) as stream:
        rows = list(csv.DictReader(stream))
    if not rows:
        return fallback_seconds, -1
    seconds = float(rows[-1].get("time_s") or fallback_seconds)
    return seconds, len(rows)
