"""``molmtl train CONFIG.yaml``: train a multi-task potential.

Options given on the command line override the file. ``--resume RUN_DIR`` continues the run
in RUN_DIR from its last checkpoint with the resolved config stored there (flags such as
``--max-epochs`` or ``--max-minutes`` may extend it). Launch with
``torchrun --nproc_per_node N -m molmtl train ...`` for data-parallel training.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``molmtl train``."""
    parser.add_argument("config", nargs="?", help="YAML run configuration (optional with --resume)")
    parser.add_argument("--data", help="training HDF5 file (overrides data.train)")
    parser.add_argument(
        "--valid",
        help=(
            "validation HDF5 file (overrides data.valid); without one, data.valid_fraction "
            "of the training file is held out"
        ),
    )
    parser.add_argument("--out", help="run folder (overrides out)")
    parser.add_argument(
        "--tasks", help="tasks to train, comma-separated NAME or NAME=WEIGHT, e.g. energy,forces=10,dipole"
    )
    parser.add_argument(
        "--weighting", choices=("fixed", "uncertainty", "gradnorm"), help="task weighting strategy"
    )
    parser.add_argument("--max-minutes", type=float, help="training time limit in minutes")
    parser.add_argument("--max-epochs", type=int, help="maximum number of epochs")
    parser.add_argument("--dtype", choices=("float64", "float32"), help="dtype of the model and data")
    parser.add_argument("--seed", type=int, help="random seed (initial weights, split, data order)")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: CUDA when available)")
    parser.add_argument(
        "--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its checkpoint.pt"
    )


def run(args: argparse.Namespace) -> int:
    """Run ``molmtl train``; return 0 on success and 2 on a configuration or data error."""
    import logging
    import sys
    from pathlib import Path

    from molmtl.training import distributed
    from molmtl.training.molecular.config import ConfigError, apply_overrides, build_config, load_config
    from molmtl.training.molecular.run import CONFIG_NAME, MissingLabelsError, train

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    overrides = {
        "data": args.data,
        "valid": args.valid,
        "out": args.out,
        "tasks": args.tasks,
        "weighting": args.weighting,
        "max_minutes": args.max_minutes,
        "max_epochs": args.max_epochs,
        "dtype": args.dtype,
        "seed": args.seed,
        "device": args.device,
    }
    try:
        if args.resume:
            run_dir = Path(args.resume)
            if not (run_dir / CONFIG_NAME).is_file():
                raise FileNotFoundError(
                    f"{run_dir / CONFIG_NAME} not found; --resume needs the folder of an earlier run"
                )
            config = load_config(run_dir / CONFIG_NAME)
            for fixed in ("data", "valid", "tasks", "weighting", "dtype", "seed"):
                if overrides[fixed] is not None:
                    raise ConfigError(
                        f"--{fixed} cannot change on --resume; the run continues with the settings in "
                        f"{run_dir / CONFIG_NAME}"
                    )
            overrides["out"] = str(run_dir)
        elif args.config:
            config = load_config(args.config)
        else:
            config = build_config({})
        config = apply_overrides(config, overrides)
        if config["device"] is None:
            import torch

            config["device"] = "cuda" if torch.cuda.is_available() else "cpu"
        device = distributed.init_from_environment(config["device"])
        config["device"] = str(device)
    except (ConfigError, FileNotFoundError) as error:
        print(f"molmtl train: {error}", file=sys.stderr)
        return 2
    try:
        result = train(config, resume=bool(args.resume))
    except (ConfigError, MissingLabelsError, FileExistsError, FileNotFoundError) as error:
        print(f"molmtl train: {error}", file=sys.stderr)
        return 2
    finally:
        distributed.shutdown()
    if distributed.is_main_process():
        print(
            f"run folder: {result.run_dir} (best epoch {result.trainer.best_epoch}, "
            f"{result.trainer.stop_reason})"
        )
    return 0
