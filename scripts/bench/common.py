"""Helpers shared by the benchmark drivers: subprocess workers, versions, tables, JSON.

The drivers run in molmtl's environment. Every timed model call runs in a fresh worker
process with the Python of the code under test (see :data:`PYTHONS`).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from systems import REPO_ROOT

BENCH_DIR = Path(__file__).resolve().parent
WORK_ROOT = REPO_ROOT / ".bench"

#: Python interpreter of each code's environment.
PYTHONS = {
    "molmtl": Path(sys.executable),
    "mace": REPO_ROOT / ".venv-peers" / "mace" / "bin" / "python",
    "nequip": REPO_ROOT / ".venv-peers" / "nequip" / "bin" / "python",
}

_PACKAGES = {
    "molmtl": ["molmtl", "torch", "e3nn", "ase"],
    "mace": ["mace-torch", "torch", "e3nn", "ase"],
    "nequip": ["nequip", "torch", "e3nn", "ase", "lightning"],
}

RESULT_PREFIX = "BENCH_RESULT "


def available_codes(requested: Sequence[str]) -> list[str]:
    """Return the codes of ``requested`` whose environment exists; warn about the others."""
    found = []
    for code in requested:
        if PYTHONS[code].exists():
            found.append(code)
        else:
            print(f"[bench] skipping {code}: {PYTHONS[code]} not found (run scripts/bench/setup_peers.sh)", file=sys.stderr)
    return found


def run_worker(code: str, script: str, arguments: Sequence[str], threads: int, timeout: float = 3600) -> dict:
    """Run ``script`` (a file in this folder) with ``code``'s Python and return its result JSON."""
    env = dict(os.environ)
    env["OMP_NUM_THREADS"] = str(threads)
    env["MKL_NUM_THREADS"] = str(threads)
    env.setdefault("PYTHONWARNINGS", "ignore")
    command = [str(PYTHONS[code]), str(BENCH_DIR / script), *arguments]
    completed = subprocess.run(command, capture_output=True, text=True, env=env, timeout=timeout, cwd=REPO_ROOT)
    for line in reversed(completed.stdout.splitlines()):
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (completed.stdout + completed.stderr)[-3000:]
    raise RuntimeError(f"{' '.join(command)} failed with exit status {completed.returncode}:\n{tail}")


def code_versions(codes: Sequence[str]) -> dict[str, dict[str, str]]:
    """Return the installed versions of each code and its main dependencies."""
    versions = {}
    for code in codes:
        if not PYTHONS[code].exists():
            continue
        script = (
            "import importlib.metadata as m, json, sys\n"
            "out = {}\n"
            "for name in sys.argv[1:]:\n"
            "    try: out[name] = m.version(name)\n"
            "    except m.PackageNotFoundError: pass\n"
            "print(json.dumps(out))\n"
        )
        completed = subprocess.run(
            [str(PYTHONS[code]), "-c", script, *_PACKAGES[code]], capture_output=True, text=True, check=True
        )
        versions[code] = json.loads(completed.stdout)
    versions["molmtl"] = {**versions.get("molmtl", {}), "git_commit": _git_commit()}
    return versions


def _git_commit() -> str:
    completed = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO_ROOT)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "molmtl"], capture_output=True, text=True, cwd=REPO_ROOT)
    return completed.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine_info() -> dict[str, object]:
    """Return the CPU model, core count, memory and load of this machine."""
    cpu_model = "unknown"
    with open("/proc/cpuinfo", encoding="ascii", errors="replace") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="ascii") as meminfo:
        total_kib = int(meminfo.readline().split()[1])
    return {
        "cpu_model": cpu_model,
        "cores": os.cpu_count(),
        "memory_gib": round(total_kib / 2**20, 1),
        "load_average": os.getloadavg(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def header(command: Sequence[str], codes: Sequence[str]) -> dict[str, object]:
    """Return the metadata block stored with every benchmark result."""
    return {
        "command": " ".join(command),
        "date_utc": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "versions": code_versions(codes),
    }


def write_json(payload: dict, path: Path) -> None:
    """Write ``payload`` as indented JSON to ``path`` atomically."""
    from molmtl.atomic_io import atomic_write_text

    atomic_write_text(json.dumps(payload, indent=2, default=str) + "\n", path)
    print(f"[bench] wrote {path}")


def ratio_summary(values: Sequence[float]) -> dict[str, float]:
    """Return min, median and max of ``values``."""
    return {"min": min(values), "median": statistics.median(values), "max": max(values)}


def format_table(rows: Sequence[dict], columns: Sequence[tuple[str, str, str]]) -> str:
    """Format ``rows`` as a Markdown table; ``columns`` are (key, title, format spec)."""
    lines = ["| " + " | ".join(title for _, title, _ in columns) + " |"]
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in rows:
        cells = []
        for key, _, spec in columns:
            value = row.get(key)
            if value is None:
                cells.append("n/a")
            elif spec and isinstance(value, (int, float)):
                cells.append(format(value, spec))
            else:
                cells.append(str(value))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def add_common_arguments(parser) -> None:
    """Add the options every benchmark takes: --quick, --threads, --codes, --out."""
    parser.add_argument("--quick", action="store_true", help="small budgets and sizes; finishes in a few minutes")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads for every code (default 2)")
    parser.add_argument(
        "--codes", nargs="+", default=["molmtl", "mace", "nequip"], choices=["molmtl", "mace", "nequip"],
        help="codes to compare (peers without an environment are skipped)",
    )
    parser.add_argument("--out", type=Path, default=None, help="JSON output path (default .bench/results/<name>.json)")
