"""Train and compile the models that bench_md_speed.py and bench_scaling.py time.

Running this ahead of the timed benchmarks keeps the minutes of training and of the
AOTInductor compilation (NequIP's and molmtl's) out of the measurement window. The benchmarks reuse the models.

    .venv/bin/python scripts/bench/prepare_speed_models.py --train-budget 60
"""

from __future__ import annotations

import argparse
import sys

from common import available_codes
from models import ensure_molmtl_aot, ensure_nequip_aotinductor, load_or_train


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-budget", type=float, default=60.0, help="training seconds per code (default 60)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--codes", nargs="+", default=["molmtl", "mace", "nequip"], choices=["molmtl", "mace", "nequip"])
    parser.add_argument("--datasets", nargs="+", default=["ethanol", "3bpa"], choices=["ethanol", "3bpa"])
    args = parser.parse_args()
    codes = available_codes(args.codes)
    for dataset in args.datasets:
        name = f"{dataset}_speed"
        load_or_train(name, dataset, codes, args.train_budget, args.threads, quick=True)
        if "nequip" in codes:
            ensure_nequip_aotinductor(name, args.threads)
        if "molmtl" in codes:
            ensure_molmtl_aot(name, args.threads)
        print(f"[bench] model set {name} ready", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
