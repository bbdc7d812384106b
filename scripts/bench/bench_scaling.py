"""Scaling: time per MD step and peak memory against the number of atoms, water boxes.

Periodic water boxes at about 1 g/cm^3 from 96 to 12,000 atoms run a few velocity Verlet
steps through each code's ASE calculator (its fastest variant by default). Every size and
code runs in a fresh process, sizes in increasing order, codes alternating at every size.
Output: ms per step and memory per size, and the exponents b of the power laws
time = a N^b and memory = c N^d, fitted by least squares in log-log space, over all sizes
and over the sizes of at least 1,000 atoms (where fixed per-call costs no longer dominate).
Memory is the peak resident memory of the process minus its memory after the model was
loaded, i.e. what the force calls needed.

    .venv/bin/python scripts/bench/prepare_speed_models.py   # once: train, compile NequIP
    .venv/bin/python scripts/bench/bench_scaling.py
    .venv/bin/python scripts/bench/bench_scaling.py --quick     # up to 1,536 atoms
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np

from common import WORK_ROOT, add_common_arguments, available_codes, format_table, header, run_worker, write_json
from models import ensure_molmtl_aot, ensure_nequip_aotinductor, load_or_train

SIZES = [96, 192, 384, 768, 1536, 3072, 6144, 12000]
DEFAULT_VARIANTS = {"molmtl": "aot-float32", "mace": "float32", "nequip": "aotinductor"}


def fit_exponent(sizes: list[float], values: list[float], minimum_size: float = 0.0) -> float | None:
    """Return the slope of log(value) against log(size) over sizes >= ``minimum_size``."""
    points = [(math.log(n), math.log(v)) for n, v in zip(sizes, values) if n >= minimum_size and v > 0]
    if len(points) < 2:
        return None
    x, y = np.array(points).T
    return float(np.polyfit(x, y, 1)[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--max-atoms", type=int, default=None, help="largest box (default 12000, quick 1536)")
    parser.add_argument(
        "--variant", action="append", default=[], metavar="CODE=VARIANT",
        help="inference variant per code (default molmtl=aot-float32, mace=float32, nequip=aotinductor)",
    )
    parser.add_argument("--train-budget", type=float, default=60.0, help="seconds to train a missing model (default 60)")
    args = parser.parse_args()
    variants = dict(DEFAULT_VARIANTS)
    for item in args.variant:
        code, _, variant = item.partition("=")
        variants[code] = variant
    max_atoms = args.max_atoms or (1536 if args.quick else SIZES[-1])
    sizes = [size for size in SIZES if size <= max_atoms]
    codes = available_codes(args.codes)
    name = "ethanol_speed"  # the models of bench_md_speed.py
    output = args.out or WORK_ROOT / "results" / ("scaling_quick.json" if args.quick else "scaling.json")

    manifest = load_or_train(name, "ethanol", codes, args.train_budget, args.threads, quick=True)
    if "nequip" in codes and variants["nequip"] == "aotinductor":
        ensure_nequip_aotinductor(name, args.threads)
    if "molmtl" in codes and variants["molmtl"].startswith("aot-"):
        ensure_molmtl_aot(name, args.threads)
    manifest = load_or_train(name, "ethanol", codes, args.train_budget, args.threads, quick=True)

    payload = {**header(sys.argv, codes), "variants": variants, "runs": [], "fits": []}
    failed: set[str] = set()
    for size in sizes:
        steps = max(2, min(30, 3000 // size))
        for code in codes:
            if code in failed:
                continue
            arguments = ["--code", code, "--model", manifest["codes"][code]["variants"][variants[code]],
                         "--variant", variants[code], "--system", f"water{size}", "--steps", str(steps),
                         "--warmup", "2", "--threads", str(args.threads)]
            try:
                result = run_worker(code, "worker_md.py", arguments, threads=args.threads, timeout=1800)["results"][0]
            except (RuntimeError, TimeoutError) as error:
                print(f"[bench] water{size} {code}: failed, larger sizes skipped: {str(error)[-400:]}", file=sys.stderr)
                payload["runs"].append({"code": code, "num_atoms": size, "error": str(error)[-2000:]})
                failed.add(code)
                continue
            payload["runs"].append(result)
            print(f"[bench] water{size} {code}: {result['ms_per_step']:.1f} ms/step, "
                  f"+{result['peak_increase_mib']:.0f} MiB", flush=True)

    for code in codes:
        runs = [run for run in payload["runs"] if run["code"] == code and "error" not in run]
        atoms = [run["num_atoms"] for run in runs]
        times = [run["ms_per_step"] for run in runs]
        memory = [run["peak_increase_mib"] for run in runs]
        payload["fits"].append({
            "code": code, "variant": variants[code], "largest": max(atoms, default=None),
            "time_exponent_all": fit_exponent(atoms, times), "time_exponent_1000": fit_exponent(atoms, times, 1000),
            "memory_exponent_all": fit_exponent(atoms, memory), "memory_exponent_1000": fit_exponent(atoms, memory, 1000),
        })

    runs_table = format_table(
        [run for run in payload["runs"] if "error" not in run],
        [("num_atoms", "atoms", "d"), ("code", "code", ""), ("variant", "variant", ""), ("ms_per_step", "ms/step", ".1f"),
         ("peak_increase_mib", "peak - model MiB", ".0f"), ("peak_rss_mib", "peak RSS MiB", ".0f")],
    )
    fits_table = format_table(
        payload["fits"],
        [("code", "code", ""), ("variant", "variant", ""), ("largest", "largest N", "d"),
         ("time_exponent_all", "time exp. (all)", ".2f"), ("time_exponent_1000", "time exp. (N≥1000)", ".2f"),
         ("memory_exponent_all", "memory exp. (all)", ".2f"), ("memory_exponent_1000", "memory exp. (N≥1000)", ".2f")],
    )
    print(runs_table)
    print()
    print(fits_table)
    payload["tables"] = {"runs": runs_table, "fits": fits_table}
    write_json(payload, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
