"""MolMTLCalculator: results, caching by atoms state, stress freshness, input checks."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from ase import Atoms
from ase.build import molecule
from ase.calculators.calculator import PropertyNotImplementedError
from torch_geometric.data import Batch

from molmtl.calculators import MolMTLCalculator
from molmtl.data.neighbors import atoms_to_data
from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel
from structures import water_box

SMALL_MODEL = dict(num_channels=8, l_max=1, num_layers=1, correlation_order=1, radial_mlp=[16], readout_hidden=8)


def make_model(seed: int = 0, cutoff: float = 3.0) -> MolMTLModel:
    torch.manual_seed(seed)
    return MolMTLModel(ModelConfig(atomic_numbers=[1, 6, 8], cutoff=cutoff, dtype="float64", **SMALL_MODEL))


class CallCounter:
    """Counts forward passes of a model through a forward hook."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.calls = 0
        model.register_forward_hook(self._hook)

    def _hook(self, module, inputs, outputs) -> None:
        self.calls += 1


def reference_outputs(model: MolMTLModel, atoms: Atoms, stress: bool = False) -> dict[str, np.ndarray]:
    """Evaluate ``model`` directly on a fresh neighbour list."""
    data = atoms_to_data(atoms, model.cutoff, torch.float64)
    outputs = model(Batch.from_data_list([data]), compute_forces=True, compute_stress=stress)
    return {key: value.detach().numpy() for key, value in outputs.items()}


def test_results_match_model():
    model = make_model()
    atoms = molecule("CH3CH2OH")
    atoms.calc = MolMTLCalculator(model)
    expected = reference_outputs(model.eval(), atoms)

    assert atoms.get_potential_energy() == pytest.approx(float(expected["energy"][0]), abs=1e-10)
    np.testing.assert_allclose(atoms.get_forces(), expected["forces"], atol=1e-10)
    np.testing.assert_allclose(atoms.get_dipole_moment(), expected["dipole"][0], atol=1e-10)
    np.testing.assert_allclose(atoms.get_charges(), expected["charges"], atol=1e-10)
    np.testing.assert_allclose(atoms.get_potential_energies(), expected["node_energy"], atol=1e-10)
    assert atoms.get_potential_energy(force_consistent=True) == atoms.get_potential_energy()
    assert atoms.get_potential_energies().sum() == pytest.approx(atoms.get_potential_energy(), abs=1e-9)


def test_forces_match_finite_differences():
    atoms = molecule("CH3CH2OH")
    atoms.calc = MolMTLCalculator(make_model())
    forces = atoms.get_forces()
    step = 1e-5
    for atom, axis in [(0, 0), (2, 1), (8, 2)]:
        shifted = atoms.copy()
        shifted.calc = atoms.calc
        shifted.positions[atom, axis] += step
        plus = shifted.get_potential_energy()
        shifted.positions[atom, axis] -= 2 * step
        minus = shifted.get_potential_energy()
        assert -(plus - minus) / (2 * step) == pytest.approx(forces[atom, axis], abs=1e-6)


def test_cache_counts_model_calls():
    model = make_model()
    counter = CallCounter(model)
    calculator = MolMTLCalculator(model)
    atoms = molecule("CH3CH2OH")
    atoms.calc = calculator

    atoms.get_potential_energy()
    atoms.get_forces()
    atoms.get_dipole_moment()
    atoms.get_charges()
    atoms.get_potential_energies()
    assert counter.calls == 1
    assert calculator.evaluation_count == 1

    atoms.positions[0, 0] += 0.01
    atoms.get_potential_energy()
    atoms.get_forces()
    assert counter.calls == 2

    atoms.info["charge"] = 1.0
    atoms.get_potential_energy()
    assert counter.calls == 3
    assert atoms.get_charges().sum() == pytest.approx(1.0, abs=1e-8)

    atoms.numbers[0] = 8
    atoms.get_forces()
    assert counter.calls == 4

    copy = atoms.copy()
    copy.calc = calculator
    copy.get_forces()
    assert counter.calls == 4, "an identical copy of the atoms must reuse the cached results"


