"""MD speed: velocity Verlet steps per second through each code's ASE calculator.

Systems: ethanol (9 atoms) and 3BPA (27) without a cell, and periodic water boxes of 192
and 1,536 atoms. Each code's models have the architecture of bench_accuracy.py. They are
trained on 100 structures of the ethanol and 3BPA splits for ``--train-budget`` seconds,
once, and kept in ``.bench/models/<dataset>_speed``, because the speed does not depend on
how long a model trained. The water boxes use the ethanol models (elements H, C and O).
Every (code, variant, model) runs in a fresh process that steps through its systems in
increasing size, one process after the other. The whole sequence is repeated
(A, B, C, A, B, C, ...) so that all codes see the same machine load.

Output: steps/s and peak memory per code and variant, and for every system the ratios
molmtl/MACE and molmtl/NequIP (best variant of each code in every repetition) with their
min, median and max over the repetitions.

    .venv/bin/python scripts/bench/prepare_speed_models.py   # once: train, compile NequIP
    .venv/bin/python scripts/bench/bench_md_speed.py
    .venv/bin/python scripts/bench/bench_md_speed.py --quick
"""

from __future__ import annotations

import argparse
import statistics
import sys

from common import WORK_ROOT, add_common_arguments, available_codes, format_table, header, ratio_summary, run_worker, write_json
from models import VARIANTS, ensure_molmtl_aot, ensure_nequip_aotinductor, load_or_train

#: Timed steps per system (full run); quick runs divide by 4.
STEPS = {"ethanol": 200, "3bpa": 100, "water192": 20, "water1536": 4}


