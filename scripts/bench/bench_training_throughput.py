"""Training throughput: structures per second for molmtl and MACE, same data and batch size.

Both codes train on the rMD17 ethanol training split with the matched architecture for
``--budget`` seconds, alternating molmtl, MACE, molmtl, MACE over ``--repeats`` rounds.
What is counted:

* molmtl: training structures of all epochs divided by the trainer's ``time_s`` (the time in
  training batches: data loading, neighbour lists, forward, backward and optimiser step);
* MACE: batch size times optimisation steps divided by the summed step times that MACE logs
  for each step (forward, backward and optimiser step). MACE builds its graphs once before
  training, so data loading is not in this time.

The MACE figure thus leaves out work that the molmtl figure contains.

    .venv/bin/python scripts/bench/bench_training_throughput.py
    .venv/bin/python scripts/bench/bench_training_throughput.py --quick
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
from pathlib import Path

import yaml

from common import WORK_ROOT, add_common_arguments, available_codes, format_table, header, ratio_summary, write_json
from models import split_for
from molmtl_side import train_molmtl
from peers import train_mace


def molmtl_throughput(run_dir: Path) -> dict:
    """Return structures/s of a molmtl run from its ``metrics.csv``."""
    with open(run_dir / "metrics.csv") as stream:
        rows = list(csv.DictReader(stream))
    # Every training structure carries an energy label, so the energy count is the structure count.
    structures = sum(float(row["train_energy_count"]) for row in rows)
    seconds = float(rows[-1]["time_s"])
    return {"structures": structures, "seconds": seconds, "structures_per_second": structures / seconds}


def mace_throughput(work_dir: Path, batch_size: int) -> dict:
    """Return structures/s of a MACE run from the per-step times in its results file."""
    times = []
    for path in (work_dir / "results").glob("*_train.txt"):
        for line in path.read_text().splitlines():
            entry = json.loads(line)
            if entry.get("mode") == "opt":
                times.append(float(entry["time"]))
    # The last batch of an epoch may be smaller; with 950 or 100 structures and batch 5 it is not.
    structures = batch_size * len(times)
    seconds = sum(times)
    return {"structures": structures, "seconds": seconds, "structures_per_second": structures / seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.set_defaults(codes=["molmtl", "mace"])
    parser.add_argument("--budget", type=float, default=90.0, help="training seconds per run (default 90, quick 30)")
    parser.add_argument("--repeats", type=int, default=2, help="rounds of molmtl, MACE (default 2)")
    parser.add_argument("--batch-size", type=int, default=5)
    parser.add_argument("--molmtl-dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--mace-dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument(
        "--from-accuracy", action="store_true",
        help="read the ethanol runs of the last bench_accuracy.py run instead of training again",
    )
    args = parser.parse_args()
    if args.quick:
        args.budget = min(args.budget, 30.0)
    codes = [code for code in available_codes(args.codes) if code in ("molmtl", "mace")]
    split = split_for("ethanol", args.quick)
    root = WORK_ROOT / "throughput"
    output = args.out or WORK_ROOT / "results" / ("throughput_quick.json" if args.quick else "throughput.json")
    payload = {**header(sys.argv, codes), "batch_size": args.batch_size, "budget_seconds": args.budget, "runs": []}

    if args.from_accuracy:
        accuracy_root = WORK_ROOT / "models" / ("ethanol_quick" if args.quick else "ethanol")
        payload["source"] = f"training runs of bench_accuracy.py in {accuracy_root}"
        for code in codes:
            if code == "molmtl":
                measured = molmtl_throughput(accuracy_root / "molmtl" / "run")
            else:
                measured = mace_throughput(accuracy_root / "mace", args.batch_size)
            if code == "molmtl":
                # The dtype that bench_accuracy.py trained with, from its molmtl config.
                config = yaml.safe_load((accuracy_root / "molmtl" / "config.yaml").read_text())
                dtype = config.get("dtype", args.molmtl_dtype)
            else:
                dtype = args.mace_dtype
            payload["runs"].append({"code": code, "dtype": dtype, "repeat": 0, **measured})
    for repeat in range(0 if args.from_accuracy else args.repeats):
        for code in codes:
            work_dir = root / f"{code}_{repeat}"
            if code == "molmtl":
                result = train_molmtl(split, work_dir, args.budget, args.batch_size, args.molmtl_dtype, args.threads)
                measured = molmtl_throughput(result.model_path.parent)
                dtype = args.molmtl_dtype
            else:
                train_mace(split, work_dir, args.budget, args.batch_size, args.mace_dtype, args.threads)
                measured = mace_throughput(work_dir, args.batch_size)
                dtype = args.mace_dtype
            run = {"code": code, "dtype": dtype, "repeat": repeat, **measured}
            payload["runs"].append(run)
            print(f"[bench] {code} #{repeat}: {run['structures_per_second']:.1f} structures/s", flush=True)

    rows = []
    for code in codes:
        speeds = [run["structures_per_second"] for run in payload["runs"] if run["code"] == code]
        rows.append({"code": code, "dtype": next(run["dtype"] for run in payload["runs"] if run["code"] == code),
                     "median": statistics.median(speeds), "min": min(speeds), "max": max(speeds)})
    if len(codes) == 2:
        ratios = [
            molmtl["structures_per_second"] / mace["structures_per_second"]
            for molmtl, mace in zip(
                [run for run in payload["runs"] if run["code"] == "molmtl"],
                [run for run in payload["runs"] if run["code"] == "mace"],
            )
        ]
        payload["ratio_molmtl_over_mace"] = ratio_summary(ratios)
    table = format_table(
        rows,
        [("code", "code", ""), ("dtype", "dtype", ""), ("median", "structures/s (median)", ".1f"),
         ("min", "min", ".1f"), ("max", "max", ".1f")],
    )
    print(table)
    if "ratio_molmtl_over_mace" in payload:
        ratio = payload["ratio_molmtl_over_mace"]
        print(f"molmtl/MACE: min {ratio['min']:.2f}, median {ratio['median']:.2f}, max {ratio['max']:.2f}")
    payload["table"] = table
    write_json(payload, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
