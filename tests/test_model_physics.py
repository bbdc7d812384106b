"""Physics of the model, on a random model and on one trained briefly on rMD17 ethanol (float64).

Invariance and equivariance under E(3) and permutations, forces and stress against finite
differences, smoothness at the cutoff, batching, periodic supercells and float32 accuracy.
"""

from __future__ import annotations

import copy

import ase.io
import numpy as np
import pytest
import torch
from ase.data import atomic_masses
from torch_geometric.data import Batch

from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel
from test_model_helpers import (
    CUTOFF,
    ETHANOL_TRAIN,
    ethanol_crystal,
    evaluate,
    random_model,
    rotation_matrix,
    salt_crystal,
    silicon_crystal,
    to_batch,
    to_data,
)


@pytest.fixture(scope="session")
def ethanol_frames(shared_data):
    """Return 200 ethanol frames of the rMD17 training file."""
    return ase.io.read(shared_data / ETHANOL_TRAIN, index=":200")


def _fit_statistics(frames) -> dict:
    """Return E0s (least squares on composition), energy scale and neighbour count of ``frames``."""
    elements = [1, 6, 8]
    counts = np.array([[np.sum(frame.numbers == z) for z in elements] for frame in frames], dtype=float)
    energies = np.array([frame.get_potential_energy() for frame in frames])
    e0, *_ = np.linalg.lstsq(counts, energies, rcond=None)
    forces = np.concatenate([frame.get_forces() for frame in frames])
    neighbours = [to_data(frame).edge_index.shape[1] / len(frame) for frame in frames[:20]]
    return {
        "e0s": dict(zip(elements, e0.tolist())),
        "energy_scale": float(np.sqrt(np.mean(forces**2))),
        "avg_num_neighbors": float(np.mean(neighbours)),
    }


@pytest.fixture(scope="session")
def trained(ethanol_frames):
    """Return a default-size model fitted for 40 Adam steps on energies and forces, and its losses."""
    torch.manual_seed(1)
    config = ModelConfig(atomic_numbers=[1, 6, 8], cutoff=CUTOFF, **_fit_statistics(ethanol_frames))
    model = MolMTLModel(config)
    data = []
    for frame in ethanol_frames[:100]:
        item = to_data(frame)
        item.energy = torch.tensor([frame.get_potential_energy()])
        item.forces = torch.tensor(frame.get_forces())
        data.append(item)
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-3)
    losses = []
    model.train()
    for step in range(40):
        batch = Batch.from_data_list(data[(step * 10) % 100 : (step * 10) % 100 + 10])
        outputs = model(batch, compute_forces=True)
        num_atoms = torch.bincount(batch.batch).to(torch.float64)
        energy_loss = (((outputs["energy"] - batch.energy) / num_atoms) ** 2).mean()
        force_loss = ((outputs["forces"] - batch.forces) ** 2).mean()
        loss = energy_loss + force_loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(force_loss.detach()))
    return model.eval(), losses


@pytest.fixture(params=["random", "trained"])
def model(request):
    """A random model and a briefly trained one; the physics tests run on both."""
    if request.param == "random":
        return random_model()
    return request.getfixturevalue("trained")[0]


@pytest.fixture
def ethanol(ethanol_frames):
    """One rMD17 ethanol frame."""
    return ethanol_frames[150].copy()


def test_training_reduces_force_error(trained):
    _, losses = trained
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


def test_energy_invariance_and_force_equivariance(model, ethanol):
    reference = evaluate(model, ethanol)
    rotation = rotation_matrix(3)
    for name, matrix in [("rotation", rotation), ("reflection", -rotation), ("mirror", np.diag([1.0, -1.0, 1.0]))]:
        moved = ethanol.copy()
        moved.positions = ethanol.positions @ matrix.T
        result = evaluate(model, moved)
        matrix_t = torch.tensor(matrix)
        assert torch.allclose(result["energy"], reference["energy"], rtol=0, atol=1e-9), name
        assert torch.allclose(result["forces"], reference["forces"] @ matrix_t.T, atol=1e-9), name
        assert torch.allclose(result["charges"], reference["charges"], atol=1e-10), name


def test_dipole_rotates_and_flips(model, ethanol):
    reference = evaluate(model, ethanol)
    rotation = rotation_matrix(4)
    rotated = ethanol.copy()
    rotated.positions = ethanol.positions @ rotation.T
    inverted = ethanol.copy()
    inverted.positions = -ethanol.positions
    assert torch.allclose(evaluate(model, rotated)["dipole"], reference["dipole"] @ torch.tensor(rotation).T, atol=1e-9)
    result = evaluate(model, inverted)
    assert torch.allclose(result["dipole"], -reference["dipole"], atol=1e-9)
    assert torch.allclose(result["forces"], -reference["forces"], atol=1e-9)
    assert reference["dipole"].norm() > 1e-3