def model_set_for(system: str) -> str:
    """Return the dataset whose models run ``system``."""
    return "3bpa" if system == "3bpa" else "ethanol"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_common_arguments(parser)
    parser.add_argument("--systems", nargs="+", default=None, help="ethanol, 3bpa, water<N> (default: all four)")
    parser.add_argument("--repeats", type=int, default=None, help="repetitions of the A, B, C sequence (default 3, quick 2)")
    parser.add_argument("--train-budget", type=float, default=60.0, help="seconds to train a missing model (default 60)")
    parser.add_argument("--no-aotinductor", action="store_true", help="skip the AOTInductor variants of NequIP and molmtl")
    parser.add_argument(
        "--compiled", action="store_true",
        help="also time molmtl and MACE with torch.compile (float32-compile); each process compiles for minutes",
    )
    args = parser.parse_args()
    variants = {code: list(names) for code, names in VARIANTS.items()}
    if args.compiled:
        variants["molmtl"].append("float32-compile")
        variants["mace"].append("float32-compile")
    systems = args.systems or (["ethanol", "water192"] if args.quick else list(STEPS))
    repeats = args.repeats or (2 if args.quick else 3)
    codes = available_codes(args.codes)
    suffix = "_quick" if args.quick else ""
    output = args.out or WORK_ROOT / "results" / f"md_speed{suffix}.json"

    manifests = {}
    for dataset in sorted({model_set_for(system) for system in systems}):
        # Speed models train on the 100-structure quick split in both modes: same architecture, same speed.
        name = f"{dataset}_speed"
        manifests[dataset] = load_or_train(name, dataset, codes, args.train_budget, args.threads, quick=True)
        if "nequip" in codes and not args.no_aotinductor:
            ensure_nequip_aotinductor(name, args.threads)
        if "molmtl" in codes and not args.no_aotinductor:
            ensure_molmtl_aot(name, args.threads)
        manifests[dataset] = load_or_train(name, dataset, codes, args.train_budget, args.threads, quick=True)

    payload = {**header(sys.argv, codes), "repeats": repeats, "runs": [], "ratios": []}
    groups = {dataset: [system for system in systems if model_set_for(system) == dataset] for dataset in manifests}
    for repeat in range(repeats):
        for code in codes:
            for variant in variants[code]:
                for dataset, group in groups.items():
                    model = manifests[dataset]["codes"][code]["variants"].get(variant.removesuffix("-compile"))
                    if model is None or not group:
                        continue
                    steps = [str(max(2, STEPS.get(system, 4) // (4 if args.quick else 1))) for system in group]
                    try:
                        output_json = run_worker(
                            code, "worker_md.py",
                            ["--code", code, "--model", model, "--variant", variant, "--system", *group,
                             "--steps", *steps, "--warmup", "3", "--threads", str(args.threads)],
                            threads=args.threads,
                        )
                    except RuntimeError as error:
                        print(f"[bench] {code}/{variant} on {group} failed: {str(error)[-600:]}", file=sys.stderr)
                        payload.setdefault("errors", []).append({"code": code, "variant": variant, "systems": group,
                                                                 "repeat": repeat, "error": str(error)[-2000:]})
                        continue
                    for result in output_json["results"]:
                        result["repeat"] = repeat
                        payload["runs"].append(result)
                        print(f"[bench] {result['system']} #{repeat} {code}/{variant}: "
                              f"{result['steps_per_second']:.2f} steps/s, peak {result['peak_rss_mib']:.0f} MiB", flush=True)
    for system in systems:
        runs = [run for run in payload["runs"] if run["system"] == system]
        payload["ratios"].append(system_ratios(system, runs, repeats))

    summary = sorted(summarise(payload["runs"]), key=lambda row: (systems.index(row["system"]), codes.index(row["code"])))
    payload["summary"] = summary
    speed_table = format_table(
        summary,
        [("system", "system", ""), ("num_atoms", "atoms", "d"), ("code", "code", ""), ("variant", "variant", ""),
         ("median_steps_per_second", "steps/s (median)", ".2f"), ("min_steps_per_second", "min", ".2f"),
         ("max_steps_per_second", "max", ".2f"), ("ms_per_step", "ms/step", ".1f"),
         ("peak_rss_mib", "peak RSS MiB", ".0f"), ("peak_increase_mib", "peak - model MiB", ".0f")],
    )
    ratio_table = format_table(
        payload["ratios"],
        [("system", "system", ""), ("molmtl_best", "molmtl variant", ""), ("mace_best", "MACE variant", ""),
         ("nequip_best", "NequIP variant", ""), ("vs_mace", "molmtl/MACE min / median / max", ""),
         ("vs_nequip", "molmtl/NequIP min / median / max", ""), ("target_met", "≥ 1.5× fastest peer", "")],
    )
    print(speed_table)
    print()
    print(ratio_table)
    payload["tables"] = {"speed": speed_table, "ratios": ratio_table}
    write_json(payload, output)
    return 0


def best_variant(runs: list[dict], code: str) -> str | None:
    """Return the variant of ``code`` with the highest median steps per second."""
    medians = {}
    for variant in {run["variant"] for run in runs if run["code"] == code}:
        medians[variant] = statistics.median(
            run["steps_per_second"] for run in runs if run["code"] == code and run["variant"] == variant
        )
    return max(medians, key=medians.get) if medians else None


def system_ratios(system: str, runs: list[dict], repeats: int) -> dict:
    """Return the per-repetition speed ratios of molmtl's best variant against each peer's best."""
    best = {code: best_variant(runs, code) for code in ("molmtl", "mace", "nequip")}
    if best["molmtl"] is None:
        return {"system": system, "target_met": None}
    per_repeat = {code: {} for code in best}
    for run in runs:
        if run["variant"] == best[run["code"]]:
            per_repeat[run["code"]][run["repeat"]] = run["steps_per_second"]
    row = {"system": system, **{f"{code}_best": variant for code, variant in best.items()}}
    fastest_peer = []
    for peer in ("mace", "nequip"):
        values = [
            per_repeat["molmtl"][repeat] / per_repeat[peer][repeat]
            for repeat in range(repeats)
            if repeat in per_repeat["molmtl"] and repeat in per_repeat[peer]
        ]
        if values:
            summary = ratio_summary(values)
            row[f"ratios_vs_{peer}"] = summary
            row[f"vs_{peer}"] = f"{summary['min']:.2f} / {summary['median']:.2f} / {summary['max']:.2f}"
            fastest_peer.append(summary["median"])
    row["target_met"] = None
    if fastest_peer:
        row["target_met"] = "yes" if min(fastest_peer) >= 1.5 else "no"
    return row


def summarise(runs: list[dict]) -> list[dict]:
    """Return one row per (system, code, variant) with median, min and max steps/s and memory."""
    rows = []
    keys = list(dict.fromkeys((run["system"], run["code"], run["variant"]) for run in runs))
    for system, code, variant in keys:
        group = [run for run in runs if (run["system"], run["code"], run["variant"]) == (system, code, variant)]
        speeds = [run["steps_per_second"] for run in group]
        rows.append({
            "system": system, "num_atoms": group[0]["num_atoms"], "code": code, "variant": variant,
            "median_steps_per_second": statistics.median(speeds), "min_steps_per_second": min(speeds),
            "max_steps_per_second": max(speeds), "ms_per_step": 1000.0 / statistics.median(speeds),
            "peak_rss_mib": statistics.median(run["peak_rss_mib"] for run in group),
            "peak_increase_mib": statistics.median(run["peak_increase_mib"] for run in group),
        })
    return rows


if __name__ == "__main__":
    sys.exit(main())
