"""Accuracy at equal training budget: molmtl, MACE and NequIP on rMD17 ethanol and 3BPA.

Each code trains with its own command-line tool for the same wall-clock budget on the same
split (see systems.prepare_split), with matched architecture (peers.MATCHED), batch size
and learning rate. Every model is then evaluated on the test set through its ASE calculator.
Output: energy and force MAE per model, and force-MAE ratios against MACE and the best peer.

    .venv/bin/python scripts/bench/bench_accuracy.py --budget 300
    .venv/bin/python scripts/bench/bench_accuracy.py --quick   # 100 training and 200 test structures, 60 s each
"""

from __future__ import annotations

import argparse
import subprocess
import sys

from common import WORK_ROOT, add_common_arguments, available_codes, format_table, header, run_worker, write_json
from models import split_for, train_code, write_manifest

EVAL_VARIANT = {"molmtl": "float64", "mace": "float64", "nequip": "eager"}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--budget", type=float, default=300.0, help="training seconds per code and dataset (default 300)")
    parser.add_argument("--datasets", nargs="+", default=["ethanol", "3bpa"], choices=["ethanol", "3bpa"])
    parser.add_argument("--batch-size", type=int, default=5, help="training batch size for every code (default 5)")
    parser.add_argument(
        "--molmtl-dtype", default="float32", choices=["float32", "float64"],
        help="molmtl training dtype (default float32, as for MACE)",
    )
    parser.add_argument("--mace-dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument(
        "--molmtl-e0", default="fit", choices=["isolated", "fit"],
        help="molmtl reference energies: fitted to the training set (default; molmtl train's default) "
        "or the isolated-atom energies that the peers get",
    )
    args = parser.parse_args()
    if args.quick:
        args.budget = min(args.budget, 60.0)
    codes = available_codes(args.codes)
    output = args.out or WORK_ROOT / "results" / ("accuracy_quick.json" if args.quick else "accuracy.json")
    payload = {**header(sys.argv, codes), "budget_seconds": args.budget, "batch_size": args.batch_size, "results": []}
    options = {"batch_size": args.batch_size, "molmtl_dtype": args.molmtl_dtype, "mace_dtype": args.mace_dtype,
               "molmtl_e0": args.molmtl_e0}

    for index, dataset in enumerate(args.datasets):
        split = split_for(dataset, args.quick)
        name = dataset + ("_quick" if args.quick else "")
        # Alternate the training order between datasets so that no code always trains first.
        order = codes if index % 2 == 0 else list(reversed(codes))
        trained = {}
        for code in order:
            print(f"[bench] {dataset}: training {code} for {args.budget:.0f} s", flush=True)
            try:
                trained[code] = train_code(code, split, WORK_ROOT / "models" / name / code, args.budget, args.threads, options)
            except (RuntimeError, subprocess.CalledProcessError) as error:
                print(f"[bench] {dataset}: training {code} failed: {error}", file=sys.stderr)
                payload.setdefault("errors", []).append({"dataset": dataset, "code": code, "error": str(error)})
        write_manifest(name, dataset, trained, args.budget)
        for code in trained:
            result = trained[code]
            print(f"[bench] {dataset}: evaluating {code} on {split['counts']['test']} test structures", flush=True)
            try:
                evaluation = run_worker(
                    code, "worker_eval.py",
                    ["--code", code, "--model", str(result.model_path), "--variant", EVAL_VARIANT[code],
                     "--test", split["paths"]["test"], "--threads", str(args.threads),
                     *(["--limit", "200"] if args.quick else [])],
                    threads=args.threads,
                )
            except RuntimeError as error:
                print(f"[bench] {dataset}: evaluating {code} failed: {error}", file=sys.stderr)
                payload.setdefault("errors", []).append({"dataset": dataset, "code": code, "error": str(error)})
                continue
            payload["results"].append(
                {"dataset": dataset, "train_seconds": result.train_seconds, "epochs": result.epochs,
                 "counts": split["counts"], **evaluation}
            )

    rows = add_ratios(payload["results"])
    table = format_table(
        rows,
        [("dataset", "dataset", ""), ("code", "code", ""), ("train_seconds", "train s", ".0f"), ("epochs", "epochs", "d"),
         ("energy_mae_mev_per_atom", "E MAE meV/atom", ".2f"), ("force_mae_mev_per_angstrom", "F MAE meV/Å", ".1f"),
         ("force_ratio_vs_mace", "F MAE / MACE", ".2f"), ("force_ratio_vs_best_peer", "F MAE / best peer", ".2f")],
    )
    print(table)
    payload["table"] = table
    write_json(payload, output)
    return 0


def add_ratios(results: list[dict]) -> list[dict]:
    """Add force-MAE ratios against MACE and against the most accurate peer of each dataset."""
    for row in results:
        same = [other for other in results if other["dataset"] == row["dataset"]]
        mace = [other["force_mae_mev_per_angstrom"] for other in same if other["code"] == "mace"]
        peers = [other["force_mae_mev_per_angstrom"] for other in same if other["code"] != "molmtl"]
        row["force_ratio_vs_mace"] = row["force_mae_mev_per_angstrom"] / mace[0] if mace else None
        row["force_ratio_vs_best_peer"] = row["force_mae_mev_per_angstrom"] / min(peers) if peers else None
    return results


if __name__ == "__main__":
    sys.exit(main())
