"""Helpers shared by the model tests: structures, graphs and small model configs (no tests here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from ase import Atoms
from ase.build import bulk
from torch_geometric.data import Batch

from molmtl.data.neighbors import atoms_to_data
from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel

CUTOFF = 5.0
ELEMENTS = [1, 6, 8, 11, 14, 17]
ETHANOL_TRAIN = Path("md_energy_forces") / "botnet_ethanol_rmd17" / "train.xyz"


def random_model(seed: int = 0, **overrides) -> MolMTLModel:
    """Return an untrained float64 model with random weights and realistic normalisation."""
    torch.manual_seed(seed)
    options = dict(
        atomic_numbers=ELEMENTS,
        cutoff=CUTOFF,
        avg_num_neighbors=10.0,
        e0s={1: -13.6, 6: -1029.5, 8: -2041.3, 11: -4419.0, 14: -7869.6, 17: -12577.2},
        energy_scale=0.5,
        energy_shift=0.3,
    )
    options.update(overrides)
    return MolMTLModel(ModelConfig(**options)).eval()


def to_data(atoms: Atoms, cutoff: float = CUTOFF, charge: float | None = None):
    """Convert atoms to a float64 ``Data`` with the package's neighbour list."""
    return atoms_to_data(atoms, cutoff, dtype=torch.float64, total_charge=charge)


def to_batch(structures: list[Atoms], cutoff: float = CUTOFF) -> Batch:
    """Convert a list of atoms to one ``Batch``."""
    return Batch.from_data_list([to_data(atoms, cutoff) for atoms in structures])


def evaluate(model: MolMTLModel, atoms: Atoms, stress: bool = False, charge: float | None = None) -> dict:
    """Evaluate ``model`` on ``atoms`` and return detached outputs."""
    outputs = model(to_data(atoms, charge=charge), compute_forces=True, compute_stress=stress)
    return {key: value.detach() for key, value in outputs.items()}


def silicon_crystal() -> Atoms:
    """Return a primitive diamond silicon cell (lattice vectors 3.84 Angstrom, shorter than the cutoff) with one atom displaced."""
    atoms = bulk("Si", "diamond", a=5.43)
    atoms.positions[1] += [0.07, -0.04, 0.05]
    return atoms


def salt_crystal() -> Atoms:
    """Return a primitive rock-salt NaCl cell with a sheared cell and one atom displaced."""
    atoms = bulk("NaCl", "rocksalt", a=5.64)
    cell = atoms.cell.array.copy()
    cell[2] += [0.15, -0.1, 0.0]
    atoms.set_cell(cell, scale_atoms=True)
    atoms.positions[1] += [0.05, 0.02, -0.08]
    return atoms


def ethanol_crystal(ethanol: Atoms) -> Atoms:
    """Return ``ethanol`` in a small triclinic periodic cell (lattice vectors of 4.6 to 5.2 Angstrom, shorter than the cutoff)."""
    atoms = ethanol.copy()
    atoms.set_cell([[4.6, 0.0, 0.0], [0.5, 4.8, 0.0], [0.3, -0.4, 5.2]])
    atoms.pbc = True
    atoms.center()
    return atoms


def rotation_matrix(seed: int) -> np.ndarray:
    """Return a random proper rotation matrix."""
    generator = np.random.default_rng(seed)
    q, r = np.linalg.qr(generator.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q
