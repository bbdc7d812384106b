"""Failure modes of the model: unknown elements, isolated atoms, degenerate and overlapping geometry."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from torch_geometric.data import Batch

from test_model_helpers import CUTOFF, evaluate, random_model, to_batch, to_data


@pytest.fixture(scope="module")
def model():
    return random_model()


def test_unknown_element_names_it(model):
    atoms = Atoms("CHAu", positions=[[0, 0, 0], [1.1, 0, 0], [0, 2.0, 0]])
    with pytest.raises(ValueError) as error:
        model(to_data(atoms))
    message = str(error.value)
    assert "Au (79)" in message
    assert "H (1), C (6), O (8), Na (11), Si (14), Cl (17)" in message


def test_isolated_atom_has_reference_energy(model):
    for symbol, number in [("H", 1), ("O", 8), ("Cl", 17)]:
        outputs = evaluate(model, Atoms(symbol, positions=[[0.3, -1.0, 2.0]]), stress=True)
        assert float(outputs["energy"]) == model.config.e0s[number]
        assert torch.equal(outputs["forces"], torch.zeros(1, 3, dtype=torch.float64))
        assert torch.isfinite(outputs["dipole"]).all()
        assert torch.isfinite(outputs["charges"]).all()


def test_atom_beyond_cutoff_keeps_reference_energy(model):
    water = molecule("H2O")
    far = water + Atoms("O", positions=[[0.0, 0.0, CUTOFF + 3.0]])
    outputs = evaluate(model, far)
    alone = evaluate(model, water)
    assert torch.allclose(outputs["energy"], alone["energy"] + model.config.e0s[8], rtol=0, atol=1e-9)
    assert torch.equal(outputs["forces"][-1], torch.zeros(3, dtype=torch.float64))
    assert float(outputs["node_energy"][-1]) == model.config.e0s[8]


def test_axis_aligned_edges_have_finite_gradients(model):
    model = random_model()
    structures = [
        Atoms("OH", positions=[[0, 0, 0], [0.97, 0, 0]]),
        Atoms("OH", positions=[[0, 0, 0], [0, 0.97, 0]]),
        Atoms("OH", positions=[[0, 0, 0], [0, 0, -0.97]]),
        Atoms("CO2", positions=[[0, 0, 0], [0, 0, 1.16], [0, 0, -1.16]]),
    ]
    model.train()
    outputs = model(to_batch(structures), compute_forces=True)
    loss = outputs["energy"].square().sum() + outputs["forces"].square().sum() + outputs["dipole"].square().sum()
    loss.backward()
    assert torch.isfinite(outputs["forces"]).all()
    for name, parameter in model.named_parameters():
        assert parameter.grad is None or torch.isfinite(parameter.grad).all(), name


def test_coincident_atoms_across_batch_are_finite(model):
    first = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    second = Atoms("OH2", positions=[[0, 0, 0], [0.96, 0, 0], [0.2, -0.9, 0.3]])
    outputs = model(to_batch([first, second]), compute_forces=True)
    assert torch.isfinite(outputs["forces"]).all()
    assert torch.isfinite(outputs["energy"]).all()


def test_close_atoms_raise_naming_the_pair(model):
    fine = molecule("H2O")
    close = Atoms("CHO", positions=[[0, 0, 0], [1.1, 0, 0], [1.1, 0.05, 0.0]])
    with pytest.raises(ValueError, match=r"atoms 1 and 2 of structure 1 .* 0.05 Angstrom apart"):
        model(to_batch([fine, close]))


def test_non_finite_positions_raise(model):
    atoms = molecule("H2O")
    data = to_data(atoms)
    data.pos[1, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite position of atom 1 "):
        model(data)


def test_disabled_forces_skip_autograd(model):
    data = to_data(molecule("CH3CH2OH"))
    outputs = model(data, compute_forces=False)
    assert "forces" not in outputs
    assert "stress" not in outputs
    with torch.no_grad():
        assert torch.isfinite(model(data, compute_forces=False)["energy"]).all()


def test_forces_keep_graph_only_in_training(model):
    data = to_data(molecule("CH3CH2OH"))
    model.eval()
    assert not model(data)["forces"].requires_grad
    model.train()
    try:
        assert model(data)["forces"].requires_grad
    finally:
        model.eval()


def test_disabled_heads_are_absent():
    full = random_model()
    energy_only = random_model(heads=["energy"])
    outputs = energy_only(to_data(molecule("CH3CH2OH")))
    assert set(outputs) == {"energy", "node_energy", "forces"}
    count = sum(parameter.numel() for parameter in energy_only.parameters())
    assert count < sum(parameter.numel() for parameter in full.parameters())
    charges_only = random_model(heads=["charges"])
    outputs = charges_only(to_data(molecule("CH3CH2OH")))
    assert set(outputs) == {"charges"}
    with pytest.raises(ValueError, match="dipole head needs the charges head"):
        random_model(heads=["energy", "dipole"])


def test_shifted_energy_keeps_isolated_reference():
    model = random_model(energy_shift=-2.5)
    outputs = evaluate(model, Atoms("C", positions=[[0.0, 0.0, 0.0]]))
    assert float(outputs["energy"]) == model.config.e0s[6]
    ethanol = evaluate(model, molecule("CH3CH2OH"))
    unshifted = evaluate(random_model(energy_shift=0.0), molecule("CH3CH2OH"))
    assert float(ethanol["energy"]) < float(unshifted["energy"]) - 9 * 2.0


def test_empty_neighbour_lists_in_batch(model):
    atoms = [Atoms("H", positions=[[0, 0, 0]]), Atoms("O", positions=[[1, 1, 1]])]
    outputs = model(Batch.from_data_list([to_data(a) for a in atoms]), compute_forces=True, compute_stress=True)
    expected = torch.tensor([model.config.e0s[1], model.config.e0s[8]], dtype=torch.float64)
    assert torch.equal(outputs["energy"].detach(), expected)
    assert torch.equal(outputs["forces"], torch.zeros(2, 3, dtype=torch.float64))
    assert np.all(np.isfinite(outputs["dipole"].detach().numpy()))
