"""Print the benchmark results in ``.bench/results`` as Markdown sections for docs/benchmarks.md.

Each section gives the command, the date, the machine, the versions of all codes and the
tables that the benchmark printed.

    .venv/bin/python scripts/bench/report.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys

from common import WORK_ROOT

SECTIONS = [
    ("accuracy", "Accuracy at equal training budget"),
    ("md_speed", "MD speed"),
    ("scaling", "Scaling with system size"),
    ("throughput", "Training throughput"),
    ("data_loading", "Data loading"),
]


def describe_versions(versions: dict) -> str:
    """Return one line per code with its package versions."""
    lines = []
    for code, packages in versions.items():
        text = ", ".join(f"{name} {version}" for name, version in packages.items())
        lines.append(f"  - {code}: {text}")
    return "\n".join(lines)


def section(title: str, payload: dict) -> str:
    """Return the Markdown section of one benchmark result."""
    machine = payload["machine"]
    load = ", ".join(f"{value:.1f}" for value in machine["load_average"])
    parts = [
        f"### {title}",
        "",
        f"- Command: `{payload['command']}`",
        f"- Date (UTC): {payload['date_utc']}",
        f"- Machine: {machine['cpu_model']}, {machine['cores']} cores, {machine['memory_gib']} GiB; "
        f"load average at the start {load}",
        "- Versions:",
        describe_versions(payload["versions"]),
        "",
    ]
    tables = payload.get("tables") or {"table": payload.get("table", "")}
    for table in tables.values():
        parts += [table, ""]
    if "ratio_molmtl_over_mace" in payload:
        ratio = payload["ratio_molmtl_over_mace"]
        parts += [f"molmtl/MACE: min {ratio['min']:.2f}, median {ratio['median']:.2f}, max {ratio['max']:.2f}", ""]
    for error in payload.get("errors", []):
        parts += [f"- Failed: {json.dumps({key: value for key, value in error.items() if key != 'error'})}: "
                  f"{error['error'].strip().splitlines()[-1][:300]}"]
    return "\n".join(parts)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="report the --quick results")
    args = parser.parse_args()
    for name, title in SECTIONS:
        path = WORK_ROOT / "results" / f"{name}{'_quick' if args.quick else ''}.json"
        if path.exists():
            print(section(title, json.loads(path.read_text())))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