@pytest.mark.parametrize("offset", [1.0, 1e2, 1e4])
def test_translation_invariance(model, ethanol, offset):
    reference = evaluate(model, ethanol)
    moved = ethanol.copy()
    moved.positions = ethanol.positions + offset * np.array([0.6, -0.7, 0.4])
    result = evaluate(model, moved)
    assert torch.allclose(result["energy"], reference["energy"], rtol=0, atol=1e-8)
    assert torch.allclose(result["forces"], reference["forces"], atol=1e-8)
    assert torch.allclose(result["dipole"], reference["dipole"], atol=1e-8)


def test_permutation_invariance(model, ethanol):
    reference = evaluate(model, ethanol)
    order = np.random.default_rng(5).permutation(len(ethanol))
    result = evaluate(model, ethanol[order])
    assert torch.allclose(result["energy"], reference["energy"], rtol=0, atol=1e-9)
    assert torch.allclose(result["forces"], reference["forces"][order], atol=1e-9)
    assert torch.allclose(result["charges"], reference["charges"][order], atol=1e-10)
    assert torch.allclose(result["dipole"], reference["dipole"], atol=1e-9)


def test_forces_match_finite_differences(model, ethanol):
    forces = evaluate(model, ethanol)["forces"]
    step = 1e-4
    generator = np.random.default_rng(6)
    for atom, axis in [(0, 0), (3, 2), (8, 1), (int(generator.integers(9)), int(generator.integers(3)))]:
        energies = []
        for sign in (1, -1):
            displaced = ethanol.copy()
            displaced.positions[atom, axis] += sign * step
            energies.append(float(evaluate(model, displaced)["energy"]))
        numerical = -(energies[0] - energies[1]) / (2 * step)
        assert abs(numerical - float(forces[atom, axis])) < 1e-6 * max(1.0, abs(numerical)), (atom, axis)


def _strained(atoms, strain: np.ndarray):
    result = atoms.copy()
    result.set_cell(atoms.cell.array @ (np.eye(3) + strain), scale_atoms=True)
    return result


def _check_stress(model, crystal):
    outputs = evaluate(model, crystal, stress=True)
    volume = crystal.get_volume()
    step = 1e-5
    for a, b in [(0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)]:
        strain = np.zeros((3, 3))
        strain[a, b] += 0.5 * step
        strain[b, a] += 0.5 * step
        plus = float(evaluate(model, _strained(crystal, strain))["energy"])
        minus = float(evaluate(model, _strained(crystal, -strain))["energy"])
        numerical = (plus - minus) / (2 * step) / volume
        assert abs(numerical - float(outputs["stress"][0, a, b])) < 1e-7, (a, b)
    assert torch.allclose(outputs["virial"], -volume * outputs["stress"], atol=1e-12)
    assert torch.allclose(outputs["stress"], outputs["stress"].transpose(1, 2), atol=1e-12)


def test_stress_matches_finite_strain(model, ethanol):
    _check_stress(model, ethanol_crystal(ethanol))


def test_stress_of_ionic_crystals():
    model = random_model()
    for crystal in (silicon_crystal(), salt_crystal()):
        _check_stress(model, crystal)


def test_stress_is_zero_for_molecules(model, ethanol):
    outputs = evaluate(model, ethanol, stress=True)
    assert torch.equal(outputs["stress"], torch.zeros(1, 3, 3, dtype=torch.float64))
    assert torch.isfinite(outputs["virial"]).all()


@pytest.mark.parametrize("pair", [(8, 1), (6, 6)])
def test_cutoff_scan_is_smooth(pair):
    from ase import Atoms

    model = random_model()
    distances = np.arange(CUTOFF - 0.05, CUTOFF + 0.05, 1e-3)
    energies = []
    forces = []
    for distance in distances:
        dimer = Atoms(numbers=list(pair), positions=[[0.0, 0.0, 0.0], [distance, 0.0, 0.0]])
        outputs = evaluate(model, dimer)
        energies.append(float(outputs["energy"]))
        forces.append(float(outputs["forces"][1, 0]))
    energies = np.array(energies)
    forces = np.array(forces)
    isolated = sum(model.config.e0s[z] for z in pair)
    outside = distances >= CUTOFF
    assert np.all(energies[outside] == isolated)
    assert np.all(forces[outside] == 0.0)
    # Each energy step agrees with the work of the forces (trapezoid rule), so there is no jump.
    work = -0.5 * (forces[1:] + forces[:-1]) * np.diff(distances)
    assert np.max(np.abs(np.diff(energies) - work)) < 1e-9
    # The envelope and its first two derivatives vanish at the cutoff, so F falls like (c - r)^2.
    inside = ~outside
    assert np.max(np.abs(forces)) > 1e-5
    assert abs(forces[inside][-1]) < 5e-3 * np.max(np.abs(forces))
    assert abs(forces[inside][-1]) < 1e-5
    assert abs(energies[inside][-1] - isolated) < 1e-8


