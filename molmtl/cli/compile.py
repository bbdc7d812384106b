"""``molmtl compile``: turn a ``model.pt`` into an AOTInductor package (``.pt2``) for fast MD.

The package runs energy, forces, stress, dipole and charges as one compiled function (see
:mod:`molmtl.nn.aot`). ``MolMTLCalculator`` and ``molmtl md`` accept it in place of the
``model.pt``.
"""

from __future__ import annotations

import argparse
import pickle
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``molmtl compile``."""
    parser.add_argument("model", help="model.pt written by molmtl train")
    parser.add_argument("-o", "--output", default=None, help="package to write (default: MODEL with the suffix .pt2)")
    parser.add_argument(
        "--dtype", choices=["float32", "float64"], default=None,
        help="dtype of the compiled function (default: the model's); float64 for tests of energy conservation",
    )
    parser.add_argument("--device", default="cpu", help="device the package will run on (default cpu)")
    parser.add_argument(
        "--threads", type=int, default=None,
        help="CPU threads that the compiled kernels use (AOTInductor fixes the count at compile time; "
        "default: torch's default, usually the number of cores)",
    )


def run(args: argparse.Namespace) -> int:
    """Compile ``args.model``; return 1 when the model cannot be read."""
    import torch

    from molmtl.nn.aot import compile_model
    from molmtl.nn.serialization import load_model

    if args.threads:
        torch.set_num_threads(args.threads)
    source = Path(args.model)
    output = Path(args.output) if args.output else source.with_suffix(".pt2")
    if source.suffix == ".pt2":
        print(f"error: {source} is already a compiled package; pass the model.pt that molmtl train wrote", file=sys.stderr)
        return 1
    if output.suffix != ".pt2":
        print(f"error: the output {output} must end in .pt2, which is how molmtl recognises a compiled model", file=sys.stderr)
        return 1
    try:
        model = load_model(source, device=args.device)
    except (FileNotFoundError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except (RuntimeError, pickle.UnpicklingError, EOFError) as error:  # not a torch archive
        print(f"error: could not read {source} as a molmtl model.pt ({error})", file=sys.stderr)
        return 1
    dtype = getattr(torch, args.dtype) if args.dtype else None
    try:
        compile_model(model, output, dtype=dtype, device=args.device)
    except RuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0
