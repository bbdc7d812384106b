"""The main job: train on the embedded dataset, evaluate, run NVE MD of ethanol and an IR spectrum.

Each step calls the same command a user would type (``molmtl train``, ``eval``, ``md``,
``ir``), so the job doubles as a worked example. Everything lands in one output folder and
ends with a summary table (printed, and written as ``summary.md`` and ``summary.json``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from molmtl.atomic_io import atomic_write_text

REPO_ROOT = Path(__file__).resolve().parents[2]
EMBEDDED_DATASET = REPO_ROOT / "datasets" / "embedded.h5"
EMBEDDED_CONFIG = REPO_ROOT / "configs" / "embedded.yaml"


@dataclass
class MainJobSettings:
    """Options of the main job; times in minutes, MD settings in fs and K."""

    out: Path
    dataset: Path = EMBEDDED_DATASET
    config: Path = EMBEDDED_CONFIG
    train_minutes: float = 4.0
    test_fraction: float = 0.1
    md_molecule: str = "ethanol"
    md_steps: int = 4000
    md_timestep_fs: float = 0.5
    md_temperature_k: float = 300.0
    md_stride: int = 2
    seed: int = 0


@dataclass
class MainJobResult:
    """Rows of the summary table and their machine-readable values."""

    rows: list[tuple[str, str]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    def add(self, label: str, value: str, key: str | None = None, raw: Any = None) -> None:
        """Add a table row, and its machine-readable value under ``key``."""
        self.rows.append((label, value))
        if key is not None:
            self.data[key] = raw

    def markdown(self) -> str:
        """Return the summary as a two-column Markdown table."""
        width = max(len(label) for label, _ in self.rows)
        lines = [f"| {'step / quantity':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
        lines += [f"| {label:<{width}} | {value} |" for label, value in self.rows]
        return "\n".join(lines)


def _command(argv: list[str]) -> None:
    """Run one ``molmtl`` command in this process and raise if it fails."""
    from molmtl.cli.main import main

    print(f"\n$ molmtl {' '.join(argv)}", flush=True)
    status = main(argv)
    if status != 0:
        raise RuntimeError(f"'molmtl {' '.join(argv)}' failed with exit status {status}")


def split_dataset(settings: MainJobSettings) -> tuple[Path, Path, int, int]:
    """Write a seeded random train/test split of the dataset; return the paths and sizes."""
    from molmtl.data.reader import H5Reader
    from molmtl.data.splits import random_split
    from molmtl.data.writer import H5Writer

    reader = H5Reader(settings.dataset)
    fractions = {"train": 1.0 - settings.test_fraction, "test": settings.test_fraction}
    split = random_split(len(reader), fractions, seed=settings.seed)
    paths = {}
    for name, indices in split.items():
        path = settings.out / f"{name}.h5"
        provenance = dict(reader.provenance)
        provenance["split"] = f"{name} part of a random {fractions} split (seed {settings.seed}) of {settings.dataset.name}"
        with H5Writer(path, provenance=provenance, overwrite=True) as writer:
            writer.append([reader[int(index)] for index in indices])
        paths[name] = path
    return paths["train"], paths["test"], len(split["train"]), len(split["test"])


def write_start_structure(test_path: Path, molecule: str, target: Path) -> int:
    """Write the first test structure of ``molecule`` to ``target`` (extxyz); return its atom count."""
    import ase.io

    from molmtl.data.reader import H5Reader

    reader = H5Reader(test_path)
    for index in range(len(reader)):
        structure = reader[index]
        if structure.molecule == molecule:
            atoms = structure.to_atoms()
            atoms.calc = None
            ase.io.write(target, atoms, format="extxyz")
            return len(atoms)
    raise ValueError(f"no structure of molecule {molecule!r} in {test_path}; choose another md_molecule")


def count_fragments(trajectory: Path, frame: int) -> int:
    """Return the number of covalently bonded fragments in ``frame`` of ``trajectory``.

    Two atoms are bonded when closer than 1.2 times the sum of their covalent radii
    (``ase.neighborlist.natural_cutoffs``), so a molecule that dissociates during MD shows up
    as more than one fragment.
    """
    import ase.io
    from ase.neighborlist import natural_cutoffs, neighbor_list
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    atoms = ase.io.read(trajectory, index=frame)
    first, second = neighbor_list("ij", atoms, natural_cutoffs(atoms, mult=1.2))
    graph = coo_matrix((np.ones(len(first)), (first, second)), shape=(len(atoms), len(atoms)))
    return int(connected_components(graph, directed=False)[0])


def plot_energy_conservation(log_path: Path, target: Path) -> None:
    """Plot potential, kinetic and total energy of the NVE run against time."""
    import csv

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(log_path, newline="", encoding="utf-8") as stream:
        rows = list(csv.DictReader(stream))
    time_ps = np.array([float(row["time_fs"]) for row in rows]) / 1000.0
    figure, axis = plt.subplots(figsize=(6, 3.5))
    for column, label in (("potential_energy_eV", "potential"), ("kinetic_energy_eV", "kinetic"), ("total_energy_eV", "total")):
        values = np.array([float(row[column]) for row in rows])
        axis.plot(time_ps, values - values[0], label=label, lw=1)
    axis.set_xlabel("time (ps)")
    axis.set_ylabel("energy change from t = 0 (eV)")
    axis.legend()
    axis.set_title("NVE energy conservation")
    figure.tight_layout()
    figure.savefig(target, dpi=120)
    plt.close(figure)


def run_main_job(settings: MainJobSettings) -> MainJobResult:
    """Run every step and return the summary; raise on the first failing step."""
    from molmtl.md.analysis import energy_conservation_from_log
    from molmtl.spectra.io import read_dipole_series
    from molmtl.spectra.ir import ir_spectrum

    if not settings.dataset.is_file():
        raise FileNotFoundError(f"{settings.dataset} not found; build it with 'python datasets/build_embedded.py'")
    settings.out.mkdir(parents=True, exist_ok=True)
    result = MainJobResult()
    started = time.perf_counter()

    print(f"[main job] 1/6 split {settings.dataset.name} into train and held-out test", flush=True)
    train_path, test_path, num_train, num_test = split_dataset(settings)
    result.add("structures (train+valid / test)", f"{num_train} / {num_test}", "structures", [num_train, num_test])

    print(f"[main job] 2/6 train for {settings.train_minutes:g} min", flush=True)
    run_dir = settings.out / "run"
    _command([
        "train", str(settings.config), "--data", str(train_path), "--out", str(run_dir),
        "--max-minutes", str(settings.train_minutes), "--seed", str(settings.seed),
    ])
    model_path = run_dir / "model.pt"
    initial = json.loads((run_dir / "valid_errors_initial.json").read_text())

    print("[main job] 3/6 evaluate on the held-out test split", flush=True)
    test_json = settings.out / "test_errors.json"
    _command(["eval", str(model_path), str(test_path), "--json", str(test_json), "--plots", str(settings.out / "plots")])
    test_errors = json.loads(test_json.read_text())["errors"]
    trained_tasks = set(yaml.safe_load((run_dir / "config.yaml").read_text())["tasks"])
    for name, row in test_errors.items():
        before = initial.get(name, {}).get("mae")
        # The untrained error is the trainer's first validation pass (valid split, not test).
        note = f" (untrained, on the valid split: {before:.4g}; ratio {before / row['mae']:.2f})" if before else ""
        if name.split("_")[0] not in trained_tasks:
            note += "; not a training task"
        result.add(f"test MAE {name} ({row['unit']})", f"{row['mae']:.4g}{note}", f"test_mae_{name}", row["mae"])

    print(f"[main job] 4/6 NVE MD of {settings.md_molecule}", flush=True)
    start = settings.out / f"{settings.md_molecule}.extxyz"
    num_atoms = write_start_structure(test_path, settings.md_molecule, start)
    trajectory = settings.out / "md.extxyz"
    md_log = settings.out / "md.csv"
    _command([
        "md", str(model_path), str(start), "--ensemble", "nve", "--steps", str(settings.md_steps),
        "--dt", str(settings.md_timestep_fs), "--temperature", str(settings.md_temperature_k),
        "--seed", str(settings.seed), "--stride", str(settings.md_stride), "--dtype", "float64",
        "-o", str(trajectory), "--log", str(md_log),
    ])
    conservation = energy_conservation_from_log(md_log, num_atoms)
    plot_energy_conservation(md_log, settings.out / "plots" / "nve_energy.png")
    result.add(
        f"NVE {settings.md_molecule}, {conservation.duration_ps:.2g} ps at {settings.md_timestep_fs:g} fs",
        f"drift {conservation.drift:+.4f} meV/atom/ps; std(Etot) {conservation.total_std:.3f} meV/atom, "
        f"std(Ekin) {conservation.kinetic_std:.3f} meV/atom",
        "nve", conservation.__dict__,
    )
    first, last = count_fragments(trajectory, 0), count_fragments(trajectory, -1)
    verdict = "intact" if first == last else "BROKE APART: train longer before trusting this MD"
    result.add(
        f"{settings.md_molecule} bonded fragments, first / last frame",
        f"{first} / {last} ({verdict})",
        "fragments", [first, last],
    )

    print("[main job] 5/6 IR spectrum from the dipole time series", flush=True)
    _command(["ir", str(trajectory), "-o", str(settings.out / "ir.csv"), "--plot", str(settings.out / "plots" / "ir.png")])
    dipoles, timestep = read_dipole_series(trajectory)
    spectrum = ir_spectrum(dipoles, timestep)
    peaks = sorted(float(value) for value in spectrum.peaks(8))
    result.add("main IR peaks (cm^-1)", ", ".join(f"{value:.0f}" for value in peaks), "ir_peaks", peaks)

    print("[main job] 6/6 summary", flush=True)
    result.add("wall time (min)", f"{(time.perf_counter() - started) / 60:.1f}", "wall_minutes", (time.perf_counter() - started) / 60)
    result.add("outputs", f"{settings.out}: run/, plots/, test_errors.json, md.extxyz, md.csv, ir.csv", None)
    atomic_write_text(result.markdown() + "\n", settings.out / "summary.md")
    atomic_write_text(json.dumps(result.data, indent=2) + "\n", settings.out / "summary.json")
    return result
