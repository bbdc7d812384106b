"""Skin (Verlet) neighbour list: same pairs and same forces as a fresh list along trajectories."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from torch_geometric.data import Batch

from molmtl.calculators import MolMTLCalculator, SkinNeighborList
from molmtl.data.neighbors import atoms_to_data, neighbor_list
from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel
from structures import water_box

CUTOFF = 3.0
SMALL_MODEL = dict(num_channels=8, l_max=1, num_layers=1, correlation_order=1, radial_mlp=[16], readout_hidden=8)


def make_model() -> MolMTLModel:
    torch.manual_seed(0)
    return MolMTLModel(ModelConfig(atomic_numbers=[1, 6, 8], cutoff=CUTOFF, dtype="float64", **SMALL_MODEL)).eval()


def pair_set(edge_index: np.ndarray, shifts: np.ndarray) -> set[tuple[int, int, int, int, int]]:
    return {(int(i), int(j), *map(int, np.rint(s))) for (i, j), s in zip(edge_index.T, shifts)}


def fresh_forces(model: MolMTLModel, atoms: Atoms) -> np.ndarray:
    data = atoms_to_data(atoms, CUTOFF, torch.float64)
    return model(Batch.from_data_list([data]), compute_forces=True)["forces"].detach().numpy()


def random_walk(atoms: Atoms, steps: int, step_size: float, seed: int):
    """Yield ``atoms`` after each of ``steps`` random displacements of every atom (Å)."""
    rng = np.random.default_rng(seed)
    for _ in range(steps):
        atoms.positions += rng.normal(scale=step_size, size=atoms.positions.shape)
        yield atoms


def test_skin_forces_match_fresh_list_500_steps():
    model = make_model()
    atoms = water_box()
    calculator = MolMTLCalculator(model, skin=0.5)
    atoms.calc = calculator
    steps = 500
    max_difference = 0.0
    for step, current in enumerate(random_walk(atoms, steps, step_size=0.01, seed=1)):
        skin_pairs = pair_set(*calculator.neighbors.update(current.positions, current.cell.array, current.pbc))
        fresh_pairs = pair_set(*neighbor_list(current.positions, current.cell.array, current.pbc, CUTOFF))
        assert skin_pairs == fresh_pairs, f"pair sets differ at step {step}"
        forces = current.get_forces()
        max_difference = max(max_difference, float(np.abs(forces - fresh_forces(model, current)).max()))
    assert max_difference < 1e-10
    assert 1 < calculator.neighbors.rebuild_count < steps // 5, "the skin should save most searches"


def test_skin_list_molecule_and_rebuild_rules():
    atoms = molecule("CH3CH2OH")
    neighbors = SkinNeighborList(cutoff=2.0, skin=0.4)
    cell = np.zeros((3, 3))
    pbc = np.zeros(3, dtype=bool)
    neighbors.update(atoms.positions, cell, pbc)
    assert neighbors.rebuild_count == 1

    moved = atoms.positions.copy()
    moved[0] += [0.19, 0.0, 0.0]
    edges, shifts = neighbors.update(moved, cell, pbc)
    assert neighbors.rebuild_count == 1, "a move below skin/2 must reuse the list"
    assert pair_set(edges, shifts) == pair_set(*neighbor_list(moved, cell, pbc, 2.0))

    moved[0] += [0.02, 0.0, 0.0]
    neighbors.update(moved, cell, pbc)
    assert neighbors.rebuild_count == 2, "a move above skin/2 must rebuild"


def test_skin_list_rebuilds_on_cell_change():
    atoms = water_box()
    neighbors = SkinNeighborList(cutoff=CUTOFF, skin=1.0)
    neighbors.update(atoms.positions, atoms.cell.array, atoms.pbc)
    atoms.set_cell(atoms.cell.array * 0.97, scale_atoms=False)
    edges, shifts = neighbors.update(atoms.positions, atoms.cell.array, atoms.pbc)
    assert neighbors.rebuild_count == 2
    assert pair_set(edges, shifts) == pair_set(*neighbor_list(atoms.positions, atoms.cell.array, atoms.pbc, CUTOFF))


@pytest.mark.parametrize("cutoff, skin", [(0.0, 1.0), (3.0, -0.1)])
def test_skin_list_rejects_bad_settings(cutoff, skin):
    with pytest.raises(ValueError):
        SkinNeighborList(cutoff=cutoff, skin=skin)
