"""``molmtl eval MODEL DATA.h5``: MAE and RMSE of a trained model on a molmtl HDF5 file."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``molmtl eval``."""
    parser.add_argument("model", help="model file written by molmtl train (model.pt)")
    parser.add_argument("data", help="molmtl HDF5 file with reference labels")
    parser.add_argument("--json", metavar="OUT", help="also write the table as JSON to OUT")
    parser.add_argument("--batch-size", type=int, default=16, help="structures per batch (default 16)")
    parser.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: CUDA when available)")
    parser.add_argument(
        "--dtype", choices=("float64", "float32"), help="evaluate in this dtype (default: the model's)"
    )
    parser.add_argument(
        "--plots", metavar="DIR", help="write parity plots of energy per atom, forces and dipole to DIR"
    )


def run(args: argparse.Namespace) -> int:
    """Evaluate the model and print the table; return 0, or 2 on a missing or invalid file."""
    import json
    import sys

    import torch

    from molmtl.atomic_io import atomic_write_text
    from molmtl.data.dataset import H5Dataset
    from molmtl.nn.serialization import load_model
    from molmtl.training.molecular.evaluation import format_error_table, predict_dataset, write_parity_plots

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    dtype = {"float64": torch.float64, "float32": torch.float32}.get(args.dtype) if args.dtype else None
    try:
        model = load_model(args.model, dtype=dtype, device=device)
        dataset = H5Dataset(args.data, cutoff=model.cutoff, dtype=model.dtype)
    except (FileNotFoundError, ValueError, OSError) as error:
        print(f"molmtl eval: {error}", file=sys.stderr)
        return 2
    predictions = predict_dataset(
        model, dataset, batch_size=args.batch_size, device=device, progress=sys.stderr.isatty()
    )
    table = predictions.errors()
    if not table:
        print(
            f"molmtl eval: {args.data} has no labels that the model predicts (labels: "
            f"{dataset.label_counts()})",
            file=sys.stderr,
        )
        return 2
    print(f"model {args.model} on {args.data} ({len(dataset)} structures)")
    print(format_error_table(table))
    if args.json:
        atomic_write_text(
            json.dumps({"model": str(args.model), "data": str(args.data), "errors": table}, indent=2) + "\n",
            args.json,
        )
    if args.plots:
        write_parity_plots(predictions, args.plots)
    return 0
