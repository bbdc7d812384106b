"""``molmtl main-job``: the README's first command after set-up (see :mod:`molmtl.workflows.main_job`)."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``molmtl main-job``."""
    from molmtl.workflows.main_job import EMBEDDED_CONFIG, EMBEDDED_DATASET

    parser.add_argument("--out", default="main_job_output", help="output folder (default: main_job_output)")
    parser.add_argument("--dataset", default=str(EMBEDDED_DATASET), help="molmtl HDF5 training data (default: the embedded dataset)")
    parser.add_argument("--config", default=str(EMBEDDED_CONFIG), help="training YAML config (default: configs/embedded.yaml)")
    parser.add_argument("--train-minutes", type=float, default=4.0, help="training time limit in minutes (default: 4)")
    parser.add_argument("--md-steps", type=int, default=4000, help="NVE steps of 0.5 fs (default: 4000, i.e. 2 ps)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the weights and the MD velocities")


def run(args: argparse.Namespace) -> int:
    """Run the main job and print its summary table."""
    from molmtl.workflows.main_job import MainJobSettings, run_main_job

    settings = MainJobSettings(
        out=Path(args.out),
        dataset=Path(args.dataset),
        config=Path(args.config),
        train_minutes=args.train_minutes,
        md_steps=args.md_steps,
        seed=args.seed,
    )
    result = run_main_job(settings)
    print("\n" + result.markdown())
    return 0