def test_stress_is_fresh_after_strain():
    model = make_model()
    counter = CallCounter(model)
    atoms = water_box()
    atoms.calc = MolMTLCalculator(model)

    atoms.get_forces()
    assert counter.calls == 1
    stress_before = atoms.get_stress()
    assert counter.calls == 2, "plain MD does not pay for the stress, so the first stress request evaluates again"
    atoms.get_potential_energy()
    assert counter.calls == 2

    strain = np.eye(3) + np.array([[0.02, 0.005, 0.0], [0.005, -0.01, 0.0], [0.0, 0.0, 0.015]])
    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    atoms.get_forces()
    assert counter.calls == 3
    stress_after = atoms.get_stress()
    assert counter.calls == 3, "once asked for, the stress comes with every forces evaluation (one call per NPT step)"

    atoms.set_cell(atoms.cell.array @ strain, scale_atoms=True)
    stress_second_strain = atoms.get_stress()
    assert counter.calls == 4
    assert np.abs(stress_second_strain - stress_after).max() > 1e-6

    fresh = atoms.copy()
    fresh.calc = MolMTLCalculator(make_model())
    np.testing.assert_allclose(stress_second_strain, fresh.get_stress(), atol=1e-12)
    assert np.abs(stress_after - stress_before).max() > 1e-6


def test_stress_matches_strain_derivative():
    atoms = water_box()
    atoms.calc = MolMTLCalculator(make_model())
    stress = atoms.get_stress(voigt=False)
    volume = atoms.get_volume()
    step = 1e-5
    for a, b in [(0, 0), (1, 2)]:
        # Symmetric strain with eps_ab = eps_ba = h / 2 off the diagonal, so dE/dh = V sigma_ab.
        direction = np.zeros((3, 3))
        direction[a, b] += 0.5
        direction[b, a] += 0.5
        energies = []
        for sign in (1, -1):
            strained = atoms.copy()
            strained.set_cell(atoms.cell.array @ (np.eye(3) + sign * step * direction), scale_atoms=True)
            strained.calc = atoms.calc
            energies.append(strained.get_potential_energy())
        derivative = (energies[0] - energies[1]) / (2 * step)
        assert stress[a, b] == pytest.approx(derivative / volume, abs=1e-7)


def test_stress_rejected_for_molecule():
    atoms = molecule("H2O")
    atoms.calc = MolMTLCalculator(make_model())
    with pytest.raises(PropertyNotImplementedError, match="periodic"):
        atoms.get_stress()


def test_eval_mode_and_dtype():
    model = make_model()
    model.train()
    calculator = MolMTLCalculator(model, dtype=torch.float32)
    assert not calculator.model.training
    atoms = molecule("H2O")
    atoms.calc = calculator
    assert atoms.get_forces().dtype == np.float64
    assert calculator.dtype == torch.float32


def test_unknown_element_raises():
    atoms = molecule("CH3Cl")
    atoms.calc = MolMTLCalculator(make_model())
    with pytest.raises(ValueError, match="17|Cl"):
        atoms.get_potential_energy()


def test_nan_position_raises():
    atoms = molecule("H2O")
    atoms.positions[1, 2] = np.nan
    atoms.calc = MolMTLCalculator(make_model())
    with pytest.raises(ValueError, match="atom 1 .*non-finite position"):
        atoms.get_forces()


def test_bad_charge_raises():
    atoms = molecule("H2O")
    atoms.info["charge"] = "plus one"
    atoms.calc = MolMTLCalculator(make_model())
    with pytest.raises(ValueError, match="charge"):
        atoms.get_forces()


def test_model_file_round_trip(tmp_path):
    from molmtl.nn.serialization import save_model

    model = make_model()
    path = tmp_path / "model.pt"
    save_model(model, path)
    atoms = molecule("CH3CH2OH")
    atoms.calc = MolMTLCalculator(str(path))
    expected = MolMTLCalculator(model).get_potential_energy(atoms)
    assert atoms.get_potential_energy() == pytest.approx(expected, abs=1e-10)


def test_top_level_export():
    import molmtl

    assert molmtl.MolMTLCalculator is MolMTLCalculator


def test_retain_freed_memory_sets_glibc_thresholds():
    import platform

    from molmtl.calculators.memory import retain_freed_memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("mallopt thresholds exist only in glibc")
    assert retain_freed_memory() is True
    MolMTLCalculator(make_model(), retain_memory=False)  # the flag is accepted either way