def test_neutral_dipole_ignores_origin(model, ethanol):
    reference = evaluate(model, ethanol, charge=0.0)
    moved = ethanol.copy()
    moved.positions += [3.0, -2.0, 7.0]
    assert torch.allclose(evaluate(model, moved, charge=0.0)["dipole"], reference["dipole"], atol=1e-10)


def test_charged_dipole_is_about_centre_of_mass(model, ethanol):
    charge = 1.0
    reference = evaluate(model, ethanol, charge=charge)
    shift = np.array([3.0, -2.0, 7.0])
    moved = ethanol.copy()
    moved.positions += shift
    result = evaluate(model, moved, charge=charge)
    assert torch.allclose(result["dipole"], reference["dipole"], atol=1e-10)
    # The dipole about the coordinate origin follows mu_origin = mu_com + Q r_com.
    masses = atomic_masses[ethanol.numbers]
    centre = (masses[:, None] * ethanol.positions).sum(0) / masses.sum()
    about_origin = reference["dipole"][0].numpy() + charge * centre
    about_origin_moved = result["dipole"][0].numpy() + charge * (centre + shift)
    assert np.allclose(about_origin_moved - about_origin, charge * shift, atol=1e-10)
    neutral = evaluate(model, ethanol, charge=0.0)
    assert not torch.allclose(reference["charges"], neutral["charges"])


def test_charges_sum_to_total_charge(model, ethanol):
    structures = [ethanol, silicon_crystal() if model.config.atomic_numbers != [1, 6, 8] else ethanol_crystal(ethanol)]
    data = []
    charges = [0.0, 1.0, -2.0, 0.5]
    for index, charge in enumerate(charges):
        data.append(to_data(structures[index % 2], charge=charge))
    outputs = model(Batch.from_data_list(data), compute_forces=False)
    batch = Batch.from_data_list(data).batch
    sums = torch.zeros(len(charges), dtype=torch.float64).index_add(0, batch, outputs["charges"].detach())
    assert torch.allclose(sums, torch.tensor(charges, dtype=torch.float64), rtol=0, atol=1e-10)


def test_batch_equals_single(model, ethanol):
    from ase import Atoms

    lonely = Atoms("O", positions=[[0.0, 0.0, 0.0]])
    crystal = ethanol_crystal(ethanol)
    displaced = ethanol.copy()
    displaced.positions += 0.05 * np.random.default_rng(2).normal(size=(len(ethanol), 3))
    structures = [ethanol, lonely, crystal, displaced]
    batched = model(to_batch(structures), compute_forces=True, compute_stress=True)
    offsets = np.cumsum([0] + [len(atoms) for atoms in structures])
    for index, atoms in enumerate(structures):
        single = evaluate(model, atoms, stress=True)
        atoms_slice = slice(offsets[index], offsets[index + 1])
        assert torch.allclose(batched["energy"][index], single["energy"][0], rtol=0, atol=1e-9), index
        assert torch.allclose(batched["forces"][atoms_slice], single["forces"], atol=1e-10), index
        assert torch.allclose(batched["stress"][index], single["stress"][0], atol=1e-12), index
        assert torch.allclose(batched["charges"][atoms_slice], single["charges"], atol=1e-12), index
        assert torch.allclose(batched["dipole"][index], single["dipole"][0], atol=1e-10), index
        assert torch.allclose(batched["node_energy"][atoms_slice], single["node_energy"], atol=1e-9), index


@pytest.mark.parametrize("crystal", ["silicon", "salt", "ethanol"])
def test_supercell_energy_per_atom(crystal, ethanol):
    model = random_model()
    primitive = {"silicon": silicon_crystal, "salt": salt_crystal}.get(crystal, lambda: ethanol_crystal(ethanol))()
    assert min(primitive.cell.lengths()) < CUTOFF
    supercell = primitive * (3, 3, 3)
    small = evaluate(model, primitive, stress=True)
    large = evaluate(model, supercell, stress=True)
    per_atom_small = float(small["energy"]) / len(primitive)
    per_atom_large = float(large["energy"]) / len(supercell)
    assert abs(per_atom_small - per_atom_large) < 1e-9
    assert torch.allclose(large["forces"][: len(primitive)], small["forces"], atol=1e-9)
    assert torch.allclose(large["stress"], small["stress"], atol=1e-10)


def test_float32_matches_float64(model, ethanol):
    single = copy.deepcopy(model).to(torch.float32)
    assert single.dtype == torch.float32
    structures = [ethanol, ethanol_crystal(ethanol)]
    for atoms in structures:
        reference = evaluate(model, atoms)
        result = single(to_data(atoms), compute_forces=True)
        assert result["energy"].dtype == torch.float64
        assert result["forces"].dtype == torch.float32
        difference = abs(float(result["energy"].detach()) - float(reference["energy"])) / len(atoms)
        assert difference < 1e-5
        assert torch.allclose(result["forces"].double(), reference["forces"], atol=1e-3)
