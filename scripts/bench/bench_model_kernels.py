"""Time the model's energy+forces call against an earlier revision of ``molmtl/nn``, in one process.

The earlier revision is read from git (``git show REV:molmtl/nn/...``) into a temporary
package, so both versions run side by side on the same weights and inputs. The script
prints the largest energy and force differences between the two, then times them
alternately with ``time.process_time``. That clock counts the CPU time of this process
only, so other load on the machine disturbs it less. The output is the new/old time ratio
with its min, median and max over rounds.

Example::

    OMP_NUM_THREADS=1 .venv/bin/python scripts/bench/bench_model_kernels.py --rounds 5
"""

from __future__ import annotations

import argparse
import importlib
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import molecule

REPO_ROOT = Path(__file__).resolve().parents[2]
#: Last revision of molmtl/nn before the kernel optimisations.
DEFAULT_BASELINE = "00fe816a1b615a72d52790be739d512743d8f3ce"
BASELINE_PACKAGE = "molmtl_nn_baseline"


def load_baseline(revision: str, folder: Path):
    """Copy ``molmtl/nn`` at ``revision`` into ``folder`` as a separate package and import its model module."""
    listing = subprocess.run(
        ["git", "ls-tree", "-r", "--name-only", revision, "molmtl/nn"],
        cwd=REPO_ROOT, check=True, capture_output=True, text=True,
    ).stdout.split()
    for name in listing:
        if not name.endswith(".py"):
            continue
        source = subprocess.run(
            ["git", "show", f"{revision}:{name}"], cwd=REPO_ROOT, check=True, capture_output=True, text=True
        ).stdout
        target = folder / BASELINE_PACKAGE / Path(name).relative_to("molmtl/nn")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(source.replace("molmtl.nn.", f"{BASELINE_PACKAGE}."))
    sys.path.insert(0, str(folder))
    return importlib.import_module(f"{BASELINE_PACKAGE}.model"), importlib.import_module(f"{BASELINE_PACKAGE}.config")


def water_box(num_molecules: int, seed: int = 0) -> Atoms:
    """Return a periodic box of ``num_molecules`` water molecules at about 1 g/cm^3 on a jittered grid."""
    side = int(np.ceil(num_molecules ** (1 / 3)))
    spacing = 3.104  # Angstrom; (18.015 g/mol / 0.602214 / 1 g/cm^3) ** (1/3)
    generator = np.random.default_rng(seed)
    water = molecule("H2O")
    positions, symbols = [], []
    for index in range(num_molecules):
        cell_index = np.array([index // side**2, (index // side) % side, index % side])
        centre = (cell_index + 0.5) * spacing + generator.normal(scale=0.1, size=3)
        positions.extend(water.positions + centre)
        symbols.extend(water.get_chemical_symbols())
    return Atoms(symbols, positions=positions, cell=np.eye(3) * side * spacing, pbc=True)


def systems(names: list[str]) -> dict[str, Atoms]:
    """Return the named test systems."""
    table = {
        "ethanol": lambda: molecule("CH3CH2OH"),
        "water192": lambda: water_box(64),
        "water1536": lambda: water_box(512),
    }
    return {name: table[name]() for name in names}


def time_call(model, data, repeats: int) -> float:
    """Return the CPU time per energy+forces call in ms."""
    start = time.process_time()
    for _ in range(repeats):
        model(data, compute_forces=True)
    return (time.process_time() - start) / repeats * 1e3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", default=DEFAULT_BASELINE, help="git revision of the old molmtl/nn")
    parser.add_argument("--systems", nargs="+", default=["ethanol", "water192", "water1536"])
    parser.add_argument("--dtype", choices=["float64", "float32"], nargs="+", default=["float64", "float32"])
    parser.add_argument("--rounds", type=int, default=5, help="alternating old/new timing rounds")
    parser.add_argument("--budget", type=float, default=1.0, help="CPU seconds per timing round and version")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()

    from molmtl.data.neighbors import atoms_to_data
    from molmtl.nn.config import ModelConfig
    from molmtl.nn.model import MolMTLModel

    torch.set_num_threads(1)
    results = []
    with tempfile.TemporaryDirectory() as folder:
        old_model_module, old_config_module = load_baseline(args.baseline, Path(folder))
        for dtype in args.dtype:
            torch.manual_seed(0)
            options = dict(atomic_numbers=[1, 6, 8], avg_num_neighbors=20.0, dtype=dtype, energy_shift=0.1)
            new = MolMTLModel(ModelConfig(**options)).eval()
            old = old_model_module.MolMTLModel(old_config_module.ModelConfig(**options)).eval()
            old.load_state_dict(new.state_dict())
            for name, atoms in systems(args.systems).items():
                data = atoms_to_data(atoms, new.cutoff, dtype=torch.float64)
                reference = old(data, compute_forces=True)
                result = new(data, compute_forces=True)
                energy_error = float((reference["energy"] - result["energy"]).detach().abs().max())
                force_error = float((reference["forces"] - result["forces"]).detach().abs().max())
                single = time_call(new, data, 2)
                repeats = max(3, int(args.budget / max(single * 1e-3, 1e-6)))
                old_times, new_times = [], []
                for _ in range(args.rounds):
                    old_times.append(time_call(old, data, repeats))
                    new_times.append(time_call(new, data, repeats))
                ratios = sorted(n / o for n, o in zip(new_times, old_times))
                row = {
                    "system": name,
                    "atoms": len(atoms),
                    "edges": int(data.edge_index.shape[1]),
                    "dtype": dtype,
                    "old_ms": statistics.median(old_times),
                    "new_ms": statistics.median(new_times),
                    "ratio_min": ratios[0],
                    "ratio_median": statistics.median(ratios),
                    "ratio_max": ratios[-1],
                    "max_energy_diff_eV": energy_error,
                    "max_force_diff_eV_per_A": force_error,
                }
                results.append(row)
                print(
                    f"{name:10s} {dtype:8s} atoms {len(atoms):5d} edges {row['edges']:7d}  "
                    f"old {row['old_ms']:9.3f} ms  new {row['new_ms']:9.3f} ms  "
                    f"new/old {row['ratio_median']:.3f} (min {ratios[0]:.3f}, max {ratios[-1]:.3f})  "
                    f"|dE| {energy_error:.1e}  |dF| {force_error:.1e}",
                    flush=True,
                )
    if args.json is not None:
        args.json.write_text(json.dumps({"baseline": args.baseline, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
