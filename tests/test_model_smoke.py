"""Smoke test of the model contract: output keys, shapes, dtypes and a save/load round trip."""

from __future__ import annotations

import pytest
import torch
from ase.build import bulk, molecule
from torch_geometric.data import Batch

from molmtl.data.neighbors import atoms_to_data
from molmtl.nn.config import ModelConfig
from molmtl.nn.model import MolMTLModel
from molmtl.nn.serialization import load_model, save_model


def test_model_outputs_and_round_trip(tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(atomic_numbers=[1, 6, 8, 14], cutoff=5.0, avg_num_neighbors=8.0, e0s={1: -13.6})
    model = MolMTLModel(config).eval()
    batch = Batch.from_data_list([atoms_to_data(molecule("CH3CH2OH"), 5.0), atoms_to_data(bulk("Si"), 5.0)])

    out = model(batch, compute_forces=True, compute_stress=True)

    assert out["energy"].shape == (2,)
    assert out["energy"].dtype == torch.float64
    assert out["node_energy"].shape == (11,)
    assert out["forces"].shape == (11, 3)
    assert out["stress"].shape == (2, 3, 3)
    assert out["virial"].shape == (2, 3, 3)
    assert out["charges"].shape == (11,)
    assert out["dipole"].shape == (2, 3)
    single = MolMTLModel(ModelConfig(atomic_numbers=[1, 6, 8], dtype="float32"))
    assert single.dtype == torch.float32
    assert model.dtype == torch.float64
    assert torch.get_default_dtype() == torch.float32
    assert model.cutoff == 5.0
    assert model.atomic_numbers == [1, 6, 8, 14]
    path = tmp_path / "model.pt"
    save_model(model, path)
    loaded = load_model(path)
    again = loaded(batch, compute_forces=True, compute_stress=True)
    for key, value in out.items():
        assert torch.equal(value, again[key]), key


@pytest.mark.slow
def test_compiled_encoder_matches_eager():
    from test_model_helpers import ethanol_crystal, random_model, to_data

    model = random_model(seed=2)
    salt = bulk("NaCl", "rocksalt", a=5.64) * (2, 2, 2)
    salt.positions[0] += [0.05, -0.03, 0.02]
    structures = [molecule("CH3CH2OH"), ethanol_crystal(molecule("CH3CH2OH")), salt]
    expected = [model(to_data(atoms), compute_forces=True, compute_stress=True) for atoms in structures]
    model.compile_encoder()
    for atoms, reference in zip(structures, expected):
        result = model(to_data(atoms), compute_forces=True, compute_stress=True)
        for key in ("energy", "forces", "stress", "dipole"):
            assert torch.allclose(result[key], reference[key], rtol=0, atol=1e-10), key
    assert not any("_compiled" in name for name in model.state_dict())
    model.train()
    trained = model(to_data(structures[0]), compute_forces=True)
    assert trained["forces"].requires_grad
