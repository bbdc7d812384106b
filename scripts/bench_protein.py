"""Benchmark: does multi-task SS + RSA training help or hurt each task?

For each seed the chains of CB513 (secondary structure only) and TS50 (secondary structure and
DSSP accessibility) are split by protein into train / validation / test (70 / 10 / 20, chains
with identical sequences on the same side). Three models with the same encoder are trained
for the same number of optimiser steps. Steps are rounded to whole epochs, and the table gives
the steps actually taken. Each model keeps the weights of its best validation epoch:

* ``SS``: SS8 only (SS3 derived from SS8), on all training chains;
* ``RSA``: RSA only, on the training chains that have RSA labels (TS50);
* ``SS+RSA``: SS8 and RSA together, on all training chains, missing labels masked.

The test metrics are Q3, Q8 and SOV3 on the CB513 + TS50 test chains and RSA Pearson r and
MAE on the TS50 test chains. The script prints one row per model with the mean and standard
deviation over seeds, then states for each metric whether multi-task training helped or hurt:
a paired t-test over seeds on the differences (multi-task minus single-task) with p < 0.05.

Example (defaults shown)::

    OMP_NUM_THREADS=1 python scripts/bench_protein.py --seeds 0 1 2 --steps 300 --hidden 64
"""

from __future__ import annotations

import argparse
import logging
import math
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy import stats

from molmtl.protein.config import split_by_chain
from molmtl.protein.dataset import ProteinDataset
from molmtl.protein.inference import evaluate_predictions, predict_records
from molmtl.protein.model import ProteinModelConfig
from molmtl.protein.readers import read_csv, read_labels
from molmtl.protein.record import ProteinRecord
from molmtl.protein.training import train_protein_model

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "protein_ss_rsa"
SETUPS = {"SS": {"ss8": 1.0}, "RSA": {"rsa": 1.0}, "SS+RSA": {"ss8": 1.0, "rsa": 1.0}}
METRICS = ("q3", "q8", "sov3", "rsa_pearson_r", "rsa_mae")


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder with cb513_netsurfp_csv/CB513.csv and ts50_pdb_dssp/dssp/")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split and training seeds")
    parser.add_argument("--steps", type=int, default=300, help="optimiser steps per model (same for all three)")
    parser.add_argument("--batch-size", type=int, default=16, help="windows per batch")
    parser.add_argument("--encoder", choices=("bilstm", "conv_transformer"), default="conv_transformer")
    parser.add_argument("--hidden", type=int, default=64, help="encoder width")
    parser.add_argument("--layers", type=int, default=2, help="LSTM or Transformer layers")
    parser.add_argument("--window", type=int, default=256, help="context in residues; longer chains are windowed")
    parser.add_argument("--weighting", choices=("fixed", "uncertainty", "gradnorm"), default="uncertainty")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate")
    return parser.parse_args()


def split_three(records: list[ProteinRecord], seed: int) -> tuple[list, list, list]:
    """Split chains by protein into 70 % train, 10 % validation and 20 % test."""
    rest, test = split_by_chain(records, 0.2, seed)
    train, valid = split_by_chain(rest, 0.125, seed + 1000)
    return train, valid, test


