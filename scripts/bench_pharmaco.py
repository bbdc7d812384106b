"""Repeated cross-validation of the pharmaco dose models on the IWPC warfarin table.

Models, all on the same outer folds (stratified by task = race group):

* ``multitask``: shared-plus-specific ridge, both strengths chosen by inner 5-fold CV;
* ``single_task``: one ridge model per race group (inner CV);
* ``pooled``: one ridge model, one intercept (inner CV);
* ``pooled+intercepts``: one ridge model with one intercept per race group (inner CV);
* ``iwpc_equation``: the published IWPC pharmacogenetic equation (fixed coefficients).
  NOTE: most of these patients were in the cohort the equation was derived from, so its
  numbers here are in-sample for the equation and favour it;
* ``torch`` (with ``--torch``): the neural variant on the multi-task trainer.

``--max-train-per-task N ...`` repeats the benchmark with at most N training patients per
task, drawn at random from each outer training fold. The test folds stay unchanged, so the
comparison shows what happens when tasks have few patients.

For each training size the script prints one table per task and one overall. Each cell is
the mean and standard deviation over repeats of MAE (mg/week), the percentage within 20% of
the actual dose, or R^2. It then prints the paired MAE difference of multitask minus each
baseline and the coverage of the multitask 90% prediction intervals on the outer test folds.

Example::

    OMP_NUM_THREADS=1 python scripts/bench_pharmaco.py --data PATH/warfarin.csv --repeats 3
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

from molmtl.pharmaco.encoding import TabularEncoder
from molmtl.pharmaco.fit import FitOptions, fit_linear
from molmtl.pharmaco.intervals import ResidualIntervals
from molmtl.pharmaco.iwpc import iwpc_features, load_iwpc
from molmtl.pharmaco.iwpc_equation import IWPCEquation
from molmtl.pharmaco.metrics import OVERALL, dose_metrics
from molmtl.pharmaco.target import TargetTransform

LINEAR_MODELS = {
    "multitask": {"mode": "multitask"},
    "single_task": {"mode": "single_task"},
    "pooled": {"mode": "pooled"},
    "pooled+intercepts": {"mode": "pooled", "task_intercepts": True},
}
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "pgx_dosing" / "iwpc_warfarin" / "warfarin.csv"


def parse_arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="IWPC warfarin.csv")
    parser.add_argument("--repeats", type=int, default=3, help="repeats of the outer cross-validation")
    parser.add_argument("--folds", type=int, default=5, help="outer folds")
    parser.add_argument("--inner-folds", type=int, default=5, help="folds of the penalty search inside each training fold")
    parser.add_argument("--features", default="iwpc_extended", choices=["iwpc", "iwpc_extended"])
    parser.add_argument("--transform", default="sqrt", choices=["sqrt", "none"])
    parser.add_argument("--max-train-per-task", type=int, nargs="*", default=[], help="also run with at most N training patients per task")
    parser.add_argument("--torch", action="store_true", help="include the neural variant (slow: one trainer run per fold)")
    parser.add_argument("--torch-epochs", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def cap_rows(rows: np.ndarray, tasks: np.ndarray, cap: int | None, rng: np.random.Generator) -> np.ndarray:
    """Return at most ``cap`` random rows of each task from ``rows``."""
    if cap is None:
        return rows
    selected = [rng.permutation(rows[tasks[rows] == task])[:cap] for task in np.unique(tasks[rows])]
    return np.sort(np.concatenate(selected))


def run_benchmark(args: argparse.Namespace, cap: int | None) -> tuple[dict[str, list[pd.DataFrame]], list[float]]:
    """Return, per model, one metrics frame per repeat, and the interval coverage per repeat."""
    table = load_iwpc(args.data)
    frame = table.frame
    tasks = table.tasks
    doses = table.doses
    transform = TargetTransform(args.transform)
    spec = iwpc_features(extended=args.features == "iwpc_extended")
    # Small training folds can miss a rare CYP2C9 allele that a test patient carries. Such
    # genotypes are imputed as missing instead of stopping the run.
    spec.unknown_values = "missing"
    names = list(LINEAR_MODELS) + ["iwpc_equation"] + (["torch"] if args.torch else [])
    results: dict[str, list[pd.DataFrame]] = {name: [] for name in names}
    coverage: list[float] = []
    rng = np.random.default_rng(args.seed)

    for repeat in range(args.repeats):
        predictions = {name: np.full(len(table), np.nan) for name in names}
        inside = np.zeros(len(table), dtype=bool)
        splitter = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed + repeat)
        folds = list(splitter.split(np.zeros(len(tasks)), tasks))
        for train, test in tqdm(folds, desc=f"repeat {repeat + 1}/{args.repeats}", leave=False):
            train = cap_rows(train, tasks, cap, rng)
            encoder = TabularEncoder(spec).fit(frame.iloc[train])
            design_train, _ = encoder.transform(frame.iloc[train])
            design_test, _ = encoder.transform(frame.iloc[test])
            target = transform.forward(doses[train])
            for name, settings in LINEAR_MODELS.items():
                options = FitOptions(cv_folds=args.inner_folds, seed=args.seed + repeat, target_transform=args.transform, **settings)
                model, oof, _ = fit_linear(design_train, target, tasks[train], options)
                predicted = model.predict(design_test, tasks[test])
                predictions[name][test] = transform.inverse(predicted)
                if name == "multitask":
                    intervals = ResidualIntervals.from_residuals(target - oof, tasks[train])
                    width = intervals.half_width(tasks[test], 0.9)
                    low, high = transform.inverse(predicted - width), transform.inverse(predicted + width)
                    inside[test] = (doses[test] >= low) & (doses[test] <= high)
            equation = IWPCEquation().fit(frame.iloc[train])
            predictions["iwpc_equation"][test] = equation.predict(frame.iloc[test])
            if args.torch:
                from molmtl.pharmaco.torch_model import TorchDoseRegressor, TorchOptions, _validation_rows

                options = TorchOptions(epochs=args.torch_epochs, target_transform=args.transform, seed=args.seed + repeat)
                valid = _validation_rows(tasks[train], options.valid_fraction, options.seed)
                regressor = TorchDoseRegressor(options).fit(design_train, target, tasks[train], valid)
                predictions["torch"][test] = transform.inverse(regressor.predict(design_test, tasks[test]))
        for name in names:
            results[name].append(dose_metrics(doses, predictions[name], tasks))
        coverage.append(float(inside.mean()))
    return results, coverage


def summarise(results: dict[str, list[pd.DataFrame]]) -> dict[str, pd.DataFrame]:
    """Return one frame per task (and overall): rows = models, columns = mean and sd of each metric."""
    first = next(iter(results.values()))[0]
    tables = {}
    for task in first.index:
        rows = {}
        for name, frames in results.items():
            values = pd.DataFrame([frame.loc[task] for frame in frames])
            rows[name] = {
                "n": int(values["n"].iloc[0]),
                "MAE": f"{values['mae'].mean():.2f} ± {values['mae'].std(ddof=0):.2f}",
                "within 20%": f"{values['within_20'].mean():.1f} ± {values['within_20'].std(ddof=0):.1f}",
                "R2": f"{values['r2'].mean():.3f} ± {values['r2'].std(ddof=0):.3f}",
            }
        tables[task] = pd.DataFrame.from_dict(rows, orient="index")
    return tables


def paired_differences(results: dict[str, list[pd.DataFrame]]) -> pd.DataFrame:
    """MAE of multitask minus each other model, mean ± sd over repeats, per task (negative: multitask better)."""
    first = results["multitask"][0]
    rows = {}
    for name, frames in results.items():
        if name == "multitask":
            continue
        row = {}
        for task in first.index:
            difference = np.array([mt.loc[task, "mae"] - other.loc[task, "mae"] for mt, other in zip(results["multitask"], frames)])
            row[task] = f"{difference.mean():+.2f} ± {difference.std(ddof=0):.2f}"
        rows[f"multitask - {name}"] = row
    return pd.DataFrame.from_dict(rows, orient="index")


def main() -> int:
    args = parse_arguments()
    logging.basicConfig(level=logging.WARNING)
    table = load_iwpc(args.data)
    print(f"IWPC: {table.summary()}")
    print("genotypes with alleles absent from a training fold: imputed as missing (unknown_values: missing)")
    print(f"features: {args.features}, target: {args.transform}(dose), outer {args.folds}-fold x {args.repeats} repeats, inner {args.inner_folds}-fold penalty search")
    for cap in [None, *args.max_train_per_task]:
        start = time.perf_counter()
        results, coverage = run_benchmark(args, cap)
        label = "all training patients" if cap is None else f"at most {cap} training patients per task"
        print(f"\n=== {label} ({time.perf_counter() - start:.0f} s) ===")
        tables = summarise(results)
        for task in [name for name in tables if name != OVERALL] + [OVERALL]:
            print(f"\n-- {task} (n = {tables[task]['n'].iloc[0]} test patients per repeat) --")
            print(tables[task].drop(columns="n").to_string())
        print("\nMAE difference, multitask minus baseline (mg/week; negative = multitask better):")
        print(paired_differences(results).to_string())
        print(f"\nmultitask 90% interval coverage on held-out patients: {np.mean(coverage):.3f} (per repeat: {', '.join(f'{value:.3f}' for value in coverage)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
