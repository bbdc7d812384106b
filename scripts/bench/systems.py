"""Benchmark systems and data splits, built with ASE and numpy only.

This module is imported both by the benchmark drivers (molmtl's environment) and by the
workers that run inside the peer environments (MACE, NequIP), so it must not import molmtl.
Reference labels are written to extxyz under ``REF_energy`` (eV) and ``REF_forces`` (eV/Å),
the keys that MACE reads by default. The NequIP and molmtl configurations name the same keys.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.io import read, write

REPO_ROOT = Path(__file__).resolve().parents[2]
ENERGY_KEY = "REF_energy"
FORCES_KEY = "REF_forces"

#: Volume per molecule of water at 1 g/cm^3: 18.015 g/mol / (6.022e23 / mol) / (1 g/cm^3) = 29.91 Å^3.
WATER_VOLUME_PER_MOLECULE = 29.91
WATER_OH = 0.9572  # Å, TIP3P geometry
WATER_HOH = np.deg2rad(104.52)


def shared_data_root() -> Path:
    """Return the folder of public datasets (``MOLMTL_SHARED_DATA`` or ``../shared/data``)."""
    configured = os.environ.get("MOLMTL_SHARED_DATA")
    root = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    if not root.is_dir():
        raise FileNotFoundError(
            f"dataset folder {root} not found; set MOLMTL_SHARED_DATA to the folder that contains md_energy_forces/"
        )
    return root


def _with_reference_labels(atoms: Atoms) -> Atoms:
    """Copy ``atoms`` with its labels moved from ASE's calculator slots to REF_* keys."""
    energy = atoms.get_potential_energy()
    forces = atoms.get_forces()
    clean = Atoms(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell, pbc=atoms.pbc)
    clean.info[ENERGY_KEY] = float(energy)
    clean.arrays[FORCES_KEY] = np.array(forces, dtype=np.float64)
    for key in ("config_type",):
        if key in atoms.info:
            clean.info[key] = atoms.info[key]
    return clean


def _geometry_key(atoms: Atoms) -> bytes:
    return np.round(atoms.positions, 5).tobytes() + atoms.numbers.tobytes()


def _read_e0s(path: Path) -> dict[int, float]:
    return {int(atoms.numbers[0]): float(atoms.get_potential_energy()) for atoms in read(path, index=":")}


def prepare_split(dataset: str, out_dir: Path, seed: int = 0, num_train: int | None = None) -> dict[str, object]:
    """Write train/valid/test extxyz files for ``dataset`` ("ethanol" or "3bpa") into ``out_dir``.

    * ethanol (rMD17, BOTNet release): 950 train + 50 validation configurations drawn from
      ``train.xyz`` with ``seed``; test on ``test_MD.xyz``.
    * 3bpa: ``train_300K.xyz`` split 450 train + 50 validation; test on ``train_mixedT.xyz``
      without the geometries that also occur in ``train_300K.xyz``.

    ``num_train`` keeps only the first that many training configurations (quick runs).

    Returns a manifest with the file paths, counts, elements and isolated-atom energies (eV),
    which is also written to ``out_dir/split.json``.
    """
    root = shared_data_root() / "md_energy_forces"
    if dataset == "ethanol":
        folder = root / "botnet_ethanol_rmd17"
        pool = read(folder / "train.xyz", index=":")
        test = read(folder / "test_MD.xyz", index=":")
        num_valid = 50
        e0s = _read_e0s(folder / "isolated_atoms.xyz")
    elif dataset == "3bpa":
        folder = root / "botnet_3bpa"
        pool = read(folder / "train_300K.xyz", index=":")
        seen = {_geometry_key(atoms) for atoms in pool}
        test = [atoms for atoms in read(folder / "train_mixedT.xyz", index=":") if _geometry_key(atoms) not in seen]
        num_valid = 50
        e0s = _read_e0s(folder / "iso_atoms.xyz")
    else:
        raise ValueError(f"unknown dataset {dataset!r}; expected 'ethanol' or '3bpa'")

    out_dir = out_dir.resolve()
    order = np.random.default_rng(seed).permutation(len(pool))
    valid = [pool[i] for i in order[:num_valid]]
    train = [pool[i] for i in order[num_valid:]][:num_train]
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, frames in (("train", train), ("valid", valid), ("test", test)):
        path = out_dir / f"{name}.xyz"
        write(path, [_with_reference_labels(atoms) for atoms in frames], format="extxyz")
        paths[name] = str(path)
    elements = sorted({int(z) for atoms in pool + test for z in atoms.numbers})
    manifest = {
        "dataset": dataset,
        "seed": seed,
        "num_train": num_train,
        "paths": paths,
        "counts": {"train": len(train), "valid": len(valid), "test": len(test)},
        "elements": elements,
        "e0s": {str(z): e0s[z] for z in elements},
        "energy_key": ENERGY_KEY,
        "forces_key": FORCES_KEY,
    }
    (out_dir / "split.json").write_text(json.dumps(manifest, indent=2))
    return manifest


def water_box(num_molecules: int, seed: int = 0) -> Atoms:
    """Return a periodic cubic box of ``num_molecules`` water molecules at about 1 g/cm^3.

    Molecules sit on a random subset of a simple cubic grid with random orientations, so the
    box has liquid-like density and neighbour counts. It is a timing system, not an
    equilibrated liquid.
    """
    if num_molecules < 1:
        raise ValueError(f"num_molecules must be at least 1, got {num_molecules}")
    rng = np.random.default_rng(seed)
    side = (num_molecules * WATER_VOLUME_PER_MOLECULE) ** (1.0 / 3.0)
    per_side = int(np.ceil(num_molecules ** (1.0 / 3.0) - 1e-9))
    spacing = side / per_side
    grid = np.stack(np.meshgrid(*[np.arange(per_side)] * 3, indexing="ij"), axis=-1).reshape(-1, 3)
    sites = grid[rng.choice(len(grid), size=num_molecules, replace=False)] * spacing + spacing / 2
    template = np.array(
        [
            [0.0, 0.0, 0.0],
            [WATER_OH, 0.0, 0.0],
            [WATER_OH * np.cos(WATER_HOH), WATER_OH * np.sin(WATER_HOH), 0.0],
        ]
    )
    template -= template.mean(axis=0)
    positions = []
    for site in sites:
        rotation, _ = np.linalg.qr(rng.normal(size=(3, 3)))
        positions.append(template @ rotation.T + site)
    numbers = [8, 1, 1] * num_molecules
    return Atoms(numbers=numbers, positions=np.concatenate(positions), cell=[side] * 3, pbc=True)


def benchmark_system(name: str) -> Atoms:
    """Return a named MD system: ``ethanol``, ``3bpa`` or ``water<N>`` (N atoms, a multiple of 3)."""
    root = shared_data_root() / "md_energy_forces"
    if name == "ethanol":
        atoms = read(root / "botnet_ethanol_rmd17" / "test_MD.xyz", index=0)
    elif name == "3bpa":
        atoms = read(root / "botnet_3bpa" / "train_300K.xyz", index=0)
    elif name.startswith("water"):
        num_atoms = int(name[len("water") :])
        if num_atoms % 3:
            raise ValueError(f"water box size must be a multiple of 3 atoms, got {num_atoms}")
        return water_box(num_atoms // 3)
    else:
        raise ValueError(f"unknown system {name!r}; expected ethanol, 3bpa or water<N>")
    # Molecules run without a cell: the 50 Å box in the source files is a placeholder.
    return Atoms(numbers=atoms.numbers, positions=atoms.positions, pbc=False)