def run_seed(args: argparse.Namespace, cb513: list, ts50: list, seed: int) -> dict[str, dict[str, float]]:
    cb_train, cb_valid, cb_test = split_three(cb513, seed)
    ts_train, ts_valid, ts_test = split_three(ts50, seed)
    config = ProteinModelConfig(encoder=args.encoder, hidden=args.hidden, layers=args.layers,
                                heads=4, window=args.window, dropout=0.1)
    results = {}
    for name, tasks in SETUPS.items():
        if "ss8" in tasks:
            train, valid = cb_train + ts_train, cb_valid + ts_valid
        else:
            train, valid = ts_train, ts_valid
        windows = len(ProteinDataset(train, window=config.window, stride=config.stride, physchem=config.physchem))
        batches_per_epoch = math.ceil(windows / args.batch_size)
        epochs = max(1, round(args.steps / batches_per_epoch))
        options = {"max_epochs": epochs, "batch_size": args.batch_size, "lr": args.lr, "seed": seed,
                   "schedule": "cosine", "warmup_epochs": min(1.0, epochs / 10), "ema_decay": 0.99,
                   "progress": False, "tensorboard": False, "plots": False, "device": "cpu"}
        started = time.perf_counter()
        with tempfile.TemporaryDirectory() as run_dir:
            model, _ = train_protein_model(train, valid, config, tasks, args.weighting, options, run_dir)
        seconds = time.perf_counter() - started
        test = cb_test + ts_test
        metrics = evaluate_predictions(test, predict_records(model, test), config.buried_threshold)
        row = {key: metrics[key] for key in METRICS}
        if "ss8" not in tasks:
            for key in ("q3", "q8", "sov3"):
                row[key] = float("nan")
        if "rsa" not in tasks:
            row["rsa_pearson_r"] = row["rsa_mae"] = float("nan")
        row["steps"] = epochs * batches_per_epoch
        row["seconds"] = seconds
        results[name] = row
        print(f"seed {seed} {name:7s} " + " ".join(f"{k} {row[k]:.4f}" for k in METRICS)
              + f" steps {row['steps']} time {seconds:.0f} s", flush=True)
    return results


def summarise(per_seed: list[dict[str, dict[str, float]]]) -> None:
    header = "| model | Q3 | Q8 | SOV3 | RSA r | RSA MAE | steps | time/run (s) |"
    print("\n" + header + "\n|" + "---|" * 8)
    for name in SETUPS:
        cells = []
        for key in METRICS:
            values = np.array([seed[name][key] for seed in per_seed])
            cells.append("-" if np.isnan(values).all() else f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0:.3f}")
        steps = int(np.mean([seed[name]["steps"] for seed in per_seed]))
        seconds = np.mean([seed[name]["seconds"] for seed in per_seed])
        print(f"| {name} | " + " | ".join(cells) + f" | {steps} | {seconds:.0f} |")

    print("\nMean ± std over seeds; paired per-seed differences (multi-task minus single-task):")
    for key, single, higher_is_better in (("q3", "SS", True), ("q8", "SS", True), ("sov3", "SS", True),
                                          ("rsa_pearson_r", "RSA", True), ("rsa_mae", "RSA", False)):
        multi = np.array([seed["SS+RSA"][key] for seed in per_seed])
        alone = np.array([seed[single][key] for seed in per_seed])
        difference = multi - alone
        mean, spread = difference.mean(), difference.std(ddof=1) if len(difference) > 1 else 0.0
        p_value = stats.ttest_rel(multi, alone).pvalue if len(difference) > 1 and spread > 0 else float("nan")
        better = mean > 0 if higher_is_better else mean < 0
        if not p_value < 0.05:
            verdict = "no significant effect (paired t-test p >= 0.05)"
        else:
            verdict = "multi-task learning helped" if better else "multi-task learning hurt"
        print(f"  {key:14s} {mean:+.4f} ± {spread:.4f} (p = {p_value:.2f}): {verdict}")


def main() -> None:
    args = parse_arguments()
    logging.basicConfig(level=logging.WARNING)
    cb513 = read_csv(args.data / "cb513_netsurfp_csv" / "CB513.csv")
    ts50 = read_labels(args.data / "ts50_pdb_dssp" / "dssp")
    print(f"CB513 {len(cb513)} chains (SS only), TS50 {len(ts50)} chains (SS + RSA); "
          f"encoder {args.encoder} hidden {args.hidden} layers {args.layers}, {args.steps} steps, "
          f"weighting {args.weighting}, seeds {args.seeds}", flush=True)
    per_seed = [run_seed(args, cb513, ts50, seed) for seed in args.seeds]
    summarise(per_seed)


if __name__ == "__main__":
    main()
