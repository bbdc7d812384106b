"""``molmtl pharmaco``: multi-task dose models with shared and task-specific effects.

Sub-commands::

    molmtl pharmaco train CONFIG.yaml
    molmtl pharmaco eval MODEL DATA.csv [-o metrics.csv] [--plot parity.png]
    molmtl pharmaco predict MODEL patients.csv -o doses.csv [--level 0.9]
    molmtl pharmaco explain MODEL -o coefficients.csv [--plot coef.png] [--data TRAIN.csv]

Doses are in the unit of the training dose column (mg/week for the IWPC warfarin table).
"""

from __future__ import annotations

import argparse
import logging
import sys


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the train, eval, predict and explain sub-commands."""
    commands = parser.add_subparsers(dest="pharmaco_command", metavar="SUBCOMMAND")

    train = commands.add_parser("train", help="fit a dose model from a YAML config", description="Fit a dose model from a YAML config.")
    train.add_argument("config", help="YAML config (data, features, model, interpretation, output sections)")
    train.add_argument("--output", help="output folder; overrides output.directory of the config")
    train.add_argument("--bootstrap", type=int, help="bootstrap resamples for the coefficient table; overrides the config (0 skips it)")

    evaluate = commands.add_parser("eval", help="score a model on a table with doses", description="Score a model on a patient table with known doses.")
    evaluate.add_argument("model", help="model.json written by train")
    evaluate.add_argument("data", help="patient table (same format as the training table unless --format is given)")
    evaluate.add_argument("--format", default="auto", choices=["auto", "csv", "iwpc"], help="table format (default: as in training)")
    evaluate.add_argument("-o", "--output", help="write the metrics table (CSV) here")
    evaluate.add_argument("--plot", help="write a parity plot (predicted vs actual dose) here")
    evaluate.add_argument("--unknown-tasks", default="error", choices=["error", "shared"], help="tasks the model was not fitted on: raise (default) or predict from the shared coefficients")

    predict = commands.add_parser("predict", help="predict doses with uncertainty intervals", description="Predict doses for new patients, with uncertainty intervals.")
    predict.add_argument("model", help="model.json written by train")
    predict.add_argument("data", help="patient table; the dose column may be absent")
    predict.add_argument("-o", "--output", required=True, help="output CSV: id, task, predicted_dose, lower, upper, task_fallback")
    predict.add_argument("--format", default="auto", choices=["auto", "csv", "iwpc"], help="table format (default: as in training)")
    predict.add_argument("--level", type=float, help="interval coverage level, e.g. 0.9 (default: the level in the training config)")
    predict.add_argument("--unknown-tasks", default="shared", choices=["error", "shared"], help="tasks the model was not fitted on: predict from the shared coefficients (default, flagged in task_fallback) or raise")

    explain = commands.add_parser("explain", help="write the coefficient table and plot", description="Write the shared and task-specific coefficients with bootstrap intervals.")
    explain.add_argument("model", help="model.json written by train")
    explain.add_argument("-o", "--output", required=True, help="output CSV of coefficients")
    explain.add_argument("--plot", help="write a forest plot of standardised effects here (PNG, PDF or SVG)")
    explain.add_argument("--top", type=int, default=25, help="features shown in the plot (largest effects first)")
    explain.add_argument("--data", help="recompute the bootstrap on this training table instead of using the stored table")
    explain.add_argument("--bootstrap", type=int, default=200, help="bootstrap resamples with --data")
    explain.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap with --data")


def _train(args: argparse.Namespace) -> int:
    from molmtl.pharmaco.config import PharmacoConfig
    from molmtl.pharmaco.workflow import train

    config = PharmacoConfig.from_yaml(args.config)
    if args.output:
        config.output_directory = args.output
    if args.bootstrap is not None:
        config.bootstrap = args.bootstrap
    model, paths = train(config)
    print(f"tasks: {model.info['task_counts']}")
    if model.info.get("excluded_rows"):
        print(f"excluded rows: {model.info['excluded_rows']}")
    encoding = model.info.get("encoding") or {}
    imputed = {column["column"]: column["missing"] for column in encoding.get("columns", []) if column["missing"]}
    print(f"imputed missing values (plus a missing indicator feature) per column: {imputed or 'none'}")
    print(f"selection: {model.info.get('selection')}")
    print("cross-validated metrics (dose units):")
    import pandas as pd

    print(pd.DataFrame(model.info["cv_metrics"]).to_string(index=False, float_format=lambda value: f"{value:.3f}"))
    for name, path in paths.items():
        print(f"wrote {name}: {path}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from molmtl.pharmaco.model import DoseModel
    from molmtl.pharmaco.workflow import evaluate, plot_parity, read_for_model, write_csv

    model = DoseModel.load(args.model)
    table = read_for_model(model, args.data, args.format, require_dose=True)
    print(table.summary())
    metrics, predicted = evaluate(model, table, unknown_tasks=args.unknown_tasks)
    print(metrics.to_string(float_format=lambda value: f"{value:.3f}"))
    if args.output:
        write_csv(metrics.reset_index(names="task"), args.output)
        print(f"wrote {args.output}")
    if args.plot:
        plot_parity(table.doses, predicted, table.tasks, args.plot, unit=model.info.get("dose_unit", "dose units"))
        print(f"wrote {args.plot}")
    return 0


def _predict(args: argparse.Namespace) -> int:
    import pandas as pd

    from molmtl.pharmaco.model import DoseModel
    from molmtl.pharmaco.workflow import read_for_model, write_csv

    model = DoseModel.load(args.model)
    table = read_for_model(model, args.data, args.format, require_dose=False)
    level = args.level if args.level is not None else float(model.info.get("interval_level", 0.9))
    predictions = model.predict(table.frame, level=level, unknown_tasks=args.unknown_tasks)
    recorded = table.doses
    if pd.notna(recorded).any():
        predictions["recorded_dose"] = recorded
    write_csv(predictions, args.output)
    fallback = int(predictions["task_fallback"].sum())
    print(f"predicted {len(predictions)} patients ({level:.0%} intervals) -> {args.output}")
    if table.excluded:
        print(f"left out: {table.excluded}")
    if fallback:
        print(f"{fallback} patients have a task the model was not fitted on and were predicted from the shared coefficients (task_fallback)")
    return 0


def _explain(args: argparse.Namespace) -> int:
    from molmtl.pharmaco.interpret import plot_coefficients
    from molmtl.pharmaco.model import DoseModel
    from molmtl.pharmaco.workflow import explain, read_for_model, write_csv

    model = DoseModel.load(args.model)
    table = read_for_model(model, args.data, require_dose=True) if args.data else None
    coefficients = explain(model, table, bootstrap=args.bootstrap, seed=args.seed)
    write_csv(coefficients, args.output)
    print(f"wrote {len(coefficients)} coefficient rows to {args.output}")
    if args.plot:
        plot_coefficients(coefficients, args.plot, top=args.top)
        print(f"wrote {args.plot}")
    return 0


HANDLERS = {"train": _train, "eval": _eval, "predict": _predict, "explain": _explain}


def run(args: argparse.Namespace) -> int:
    """Run the chosen sub-command; input errors print one line and return exit status 1."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    command = getattr(args, "pharmaco_command", None)
    if command is None:
        print("usage: molmtl pharmaco {train,eval,predict,explain} ...; see molmtl pharmaco --help", file=sys.stderr)
        return 2
    from molmtl.pharmaco.columns import EncodingError

    try:
        return HANDLERS[command](args)
    except (FileNotFoundError, KeyError, ValueError, EncodingError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 1
